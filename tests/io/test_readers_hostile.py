"""Hostile scene files (issue 16 B): a damaged tile, damaged scaling numbers in the metadata.

Each case is a geo error whose message is one line naming the file and the key, band or
window, and the fix; never "Read failed. See previous exception", never masks blamed for it.
"""

from __future__ import annotations

import json
import math
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
import yaml
from click.testing import CliRunner
from rasterio.transform import from_origin

from geo.cli.main import main
from geo.errors import GeoWarning, InvalidParameterError, MetadataError, ProductError
from geo.io._raster import RasterReadError
from geo.io.readers import open_scene
from geo.io.readers.aster import _tif_scale
from geo.io.readers.landsat import L2_GROUP, _calibration, _route, open_landsat
from geo.io.readers.mtl import ROOT, Mtl
from geo.io.readers.sentinel2 import _parse_product_xml
from geo.io.readers.stac import open_stac_item
from tests.conftest import PRODUCT_ID

from .test_io_sentinel2 import QUANT, product_xml
from .test_io_stac import _set, _write_item, landsat  # noqa: F401  (landsat: a fixture)

B4 = f"{PRODUCT_ID}_SR_B4.TIF"


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message and message == message.strip(), message
    assert "See previous exception" not in message
    return message


def cli_error(*args) -> str:
    """Run the CLI; require exit 2 and exactly one ``geo: error:`` line, no traceback."""
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 2, result.output + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("geo: error:")]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


def garble_tile(path: Path, row: int, col: int, band: int = 1) -> None:
    """Overwrite the start of one tile's compressed data (found via the TIFF's TileOffsets)."""
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=band))
        size = int(src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=band))
    assert size > 64
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(b"\x00" * 64)


# --------------------------------------------------------------------------- damaged tiles


def test_damaged_tile_names_the_band_file_and_window(product_copy):
    band4 = product_copy / B4
    garble_tile(band4, row=1, col=1)  # the sample's tiles are 256 x 256 of a 600 x 600 band
    scene = open_landsat(product_copy, chunk=256)
    scene.reflectance.isel(y=slice(0, 256)).compute()  # the other tiles still read
    with pytest.raises(RasterReadError) as info:
        scene.reflectance.compute()
    message = one_line(info.value)
    assert isinstance(info.value, ProductError)
    assert message.startswith(
        f"{band4}: cannot read rows 256-511, cols 256-511 of band 4 (red) (band 1: IReadBlock "
        "failed at X offset 1, Y offset 1: TIFFReadEncodedTile() failed.)"
    )
    assert message.endswith("the file is damaged or truncated; download it again.")
    assert info.value.path == str(band4)
    assert info.value.window == ((256, 511), (256, 511))


def test_read_error_pickles_for_dask_distributed(product_copy):
    import tblib.pickling_support  # what dask and distributed use for task errors

    tblib.pickling_support.install()
    garble_tile(product_copy / B4, row=0, col=2)
    with pytest.raises(RasterReadError) as info:
        open_landsat(product_copy, chunk=256).reflectance.compute()
    error = info.value
    assert error.__cause__ is None and error.__context__ is None  # no GDAL error riding along
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is RasterReadError and str(back) == str(error)
    assert (back.path, back.window) == (error.path, ((0, 255), (512, 599)))


def test_damaged_tile_through_the_cli_is_one_line_exit_2(product_copy):
    garble_tile(product_copy / B4, row=1, col=1)
    line = cli_error("info", product_copy)
    # `info` reads 1024 px chunks (the whole 600 x 600 band): GDAL's message names the tile
    assert f"{B4}: cannot read rows 256-511, cols 256-511" in line
    assert "download it again" in line


def test_damaged_tile_of_a_multiband_geotiff_names_the_band(tmp_path):
    path = tmp_path / "stack.tif"
    rng = np.random.default_rng(1)
    data = rng.integers(1, 10000, (3, 64, 64)).astype("uint16")
    profile = dict(
        driver="GTiff", width=64, height=64, count=3, dtype="uint16", crs="EPSG:32635",
        transform=from_origin(500000, 7000000, 30, 30), tiled=True, blockxsize=32,
        blockysize=32, compress="deflate", interleave="band",
    )  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = ("blue", "red", "nir")
    garble_tile(path, row=1, col=0, band=2)
    scene = open_scene(path, scale=0.0001, chunk=32)
    with pytest.raises(RasterReadError) as info:
        scene.reflectance.compute()
    assert one_line(info.value).startswith(
        f"{path}: cannot read band 2, rows 32-63, cols 0-31 of the GeoTIFF (band 2: IReadBlock "
        "failed at X offset 0, Y offset 1"
    )


def garble_inside_tile(path: Path, row: int, col: int, *, base: int = 0) -> None:
    """Overwrite 4 KiB in the middle of one tile's compressed data with a byte ramp.

    Unlike zeros at the start of the stream, this still inflates: libtiff returns wrong
    pixels without any error (it stops before the stream's checksum).
    """
    with rasterio.open(path) as src:
        offset = int(src.get_tag_item(f"BLOCK_OFFSET_{col}_{row}", "TIFF", bidx=1))
        size = int(src.get_tag_item(f"BLOCK_SIZE_{col}_{row}", "TIFF", bidx=1))
    assert size > 3 * 4096
    with open(path, "r+b") as f:
        f.seek(base + offset + size // 3)
        f.write(bytes(range(256)) * 16)


@pytest.mark.parametrize(("row", "col"), [(1, 0), (2, 0)], ids=["interior-tile", "edge-tile"])
def test_silently_garbled_tile_is_caught_by_its_checksum(product_copy, row, col):
    band5 = product_copy / f"{PRODUCT_ID}_SR_B5.TIF"
    garble_inside_tile(band5, row, col)
    with rasterio.open(band5) as src:
        src.read(1)  # GDAL itself says nothing: the damage is silent
    with pytest.raises(RasterReadError) as info:
        open_landsat(product_copy, chunk=256).reflectance.compute()
    rows = f"{256 * row}-{min(256 * row + 255, 599)}"
    cols = f"{256 * col}-{min(256 * col + 255, 599)}"
    assert one_line(info.value) == (
        f"{band5}: cannot read rows {rows}, cols {cols} of band 5 (nir) (the tile's DEFLATE data "
        "fail their check: Error -3 while decompressing data: incorrect data check): the file "
        "is damaged or truncated; download it again."
    )


def test_silently_garbled_tile_inside_the_usgs_tar_is_caught(product_copy, tmp_path):
    archive = tmp_path / f"{PRODUCT_ID}.tar"
    with tarfile.open(archive, "w") as tar:
        for member in sorted(product_copy.iterdir()):
            tar.add(member, arcname=member.name)
    with tarfile.open(archive) as tar:
        start = tar.getmember(B4).offset_data
    garble_inside_tile(product_copy / B4, 1, 1)  # the same bytes as in the archive's copy
    with rasterio.open(product_copy / B4) as src:
        offset = int(src.get_tag_item("BLOCK_OFFSET_1_1", "TIFF", bidx=1))
        size = int(src.get_tag_item("BLOCK_SIZE_1_1", "TIFF", bidx=1))
    with open(archive, "r+b") as f:
        f.seek(start + offset + size // 3)
        f.write(bytes(range(256)) * 16)
    with pytest.raises(RasterReadError) as info:
        open_landsat(archive, chunk=256).reflectance.compute()
    message = one_line(info.value)
    assert message.startswith(f"/vsitar/{archive.resolve()}/{B4}: cannot read rows 256-511, cols ")
    assert "incorrect data check" in message


def test_truncated_band_file_is_a_product_error_naming_it(product_copy):
    band5 = product_copy / f"{PRODUCT_ID}_SR_B5.TIF"
    band5.write_bytes(band5.read_bytes()[: band5.stat().st_size * 6 // 10])
    with pytest.raises(ProductError) as info:
        open_landsat(product_copy)
    message = one_line(info.value)
    assert message.startswith(f"{band5}: cannot open band 5 (nir) {band5.name}: ")
    assert message.endswith("The file is damaged, truncated or not a raster; download it again.")


# --------------------------------------------------------------------------- MTL numbers


def set_mtl(product: Path, group: str, key: str, value, *, form: str) -> Path:
    """Write ``value`` for ``group``/``key`` into the MTL of ``form`` (the other is removed)."""
    json_mtl, txt_mtl = product / f"{PRODUCT_ID}_MTL.json", product / f"{PRODUCT_ID}_MTL.txt"
    if form == "txt":
        json_mtl.unlink(missing_ok=True)
        lines, inside = [], False
        for line in txt_mtl.read_text().splitlines():
            if line.strip() in (f"GROUP = {group}", f"END_GROUP = {group}"):
                inside = line.strip().startswith("GROUP")
            if inside and line.strip().startswith(f"{key} ="):
                line = f"    {key} = {value}"
            lines.append(line)
        txt_mtl.write_text("\n".join(lines) + "\n")
        return txt_mtl
    txt_mtl.unlink(missing_ok=True)
    doc = json.loads(json_mtl.read_text())
    assert key in doc[ROOT][group]
    doc[ROOT][group][key] = value
    json_mtl.write_text(json.dumps(doc))  # a float NaN is written as the NaN literal
    return json_mtl


MULT, ADD = "REFLECTANCE_MULT_BAND_4", "REFLECTANCE_ADD_BAND_4"
POSITIVE = "expected a finite, positive number (USGS gives 2.75e-05)"
FINITE = "expected a finite number (USGS gives -0.2)"
DAMAGED = "The metadata file is damaged; download the product again."


@pytest.mark.parametrize(
    ("form", "key", "value", "shown", "expected"),
    [
        ("txt", MULT, "nan", "'nan'", POSITIVE),
        ("txt", MULT, "0", "0", POSITIVE),
        ("txt", MULT, "0.0", "0.0", POSITIVE),
        ("txt", MULT, "-2.75E-05", "-2.75e-05", POSITIVE),
        ("txt", MULT, "1e999", "inf", POSITIVE),
        ("txt", MULT, "Infinity", "'Infinity'", POSITIVE),
        ("txt", MULT, '"abc"', "'abc'", POSITIVE),
        ("txt", ADD, "nan", "'nan'", FINITE),
        ("txt", ADD, "-inf", "'-inf'", FINITE),
        ("json", MULT, "nan", "'nan'", POSITIVE),
        ("json", MULT, "0", "0", POSITIVE),
        ("json", MULT, math.nan, "nan", POSITIVE),  # the JSON NaN literal
        ("json", MULT, math.inf, "inf", POSITIVE),
        ("json", MULT, "", "''", POSITIVE),
        ("json", ADD, "NaN", "'NaN'", FINITE),
        ("json", ADD, None, "None", FINITE),
    ],
)
def test_damaged_mtl_scaling_names_the_file_and_key(
    product_copy, form, key, value, shown, expected
):
    mtl = set_mtl(product_copy, L2_GROUP, key, value, form=form)
    with pytest.raises(MetadataError) as info:
        open_landsat(product_copy)
    assert one_line(info.value) == (
        f"{mtl}: {key} (group {L2_GROUP}) is {shown}; {expected}. {DAMAGED}"
    )


def test_damaged_mtl_through_the_cli_is_one_line_exit_2(product_copy):
    mtl = set_mtl(product_copy, L2_GROUP, MULT, "nan", form="txt")
    line = cli_error("info", product_copy)
    assert line == f"geo: error: {mtl}: {MULT} (group {L2_GROUP}) is 'nan'; {POSITIVE}. {DAMAGED}"


def test_l2_scaling_other_than_usgs_constants_warns(product_copy):
    set_mtl(product_copy, L2_GROUP, ADD, "0", form="txt")
    with pytest.warns(
        GeoWarning, match=r"band 4 has REFLECTANCE_MULT 2.75e-05 and REFLECTANCE_ADD 0 "
    ):
        scene = open_landsat(product_copy)
    assert scene.metadata["bands"]["red"]["add"] == 0


def test_level1_route_checks_its_own_group_and_the_sun(product_copy):
    set_mtl(product_copy, "PRODUCT_CONTENTS", "PROCESSING_LEVEL", '"L1TP"', form="txt")
    mtl = set_mtl(product_copy, "LEVEL1_RADIOMETRIC_RESCALING", MULT, "0", form="txt")
    with pytest.raises(MetadataError) as info:
        open_landsat(product_copy)
    assert one_line(info.value) == (
        f"{mtl}: {MULT} (group LEVEL1_RADIOMETRIC_RESCALING) is 0; expected a finite, positive "
        f"number (USGS gives 2e-05). {DAMAGED}"
    )
    set_mtl(product_copy, "LEVEL1_RADIOMETRIC_RESCALING", MULT, "2.0E-05", form="txt")
    set_mtl(product_copy, "IMAGE_ATTRIBUTES", "SUN_ELEVATION", "nan", form="txt")
    with pytest.raises(MetadataError) as info:
        open_landsat(product_copy)
    assert "SUN_ELEVATION (group IMAGE_ATTRIBUTES) is 'nan'; expected a finite number" in one_line(
        info.value
    )


# --------------------------------------------------------------------------- plain GeoTIFFs


@pytest.fixture
def plain_tif(tmp_path) -> Path:
    path = tmp_path / "refl.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=8, height=8, count=2, dtype="uint16",
        crs="EPSG:32635", transform=from_origin(500000, 7000000, 30, 30),
    ) as dst:  # fmt: skip
        dst.write(np.full((2, 8, 8), 1500, "uint16"))
        dst.descriptions = ("red", "nir")
    return path


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"scale": 0}, "the scene scale is 0; expected a finite, positive number"),
        ({"scale": math.nan}, "the scene scale is nan; expected a finite, positive number"),
        ({"scale": math.inf}, "the scene scale is inf;"),
        ({"scale": -0.0001}, "the scene scale is -0.0001;"),
        ({"scale": "abc"}, "the scene scale is 'abc';"),
        (
            {"scale": 0.0001, "offset": math.nan},
            "the scene offset is nan; expected a finite number",
        ),
    ],
)
def test_given_scale_and_offset_must_be_finite(plain_tif, kwargs, expected):
    with pytest.raises(InvalidParameterError) as info:
        open_scene(plain_tif, **kwargs)
    message = one_line(info.value)
    assert message.startswith(f"{plain_tif}: {expected}")
    assert "inputs.scene." in message and ("--scale" in message or "--offset" in message)


def test_cli_scale_zero_is_one_line_exit_2(plain_tif):
    line = cli_error("info", plain_tif, "--scale", "0")
    assert f"{plain_tif}: the scene scale is 0.0; expected a finite, positive number" in line


def test_file_scale_nan_is_a_metadata_error_naming_the_band(plain_tif):
    with rasterio.open(plain_tif, "r+") as dst:
        dst.scales, dst.offsets = (0.0001, math.nan), (0.0, 0.0)
    with pytest.raises(MetadataError) as info:
        open_scene(plain_tif)
    assert one_line(info.value).startswith(
        f"{plain_tif}: band 2 GDAL scale is nan; expected a finite, positive number. The file's "
        "scale/offset metadata is damaged"
    )


def test_sidecar_scale_must_be_finite(plain_tif):
    folder = plain_tif.parent
    with rasterio.open(plain_tif) as src:
        profile, data = src.profile | {"count": 1}, src.read()
    for role, band in (("red", 0), ("nir", 1)):
        with rasterio.open(folder / f"{role}.tif", "w", **profile) as dst:
            dst.write(data[band], 1)
    sidecar = folder / "bands.yaml"
    sidecar.write_text(
        yaml.safe_dump({"bands": {"red": "red.tif", "nir": "nir.tif"}}) + "scale: .nan\n"
    )
    with pytest.raises(ProductError) as info:
        open_scene(folder)
    assert one_line(info.value) == (
        f"{sidecar}: scale is nan; expected a finite, positive number. Fix it in the band "
        "sidecar (e.g. scale: 0.0001)."
    )
    sidecar.write_text("bands: {red: red.tif, nir: nir.tif}\nscale: 1e-4\noffset: 0\n")
    assert open_scene(folder).metadata["bands"]["red"]["mult"] == pytest.approx(1e-4)


# --------------------------------------------------------------------------- other readers


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [("scale", 0, "0"), ("scale", math.nan, "nan"), ("scale", "abc", "'abc'"),
     ("offset", math.inf, "inf")],
)  # fmt: skip
def test_stac_raster_bands_scaling_must_be_finite(landsat, field, value, shown):  # noqa: F811
    path, doc, _ = landsat
    _set(doc, f"assets.red.raster:bands.0.{field}", value)
    with pytest.raises(MetadataError) as info:
        open_stac_item(_write_item(path, doc))
    message = one_line(info.value)
    assert message.startswith(
        f"{path}: asset 'red' raster:bands {field} is {shown}; expected a finite"
    )
    assert "fix the asset's raster:bands" in message


OFFSETS = {i: -1000 for i in range(13)}


@pytest.mark.parametrize(
    ("quantification", "offsets", "expected"),
    [
        ("nan", OFFSETS, "BOA_QUANTIFICATION_VALUE is 'nan'; expected a finite, positive number (ESA gives 10000)"),
        ("inf", OFFSETS, "BOA_QUANTIFICATION_VALUE is 'inf'; expected a finite, positive"),
        ("0", OFFSETS, "BOA_QUANTIFICATION_VALUE is '0'; expected a finite, positive"),
        ("-10000", OFFSETS, "BOA_QUANTIFICATION_VALUE is '-10000'; expected a finite, positive"),
        ("ten", OFFSETS, "BOA_QUANTIFICATION_VALUE is 'ten'; expected a finite, positive"),
        ("10000", OFFSETS | {3: math.nan}, "BOA_ADD_OFFSET[@band_id=3] is 'nan'; expected a finite number"),
    ],
)  # fmt: skip
def test_sentinel2_quantification_and_offsets_must_be_finite(quantification, offsets, expected):
    tag = QUANT["L2A"].replace(">10000</BOA", f">{quantification}</BOA")
    xml = product_xml(
        "L2A", baseline="05.09", uri="S2A_X.SAFE", offsets=offsets, quantification=tag
    )
    with pytest.raises(MetadataError) as info:
        _parse_product_xml(xml.encode(), "/p/S2A_X.SAFE/MTD_MSIL2A.xml")
    message = one_line(info.value)
    assert message.startswith(f"/p/S2A_X.SAFE/MTD_MSIL2A.xml: {expected}")
    assert message.endswith(DAMAGED)


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"scale_factor": "nan"}, "the scale_factor tag of B4 is nan; expected a finite, positive"),
        ({"scale_factor": "0"}, "the scale_factor tag of B4 is 0.0; expected a finite, positive"),
        ({"scale_factor": "x"}, "the scale_factor tag of B4 is 'x' / 0.0, not numbers"),
        (
            {"scale_factor": "0.001", "add_offset": "inf"},
            "the scale_factor tag of B4 gives offset inf; expected a finite",
        ),
    ],
)
def test_aster_07xt_scale_factors_must_be_finite(tmp_path, tags, expected):
    path = tmp_path / "AST_07XT_00306042003084512_20230101000000_Band4.tif"
    with rasterio.open(
        path, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint16",
        crs="EPSG:32635", transform=from_origin(500000, 7000000, 30, 30),
    ) as dst:  # fmt: skip
        dst.write(np.ones((1, 4, 4), "uint16"))
        dst.update_tags(**tags)
    with pytest.raises(MetadataError) as info:
        _tif_scale(str(path), "B4")
    assert one_line(info.value).startswith(f"{path}: {expected}")


def _pre_collection_mtl(**changes) -> Mtl:
    """A pre-collection Landsat 5 MTL (radiance route) with ``changes`` to its values."""
    image = {"SUN_ELEVATION": 45.0, "EARTH_SUN_DISTANCE": 1.0141}
    rescaling = {"RADIANCE_MULT_BAND_3": 1.043, "RADIANCE_ADD_BAND_3": -1.17}
    for key, value in changes.items():
        (image if key in image else rescaling)[key] = value
    groups = {
        "PRODUCT_METADATA": {"SPACECRAFT_ID": "LANDSAT_5", "DATE_ACQUIRED": "2007-06-01"},
        "RADIOMETRIC_RESCALING": rescaling,
        "IMAGE_ATTRIBUTES": image,
    }
    return Mtl(groups, "/p/LT05_MTL.txt")


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"RADIANCE_MULT_BAND_3": "nan"},
            "RADIANCE_MULT_BAND_3 (group RADIOMETRIC_RESCALING) is 'nan'; expected a finite, "
            f"positive number. {DAMAGED}",
        ),
        (
            {"RADIANCE_ADD_BAND_3": math.inf},
            "RADIANCE_ADD_BAND_3 (group RADIOMETRIC_RESCALING) is inf; expected a finite number.",
        ),
        (
            {"EARTH_SUN_DISTANCE": "nan"},
            "EARTH_SUN_DISTANCE (group IMAGE_ATTRIBUTES) is 'nan'; expected a finite, positive",
        ),
        (
            {"EARTH_SUN_DISTANCE": 0.0},
            "EARTH_SUN_DISTANCE (group IMAGE_ATTRIBUTES) is 0.0; expected a finite, positive",
        ),
        (
            {"EARTH_SUN_DISTANCE": 149.6e6},
            "EARTH_SUN_DISTANCE (group IMAGE_ATTRIBUTES) is 149600000.0; the Earth-Sun distance "
            f"is 0.983-1.017 AU. {DAMAGED}",
        ),
    ],
)
def test_radiance_route_numbers_must_be_finite(changes, expected):
    mtl = _pre_collection_mtl(**changes)
    route = _route(mtl)
    assert route.name == "pre_collection_l1_radiance_esun"
    with pytest.raises(MetadataError) as info:
        _calibration(mtl, route, "3", "LANDSAT_5")
    assert one_line(info.value).startswith(f"/p/LT05_MTL.txt: {expected}")
    assert _calibration(_pre_collection_mtl(), route, "3", "LANDSAT_5")["mult"] > 0
