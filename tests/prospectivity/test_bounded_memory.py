"""The prospectivity stage in bounded memory: distances by strips, medians by bits, no scratch."""

import tracemalloc

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import LineString, Point

from geo.prospectivity.evidence import distance_to_lines, distance_to_points
from geo.testing import make_raster

X0, Y0 = 500_000.0, 7_000_000.0


@pytest.mark.parametrize("kind", ["lines", "points"])
def test_a_distance_written_to_disk_never_holds_its_grid(kind, tmp_path, monkeypatch):
    """Strips of 64 rows: the traced peak stays far below one float32 grid (16 MB) more."""
    import geo.prospectivity.evidence as ev

    monkeypatch.setattr(ev, "_EDT_TILE_PX", 64)
    monkeypatch.setattr(ev, "_EDT_WINDOW_PX", 256 * 256)  # grown tiles of at most 2.4 MB
    n = 2000
    t = make_raster(np.zeros((n, n), dtype="float32"), res=30.0, origin=(X0, Y0))
    if kind == "lines":  # sparse: far strips go through the separable transform
        layer = gpd.GeoSeries(
            [LineString([(X0 + 900, Y0), (X0 + 5000, Y0 - 20000)])], crs=t.rio.crs
        )
        fn = distance_to_lines
    else:
        layer = gpd.GeoSeries(
            [Point(X0 + 100, Y0 - 100), Point(X0 + 50000, Y0 - 7000)], crs=t.rio.crs
        )
        fn = distance_to_points
    grid_bytes = n * n * 4
    tracemalloc.start()
    da = fn(layer, t, path=tmp_path / "d.tif", chunk=512)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # beyond the rasterized features (one byte a pixel of the haloed grid: 4.5 MB), well
    # under one float32 grid; the in-memory transform holds the whole grid on top of them
    burned = (n + 2 * ev._EDT_PAD_PX) ** 2
    assert peak - burned < 0.7 * grid_bytes, f"{peak / 1e6:.1f} MB traced"
    # and the file holds the right distances (spot check against the in-memory transform)
    want = fn(layer, t).values
    np.testing.assert_array_equal(da[::97, ::89].values, want[::97, ::89])


def test_the_stage_leaves_no_scratch_and_its_medians_are_exact(prospect_run):
    """No scratch distance file is left; each baseline median equals numpy's on the layer."""
    rasters = prospect_run.out_dir / "rasters"
    assert not list(rasters.glob("scratch_*"))
    manifest = prospect_run.manifest["prospectivity"]
    from geo.spectral.masks import MASK_RULES

    with rasterio.open(rasters / "mask_reasons.tif") as src:
        study = (src.read(1) & (1 << MASK_RULES.index("fill"))) == 0
    for name, median in manifest["baseline_medians"].items():
        with rasterio.open(rasters / f"membership_{name}.tif") as src:
            v = src.read(1, masked=True).filled(np.nan)
        want = np.median(v[study & np.isfinite(v)].astype("float64"))
        assert median == round(float(want), 6), name


def test_the_in_memory_distance_holds_its_grid(monkeypatch):
    """The reference for the test above: without ``path`` the whole grid is held."""
    import geo.prospectivity.evidence as ev

    monkeypatch.setattr(ev, "_EDT_TILE_PX", 64)
    monkeypatch.setattr(ev, "_EDT_WINDOW_PX", 256 * 256)
    n = 2000
    t = make_raster(np.zeros((n, n), dtype="float32"), res=30.0, origin=(X0, Y0))
    layer = gpd.GeoSeries([LineString([(X0 + 900, Y0), (X0 + 5000, Y0 - 20000)])], crs=t.rio.crs)
    tracemalloc.start()
    distance_to_lines(layer, t)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak - (n + 2 * ev._EDT_PAD_PX) ** 2 >= n * n * 4
