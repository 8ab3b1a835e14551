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
# # Lesson 5 — From alteration to targets
#
# **Goals.** By the end of this lesson you can
#
# 1. turn a fault map into an evidence layer (distance to the nearest fault) and score it
#    with a fuzzy membership;
# 2. combine evidence with fuzzy operators (AND, OR, product, sum, gamma) and say what each
#    does to the score;
# 3. compute the weights of evidence W⁺ and W⁻ of a binary pattern from four counts;
# 4. judge a prospectivity map with its success-rate curve against known occurrences;
# 5. join targets with mining licences and rank them.
#
# We start from the end: the shipped pipeline turns the sample scene into ranked targets in
# one call. Then we open the box and redo its steps by hand. Exercise cells hold `None`:
# replace it with your answer and run the check below it.

# %%
import geopandas as gpd
import matplotlib.pyplot as plt
import numpy as np
import rioxarray
from matplotlib.lines import Line2D

from geo.training import lesson5, output_dir, sample_dir
from geo.export.quicklook import draw_scale_and_north
from geo.io.vector import read_licences
from geo.pipeline.runner import run_pipeline
from geo.prospectivity.evidence import distance_to_lines, points_to_mask
from geo.targets.licences import assign_licences, licence_context
from geo.prospectivity import (
    curve_auc,
    fuzzy_and,
    fuzzy_gamma,
    fuzzy_linear,
    fuzzy_or,
    fuzzy_product,
    fuzzy_sum,
    success_rate_curve,
    wofe_weights,
)

SAMPLE = sample_dir()
OUT = output_dir("lesson5")
print("sample data:", SAMPLE, "| our outputs:", OUT)

# %% [markdown]
# ## 1. The whole chain in one call
#
# `pipelines/landsat_prospectivity.yaml` says what to do: masks, iron-oxide and clay ratios
# and their anomalies, four evidence layers (iron, clay, distance to faults, distance to
# fault intersections), each scored with a fuzzy membership, a weighted overlay, targets
# from the best 2 % of the area, joined with the licences. `lesson5.lesson_spec()` reads
# that file, points it at the sample data and turns off the field exports (report, GPS, KML)
# to save time. The run takes about 20 seconds.

# %%
spec = lesson5.lesson_spec()
for name, ev in spec.evidence.items():
    source = ev.layer or f"{ev.measure} to {ev.vector.name}"
    print(f"{name:14s} {source:40s} membership {ev.membership.function} "
          f"{ev.membership.low:g} → {ev.membership.high:g}")  # fmt: skip
print("weights:", spec.prospectivity.weights)

run = run_pipeline(spec, out=OUT / "run", overwrite=True)
targets = run.targets  # the run's two warnings are expected: read them
targets[["rank", "target_id", "score", "area_ha", "licence_id", "licence_status", "evidence"]]

# %% [markdown]
# Every layer the run used is in `run/rasters/`. We open the prospectivity score and the
# iron-oxide z-score (how unusual the iron ratio of each pixel is: 3 = three robust standard
# deviations above the scene's median), and read the faults, the known occurrences and the
# licences. Note their coordinate systems: none is the scene's.

# %%
rasters = run.out_dir / "rasters"
score = rioxarray.open_rasterio(rasters / "prospectivity.tif", masked=True).squeeze(
    "band", drop=True
)
iron_z = rioxarray.open_rasterio(rasters / "iron_oxide_z.tif", masked=True).squeeze(
    "band", drop=True
)

faults = gpd.read_file(SAMPLE / "structures.gpkg", layer="faults")
occurrences = gpd.read_file(SAMPLE / "occurrences.gpkg", layer="occurrences")
print("scene:", score.rio.crs, "| faults:", faults.crs, "| occurrences:", occurrences.crs)

crs = score.rio.crs
left, bottom, right, top = score.rio.bounds()
extent = [left, right, bottom, top]
faults_utm, occurrences_utm = faults.to_crs(crs), occurrences.to_crs(crs)


def decorate(ax, title):
    """Scale bar, north arrow, axis labels and title of a lesson map."""
    draw_scale_and_north(ax, (left, bottom, right, top))
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_xlabel(f"Easting (m), {crs}")
    ax.set_ylabel("Northing (m)")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.xaxis.set_major_locator(plt.MaxNLocator(4))
    ax.set_title(title)


# %% [markdown]
# ## 2. Evidence from a fault map
#
# Hydrothermal fluids travel along faults, so being near a fault is evidence. A raster
# model needs it as a number per pixel: the **distance to the nearest fault**, in metres.
# `distance_to_lines` reprojects the faults to the scene grid (they come in UTM 35 *South*)
# and measures from every pixel centre.

# %%
distance = distance_to_lines(faults, score)
print(f"distance to faults: {float(distance.min()):.0f} to {float(distance.max()):.0f} m")

# %% [markdown]
# ### Exercise 1 — a fuzzy membership for distance to faults
#
# A **fuzzy membership** says, between 0 and 1, how favourable a value is. Build `mu_faults`:
# 1 on a fault, falling in a straight line to 0 at 1500 m, and 0 beyond. Work with the
# array `distance.values` (a numpy array in metres); `np.clip(x, 0, 1)` keeps values in
# [0, 1].

# %% tags=["exercise"]
# mu_faults = 1 - distance / 1500, kept between 0 and 1
mu_faults = None

# %% tags=["solution"]
mu_faults = np.clip(1 - distance.values / 1500, 0, 1)

# %%
lesson5.check_membership(mu_faults)

# %% [markdown]
# geo has it as `fuzzy_linear(x, low, high)` (0 at `low`, 1 at `high`; with `high < low`
# it decreases, as here). The same function scores the iron-oxide z-score: 0 at z = 0, 1 at
# z ≥ 4.

# %%
mu_faults = fuzzy_linear(distance, 1500, 0)
mu_iron = fuzzy_linear(iron_z, 0, 4)

fig, axes = plt.subplots(1, 3, figsize=(16, 5))
im = axes[0].imshow(distance.values / 1000, extent=extent, cmap="viridis_r")
fig.colorbar(im, ax=axes[0], shrink=0.8, label="distance to nearest fault (km)")
im = axes[1].imshow(mu_faults.values, extent=extent, cmap="magma", vmin=0, vmax=1)
fig.colorbar(im, ax=axes[1], shrink=0.8, label="membership")
for ax in axes[:2]:
    faults_utm.plot(ax=ax, color="red", linewidth=1)
    occurrences_utm.plot(ax=ax, marker="*", color="white", edgecolor="black", markersize=120)
handles = [
    Line2D([], [], color="red", label="fault"),
    Line2D([], [], marker="*", color="white", markeredgecolor="black", linestyle="",
           markersize=12, label="known occurrence"),
]  # fmt: skip
axes[0].legend(handles=handles, loc="upper left", fontsize=8)
decorate(axes[0], "Distance to faults")
decorate(axes[1], "Membership: near a fault")
all_km = distance.values.ravel() / 1000
at_occurrences = distance.values[points_to_mask(occurrences, score).values > 0] / 1000
axes[2].hist(all_km, bins=50, density=True, color="grey", alpha=0.7, label="all pixels")
for i, d in enumerate(at_occurrences):
    axes[2].axvline(d, color="orangered", label="occurrences" if i == 0 else None)
axes[2].set_xlabel("distance to nearest fault (km)")
axes[2].set_ylabel("share of pixels (density)")
axes[2].set_title("Occurrences lie close to faults")
axes[2].legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Fuzzy operators
#
# With memberships μ₁, μ₂ … of one pixel:
#
# | operator | formula | effect |
# |---|---|---|
# | AND | min(μᵢ) | as strong as the weakest evidence: strict |
# | OR | max(μᵢ) | as strong as the strongest: lenient |
# | algebraic product FAP | Πμᵢ | lower than every input: "all of them" |
# | algebraic sum FAS | 1 − Π(1 − μᵢ) | higher than every input: evidence adds up |
# | gamma | FAS^γ · FAP^(1−γ) | between the two: γ = 0 is FAP, γ = 1 is FAS |
#
# Two pixels to see them at work, iron and fault memberships 0.8 and 0.2, and 0.9 and 0.9:

# %%
a, b = np.array([[0.8, 0.9]]), np.array([[0.2, 0.9]])  # two pixels: one row, two columns
for name, value in {
    "AND": fuzzy_and([a, b]),
    "OR": fuzzy_or([a, b]),
    "product": fuzzy_product([a, b]),
    "sum": fuzzy_sum([a, b]),
    "gamma 0.75": fuzzy_gamma([a, b], 0.75),
}.items():
    print(f"{name:10s}", np.round(value[0], 3))

# %% [markdown]
# ### Exercise 2 — fuzzy gamma by hand
#
# Combine iron oxide and faults, "iron-oxide alteration on a structure", with γ = 0.75.
# Using the arrays `a = mu_iron.values` and `b = mu_faults.values`, compute
# FAS = 1 − (1 − a)(1 − b), FAP = a · b and `gamma_map` = FAS^0.75 · FAP^0.25
# (`**` is "to the power"). Pixels without an iron value (masked) are NaN and stay NaN.

# %% tags=["exercise"]
a, b = mu_iron.values, mu_faults.values
gamma_map = None

# %% tags=["solution"]
a, b = mu_iron.values, mu_faults.values
fas = 1 - (1 - a) * (1 - b)
fap = a * b
gamma_map = fas**0.75 * fap**0.25

# %%
lesson5.check_gamma(gamma_map, mu_iron, mu_faults, gamma=0.75)

# %% [markdown]
# ## 4. Weights of evidence
#
# Weights of evidence (Bonham-Carter 1994) asks the known occurrences how much a *binary*
# pattern is worth. Count, in unit cells (here one pixel):
#
# - `s` all cells, `b` cells on the pattern,
# - `d_s` all cells with an occurrence, `d_b` those on the pattern.
#
# Then W⁺ = ln[(d_b/d_s) / ((b − d_b)/(s − d_s))] (the pattern is present) and
# W⁻ = ln[((d_s − d_b)/d_s) / ((s − b − d_s + d_b)/(s − d_s))] (it is absent). A positive
# W⁺ and negative W⁻ mean occurrences favour the pattern; the contrast C = W⁺ − W⁻ says how
# strongly.
#
# ### Exercise 3 — W⁺ and W⁻ of "within 500 m of a fault"
#
# `pattern` and `deposits` are boolean arrays of the grid. Count `b`, `s`, `d_b`, `d_s`
# (`x.sum()` counts the True cells, `x.size` all of them, `&` is "and") and compute `w_plus`
# and `w_minus` with `np.log`.

# %%
pattern = distance.values <= 500
deposits = points_to_mask(occurrences, score).values > 0
print("cells on the pattern:", pattern.sum(), "| occurrence cells:", deposits.sum())

# %% tags=["exercise"]
w_plus = None
w_minus = None

# %% tags=["solution"]
s, b = pattern.size, pattern.sum()
d_s, d_b = deposits.sum(), (pattern & deposits).sum()
w_plus = np.log((d_b / d_s) / ((b - d_b) / (s - d_s)))
w_minus = np.log(((d_s - d_b) / d_s) / ((s - b - d_s + d_b) / (s - d_s)))

# %%
lesson5.check_weights(w_plus, w_minus)

# %% [markdown]
# `wofe_weights` gives the same, with the variances and the **studentised contrast**
# C / s(C), which says whether the contrast is more than chance: below about 2, do not
# trust the pattern. With 8 occurrences every weight is shaky; the pipeline's `method: wofe`
# chooses each layer's best cut-off this way and refuses layers below the floor.

# %%
w = wofe_weights(pattern, deposits)
{
    k: round(float(v), 3)
    for k, v in w.items()
    if k in ("b", "d_b", "w_plus", "w_minus", "contrast", "studentised_contrast")
}

# %% [markdown]
# ## 5. Is the map any good? The success-rate curve
#
# Rank the pixels from best to worst score; walk down the list and count the occurrences
# you have passed. Plot the share of occurrences found against the share of the area
# searched. A useless map finds occurrences as fast as random search (the diagonal); a good
# one finds most of them in a small area. The area under the curve (AUC) sums it up: 0.5 is
# random, 1 is perfect. (The occurrences here were not used to build the score, so it is
# strictly a *prediction*-rate curve.)
#
# ### Exercise 4 — AUC of the pipeline's score
#
# Use `success_rate_curve(score, deposits)` (it returns the area and occurrence fractions)
# and `curve_auc(x, y)` to put the AUC of the pipeline's `score` in `auc`.

# %% tags=["exercise"]
auc = None

# %% tags=["solution"]
area, found = success_rate_curve(score, deposits)
auc = curve_auc(area, found)

# %%
lesson5.check_auc(auc, score)

# %% [markdown]
# ## 6. Licences
#
# A target is only drillable inside a licence you hold. The licence layer comes in
# longitude/latitude (EPSG:4326): reproject it to the scene's UTM grid before any overlap is
# measured. `assign_licences` gives each target the licence that holds most of its area, and
# how much of the target is inside it.
#
# ### Exercise 5 — which licence holds the best target?
#
# Join `candidates` (the targets without their licence columns) with `licences`, keep the
# targets that lie in a licence (`licence_id` not missing: `.dropna(subset=["licence_id"])`),
# and put the `licence_id` of the highest-scoring one in `best_licence` (a text such as
# `"PL 044/2017"`). `df.loc[df["score"].idxmax()]` is the row with the highest score.

# %%
licences, _ = read_licences(SAMPLE / "licences.gpkg", layer="licences",
                            fields=lesson5.LICENCE_FIELDS, to_crs=crs)  # fmt: skip
candidates = targets[["target_id", "score", "geometry"]]
licences[["licence_id", "holder", "status", "expiry"]]

# %% tags=["exercise"]
best_licence = None

# %% tags=["solution"]
joined = assign_licences(candidates, licences)
inside = joined.dropna(subset=["licence_id"])
best_licence = inside.loc[inside["score"].idxmax(), "licence_id"]

# %%
lesson5.check_best_licence(best_licence, targets)

# %% [markdown]
# Ranking: the pipeline ranks targets by score (ties by how many evidence layers agree,
# then area) and within each licence (`rank_in_licence`), and flags licences that are
# pending or expired on the day of the run. The licence holder reads the table per licence:

# %%
ranked = licence_context(targets)
ranked[["rank", "target_id", "score", "licence_id", "rank_in_licence", "licence_status",
        "straddles_boundary"]].sort_values(["licence_id", "rank_in_licence"])  # fmt: skip

# %% [markdown]
# ## 7. The lesson in one figure
#
# The prospectivity score with the targets (yellow, labelled by rank), the licences, faults
# and occurrences; beside it the success-rate curve of the score.

# %% tags=["picture"]
area, found = success_rate_curve(score, deposits)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 6.5), gridspec_kw={"width_ratios": [1.3, 1]})
im = ax1.imshow(score.values, extent=extent, cmap="inferno", vmin=0, vmax=1)
fig.colorbar(im, ax=ax1, shrink=0.8, label="prospectivity score (weighted overlay)")
licences.boundary.plot(ax=ax1, color="white", linestyle="--", linewidth=1.2)
for lic, point in zip(licences["licence_id"], licences.representative_point(), strict=True):
    ax1.annotate(lic, (point.x, point.y), color="white", fontsize=8, ha="center")
faults_utm.plot(ax=ax1, color="#4fc3f7", linewidth=1)
occurrences_utm.plot(ax=ax1, marker="*", color="white", edgecolor="black", markersize=120)
targets.boundary.plot(ax=ax1, color="yellow", linewidth=1.8)
for row in targets.itertuples():
    ax1.annotate(str(row.rank), (row.easting, row.northing), color="yellow", fontsize=11,
                 fontweight="bold", xytext=(6, 6), textcoords="offset points")  # fmt: skip
handles = [
    Line2D([], [], color="yellow", linewidth=2, label="target (rank)"),
    Line2D([], [], color="white", linestyle="--", label="licence"),
    Line2D([], [], color="#4fc3f7", label="fault"),
    Line2D([], [], marker="*", color="white", markeredgecolor="black", linestyle="",
           markersize=12, label="known occurrence"),
]  # fmt: skip
ax1.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=4, fontsize=8,
           facecolor="#404040", labelcolor="white")  # fmt: skip
decorate(ax1, "Prospectivity and ranked targets")
ax2.plot(area * 100, found * 100, color="orangered", linewidth=2,
         label=f"weighted overlay (AUC {curve_auc(area, found):.2f})")  # fmt: skip
ax2.plot([0, 100], [0, 100], color="grey", linestyle="--", label="random search (AUC 0.50)")
ax2.axvline(2, color="yellow", linewidth=1)
ax2.annotate("targets: best 2 %", (2, 5), xytext=(5, 0), textcoords="offset points")
ax2.set_xlabel("area searched, best score first (%)")
ax2.set_ylabel("known occurrences found (%)")
ax2.set_title("Success-rate curve")
ax2.legend(loc="lower right")
fig.tight_layout()
plt.show()

# %% [markdown]
# The curve climbs to about 70 % within the best 2 % of the area, then stays flat: the
# remaining occurrences (old workings, a placer, a showing under the cloud) have no
# alteration a satellite can see. A map that "found" them would be fooling itself.
#
# ## What to remember
#
# - Evidence is a number per pixel (a distance, an index); a fuzzy membership says how
#   favourable it is, from 0 to 1. Choose the break points from geology, and write them down.
# - Fuzzy AND is strict, OR lenient, product lowers, sum raises; gamma sits in between.
# - Weights of evidence learn from known occurrences how much a pattern is worth: W⁺, W⁻,
#   contrast and its studentised value. With few occurrences, be humble.
# - Judge a map with its success- or prediction-rate curve, not by how nice it looks.
# - Reproject the licences before joining; rank targets within each licence.
# - Try it: change the weights in a copy of the pipeline file and re-rank a finished run
#   with `geo rank RUN_DIR --pipeline my.yaml` (see the README).
