"""One entry point for every product, `geo info` on each, and scenes stacked on one grid."""

import json
import zipfile

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from geo.cli.main import main
from geo.io.readers import open_scene
from geo.io.stack import common_grid, reproject_to_grid, stack_scenes
from geo.io.writers import RasterLayer, write_rasters
from tests.conftest import PRODUCT_ID, ROOT

from .test_io_sentinel2 import make_l2a, write_jp2
from .test_io_stac import landsat  # noqa: F401  (fixture)


def zip_folder(folder, dst):
    with zipfile.ZipFile(dst, "w") as z:
        for f in sorted(folder.rglob("*")):
            z.write(f, f.relative_to(folder.parent).as_posix())
    return dst


@pytest.fixture(scope="module")
def safe(tmp_path_factory):
    return make_l2a(tmp_path_factory.mktemp("s2"))


def test_sentinel2_forms_are_detected(safe, tmp_path):
    folder = open_scene(safe)
    assert folder.reflectance.attrs["sensor"] == "sentinel2_msi"
    assert folder.metadata[
        "qa_kind"
    ] == "sentinel2_scl" and folder.reflectance.rio.resolution() == (20.0, -20.0)
    xml = open_scene(safe / "MTD_MSIL2A.xml")
    archive = open_scene(zip_folder(safe, tmp_path / f"{safe.stem}.zip"))
    for other in (xml, archive):
        np.testing.assert_array_equal(other.reflectance.values, folder.reflectance.values)
    at10 = open_scene(safe, resolution=10)
    assert at10.reflectance.rio.resolution() == (10.0, -10.0)


def test_stac_item_is_detected(landsat):  # noqa: F811
    item_path = landsat[0]
    scene = open_scene(item_path)
    assert (
        scene.metadata["product"] == "stac_item"
        and scene.reflectance.attrs["sensor"] == "landsat_oli"
    )


def test_geo_info_on_sentinel2_shows_baseline_offsets_and_resampling(safe):
    result = CliRunner().invoke(main, ["info", str(safe)])
    assert result.exit_code == 0, result.stderr
    assert "baseline   05.09" in result.output
    assert "sentinel2_msi (Sentinel-2A)" in result.output
    assert "x 0.0001 + -0.1" in result.output  # (DN - 1000) / 10000
    assert "average" in result.output and "bilinear" in result.output


def test_pipeline_runs_on_a_sentinel2_product(safe, tmp_path):
    import shutil

    product = tmp_path / safe.name
    shutil.copytree(safe, product)
    scl_file = next(product.rglob("*_SCL_20m.jp2"))
    scl = np.full((30, 30), 5, dtype="uint8")  # bare soil, what geology keeps
    scl[:6, :] = 9  # cloud, high probability: 20 % of the tile
    scl[20:23, 10:20] = 4  # vegetation
    write_jp2(scl_file, scl, 20.0)
    out = tmp_path / "s2"
    # the fixture's DNs are random per band, so spectral masks would remove most pixels:
    # switch them off and let the SCL decide
    doc = yaml.safe_load((ROOT / "pipelines" / "sentinel2_alteration.yaml").read_text())
    doc["masks"].update(ndvi_max=None, mndwi_max=None, dark_albedo=None, buffer_px=0)
    doc["inputs"].pop("licences")
    doc["zones"]["min_area_ha"] = 0.1
    pipeline = tmp_path / "s2.yaml"
    pipeline.write_text(yaml.safe_dump(doc))
    result = CliRunner().invoke(
        main, ["run", str(pipeline), "--scene", str(product), "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scene"]["sensor"] == "sentinel2_msi"
    assert manifest["scene"]["bands"]["blue"]["resampling"].startswith("average")
    assert manifest["scene"]["bands"]["coastal"]["resampling"].startswith("bilinear")
    rules = manifest["masks"]["rules"]
    assert rules["cloud"]["fraction"] == pytest.approx(180 / 900, abs=1e-6)
    assert rules["vegetation"]["fraction"] == pytest.approx(30 / 900, abs=1e-6)
    assert manifest["indices"]["s2_hematite_goethite"] == "rededge2 / coastal"


def test_stack_two_utm_zones_on_one_grid(tmp_path, sample_product):
    scene = open_scene(sample_product)
    # the same ground in the neighbouring UTM zone (34S), written as a plain GeoTIFF
    grid34 = common_grid([scene.reflectance], crs="EPSG:32734", resolution=30)
    other = reproject_to_grid(scene.reflectance, grid34, resampling="bilinear")
    write_rasters({"zone34": RasterLayer(other)}, tmp_path)
    scene34 = open_scene(tmp_path / "zone34.tif", sensor="landsat_oli")
    assert scene34.reflectance.rio.crs == "EPSG:32734"
    stacked = stack_scenes([scene, scene34], crs="EPSG:32635", resolution=30)
    assert stacked.dims == ("scene", "band", "y", "x") and stacked.rio.crs == "EPSG:32635"
    assert list(stacked["scene"].values) == [PRODUCT_ID, "zone34"]
    values = stacked.values
    a, b = values[0], values[1]
    both = np.isfinite(a) & np.isfinite(b)
    assert both.mean() > 0.5
    # two bilinear resamplings of the same ground agree closely on smooth terrain
    assert np.nanmedian(np.abs(a[both] - b[both])) < 0.01
    # the first scene is on its own grid again: identical values where the grids coincide
    same = np.isfinite(scene.reflectance.values)
    left, _, _, top = scene.reflectance.rio.bounds()
    gx, gy = stacked.rio.transform().c, stacked.rio.transform().f
    r0, c0 = round((gy - top) / 30), round((left - gx) / 30)
    window = a[:, r0 : r0 + 600, c0 : c0 + 600]
    np.testing.assert_allclose(window[same], scene.reflectance.values[same], rtol=1e-5, atol=1e-6)


def test_stack_refuses_a_resolution_in_the_wrong_units(sample_product):
    from geo.errors import InvalidParameterError

    scene = open_scene(sample_product)
    with pytest.raises(
        InvalidParameterError, match="check that --resolution is in the units of --crs"
    ):
        stack_scenes([scene], crs="EPSG:32735", resolution=0.0001)


def test_geo_stack_cli(tmp_path, sample_product):
    out = tmp_path / "stack"
    result = CliRunner().invoke(
        main,
        [
            "stack",
            str(sample_product),
            "--crs",
            "EPSG:32734",
            "--resolution",
            "60",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["crs"] == "EPSG:32734" and manifest["bands"][0] == "coastal"
    back = open_scene(out / f"{PRODUCT_ID}.tif")  # band descriptions carry the roles
    assert back.reflectance.rio.resolution() == (60.0, -60.0)
    missing = CliRunner().invoke(
        main, ["stack", str(sample_product), "--resolution", "30", "--out", str(out)]
    )
    assert missing.exit_code == 2 and "--crs" in missing.output + missing.stderr


def test_aster_after_the_swir_failure_refuses_swir_indices_but_keeps_vnir(tmp_path):
    from geo.errors import InvalidParameterError
    from geo.spectral.indices import compute_indices

    from .test_io_aster import NORMAL, make_l1t, odl

    granule = "AST_L1T_00306152009104513_20150428235500_35366"  # acquired 2009-06-15
    folder = make_l1t(tmp_path, granule=granule, metadata=odl(date="2009-06-15", gains=NORMAL))
    scene = open_scene(folder)
    assert scene.reflectance.attrs["sensor"] == "aster"
    with pytest.raises(
        InvalidParameterError, match=r"'clay_hydroxyl'.*acquired 2009-06-15.*SWIR detector failure"
    ):
        compute_indices(scene.reflectance, ["ferric_iron", "clay_hydroxyl"])
    assert compute_indices(scene.reflectance, ["ferric_iron", "ndvi"]).sizes["index"] == 2
    info = CliRunner().invoke(main, ["info", str(folder)])
    assert info.exit_code == 0, info.stderr
    assert "unusable   swir1,swir2165" in info.output
