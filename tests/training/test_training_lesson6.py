"""Lesson 6 checks, on a sample run without the slow report exports."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest

from geo.training import CheckFailed, lesson6

CAMP = (-21.52, 27.49)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from geo.pipeline.runner import run_pipeline
    from geo.pipeline.spec import load_spec
    from geo.training.notebooks import NOTEBOOK_DIR

    spec = load_spec(NOTEBOOK_DIR.parent / "pipelines" / "landsat_prospectivity.yaml")
    spec = spec.model_copy(
        update={
            "export": spec.export.model_copy(update={"formats": ["csv"]}),
            # the map of the lesson draws the basemap, which a csv-only run does not need
            "outputs": spec.outputs.model_copy(update={"rasters": ["true_colour"]}),
        }
    )
    out = tmp_path_factory.mktemp("lesson6") / "run"
    run_pipeline(spec, out=out)
    return out


@pytest.fixture(scope="module")
def targets(run_dir):
    return gpd.read_file(run_dir / "targets.gpkg", layer="targets")


def _utm_km(targets, row):
    camp = gpd.GeoSeries(gpd.points_from_xy([CAMP[1]], [CAMP[0]]), crs=4326).to_crs(targets.crs)
    t = targets.sort_values("rank").iloc[row]
    return float(np.hypot(t["easting"] - camp.x.iloc[0], t["northing"] - camp.y.iloc[0]) / 1000)


@pytest.mark.slow
def test_licence_targets(run_dir, targets):
    ours = targets[targets["licence_id"] == "PL 013/2021"]
    assert lesson6.check_licence_targets(ours, "PL 013/2021", run_dir)
    assert lesson6.check_licence_targets(list(ours["target_id"]), "PL 013/2021", run_dir)
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson6.check_licence_targets(None, "PL 013/2021", run_dir)
    other = targets[targets["licence_id"] == "PL 087/2019"]
    with pytest.raises(CheckFailed, match="targets of licence PL 087/2019"):
        lesson6.check_licence_targets(other, "PL 013/2021", run_dir)
    with pytest.raises(CheckFailed, match="missing"):
        lesson6.check_licence_targets(ours.iloc[:1], "PL 013/2021", run_dir)
    with pytest.raises(CheckFailed, match="empty"):
        lesson6.check_licence_targets(targets[targets["licence_id"] == "PL 13/2021"], "PL 013/2021", run_dir)  # fmt: skip


@pytest.mark.slow
def test_camp_distance(run_dir, targets):
    lat, lon = CAMP
    km = _utm_km(targets, 0)
    assert lesson6.check_camp_distance(km, lat, lon, run_dir)
    with pytest.raises(CheckFailed, match="metres"):
        lesson6.check_camp_distance(km * 1000, lat, lon, run_dir)
    t = targets.sort_values("rank").iloc[0]
    with pytest.raises(CheckFailed, match="degrees"):
        lesson6.check_camp_distance(np.hypot(t["lat"] - lat, t["lon"] - lon), lat, lon, run_dir)
    with pytest.raises(CheckFailed, match="T002"):
        lesson6.check_camp_distance(_utm_km(targets, 1), lat, lon, run_dir)
    camp = gpd.GeoSeries(gpd.points_from_xy([lon], [lat]), crs=4326).to_crs(targets.crs)
    edge = targets.sort_values("rank").geometry.iloc[0].distance(camp.iloc[0]) / 1000
    with pytest.raises(CheckFailed, match="edge"):
        lesson6.check_camp_distance(edge, lat, lon, run_dir)
    with pytest.raises(CheckFailed, match="too"):
        lesson6.check_camp_distance(km * 1.1, lat, lon, run_dir)


@pytest.mark.slow
def test_gps_northing(run_dir, targets):
    t = targets.sort_values("rank").iloc[0]
    assert lesson6.check_gps_northing(t["northing"] + 10_000_000, run_dir)
    with pytest.raises(CheckFailed, match="add 10 000 000"):
        lesson6.check_gps_northing(t["northing"], run_dir)
    with pytest.raises(CheckFailed, match="too low"):
        lesson6.check_gps_northing(t["northing"] + 1_000_000, run_dir)


@pytest.mark.slow
def test_field_files_and_map(run_dir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = lesson6.field_files(run_dir)
    assert {"targets.gpkg", "exports/targets_field.csv", "manifest.json"} <= set(files.index)
    ax = lesson6.plot_targets_map(run_dir, camp=CAMP)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "camp" in labels and any(label.startswith("PL 013/2021") for label in labels)
    plt.close(ax.figure)
