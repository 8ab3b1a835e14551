"""Generic answer checks: arrays (rasters), numbers and choices.

A check prints a short confirmation when the answer is right and raises
:class:`CheckFailed` (an ``AssertionError``) with an explanation when it is not, so a
notebook run with the solutions filled in fails loudly if a lesson and the package drift
apart.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import xarray as xr

__all__ = ["CheckFailed", "check_array", "check_choice", "check_value"]


class CheckFailed(AssertionError):
    """The learner's answer differs from the expected one; the message says how."""


def _ok(name: str, detail: str = "") -> bool:
    print(f"✔ {name}: correct{' — ' + detail if detail else ''}")
    return True


def _plain(x) -> np.ndarray:
    if isinstance(x, xr.DataArray):
        x = x.values
    return np.asarray(x)


def check_array(
    answer,
    expected,
    *,
    name: str,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    hint: str = "",
) -> bool:
    """Compare an array (or raster) answer with the expected one, NaN where NaN.

    Parameters
    ----------
    answer, expected : array-like or xarray.DataArray
        The learner's result and the package's.
    name : str
        What the answer is, in the learner's words ("the iron-oxide ratio").
    rtol, atol : float
        Tolerances of :func:`numpy.isclose`.
    hint : str
        A sentence added to every failure (a common mistake for this exercise).

    Raises
    ------
    CheckFailed
        Type, shape, nodata pattern or values differ; the message says which and where.

    Examples
    --------
    >>> check_array([1.0, 2.0], [1.0, 2.0], name="x")
    ✔ x: correct
    True
    >>> check_array([1.0, 2.5], [1.0, 2.0], name="x")
    Traceback (most recent call last):
    ...
    geo.training.checks.CheckFailed: x: 1 of 2 values differ (largest difference 0.5 at index (1,): got 2.5, expected 2).
    """
    tail = f" {hint}" if hint else ""
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    if isinstance(expected, xr.DataArray) and isinstance(answer, xr.DataArray):
        if expected.rio.crs is not None and answer.rio.crs != expected.rio.crs:
            raise CheckFailed(
                f"{name}: the CRS is {answer.rio.crs}, expected {expected.rio.crs}.{tail}"
            )
    got, want = _plain(answer).astype("float64"), _plain(expected).astype("float64")
    if got.shape != want.shape:
        raise CheckFailed(
            f"{name}: shape {got.shape}, expected {want.shape} (rows, columns"
            f"{', bands first' if want.ndim == 3 else ''}).{tail}"
        )
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    if (nan_got != nan_want).any():
        extra, missing = int((nan_got & ~nan_want).sum()), int((nan_want & ~nan_got).sum())
        raise CheckFailed(
            f"{name}: the nodata (NaN) pixels differ — {extra} pixel(s) are NaN that should "
            f"hold a value and {missing} should be NaN but hold one. Check the mask.{tail}"
        )
    close = np.isclose(got, want, rtol=rtol, atol=atol) | nan_want
    if not close.all():
        diff = np.where(close, 0.0, np.abs(got - want))
        where = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise CheckFailed(
            f"{name}: {int((~close).sum())} of {close.size} values differ (largest difference "
            f"{diff[where]:.3g} at index {tuple(int(i) for i in where)}: got {got[where]:.6g}, "
            f"expected {want[where]:.6g}).{tail}"
        )
    return _ok(name)


def check_value(answer, expected: float, *, name: str, rtol: float = 1e-3, atol: float = 0.0,
                hint: str = "") -> bool:  # fmt: skip
    """Compare a number with the expected one.

    Examples
    --------
    >>> check_value(0.1234, 0.1235, name="threshold", rtol=1e-2)
    ✔ threshold: correct
    True
    """
    tail = f" {hint}" if hint else ""
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise CheckFailed(
            f"{name}: expected a number, got {type(answer).__name__}.{tail}"
        ) from None
    if not np.isclose(value, expected, rtol=rtol, atol=atol):
        direction = "too high" if value > expected else "too low"
        raise CheckFailed(f"{name}: {value:.6g} is {direction}; expected {expected:.6g}.{tail}")
    return _ok(name)


def check_choice(answer, expected: str | Collection[str], *, name: str, explain: str) -> bool:
    """Check a named choice (a band, a method, a licence...) and explain the right one.

    Examples
    --------
    >>> check_choice("swir1", "swir1", name="numerator", explain="clays absorb in SWIR2")
    ✔ numerator: correct — clays absorb in SWIR2
    True
    """
    allowed = {expected} if isinstance(expected, str) else set(expected)
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    if str(answer).strip().lower() not in {a.lower() for a in allowed}:
        want = " or ".join(sorted(allowed))
        raise CheckFailed(f"{name}: {answer!r} is not it; expected {want}. {explain}")
    return _ok(name, explain)
