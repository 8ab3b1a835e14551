"""Landsat C2 L2 ingest: every entry form gives the same scene, scaled from the L2 group."""

import tarfile

import numpy as np
import pytest
import rasterio

from geo.errors import GridMismatchError, InputNotFoundError, MetadataError, ProductError
from geo.io.readers import open_scene
from tests.conftest import PRODUCT_ID


@pytest.fixture(scope="module")
def folder_scene(sample_product):
    return open_scene(sample_product)


def test_reflectance_is_dn_times_l2_mult_plus_add(folder_scene, sample_product):
    r = folder_scene.reflectance
    assert list(r["band"].values) == ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
    assert r.dims == ("band", "y", "x") and r.dtype == np.float32
    assert r.chunks is not None, "the scene must stay lazy (dask-backed)"
    with rasterio.open(sample_product / f"{PRODUCT_ID}_SR_B4.TIF") as src:
        dn = src.read(1)
    red = r.sel(band="red").values
    row, col = np.argwhere(dn > 0)[1234]
    assert red[row, col] == pytest.approx(dn[row, col] * 2.75e-5 - 0.2, abs=1e-6)
    # the Level-1 group of the same MTL says 2.0e-05 / -0.1; those must not be used
    assert red[row, col] != pytest.approx(dn[row, col] * 2.0e-5 - 0.1, abs=1e-4)
    assert np.isnan(red[dn == 0]).all() and np.isfinite(red[dn > 0]).all()


def test_attrs_crs_and_metadata(folder_scene):
    r, m = folder_scene.reflectance, folder_scene.metadata
    assert r.attrs["sensor"] == "landsat_oli" and r.attrs["platform"] == "LANDSAT_8"
    assert r.attrs["scene_id"] == PRODUCT_ID and r.attrs["date"] == "2023-06-01"
    assert r.rio.crs == "EPSG:32635" and r.rio.resolution() == (30.0, -30.0)
    assert r.rio.bounds()[1] < 0, "southern scene: negative northings in a north zone"
    assert set(folder_scene.qa) == {"qa_pixel", "qa_radsat"}
    assert m["bands"]["swir2"] == {
        "band": "7",
        "file": f"{PRODUCT_ID}_SR_B7.TIF",
        "mult": 2.75e-05,
        "add": -0.2,
        "group": "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS",
    }
    assert m["calibration"] == "c2_l2_surface_reflectance" and r.attrs["units"].startswith(
        "surface"
    )
    assert m["processing_level"] == "L2SR" and m["sun_elevation"] > 0


@pytest.mark.parametrize("entry", ["mtl_txt", "mtl_json", "tar"])
def test_every_entry_form_gives_the_same_scene(tmp_path, sample_product, folder_scene, entry):
    if entry == "mtl_txt":
        path = sample_product / f"{PRODUCT_ID}_MTL.txt"
    elif entry == "mtl_json":
        path = sample_product / f"{PRODUCT_ID}_MTL.json"
    else:
        path = tmp_path / f"{PRODUCT_ID}.tar"
        with tarfile.open(path, "w") as tar:  # USGS delivers an uncompressed tar of the files
            for f in sorted(sample_product.iterdir()):
                tar.add(f, arcname=f.name)
    scene = open_scene(path)
    np.testing.assert_array_equal(scene.reflectance.values, folder_scene.reflectance.values)
    np.testing.assert_array_equal(scene.qa["qa_pixel"].values, folder_scene.qa["qa_pixel"].values)

    def plain(attrs):
        return {k: v for k, v in attrs.items() if k != "_FillValue"}  # NaN != NaN

    assert plain(scene.reflectance.attrs) == plain(folder_scene.reflectance.attrs)
    assert np.isnan(scene.reflectance.rio.nodata)
    if entry == "tar":
        assert not any(p.suffix.upper() == ".TIF" for p in tmp_path.iterdir()), (
            "nothing is extracted"
        )
        assert scene.files == [str(path)]


def test_folder_without_mtl_and_two_products(tmp_path, product_copy):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ProductError, match=r"not a product folder geo recognises: it is empty"):
        open_scene(empty)
    other = product_copy / "LC09_L2SP_167041_20230317_20230320_02_T1_MTL.json"
    other.write_text((product_copy / f"{PRODUCT_ID}_MTL.json").read_text())
    with pytest.raises(ProductError, match="holds several products"):
        open_scene(product_copy)


def test_level1_product_gives_toa_reflectance_from_the_l1_group(product_copy, sample_product):
    (product_copy / f"{PRODUCT_ID}_MTL.json").unlink()
    mtl = product_copy / f"{PRODUCT_ID}_MTL.txt"
    text = mtl.read_text().replace('"L2SR"', '"L1TP"')
    text = text.replace("GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "GROUP = UNUSED_L2")
    mtl.write_text(
        text.replace("END_GROUP = LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "END_GROUP = UNUSED_L2")
    )
    scene = open_scene(product_copy)
    elevation = scene.metadata["sun_elevation"]
    with rasterio.open(sample_product / f"{PRODUCT_ID}_SR_B4.TIF") as src:
        dn = src.read(1)
    row, col = np.argwhere(dn > 0)[777]
    expected = (2.0e-5 * dn[row, col] - 0.1) / np.sin(np.radians(elevation))  # MTL L1 group
    assert scene.reflectance.sel(band="red").values[row, col] == pytest.approx(expected, rel=1e-6)
    assert scene.metadata["calibration"] == "c2_l1_toa_reflectance"
    assert scene.reflectance.attrs["units"].startswith("TOA")


def test_level2_mtl_without_its_group_is_refused(product_copy):
    (product_copy / f"{PRODUCT_ID}_MTL.txt").unlink()
    mtl = product_copy / f"{PRODUCT_ID}_MTL.json"
    mtl.write_text(mtl.read_text().replace("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", "X"))
    with pytest.raises(MetadataError, match=r"PROCESSING_LEVEL is L2SR but the MTL has no"):
        open_scene(product_copy)


def test_wrong_spacecraft_and_missing_scale_key(product_copy):
    (product_copy / f"{PRODUCT_ID}_MTL.txt").unlink()
    mtl = product_copy / f"{PRODUCT_ID}_MTL.json"
    original = mtl.read_text()
    mtl.write_text(original.replace('"LANDSAT_8"', '"LANDSAT_3"'))
    with pytest.raises(ProductError, match="SPACECRAFT_ID is 'LANDSAT_3'"):
        open_scene(product_copy)
    mtl.write_text(
        original.replace('"REFLECTANCE_MULT_BAND_5": "2.75', '"REFLECTANCE_MULTI_BAND_5": "2.75')
    )
    with pytest.raises(
        MetadataError,
        match="LEVEL2_SURFACE_REFLECTANCE_PARAMETERS/REFLECTANCE_MULT_BAND_5 is missing",
    ):
        open_scene(product_copy)


def test_band_on_another_grid_is_rejected(product_copy):
    band = product_copy / f"{PRODUCT_ID}_SR_B3.TIF"
    with rasterio.open(band) as src:
        profile, data = src.profile, src.read()
    profile["transform"] = profile["transform"] * rasterio.Affine.translation(1, 0)
    with rasterio.open(band, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(
        GridMismatchError,
        match=r"band 3 \(green\) .*_SR_B3.TIF is on a different pixel grid from band 1",
    ):
        open_scene(product_copy)


def test_missing_tar_member(tmp_path, sample_product):
    path = tmp_path / "partial.tar"
    with tarfile.open(path, "w") as tar:
        for f in sorted(sample_product.iterdir()):
            if not f.name.endswith("_SR_B7.TIF"):
                tar.add(f, arcname=f.name)
    with pytest.raises(InputNotFoundError, match=r"no member .*_SR_B7.TIF"):
        open_scene(path)
