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
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 1 — Opening a scene
#
# **Goals.** By the end of this lesson you can
#
# 1. open a Landsat 8 Collection 2 Level-2 product with `geo` and say what is in it;
# 2. name its bands by what they measure (blue, red, near infrared, shortwave infrared) and
#    their wavelengths;
# 3. turn the stored integers (DN) into surface reflectance yourself;
# 4. read the product's quality layer (QA_PIXEL) and say why cloud, shadow, water and
#    vegetation must be removed before looking for alteration;
# 5. draw a true-colour and a false-colour composite, as a map with a scale bar.
#
# **Time:** about 45 minutes. Run the cells from top to bottom (Shift + Enter).
# Cells marked *Exercise* are yours to fill in; the cell after each one checks your answer.
#
# The scene is the course's **synthetic** sample: a 18 × 18 km piece of eastern Botswana
# mixed from laboratory mineral spectra, with alteration, cloud, a river and a dam planted
# where we know them. Everything you learn here works the same on a real USGS download.

# %%
import matplotlib.pyplot as plt
import numpy as np
import rasterio

from geo.io.readers import open_scene
from geo.spectral.masks import MaskConfig, build_mask, mask_fractions, product_flags
from geo.training import lesson1, sample_dir

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## 1. What a Landsat product is
#
# USGS delivers a scene as a folder (or a `.tar` of it): **one GeoTIFF per band**, two
# quality layers (`QA_PIXEL`, `QA_RADSAT`) and a metadata file (`MTL`, as text and as JSON)
# that says which satellite, when, the sun's position, and how to convert the numbers.
# The name tells you a lot: `LC08` Landsat 8, `L2SR` Level-2 surface reflectance,
# `171075` path 171 / row 75 of the WRS-2 grid, `20230601` the day it was acquired.

# %%
folder = sample_dir() / lesson1.SCENE_NAME
for path in sorted(folder.iterdir()):
    print(f"{path.name:55s} {path.stat().st_size / 1e6:5.2f} MB")

# %% [markdown]
# `open_scene` recognises the product, reads the MTL, converts every band to reflectance
# and stacks them. Nothing is read from disk yet: the bands are loaded when a calculation
# needs them (that is what `dask.array` in the printout means), so a full 7000 × 7000 pixel
# scene opens as fast as this small one.

# %%
scene = open_scene(folder)
scene.reflectance

# %%
info = scene.metadata
print("satellite:", info["spacecraft"], "| sensor:", info["sensor"])
print("acquired:", info["date_acquired"], info["scene_center_time"])
print("sun elevation:", round(info["sun_elevation"], 1), "° | cloud cover:", info["cloud_cover"], "%")
print("grid:", info["shape"], "pixels, CRS", info["crs"])

# %% [markdown]
# ## 2. Bands and wavelengths
#
# Each band is a window of the spectrum the sensor measures. `geo` names bands by their
# **role** (`red`, `swir1`…) rather than their number, because band 5 is near infrared on
# Landsat 8 but shortwave infrared on Landsat 5.

# %%
lesson1.band_table()

# %% [markdown]
# Minerals are recognised by where they **absorb**. Iron oxides (hematite, goethite,
# jarosite) absorb blue light and reflect red: that is why gossans look red-brown, and why
# the red/blue ratio maps them. Clays and micas (kaolinite, alunite, muscovite) absorb
# near 2.2 µm, inside SWIR2 (band 7), but not at 1.6 µm (SWIR1): SWIR1/SWIR2 maps them.
# Green vegetation is dark in red and very bright in NIR — and it *also* absorbs in SWIR2,
# from the water in the leaves, so it can look like clay. Water is dark everywhere beyond
# the visible. The plot shows laboratory spectra (USGS library) averaged over the OLI bands.

# %%
spectra = lesson1.library_spectra(["hematite", "kaolinite", "green_vegetation", "sand", "seawater"])
lesson1.plot_spectra(spectra);

# %% [markdown]
# ## 3. From DN to reflectance
#
# The band files store whole numbers, **DN** (digital numbers), because integers take half
# the space of decimals. The MTL gives, for every band, the line that turns them into
# surface reflectance (the fraction of sunlight the ground reflects, 0 to 1):
#
# reflectance = DN × 2.75e-5 + (−0.2)
#
# and **DN 0 means "no data"** (outside the scene), not a black pixel. Careful: the MTL
# also carries Level-1 values (2e-5 and −0.1) for another product level; `geo` reads the
# Level-2 ones and writes which it used:

# %%
scene.metadata["bands"]["red"]

# %% [markdown]
# Let us read the red band's file ourselves, as plain numbers:

# %%
red_file = folder / scene.metadata["bands"]["red"]["file"]
with rasterio.open(red_file) as src:
    dn = src.read(1)
print(dn.dtype, dn.shape, "min", dn.min(), "max", dn.max())
print("pixels with DN 0 (no data):", int((dn == 0).sum()))

# %% [markdown]
# ### Exercise 1 — reflectance of the red band
#
# Compute `refl` from `dn`: multiply by the scale, add the offset, and put `np.nan` (not a
# number) where DN is 0. Hint: `np.where(condition, value_if_true, value_if_false)`.

# %% tags=["exercise"]
# Replace None with your calculation, using dn, 2.75e-5, -0.2 and np.nan.
refl = None

# %% tags=["solution"]
refl = np.where(dn == 0, np.nan, dn * 2.75e-5 - 0.2)

# %%
lesson1.check_reflectance(refl, band="red")

# %% [markdown]
# A histogram is the quickest sanity check: surface reflectance of dry ground sits between
# about 0.05 and 0.5. Values below 0 or far above 1 would mean a wrong scale.

# %%
fig, ax = plt.subplots(figsize=(6, 3), layout="constrained")
ax.hist(refl[np.isfinite(refl)], bins=100, color="#d62728")
ax.set_xlabel("red surface reflectance")
ax.set_ylabel("pixels")
ax.set_title("Red band, all valid pixels");

# %% [markdown]
# ## 4. Masks: what must go before we look for alteration
#
# Ratios such as red/blue or SWIR1/SWIR2 are only meaningful on rock and soil. Anything
# else gives false anomalies:
#
# - **cloud** and **cloud shadow**: no ground signal at all, or a darkened one;
# - **water**: almost no signal beyond the visible, so any ratio is noise;
# - **vegetation**: absorbs in SWIR2 like clay, so it raises SWIR1/SWIR2 and mimics
#   argillic alteration;
# - the **edges** of all these: a pixel half river, half bank is a mixture.
#
# Landsat's `QA_PIXEL` layer packs yes/no flags into the bits of one 16-bit integer per
# pixel: bit 0 fill, 1 dilated cloud, 2 cirrus, **3 cloud**, 4 cloud shadow, 5 snow,
# 6 clear, 7 water (bits 8–15 are confidence levels). A cloudy pixel of this scene holds
# 22280:

# %%
qa = scene.qa["qa_pixel"].values
print("values in QA_PIXEL:", np.unique(qa))
print("22280 in bits:", format(22280, "016b"), "(bit 0 is the last digit)")

# %% [markdown]
# To test one bit, use `&` (bitwise *and*) with the bit's **value** `1 << bit`
# (1 shifted left: bit 3 is 2³ = 8), and compare with 0: `(qa & (1 << 3)) != 0`.
#
# ### Exercise 2 — a cloud mask from QA_PIXEL
#
# Make `cloud`, an array of True/False: True where bit 3 (cloud) of `qa` is set.

# %% tags=["exercise"]
# Replace None with a True/False array built from qa.
cloud = None

# %% tags=["solution"]
cloud = (qa & (1 << 3)) != 0

# %%
lesson1.check_cloud_mask(cloud)

# %% [markdown]
# `geo` decodes every flag this way and adds spectral tests that also work where a product
# has no QA layer: NDVI > 0.3 (vegetation), MNDWI > 0 (water), very low brightness (deep
# shadow), then a two-pixel buffer around cloud, shadow, water and vegetation. Each pixel
# keeps **which** rules removed it. These are the settings of the course's pipeline:

# %%
config = MaskConfig(
    qa=("fill", "cloud", "dilated_cloud", "cirrus", "cloud_shadow", "snow"),
    ndvi_max=0.3,
    mndwi_max=0.0,
    dark_albedo=0.04,
    buffer_px=2,
)
flags = product_flags(scene.qa, scene.metadata["qa_kind"], sensor=scene.metadata["sensor"])
reasons = build_mask(scene.reflectance, flags=flags, config=config).compute()
summary = mask_fractions(reasons)
print(f"kept {summary['valid_fraction']:.1%} of the pixels")
lesson1.plot_mask_reasons(reasons);

# %% [markdown]
# ## 5. Looking at the scene: true and false colour
#
# A composite puts three bands into the red, green and blue of the screen. **True colour**
# (red, green, blue) shows the scene as the eye would. A **false-colour** composite shows
# what the eye cannot: with SWIR2, NIR and red, vegetation turns bright green, water black,
# and clay-rich ground (dark at 2.2 µm) stands out from the iron-stained soil.
#
# ### Exercise 3 — choose the false-colour bands
#
# Give the three band roles of the SWIR2–NIR–red composite, in the order red, green, blue
# of the screen.

# %% tags=["exercise"]
# Replace None with a list of three band roles, like ["red", "green", "blue"].
false_colour = None

# %% tags=["solution"]
false_colour = ["swir2", "nir", "red"]

# %%
lesson1.check_false_colour(false_colour)

# %% [markdown]
# Both composites as maps. Which features can you find in each: the cloud and its shadow,
# the river with its green banks, the dam, the bright quarry, and the reddish and pale
# patches that are the planted alteration?

# %% tags=["picture"]
fig, axes = plt.subplots(1, 2, figsize=(12, 6), layout="constrained")
lesson1.plot_composite(scene.reflectance, ["red", "green", "blue"], ax=axes[0],
                       title="True colour (OLI 4-3-2)")  # fmt: skip
lesson1.plot_composite(scene.reflectance, false_colour, ax=axes[1],
                       title="False colour (OLI 7-5-4)")  # fmt: skip
fig.suptitle(f"{scene.metadata['scene_id']} ({scene.metadata['date_acquired']})");

# %% [markdown]
# ## What you learned
#
# - A Landsat Level-2 product is one GeoTIFF per band plus QA layers and an MTL; `geo`
#   opens it with `open_scene` and names bands by role.
# - Stored DN become reflectance with the MTL's Level-2 scale and offset; DN 0 is no data.
# - QA_PIXEL packs flags into bits; cloud, shadow, water and vegetation are removed (with a
#   buffer) before any ratio is trusted.
# - True colour shows the scene; SWIR2–NIR–red separates vegetation, water and clay-rich
#   ground.
#
# **Next:** lesson 2 turns these bands into ratios and mineral indices.
