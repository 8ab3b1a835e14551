"""STAC items with local assets: Planetary Computer Landsat C2 L2, Earth Search Sentinel-2 L2A."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geo.errors import (
    BandError,
    InputNotFoundError,
    InvalidParameterError,
    MetadataError,
    ProductError,
)
from geo.io.readers.stac import is_stac_item, open_stac_item
from tests.conftest import PRODUCT_ID

CRS = "EPSG:32635"
WEST, NORTH = 399960.0, 7300020.0
EXTENSIONS = [
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v1.1.0/schema.json",
    "https://stac-extensions.github.io/projection/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
]
COG = "image/tiff; application=geotiff; profile=cloud-optimized"

# Planetary Computer landsat-c2-l2: asset key -> (eo:bands name, common name, file suffix)
LC_ID = "LC08_L2SP_171075_20230601_02_T1"
LC_FILE = "LC08_L2SP_171075_20230601_20230607_02_T1"
LC_BANDS = {
    "coastal": ("OLI_B1", "coastal", "SR_B1"),
    "blue": ("OLI_B2", "blue", "SR_B2"),
    "green": ("OLI_B3", "green", "SR_B3"),
    "red": ("OLI_B4", "red", "SR_B4"),
    "nir08": ("OLI_B5", "nir08", "SR_B5"),
    "swir16": ("OLI_B6", "swir16", "SR_B6"),
    "swir22": ("OLI_B7", "swir22", "SR_B7"),
}
LC_SCALE = {"scale": 2.75e-05, "offset": -0.2, "nodata": 0, "data_type": "uint16"}
PC_BLOB = "https://landsateuwest.blob.core.windows.net/landsat-c2/level-2/standard/oli-tirs/2023/171/075/LC08_L2SP_171075_20230601_20230607_02_T1"

# Earth Search sentinel-2-l2a: asset key -> (eo:bands name, common name, pixel size)
S2_BANDS = {
    "blue": ("B02", "blue", 10),
    "red": ("B04", "red", 10),
    "nir": ("B08", "nir", 10),
    "rededge1": ("B05", "rededge", 20),
    "nir08": ("B8A", "nir08", 20),
    "swir16": ("B11", "swir16", 20),
    "swir22": ("B12", "swir22", 20),
}
S2_COGS = "https://sentinel-cogs.s3.us-west-2.amazonaws.com/sentinel-s2-l2a-cogs/35/J/PM/2023/6/S2A_35JPM_20230601_0_L2A"


def _write_tif(path: Path, data: np.ndarray, *, res: float, nodata=None, scale=None, tiled=False):
    profile = {
        "driver": "GTiff",
        "width": data.shape[1],
        "height": data.shape[0],
        "count": 1,
        "dtype": data.dtype,
        "crs": CRS,
        "transform": from_origin(WEST, NORTH, res, res),
        "nodata": nodata,
    }
    if tiled:
        profile.update(tiled=True, blockxsize=16, blockysize=16)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if scale is not None:
            dst.scales, dst.offsets = (scale[0],), (scale[1],)


def _item(item_id, properties, assets, collection):
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": EXTENSIONS,
        "id": item_id,
        "collection": collection,
        "bbox": [27.0, -24.5, 27.2, -24.3],
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[27.0, -24.5], [27.2, -24.5], [27.2, -24.3], [27.0, -24.5]]],
        },
        "properties": properties,
        "links": [
            {"rel": "self", "href": f"https://example.test/stac/{collection}/items/{item_id}"},
            {"rel": "collection", "href": f"https://example.test/stac/collections/{collection}"},
        ],
        "assets": assets,
    }


def _write_item(path: Path, doc: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return path


@pytest.fixture
def landsat(tmp_path):
    """A Planetary Computer Landsat 8 C2 L2 item with local assets: (item path, doc, DNs)."""
    rng = np.random.default_rng(8)
    dns = {}
    assets = {}
    for key, (name, common, suffix) in LC_BANDS.items():
        dn = rng.integers(7273, 43636, size=(20, 20), dtype=np.uint16)
        dn[0, 0] = 0  # fill
        _write_tif(tmp_path / f"{LC_FILE}_{suffix}.TIF", dn, res=30, nodata=0)
        dns[key] = dn
        assets[key] = {
            "href": f"{LC_FILE}_{suffix}.TIF",
            "type": COG,
            "roles": ["data", "reflectance"],
            "eo:bands": [{"name": name, "common_name": common}],
            "raster:bands": [{**LC_SCALE, "spatial_resolution": 30, "unit": "reflectance"}],
        }
    for key, suffix, value in (("qa_pixel", "QA_PIXEL", 21824), ("qa_radsat", "QA_RADSAT", 0)):
        qa = np.full((20, 20), value, dtype=np.uint16)
        qa[0, 0] = 1 if key == "qa_pixel" else 64
        _write_tif(tmp_path / f"{LC_FILE}_{suffix}.TIF", qa, res=30)
        dns[key] = qa
        assets[key] = {
            "href": f"{LC_FILE}_{suffix}.TIF",
            "type": COG,
            "roles": ["cloud", "saturation"],
            "raster:bands": [{"unit": "bit index", "data_type": "uint16", "nodata": 1}],
        }
    # left remote, as served: none of these is a reflective band or a QA layer geo reads
    assets["lwir11"] = {
        "href": f"{PC_BLOB}_ST_B10.TIF",
        "type": COG,
        "roles": ["data", "temperature"],
        "eo:bands": [{"name": "TIRS_B10", "common_name": "lwir11"}],
        "raster:bands": [{"scale": 0.00341802, "offset": 149.0, "nodata": 0}],
    }
    assets["qa_aerosol"] = {"href": f"{PC_BLOB}_SR_QA_AEROSOL.TIF", "type": COG}
    assets["qa"] = {"href": f"{PC_BLOB}_ST_QA.TIF", "type": COG}
    assets["mtl.json"] = {"href": f"{PC_BLOB}_MTL.json", "type": "application/json"}
    assets["rendered_preview"] = {
        "href": "https://planetarycomputer.microsoft.com/api/data/v1/item/preview.png",
        "type": "image/png",
        "roles": ["overview"],
    }
    properties = {
        "datetime": "2023-06-01T08:05:12.345678Z",
        "platform": "landsat-8",
        "instruments": ["oli", "tirs"],
        "eo:cloud_cover": 3.27,
        "view:sun_elevation": 40.1,
        "view:sun_azimuth": 35.2,
        "landsat:correction": "L2SP",
        "landsat:wrs_path": "171",
        "landsat:wrs_row": "075",
        "proj:epsg": 32635,
    }
    doc = _item(LC_ID, properties, assets, "landsat-c2-l2")
    return _write_item(tmp_path / f"{LC_ID}.json", doc), doc, dns


@pytest.fixture
def sentinel2(tmp_path):
    """An Earth Search Sentinel-2 L2A item: 10 m bands 20x20 (16 px tiles), 20 m bands 10x10."""
    rng = np.random.default_rng(2)
    dns = {}
    assets = {}
    for key, (name, common, res) in S2_BANDS.items():
        size = 200 // res
        dn = rng.integers(1100, 6000, size=(size, size), dtype=np.uint16)
        if key == "swir16":  # linear across columns, so bilinear upsampling is exact inside
            dn = np.tile(1000 + 100 * np.arange(size, dtype=np.uint16), (size, 1))
        if key == "blue":
            dn[0, 0] = 0  # nodata inside the first 20 m block
        # no nodata in the files: the item's raster:bands nodata must drive masking
        _write_tif(tmp_path / f"{name}.tif", dn, res=res, tiled=res == 10)
        dns[key] = dn
        raster = {"nodata": 0, "data_type": "uint16", "bits_per_sample": 15}
        assets[key] = {
            "href": f"./{name}.tif",
            "type": COG,
            "roles": ["data", "reflectance"],
            "gsd": res,
            "eo:bands": [{"name": name, "common_name": common}],
            "raster:bands": [
                {**raster, "spatial_resolution": res, "scale": 0.0001, "offset": -0.1}
            ],
        }
        assets[f"{key}-jp2"] = {
            "href": f"s3://sentinel-s2-l2a/tiles/35/J/PM/2023/6/1/0/{name}.jp2",
            "type": "image/jp2",
            "roles": ["data", "reflectance"],
            "eo:bands": [{"name": name, "common_name": common}],
            "raster:bands": [{**raster, "scale": 0.0001, "offset": -0.1}],
        }
    scl = rng.integers(0, 12, size=(10, 10), dtype=np.uint8)
    _write_tif(tmp_path / "SCL.tif", scl, res=20, nodata=0)
    dns["scl"] = scl
    assets["scl"] = {
        "href": "SCL.tif",
        "type": COG,
        "roles": ["data", "reflectance"],
        "raster:bands": [{"nodata": 0, "data_type": "uint8", "spatial_resolution": 20}],
    }
    assets["visual"] = {
        "href": f"{S2_COGS}/TCI.tif",
        "type": COG,
        "roles": ["visual"],
        "eo:bands": [
            {"name": "B04", "common_name": "red"},
            {"name": "B03", "common_name": "green"},
            {"name": "B02", "common_name": "blue"},
        ],
    }
    assets["aot"] = {"href": f"{S2_COGS}/AOT.tif", "type": COG, "roles": ["data"]}
    assets["thumbnail"] = {"href": f"{S2_COGS}/preview.jpg", "roles": ["thumbnail"]}
    properties = {
        "datetime": "2023-06-01T08:12:34.567000Z",
        "platform": "sentinel-2a",
        "constellation": "sentinel-2",
        "instruments": ["msi"],
        "eo:cloud_cover": 1.5,
        "s2:processing_baseline": "05.09",
        "earthsearch:boa_offset_applied": True,
        "proj:epsg": 32635,
    }
    doc = _item("S2A_35JPM_20230601_0_L2A", properties, assets, "sentinel-2-l2a")
    return _write_item(tmp_path / "S2A_35JPM_20230601_0_L2A.json", doc), doc, dns


def _reflectance(dn, scale, offset):
    return dn.astype(np.float64) * scale + offset


def test_landsat_item_reads_scaled_reflectance_in_sensor_order(landsat):
    path, _, dns = landsat
    scene = open_stac_item(path)
    r = scene.reflectance
    assert list(r["band"].values) == ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
    assert r.dims == ("band", "y", "x") and r.dtype == np.float32
    assert r.chunks is not None, "the scene must stay lazy (dask-backed)"
    values = r.values
    for i, key in enumerate(LC_BANDS):  # nir08 -> nir, swir16 -> swir1, swir22 -> swir2
        expected = _reflectance(dns[key], 2.75e-05, -0.2)
        np.testing.assert_allclose(values[i][dns[key] > 0], expected[dns[key] > 0], atol=1e-6)
        assert np.isnan(values[i][0, 0]), "nodata 0 becomes NaN"
    assert r.sel(band="red").values[7, 3] == pytest.approx(
        dns["red"][7, 3] * 2.75e-05 - 0.2, abs=1e-6
    )
    assert np.isnan(r.rio.nodata)
    assert r.rio.crs == CRS and r.rio.resolution() == (30.0, -30.0)


def test_landsat_item_attrs_qa_metadata_and_files(landsat):
    path, _, dns = landsat
    scene = open_stac_item(path)
    attrs = scene.reflectance.attrs
    assert attrs["sensor"] == "landsat_oli" and attrs["platform"] == "LANDSAT_8"
    assert attrs["scene_id"] == LC_ID and attrs["date"] == "2023-06-01"
    assert attrs["processing_level"] == "L2SP"
    assert set(scene.qa) == {"qa_pixel", "qa_radsat"}
    np.testing.assert_array_equal(scene.qa["qa_pixel"].values, dns["qa_pixel"])
    np.testing.assert_array_equal(scene.qa["qa_radsat"].values, dns["qa_radsat"])
    m = scene.metadata
    assert m["product"] == "stac_item" and m["item"] == str(path)
    assert m["qa_kind"] == "landsat_c2" and m["qa_layers"] == ["qa_pixel", "qa_radsat"]
    assert m["cloud_cover"] == 3.27 and m["sun_elevation"] == 40.1
    assert m["shape"] == [20, 20] and m["crs"] == "EPSG:32635" and m["transform"][0] == 30.0
    swir1 = m["bands"]["swir1"]
    assert swir1["asset"] == "swir16" and swir1["file"] == str(path.parent / f"{LC_FILE}_SR_B6.TIF")
    assert (swir1["mult"], swir1["add"], swir1["resampling"]) == (2.75e-05, -0.2, "none")
    assert swir1["scale_source"] == "raster:bands"
    assert scene.files[0] == str(path) and len(scene.files) == 1 + 7 + 2
    assert all(Path(f).is_file() for f in scene.files), "remote assets are never listed"


def test_relative_file_and_absolute_hrefs_resolve_against_the_item(landsat, tmp_path, monkeypatch):
    _, doc, dns = landsat
    doc = copy.deepcopy(doc)
    assets = doc["assets"]
    for key in (*LC_BANDS, "qa_pixel", "qa_radsat"):
        assets[key]["href"] = f"../{assets[key]['href']}"
    assets["red"]["href"] = (tmp_path / f"{LC_FILE}_SR_B4.TIF").as_uri()
    assets["blue"]["href"] = str(tmp_path / f"{LC_FILE}_SR_B2.TIF")
    item = _write_item(tmp_path / "items" / "item.json", doc)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    scene = open_stac_item(item)
    assert scene.metadata["bands"]["green"]["file"] == str(tmp_path / f"{LC_FILE}_SR_B3.TIF")
    assert scene.metadata["bands"]["red"]["file"] == str(tmp_path / f"{LC_FILE}_SR_B4.TIF")
    np.testing.assert_allclose(
        scene.reflectance.sel(band="red").values[1:, :],
        _reflectance(dns["red"], 2.75e-05, -0.2)[1:, :],
        atol=1e-6,
    )


def test_is_stac_item(landsat, sentinel2, tmp_path, sample_product):
    assert is_stac_item(landsat[0]) and is_stac_item(sentinel2[0])
    search = {"type": "FeatureCollection", "features": [landsat[1]]}
    collection = {"type": "Collection", "stac_version": "1.0.0", "id": "landsat-c2-l2"}
    for name, doc in (("search.json", search), ("collection.json", collection)):
        assert not is_stac_item(_write_item(tmp_path / name, doc))
    (tmp_path / "broken.json").write_text("{not json")
    assert not is_stac_item(tmp_path / "broken.json")
    assert not is_stac_item(tmp_path / "missing.json")
    assert not is_stac_item(sample_product / f"{PRODUCT_ID}_MTL.json")
    assert not is_stac_item(tmp_path / f"{LC_FILE}_SR_B4.TIF")


def test_sentinel2_mixed_pixel_sizes_need_a_resolution(sentinel2):
    path, _, _ = sentinel2
    with pytest.raises(InvalidParameterError, match=r"10 m: blue, red, nir; 20 m: rededge1"):
        open_stac_item(path)
    with pytest.raises(InvalidParameterError, match=r"'resolution' parameter.*Got 60"):
        open_stac_item(path, resolution=60)


def test_sentinel2_at_20m_averages_the_10m_bands(sentinel2):
    path, _, dns = sentinel2
    scene = open_stac_item(path, resolution=20)
    r = scene.reflectance
    assert list(r["band"].values) == [
        "blue",
        "red",
        "rededge1",
        "nir",
        "nir_narrow",
        "swir1",
        "swir2",
    ]
    assert r.shape == (7, 10, 10) and r.rio.resolution() == (20.0, -20.0)
    blocks = dns["red"].astype(np.float64).reshape(10, 2, 10, 2).mean(axis=(1, 3))
    np.testing.assert_allclose(r.sel(band="red").values, blocks * 1e-4 - 0.1, atol=1e-6)
    blue = dns["blue"].astype(np.float64)
    valid_first = [blue[0, 1], blue[1, 0], blue[1, 1]]  # blue[0, 0] is nodata
    assert r.sel(band="blue").values[0, 0] == pytest.approx(
        np.mean(valid_first) * 1e-4 - 0.1, abs=1e-6
    )
    np.testing.assert_allclose(
        r.sel(band="swir2").values, _reflectance(dns["swir22"], 1e-4, -0.1), atol=1e-6
    )
    np.testing.assert_array_equal(scene.qa["scl"].values, dns["scl"])
    m = scene.metadata
    assert m["bands"]["red"]["resampling"] == "average"
    assert m["bands"]["swir2"]["resampling"] == "none"
    assert m["bands"]["nir_narrow"]["asset"] == "nir08"
    assert m["qa_assets"]["scl"]["resampling"] == "none"


def test_sentinel2_at_10m_upsamples_bilinear_and_scl_nearest_chunkwise(sentinel2):
    path, _, dns = sentinel2
    scene = open_stac_item(path, resolution=10, chunk=16)
    r = scene.reflectance
    assert r.shape == (7, 20, 20) and r.chunks[1:] == ((16, 4), (16, 4))
    np.testing.assert_allclose(
        r.sel(band="nir").values, _reflectance(dns["nir"], 1e-4, -0.1), atol=1e-6
    )
    assert np.isnan(r.sel(band="blue").values[0, 0]), "raster:bands nodata 0 becomes NaN"
    # swir16 DN = 1000 + 100 * col at 20 m; a 10 m pixel centre j sits at 20 m column (j - 0.5) / 2
    cols = np.arange(1, 19)
    expected = (1000 + 100 * (cols - 0.5) / 2) * 1e-4 - 0.1
    swir1 = r.sel(band="swir1").values
    np.testing.assert_allclose(swir1[1:19, 1:19], np.tile(expected, (18, 1)), atol=1e-6)
    scl = scene.qa["scl"]
    assert scl.dtype == np.uint8 and scl.shape == (20, 20)
    np.testing.assert_array_equal(scl.values, np.repeat(np.repeat(dns["scl"], 2, 0), 2, 1))
    m = scene.metadata
    assert m["bands"]["swir1"]["resampling"] == "bilinear"
    assert m["bands"]["blue"]["resampling"] == "none"
    assert m["qa_assets"]["scl"]["resampling"] == "nearest"


def test_sentinel2_attrs_roles_and_metadata(sentinel2):
    path, _, _ = sentinel2
    scene = open_stac_item(path, resolution=20)
    attrs = scene.reflectance.attrs
    assert attrs["sensor"] == "sentinel2_msi" and attrs["platform"] == "Sentinel-2A"
    assert attrs["date"] == "2023-06-01" and attrs["processing_level"] == "05.09"
    m = scene.metadata
    assert m["qa_kind"] == "sentinel2_scl" and m["qa_layers"] == ["scl"]
    assert m["bands"]["rededge1"]["asset"] == "rededge1", "B05 by band name, not 'rededge'"
    assert m["bands"]["blue"]["file"] == str(path.parent / "B02.tif"), "the COG, not the JP2"
    assert len(scene.files) == 1 + 7 + 1


def test_band_roles_from_band_names_and_keys_without_common_names(sentinel2):
    path, doc, _ = sentinel2
    doc = copy.deepcopy(doc)
    renamed = {}
    for key, asset in doc["assets"].items():  # Planetary Computer keys: B02, B8A, SCL...
        if key in S2_BANDS:  # B05 by key, B8A by common name, the others by band name
            name = asset["eo:bands"][0]["name"]
            bands = {"B05": [], "B8A": [{"common_name": "nir08"}]}
            asset["eo:bands"] = bands.get(name, [{"name": name}])
            renamed[name] = asset
        elif key == "scl":
            renamed["SCL"] = asset
        elif not key.endswith("-jp2"):
            renamed[key] = asset
    doc["assets"] = renamed
    scene = open_stac_item(_write_item(path, doc), resolution=20)
    assert list(scene.reflectance["band"].values)[2:5] == ["rededge1", "nir", "nir_narrow"]
    assert scene.metadata["bands"]["nir_narrow"]["asset"] == "B8A"
    assert set(scene.qa) == {"scl"}


def test_scale_from_the_file_and_stac_1_1_band_fields(landsat):
    path, doc, dns = landsat
    doc = copy.deepcopy(doc)
    del doc["assets"]["red"]["raster:bands"]  # no raster extension: the file's own scale
    with rasterio.open(path.parent / f"{LC_FILE}_SR_B4.TIF", "r+") as dst:
        dst.scales, dst.offsets = (2.75e-05,), (-0.2,)
    green = doc["assets"]["green"]  # STAC 1.1: one "bands" list, raster fields prefixed
    del green["eo:bands"], green["raster:bands"]
    green["bands"] = [{"name": "OLI_B3", "eo:common_name": "green"}]
    green.update({"raster:scale": 2.75e-05, "raster:offset": -0.2, "nodata": 0})
    coastal = _reflectance(dns["coastal"], 2.75e-05, -0.2).astype(np.float32)
    _write_tif(path.parent / f"{LC_FILE}_SR_B1.TIF", coastal, res=30)  # float: reflectance
    doc["assets"]["coastal"]["raster:bands"] = [{"data_type": "float32"}]
    scene = open_stac_item(_write_item(path, doc))
    bands = scene.metadata["bands"]
    assert bands["red"]["scale_source"] == "file" and bands["green"]["mult"] == 2.75e-05
    assert (bands["coastal"]["mult"], bands["coastal"]["add"]) == (1.0, 0.0)
    np.testing.assert_allclose(scene.reflectance.sel(band="coastal").values, coastal, atol=1e-6)
    for role, key in (("red", "red"), ("green", "green")):
        np.testing.assert_allclose(
            scene.reflectance.sel(band=role).values[1:, :],
            _reflectance(dns[key], 2.75e-05, -0.2)[1:, :],
            atol=1e-6,
        )


def test_local_gdal_archive_path_is_read_and_listed(landsat, tmp_path):
    path, doc, dns = landsat
    doc = copy.deepcopy(doc)
    archive = tmp_path / "bands.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(tmp_path / f"{LC_FILE}_SR_B4.TIF", arcname="SR_B4.TIF")
    (tmp_path / f"{LC_FILE}_SR_B4.TIF").unlink()
    doc["assets"]["red"]["href"] = f"/vsizip/{archive}/SR_B4.TIF"
    scene = open_stac_item(_write_item(path, doc))
    assert str(archive) in scene.files
    assert scene.metadata["bands"]["red"]["file"] == f"/vsizip/{archive}/SR_B4.TIF"
    red = scene.reflectance.sel(band="red").values
    assert red[5, 6] == pytest.approx(dns["red"][5, 6] * 2.75e-05 - 0.2, abs=1e-6)


def _set(doc, dotted, value):
    *parents, last = dotted.split(".")
    target = doc
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is None:
        del target[last]
    else:
        target[last] = value


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        (
            {"assets.red.href": f"{PC_BLOB}_SR_B4.TIF"},
            ProductError,
            r"asset 'red' \(red\) is remote .*Download the asset first",
        ),
        (
            {"assets.qa_pixel.href": f"/vsicurl/{PC_BLOB}_QA_PIXEL.TIF"},
            ProductError,
            r"asset 'qa_pixel' \(qa_pixel\) is remote",
        ),
        ({"properties.platform": "spot-7"}, ProductError, r"platform='spot-7'"),
        (
            {"properties.platform": "landsat-5", "properties.instruments": ["mss"]},
            ProductError,
            r"LANDSAT_5 items from the TM instrument only",
        ),
        (
            {
                "assets.swir22.raster:bands.0.scale": None,
                "assets.swir22.raster:bands.0.offset": None,
            },
            MetadataError,
            r"asset 'swir22' holds uint16 values with no scale or offset",
        ),
        ({"assets.red.href": "nowhere/SR_B4.TIF"}, InputNotFoundError, r"asset 'red' \(red\)"),
        (
            {"assets.blue.eo:bands": [{"name": "OLI_B4", "common_name": "red"}]},
            BandError,
            r"assets 'blue', 'red' all map to band role 'red'",
        ),
    ],
    ids=["https", "vsicurl", "platform", "mss", "no-scale", "missing-file", "duplicate-role"],
)
def test_bad_items_are_refused_naming_the_asset(landsat, change, error, match):
    path, doc, _ = landsat
    doc = copy.deepcopy(doc)
    for dotted, value in change.items():
        _set(doc, dotted, value)
    with pytest.raises(error, match=match):
        open_stac_item(_write_item(path, doc))


def test_non_item_json_and_wrong_resolution_are_refused(landsat, tmp_path):
    search = _write_item(tmp_path / "search.json", {"type": "FeatureCollection", "features": []})
    with pytest.raises(ProductError, match=r"not a STAC Item.*got type 'FeatureCollection'"):
        open_stac_item(search)
    with pytest.raises(InputNotFoundError, match="STAC item not found"):
        open_stac_item(tmp_path / "absent.json")
    with pytest.raises(InvalidParameterError, match=r"\(30 m: coastal.*Got 10 instead"):
        open_stac_item(landsat[0], resolution=10)
