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
# # Lesson 3 — Crosta principal components and the spectral angle mapper
#
# Band ratios (lesson 2) compare two bands. The two methods of this lesson use more bands at
# once:
#
# - **Crosta's feature-oriented principal components** (Crosta & Moore 1989; Loughlin 1991)
#   rotate four well-chosen bands into uncorrelated components and pick the one that carries a
#   mineral's absorption;
# - the **spectral angle mapper** (SAM; Kruse et al. 1993) compares the *shape* of every pixel
#   spectrum with laboratory spectra, whatever the brightness.
#
# **Goals.** By the end of this lesson you can
#
# 1. run a PCA on the four Crosta bands for hydroxyl (clay) minerals over the valid pixels;
# 2. read the loadings to find the component that carries the hydroxyl signal, and its sign;
# 3. compute a component image yourself and build the Crosta H / H+F / F composite;
# 4. compute a spectral angle by hand, map it, classify the scene with SAM and say where SAM
#    fails at Landsat's six or seven bands.
#
# **Data.** The synthetic Landsat 8 scene of `sample_rasters/` (see lesson 1), masked as in
# lesson 2. Exercise cells hold `None`: replace it with your code, run the cell and the check
# below it.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

import geo
from geo.spectral.masks import build_mask, product_flags
from geo.spectral.pca import crosta, crosta_composite, fit_pca
from geo.spectral.sam import load_library, sam_classify, spectral_angle
from geo.training import lesson2, lesson3, output_dir, sample_dir

out = output_dir("lesson3")  # everything this lesson writes goes here

scene = geo.open_scene(sample_dir() / lesson2.SCENE)
reflectance = scene.reflectance.compute()  # 7 bands × 600 × 600, small enough for memory
flags = product_flags(scene.qa, scene.metadata["qa_kind"], sensor=reflectance.attrs["sensor"])
reasons = build_mask(reflectance, flags=flags).compute()
valid = reasons == 0
print(f"valid pixels: {float(valid.mean()):.1%}")

# %% [markdown]
# ## Part A — Crosta: feature-oriented principal components
#
# Neighbouring bands are strongly correlated: a bright rock is bright in every band. A
# principal component analysis (PCA) rotates the bands into new axes, the **components**, that
# are uncorrelated. PC1 is almost always overall brightness (all loadings of one sign) and holds
# most of the variance; the small last components hold the contrasts between bands, and that
# is where a mineral's absorption hides.
#
# Crosta's idea is to feed the PCA only **four** bands chosen so that one mineral feature can
# show:
#
# | image | OLI bands (roles) | TM bands | why |
# |---|---|---|---|
# | **H** hydroxyl (clays) | 2, 5, 6, 7 (blue, nir, swir1, swir2) | 1, 4, 5, 7 | swir1 shoulder and swir2 Al-OH absorption; a single visible band so that iron oxides do not leak in |
# | **F** iron oxide | 2, 4, 5, 6 (blue, red, nir, swir1) | 1, 3, 4, 5 | blue absorption and red reflectance of Fe³⁺; a single SWIR band so that clays do not leak in |
#
# The statistics must come from the **valid** pixels: left in, a river of green vegetation
# or a cloud takes over a whole component.
#
# ### Exercise 1 — the PCA of the H bands
#
# `fit_pca(cube, roles, valid=...)` computes the covariance matrix of the bands over the valid
# pixels and its eigenvectors (the loadings of each component).

# %% tags=["exercise"]
# Exercise 1: fit a PCA on the four Crosta hydroxyl bands over the valid pixels.
# - the roles are "blue", "nir", "swir1", "swir2"
# - fit_pca(reflectance, [...roles...], valid=valid)
pca = None

# %% tags=["solution"]
pca = fit_pca(reflectance, ["blue", "nir", "swir1", "swir2"], valid=valid)

# %%
lesson3.check_hydroxyl_pca(pca);

# %% [markdown]
# The loadings: one column per component, one row per band. `explained` is the share of the
# variance each component holds.

# %%
loadings = pca.loadings_table()
print((pd.Series(pca.explained_variance_ratio, index=pca.components) * 100).round(2).rename("explained %"))
loadings.round(3)

# %%
fig, ax = plt.subplots(figsize=(8, 3.8))
width = 0.2
x = np.arange(len(pca.components))
band_colours = {"blue": "#4575b4", "nir": "#91cf60", "swir1": "#fdae61", "swir2": "#d73027"}
for i, role in enumerate(pca.roles):
    ax.bar(x + (i - 1.5) * width, loadings.loc[role], width, label=role, color=band_colours[role])
ax.axhline(0, color="k", linewidth=0.8)
ax.set_xticks(x, [f"{c}\n{r:.1%} of variance" for c, r in zip(pca.components, pca.explained_variance_ratio, strict=True)])
ax.set_ylabel("loading")
ax.set_title("Loadings of the hydroxyl (H) PCA: look for swir1 and swir2 of opposite sign")
ax.legend(fontsize=8, ncol=4)
plt.show()

# %% [markdown]
# ### Exercise 2 — which component carries the hydroxyl signal?
#
# Read the loadings:
#
# 1. PC1 has all loadings of one sign: brightness, not mineralogy.
# 2. The hydroxyl component has **large loadings of opposite sign on swir1 and swir2**: it
#    measures "bright at 1.6 µm, dark at 2.2 µm", the Al-OH absorption. If two components
#    qualify, prefer the stronger swir1–swir2 contrast, and check that blue does not load in a
#    way that makes iron oxides bright too.
# 3. The **sign**: an eigenvector can be multiplied by −1 without changing anything. Choose the
#    sign that makes clay-rich pixels bright: the one that makes the swir1 loading positive
#    (and so swir2 negative).

# %% tags=["exercise"]
# Exercise 2: the component number (1 to 4) that carries the hydroxyl signal,
# and the sign (+1 or -1) that makes clay-rich pixels bright.
hydroxyl_pc = None
hydroxyl_sign = None

# %% tags=["solution"]
# components after PC1 with swir1 and swir2 of opposite sign, and their swir1-swir2 contrast
opposite = (loadings.loc["swir1"] * loadings.loc["swir2"] < 0).drop("PC1")
contrast = (loadings.loc["swir1"] - loadings.loc["swir2"]).abs()[opposite[opposite].index]
print(contrast.round(3))
hydroxyl_pc = int(contrast.idxmax().removeprefix("PC"))  # the strongest contrast
hydroxyl_sign = 1 if loadings.loc["swir1", f"PC{hydroxyl_pc}"] > 0 else -1  # swir1 positive

# %%
lesson3.check_hydroxyl_component(hydroxyl_pc, hydroxyl_sign);

# %% [markdown]
# ### Exercise 3 — compute the H image yourself
#
# A component score is the pixel minus the band means, projected on the loadings:
#
# H = sign × Σ_b loading_b × (reflectance_b − mean_b)
#
# with the four bands `pca.roles`, their means `pca.mean` and the loadings
# `pca.eigenvectors[:, hydroxyl_pc - 1]`. Set the pixels that are not valid to NaN.

# %% tags=["exercise"]
# Exercise 3: the hydroxyl Crosta image, NaN where not valid.
# - bands = reflectance.sel(band=list(pca.roles)).values      -> shape (4, rows, cols)
# - weights = hydroxyl_sign * pca.eigenvectors[:, hydroxyl_pc - 1]
# - subtract pca.mean[:, None, None] from bands, then np.tensordot(weights, ..., axes=1)
# - np.where(valid, image, np.nan)
h_image = None

# %% tags=["solution"]
bands_h = reflectance.sel(band=list(pca.roles)).values
weights = hydroxyl_sign * pca.eigenvectors[:, hydroxyl_pc - 1]
h_image = np.where(valid, np.tensordot(weights, bands_h - pca.mean[:, None, None], axes=1), np.nan)

# %%
lesson3.check_crosta_image(h_image);

# %% [markdown]
# `crosta()` does all of this in one call, for H and for F, and records the choice. Its rule is
# the one you used: a component after PC1 with opposite-sign loadings on the absorption band
# and the reflectance band (swir2 and swir1 for H, blue and red for F), the largest contrast,
# signed so that the mineral is bright.

# %%
h = crosta(reflectance, "hydroxyl", valid=valid)
f = crosta(reflectance, "iron_oxide", valid=valid)
for result in (h, f):
    print(f"{result.target}: PC{result.component} × {result.sign:+d}")
f.loadings_table().round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 5.8))
for ax, result, outlines in (
    (axes[0], h, {"porphyry_halo": "red", "argillic": "orange"}),
    (axes[1], f, {"porphyry_core": "cyan", "iron_cap": "lime", "iron_cap_outside": "white"}),
):
    z = result.zscore()
    lesson2.draw_map(
        ax,
        z,
        cmap="inferno",
        vmin=-2,
        vmax=5,
        label="component score (standard deviations)",
        title=f"Crosta {'H (hydroxyl)' if result.target == 'hydroxyl' else 'F (iron oxide)'}: "
        f"PC{result.component} × {result.sign:+d}",
        outlines=outlines,
    )
plt.tight_layout()
plt.show()

# %% [markdown]
# Look at the H map again: besides the porphyry halo and the argillic zone, the iron caps and
# the rims of the two dark scarps are bright too. Jarosite and goethite also reflect more at
# 1.6 µm than at 2.2 µm (see the swir1 / swir2 bar chart of lesson 2), and the dim pixels at
# the edge of a shadowed slope have noisy band contrasts. A component is not a mineral map:
# compare its anomalies with the ratios and the geology before trusting them.
#
# The chosen component also depends on the scene: on another scene the hydroxyl signal may sit
# in PC3. That is why the loadings are always read (and recorded), never assumed.
#
# ## Part B — the spectral angle mapper
#
# Think of a pixel's seven reflectances as an arrow in a seven-dimensional space. A brighter
# or darker version of the same material (sunlit or shaded slope) is the same arrow, longer or
# shorter. The **spectral angle** between a pixel **t** and a reference **r** measures only
# their difference in *shape*:
#
# α = arccos( Σ tᵢ rᵢ / ( √Σ tᵢ² · √Σ rᵢ² ) )   (radians; 0 = same shape)
#
# Here are the pixel at row 451, column 419 (in the planted argillic zone), and two library
# spectra. On the left the raw reflectance, on the right each spectrum divided by its length:
# the pixel and kaolinite then nearly coincide.

# %%
library = load_library("landsat_oli").set_index("name")
bands = [c for c in library.columns if c not in ("group", "record", "library")]
row, col = 451, 419
pixel = reflectance.sel(band=bands)[:, row, col].values
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
series = {
    f"pixel ({row}, {col})": (pixel, "k"),
    "kaolinite_kga1": (library.loc["kaolinite_kga1", bands].to_numpy(float), "#2166ac"),
    "goethite": (library.loc["goethite", bands].to_numpy(float), "#d6604d"),
}
for label, (values, colour) in series.items():
    axes[0].plot(bands, values, "o-", color=colour, label=label)
    axes[1].plot(bands, values / np.linalg.norm(values), "o-", color=colour, label=label)
axes[0].set_ylabel("reflectance")
axes[0].set_title("as measured")
axes[1].set_ylabel("reflectance / length of the spectrum")
axes[1].set_title("divided by their length: only the shape is left")
for ax in axes:
    ax.legend(fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ### Exercise 4 — a spectral angle by hand
#
# Compute the angle between `pixel` (above) and the library spectrum of `kaolinite_kga1` over
# the seven bands: the dot product (`np.dot` or `@`), divided by the two lengths
# (`np.linalg.norm`), then `np.arccos`.

# %% tags=["exercise"]
# Exercise 4: the spectral angle (radians) between `pixel` and kaolinite_kga1.
# - reference = library.loc["kaolinite_kga1", bands].to_numpy(float)
# - cosine = pixel @ reference / (np.linalg.norm(pixel) * np.linalg.norm(reference))
pixel_angle = None

# %% tags=["solution"]
reference = library.loc["kaolinite_kga1", bands].to_numpy(float)
cosine = pixel @ reference / (np.linalg.norm(pixel) * np.linalg.norm(reference))
pixel_angle = np.arccos(cosine)

# %%
lesson3.check_pixel_angle(pixel_angle, row, col, "kaolinite_kga1");

# %% [markdown]
# The angle ignores brightness: half the light (a shaded slope) gives the same angle.

# %%
half = 0.5 * pixel
half_angle = np.arccos(half @ reference / (np.linalg.norm(half) * np.linalg.norm(reference)))
print(f"angle of the pixel: {pixel_angle:.4f} rad; of the pixel at half brightness: {half_angle:.4f} rad")

# %% [markdown]
# ### Exercise 5 — the angle map of the whole scene
#
# Do the same for every pixel at once. `reflectance.sel(band=bands).values` has shape
# (7, rows, columns); `np.tensordot(reference, cube, axes=1)` gives the dot product of every
# pixel with the reference, and `np.linalg.norm(cube, axis=0)` the length of every pixel.

# %% tags=["exercise"]
# Exercise 5: the spectral angle to kaolinite_kga1 for every pixel, NaN where not valid.
angle_map = None

# %% tags=["solution"]
cube = reflectance.sel(band=bands).values
cosines = np.tensordot(reference, cube, axes=1) / (
    np.linalg.norm(cube, axis=0) * np.linalg.norm(reference)
)
angle_map = np.where(valid, np.arccos(np.clip(cosines, -1, 1)), np.nan)

# %%
lesson3.check_angle_map(angle_map, "kaolinite_kga1");

# %% [markdown]
# `spectral_angle()` computes the same map chunk by chunk. The histogram shows why a threshold
# is needed and how sharp the choice is: 0.08 rad and 0.10 rad are the values seen in practice
# ("more than 0.1 rad = no similarity").

# %%
kaolinite_angle = spectral_angle(reflectance, library.loc["kaolinite_kga1", bands]).where(valid)
fig, axes = plt.subplots(1, 2, figsize=(14, 5.2), gridspec_kw={"width_ratios": [1.25, 1]})
lesson2.draw_map(
    axes[0],
    kaolinite_angle,
    cmap="viridis_r",
    vmin=0,
    vmax=0.3,
    label="spectral angle to kaolinite_kga1 (rad)",
    title="Spectral angle to kaolinite (small = similar)",
    outlines={"porphyry_halo": "red", "argillic": "orange"},
)
values = kaolinite_angle.values[np.isfinite(kaolinite_angle.values)]
axes[1].hist(values, bins=np.linspace(0, 0.5, 101), color="0.5")
for threshold, style in ((0.08, ":"), (0.10, "--")):
    share = float((values <= threshold).mean())
    axes[1].axvline(threshold, color="#2166ac", linestyle=style, label=f"{threshold} rad: {share:.2%} of valid pixels")
axes[1].set_yscale("log")
axes[1].set_xlabel("spectral angle (rad)")
axes[1].set_ylabel("pixels (log scale)")
axes[1].set_title("Histogram of the angles")
axes[1].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## SAM classification
#
# `sam_classify` compares every pixel with every library record, keeps the smallest angle and
# reports the record's **group** (iron oxide, Al-OH clay, Mg-OH/carbonate, vegetation, soil,
# water, snow) when that angle is within the threshold; otherwise the pixel stays
# unclassified. With six or seven broad bands, SAM separates mineral *groups*, not species.

# %%
sam = sam_classify(reflectance.where(valid), "landsat_oli", thresholds=0.10)
codes = sam.best_group.attrs["codes"]
group_map = sam.best_group.where(sam.best_group != 255)
counts = pd.Series(sam.best_group.values.ravel()).value_counts()
pd.DataFrame(
    {"group": [codes.get(c, "masked") for c in counts.index], "pixels": counts.values}
).set_index("group")

# %% [markdown]
# **Where SAM fails here.** The table lists the three closest library records for four
# pixels. The clay pixel is unambiguous. The iron oxides are not: the iron cap's closest
# record (goethite) is beyond 0.10 rad, with ordinary soil only a little farther, while the
# background sand lies within 0.07 rad of "2 % goethite in quartz", an iron-oxide record. Soils
# carry iron too, and at seven broad bands "a little goethite in sand" and "a goethite-rich
# gossan" differ mostly in how much iron, which the shape of a broadband spectrum shows
# poorly. For iron oxides, the red / blue ratio (lesson 2) or Crosta F works better on
# Landsat; SAM is at its best on the Al-OH clays.

# %%
lesson3.closest_records(
    reflectance,
    {
        "argillic zone": (451, 419),
        "porphyry core": (200, 401),
        "iron cap": (450, 170),
        "background sand": (300, 300),
    },
)

# %% [markdown]
# ## The lesson's picture: Crosta composite and SAM groups
#
# The Crosta composite puts **H in red, H + F in green, F in blue**, each in standard
# deviations of its component, shown from −1 to +5 σ (−2 to +10 σ for H + F, the sum of two):
# the background stays dark, clay-rich pixels are orange, iron-oxide-rich pixels light blue,
# and pixels with both white.

# %% tags=["picture"]
z = crosta_composite(h, f)  # bands H, H+F, F in standard deviations
composite = xr.concat(
    [(z.sel(band=b) + n) / (6 * n) for b, n in (("H", 1), ("H+F", 2), ("F", 1))], dim="band"
).clip(0, 1).where(valid)
fig, axes = plt.subplots(1, 2, figsize=(15, 6.5))
lesson2.draw_map(
    axes[0],
    composite,
    title="Crosta composite: R = H, G = H + F, B = F",
    legend=[("hydroxyl (H)", "#ff942b"), ("iron oxide (F)", "#2b94ff"), ("both", "#ffffff")],
    outlines={"porphyry": "magenta", "argillic": "magenta", "iron_cap": "lime"},
)
lesson2.draw_map(
    axes[1],
    group_map,
    categories=lesson3.sam_categories(codes, present=group_map.values),
    title="SAM mineral groups (threshold 0.10 rad)",
    outlines={"porphyry": "black", "argillic": "magenta"},
    legend_loc="lower right",
)
plt.tight_layout()
fig.savefig(out / "crosta_and_sam.png", dpi=110, bbox_inches="tight")
plt.show()

# %% [markdown]
# ## Save the results
#
# The H image and the SAM groups as GeoTIFFs for QGIS.

# %%
h.image.rio.to_raster(out / "crosta_hydroxyl.tif")
sam.best_group.rio.to_raster(out / "sam_group.tif")
print(sorted(p.name for p in out.iterdir()))

# %% [markdown]
# ## Summary
#
# - Crosta: PCA on four bands chosen for one feature (H: blue, nir, swir1, swir2), over valid
#   pixels only; the mineral component has large opposite loadings on the absorption band and
#   its shoulder, and is signed so the mineral is bright. Always read the loadings: the
#   component number changes from scene to scene.
# - SAM: the angle between spectra ignores brightness; thresholds near 0.08–0.10 rad. At
#   Landsat's bands it separates groups, works well for Al-OH clays, and confuses iron oxides
#   with iron-bearing soils.
#
# Next lesson: supervised classification, and why random validation splits lie.
