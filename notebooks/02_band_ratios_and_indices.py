# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 2 — Band ratios and mineral indices
#
# A band ratio divides one band by another. Topography and illumination multiply every band
# of a pixel by about the same factor, so the ratio cancels them and keeps what the rock does
# to the light: where it absorbs and where it reflects. Choose the two bands well (one where
# the mineral absorbs, one where it reflects) and the ratio maps the mineral.
#
# **Goals.** By the end of this lesson you can
#
# 1. read library spectra of iron oxides, clays and vegetation at Landsat 8 OLI bands, and say
#    why each ratio works;
# 2. compute the iron-oxide ratio (red / blue) and the clay / hydroxyl ratio (swir1 / swir2) on
#    surface reflectance, with the masked pixels left out;
# 3. read the Sabins ratio composite;
# 4. set an anomaly threshold robustly (median + k · 1.4826 · MAD on the log of the ratio) and
#    explain why mean + 2σ over an unmasked scene misleads.
#
# **Data.** The synthetic Landsat 8 Collection 2 Level-2 scene in `sample_rasters/` (600 × 600
# pixels of 30 m, eastern Botswana). It was made from laboratory spectra with alteration
# zones planted where we know them, so every answer can be checked. Lesson 1 showed how to
# open it and mask it; here we do the same in three lines.
#
# **How the exercises work.** An exercise cell sets a variable to `None` and says what to
# compute. Replace `None` with your code and run the cell, then run the check below it. The
# check says ✔ or tells you what is off.

# %%
import matplotlib.pyplot as plt
import numpy as np

import geo
from geo.sensors import OLI_BANDS
from geo.spectral.anomaly import fit_threshold
from geo.spectral.indices import composites, compute_indices
from geo.spectral.masks import MASK_RULES, build_mask, product_flags
from geo.spectral.sam import load_library
from geo.training import lesson2, output_dir, sample_dir

out = output_dir("lesson2")  # everything this lesson writes goes here

# %% [markdown]
# ## 1. The scene and its mask
#
# `reflectance` holds seven bands (`coastal, blue, green, red, nir, swir1, swir2` = OLI bands
# 1–7) as surface reflectance between 0 and 1. `valid` is True where no mask rule (fill,
# cloud, cloud shadow, saturation, water, vegetation, dark slopes, and a 2-pixel buffer around
# them) removed the pixel.

# %%
scene = geo.open_scene(sample_dir() / lesson2.SCENE)
reflectance = scene.reflectance.compute()  # small enough to hold in memory: 7 × 600 × 600
flags = product_flags(scene.qa, scene.metadata["qa_kind"], sensor=reflectance.attrs["sensor"])
reasons = build_mask(reflectance, flags=flags).compute()
valid = reasons == 0
print(f"{reflectance.attrs['scene_id']}: bands {[str(b) for b in reflectance.band.values]}")
print(f"valid pixels: {float(valid.mean()):.1%}")

# %% [markdown]
# ## 2. Library spectra at the sensor's bands
#
# geo ships laboratory spectra from the USGS spectral library, averaged over each OLI band with
# the band's spectral response (`geo/data/library_landsat_oli.csv`). That is what a pure pixel
# of each mineral would look like to Landsat 8.

# %%
library = load_library("landsat_oli").set_index("name")
bands = [b.role for b in OLI_BANDS]
centres = [b.centre_um for b in OLI_BANDS]
library[["group", *bands]].round(3)

# %%
show = {
    "hematite": "#b2182b",
    "goethite": "#ef8a62",
    "jarosite": "#fddb33",
    "kaolinite": "#2166ac",
    "alunite": "#67a9cf",
    "muscovite": "#5e3c99",
    "green_vegetation": "#1b7837",
    "sand": "#999999",
}
fig, ax = plt.subplots(figsize=(8, 4.5))
for name, colour in show.items():
    ax.plot(centres, library.loc[name, bands], "o-", color=colour, label=name.replace("_", " "))
for band in OLI_BANDS:
    ax.axvspan(band.low_um, band.high_um, color="0.9", zorder=0)
    ax.text(band.centre_um, 1.01, band.role, ha="center", fontsize=7, rotation=90, va="bottom")
ax.set_xlabel("wavelength (µm); grey bands = OLI bands")
ax.set_ylabel("reflectance")
ax.set_ylim(0, 1.0)
ax.set_title("USGS library spectra at the Landsat 8 OLI bands", pad=40)
ax.legend(fontsize=8, ncol=2, loc="lower right")
plt.show()

# %% [markdown]
# **Why each ratio works.**
#
# - **Iron oxide, red / blue (OLI 4 / 2).** Fe³⁺ in hematite, goethite and jarosite absorbs
#   strongly in the ultraviolet and blue (charge transfer), so reflectance climbs steeply from
#   blue to red. Red / blue is large for iron oxides (hematite ≈ 9, goethite ≈ 4) and between
#   1 and 2 for clays, carbonates and most soils (soils hold a little iron too).
# - **Clay / hydroxyl, swir1 / swir2 (OLI 6 / 7).** The Al-OH bond in kaolinite, alunite and
#   muscovite absorbs near 2.2 µm, inside band 7, while band 6 (1.6 µm) is the reflectance
#   shoulder. You will pick these bands yourself in exercise 2.
# - **Why the same ratio also fires on other things.** Leaf water absorbs more at 2.2 µm than
#   at 1.6 µm, so green vegetation has a high swir1 / swir2 too. That is why vegetation is
#   masked *before* thresholding (section 6).
#
# The bar chart shows the two ratios for every library spectrum.

# %%
ratios = library[["group"]].assign(
    red_over_blue=library["red"] / library["blue"],
    swir1_over_swir2=library["swir1"] / library["swir2"],
)
fig, axes = plt.subplots(1, 2, figsize=(10, 5), sharey=True)
group_colours = {
    "iron_oxide": "#d6604d",
    "aloh_clay": "#4393c3",
    "mgoh_carbonate": "#b8e186",
    "vegetation": "#1b7837",
    "soil": "#bababa",
    "water": "#053061",
    "snow": "#e0e0e0",
}
colours = [group_colours[g] for g in ratios["group"]]
for ax, column, title in zip(
    axes,
    ["red_over_blue", "swir1_over_swir2"],
    ["iron oxide: red / blue", "clay / hydroxyl: swir1 / swir2"],
    strict=True,
):
    ax.barh(ratios.index, ratios[column], color=colours)
    ax.axvline(1, color="k", linewidth=0.8)
    ax.set_xscale("log")
    ticks = [t for t in (0.5, 1, 2, 4, 8) if t <= 1.2 * ratios[column].max()]
    ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set_title(title)
    ax.set_xlabel("ratio (log scale)")
axes[0].legend(
    handles=[plt.Rectangle((0, 0), 1, 1, color=c) for c in group_colours.values()],
    labels=list(group_colours),
    fontsize=7,
    loc="upper right",
)
axes[0].tick_params(axis="y", labelsize=7)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Exercise 1 — the iron-oxide ratio
#
# Compute red / blue on the reflectance, and set the pixels that are not `valid` to NaN
# (`.where(valid)` keeps a value where `valid` is True and puts NaN elsewhere).

# %% tags=["exercise"]
# Exercise 1: the iron-oxide ratio red / blue, NaN outside the valid mask.
# - the red band is reflectance.sel(band="red"), the blue band reflectance.sel(band="blue")
# - divide one by the other, then apply .where(valid)
iron_ratio = None

# %% tags=["solution"]
iron_ratio = (reflectance.sel(band="red") / reflectance.sel(band="blue")).where(valid)

# %%
lesson2.check_iron_ratio(iron_ratio);

# %% [markdown]
# The package computes the same ratio from its index catalogue (`geo indices --list` prints it);
# the catalogue also sets a ratio to NaN where the denominator is below 0.01, where a ratio is
# only noise. On the map, the planted iron zones are outlined: bright pixels should fall inside
# them.

# %%
iron = compute_indices(reflectance, ["iron_oxide"]).sel(index="iron_oxide").where(valid)
fig, ax = plt.subplots(figsize=(7.5, 6))
lesson2.draw_map(
    ax,
    iron,
    cmap="magma",
    vmin=1.0,
    vmax=2.5,
    label="red / blue",
    title="Iron-oxide ratio (red / blue), masked",
    outlines={"porphyry_core": "cyan", "iron_cap": "lime", "iron_cap_outside": "white"},
)
plt.show()

# %% [markdown]
# ## 4. Exercise 2 — which bands for the clay ratio?
#
# Here is kaolinite (USGS record CM9) at the OLI bands. A good mineral ratio puts the band
# where the mineral **reflects** on top and the band where it **absorbs** below, and the two
# should be close in wavelength so that other materials change little between them.

# %%
library.loc["kaolinite", bands].to_frame("kaolinite reflectance").T.round(3)

# %% tags=["exercise"]
# Exercise 2: name the numerator and the denominator of the clay / hydroxyl ratio,
# as band roles ("blue", "nir", "swir1"...) or OLI band numbers (6, "B7"...).
clay_numerator = None
clay_denominator = None

# %% tags=["solution"]
clay_numerator = "swir1"
clay_denominator = "swir2"

# %%
lesson2.check_clay_bands(clay_numerator, clay_denominator);

# %%
clay = compute_indices(reflectance, ["clay_hydroxyl"]).sel(index="clay_hydroxyl")  # unmasked
fig, ax = plt.subplots(figsize=(7.5, 6))
lesson2.draw_map(
    ax,
    clay.where(valid),
    cmap="viridis",
    vmin=1.0,
    vmax=1.5,
    label="swir1 / swir2",
    title="Clay / hydroxyl ratio (swir1 / swir2), masked",
    outlines={"porphyry_halo": "red", "argillic": "orange"},
)
plt.show()

# %% [markdown]
# ## 5. The Sabins ratio composite
#
# Sabins (1999) put three ratios in the three colour channels: **red = swir1 / swir2** (clays),
# **green = red / blue** (iron oxides), **blue = red / swir1** (OLI 6/7, 4/2, 4/6; TM 5/7,
# 3/1, 3/5). Each channel is stretched between its 2nd and 98th percentile over the valid
# pixels. Read the colours from the table below: iron oxides have a high red / blue and a low
# red / swir1 (green–yellow), clays a high swir1 / swir2 and a high red / swir1 (pink–magenta).

# %%
sabins = compute_indices(reflectance, composites()["sabins"])
print(sabins.attrs["formulas"])
(
    library[["red", "blue", "swir1", "swir2"]]
    .assign(
        R_swir1_swir2=lambda t: t.swir1 / t.swir2,
        G_red_blue=lambda t: t.red / t.blue,
        B_red_swir1=lambda t: t.red / t.swir1,
    )
    .loc[["hematite", "goethite", "kaolinite", "alunite", "sand", "soil"]]
    .iloc[:, 4:]
    .round(2)
)

# %% tags=["picture"]
fig, ax = plt.subplots(figsize=(8, 7))
lesson2.draw_map(
    ax,
    lesson2.stretch_rgb(sabins, valid),
    title="Sabins ratio composite: R = swir1/swir2, G = red/blue, B = red/swir1",
    legend=[
        ("clay-rich (high swir1/swir2)", "#ff40c0"),
        ("iron-oxide-rich (high red/blue)", "#a0ff40"),
    ],
    outlines={"porphyry": "white", "argillic": "yellow", "iron_cap": "cyan"},
)
fig.savefig(out / "sabins_composite.png", dpi=110, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## 6. Thresholds: which pixels are anomalous?
#
# A ratio map is continuous; a target map needs a cut-off. Three rules of thumb:
#
# - **Compute the statistics on valid pixels only.** Cloud, water and vegetation are not the
#   background geology; left in, they shift the centre and inflate the spread.
# - **Work on log(ratio).** Ratios are skewed: 2 is as far from 1 as 0.5. The logarithm makes
#   the background roughly symmetric.
# - **Use robust statistics.** The anomalies we look for pull the mean and the standard
#   deviation up. The median and the median absolute deviation (MAD) barely move.
#   For a normal distribution σ = 1.4826 · MAD, so the robust z-score is
#   z = (t − median) / (1.4826 · MAD), and pixels with z ≥ 3 are anomalous.
#
# ### Exercise 3 — the robust cut-off of the iron-oxide ratio
#
# Take the finite values of `iron_ratio` (`values[np.isfinite(values)]`), their logarithm `t`,
# the median of `t`, the MAD (the median of |t − median|), and return the cut-off in **ratio
# units**: exp(median + 3 · 1.4826 · MAD).

# %% tags=["exercise"]
# Exercise 3: the robust cut-off (k = 3) of the iron-oxide ratio, in ratio units.
# - values = iron_ratio.values; keep the finite ones with np.isfinite
# - t = np.log(values); median with np.median; MAD = np.median(np.abs(t - median))
# - iron_cutoff = np.exp(median + 3 * 1.4826 * MAD)
iron_cutoff = None

# %% tags=["solution"]
values = iron_ratio.values
t = np.log(values[np.isfinite(values)])
median = np.median(t)
mad = np.median(np.abs(t - median))
iron_cutoff = np.exp(median + 3 * 1.4826 * mad)

# %%
lesson2.check_robust_threshold(iron_cutoff);

# %% [markdown]
# `fit_threshold` does the same in a streaming way (a histogram built chunk by chunk, so a
# full scene never has to fit in memory) and records what it used; the pipeline writes this
# record into the run's manifest.

# %%
iron_threshold = fit_threshold(iron, name="iron_oxide", method="robust_z", k=3, log=True)
print(iron_threshold)
iron_anomaly = (iron >= iron_threshold.cutoff).where(valid)
fig, ax = plt.subplots(figsize=(7.5, 6))
lesson2.draw_map(
    ax,
    iron_anomaly,
    categories={0: ("background", "#f0e6d2"), 1: ("iron-oxide anomaly (z ≥ 3)", "#d7301f")},
    title=f"Iron-oxide anomalies: red / blue ≥ {iron_threshold.cutoff:.3f}",
    outlines={"porphyry_core": "black", "iron_cap": "blue", "iron_cap_outside": "purple"},
)
plt.show()

# %% [markdown]
# ## 7. The pitfall: mean + 2σ over an unmasked scene
#
# A common first attempt is "mean + 2 standard deviations of the ratio image". Let us do it on
# the clay ratio **without** the mask and see what it picks.
#
# ### Exercise 4 — the naive cut-off
#
# `clay` (section 4) is the unmasked clay ratio. Compute its mean + 2 · σ over every pixel that
# has a value (`np.nanmean` and `np.nanstd` skip the NaN fill pixels).

# %% tags=["exercise"]
# Exercise 4: the naive cut-off of the clay ratio, mean + 2 * standard deviation,
# over every pixel of `clay` that has a value (no mask, no log).
naive_cutoff = None

# %% tags=["solution"]
naive_cutoff = np.nanmean(clay.values) + 2 * np.nanstd(clay.values)

# %%
lesson2.check_naive_cutoff(naive_cutoff);

# %% [markdown]
# Compare the histograms: every pixel with a value, and the valid pixels only. The long tail
# of the unmasked histogram is vegetation, water and shadow. The robust cut-off (median +
# 3 · 1.4826 · MAD on log ratio, valid pixels) sits where the valid background ends.

# %%
clay_robust = fit_threshold(clay.where(valid), name="clay_hydroxyl", method="robust_z", k=3)
all_values = clay.values[np.isfinite(clay.values)]
valid_values = clay.where(valid).values[valid.values]
fig, ax = plt.subplots(figsize=(8, 4))
edges = np.linspace(0.8, 2.2, 141)
ax.hist(all_values, bins=edges, color="0.6", label="every pixel with a value")
ax.hist(valid_values, bins=edges, histtype="step", color="k", label="valid pixels only")
ax.axvline(naive_cutoff, color="#d7301f", linestyle="--", label=f"naive mean + 2σ = {naive_cutoff:.3f}")
ax.axvline(
    clay_robust.cutoff,
    color="#2166ac",
    label=f"robust z ≥ 3 on valid pixels = {clay_robust.cutoff:.3f}",
)
ax.set_yscale("log")
ax.set_xlabel("swir1 / swir2")
ax.set_ylabel("pixels (log scale)")
ax.set_title("Clay ratio: the masked pixels make the tail")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Where do the pixels above the naive cut-off lie? The map colours them by the mask rule that
# would have removed them.

# %%
naive_hit = (clay >= naive_cutoff).values
veg_bit = 1 << MASK_RULES.index("vegetation")
water_bit = 1 << MASK_RULES.index("water")
kind = np.full(naive_hit.shape, 0.0)
kind[naive_hit & (reasons.values == 0)] = 1
kind[naive_hit & (reasons.values & veg_bit > 0)] = 2
kind[naive_hit & (reasons.values & water_bit > 0)] = 3
kind[naive_hit & (kind == 0)] = 4
kind[np.isnan(clay.values)] = np.nan
fig, ax = plt.subplots(figsize=(7.5, 6))
lesson2.draw_map(
    ax,
    clay.copy(data=kind),
    categories={
        0: ("below the naive cut-off", "#f0e6d2"),
        1: ("above it, valid ground", "#2166ac"),
        2: ("above it, vegetation", "#1b7837"),
        3: ("above it, water", "#00bcd4"),
        4: ("above it, other masked", "#d7301f"),
    },
    title="Naive clay anomalies (mean + 2σ, no mask)",
    outlines={"argillic": "orange", "porphyry_halo": "magenta"},
)
plt.show()

# %% [markdown]
# ### Exercise 5 — what made most of the false anomalies?
#
# Count, among the pixels above the naive cut-off (`naive_hit`), how many each mask rule
# removes, and name the rule that explains most of them. Rule number i of `MASK_RULES` sets
# bit i of `reasons`, so the pixels removed by a rule are
# `(reasons.values >> MASK_RULES.index(rule)) & 1 == 1`.

# %% tags=["exercise"]
# Exercise 5: the mask rule ("cloud", "water", "vegetation", "dark"...) that removes
# most of the naive clay anomalies.
# - for each rule in MASK_RULES, count the pixels of naive_hit that the rule removes
# - culprit = the rule with the largest count (a string)
culprit = None

# %% tags=["solution"]
counts = {
    rule: int((naive_hit & ((reasons.values >> bit) & 1 == 1)).sum())
    for bit, rule in enumerate(MASK_RULES)
}
print({rule: n for rule, n in counts.items() if n}, "of", int(naive_hit.sum()), "naive anomalies")
culprit = max(counts, key=counts.get)

# %%
lesson2.check_culprit(culprit);

# %% [markdown]
# More than half of the naive "clay anomalies" are the riverside vegetation, and because the
# vegetation also inflates σ, the naive cut-off is higher than the robust one and misses part
# of the real clay halo. Other threshold pitfalls to keep in mind:
#
# - **The threshold moves with the area.** Statistics over a whole scene and over one licence
#   block give different cut-offs; record which area and mask you used (geo's manifest does).
# - **Dark pixels.** In shadow both bands are small and their ratio is mostly noise; the mask
#   removes very dark pixels (mean reflectance < 0.04) for this reason.
# - **Alteration is rare.** It usually covers less than 5 % of a scene, so methods that expect
#   two similar populations (Otsu) are a cross-check at best.
# - **A ratio is not a mineral.** Laterite, red soils and mine dumps have a high red / blue
#   too: an anomaly is a place to look at, not a discovery.
#
# ## 8. Save the results
#
# Write the masked iron-oxide ratio as a GeoTIFF (it opens in QGIS with its coordinates) into
# this lesson's output folder.

# %%
path = out / "iron_oxide_ratio.tif"
iron.rio.to_raster(path)
print(f"wrote {path} and {out / 'sabins_composite.png'}")

# %% [markdown]
# ## Summary
#
# - A ratio divides the band where a mineral reflects by the band where it absorbs: red / blue
#   for iron oxides (Fe³⁺ absorbs blue), swir1 / swir2 for Al-OH clays (absorption near 2.2 µm).
# - Mask first, then compute statistics: cloud, water and vegetation are not geology.
# - Threshold on log(ratio) with median + k · 1.4826 · MAD; mean + 2σ over an unmasked scene
#   maps the vegetation as clay.
#
# Next lesson: Crosta's feature-oriented principal components and the spectral angle mapper.
