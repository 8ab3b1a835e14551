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
# # Lesson 6 — Delivering to the field
#
# **Goals.** By the end of this lesson you can
#
# 1. run the whole chain (scene → masks → indices → evidence → targets → licences) from one
#    pipeline file;
# 2. read the target table: rank, score, licence, flags, coordinates;
# 3. say which file goes to whom: report, GPS, Google Earth, QGIS, spreadsheet;
# 4. open the GPS file and check its waypoints;
# 5. answer the field team's first questions: which targets are on *our* licence, how far
#    is target 1 from camp, and what northing will the GPS show.
#
# **Time:** about 40 minutes. The run in section 1 takes about half a minute.
#
# A target list is only useful if the people who walk to the targets can find them, know
# whether they may work there, and understand why each target was chosen. That is what
# this lesson is about.

# %%
import geopandas as gpd
import matplotlib.pyplot as plt
import pandas as pd
import pyogrio
from IPython.display import Image

from geo.training import lesson6, output_dir

from geo.pipeline.runner import run_pipeline  # noqa: I001
from geo.pipeline.spec import load_spec

plt.rcParams["figure.dpi"] = 80

# %% [markdown]
# ## 1. Run the pipeline
#
# A **pipeline file** (YAML) is the recipe: which scene, which masks, which indices, which
# evidence and weights, how targets are cut and ranked. It is the record of what was done,
# so a colleague can repeat it. The course's pipeline is in `pipelines/` (open it in the
# file browser and read its comments). We change two settings for the classroom: the
# report gets a sheet for the best 3 targets only, and we skip the PDF and the Shapefiles
# (`geo export` writes them later), to keep the run short.

# %%
spec = load_spec("../pipelines/landsat_prospectivity.yaml")
spec = spec.model_copy(
    update={
        "export": spec.export.model_copy(
            update={"formats": ["qgis", "kml", "kmz", "gpx", "geojson", "csv", "html"], "top": 3}
        )
    }
)
run_dir = output_dir("lesson6") / "run"
result = run_pipeline(spec, out=run_dir, overwrite=True)
print(f"{len(result.targets)} targets; files in {result.out_dir}")

# %% [markdown]
# The warnings in pink are the run telling you what to keep in mind: one known occurrence
# lies under the cloud (no evidence there), and three targets lie outside every licence.

# %% [markdown]
# ## 2. The target table
#
# One row per target, best first. The columns a field geologist reads first:
#
# - `rank`, `target_id`: T001 is the best;
# - `score` (0–1) and `evidence`: how much each layer (iron oxide, clay, faults, fault
#   intersections) raised the target compared with an ordinary place in the scene;
# - `licence_id`, `licence_status`, `licence_flag`: whose ground it is, and whether the
#   licence needs attention (pending, expired…) before anyone drills;
# - `licence_overlap_pct`: the share of the target inside that licence;
# - `flags`: reasons for caution (`near_cloud`, `single_evidence`,
#   `straddles_licence_boundary`…);
# - `easting`, `northing` (scene grid) and `lat`, `lon`: a point *inside* the target.

# %%
targets = result.targets
columns = ["rank", "target_id", "score", "evidence", "licence_id", "licence_status",
           "licence_flag", "licence_overlap_pct", "area_ha", "flags", "lat", "lon"]  # fmt: skip
targets[columns]

# %% [markdown]
# The map the field team will recognise: true colour, licences, targets by rank. The star
# is the camp we use in the exercises below.

# %% tags=["picture"]
camp_lat, camp_lon = -21.52, 27.49
lesson6.plot_targets_map(run_dir, camp=(camp_lat, camp_lon));

# %% [markdown]
# ## 3. What was delivered, and for whom
#
# Field teams work **offline**, on different devices. Every run writes the same targets in
# several formats:

# %%
lesson6.field_files(run_dir)

# %% [markdown]
# - `report.html` opens in any browser without internet: a map you can pan and click, the
#   sortable table, and one sheet per top target with a map, coordinates and evidence.
#   Open it now from the file browser (`out/notebooks/lesson6/run/report.html`).
# - `targets.gpkg` opens in QGIS already styled (drag it onto the map).
# - `targets.kmz` opens in Google Earth with the scene picture underneath.
# - `targets.gpx` goes onto the handheld GPS.
#
# The quicklook is the one-page summary of the run:

# %%
Image(filename=str(run_dir / "quicklook.png"), width=600)

# %% [markdown]
# The GeoPackage holds several layers; each has its style stored inside
# (the `layer_styles` table), so QGIS shows them the same way on every laptop:

# %%
pyogrio.list_layers(run_dir / "targets.gpkg")

# %% [markdown]
# ## 4. The GPS file
#
# A GPX file is a small text file of **waypoints** (one per target) and a **route** (a
# visiting order through the best targets). Names start with the target id printed on the
# sheets: `T001 PL012/21` is target T001 on licence PL 012/2021 (the licence is added only
# when the name fits a small GPS screen, 14 characters). Let us read it back as the GPS will.

# %%
waypoints = gpd.read_file(run_dir / "exports" / "targets.gpx", layer="waypoints")
waypoints[["name", "cmt", "geometry"]]

# %%
route = gpd.read_file(run_dir / "exports" / "targets.gpx", layer="route_points")
print("route:", " → ".join(route["name"]))

# %% [markdown]
# ### Exercise 1 — targets on one licence
#
# The client holds licence **PL 013/2021**. Select the rows of `targets` whose
# `licence_id` is `"PL 013/2021"`. Hint: `table[table["column"] == value]`.

# %% tags=["exercise"]
# Replace None with the rows of targets on licence PL 013/2021.
our_targets = None

# %% tags=["solution"]
our_targets = targets[targets["licence_id"] == "PL 013/2021"]

# %%
lesson6.check_licence_targets(our_targets, "PL 013/2021", run_dir)

# %% [markdown]
# ### Exercise 2 — how far is target 1 from camp?
#
# The camp is at latitude −21.52, longitude 27.49 (`camp_lat`, `camp_lon`). Compute the
# straight-line distance in **kilometres** to target 1's point.
#
# Degrees are not lengths, so first put the camp in the targets' grid (metres):
# `gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs=4326).to_crs(targets.crs)`.
# Target 1's point is `targets.iloc[0]["easting"]`, `targets.iloc[0]["northing"]`, and
# the distance between two points is √(Δx² + Δy²).

# %% tags=["exercise"]
# Replace None with the distance in km (a number).
distance_km = None

# %% tags=["solution"]
camp = gpd.GeoSeries(gpd.points_from_xy([camp_lon], [camp_lat]), crs=4326).to_crs(targets.crs)
first = targets.iloc[0]
dx, dy = first["easting"] - camp.x.iloc[0], first["northing"] - camp.y.iloc[0]
distance_km = (dx**2 + dy**2) ** 0.5 / 1000

# %%
lesson6.check_camp_distance(distance_km, camp_lat, camp_lon, run_dir)

# %% [markdown]
# ### Exercise 3 — the northing the GPS will show
#
# Landsat keeps the northern UTM zone (35N) for southern-hemisphere scenes, so the scene's
# northings are **negative** (look at `targets["northing"]`). A GPS set to UTM shows zone
# **35S**, whose northings count from a point 10 000 000 m south of the equator, so they
# are positive. A field team told "northing −2 374 440" will be lost.
#
# Compute target 1's northing as the GPS shows it.

# %% tags=["exercise"]
# Replace None with target 1's northing in zone 35S (metres).
gps_northing = None

# %% tags=["solution"]
gps_northing = targets.iloc[0]["northing"] + 10_000_000

# %%
lesson6.check_gps_northing(gps_northing, run_dir)

# %% [markdown]
# `geo` writes both forms in every field file (`utm_zone`, `utm_easting`, `utm_northing`
# beside the scene's grid), with the datum, and latitude/longitude in decimal degrees and
# degrees-minutes-seconds:

# %%
field = pd.read_csv(run_dir / "exports" / "targets_field.csv", encoding="utf-8-sig")
field[["target_id", "utm_zone", "utm_easting", "utm_northing", "lat_dms", "lon_dms", "datum"]]

# %% [markdown]
# ## 5. What a field team needs — a checklist
#
# - **Where**: coordinates the GPS understands (zone, datum), a waypoint per target, a
#   route, and an offline map (`true_colour.tif`, the KMZ picture).
# - **May we go there**: the licence, its holder and status; targets on expired or
#   pending licences, outside every licence, or straddling a boundary flagged.
# - **Why this target**: the evidence behind the score, and the cautions (near cloud or
#   vegetation, one kind of evidence only).
# - **What was not seen**: `valid_pct` per licence in `licences.csv` — ground hidden
#   under cloud or vegetation is *unexplored*, not barren.
# - **How it was made**: `manifest.json` and the pipeline file, so the result can be
#   repeated and checked.

# %%
licences = pd.read_csv(run_dir / "licences.csv")
licences[["licence_id", "status", "n_targets", "best_target", "imaged_pct", "valid_pct"]]

# %% [markdown]
# ## What you learned
#
# - One pipeline file runs the whole chain and records it.
# - The target table gives rank, score, evidence, licence and cautions for each target.
# - Each audience gets its format: report (laptop), GPX (GPS), KMZ (Google Earth),
#   GeoPackage (QGIS), CSV (spreadsheet).
# - Check coordinates before they reach the field: UTM zone and hemisphere, datum, units.
