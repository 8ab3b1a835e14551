"""Read-only validators shared by the domain modules; they raise, with the fix in the message."""

from __future__ import annotations

from collections.abc import Sequence

import xarray as xr

from geo.errors import BandError

__all__ = ["as_cube", "select_bands", "unusable_bands"]


def unusable_bands(cube: xr.DataArray) -> set[str]:
    """Roles a reader marked unusable (``attrs["unusable_bands"]``, e.g. ASTER SWIR after 2008)."""
    return {b for b in str(cube.attrs.get("unusable_bands", "")).split(",") if b}


def select_bands(
    cube: xr.DataArray, roles: Sequence[str], *, what: str, hint: str = ""
) -> xr.DataArray:
    """Return ``cube`` restricted to ``roles`` (in that order) as ``(band, y, x)``.

    Raises
    ------
    BandError
        ``cube`` has no ``band`` dimension, ``roles`` repeat, a role is missing (the message
        lists the roles present), or a role is marked unusable by the reader (with its reason).

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> cube = make_raster([[[1.0]], [[2.0]]], bands=["red", "nir"])
    >>> select_bands(cube, ["nir"], what="a demo")["band"].values.tolist()
    ['nir']
    """
    if cube.ndim != 3 or "band" not in cube.dims:
        raise BandError(f"{what} needs a (band, y, x) cube labelled by role; got dims {cube.dims}.")
    if len(set(roles)) != len(roles):
        raise BandError(f"{what}: the band roles must be distinct; got {list(roles)}.")
    present = [str(b) for b in cube["band"].values]
    missing = [r for r in roles if r not in present]
    if missing:
        raise BandError(
            f"{what} needs band(s) {', '.join(missing)}; the scene has {', '.join(present)}. {hint}".rstrip()
        )
    bad = [r for r in roles if r in unusable_bands(cube)]
    if bad:
        raise BandError(
            f"{what} uses band(s) {', '.join(bad)} of scene {cube.attrs.get('scene_id')}, which "
            f"cannot be used: {cube.attrs.get('unusable_reason', 'marked unusable by the reader')}."
        )
    return cube.sel(band=list(roles)).transpose("band", "y", "x")


def as_cube(data, *, what: str) -> xr.DataArray:
    """Return the reflectance cube of ``data``: a DataArray as it is, a Scene's ``reflectance``.

    The user-facing functions take what the previous step returned (``geo.open_scene``
    gives a Scene) as well as a bare cube.

    Raises
    ------
    BandError
        ``data`` is neither.
    """
    if isinstance(data, xr.DataArray):
        return data
    cube = getattr(data, "reflectance", None)
    if isinstance(cube, xr.DataArray):
        return cube
    raise BandError(
        f"{what} needs a scene (geo.open_scene) or a (band, y, x) DataArray of reflectance; "
        f"got {type(data).__name__}."
    )
