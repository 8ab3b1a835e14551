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
# # Lesson 4 — Supervised classification with training polygons, and why random splits lie
#
# **Goals.** By the end of this lesson you can
#
# 1. turn training polygons (outcrops you mapped, alteration you checked) into a table of
#    pixels a classifier can learn from;
# 2. look at the spectra of your classes before trusting any model;
# 3. measure a classifier's accuracy with **random** folds and with **spatial blocks**, and
#    explain why the random number is too good to be true;
# 4. decide what an accuracy number is worth when each class has a single polygon.
#
# Everything runs on the bundled synthetic Landsat 8 scene (`sample_rasters/`), whose right
# answers are known. Exercise cells hold `None`: replace it with your answer, run the cell,
# then run the check below it. A check prints ✔ when you are right and explains what is off
# when you are not.

# %%
import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from geo.training import lesson4, sample_dir
from geo.classify import (
    cross_validate,
    fit_classifier,
    labels_from_polygons,
    predict_raster,
    raster_to_samples,
    spatial_blocks,
)
from geo.export.quicklook import draw_scale_and_north, true_colour
from geo.io import open_scene
from geo.io.vector import read_training
from geo.spectral.masks import MaskConfig, build_mask, product_flags
from geo.targets.evaluate import detection_scores, polygon_mask

SAMPLE = sample_dir()
print("sample data:", SAMPLE)

# %% [markdown]
# ## 1. The scene, the mask and the training polygons
#
# We open the scene as surface reflectance and remove what must not be classified: fill,
# cloud and its shadow, water, green vegetation, deep shadow (lesson 2 explains each rule).
# The training polygons come in **EPSG:4326** (longitude/latitude) while the scene is in
# UTM metres: `read_training` reprojects them to the scene's CRS and numbers the classes.

# %%
scene = open_scene(SAMPLE / "LC08_L2SR_171075_20230601_20230607_02_T1")
refl = scene.reflectance
flags = product_flags(scene.qa, scene.metadata.get("qa_kind"), sensor=refl.attrs["sensor"])
clear = (build_mask(refl, flags=flags, config=MaskConfig()) == 0).compute()
features = refl.where(clear).compute()  # masked pixels become NaN and are never sampled

training, info = read_training(SAMPLE / "training.gpkg", to_crs=refl.rio.crs)
classes = info["classes"]  # class name -> integer code
names = {code: name for name, code in classes.items()}
print("scene CRS:", refl.rio.crs, "| polygons read in", info["source_crs"])
print("class codes:", classes)
training[["class", "source", "code"]]

# %% [markdown]
# Where are the polygons? One for iron oxide (the core of the porphyry system), one for
# AlOH clay (an argillic zone) and eight small squares of ordinary bare ground.

# %%
COLOURS = {"aloh_clay": "cyan", "background": "white", "iron_oxide": "orangered"}
left, bottom, right, top = refl.rio.bounds()
extent = [left, right, bottom, top]
rgb = true_colour(refl).transpose("y", "x", "band").values

fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(rgb, extent=extent)
for name, group in training.groupby("class"):
    group.boundary.plot(ax=ax, color=COLOURS[name], linewidth=2)
handles = [Patch(facecolor="none", edgecolor=c, linewidth=2, label=n) for n, c in COLOURS.items()]
ax.legend(handles=handles, loc="lower right", title="training polygons")
draw_scale_and_north(ax, (left, bottom, right, top))
ax.set_xlabel(f"Easting (m), {refl.rio.crs}")
ax.set_ylabel("Northing (m)")
ax.ticklabel_format(style="plain", useOffset=False)
ax.xaxis.set_major_locator(plt.MaxNLocator(4))
ax.set_title("Training polygons on the true-colour scene")
plt.show()

# %% [markdown]
# ## 2. From polygons to a table of pixels
#
# A classifier does not read polygons: it reads a table with one row per pixel and one
# column per band. `labels_from_polygons` burns the polygons onto the scene grid (class code
# and polygon id per pixel), `raster_to_samples` keeps the clear labelled pixels:
#
# - `X`: one row per pixel, one column per band (the *features*);
# - `y`: the class code of each pixel (the *labels*);
# - `pid`: which polygon each pixel came from;
# - `index`: where the pixel is on the grid (row × 600 + column).

# %%
labels, polygon_id = labels_from_polygons(training, clear, label_column="code")
X, y, pid, index = raster_to_samples(features, labels, polygon_id)
bands = [str(b) for b in features["band"].values]
print(f"{X.shape[0]} pixels × {X.shape[1]} bands:", bands)
pd.Series(y).map(names).value_counts()

# %% [markdown]
# Look before you model. The mean spectrum of each class, with its spread (one standard
# deviation), at the centres of the Landsat 8 OLI bands: iron oxides absorb in the blue
# (a steep rise to the red), AlOH clays absorb near 2.2 µm (SWIR2 below SWIR1).

# %%
WAVELENGTH_UM = [0.443, 0.482, 0.561, 0.655, 0.865, 1.609, 2.201]  # OLI bands 1-7

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
for code, name in names.items():
    rows = X[y == code]
    mean, std = rows.mean(axis=0), rows.std(axis=0)
    colour = "grey" if name == "background" else COLOURS[name]
    ax1.plot(WAVELENGTH_UM, mean, "o-", color=colour, label=f"{name} ({len(rows)} px)")
    ax1.fill_between(WAVELENGTH_UM, mean - std, mean + std, color=colour, alpha=0.2)
    ratio = rows[:, bands.index("swir1")] / rows[:, bands.index("swir2")]
    ax2.hist(ratio, bins=40, color=colour, alpha=0.6, label=name)
ax1.set_xlabel("wavelength (µm)")
ax1.set_ylabel("surface reflectance")
ax1.set_title("Mean spectrum per class (± 1 σ)")
ax1.legend()
ax2.set_xlabel("SWIR1 / SWIR2 (clay ratio)")
ax2.set_ylabel("pixels")
ax2.set_title("Clay ratio of the training pixels")
ax2.legend()
plt.show()

# %% [markdown]
# The classes separate cleanly. Any classifier will look brilliant on these pixels — and
# that is exactly the trap.
#
# ## 3. Random folds
#
# Cross-validation holds out part of the training pixels, fits the model on the rest and
# counts how many held-out pixels it gets right (the *overall accuracy*). Five *folds*: each
# pixel is held out once. The usual way is to draw the folds **at random**.
#
# `cross_validate` does it both ways at once: `report.random` (random pixel folds) and
# `report.spatial` (folds made of whole *groups* of pixels, which we build next). The forest
# is the lesson's (`lesson4.FOREST_PARAMS`: 50 trees, seeded so the numbers repeat).

# %%
forest = lesson4.make_forest()
print(forest)
report_polygons = cross_validate(forest, X, y, groups=pid, n_splits=5)
print(f"random folds: overall accuracy {report_polygons.random.overall_accuracy:.3f}")

# %% [markdown]
# 100 %. Is the map perfect? Think of a single polygon: its pixels are neighbours, lit the
# same way, of the same rock, with nearly the same spectrum. With random folds, every
# held-out pixel has its twin from the same polygon in the training set, so the test asks
# the model to recognise pixels it has practically already seen. Neighbouring pixels being
# alike is called **spatial autocorrelation** (Roberts et al. 2017).
#
# ## 4. Spatial blocks
#
# The honest test holds out whole areas: cut the scene into square **blocks** and use the
# block of each pixel as its group, so a fold's test pixels are in places the model never saw.
# Blocks should be at least as large as the distance over which pixels stay alike (from a
# variogram; Valavi et al. 2019). Here: 1.5 km.
#
# ### Exercise 1 — number the blocks
#
# The grid is 600 × 600 pixels of 30 m. Build `blocks`, a 600 × 600 array giving each
# pixel the number of its 1500 m block, counted row by row from the upper-left corner and
# starting at 0: the first row of blocks is 0, 1, 2, …, the next row continues after the
# last block of the first row.
#
# Hint: `rows, cols = np.indices((600, 600))` gives each pixel's row and column; `//` is
# whole-number division.

# %% tags=["exercise"]
# blocks = block_row * (number of block columns) + block_column, for every pixel
blocks = None

# %% tags=["solution"]
block_px = int(lesson4.BLOCK_SIZE_M / 30)  # 50 pixels per block side
rows, cols = np.indices((600, 600))
n_block_cols = 600 // block_px
blocks = (rows // block_px) * n_block_cols + cols // block_px

# %%
lesson4.check_blocks(blocks)

# %% [markdown]
# geo has this as a function, which also handles any pixel size and a grid that does not
# divide evenly:

# %%
blocks = spatial_blocks(clear.shape, clear.rio.transform(), lesson4.BLOCK_SIZE_M)
print("blocks:", blocks.max() + 1, "| block of the first pixels:", blocks[0, :3], blocks[0, 48:53])

# %% [markdown]
# ### Blocks that cut polygons still leak
#
# Use each sample pixel's block as its group (`blocks.ravel()[index]`: the block at each
# sample's grid position) and cross-validate again:

# %%
groups_cut = blocks.ravel()[index]
report_cut = cross_validate(forest, X, y, groups=groups_cut, n_splits=5)
print(f"blocks cutting polygons: overall accuracy {report_cut.spatial.overall_accuracy:.3f}")

# %% [markdown]
# Still nearly perfect: the iron and clay polygons span three or four blocks each, so when one block is held
# out, the rest of the same polygon — the same rock, a few pixels away — is in the training
# set. **Keep each polygon whole**: give all its pixels the block that holds most of it.
# `lesson4.polygon_blocks` does that (it is the grouping geo's classifier stage uses).

# %%
groups_whole = lesson4.polygon_blocks(polygon_id, blocks).ravel()[index]
pd.crosstab(pd.Series(groups_whole, name="group"), pd.Series(y, name="class").map(names))

# %% [markdown]
# ### Exercise 2 — the spatially blocked accuracy
#
# Run `cross_validate(forest, X, y, groups=groups_whole, n_splits=5)` and put the overall
# accuracy of its **spatial** scheme (`.spatial.overall_accuracy`, a number between 0 and 1)
# in `spatial_accuracy`.

# %% tags=["exercise"]
spatial_accuracy = None

# %% tags=["solution"]
spatial_accuracy = cross_validate(
    forest, X, y, groups=groups_whole, n_splits=5
).spatial.overall_accuracy

# %%
lesson4.check_spatial_accuracy(spatial_accuracy)

# %% [markdown]
# The full report: overall accuracy, Cohen's kappa, per class the producer's accuracy (how
# much of the class was found), the user's accuracy (how much of what was called this class
# really is) and F1, and the confusion matrix (rows: truth, columns: prediction).

# %%
report_whole = cross_validate(forest, X, y, groups=groups_whole, n_splits=5)
print(report_whole.to_text(names))

# %% [markdown]
# ### Exercise 3 — why are random folds optimistic?
#
# Put the letter of the best explanation in `why_random`:
#
# - **a** the random forest is simply a very good model;
# - **b** held-out pixels have near-identical neighbours from the same polygon in the
#   training set;
# - **c** random folds use more pixels for training;
# - **d** the scene has no noise.

# %% tags=["exercise"]
why_random = None

# %% tags=["solution"]
why_random = "b"

# %%
lesson4.check_why_random(why_random)

# %% [markdown]
# ### Exercise 4 — what does the low blocked accuracy tell you?
#
# Look at the confusion matrix above: which classes does the forest get wrong when their
# polygon is held out? Put the letter in `spatial_says`:
#
# - **a** the classified map is only about 40 % right;
# - **b** random forests do not work on Landsat data;
# - **c** each mineral class has one training polygon: held out, the class was never seen,
#   so the test cannot say how well the class is mapped — more polygons are needed;
# - **d** the blocks are too large.

# %% tags=["exercise"]
spatial_says = None

# %% tags=["solution"]
spatial_says = "c"

# %%
lesson4.check_what_spatial_says(spatial_says)

# %% [markdown]
# ## 5. The lesson in one figure
#
# Left: the 1.5 km blocks and the training polygons, coloured by the fold in which they are
# tested. Right: the same forest and the same pixels, three accuracies.

# %% tags=["picture"]
fold_of_polygon = {p: report_whole.spatial.fold[pid == p][0] for p in np.unique(pid)}
fold_colours = plt.get_cmap("tab10").colors

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 6), gridspec_kw={"width_ratios": [1.2, 1]})
ax1.imshow(rgb, extent=extent)
edges = np.arange(left, right + 1, lesson4.BLOCK_SIZE_M)
for x in edges:
    ax1.axvline(x, color="white", linewidth=0.5, alpha=0.7)
for y_line in np.arange(top, bottom - 1, -lesson4.BLOCK_SIZE_M):
    ax1.axhline(y_line, color="white", linewidth=0.5, alpha=0.7)
for i in fold_of_polygon:  # polygon ids count rows from 1
    polygon = training.iloc[[i - 1]]
    colour = fold_colours[fold_of_polygon[i]]
    polygon.plot(ax=ax1, color=colour, edgecolor="black", linewidth=1)
    if polygon["class"].iloc[0] != "background":
        centre = polygon.geometry.iloc[0].centroid
        ax1.annotate(polygon["class"].iloc[0], (centre.x, centre.y), xytext=(8, 8),
                     textcoords="offset points", color="white", fontsize=8)  # fmt: skip
handles = [Patch(color=fold_colours[f], label=f"tested in fold {f + 1}") for f in range(5)]
handles.append(plt.Line2D([], [], color="white", linewidth=0.8, label="1.5 km block"))
ax1.legend(handles=handles, loc="lower right", fontsize=8, facecolor="#404040", labelcolor="white")
draw_scale_and_north(ax1, (left, bottom, right, top))
ax1.set_xlim(left, right)
ax1.set_ylim(bottom, top)
ax1.set_xlabel(f"Easting (m), {refl.rio.crs}")
ax1.set_ylabel("Northing (m)")
ax1.ticklabel_format(style="plain", useOffset=False)
ax1.xaxis.set_major_locator(plt.MaxNLocator(4))
ax1.set_title("Spatial blocks: each polygon tested whole")

scores = {
    "random pixel folds": report_whole.random.overall_accuracy,
    "blocks cutting polygons": report_cut.spatial.overall_accuracy,
    "blocks, polygons whole": report_whole.spatial.overall_accuracy,
}
bars = ax2.bar(list(scores), list(scores.values()), color=["#d62728", "#ff9896", "#1f77b4"])
ax2.bar_label(bars, fmt="%.3f")
ax2.set_ylim(0, 1.1)
ax2.set_ylabel("overall accuracy")
ax2.set_title("Same forest, same pixels, three answers")
plt.setp(ax2.get_xticklabels(), rotation=12)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. An independent test: the iron caps the forest never saw
#
# Because the sample is synthetic, we know where every iron-oxide zone is. Two iron caps
# (`iron_cap` and `iron_cap_outside` in `truth.gpkg`) were left out of the training set on
# purpose. Fit the forest on all training pixels, classify the whole scene, and score the
# iron-oxide class on clear pixels outside the porphyry system (which holds the training
# polygon).

# %%
model = fit_classifier(X, y, estimator=forest)
class_map, probability = predict_raster(model, features)
class_map = class_map.compute().rio.write_crs(refl.rio.crs)

truth = gpd.read_file(SAMPLE / "truth.gpkg", layer="planted").to_crs(refl.rio.crs)
caps = truth[truth["name"].isin(["iron_cap", "iron_cap_outside"])]
porphyry = polygon_mask(truth[truth["name"] == "porphyry"], clear)
test_area = clear & ~porphyry
iron = class_map == classes["iron_oxide"]
print("iron oxide on the unseen iron caps:", detection_scores(iron, caps, valid=test_area))

# %%
fig, ax = plt.subplots(figsize=(7, 7))
ax.imshow(rgb, extent=extent, alpha=0.6)
overlay = np.zeros((*class_map.shape, 4))
overlay[class_map.values == classes["iron_oxide"]] = (1.0, 0.27, 0.0, 1.0)
overlay[class_map.values == classes["aloh_clay"]] = (0.0, 1.0, 1.0, 1.0)
ax.imshow(overlay, extent=extent)
caps.boundary.plot(ax=ax, color="yellow", linewidth=1.5)
training.boundary.plot(ax=ax, color="white", linewidth=1)
handles = [
    Patch(color="orangered", label="classified iron oxide"),
    Patch(color="cyan", label="classified AlOH clay"),
    plt.Line2D([], [], color="yellow", label="iron caps (truth, never trained on)"),
    plt.Line2D([], [], color="white", label="training polygons"),
]
ax.legend(handles=handles, loc="lower right", fontsize=8, facecolor="#404040", labelcolor="white")
draw_scale_and_north(ax, (left, bottom, right, top))
ax.set_xlabel(f"Easting (m), {refl.rio.crs}")
ax.set_ylabel("Northing (m)")
ax.ticklabel_format(style="plain", useOffset=False)
ax.xaxis.set_major_locator(plt.MaxNLocator(4))
ax.set_title("Random forest classes (background not shown)")
plt.show()

# %% [markdown]
# On ground it never saw, the forest finds most of the iron caps (F1 about 0.8): not the
# 100 % the random folds promised, and much better than the blocked 38 %, which was a
# warning about the *training set*, not a measure of the map.
#
# ## What to remember
#
# - Random pixel folds test a model on near-copies of its training pixels: their accuracy
#   is inflated, often to ~100 %. Never report it alone.
# - Spatial blocks must be larger than the distance over which pixels stay alike, and must
#   keep every training polygon whole; otherwise they leak too.
# - With one polygon per class, no validation can tell you how well the class is mapped.
#   Digitise several polygons per class, spread over the scene, and keep some areas aside
#   for an independent test.
# - In a pipeline file, `classifier: {training, block_size_m, ...}` runs this whole
#   comparison and writes it to `classification_report.txt` (see the README).
