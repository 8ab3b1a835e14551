"""ASTER ingest: hand-computed TOA reflectance, one 30 m grid, AST_07XT scale from the file,
the 2008-04-01 SWIR rule, and errors that name what was seen.

Products are built in tmp_path in the LP DAAC GeoTIFF layout (one GeoTIFF per band, ODL
metadata with the real object names GAIN / SOLARDIRECTION / CALENDARDATE) and, when pyhdf is
installed, as an HDF4 granule.
"""

import logging
import math
import sys
import zipfile

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from geo.errors import InvalidParameterError, MetadataError, ProductError
from geo.io.readers.aster import is_aster, open_aster

CRS = "EPSG:32611"
ORIGIN = (500_000.0, 4_000_000.0)  # upper-left corner of both grids (they nest 2 x 2)
GRANULE = "AST_L1T_00306042003004247_20150428235500_35366"  # acquired 2003-06-04, day 155
VNIR = ("1", "2", "3N")
SWIR = ("4", "5", "6", "7", "8", "9")
SWIR_ROLES = "swir1,swir2165,swir2205,swir2260,swir2330,swir2395"
SUN = (150.0, 62.5)  # SOLARDIRECTION (azimuth, elevation)
NORMAL = dict.fromkeys(VNIR + SWIR, "NOR")

# Hand computation, DOMAIN.md §1.5: L = (DN - 1) UCC; rho = pi L d^2 / (ESUN sin(elevation)),
# d = 1 - 0.01672 cos(0.9856 (DOY - 4) degrees); 2003-06-04 is day 155.
D = 1 - 0.01672 * math.cos(math.radians(0.9856 * (155 - 4)))
SIN_ELEVATION = math.sin(math.radians(62.5))
UCC = {("2", "HGH"): 0.708, ("2", "NOR"): 1.415, ("4", "NOR"): 0.2174, ("4", "LO1"): 0.290}
ESUN = {"2": 1549.0, "4": 225.4}


def toa(dn, band, gain):
    return math.pi * (dn - 1) * UCC[band, gain] * D**2 / (ESUN[band] * SIN_ELEVATION)


def dn_arrays(seed=0):
    """DN per band: VNIR 40 x 40, SWIR 20 x 20, with known pixels in band 2 and band 4."""
    rng = np.random.default_rng(seed)
    arrays = {b: rng.integers(2, 256, (40, 40)).astype("uint8") for b in VNIR}
    arrays |= {b: rng.integers(2, 256, (20, 20)).astype("uint8") for b in SWIR}
    arrays["2"][0:2, 0:2] = [[10, 20], [30, 40]]  # 30 m pixel (0, 0): mean of four
    arrays["2"][0:2, 2:4] = [[0, 50], [60, 70]]  # 30 m pixel (0, 1): one fill, mean of three
    arrays["2"][2:4, 0:2] = 0  # 30 m pixel (1, 0): all fill
    arrays["4"][0, 0:3] = [0, 1, 200]  # fill, radiance 0, a value
    return arrays


def write_band(path, data, res, *, origin=ORIGIN, scale=None, tags=None):
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1}
    profile |= {"dtype": data.dtype, "crs": CRS, "transform": from_origin(*origin, res, res)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if scale is not None:
            dst.scales = (scale,)
        if tags:
            dst.update_tags(1, **tags)


def odl(*, date="2003-06-04", gains=None, sun=SUN, objects=None):
    """ECS ODL metadata as in the .met / productmetadata text."""
    lines = ["GROUP                  = INVENTORYMETADATA", "  GROUPTYPE = MASTERGROUP"]
    for name, value in (objects or {}).items():
        lines += [f"  OBJECT = {name}", f"    VALUE = {value}", f"  END_OBJECT = {name}"]
    if date is not None:
        lines += ["  OBJECT = CALENDARDATE", "    NUM_VAL = 1", f'    VALUE = "{date}"']
        lines += ["  END_OBJECT = CALENDARDATE"]
    for i, (band, code) in enumerate((gains or {}).items(), 1):
        lines += ["  OBJECT = GAININFORMATIONCONTAINER", f'    CLASS = "{i}"', "    OBJECT = GAIN"]
        lines += [f'      CLASS = "{i}"', "      NUM_VAL = 2"]
        lines += [f'      VALUE = ("{band.zfill(2)}", "{code}")', "    END_OBJECT = GAIN"]
        lines += ["  END_OBJECT = GAININFORMATIONCONTAINER"]
    if sun is not None:  # a tuple value continued on the next line
        lines += ["  OBJECT = SOLARDIRECTION", "    NUM_VAL = 2", f"    VALUE = ({sun[0]},"]
        lines += [f"             {sun[1]})", "  END_OBJECT = SOLARDIRECTION"]
    return "\n".join([*lines, "END_GROUP              = INVENTORYMETADATA", "END", ""])


def make_l1t(root, *, granule=GRANULE, gains=None, arrays=None, metadata=None, vnir_origin=ORIGIN):
    """An AST_L1T GeoTIFF delivery: band files, the .met, and a browse composite to ignore."""
    folder = root / granule
    folder.mkdir(parents=True)
    arrays = dn_arrays() if arrays is None else arrays
    for band in VNIR:
        path = folder / f"{granule}.VNIR_Swath.ImageData{band}.tif"
        write_band(path, arrays[band], 15.0, origin=vnir_origin)
    for band in SWIR:
        write_band(folder / f"{granule}.SWIR_Swath.ImageData{band}.tif", arrays[band], 30.0)
    write_band(folder / f"{granule}_V.tif", np.full((40, 40), 255, "uint8"), 15.0)
    text = odl(gains=gains or NORMAL) if metadata is None else metadata
    (folder / f"{granule}.hdf.met").write_text(text)
    return folder


@pytest.fixture(scope="module")
def l1t_folder(tmp_path_factory):
    gains = NORMAL | {"2": "HGH", "4": "NOR"}
    return make_l1t(tmp_path_factory.mktemp("l1t"), gains=gains)


@pytest.fixture(scope="module")
def l1t(l1t_folder):
    return open_aster(l1t_folder)


def test_is_aster_by_name(tmp_path, l1t_folder):
    assert is_aster(l1t_folder) and is_aster(l1t_folder / f"{GRANULE}.hdf.met")
    assert is_aster(tmp_path / "AST_07XT_00404082004040535_20250325113927.zip")
    assert not is_aster(tmp_path / "LC08_L2SP_171075_20230601_20230607_02_T1_MTL.txt")
    assert not is_aster(tmp_path / "AST_L1T_00313992003004247_20150428235500_1.hdf")  # month 13
    (tmp_path / "other").mkdir()
    assert not is_aster(tmp_path / "other")


@pytest.mark.parametrize(
    ("gain_red", "gain_swir1"), [("HGH", "NOR"), ("NOR", "LO1")], ids=["HGH-NOR", "NOR-LO1"]
)
def test_toa_reflectance_matches_hand_computation(tmp_path, gain_red, gain_swir1):
    folder = make_l1t(tmp_path, gains=NORMAL | {"2": gain_red, "4": gain_swir1})
    scene = open_aster(folder, resolution=15.0)  # VNIR on its own grid: pixel for pixel
    red, swir1 = scene.reflectance.sel(band="red"), scene.reflectance.sel(band="swir1")
    assert float(red[0, 1]) == pytest.approx(toa(20, "2", gain_red), abs=1e-6)
    assert float(red[1, 1]) == pytest.approx(toa(40, "2", gain_red), abs=1e-6)
    native = open_aster(folder).reflectance.sel(band="swir1")  # SWIR on its own grid
    assert float(native[0, 2]) == pytest.approx(toa(200, "4", gain_swir1), abs=1e-6)
    bands = scene.metadata["bands"]
    assert bands["red"]["gain"] == gain_red and bands["red"]["esun"] == 1549.0
    assert bands["swir1"]["ucc"] == UCC["4", gain_swir1]
    assert bands["red"]["add"] == pytest.approx(-bands["red"]["mult"])
    assert np.isnan(swir1[0, 0]) and scene.metadata["earth_sun_distance"] == pytest.approx(D)


def test_30m_grid_is_the_swir_grid_and_vnir_is_the_nan_aware_2x2_mean(l1t):
    r = l1t.reflectance
    assert r.dims == ("band", "y", "x") and r.dtype == np.float32 and r.shape == (9, 20, 20)
    assert r.chunks is not None, "the scene must stay lazy (dask-backed)"
    assert list(r["band"].values) == [
        "green",
        "red",
        "nir",
        *SWIR_ROLES.split(","),
    ]
    assert r.rio.crs == CRS and r.rio.resolution() == (30.0, -30.0)
    assert tuple(r.rio.transform())[:6] == (30.0, 0.0, ORIGIN[0], 0.0, -30.0, ORIGIN[1])
    red = r.sel(band="red").values
    assert red[0, 0] == pytest.approx(np.mean([toa(v, "2", "HGH") for v in (10, 20, 30, 40)]))
    assert red[0, 1] == pytest.approx(np.mean([toa(v, "2", "HGH") for v in (50, 60, 70)]))
    assert np.isnan(red[1, 0]), "a 30 m pixel whose four 15 m pixels are fill is NaN"
    bands = l1t.metadata["bands"]
    assert bands["red"]["resampling"] == "average" and bands["red"]["native_resolution_m"] == 15.0
    assert bands["swir1"]["resampling"] == "none" and bands["swir1"]["native_resolution_m"] == 30.0


def test_fill_dn0_is_nan_and_dn1_is_zero_reflectance(l1t):
    swir1 = l1t.reflectance.sel(band="swir1").values
    assert np.isnan(swir1[0, 0]) and swir1[0, 1] == 0.0
    assert np.isfinite(swir1[1:]).all()


def test_attrs_and_metadata(l1t, l1t_folder):
    r, m = l1t.reflectance, l1t.metadata
    assert r.attrs["sensor"] == "aster" and r.attrs["platform"] == "TERRA"
    assert r.attrs["scene_id"] == GRANULE and r.attrs["date"] == "2003-06-04"
    assert r.attrs["processing_level"] == "L1T" and r.attrs["units"] == "TOA reflectance"
    assert np.isnan(r.rio.nodata) and "unusable_bands" not in r.attrs
    assert m["product"] == "aster_l1t" and m["sun_elevation"] == 62.5 and m["sun_azimuth"] == 150
    assert m["date_source"].endswith(".hdf.met") and m["swir_failure"] is None
    assert m["qa_layers"] == [] and m["qa_kind"] is None and l1t.qa == {}
    assert m["shape"] == [20, 20] and m["crs"] == CRS
    assert f"{GRANULE}_V.tif" not in " ".join(l1t.files), "the browse composite is not read"
    assert str(l1t_folder / f"{GRANULE}.SWIR_Swath.ImageData9.tif") in l1t.files


def test_15m_grid_upsamples_swir_bilinearly(l1t_folder):
    scene = open_aster(l1t_folder, resolution=15.0)
    r = scene.reflectance
    assert r.shape == (9, 40, 40) and r.rio.resolution() == (15.0, -15.0)
    swir = open_aster(l1t_folder).reflectance.sel(band="swir2205").values
    # 15 m pixel (row 4, col 5) has its centre at SWIR position (1.75, 2.25): rows 1/2 weigh
    # 0.25/0.75 and columns 2/3 weigh 0.75/0.25.
    expected = np.array([0.25, 0.75]) @ swir[1:3, 2:4] @ np.array([0.75, 0.25])
    assert float(r.sel(band="swir2205")[4, 5]) == pytest.approx(expected, rel=1e-6)
    # at the edge only the pixel inside the grid contributes: the corner keeps its value
    assert float(r.sel(band="swir2205")[0, 0]) == pytest.approx(swir[0, 0], rel=1e-6)
    methods = {role: b["resampling"] for role, b in scene.metadata["bands"].items()}
    assert methods == {"green": "none", "red": "none", "nir": "none"} | dict.fromkeys(
        SWIR_ROLES.split(","), "bilinear"
    )


def test_centre_aligned_vnir_grid_is_area_weighted(tmp_path):
    # VNIR pixel centres on the SWIR ones (Landsat-style grids, and the HDF convention):
    # a 30 m pixel covers 3 x 3 VNIR pixels with weights 1/4, 1/2, 1/4 per axis.
    arrays = dn_arrays()
    folder = make_l1t(tmp_path, arrays=arrays, vnir_origin=(ORIGIN[0] + 7.5, ORIGIN[1] - 7.5))
    red = open_aster(folder).reflectance.sel(band="red").values
    assert red[3, 4] == pytest.approx(area_weighted(arrays["2"], 5, 7), rel=1e-6)


def area_weighted(dn, row, col):
    """Red (NOR) reflectance averaged over VNIR rows/cols row..row+2, col..col+2 by area."""
    weights = np.outer([0.5, 1, 0.5], [0.5, 1, 0.5])
    window = np.vectorize(lambda v: toa(v, "2", "NOR"))(dn[row : row + 3, col : col + 3])
    return (window * weights).sum() / weights.sum()


def test_zip_delivery_reads_in_place(tmp_path, l1t_folder, l1t):
    path = tmp_path / f"{GRANULE}.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for f in sorted(l1t_folder.iterdir()):
            archive.write(f, arcname=f.name)
    scene = open_aster(path)
    np.testing.assert_array_equal(scene.reflectance.values, l1t.reflectance.values)
    assert scene.files == [str(path)]


def write_07xt(root, *, scale=0.001, tags=None, acquired="06042003004247"):
    """An AST_07XT GeoTIFF delivery: a VNIR and a SWIR granule one second apart."""
    folder = root / "07xt"
    folder.mkdir(parents=True)
    vnir, swir = (f"AST_07XT_003{acquired}_2021010100000{i}_100{i}" for i in (0, 1))
    dn = {b: np.full((40, 40), 400, "int16") for b in VNIR}
    dn |= {b: np.full((20, 20), 250, "int16") for b in SWIR}
    dn["4"][3, 4] = 873
    dn["4"][0, 0] = 0
    for band in VNIR:
        write_band(folder / f"{vnir}.VNIR_Band{band}.tif", dn[band], 15.0, scale=scale, tags=tags)
    for band in SWIR:
        write_band(folder / f"{swir}.SWIR_Band{band}.tif", dn[band], 30.0, scale=scale, tags=tags)
    for granule in (vnir, swir):
        (folder / f"{granule}.hdf.met").write_text(odl(sun=None))
    return folder


@pytest.mark.parametrize("scale", [0.001, 0.0001])
def test_07xt_surface_reflectance_uses_the_scale_in_the_file(tmp_path, scale):
    scene = open_aster(write_07xt(tmp_path, scale=scale))
    r, m = scene.reflectance, scene.metadata
    swir1 = r.sel(band="swir1").values
    assert swir1[3, 4] == pytest.approx(873 * scale, rel=1e-6) and np.isnan(swir1[0, 0])
    assert float(r.sel(band="red")[5, 5]) == pytest.approx(400 * scale, rel=1e-6)
    assert r.attrs["processing_level"] == "AST_07XT" and r.attrs["units"] == "surface reflectance"
    assert m["product"] == "aster_07xt" and len(m["granules"]) == 2
    assert m["bands"]["swir1"]["mult"] == scale and m["bands"]["swir1"]["ucc"] is None
    assert m["bands"]["swir1"]["scale_source"] == "GDAL band scale/offset"
    assert m["earth_sun_distance"] is None and m["sun_elevation"] is None


def test_07xt_scale_from_a_tag_and_refused_when_absent(tmp_path):
    tagged = open_aster(write_07xt(tmp_path / "a", scale=None, tags={"scale_factor": "0.0001"}))
    assert tagged.metadata["bands"]["red"]["scale_source"] == "scale_factor tag"
    assert float(tagged.reflectance.sel(band="red")[0, 0]) == pytest.approx(0.04, rel=1e-6)
    with pytest.raises(MetadataError, match=r"carries no reflectance scale factor.*not guess"):
        open_aster(write_07xt(tmp_path / "b", scale=None))


@pytest.mark.parametrize(
    ("stamp", "iso", "flagged"),
    [
        ("12312007104513", "2007-12-31", False),
        ("03312008104513", "2008-03-31", False),
        ("04012008104513", "2008-04-01", True),
    ],
)
def test_swir_failure_rule(tmp_path, caplog, stamp, iso, flagged):
    granule = f"AST_L1T_003{stamp}_20150428235500_35366"
    folder = make_l1t(tmp_path, granule=granule, metadata=odl(date=iso, gains=NORMAL))
    with caplog.at_level(logging.WARNING, logger="geo.io.readers.aster"):
        scene = open_aster(folder)
    r = scene.reflectance
    assert r.attrs["date"] == iso and r.sizes["band"] == 9, "SWIR bands are still returned"
    if flagged:
        assert r.attrs["unusable_bands"] == SWIR_ROLES
        assert scene.metadata["swir_failure"] == {
            "acquired": "2008-04-01",
            "rule": "ASTER SWIR detector failure, data from 2008-04-01 on are refused for SWIR "
            "indices (ASTER SWIR User Advisory 2008)",
        }
        assert "marked unusable" in caplog.text
    else:
        assert "unusable_bands" not in r.attrs and scene.metadata["swir_failure"] is None
        assert "unusable" not in caplog.text


@pytest.mark.parametrize(
    ("metadata", "error", "match"),
    [
        (odl(gains=NORMAL | {"4": "XYZ"}), MetadataError, r"band 4 has gain code 'XYZ'"),
        (odl(gains=NORMAL | {"1": "LO2"}), MetadataError, r"band 1 reports gain LO2"),
        (
            odl(gains={k: v for k, v in NORMAL.items() if k != "9"}),
            MetadataError,
            r"no GAIN for band 9 in .*\.hdf\.met \(gains seen: 1=NOR",
        ),
        (odl(gains=NORMAL, sun=None), MetadataError, r"no SOLARDIRECTION .* sun elevation"),
        (odl(gains=NORMAL, sun=(150.0, -3.0)), MetadataError, r"sun elevation .* is -3.0"),
        (
            odl(gains=NORMAL, date="20030605"),
            MetadataError,
            r"CALENDARDATE is 2003-06-05 but the granule name .* says 2003-06-04",
        ),
    ],
    ids=["unknown-gain", "vnir-low2", "missing-gain", "no-sun", "night", "other-date"],
)
def test_metadata_errors_name_the_file_and_the_value(tmp_path, metadata, error, match):
    with pytest.raises(error, match=match):
        open_aster(make_l1t(tmp_path, metadata=metadata))


def test_metadata_files_that_disagree_are_refused(tmp_path):
    folder = make_l1t(tmp_path)
    (folder / f"{GRANULE}_productmetadata.txt").write_text(odl(sun=(150.0, 40.0)))
    with pytest.raises(MetadataError, match=r"SOLARDIRECTION has conflicting values: .*62.5.*40.0"):
        open_aster(folder)


def test_product_errors(tmp_path):
    folder = make_l1t(tmp_path / "a")
    (folder / f"{GRANULE}.SWIR_Swath.ImageData7.tif").unlink()
    with pytest.raises(ProductError, match=r"band\(s\) 7 \(swir2260\) missing"):
        open_aster(folder)

    folder = make_l1t(tmp_path / "b")
    make_l1t(folder, granule="AST_L1T_00312312007104513_20150428235500_1")
    for f in (folder / "AST_L1T_00312312007104513_20150428235500_1").iterdir():
        f.rename(folder / f.name)
    with pytest.raises(ProductError, match="holds several ASTER scenes"):
        open_aster(folder)

    folder = make_l1t(tmp_path / "c")
    band = folder / f"{GRANULE}.VNIR_Swath.ImageData2.tif"
    write_band(band, np.ones((40, 40), "float32"), 15.0)
    with pytest.raises(ProductError, match=r"ImageData2.tif: holds float32 values"):
        open_aster(folder)

    folder = make_l1t(tmp_path / "d")
    for f in folder.glob("*ImageData*.tif"):
        f.unlink()
    with pytest.raises(ProductError, match=r"no band data .* browse composites"):
        open_aster(folder)

    with pytest.raises(InvalidParameterError, match=r"'resolution' .* Got 20.0"):
        open_aster(folder, resolution=20.0)


def test_hdf_needs_pyhdf_and_07xt_hdf_is_refused(tmp_path, monkeypatch):
    (tmp_path / "l1t").mkdir()
    hdf = tmp_path / "l1t" / f"{GRANULE}.hdf"
    hdf.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "pyhdf", None)  # import pyhdf -> ImportError
    with pytest.raises(ProductError, match=r"needs the optional package pyhdf"):
        open_aster(hdf)
    (tmp_path / "07xt").mkdir()
    (tmp_path / "07xt" / "AST_07XT_00306042003004247_20210101000000_1000.hdf").write_bytes(b"")
    with pytest.raises(ProductError, match="AST_07XT only as its GeoTIFF delivery"):
        open_aster(tmp_path / "07xt")


def write_l1t_hdf(path, arrays, *, upper_left_centre, zone=11, north=36.1):
    """A synthetic AST_L1T HDF4 granule: ImageData SDSs and ODL global attributes."""
    sd_module = pytest.importorskip("pyhdf.SD")
    sd = sd_module.SD(str(path), sd_module.SDC.WRITE | sd_module.SDC.CREATE)
    for band, data in arrays.items():
        sds = sd.create(f"ImageData{band}", sd_module.SDC.UINT8, data.shape)
        sds[:] = data
        sds.endaccess()
    # the HDF writes dates as YYYYMMDD; UPPERLEFTM is (northing, easting)
    core = odl(date="20030604", sun=None, objects={"NORTHBOUNDINGCOORDINATE": north})
    easting, northing = upper_left_centre
    grid = {"UPPERLEFTM": f"({northing}, {easting})", "UTMZONENUMBER": zone}
    product = odl(date=None, gains=NORMAL, objects=grid)
    sd.attr("coremetadata.0").set(sd_module.SDC.CHAR8, core)
    sd.attr("productmetadata.0").set(sd_module.SDC.CHAR8, product)
    sd.end()


def test_hdf_granule(tmp_path):
    pytest.importorskip("pyhdf")
    arrays = dn_arrays()
    path = tmp_path / f"{GRANULE}.hdf"
    centre = (500_015.0, 3_999_985.0)  # UPPERLEFTM: (northing, easting) of the UL pixel centre
    write_l1t_hdf(path, arrays, upper_left_centre=centre)
    met = tmp_path / f"{GRANULE}.hdf.met"  # writes the date as YYYY-MM-DD: that agrees
    met.write_text(odl(sun=None))
    scene = open_aster(path)
    r = scene.reflectance
    assert scene.metadata["form"] == "hdf4" and r.rio.crs == CRS and r.shape == (9, 20, 20)
    assert tuple(r.rio.transform())[:6] == (30.0, 0.0, 500_000.0, 0.0, -30.0, 4_000_000.0)
    assert r.chunks is not None
    swir1 = r.sel(band="swir1").values
    assert np.isnan(swir1[0, 0]) and swir1[0, 1] == 0.0
    assert swir1[0, 2] == pytest.approx(toa(200, "4", "NOR"), abs=1e-6)
    # the 15 m grid is centred on the same upper-left point: 3 x 3 area weights
    red = float(r.sel(band="red")[3, 4])
    assert red == pytest.approx(area_weighted(arrays["2"], 5, 7), rel=1e-6)
    assert scene.metadata["date_source"].endswith(":coremetadata.0")
    assert scene.files == [str(path), str(met)]


def test_hdf_southern_hemisphere(tmp_path):
    pytest.importorskip("pyhdf")
    path = tmp_path / f"{GRANULE}.hdf"
    write_l1t_hdf(path, dn_arrays(), upper_left_centre=(300_015.0, -2_000_015.0), north=-17.9)
    r = open_aster(path).reflectance
    assert r.rio.crs == "EPSG:32711"
    assert r.rio.transform().f == pytest.approx(10_000_000.0 - 2_000_000.0)
