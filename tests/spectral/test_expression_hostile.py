"""Hostile custom formulas (issue 16 A): every one is a one-line InvalidParameterError, a
GeoWarning, or a real floating result; never a Python exception, a complex number or a hang.
"""

from __future__ import annotations

import ast
import pickle
import warnings

import dask.array as dsa
import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from geo.errors import GeoWarning, InvalidParameterError
from geo.sensors import ROLES
from geo.spectral import expression
from geo.spectral.expression import MAX_DEPTH, MAX_LENGTH, MAX_NODES, parse_expression
from geo.spectral.indices import compute_indices
from geo.testing import make_raster

BANDS = ("red", "blue", "nir")
ALLOWED = set(ROLES)


def refused(text, **kwargs) -> str:
    """The one-line message of the InvalidParameterError ``text`` raises."""
    with pytest.raises(InvalidParameterError) as info:
        parse_expression(text, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message
    return message


def parsed_quietly(text, **kwargs):
    """Parse with every warning recorded; return the expression and the GeoWarning texts."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        e = parse_expression(text, **kwargs)
    assert all(issubclass(w.category, GeoWarning) for w in caught), [str(w) for w in caught]
    return e, [str(w.message) for w in caught]


def evaluate_strictly(e, bands, **kwargs):
    """Evaluate (and compute) with every warning an error: numpy must stay quiet."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = e.evaluate(bands, **kwargs)
        if isinstance(out, xr.DataArray):
            out = out.compute()
        elif isinstance(out, dsa.Array):
            out = out.compute()
    return out


# --------------------------------------------------------------------------- the cases


def test_huge_power_is_inf_with_a_warning_not_an_overflow_error():
    e, said = parsed_quietly("red * 9**9**9", allowed=ALLOWED)
    assert len(said) == 1 and "'9**9**9'" in said[0] and "inf (overflow)" in said[0]
    out = evaluate_strictly(e, {"red": np.array([0.5, -0.5, 0.0], dtype="float32")})
    assert out.dtype == np.float32
    assert out[0] == np.inf and out[1] == -np.inf and np.isnan(out[2])


def test_constant_division_by_zero_is_refused_as_nan_everywhere():
    message = refused("red * (1/0)", allowed=ALLOWED)
    assert message.startswith("Formula 'red * (1/0)' is NaN for every pixel")
    assert "'1/0' is NaN (a division by 0" in message


def test_twenty_thousand_term_sum_is_refused_before_parsing(monkeypatch):
    calls = []
    real_parse = ast.parse
    monkeypatch.setattr(
        expression.ast, "parse", lambda *a, **k: calls.append(a) or real_parse(*a, **k)
    )
    text = " + ".join(["red"] * 20_000)
    message = refused(text, allowed=ALLOWED)
    assert (
        f"is {len(text):,} characters long" in message and f"{MAX_LENGTH:,} characters" in message
    )
    assert "... (" in message and len(message) < 400  # the formula is quoted shortened
    deep = "(" * 900 + "red" + ")" * 900  # under the length limit, too deep for the parser
    assert f"nests brackets 900 deep; at most {MAX_DEPTH}" in refused(deep)
    assert calls == []


def test_long_operator_chains_are_refused_for_depth_and_size():
    chain = "+".join(["red"] * 300)  # 1,199 characters, 599 nodes, 300 deep
    message = refused(chain, allowed=ALLOWED)
    assert "too complex (599 terms and operators, nested 300 deep)" in message
    assert f"at most {MAX_NODES} and {MAX_DEPTH}" in message
    assert "too complex" in refused("-" * 200 + "red")  # unary chains count as depth
    parse_expression("+".join(["red"] * 50), allowed=ALLOWED)  # 50 deep is allowed


def test_fractional_power_of_a_negative_constant_is_refused_not_complex():
    message = refused("red * (0-8)**0.5", allowed=ALLOWED)
    assert message == (
        "Formula 'red * (0-8)**0.5' is NaN for every pixel: '(0-8)**0.5' is NaN (a fractional "
        "power of a negative number). Fix that part."
    )
    assert "NaN for every pixel" in refused("red + (-8) ** (1/3)")


def test_fractional_power_of_negative_data_is_nan_never_complex():
    e = parse_expression("(red - 0.5) ** 0.5", allowed=ALLOWED)
    out = evaluate_strictly(e, {"red": np.array([0.75, 0.25, np.nan], dtype="float32")})
    assert out.dtype == np.float32
    assert out[0] == pytest.approx(0.5) and np.isnan(out[1:]).all()


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("red + 1e999", "'1e999' is inf (a number too large for a float)"),
        ("red * 0**-1", "'0**-1' is inf (a negative power of zero)"),
        ("red * 1e300", "'1e300' is 1e+300, beyond float32"),
        ("red * " + "9" * 400, "is inf (a number too large for a float)"),
    ],
)
def test_constant_inf_parts_warn_and_name_the_part(text, part):
    e, said = parsed_quietly(text, allowed=ALLOWED)
    assert len(said) == 1 and part in said[0] and said[0].startswith("Formula ")
    assert e.warnings == tuple(said)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warn=False: recorded, not issued
        assert parse_expression(text, allowed=ALLOWED, warn=False).warnings == tuple(said)
    out = evaluate_strictly(e, {"red": np.array([0.2, 0.0], dtype="float32")})
    assert out.dtype == np.float32 and not np.isfinite(out).all()


def test_constant_denominator_follows_the_division_rule():
    message = refused("red / 0.005", allowed=ALLOWED)
    assert "divisions by values at or below 0.01 give NaN" in message
    assert "a division by -2" in refused("red / -2", allowed=ALLOWED)
    # the rule is the caller's: with a smaller threshold the same formula is fine
    e = parse_expression("red / 0.005", allowed=ALLOWED, min_denominator=0.001)
    got = evaluate_strictly(e, {"red": np.array([0.01])}, min_denominator=0.001)
    assert got.tolist() == [2.0]
    assert parse_expression("red / 2").evaluate({"red": np.array([0.5])}).tolist() == [0.25]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("red ** nir", "the exponent of 'red ** nir' reads band(s) nir"),
        ("2 ** red", "the exponent of '2 ** red' reads band(s) red"),
        (
            "red ** 11",
            "the exponent of 'red ** 11' is 11; an exponent must be a constant number "
            "between -10 and 10",
        ),
        ("red ** (1/0)", "the exponent of 'red ** (1/0)' is NaN"),
        ("red ** -1e999", "the exponent of 'red ** -1e999' is -inf"),
    ],
)
def test_exponents_must_be_bounded_constants(text, expected):
    assert expected in refused(text, allowed=ALLOWED)


def test_allowed_exponents():
    red = np.array([4.0, 0.0, -1.0], dtype="float32")
    assert evaluate_strictly(parse_expression("red ** 10"), {"red": red}).dtype == np.float32
    assert evaluate_strictly(parse_expression("red ** -0.5"), {"red": red})[0] == 0.5
    assert evaluate_strictly(parse_expression("red ** (4 - 2)"), {"red": red}).tolist() == [
        16.0,
        0.0,
        1.0,
    ]
    # x ** 0 is 1 even where x is NaN: the NaN constant inside does not make the index NaN
    e, said = parsed_quietly("(red * (1/0)) ** 0")
    assert "'1/0' is NaN" in said[0]
    assert evaluate_strictly(e, {"red": red}).tolist() == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("text", "what"),
    [
        ("__import__('os').system('x')", "a function call"),
        ("abs(red)", "a function call"),
        ("red.__class__", "an attribute"),
        ("red.real", "an attribute"),
        ("red[0]", "indexing"),
        ("lambda: 1", "a lambda"),
        ("f'{red}'", "an f-string"),
        ("(x := red)", "an assignment (:=)"),
        ("red < blue", "a comparison"),
        ("red and blue", "a boolean operator (and/or)"),
        ("red if blue else nir", "a conditional (if/else)"),
        ("red, blue", "a tuple"),
        ("[red]", "a list"),
        ("red // blue", "floor division '//'"),
        ("red % 2", "the modulo operator '%'"),
        ("red ^ 2", "the bitwise operator '^' (use ** for powers)"),
        ("~red", "the bitwise operator '~'"),
        ("not red", "'not'"),
        ("'a' + red", "text"),
        ("1j * red", "an imaginary number"),
        ("True * red", "a boolean"),
        ("None", "None"),
    ],
)
def test_constructs_outside_the_grammar_are_refused_in_one_line(text, what):
    message = refused(text, allowed={"red", "blue", "nir"})
    assert message.startswith(f"Formula {text!r}")
    assert what in message and "is not allowed" in message


@pytest.mark.parametrize("name", ["__import__", "__class__", "__builtins__", "_secret"])
def test_dunder_and_private_names_are_refused_even_without_allowed(name):
    message = refused(f"red + {name}")
    assert f"uses {name!r}, which is not a band role" in message


def test_names_must_be_band_roles_when_allowed_is_given():
    message = refused("red / open", allowed={"red", "blue"})
    assert (
        message
        == "Formula 'red / open' uses 'open', which is not a band role; use one of blue, red."
    )


@pytest.mark.parametrize("text", ["2 + 3", "-(1)", "1e999", "(0-8)**0.5"])
def test_a_formula_that_reads_no_band_is_refused(text):
    assert "reads no band" in refused(text, allowed=ALLOWED)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", "is empty"),
        ("   \n ", "is empty"),
        (None, "must be text"),
        (3, "must be text"),
        ("red +", "is not valid: invalid syntax"),
        ("red\x00", "is not valid"),
        ("\ud800 + red", "not valid text"),
    ],
)
def test_odd_input_is_one_line(value, expected):
    assert expected in refused(value)


def test_multi_line_formula_from_yaml_is_read_as_one_line():
    e = parse_expression("(swir1 - swir2)\n  / (swir1 + swir2)\n", allowed=ALLOWED)
    assert e.text == "(swir1 - swir2) / (swir1 + swir2)"


def test_expressions_pickle_and_evaluate_on_dask_and_xarray_without_warnings():
    e = pickle.loads(pickle.dumps(parse_expression("(nir - red) / (nir + red) + red ** 2")))
    rng = np.random.default_rng(0)
    nir, red = (rng.uniform(-0.1, 1, (6, 5)).astype("float32") for _ in range(2))
    red[0, 0] = np.nan
    want = e.evaluate({"nir": nir, "red": red})
    lazy = evaluate_strictly(e, {"nir": dsa.from_array(nir, 2), "red": dsa.from_array(red, 3)})
    np.testing.assert_array_equal(lazy, want)
    cube = make_raster(np.stack([nir, red]), bands=["nir", "red"]).chunk({"y": 2, "x": 2})
    got = e.evaluate({b: cube.sel(band=b, drop=True) for b in ("nir", "red")})
    assert got.dtype == np.float32 and got.dims == ("y", "x") and got.rio.crs == cube.rio.crs
    np.testing.assert_array_equal(
        evaluate_strictly(e, {b: cube.sel(band=b) for b in ("nir", "red")}).values, want
    )


def test_integer_bands_are_computed_in_floating_point():
    got = parse_expression("red * 10000 / blue").evaluate(
        {"red": np.array([60000], dtype="uint16"), "blue": np.array([2], dtype="uint16")}
    )
    assert got.dtype == np.float64 and got.tolist() == [3e8]


def test_compute_indices_names_the_custom_index():
    cube = make_raster([[[0.1]], [[0.3]]], bands=["blue", "red"], attrs={"sensor": "landsat_oli"})
    with pytest.raises(InvalidParameterError) as info:
        compute_indices(cube, [], custom={"bad_ratio": "red * (0-8)**0.5"})
    assert str(info.value).startswith("Custom index 'bad_ratio': Formula 'red * (0-8)**0.5' is NaN")
    out = compute_indices(cube, [], custom={"sq": "(red - 0.5) ** 0.5", "r": "red / blue"})
    assert np.isnan(out.sel(index="sq").values).all()
    assert out.sel(index="r").values.item() == pytest.approx(3.0)


# --------------------------------------------------------------------------- properties

_NUMBERS = st.one_of(
    st.sampled_from(
        [
            "0",
            "0.0",
            "-0.0",
            "1",
            "8",
            "0.5",
            "9",
            "1e308",
            "1e-320",
            "5e-324",
            "1e999",
            "10" * 20,
            "(0-8)",
            "(-8)",
            "0.01",
            "0.010000001",
            "(1/3)",
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.integers(-(10**30), 10**30).map(str),
)
_LEAVES = st.one_of(_NUMBERS, st.sampled_from(BANDS))


def _extend(children):
    binary = st.tuples(
        children, st.sampled_from(["+", "-", "*", "/", "**"]), children, st.booleans()
    )
    return st.one_of(
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})" if t[3] else f"{t[0]}{t[1]}{t[2]}"),
        children.map(lambda c: f"-{c}"),
        children.map(lambda c: f"({c})"),
    )


_TREES = st.recursive(_LEAVES, _extend, max_leaves=40)
# most random trees of numbers read no band (refused); make most formulas read one
FORMULAS = st.one_of(
    _TREES,
    st.tuples(_TREES, st.sampled_from(["{} + red", "({}) * nir", "blue / ({})", "red - {}"])).map(
        lambda t: t[1].format(t[0])
    ),
)
BAND_VALUES = hnp.arrays(np.float32, (3, 4), elements=st.floats(width=32))


def _check_result(out, shape):
    assert isinstance(out, np.ndarray), type(out)
    assert out.dtype == np.float32, out.dtype
    assert out.shape == shape


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=FORMULAS, red=BAND_VALUES, blue=BAND_VALUES, nir=BAND_VALUES)
def test_random_formulas_only_raise_invalid_parameter_and_evaluate_to_real_floats(
    text, red, blue, nir
):
    try:
        e, _ = parsed_quietly(text, allowed=set(BANDS))
    except InvalidParameterError as exc:
        assert "\n" not in str(exc)
        return
    bands = {"red": red, "blue": blue, "nir": nir}
    out = evaluate_strictly(e, bands)
    _check_result(out, (3, 4))
    coords = {"y": [0.5, 1.5, 2.5], "x": [0.5, 1.5, 2.5, 3.5]}
    cube = {k: xr.DataArray(v, dims=("y", "x"), coords=coords) for k, v in bands.items()}
    got = evaluate_strictly(e, cube)
    assert isinstance(got, xr.DataArray) and got.dims == ("y", "x")
    _check_result(got.values, (3, 4))
    np.testing.assert_array_equal(got.values, out)
    lazy = evaluate_strictly(e, {k: v.chunk({"y": 2}) for k, v in cube.items()})
    np.testing.assert_array_equal(lazy.values, out)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=200), st.text(alphabet="red blu()+-*/.0123456789e_j", max_size=60)
    )
)
def test_random_text_only_raises_invalid_parameter(text):
    try:
        e, _ = parsed_quietly(text)
    except InvalidParameterError as exc:
        assert "\n" not in str(exc)
        return
    red = np.array([0.0, -1.0, 0.5, np.nan], dtype="float32")
    out = evaluate_strictly(e, dict.fromkeys(e.names, red))
    assert isinstance(out, np.ndarray) and out.dtype.kind == "f" and out.shape == (4,)
