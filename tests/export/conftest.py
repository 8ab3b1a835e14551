"""Fixtures and helpers of the export tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
from pyproj import Transformer
from shapely import affinity

from geo._vectorfile import write_layer


@pytest.fixture
def run_copy(prospect_run, tmp_path):
    """A writable copy of the shared sample prospectivity run (every field format written)."""
    dst = tmp_path / "run"
    shutil.copytree(prospect_run.out_dir, dst)
    return dst


def _many_targets(targets: gpd.GeoDataFrame, n: int, seed: int = 7) -> gpd.GeoDataFrame:
    """``n`` targets: the run's own, copied and moved within the scene, ranked by a new score."""
    rng = np.random.default_rng(seed)
    left, bottom, right, top = targets.total_bounds
    pick = rng.integers(0, len(targets), n)
    rows = targets.iloc[pick].reset_index(drop=True)
    dx = rng.uniform(left, right, n) - rows["easting"].to_numpy()
    dy = rng.uniform(bottom, top, n) - rows["northing"].to_numpy()
    rows["geometry"] = [
        affinity.translate(g, x, y) for g, x, y in zip(rows.geometry, dx, dy, strict=True)
    ]
    rows["easting"] = rows["easting"] + dx
    rows["northing"] = rows["northing"] + dy
    to_wgs84 = Transformer.from_crs(targets.crs, 4326, always_xy=True)
    rows["lon"], rows["lat"] = to_wgs84.transform(rows["easting"], rows["northing"])
    rows["score"] = np.sort(rng.uniform(0.05, 0.99, n))[::-1]
    rows["rank"] = np.arange(1, n + 1)
    rows["target_id"] = [f"T{r:04d}" for r in rows["rank"]]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=targets.crs)


def scatter_targets(run_dir: Path, n: int) -> list[str]:
    """Give the run's ``targets.gpkg`` ``n`` targets scattered over the scene; return their ids.

    (Copies of the run's targets, moved and renumbered, coordinates recomputed; the other
    layers are kept.)
    """
    gpkg = run_dir / "targets.gpkg"
    layers = {
        name: gpd.read_file(gpkg, layer=name)
        for name in pyogrio.list_layers(gpkg)[:, 0]
        if name != "layer_styles"
    }
    layers["targets"] = _many_targets(layers["targets"], n)
    gpkg.unlink()
    for name, frame in layers.items():
        write_layer(frame, gpkg, layer=name, driver="GPKG")
    return layers["targets"]["target_id"].tolist()
