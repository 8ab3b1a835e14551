import numpy as np
import pytest
import xarray as xr

from geo.errors import InvalidParameterError
from geo.spectral.masks import (
    MASK_RULES,
    MaskConfig,
    build_mask,
    landsat_qa_flags,
    mask_fractions,
    qa_bit,
    scl_flags,
)
from geo.testing import make_raster

ROLES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
SOIL = [0.08, 0.10, 0.15, 0.22, 0.28, 0.35, 0.30]
VEG = [0.03, 0.04, 0.09, 0.05, 0.45, 0.25, 0.12]
WATER = [0.05, 0.06, 0.07, 0.04, 0.03, 0.02, 0.015]
DARK = [v * 0.1 for v in SOIL]

# USGS example QA_PIXEL values (Landsat 8/9 C2): clear land, fill, high-confidence cloud,
# dilated cloud, cloud shadow, high cirrus, snow, clear water
QA = {
    "clear": 21824,
    "fill": 1,
    "cloud": 22280,
    "dilated": 21762,
    "shadow": 23888,
    "cirrus": 54596,
    "snow": 30048,
    "water": 21952,
}


def reasons_of(value):
    return {MASK_RULES[i] for i in range(len(MASK_RULES)) if int(value) >> i & 1}


def scene(pixels):
    """pixels: list of spectra -> 1 x N raster."""
    data = np.array(pixels, dtype="float32").T[:, None, :]
    return make_raster(data, bands=ROLES)


def test_qa_bits_of_usgs_values():
    import xarray as xr

    qa = xr.DataArray(np.array(list(QA.values()), dtype="uint16"))
    names = list(QA)
    assert [names[i] for i in np.flatnonzero(qa_bit(qa, 3).values)] == ["cloud"]
    assert [names[i] for i in np.flatnonzero(qa_bit(qa, 1).values)] == ["dilated"]
    assert [names[i] for i in np.flatnonzero(qa_bit(qa, 4).values)] == ["shadow"]
    assert [names[i] for i in np.flatnonzero(qa_bit(qa, 2).values)] == ["cirrus"]
    assert [names[i] for i in np.flatnonzero(qa_bit(qa, 5).values)] == ["snow"]
    assert [names[i] for i in np.flatnonzero(qa_bit(qa, 7).values)] == ["water"]
    assert [names[i] for i in np.flatnonzero(qa_bit(qa, 0).values)] == ["fill"]


def test_each_rule_flags_its_pixel():
    spectra = [SOIL, SOIL, SOIL, SOIL, SOIL, SOIL, SOIL, VEG, WATER, DARK, [np.nan] * 7, SOIL]
    qa_values = [
        QA["clear"],
        QA["cloud"],
        QA["dilated"],
        QA["shadow"],
        QA["cirrus"],
        QA["snow"],
        QA["clear"],
        QA["clear"],
        QA["clear"],
        QA["clear"],
        QA["fill"],
        QA["water"],
    ]
    radsat = [0] * 12
    radsat[6] = 0b1000  # band 4 saturated
    r = scene(spectra)
    qa = make_raster(np.array([qa_values], dtype="float32")).astype("uint16")
    rs = make_raster(np.array([radsat], dtype="float32")).astype("uint16")
    flags = landsat_qa_flags(qa, rs)
    out = build_mask(r, flags=flags, config=MaskConfig(buffer_px=0)).values[0]
    expected = [
        set(),
        {"cloud"},
        {"dilated_cloud"},
        {"cloud_shadow"},
        {"cirrus"},
        {"snow"},
        {"saturated"},
        {"vegetation"},
        {"water", "dark"},
        {"dark"},
        {"fill"},
        {"water"},
    ]  # water is dark too
    got = [reasons_of(v) for v in out]
    assert got[:10] == expected[:10]
    assert "fill" in got[10]
    assert got[11] == {"water"}  # QA water bit alone (soil spectrum) is enough
    assert out.dtype == np.uint16


def test_thresholds_are_configurable_and_rules_can_be_switched_off():
    r = scene([VEG, DARK])
    off = build_mask(r, config=MaskConfig(ndvi_max=None, dark_albedo=None, mndwi_max=None))
    assert off.values.tolist() == [[0, 0]]
    strict = build_mask(r, config=MaskConfig(ndvi_max=0.95, dark_albedo=0.5))
    assert [reasons_of(v) for v in strict.values[0]] == [{"dark"}, {"dark"}]


def test_unknown_qa_flag():
    with pytest.raises(InvalidParameterError, match=r"Unknown QA mask flag.*cloudd"):
        MaskConfig(qa=("cloudd",))


def test_fractions():
    r = scene([SOIL, SOIL, VEG, WATER, [np.nan] * 7, SOIL, SOIL, SOIL])
    f = mask_fractions(build_mask(r, config=MaskConfig(buffer_px=0)))
    assert f["pixels"] == 8
    assert f["valid_fraction"] == pytest.approx(5 / 8)
    assert f["rules"]["vegetation"]["fraction"] == pytest.approx(1 / 8)
    assert f["rules"]["fill"]["fraction"] == pytest.approx(1 / 8)
    assert f["rules"]["water"]["of_data"] == pytest.approx(1 / 7, abs=1e-6)


def test_fractions_count_overlapping_rules_and_do_not_depend_on_chunks():
    import dask.array as dsa

    from geo.spectral.masks import MASK_RULES

    bit = {rule: 1 << i for i, rule in enumerate(MASK_RULES)}
    codes = np.array(
        [
            [0, 0, bit["cloud"], bit["cloud"] | bit["dilated_cloud"]],
            [bit["fill"], bit["water"], bit["water"] | bit["vegetation"], 0],
        ],
        dtype="uint16",
    )
    expected = {
        "pixels": 8,
        "valid_fraction": 3 / 8,
        "cloud": (2 / 8, 2 / 7, 1 / 8),  # fraction, of data (fill excluded), removed alone
        "water": (2 / 8, 2 / 7, 1 / 8),
        "vegetation": (1 / 8, 1 / 7, 0.0),
        "dilated_cloud": (1 / 8, 1 / 7, 0.0),
    }
    for data in (codes, dsa.from_array(codes, chunks=(1, 3))):
        f = mask_fractions(xr.DataArray(data, dims=("y", "x")))
        assert f["pixels"] == expected["pixels"]
        assert f["valid_fraction"] == pytest.approx(expected["valid_fraction"])
        for rule in ("cloud", "water", "vegetation", "dilated_cloud"):
            got = f["rules"][rule]
            assert (got["fraction"], got["of_data"], got["only"]) == pytest.approx(
                expected[rule], abs=1e-6
            ), rule


def test_buffer_removes_mixed_pixels_next_to_vegetation_only():
    import dask.array as dsa

    spectra = np.tile(np.array(SOIL, dtype="float32")[:, None, None], (1, 9, 9))
    spectra[:, 4, 4] = VEG  # one vegetated pixel in the middle
    spectra[:, 0, 8] = DARK  # dark is not a buffered rule by default
    r = make_raster(spectra, bands=ROLES)
    for cube in (r, r.copy(data=dsa.from_array(r.values, chunks=(7, 4, 4)))):  # chunk edges too
        out = build_mask(cube, config=MaskConfig(buffer_px=2)).values
        buffer_bit = 1 << MASK_RULES.index("buffer")
        near = (out & buffer_bit) != 0
        expected = np.zeros((9, 9), bool)
        expected[2:7, 2:7] = True
        expected[4, 4] = False  # the vegetated pixel itself carries 'vegetation', not 'buffer'
        np.testing.assert_array_equal(near, expected)
        assert reasons_of(out[4, 4]) == {"vegetation"}
        assert reasons_of(out[0, 8]) == {"dark"}
    with pytest.raises(InvalidParameterError, match="Unknown buffer rule"):
        MaskConfig(buffer_rules=("trees",))


def test_scl_classes_map_to_rules():
    scl = make_raster(np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]], dtype="float32")).astype(
        "uint8"
    )
    spectra = [SOIL] * 12
    r = scene(spectra)
    out = build_mask(r, flags=scl_flags(scl), config=MaskConfig(buffer_px=0)).values[0]
    got = [reasons_of(v) for v in out]
    assert got == [
        {"fill"},
        {"saturated"},
        {"dark"},
        {"cloud_shadow"},
        {"vegetation"},
        set(),
        {"water"},
        {"unclassified"},
        {"cloud"},
        {"cloud"},
        {"cirrus"},
        {"snow"},
    ]
    permissive = MaskConfig(qa=("fill", "cloud", "cloud_shadow"), saturation=False, buffer_px=0)
    out = build_mask(r, flags=scl_flags(scl), config=permissive).values[0]
    assert [reasons_of(v) for v in out][7] == set()  # class 7 kept when running permissive


def test_a_scene_without_the_albedo_bands_skips_the_dark_rule():
    """Bands with names of their own (a plain GeoTIFF): the dark rule has nothing to average."""
    cube = make_raster(
        np.full((2, 3, 3), 0.01, "float32"), bands=["band_a", "band_b"], attrs={"sensor": "x"}
    )
    reasons = build_mask(cube, config=MaskConfig(dark_albedo=0.04)).values
    assert reasons.shape == (3, 3) and (reasons == 0).all()  # nothing flagged, no crash


def test_flag_layers_of_imaging_spectrometers_become_reasons():
    """EMIT/EnMAP/PRISMA masks arrive as one 0/1 layer per rule; others are ignored."""
    import numpy as np

    from geo.spectral.masks import MASK_RULES, MaskConfig, build_mask, product_flags
    from geo.testing import make_raster

    refl = make_raster(
        np.full((6, 1, 3), 0.2, dtype="float32"),
        bands=["blue", "green", "red", "nir", "swir1", "swir2"],
    )
    layer = lambda *v: make_raster(np.array([[v]], dtype="uint8"))[0]  # noqa: E731
    qa = {"cloud": layer(1, 0, 0), "haze": layer(0, 1, 0), "aggregate": layer(1, 1, 1)}
    flags = product_flags(qa, "flag_layers")
    assert sorted(flags) == ["cloud", "haze"]
    reasons = build_mask(refl, flags=flags, config=MaskConfig(buffer_px=0)).values[0]
    assert [reasons_of(v) for v in reasons] == [{"cloud"}, {"haze"}, set()]
    assert MASK_RULES.index("haze") == len(MASK_RULES) - 1  # older rules keep their bits
