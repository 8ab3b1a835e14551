import dask.array as dsa
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo.errors import InvalidParameterError
from geo.spectral.expression import parse_expression
from geo.spectral.indices import catalogue, compute_indices, get_index
from geo.testing import make_raster

ROLES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]


def cube(values):
    """values: dict role -> 2x2 list."""
    return make_raster([values[r] for r in ROLES], bands=ROLES, attrs={"sensor": "landsat_oli"})


BANDS = {
    "coastal": [[0.05, 0.05], [0.05, 0.05]],
    "blue": [[0.10, 0.20], [0.05, np.nan]],
    "green": [[0.12, 0.20], [0.10, 0.10]],
    "red": [[0.30, 0.20], [0.20, 0.10]],
    "nir": [[0.32, 0.40], [0.50, 0.10]],
    "swir1": [[0.40, 0.30], [0.30, 0.10]],
    "swir2": [[0.20, 0.30], [0.005, 0.10]],
}


def test_hand_computed_values():
    out = compute_indices(
        cube(BANDS), ["iron_oxide", "clay_hydroxyl", "ferrous_iron", "ndvi", "mndwi", "gossan"]
    )
    expect = {
        "iron_oxide": [[3.0, 1.0], [4.0, np.nan]],  # red / blue; NaN blue stays NaN
        "clay_hydroxyl": [[2.0, 1.0], [np.nan, 1.0]],  # swir2 0.005 <= 0.01 -> undefined ratio
        "ferrous_iron": [
            [0.2 / 0.32 + 0.12 / 0.30, 0.3 / 0.4 + 1.0],
            [0.005 / 0.5 + 0.5, 1.0 + 1.0],
        ],
        "ndvi": [[0.02 / 0.62, 0.2 / 0.6], [0.3 / 0.7, 0.0]],
        "mndwi": [[-0.28 / 0.52, -0.1 / 0.5], [-0.2 / 0.4, 0.0]],
        "gossan": [[0.4 / 0.3, 1.5], [1.5, 1.0]],
    }
    for name, values in expect.items():
        np.testing.assert_allclose(
            out.sel(index=name).values, values, rtol=1e-6, equal_nan=True, err_msg=name
        )
    assert out.dtype == np.float32
    assert out.rio.crs == "EPSG:32635"
    assert out.attrs["formulas"]["iron_oxide"] == "red / blue"


def test_lazy_on_dask_and_same_result():
    r = cube(BANDS)
    lazy = r.copy(data=dsa.from_array(r.values, chunks=(1, 1, 1)))
    out = compute_indices(lazy, ["iron_oxide", "ndvi"])
    assert isinstance(out.data, dsa.Array)
    np.testing.assert_allclose(
        out.values, compute_indices(r, ["iron_oxide", "ndvi"]).values, equal_nan=True
    )


def test_input_not_modified():
    r = cube(BANDS)
    before = r.copy(deep=True)
    compute_indices(r, ["iron_oxide"])
    assert r.identical(before)


def test_custom_formula_and_name_clash():
    out = compute_indices(cube(BANDS), [], custom={"my_ratio": "(swir1 + nir) / 2 / red"})
    np.testing.assert_allclose(
        out.sel(index="my_ratio").values[0, 0], (0.4 + 0.32) / 2 / 0.3, rtol=1e-6
    )
    with pytest.raises(InvalidParameterError, match="name of a catalogue index"):
        compute_indices(cube(BANDS), ["ndvi"], custom={"ndvi": "nir / red"})


def test_unknown_index_and_missing_band():
    with pytest.raises(InvalidParameterError, match="Unknown index 'iron_oxyde'"):
        get_index("iron_oxyde", "landsat_oli")
    with pytest.raises(
        InvalidParameterError, match=r"needs band\(s\) blue, which sensor 'aster' does not have"
    ):
        get_index("iron_oxide", "aster")
    with pytest.raises(
        InvalidParameterError, match=r"needs band\(s\) swir2165, swir2205, swir2260"
    ):
        get_index("phyllic", "sentinel2_msi")
    three = make_raster(
        [BANDS["red"], BANDS["nir"], BANDS["green"]],
        bands=["red", "nir", "green"],
        attrs={"sensor": "landsat_oli"},
    )
    with pytest.raises(InvalidParameterError, match=r"needs band.*blue"):
        compute_indices(three, ["iron_oxide"])


def test_catalogue_entries_complete():
    entries = catalogue("landsat_oli")
    names = {e.name for e in entries}
    assert {
        "iron_oxide",
        "ferric_iron",
        "ferrous_iron",
        "ferrous_silicates",
        "gossan",
        "clay_hydroxyl",
        "ndvi",
    } <= names
    for e in entries:
        assert e.status in {"V", "C", "U"} and e.reference and e.targets


@pytest.mark.parametrize(
    "bad",
    [
        "__import__('os').system('x')",
        "red.real",
        "red[0]",
        "red if blue else nir",
        "lambda: 1",
        "red // blue",
        "'a' + red",
        "red < blue",
        "open",
    ],
)
def test_expression_refuses_everything_outside_the_grammar(bad):
    with pytest.raises(InvalidParameterError):
        parse_expression(bad, allowed={"red", "blue", "nir"})


@given(a=st.floats(0.011, 1.0), b=st.floats(0.011, 1.0), c=st.floats(0.011, 1.0))
def test_expression_matches_python_arithmetic(a, b, c):
    e = parse_expression("(a - b) / (a + b) + c ** 2 * -a / b")
    got = e.evaluate({"a": np.float64(a), "b": np.float64(b), "c": np.float64(c)})
    assert float(got) == pytest.approx((a - b) / (a + b) + c**2 * -a / b, rel=1e-12)


def test_one_formula_per_sensor_where_bands_allow():
    assert get_index("clay_hydroxyl", "landsat_tm").expression.text == "swir1 / swir2"
    assert get_index("clay_hydroxyl", "sentinel2_msi").expression.text == "swir1 / swir2"
    assert get_index("clay_hydroxyl", "aster").expression.text == "(swir1 + swir2205) / swir2165"
    assert get_index("ferric_iron", "aster").expression.names == {"red", "green"}
    # every catalogue formula only uses bands its sensor has
    from geo.sensors import SENSORS

    for d in catalogue():
        assert d.expression.names <= set(SENSORS[d.sensor].roles), (d.name, d.sensor)


def test_aster_values_and_unusable_swir_bands():
    roles = [
        "green",
        "red",
        "nir",
        "swir1",
        "swir2165",
        "swir2205",
        "swir2260",
        "swir2330",
        "swir2395",
    ]
    values = [[[0.2]], [[0.3]], [[0.35]], [[0.5]], [[0.2]], [[0.3]], [[0.25]], [[0.2]], [[0.3]]]
    r = make_raster(values, bands=roles, attrs={"sensor": "aster", "scene_id": "AST_L1T_x"})
    out = compute_indices(r, ["clay_hydroxyl", "ferric_iron", "carbonate_chlorite_epidote"])
    np.testing.assert_allclose(
        out.sel(index="clay_hydroxyl").values, [[(0.5 + 0.3) / 0.2]], rtol=1e-6
    )
    np.testing.assert_allclose(
        out.sel(index="carbonate_chlorite_epidote").values, [[(0.25 + 0.3) / 0.2]], rtol=1e-6
    )
    failed = r.assign_attrs(
        unusable_bands="swir1,swir2165,swir2205", unusable_reason="ASTER SWIR failure"
    )
    with pytest.raises(
        InvalidParameterError, match=r"'clay_hydroxyl'.*swir1, swir2165, swir2205.*SWIR failure"
    ):
        compute_indices(failed, ["ferric_iron", "clay_hydroxyl"])
    assert compute_indices(failed, ["ferric_iron"]).shape == (1, 1, 1)  # VNIR indices still work
