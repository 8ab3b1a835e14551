"""Memory follows the chunk, not the scene: a run on a scene four times larger allocates about
as much at its peak, and a larger chunk costs more.

Python-side allocations (numpy arrays: chunks, blocks, statistics, polygons) are measured with
``tracemalloc``; GDAL's block cache is capped separately by ``processing.gdal_cache_mb``. Not
timed: the figures are allocation peaks, the same on every machine.
"""

import tracemalloc
import warnings

import numpy as np
import pytest
import rasterio
import yaml
from rasterio.transform import from_origin

from geo.errors import GeoWarning
from geo.pipeline.runner import run_pipeline
from geo.pipeline.spec import load_spec
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

ROLES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
# surface reflectance of a bare soil background, and of an iron-oxide + clay alteration patch
SOIL = np.array([0.08, 0.10, 0.14, 0.20, 0.26, 0.32, 0.28])
ALTERED = np.array([0.07, 0.07, 0.12, 0.26, 0.30, 0.40, 0.27])


def _scene(path, side: int, seed: int = 0) -> None:
    """A 7-band Collection-2-scaled uint16 scene: textured soil with altered patches."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((side // 64 + 1, side // 64 + 1))
    field = np.kron(coarse, np.ones((64, 64)))[:side, :side]  # 64-px blocks of alteration
    altered = np.clip((field - 0.85) * 8, 0, 1)[None]
    refl = SOIL[:, None, None] * (1 - altered) + ALTERED[:, None, None] * altered
    refl = refl * (1 + 0.03 * rng.standard_normal((1, side, side)))
    dn = np.round((refl + 0.2) / 2.75e-5).astype("uint16")
    dn[:, : side // 8, : side // 8] = 0  # a corner of fill
    profile = dict(
        driver="GTiff", width=side, height=side, count=7, dtype="uint16", nodata=0,
        crs="EPSG:32735", transform=from_origin(500000, 7400000, 30, 30),
        tiled=True, blockxsize=256, blockysize=256, compress="deflate",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn)


def _spec(tmp_path, scene, chunk: int):
    doc = yaml.safe_load((ROOT / "pipelines" / "landsat_alteration.yaml").read_text())
    doc["inputs"] = {
        "scene": {
            "path": str(scene), "sensor": "landsat_oli", "scale": 2.75e-05, "offset": -0.2,
            "roles": ROLES,
        }
    }  # fmt: skip
    doc["masks"].update(qa=[], saturation=False)
    doc["indices"] = ["iron_oxide", "clay_hydroxyl", "ndvi", "mndwi"]
    doc["processing"]["chunk"] = chunk
    doc["export"] = {"formats": []}
    path = tmp_path / f"{scene.stem}_{chunk}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return load_spec(path)


def _peak_mb(spec, out) -> tuple[float, object]:
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GeoWarning)
            result = run_pipeline(spec, out=out)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    return peak, result


@pytest.fixture(scope="module")
def peaks(tmp_path_factory):
    root = tmp_path_factory.mktemp("scaling")
    out = {}
    for side, chunk in ((1024, 256), (2048, 256), (1024, 1024)):
        scene = root / f"scene_{side}.tif"
        if not scene.exists():
            _scene(scene, side)
        out[side, chunk] = _peak_mb(_spec(root, scene, chunk), root / f"run_{side}_{chunk}")
    return out


def test_four_times_the_pixels_needs_about_the_same_memory(peaks):
    small, _ = peaks[1024, 256]
    large, result = peaks[2048, 256]
    assert len(result.targets) > 0  # the run found the altered patches
    # 3 M more pixels: one more whole float32 layer would add 12 MB, the raw bands 44 MB.
    # The peak may grow a little (more zones and targets), never by a layer.
    assert large - small < 12, f"peak {small:.0f} MB -> {large:.0f} MB for 4x the pixels"


def _raster_stage_peak_mb(spec, scene, out) -> float:
    """Peak allocation while the masks and indices of ``scene`` are computed and written."""
    from geo.io.writers import RasterLayer, write_rasters
    from geo.pipeline.runner import open_spec_scene
    from geo.spectral.indices import compute_indices
    from geo.spectral.masks import build_mask

    refl = open_spec_scene(spec, scene).reflectance
    valid = build_mask(refl, config=spec.masks.to_config()) == 0
    indices = compute_indices(refl, spec.indices, sensor=refl.attrs["sensor"])
    layers = {
        str(n): RasterLayer(indices.sel(index=n, drop=True).where(valid))
        for n in indices["index"].values
    }
    tracemalloc.start()
    try:
        write_rasters(layers, out)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_raster_stage_memory_follows_the_chunk_not_the_scene(tmp_path, peaks):
    """Chunk 256: the same peak for 1 and 4 Mpx; chunks of 1024 px: a larger one."""
    root = next(iter(peaks.values()))[1].out_dir.parent
    got = {}
    for side, chunk in ((1024, 256), (2048, 256), (2048, 1024)):
        spec = _spec(tmp_path, root / f"scene_{side}.tif", chunk)
        got[side, chunk] = _raster_stage_peak_mb(
            spec, root / f"scene_{side}.tif", tmp_path / f"{side}_{chunk}"
        )
    small, large, big_chunks = got[1024, 256], got[2048, 256], got[2048, 1024]
    # one whole float32 layer more would be +12 MB (4 -> 16 MB), the bands +84 MB; what
    # varies is how many blocks dask's two threads hold at the moment of the peak (up to ~6 MB)
    assert large - small < 8, f"chunk 256: {small:.0f} MB (1 Mpx) -> {large:.0f} MB (4 Mpx)"
    assert big_chunks - large > 24, (
        f"4 Mpx: chunk 256 {large:.0f} MB, chunk 1024 {big_chunks:.0f} MB"
    )


def test_results_do_not_depend_on_chunk_size_here_either(peaks):
    _, a = peaks[1024, 256]
    _, b = peaks[1024, 1024]
    assert a.targets["target_id"].tolist() == b.targets["target_id"].tolist()
    assert np.allclose(a.targets["score"], b.targets["score"])
