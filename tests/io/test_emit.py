"""EMIT L2A RFL/MASK reader: GLT orthorectification to UTM, fill, bad bands, masks, roles."""

from __future__ import annotations

import math

import h5netcdf
import numpy as np
import pytest
from click.testing import CliRunner

from geo.errors import ProductError
from geo.io.readers import emit as emit_mod
from geo.io.readers import open_scene
from geo.io.readers._hyper import broadband_roles, broadband_weights, spectral_coords, utm_epsg
from geo.io.readers.emit import open_emit
from geo.sensors import OLI_BANDS
from geo.testing import EMIT_MASK_BANDS, write_emit_granule

NAME = "EMIT_L2A_RFL_001_20230316T045133_2307503_005.nc"

# Eight bands: one at each Landsat 8 OLI band centre (so every broadband role is covered) and
# a water-vapour band at 1400 nm flagged bad.
WAVELENGTHS = [443.0, 482.0, 562.0, 655.0, 865.0, 1400.0, 1609.0, 2201.0]
FWHM = [8.0] * 8
GOOD = [1, 1, 1, 1, 1, 0, 1, 1]
LINES, SAMPLES, NB = 4, 3, 8

# The ortho grid: 3 rows x 4 columns of 0.01 degree, north-west corner at 27.00 E 0.05 N
# (27 E is the central meridian of UTM zone 35).
GT = (27.0, 0.01, 0.0, 0.05, 0.0, -0.01)


def swath_value(line: int, sample: int, band: int) -> float:
    return float(np.float32(0.1 * (line + 1) + 0.01 * (sample + 1) + 0.001 * band))


def make_cube() -> np.ndarray:
    cube = np.empty((LINES, SAMPLES, NB), dtype="float32")
    for line in range(LINES):
        for sample in range(SAMPLES):
            cube[line, sample] = [swath_value(line, sample, b) for b in range(NB)]
    cube[1, 1, :] = -9999.0  # a fill pixel
    return cube


def rotated_glt() -> np.ndarray:
    """Swath turned 90 degrees: ortho (r, c) holds line c, sample 2 - r; (2, 3) has no data."""
    glt = np.zeros((3, 4, 2), dtype="int32")
    for r in range(3):
        for c in range(4):
            glt[r, c] = (2 - r + 1, c + 1)  # (glt_x = sample, glt_y = line), 1-based
    glt[2, 3] = 0
    return glt


def flipped_glt() -> np.ndarray:
    """Turned the other way and mirrored: ortho (r, c) holds line 3 - c, sample r; negative
    (infilled) entries on row 1 mean the same pixels."""
    glt = np.zeros((3, 4, 2), dtype="int32")
    for r in range(3):
        for c in range(4):
            glt[r, c] = (r + 1, 3 - c + 1)
    glt[1] *= -1
    glt[0, 0] = 0
    return glt


# Hand-worked UTM grid. At the equator on the central meridian, transverse Mercator is linear
# to well under a metre over a few km: 0.01 degree of longitude = 0.9996 x 111 319.49 m x 0.01
# = 1112.75 m east; 0.01 degree of latitude = 0.9996 x 110 574.27 m x 0.01 = 1105.30 m north.
# The ortho grid spans x 500 000 .. 504 451 m and y 2 210.6 .. 5 526.5 m; snapped outward to
# 500 m: left 500 000, top 6 000, 9 columns, 8 rows.
#   column centres 500 250 + 500 j -> ortho column floor((250 + 500 j) / 1112.75):
ORTHO_COL = [0, 0, 1, 1, 2, 2, 2, 3, 3]
#   row centres 5 750 - 500 i -> ortho row floor((5 526.5 - y) / 1105.30); row 0 is north of
#   the grid (y 5 750 > 5 526.5): no data.
ORTHO_ROW = [None, 0, 0, 1, 1, 2, 2, 2]
# (nearest boundary to a pixel centre: 24.5 m, column 4; the linear model is exact to < 1 m.)


def expected_cube(glt: np.ndarray) -> np.ndarray:
    out = np.full((NB, 8, 9), np.nan, dtype="float32")
    for i, r in enumerate(ORTHO_ROW):
        for j, c in enumerate(ORTHO_COL):
            if r is None:
                continue
            gx, gy = (abs(int(v)) for v in glt[r, c])
            if gx == 0 or gy == 0 or (gy - 1, gx - 1) == (1, 1):  # no data, or the fill pixel
                continue
            out[:, i, j] = [swath_value(gy - 1, gx - 1, b) for b in range(NB)]
    return out


def write(tmp_path, glt=None, **kwargs):
    return write_emit_granule(
        tmp_path / NAME,
        make_cube(),
        WAVELENGTHS,
        FWHM,
        rotated_glt() if glt is None else glt,
        GT,
        good=kwargs.pop("good", GOOD),
        **kwargs,
    )


@pytest.mark.parametrize("make_glt", [rotated_glt, flipped_glt])
def test_glt_to_utm_hand_worked(tmp_path, make_glt):
    glt = make_glt()
    scene = open_emit(write(tmp_path, glt), resolution=500.0)
    s = scene.spectra
    assert s is not None
    assert s.rio.crs.to_epsg() == 32635
    assert tuple(s.rio.transform())[:6] == (500.0, 0.0, 500000.0, 0.0, -500.0, 6000.0)
    assert s.shape == (NB, 8, 9)
    np.testing.assert_array_equal(s.values, expected_cube(glt))
    assert s.dtype == np.float32
    assert s.chunks is not None and s.chunks[0] == (NB,)


def test_coordinates_bad_bands_and_metadata(tmp_path):
    scene = open_emit(write(tmp_path), resolution=500.0)
    s = scene.spectra
    assert list(s["band"].values) == [f"b00{i}" for i in range(1, 9)]
    np.testing.assert_allclose(s["wavelength"].values, WAVELENGTHS)
    np.testing.assert_allclose(s["fwhm"].values, FWHM)
    assert s["good"].values.tolist() == [bool(g) for g in GOOD]
    assert s.attrs["sensor"] == "emit" and s.attrs["date"] == "2023-03-16"
    assert s.attrs["wavelength_units"] == "nm"
    assert s.attrs["scene_id"] == NAME[:-3]
    m = scene.metadata
    assert m["bad_band_count"] == 1 and m["bad_bands"] == ["b006"]
    assert m["wavelength_range_nm"] == [443.0, 2201.0]
    assert m["orthorectification"].startswith("GLT nearest neighbour to UTM zone 35N")
    assert m["product_masks"] == [] and "no EMIT L2A MASK" in m["qa_note"]
    assert scene.qa == {} and scene.files == [str(tmp_path / NAME)]
    # the reflectance grid is the spectra grid
    r = scene.reflectance
    assert list(r["band"].values) == ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
    assert r.rio.transform() == s.rio.transform() and r.rio.crs == s.rio.crs
    assert r.attrs["broadband_of"] == "landsat_oli" and r.attrs["sensor"] == "emit"


def test_broadband_roles_ignore_the_bad_band(tmp_path):
    """The bad band at 1400 nm carries a huge value: it must not reach any role."""
    cube = make_cube()
    cube[..., 5] = 50.0
    path = write_emit_granule(
        tmp_path / NAME, cube, WAVELENGTHS, [60.0] * 8, rotated_glt(), GT, good=GOOD
    )
    r = open_emit(path, resolution=500.0).reflectance.values
    assert np.nanmax(r) < 1.0


def test_broadband_two_band_hand_computed():
    """Two wide bands (centre 600 nm FWHM 800 nm; centre 1800 nm FWHM 1200 nm)."""

    def overlap(centre, fwhm, lo, hi):
        sigma = fwhm / (2 * math.sqrt(2 * math.log(2)))
        cdf = lambda v: 0.5 * (1 + math.erf((v - centre) / (sigma * math.sqrt(2))))  # noqa: E731
        return cdf(hi) - cdf(lo)

    values = np.array([[[0.2, 0.3]], [[0.6, np.nan]]], dtype="float32")  # (band, y, x)
    cube = __import__("xarray").DataArray(
        values,
        dims=("band", "y", "x"),
        coords=spectral_coords([600.0, 1800.0], [800.0, 1200.0], [True, True]),
        attrs={"sensor": "emit"},
    )
    out = broadband_roles(cube)
    for k, b in enumerate(OLI_BANDS):
        w1 = overlap(600.0, 800.0, b.low_um * 1000, b.high_um * 1000)
        w2 = overlap(1800.0, 1200.0, b.low_um * 1000, b.high_um * 1000)
        w1, w2 = (w if w >= 0.01 else 0.0 for w in (w1, w2))
        assert w1 + w2 > 0
        assert float(out[k, 0, 0]) == pytest.approx((w1 * 0.2 + w2 * 0.6) / (w1 + w2), rel=1e-5)
        # band 2 is NaN at the second pixel: the mean of the valid band only
        expected = 0.3 if w1 > 0 else math.nan
        assert float(out[k, 0, 1]) == pytest.approx(expected, rel=1e-6, nan_ok=True)
    # the coastal band (435-451 nm) is far inside band 1's response
    assert broadband_weights([600.0, 1800.0], [800.0, 1200.0], [True, True])[0, 0] > 0.01


def test_broadband_refuses_a_role_without_good_band():
    cube = __import__("xarray").DataArray(
        np.zeros((2, 1, 1), "float32"),
        dims=("band", "y", "x"),
        coords=spectral_coords([1600.0, 2200.0], [10.0, 10.0], [True, True]),
    )
    with pytest.raises(ProductError, match="coastal band"):
        broadband_roles(cube)


def test_fill_value_read_from_the_product(tmp_path):
    """A granule whose _FillValue is -1: -1 becomes NaN and -9999 is kept as a value."""
    path = write(tmp_path, fill_value=-1.0)
    s = open_emit(path, resolution=500.0).spectra.values
    assert np.any(s == -9999.0)  # swath pixel (1, 1) is not fill in this product
    assert not np.any(s == -1.0)


@pytest.mark.parametrize(
    ("omit", "named"),
    [
        ("_FillValue", "_FillValue"),
        ("geotransform", "'geotransform'"),
        ("spatial_ref", "'spatial_ref'"),
        ("sensor_band_parameters/wavelengths", "sensor_band_parameters/wavelengths"),
        ("sensor_band_parameters/fwhm", "sensor_band_parameters/fwhm"),
        ("sensor_band_parameters/good_wavelengths", "good_wavelengths"),
        ("location/glt_x", "location/glt_x"),
        ("location/glt_y", "location/glt_y"),
        ("reflectance", "not an EMIT L2A reflectance granule"),
    ],
)
def test_missing_items_are_refused_by_name(tmp_path, omit, named):
    path = write(tmp_path, omit=(omit,))
    with pytest.raises(ProductError) as err:
        open_emit(path)
    message = str(err.value)
    assert named in message and "\n" not in message


def test_decreasing_wavelengths_and_bad_geotransform_refused(tmp_path):
    wl = list(WAVELENGTHS)
    wl[3], wl[4] = wl[4], wl[3]
    path = write_emit_granule(tmp_path / NAME, make_cube(), wl, FWHM, rotated_glt(), GT)
    with pytest.raises(ProductError, match="do not increase"):
        open_emit(path)
    rotated = (27.0, 0.01, 0.001, 0.05, 0.0, -0.01)
    path = write_emit_granule(
        tmp_path / NAME, make_cube(), WAVELENGTHS, FWHM, rotated_glt(), rotated
    )
    with pytest.raises(ProductError, match="north-up"):
        open_emit(path)
    glt = rotated_glt()
    glt[0, 0, 1] = 9  # line 9 of a 4-line swath
    path = write_emit_granule(tmp_path / NAME, make_cube(), WAVELENGTHS, FWHM, glt, GT)
    with pytest.raises(ProductError, match="outside the swath"):
        open_emit(path)


def test_mask_granule_becomes_qa_layers(tmp_path):
    mask = np.zeros((LINES, SAMPLES, len(EMIT_MASK_BANDS)), dtype="float32")
    mask[..., 5] = 0.12  # AOD550: a value, not a flag
    mask[0, 2, 0] = 1.0  # cloud at swath (line 0, sample 2)
    mask[3, 1, 2] = 1.0  # water at swath (line 3, sample 1)
    mask[2, 1, 4] = 1.0  # dilated cloud at (2, 1)
    mask[2, 1, 7] = 1.0
    path = write(tmp_path, mask=mask)
    scene = open_emit(path, resolution=500.0)
    assert set(scene.qa) == {"cloud", "cirrus", "water", "spacecraft", "dilated_cloud", "aggregate"}
    assert scene.metadata["product_masks"] == sorted(scene.qa)
    assert scene.files[1].endswith(NAME.replace("_RFL_", "_MASK_"))

    def expected(line, sample):
        """UTM pixels whose ortho cell (rotated GLT: line = c, sample = 2 - r) is that pixel."""
        out = np.zeros((8, 9), dtype="uint8")
        for i, r in enumerate(ORTHO_ROW):
            for j, c in enumerate(ORTHO_COL):
                if r is not None and (r, c) != (2, 3) and (c, 2 - r) == (line, sample):
                    out[i, j] = 1
        return out

    for name, (line, sample) in {"cloud": (0, 2), "water": (3, 1), "dilated_cloud": (2, 1)}.items():
        layer = scene.qa[name]
        assert layer.dtype == np.uint8 and layer.rio.transform() == scene.spectra.rio.transform()
        np.testing.assert_array_equal(layer.values, expected(line, sample))
        assert layer.values.sum() > 0
    np.testing.assert_array_equal(scene.qa["aggregate"].values, expected(2, 1))
    assert scene.qa["cirrus"].values.sum() == 0
    # mask=False ignores the granule beside the file
    assert open_emit(path, resolution=500.0, mask=False).qa == {}


def test_mask_granule_given_opens_through_rfl_only(tmp_path):
    mask = np.zeros((LINES, SAMPLES, len(EMIT_MASK_BANDS)), dtype="float32")
    path = write(tmp_path, mask=mask)
    mask_file = tmp_path / NAME.replace("_RFL_", "_MASK_")
    with pytest.raises(ProductError, match="MASK granule: open the matching _RFL_"):
        open_emit(mask_file)
    with pytest.raises(ProductError, match="MASK granule"):
        open_scene(mask_file)
    other = tmp_path / "other_mask.nc"
    mask_file.rename(other)
    scene = open_emit(path, resolution=500.0, mask=other)
    assert scene.metadata["mask_file"] == str(other) and "cloud" in scene.qa


def test_detection_and_geo_info(tmp_path):
    from geo.cli.main import main

    path = write(tmp_path)
    scene = open_scene(path, resolution=500.0)
    assert scene.metadata["product"] == "EMIT L2A RFL" and scene.spectra is not None
    assert "spectra: 8 bands, 443-2201 nm" in repr(scene)
    result = CliRunner().invoke(main, ["info", str(path), "--resolution", "500"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "EMIT L2A RFL" in out and "EPSG:32635" in out
    assert "spectra    8 bands, 443.0-2201.0 nm, 1 bad (water vapour) bands: b006" in out
    assert "GLT nearest neighbour to UTM zone 35N" in out
    assert "swir2" in out and "landsat_oli" in out


def test_file_is_real_netcdf(tmp_path):
    """The synthetic granule reads back with h5netcdf under EMIT's own names."""
    path = write(tmp_path)
    with h5netcdf.File(path, "r") as f:
        assert f["reflectance"].dimensions == ("downtrack", "crosstrack", "bands")
        assert f["location/glt_x"].dimensions == ("ortho_y", "ortho_x")
        assert float(f["reflectance"].attrs["_FillValue"]) == -9999.0
        assert list(f.attrs["geotransform"]) == list(GT)


def test_blocks_read_only_their_swath_rows(tmp_path, monkeypatch):
    """A north-up identity GLT over 40 lines: each 16-row block reads only its own lines."""
    lines, samples = 40, 12
    cube = np.empty((lines, samples, NB), dtype="float32")
    cube[:] = (0.01 * (np.arange(lines) + 1))[:, None, None]  # value = 0.01 x (line + 1)
    glt = np.zeros((lines, samples, 2), dtype="int32")
    for r in range(lines):
        for c in range(samples):
            glt[r, c] = (c + 1, r + 1)
    gt = (27.0, 0.001, 0.0, 0.5, 0.0, -0.001)  # ~111 m cells, north of the equator
    path = write_emit_granule(tmp_path / NAME, cube, WAVELENGTHS, FWHM, glt, gt)
    reads: list[tuple[int, int]] = []
    real = emit_mod.read_box

    def counting(p, variable, line_slice, sample_slice):
        reads.append((line_slice.start, line_slice.stop))
        return real(p, variable, line_slice, sample_slice)

    monkeypatch.setattr(emit_mod, "read_box", counting)
    scene = open_emit(path, resolution=60.0, chunk=16)
    s = scene.spectra
    assert s.chunks[0] == (NB,) and max(s.chunks[1]) == 16
    values = s.values
    # 16 rows of 60 m span < 960 m, i.e. at most 10 lines of 111 m
    assert reads and all(stop - start <= 10 for start, stop in reads)
    assert len({r for r in reads}) >= math.ceil(s.shape[1] / 16) - 1
    assert min(start for start, _ in reads) == 0 and max(stop for _, stop in reads) == lines
    # the value of each UTM row is the value of one swath line (its latitude's), row order kept
    first = values[0, :, s.shape[2] // 2]
    valid = first[np.isfinite(first)]
    assert np.all(np.diff(valid) >= 0) and set(np.round(valid / 0.01).astype(int)) <= set(
        range(1, lines + 1)
    )


def test_utm_zone_choice():
    assert utm_epsg(27.02, 0.03) == 32635
    assert utm_epsg(-117.5, 37.2) == 32611  # Cuprite, Nevada
    assert utm_epsg(-69.1, -24.3) == 32719  # Escondida, Chile
    assert utm_epsg(180.0, 5.0) == 32660


def test_hostile_attribute_text_stays_on_one_line(tmp_path):
    mask = np.zeros((LINES, SAMPLES, 2), dtype="float32")
    path = write(
        tmp_path,
        mask=mask,
        attrs={"time_coverage_start": "=cmd|' /C calc'!A0\n<script>x</script>" * 20},
    )
    with h5netcdf.File(path.with_name(NAME.replace("_RFL_", "_MASK_")), "a") as f:
        f["sensor_band_parameters/mask_bands"][:] = np.array(
            ["<b>\nCloud\x07", "=1+1\r\n" * 50], dtype=object
        )
    with pytest.raises(ProductError) as err:
        open_emit(path)
    assert "\n" not in str(err.value) and "\x07" not in str(err.value)
    assert "no 'Cloud flag' band" in str(err.value) and len(str(err.value)) < 400
    # the date falls back to the file name's stamp; the text is not kept
    scene = open_emit(path, mask=False)
    assert (
        scene.spectra.attrs["date"] == "2023-03-16" and scene.metadata["scene_center_time"] is None
    )
