"""Spectral indices from the catalogue in ``geo/data/indices.yaml``.

The catalogue is data: each index has a formula per sensor written in band roles,
the minerals it targets, a reference and a status. :func:`compute_indices` evaluates
any set of them lazily on a reflectance cube, so all indices of a run come from one
pass over the bands when the result is computed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import xarray as xr
import yaml

from geo.errors import InvalidParameterError
from geo.sensors import ROLES
from geo.spectral.expression import Expression, parse_expression

__all__ = ["IndexDef", "catalogue", "compute_indices", "get_index", "index_names"]


@dataclass(frozen=True)
class IndexDef:
    """One catalogue entry for one sensor."""

    name: str
    title: str
    sensor: str
    expression: Expression
    status: str
    targets: tuple[str, ...]
    reference: str
    log_stats: bool


@functools.cache
def _raw_catalogue() -> dict:
    text = resources.files("geo").joinpath("data/indices.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def index_names() -> list[str]:
    """Return every index name in the catalogue, in catalogue order."""
    return list(_raw_catalogue())


def catalogue(sensor: str | None = None) -> list[IndexDef]:
    """Return catalogue entries, for one sensor or for all.

    Examples
    --------
    >>> [d.name for d in catalogue("landsat_oli")][:3]
    ['iron_oxide', 'ferric_iron', 'ferrous_iron']
    """
    out = []
    for name, entry in _raw_catalogue().items():
        for sensor_name, f in entry["formulas"].items():
            if sensor is not None and sensor_name != sensor:
                continue
            out.append(
                IndexDef(
                    name=name,
                    title=entry["title"],
                    sensor=sensor_name,
                    expression=parse_expression(f["formula"], allowed=set(ROLES)),
                    status=f["status"],
                    targets=tuple(entry["targets"]),
                    reference=entry["reference"],
                    log_stats=bool(entry["log_stats"]),
                )
            )
    return out


def get_index(name: str, sensor: str) -> IndexDef:
    """Return the definition of index ``name`` for ``sensor``.

    Raises
    ------
    InvalidParameterError
        The index is unknown, or has no formula for this sensor.
    """
    raw = _raw_catalogue()
    if name not in raw:
        raise InvalidParameterError(
            f"Unknown index {name!r}; the catalogue has {', '.join(raw)} (see `geo indices --list`)."
        )
    for d in catalogue(sensor):
        if d.name == name:
            return d
    raise InvalidParameterError(
        f"Index {name!r} has no formula for sensor {sensor!r}; it is defined for "
        f"{', '.join(raw[name]['formulas'])}."
    )


def compute_indices(
    reflectance: xr.DataArray,
    names: list[str],
    *,
    sensor: str | None = None,
    custom: dict[str, str] | None = None,
    min_denominator: float = 0.01,
) -> xr.DataArray:
    """Compute catalogue (and custom) indices lazily.

    Parameters
    ----------
    reflectance : xarray.DataArray
        ``(band, y, x)`` reflectance with role names on ``band``.
    names : list of str
        Catalogue index names.
    sensor : str, optional
        Which formulas to use; defaults to ``reflectance.attrs["sensor"]``.
    custom : dict of str to str, optional
        Extra ``{name: formula}`` in band roles, parsed with the safe evaluator.
    min_denominator : float
        Ratios whose denominator is at or below this are NaN.

    Returns
    -------
    xarray.DataArray
        ``(index, y, x)`` float32, NaN wherever an input band is NaN or a ratio is
        undefined; CRS and transform kept; ``attrs["formulas"]`` maps name to formula.

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> r = make_raster([[[0.1]], [[0.3]]], bands=["blue", "red"], attrs={"sensor": "landsat_oli"})
    >>> float(compute_indices(r, ["iron_oxide"]).sel(index="iron_oxide")[0, 0])
    3.0
    """
    sensor = sensor or reflectance.attrs.get("sensor")
    roles = [str(b) for b in reflectance["band"].values]
    exprs: dict[str, Expression] = {n: get_index(n, sensor).expression for n in names}
    for name, text in (custom or {}).items():
        if name in exprs:
            raise InvalidParameterError(f"Custom index {name!r} has the name of a catalogue index.")
        exprs[name] = parse_expression(text, allowed=set(ROLES))
    if not exprs:
        raise InvalidParameterError("No indices requested; name at least one in `indices:`.")
    bands = {role: reflectance.sel(band=role, drop=True) for role in roles}
    layers = [
        e.evaluate(bands, min_denominator=min_denominator).astype("float32").rename(n)
        for n, e in exprs.items()
    ]
    out = xr.concat(layers, dim="index", coords="minimal", compat="override")
    out = out.assign_coords(index=list(exprs)).rename("indices")
    out.attrs = {
        **{k: v for k, v in reflectance.attrs.items() if k in ("sensor", "scene_id", "date")},
        "formulas": {n: e.text for n, e in exprs.items()},
    }
    return out.rio.write_nodata(np.nan, encoded=False)
