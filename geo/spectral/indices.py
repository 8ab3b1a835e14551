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

from geo._validation import as_cube, unusable_bands
from geo.errors import InvalidParameterError
from geo.sensors import ROLES, SENSORS
from geo.spectral.expression import Expression, parse_expression

__all__ = ["IndexDef", "catalogue", "composites", "compute_indices", "get_index", "index_names"]


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
def _raw_file() -> dict:
    text = resources.files("geo").joinpath("data/indices.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _raw_catalogue() -> dict:
    return {k: v for k, v in _raw_file().items() if not k.startswith("_")}


def composites() -> dict[str, list[str]]:
    """Return the RGB ratio composites (``{"sabins": [red, green, blue index names], ...}``).

    Examples
    --------
    >>> composites()["sabins"]
    ['sabins_red', 'sabins_green', 'sabins_blue']
    """
    return {k: list(v) for k, v in _raw_file().get("_composites", {}).items()}


def index_names() -> list[str]:
    """Return every index name in the catalogue, in catalogue order."""
    return list(_raw_catalogue())


def _definition(name: str, sensor: str) -> IndexDef | None:
    entry = _raw_catalogue()[name]
    if sensor not in entry["sensors"]:
        return None
    per_sensor = entry["sensors"][sensor]
    if isinstance(per_sensor, str):
        per_sensor = {"status": per_sensor}
    return IndexDef(
        name=name,
        title=entry["title"],
        sensor=sensor,
        expression=parse_expression(
            per_sensor.get("formula", entry["formula"]), allowed=set(ROLES)
        ),
        status=per_sensor["status"],
        targets=tuple(entry["targets"]),
        reference=entry["reference"],
        log_stats=bool(entry["log_stats"]),
    )


def catalogue(sensor: str | None = None) -> list[IndexDef]:
    """Return catalogue entries, for one sensor or for all (one entry per index and sensor).

    Examples
    --------
    >>> [d.name for d in catalogue("landsat_oli")][:3]
    ['iron_oxide', 'ferric_iron', 'ferrous_iron']
    >>> [d.expression.text for d in catalogue("aster") if d.name == "clay_hydroxyl"]
    ['(swir1 + swir2205) / swir2165']
    """
    sensors = [sensor] if sensor is not None else list(SENSORS)
    return [
        d for name in _raw_catalogue() for s in sensors if (d := _definition(name, s)) is not None
    ]


def get_index(name: str, sensor: str | None) -> IndexDef:
    """Return the definition of index ``name`` for ``sensor`` (None: of unknown origin).

    Raises
    ------
    InvalidParameterError
        The index is unknown, or the sensor lacks the bands it needs (the message names
        them), or the catalogue has no formula for that sensor.
    """
    raw = _raw_catalogue()
    if name not in raw:
        raise InvalidParameterError(
            f"Unknown index {name!r}; the catalogue has {', '.join(raw)} (see `geo indices --list`)."
        )
    definition = None if sensor is None else _definition(name, sensor)
    if definition is not None:
        return definition
    if sensor not in SENSORS:  # a plain GeoTIFF of unknown origin: the role formula, unchecked
        entry = raw[name]
        return IndexDef(
            name,
            entry["title"],
            str(sensor),
            parse_expression(entry["formula"]),
            "U",
            tuple(entry["targets"]),
            entry["reference"],
            bool(entry["log_stats"]),
        )
    needs = parse_expression(raw[name]["formula"]).names
    have = set(SENSORS[sensor].roles) if sensor in SENSORS else set()
    missing = sorted(needs - have)
    if sensor in SENSORS and missing:
        raise InvalidParameterError(
            f"Index {name!r} ({raw[name]['formula']}) needs band(s) {', '.join(missing)}, which "
            f"sensor {sensor!r} does not have; it is defined for {', '.join(raw[name]['sensors'])}."
        )
    raise InvalidParameterError(
        f"Index {name!r} has no formula for sensor {sensor!r}; it is defined for "
        f"{', '.join(raw[name]['sensors'])}."
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
    reflectance : xarray.DataArray or Scene
        ``(band, y, x)`` reflectance with role names on ``band``, or the
        :class:`~geo.io.scene.Scene` :func:`geo.open_scene` returns.
    names : list of str
        Catalogue index names.
    sensor : str, optional
        Which formulas to use; defaults to ``reflectance.attrs["sensor"]``.
    custom : dict of str to str, optional
        Extra ``{name: formula}`` in band roles, parsed with the safe evaluator
        (:func:`geo.spectral.expression.parse_expression`: its limits and rules apply; an
        error names the index).
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
    reflectance = as_cube(reflectance, what="compute_indices")
    sensor = sensor or reflectance.attrs.get("sensor")
    roles = [str(b) for b in reflectance["band"].values]
    exprs: dict[str, Expression] = {n: get_index(n, sensor).expression for n in names}
    for name, text in (custom or {}).items():
        if name in exprs:
            raise InvalidParameterError(f"Custom index {name!r} has the name of a catalogue index.")
        try:
            exprs[name] = parse_expression(
                text, allowed=set(ROLES), min_denominator=min_denominator
            )
        except InvalidParameterError as exc:
            raise InvalidParameterError(f"Custom index {name!r}: {exc}") from None
    if not exprs:
        raise InvalidParameterError("No indices requested; name at least one in `indices:`.")
    unusable = unusable_bands(reflectance)
    for name, e in exprs.items():
        bad = sorted(e.names & unusable)
        if bad:
            raise InvalidParameterError(
                f"Index {name!r} ({e.text}) uses band(s) {', '.join(bad)} of scene "
                f"{reflectance.attrs.get('scene_id')}, which cannot be used: "
                f"{reflectance.attrs.get('unusable_reason', 'marked unusable by the reader')}."
            )
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
