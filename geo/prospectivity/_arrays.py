"""Array plumbing shared by the prospectivity functions: one grid, NaN as no data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
import xarray as xr

from geo.errors import GridMismatchError, InvalidParameterError


def _values(x, name: str) -> np.ndarray:
    """Return ``x`` as a float64 ndarray (a copy; the input is never modified)."""
    arr = np.array(x.data if isinstance(x, xr.DataArray) else x, dtype="float64")
    if arr.ndim != 2:
        raise GridMismatchError(f"'{name}' must be a 2-D (y, x) raster; got shape {arr.shape}.")
    return arr


def _check_grid(arrays: Mapping[str, Any]) -> None:
    """Raise :class:`GridMismatchError` unless all arrays have one shape (and coords)."""
    items = [(k, v) for k, v in arrays.items() if v is not None]
    ref_name, ref = items[0]
    for name, arr in items[1:]:
        if np.shape(arr) != np.shape(ref):
            raise GridMismatchError(
                f"'{name}' and '{ref_name}' must share one pixel grid; got shape "
                f"{np.shape(arr)} vs {np.shape(ref)}. Align them first with "
                "`b.rio.reproject_match(a)`."
            )
        if isinstance(arr, xr.DataArray) and isinstance(ref, xr.DataArray):
            for dim in ("x", "y"):
                if dim in arr.coords and dim in ref.coords:
                    if not np.allclose(arr[dim].values, ref[dim].values):
                        raise GridMismatchError(
                            f"'{name}' and '{ref_name}' have the same shape but different "
                            f"'{dim}' coordinates. Align them first with `b.rio.reproject_match(a)`."
                        )


def _wrap(template, out: np.ndarray, name: str):
    """Return ``out`` as float32, as a DataArray on ``template``'s grid if it is one."""
    out = out.astype("float32")
    if isinstance(template, xr.DataArray):
        return template.copy(data=out).rename(name)
    return out


def _mask(x, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (truth, defined) for a boolean-like raster; NaN cells are undefined."""
    arr = _values(x, name)
    defined = np.isfinite(arr)
    return np.where(defined, arr != 0, False), defined


def _cells(deposits, valid, **rasters) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Check the grid and return (boolean rasters, deposit mask, valid mask).

    A cell is valid where ``valid`` is True (when given) and every raster is defined.
    """
    _check_grid({**rasters, "deposits": deposits, "valid": valid})
    dep, keep = _mask(deposits, "deposits")
    if valid is not None:
        v, v_defined = _mask(valid, "valid")
        keep &= v & v_defined
    out = {}
    for name, raster in rasters.items():
        truth, defined = _mask(raster, name)
        keep &= defined
        out[name] = truth
    return out, dep & keep, keep


def _layers(layers: Sequence, name: str = "layers") -> tuple[np.ndarray, object]:
    """Stack membership layers into ``(n, y, x)`` after checking grid and range [0, 1]."""
    if isinstance(layers, xr.DataArray | np.ndarray) or len(layers) == 0:
        raise InvalidParameterError(
            f"The '{name}' parameter must be a non-empty sequence of rasters (a list). "
            f"Got {type(layers).__name__} instead."
        )
    _check_grid({f"{name}[{i}]": layer for i, layer in enumerate(layers)})
    stack = np.stack([_values(layer, f"{name}[{i}]") for i, layer in enumerate(layers)])
    finite = stack[np.isfinite(stack)]
    if finite.size and (finite.min() < 0 or finite.max() > 1):
        raise InvalidParameterError(
            f"The '{name}' parameter must hold fuzzy memberships in [0, 1]. Got values in "
            f"[{float(finite.min())!r}, {float(finite.max())!r}] instead; transform them with a fuzzy_* "
            "membership function first."
        )
    return stack, layers[0]


def _positive(value: float, name: str, caller: str) -> float:
    if not (isinstance(value, Real) and math.isfinite(value) and value > 0):
        raise InvalidParameterError(
            f"The '{name}' parameter of {caller} must be a finite number > 0. Got {value!r} instead."
        )
    return float(value)
