# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 7 — Imaging spectroscopy: continuum removal and mineral maps
#
# Landsat's seven bands say "iron" and "clay" (lessons 2 and 3). An **imaging spectrometer**
# measures hundreds of narrow bands, enough to see the *shape* of an absorption, and the
# shape names the mineral: alunite, kaolinite and white mica all absorb near 2.2 µm, but
# each in its own way. NASA's EMIT (60 m, 285 bands, 381-2493 nm), Germany's EnMAP and
# Italy's PRISMA (30 m, ~230 bands) deliver such data free over the world's arid belts.
#
# **Goals.** By the end of this lesson you can
#
# 1. open an EMIT granule and read its cube: wavelengths, band widths, bad (water-vapour)
#    bands; compare a pixel's spectrum with a library spectrum at the same bands;
# 2. remove the continuum of an absorption by hand and measure its depth and its position
#    below the band spacing, and check them against geo;
# 3. tell kaolinite, alunite and white mica apart from their features;
# 4. map the minerals of a scene and measure how well the maps find planted truth;
# 5. read alteration assemblages, and say why a hematite-stained sand is not a target;
# 6. run the hyperspectral pipeline and read its ranked targets.
#
# **Time:** about 60 minutes; the notebook runs in well under a minute.
#
# **Data.** A small EMIT-format granule in `sample_rasters/` (99 × 91 pixels after
# orthorectification), written by `geo sample-data` from USGS library spectra: a
# porphyry-style system (advanced argillic core, phyllic ring, propylitic halo), an
# argillic patch, a hematite-stained sand, vegetation and a small cloud, all on a bright
# sandy soil with noise at EMIT-like signal-to-noise. Because it was planted, the right
# answers are known (`emit_truth.gpkg`). Exercise cells hold `None`: replace it with your
# code, run the cell and the check below it.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import geo
from geo.pipeline.runner import run_pipeline
from geo.pipeline.spec import load_spec
from geo.spectral.continuum import FEATURES, feature_parameters, upper_hull
from geo.spectral.minerals import assemblage_map, identify_minerals, library_at_bands
from geo.training import lesson7, output_dir, sample_dir

plt.rcParams["figure.dpi"] = 80
out = output_dir("lesson7")  # everything this lesson writes goes here

# %% [markdown]
# ## 1. The cube
#
# `geo.open_scene` recognises the EMIT L2A reflectance file, puts it on the UTM grid of
# the scene centre through the granule's geometry lookup table, and reads the MASK granule
# lying beside it. The hyperspectral cube is `scene.spectra`: `(band, y, x)` reflectance,
# with, on every band, its centre `wavelength` (nm), its width `fwhm` (full width at half
# maximum, nm) and a `good` flag.

# %%
scene = geo.open_scene(sample_dir() / lesson7.SCENE)
spectra = scene.spectra.compute()  # 285 bands × 99 × 91 pixels: small enough for memory
print(spectra.sizes, spectra.rio.crs, spectra.rio.resolution())
print("product masks:", scene.metadata["product_masks"])
bands = pd.DataFrame({c: spectra[c].values for c in ("wavelength", "fwhm", "good")},
                     index=pd.Index(spectra.band.values, name="band"))  # fmt: skip
bands.iloc[::40]

# %% [markdown]
# Two stretches of the spectrum are useless from space: near **1.4 µm** and **1.9 µm** water
# vapour in the atmosphere absorbs almost all the sunlight, so the product flags those bands
# `good = False` (they are noise; never use them).
#
# ### Exercise 1 — how many bad bands?
#
# Count the bands whose `good` flag is False. Hint: `~spectra.good` inverts the flags, and
# `.sum()` counts the True values.

# %% tags=["exercise"]
# Replace None with the number of bad bands (an integer).
n_bad = None

# %% tags=["solution"]
n_bad = int((~spectra.good).sum())

# %%
lesson7.check_bad_bands(n_bad)

# %%
bad = spectra.wavelength.where(~spectra.good, drop=True).values
print(f"bad bands from {bad.min():.0f} to {bad.max():.0f} nm, in two stretches:",
      [f"{a:.0f}-{b:.0f}" for a, b in ((bad[bad < 1600].min(), bad[bad < 1600].max()),
                                      (bad[bad > 1600].min(), bad[bad > 1600].max()))])  # fmt: skip

# %% [markdown]
# A pixel of the phyllic ring and the library's muscovite (USGS GDS111) **at EMIT's own
# bands**: `library_at_bands` convolves each 2 nm library spectrum with a Gaussian of every
# band's centre and FWHM, as the instrument itself sees it. The pixel is darker (mica is
# mixed with soil) but the dips line up at 1.4 (hidden), 1.9 (hidden), 2.2, 2.35 and 2.44 µm.

# %%
pixel = lesson7.example_pixel("phyllic", "white_mica")
library = library_at_bands(spectra.wavelength.values, spectra.fwhm.values).set_index("name")
band_columns = [str(b) for b in spectra.band.values]
muscovite = library.loc["muscovite_gds111", band_columns].to_numpy(float)

wl = spectra.wavelength.values
good = spectra.good.values
fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
ax.plot(wl, np.where(good, pixel.values, np.nan), label=f"pixel x={float(pixel.x):.0f}, y={float(pixel.y):.0f}")  # fmt: skip
ax.plot(wl, np.where(good, muscovite, np.nan), label="library muscovite GDS111 at EMIT bands")
for a, b in ((1340, 1450), (1790, 1970)):
    ax.axvspan(a, b, color="0.85", zorder=0)
ax.set_xlabel("wavelength (nm)")
ax.set_ylabel("reflectance")
ax.legend(fontsize=8)
ax.set_title("Grey: bad (water-vapour) bands", fontsize=9)
plt.show()

# %% [markdown]
# ## 2. Continuum removal, by hand
#
# A reflectance spectrum is a sloping background, the **continuum**, with absorptions cut
# into it. To measure an absorption we divide the spectrum by its continuum over a window
# around the feature (Clark & Roush 1984): the continuum is the **upper convex hull**, the
# polyline that rests on the spectrum's highest points like a rubber band stretched over
# it. The quotient `CR = R / hull` is 1 on the shoulders and dips below 1 in the absorption.
#
# We use the Al-OH window of geo's catalogue, 2120-2250 nm:

# %%
print(FEATURES["aloh_22"])
wl_win, r_win = lesson7.window_spectrum(pixel, lesson7.WINDOW)  # the good bands in the window
hull = upper_hull(wl_win, r_win)
print(f"{wl_win.size} bands from {wl_win[0]:.1f} to {wl_win[-1]:.1f} nm")

# %% [markdown]
# ### Exercise 2 — the continuum-removed spectrum
#
# Divide the window's reflectance `r_win` by its hull `hull` (both numpy arrays).

# %% tags=["exercise"]
# Replace None with the continuum-removed spectrum over the window.
cr = None

# %% tags=["solution"]
cr = r_win / hull

# %%
lesson7.check_continuum_removed(cr, pixel)

# %%
fig, (a1, a2) = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
a1.plot(wl_win, r_win, "o-", ms=3, label="reflectance")
a1.plot(wl_win, hull, "--", label="continuum (upper hull)")
a1.set_xlabel("wavelength (nm)")
a1.legend(fontsize=8)
a2.plot(wl_win, cr, "o-", ms=3, color="C3")
a2.axhline(1, color="0.6", lw=0.8)
a2.set_xlabel("wavelength (nm)")
a2.set_title("continuum removed: R / hull", fontsize=9)
plt.show()

# %% [markdown]
# ### Exercise 3 — band depth
#
# The **band depth** is how far the lowest point of the continuum-removed spectrum falls
# below 1: `D = 1 − min(CR)`. It is relative to the continuum, so it does not depend on how
# bright the pixel is (shade, slope, illumination).

# %% tags=["exercise"]
# Replace None with the band depth (a number between 0 and 1).
depth = None

# %% tags=["solution"]
depth = 1 - cr.min()

# %%
lesson7.check_band_depth(depth, pixel)

# %% [markdown]
# ### Exercise 4 — where exactly is the minimum?
#
# The bands are ~7.4 nm apart, but the **position** of the Al-OH minimum of a white mica
# moves by only a few nanometres with its chemistry (~2195 nm Na-rich, ~2205 nm
# K-muscovite, 2210-2225 nm phengitic: Duke 1994), so the band centre of the lowest band is
# too coarse. Refine it: an absorption is close to a Gaussian, and the logarithm of a
# Gaussian is a parabola, so fit a parabola through `f = ln(1 − CR)` at the lowest band `i`
# and its two neighbours and take its vertex. With `x0, x1, x2` the three wavelengths and
# `f0, f1, f2` the values:
#
# `d01 = (f1 − f0)/(x1 − x0)`, `d12 = (f2 − f1)/(x2 − x1)`, `a = (d12 − d01)/(x2 − x0)`,
# and the vertex is `x = (x0 + x1)/2 − d01/(2a)`.

# %% tags=["exercise"]
# Replace None with the refined wavelength of the minimum, in nm.
# i = int(np.argmin(cr)) is the lowest band; wl_win[i - 1 : i + 2] its wavelengths.
position = None

# %% tags=["solution"]
i = int(np.argmin(cr))
x0, x1, x2 = wl_win[i - 1 : i + 2]
f0, f1, f2 = np.log(1 - cr[i - 1 : i + 2])
d01, d12 = (f1 - f0) / (x1 - x0), (f2 - f1) / (x2 - x1)
a = (d12 - d01) / (x2 - x0)
position = (x0 + x1) / 2 - d01 / (2 * a)

# %%
lesson7.check_feature_position(position, pixel)

# %% [markdown]
# geo does the same for every pixel and every feature of its catalogue
# (`feature_parameters` for spectra, `feature_maps` for a whole cube). Compare:

# %%
params = feature_parameters(wl_win, r_win)
print({k: round(float(v), 4) for k, v in params.items()})
print(f"by hand: depth {float(depth):.4f}, position {float(position):.2f} nm")

# %% [markdown]
# A position near 2219 nm says this mica is phengitic rather than pure muscovite: in a real
# porphyry such shifts map temperature and fluid chemistry outward from the core.
#
# ## 3. Kaolinite, alunite or white mica?
#
# The three minerals of the core and ring all absorb near 2.2 µm. Continuum-removed over
# 1.7-2.4 µm at EMIT's bands they are easy to tell apart:
#
# | mineral | what to look for |
# |---|---|
# | **kaolinite** (argillic) | a **doublet**: 2165 and 2207 nm, the first a shoulder of the second; nothing at 1.76 µm |
# | **alunite** (advanced argillic) | a feature at **1.76 µm**, the Al-OH minimum near **2165-2170 nm**, and another at 2.32 µm |
# | **white mica** (phyllic) | **one single** Al-OH minimum at **2200-2220 nm**, weaker ones at 2350 and 2440 nm |

# %%
swir_range = good & (wl >= 1700) & (wl <= 2420)
refs = {"kaolinite": "kaolinite_cm9", "alunite": "alunite_hs295", "white mica": "muscovite_gds111"}


def cr_swir(values):
    """Continuum removed over 1.7-2.42 µm (good bands only; one hull for the range)."""
    v = np.asarray(values, dtype=float)[swir_range]
    return v / upper_hull(wl[swir_range], v)


fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
for k, (label, key) in enumerate(refs.items()):
    ax.plot(wl[swir_range], cr_swir(library.loc[key, band_columns]) - 0.15 * k, label=label)
for x in (1760, 2165, 2207):
    ax.axvline(x, color="0.7", lw=0.8, ls=":")
ax.set_xlabel("wavelength (nm)")
ax.set_ylabel("continuum removed (offset)")
ax.legend(fontsize=8)
ax.set_title("Library spectra at EMIT bands; dotted: 1760, 2165, 2207 nm", fontsize=9)
plt.show()

# %% [markdown]
# ### Exercise 5 — three mystery spectra
#
# `lesson7.mystery_pixels()` holds three pixels of the scene, labelled A, B and C: one is
# white mica, one alunite, one kaolinite. Plot them the same way (the cell below does) and
# name each.

# %%
mystery = lesson7.mystery_pixels()
fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
for k, label in enumerate(mystery.label.values):
    ax.plot(wl[swir_range], cr_swir(mystery.sel(label=label)) - 0.1 * k, label=label)
for x in (1760, 2165, 2207):
    ax.axvline(x, color="0.7", lw=0.8, ls=":")
ax.set_xlabel("wavelength (nm)")
ax.legend(fontsize=8)
plt.show()

# %% tags=["exercise"]
# Replace None with a dict naming each spectrum: "kaolinite", "alunite" or "white mica".
names = None

# %% tags=["solution"]
names = {"A": "white mica", "B": "alunite", "C": "kaolinite"}

# %%
lesson7.check_mystery_minerals(names)

# %% [markdown]
# ## 4. Mineral maps
#
# `identify_minerals` does what you just did, for every pixel and every library mineral, in
# the spirit of USGS Tetracorder and NASA's EMIT mineral product: pixel and library spectrum
# are continuum removed in each mineral's diagnostic windows, the **fit** is the
# correlation of the two shapes, the **depth** how strong the pixel's feature is. A pixel
# takes the best-fitting mineral, or "none" below a fit of 0.90 or a depth of 0.04. Two
# maps: **SWIR** (~2 µm: clays, micas, sulphates, chlorite, carbonates) and **VNIR** (~1 µm:
# the ferric iron oxides). The product mask (the cloud) becomes code 255.

# %%
mask = scene.qa["aggregate"].astype(bool)
swir = identify_minerals(spectra, "swir", mask=mask).compute()
vnir = identify_minerals(spectra, "vnir", mask=mask).compute()
truth = lesson7.load_sample().truth  # the planted polygons, on the scene's CRS
truth

# %% tags=["picture"]
fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
lesson7.plot_mineral_map(swir["mineral"], truth=truth, ax=a1, title="SWIR minerals (~2 µm)")
lesson7.plot_mineral_map(vnir["mineral"], truth=truth, ax=a2, title="VNIR minerals (~1 µm)")
fig.suptitle("EMIT-format sample: mineral maps; black outlines: the planted truth", fontsize=10)
plt.show()

# %% [markdown]
# ### Exercise 6 — how well does the map find the phyllic ring?
#
# `lesson7.polygon_mask(polygon, swir["mineral"])` is True on the pixels inside a polygon.
# Compute the share of the phyllic ring's pixels that the SWIR map calls **white mica**
# (code 4, see `swir["mineral"].attrs["codes"]`). Leave out masked pixels (255); pixels the
# map calls "none" (0) are misses.

# %% tags=["exercise"]
# Replace None with the share (0-1) of the phyllic polygon named white mica.
# ring = truth.geometry[truth["assemblage"] == "phyllic"].iloc[0]
share = None

# %% tags=["solution"]
ring = truth.geometry[truth["assemblage"] == "phyllic"].iloc[0]
codes = swir["mineral"].values[lesson7.polygon_mask(ring, swir["mineral"]).values]
codes = codes[codes != 255]
share = float((codes == 4).mean())

# %%
lesson7.check_polygon_share(share, "phyllic")

# %% [markdown]
# The same for every planted polygon (the ferric sand and the vegetation are read on the
# VNIR map):

# %%
lesson7.truth_table(swir, vnir, truth).round(2)

# %% [markdown]
# The misses are on the polygons' edges, where the planted mineral fades into the soil and
# its band depth falls below the floor, and where the core's alunite and kaolinite meet the
# mica. Lower the floors to map more, at the price of more look-alike confusion.
#
# ## 5. Assemblages, and the stained sand
#
# A geologist reads minerals as **assemblages**: alunite or pyrophyllite — *advanced
# argillic*; kaolinite, montmorillonite — *argillic*; white mica — *phyllic*; chlorite,
# epidote — *propylitic*; calcite, dolomite — *carbonate*; hematite, goethite, jarosite —
# *ferric iron*. A porphyry or high-sulphidation system shows them **zoned**: advanced
# argillic and phyllic cores, propylitic halos (Lowell & Guilbert 1970; Sillitoe 2010).
# `assemblage_map` turns the two maps into one.

# %%
assemblages = assemblage_map(swir["mineral"], vnir["mineral"])
fig, ax = plt.subplots(figsize=(6, 4.2), layout="constrained")
lesson7.plot_mineral_map(assemblages, truth=truth, ax=ax, title="Alteration assemblages")
plt.show()

# %% [markdown]
# ### Exercise 7 — what is the stained sand?
#
# The polygon planted as `ferric_iron` in the truth is a sand stained by hematite. The
# iron-oxide ratio of lesson 2 lights it up as brightly as the altered system. Which
# assemblage do the maps give it most often (other than "none")? Look at the map, or count
# the codes of `assemblages` inside its polygon (`assemblages.attrs["codes"]` names them).

# %% tags=["exercise"]
# Replace None with the assemblage name (as in the legend).
sand_assemblage = None

# %% tags=["solution"]
sand = truth.geometry[truth["assemblage"] == "ferric_iron"].iloc[0]
inside = assemblages.values[lesson7.polygon_mask(sand, assemblages).values]
counts = pd.Series(inside[(inside != 0) & (inside != 255)]).value_counts()
sand_assemblage = assemblages.attrs["codes"][int(counts.index[0])]

# %%
lesson7.check_assemblage_of_sand(sand_assemblage)

# %% [markdown]
# Iron alone is everywhere in deserts: weathered basalt, laterite, red sand. What makes a
# system is iron **with** the SWIR alteration minerals, zoned around a centre. The sand has
# hematite and nothing in the SWIR: it should not become a drill target.
#
# ## 6. The hyperspectral pipeline
#
# `pipelines/hyperspectral_minerals.yaml` does all of this on any EMIT, EnMAP or PRISMA
# scene, and carries on into evidence, targets and licences. Each assemblage becomes an
# evidence layer (its band depth, as a membership 0-1), and a **weighted overlay** combines
# them: `score = Σ wᵢ mᵢ / Σ wᵢ`. Read the weights: advanced argillic and phyllic cores
# first, propylitic halos next, ferric iron alone last. We skip the report and field files
# here (lesson 6 covers them) to keep the run short.

# %%
spec = load_spec("../pipelines/hyperspectral_minerals.yaml")
spec = spec.model_copy(update={"export": spec.export.model_copy(update={"formats": ["csv"]})})
print(spec.prospectivity.weights)
run_dir = out / "run"
result = run_pipeline(spec, out=run_dir, overwrite=True)
columns = ["rank", "target_id", "score", "evidence", "kinds", "licence_id", "holder", "area_ha"]
result.targets[columns]

# %% [markdown]
# ### Exercise 8 — can iron alone make a target?
#
# A pixel whose only evidence is ferric iron, at its strongest (membership 1, all other
# memberships 0): what score can it reach? Use the weights of `spec.prospectivity.weights`
# (every evidence layer of `spec.evidence` takes part).

# %% tags=["exercise"]
# Replace None with the highest score a ferric-iron-only pixel can reach (0-1).
iron_ceiling = None

# %% tags=["solution"]
weights = {name: spec.prospectivity.weights.get(name, 1.0) for name in spec.evidence}
iron_ceiling = weights["ferric_iron"] / sum(weights.values())

# %%
lesson7.check_iron_only_ceiling(iron_ceiling, spec)

# %%
print(f"iron alone: at most {iron_ceiling:.3f}; target T001: {result.targets['score'].max():.3f}")
result.zones.drop(columns="geometry")[["zone_id", "kind", "area_ha", "mean_strength"]]

# %% [markdown]
# The altered system is the target, on the licence that covers it; the stained sand is a
# `ferric_iron` zone, listed and mapped, but its score stays far below the cut for targets.
# The run also wrote the maps as GeoTIFFs with QGIS colour tables (`rasters/mineral_swir.tif`
# and its legend `mineral_swir.csv`, `bd_aloh_22.tif`, `pos_aloh_22.tif`...), and the
# quicklook with a mineral legend:

# %%
sorted(p.name for p in (run_dir / "rasters").glob("mineral_*"))

# %% [markdown]
# ## What you learned
#
# - An imaging spectrometer gives the shape of each absorption; the bad (water-vapour)
#   bands near 1.4 and 1.9 µm are left out.
# - Continuum removal (`R / upper hull` over a window) makes depths and positions
#   independent of brightness; the position is refined below the band spacing with a
#   Gaussian (parabola) fit, and 1-2 nm shifts are geology.
# - Kaolinite (doublet), alunite (1.76 µm, 2.17 µm) and white mica (single 2.20-2.22 µm) are
#   told apart by their features; `identify_minerals` maps them with a fit and a depth.
# - Maps are checked against known ground; edges and mixtures are where they miss.
# - Assemblages, not single minerals, make a system: iron without SWIR alteration is not a
#   target, and the pipeline's weights say so.
