"""The Python API works on the first try: the README's example, dir(geo), Scene in, short repr."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest

import geo
from geo.errors import BandError
from tests.conftest import PRODUCT_ID, ROOT, SAMPLE


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_the_readme_example_runs_as_written(monkeypatch):
    blocks = _python_blocks((ROOT / "README.md").read_text(encoding="utf-8"))
    assert blocks, "README.md has no python example"
    monkeypatch.chdir(ROOT)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})  # the README's own code, nothing else
    out = printed.getvalue().splitlines()
    assert out[0].startswith(f"<Scene {PRODUCT_ID}: landsat_oli, 2023-06-01, 7 bands")
    assert re.fullmatch(r"\d+ iron-oxide zones above \d+\.\d{3}", out[-1]), out[-1]
    assert int(out[-1].split()[0]) > 0


def test_dir_geo_lists_the_api_and_every_name_resolves():
    names = dir(geo)
    for wanted in (
        "open_scene",
        "compute_indices",
        "compute_masks",
        "threshold",
        "extract_zones",
        "run_pipeline",
        "load_spec",
        "Scene",
    ):
        assert wanted in names
    assert "importlib" not in names and "logging" not in names
    for name in geo.__all__:
        assert getattr(geo, name) is not None, name


@pytest.fixture(scope="module")
def scene():
    return geo.open_scene(SAMPLE / PRODUCT_ID)


def test_a_scene_is_accepted_where_its_reflectance_is(scene):
    from_scene = geo.compute_indices(scene, ["iron_oxide"])
    from_cube = geo.compute_indices(scene.reflectance, ["iron_oxide"])
    np.testing.assert_array_equal(from_scene.values, from_cube.values)
    with pytest.raises(BandError, match=r"needs a scene .* got str"):
        geo.compute_indices("not a scene", ["iron_oxide"])


def test_the_scene_repr_is_one_short_line(scene):
    text = repr(scene)
    assert "\n" not in text and len(text) < 250
    assert "600 x 600 px at 30 m" in text and "EPSG:32635" in text and "qa_pixel" in text


def test_masks_from_a_scene_use_its_own_qa(scene):
    from geo.spectral.masks import MASK_RULES

    reasons = geo.compute_masks(scene).values
    cloud = 1 << MASK_RULES.index("cloud")
    assert (reasons & cloud).any()  # from QA_PIXEL: a bare cube could not know
    bare = geo.compute_masks(scene.reflectance).values
    assert not (bare & cloud).any()


def test_threshold_takes_the_cube_and_the_reason_raster(scene):
    indices = geo.compute_indices(scene, ["iron_oxide", "clay_hydroxyl"])
    reasons = geo.compute_masks(scene)
    cut = geo.threshold(indices, reasons, name="iron_oxide", k=3)
    layer = indices.sel(index="iron_oxide", drop=True)
    same = geo.fit_threshold(layer, reasons == 0, name="iron_oxide", k=3, log=True)
    assert cut.log is True and cut.cutoff == same.cutoff and cut.n_valid == same.n_valid
    with pytest.raises(ValueError, match="name the index"):
        geo.threshold(indices, reasons)


def test_zones_to_ranked_licence_aware_targets(scene):
    indices = geo.compute_indices(scene, ["iron_oxide", "clay_hydroxyl"])
    reasons = geo.compute_masks(scene)
    zones = []
    for name in ("iron_oxide", "clay_hydroxyl"):
        cut = geo.threshold(indices, reasons, name=name, k=3)
        layer = indices.sel(index=name, drop=True)
        zones.append(geo.extract_zones((layer >= cut.cutoff) & (reasons == 0), kind=name))
    import pandas as pd

    all_zones = pd.concat(zones, ignore_index=True)
    licences, _ = geo.read_licences(
        SAMPLE / "licences.gpkg",
        fields={"licence_id": "licence_no", "holder": "holder_name"},
        to_crs=scene.reflectance.rio.crs,
    )
    targets = geo.rank_targets(all_zones, licences)
    assert len(targets) > 0 and targets["rank"].tolist() == list(range(1, len(targets) + 1))
    assert targets["score"].is_monotonic_decreasing
    assert targets["target_id"].iloc[0] == "T001" and targets["licence_id"].notna().any()
    assert {"easting", "northing", "lat", "lon", "rank_in_licence"} <= set(targets.columns)


def test_run_pipeline_takes_a_pipeline_file(tmp_path):
    from tests.conftest import PIPELINE

    result = geo.run_pipeline(PIPELINE, out=tmp_path / "run")
    assert result.manifest["pipeline"]["file"]["path"] == str(PIPELINE)
    assert (tmp_path / "run" / "targets.gpkg").is_file() and len(result.targets) > 0
