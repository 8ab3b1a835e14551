"""The GPX route sets off from the camp: ``field.start`` in the pipeline, ``--start`` on the command line."""

from __future__ import annotations

import itertools

import gpxpy
import pytest
import yaml
from click.testing import CliRunner

from geo.cli.main import main
from geo.pipeline.spec import validate_spec
from tests.conftest import ROOT

CAMP = (27.47, -21.52)  # a point on the sample scene, south-west of the targets


def _route(run_dir):
    gpx = gpxpy.parse((run_dir / "exports" / "targets.gpx").read_text())
    (route,) = gpx.routes
    return gpx, route.points


def test_geo_export_start_puts_the_camp_first(run_copy):
    result = CliRunner().invoke(
        main, ["export", str(run_copy), "--to", "gpx", "--start", f"{CAMP[0]},{CAMP[1]}"]
    )
    assert result.exit_code == 0, result.output
    gpx, points = _route(run_copy)
    assert points[0].name == "START"
    assert (points[0].longitude, points[0].latitude) == pytest.approx(CAMP, abs=1e-7)
    start = [w for w in gpx.waypoints if w.name == "START"]
    assert len(start) == 1

    # a short walk from the camp: no longer than visiting the same targets by rank
    def length(order):
        return sum(a.distance_2d(b) for a, b in itertools.pairwise(order))

    by_rank = sorted(points[1:], key=lambda p: int(p.name.split(" ")[0][1:]))
    assert len(by_rank) > 3
    assert length(points) <= length([points[0], *by_rank]) + 1e-6


@pytest.mark.parametrize("bad", ["27.4", "abc,def", "200,10", "27,-95", "nan,1", "1,2,3"])
def test_a_bad_start_is_one_line_exit_2(run_copy, bad):
    before = (run_copy / "exports" / "targets.gpx").read_bytes()
    result = CliRunner().invoke(main, ["export", str(run_copy), "--to", "gpx", "--start", bad])
    assert result.exit_code == 2
    assert "--start" in result.output and "LON,LAT" in result.output
    assert "Traceback" not in result.output
    assert (run_copy / "exports" / "targets.gpx").read_bytes() == before


def test_field_start_in_the_pipeline_is_kept_by_a_later_export(tmp_path):
    doc = yaml.safe_load((ROOT / "pipelines" / "landsat_alteration.yaml").read_text())
    doc["field"] = {"start": {"lon": CAMP[0], "lat": CAMP[1], "name": "CAMP"}}
    doc["export"] = {"formats": ["gpx"]}
    for part in ("scene", "licences"):
        doc["inputs"][part]["path"] = str(
            (ROOT / "pipelines" / doc["inputs"][part]["path"]).resolve()
        )
    pipeline = tmp_path / "camp.yaml"
    pipeline.write_text(yaml.safe_dump(doc))
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["-q", "run", str(pipeline), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert _route(out)[1][0].name == "CAMP"
    (out / "exports" / "targets.gpx").unlink()
    result = CliRunner().invoke(main, ["export", str(out), "--to", "gpx"])
    assert result.exit_code == 0, result.output
    assert _route(out)[1][0].name == "CAMP"


@pytest.mark.parametrize(
    "start, key",
    [
        ({"lon": 181, "lat": 0}, "lon"),
        ({"lon": 0, "lat": -90.5}, "lat"),
        ({"lon": 0, "lat": 0, "name": "<b>camp</b>"}, "name"),
        ({"lon": 0, "lat": 0, "name": "a very long camp name"}, "name"),
        ({"lon": "nan", "lat": 0}, "lon"),
    ],
)
def test_field_start_is_validated(start, key):
    doc = yaml.safe_load((ROOT / "pipelines" / "landsat_alteration.yaml").read_text())
    doc["field"] = {"start": start}
    with pytest.raises(Exception, match=rf"field\.start\.{key}"):
        validate_spec(doc, "camp.yaml")
