"""Spectral Angle Mapper (SAM) against the packaged mineral-group spectral libraries.

The angle between a pixel spectrum ``t`` and a reference spectrum ``r`` over the same bands is

    α = arccos( Σ tᵢrᵢ / (√Σtᵢ² · √Σrᵢ²) )      (Kruse et al. 1993; ``../shared/DOMAIN.md`` §3),

in radians. It ignores brightness (a gain ``k·t`` has the same angle), which is why SAM is used
on reflectance with unknown illumination. Thresholds seen in practice are 0.08 rad (ERDC) and
"> 0.1 rad = no similarity"; the default here is 0.10 rad. With 6-7 Landsat or 9 ASTER
VNIR-SWIR bands SAM separates mineral *groups*, not species, so :func:`sam_classify` reports
the group of the closest record as its main output.

The libraries ``geo/data/library_<sensor>.csv`` are USGS splib06/splib07 and earthlib spectra
band-averaged with each sensor's RSR by ``scripts/derive_endmembers.py``; their headers give the
sources and the records dropped for lack of spectral coverage.

Imaging-spectrometer cubes (EMIT, EnMAP, PRISMA: a ``wavelength`` and ``fwhm`` coordinate on
``band``) are classified at full spectral resolution with ``library="hyperspectral"``: the
USGS library of :mod:`geo.spectral.minerals` is convolved to the cube's own bands, and the good
bands every kept record covers are used (records measured only in the SWIR are left out).

:func:`matched_filter` scores how much of a target spectrum each pixel holds against the
scene background (Manolakis & Shaw 2002, IEEE Signal Process. Mag. 19(1), 29-43; Boardman &
Kruse 2011 for its use in mineral mapping):

    MF(x) = (t - μ)ᵀ Σ⁻¹ (x - μ) / ((t - μ)ᵀ Σ⁻¹ (t - μ)),

with the background mean ``μ`` and covariance ``Σ`` streamed over the chunks; a pixel that is
the pure target scores 1, the background mean 0, and a linear mixture its target fraction.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from importlib import resources

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr

from geo._validation import select_bands
from geo.errors import InvalidParameterError
from geo.sensors import get_sensor

__all__ = [
    "DEFAULT_THRESHOLD",
    "GROUPS",
    "HYPERSPECTRAL",
    "hyperspectral_library",
    "load_library",
    "matched_filter",
    "sam_classify",
    "spectral_angle",
]

#: Mineral/cover groups of the library tables, in code order (code = position + 1).
GROUPS: tuple[str, ...] = (
    "iron_oxide",
    "aloh_clay",
    "mgoh_carbonate",
    "vegetation",
    "soil",
    "water",
    "snow",
)
#: Default maximum angle in radians ("> 0.1 rad = no similarity", DOMAIN.md §3).
DEFAULT_THRESHOLD = 0.10
_LABELS = ("name", "group", "record", "library")
#: ``library`` value of :func:`sam_classify` for the USGS library at a cube's own bands.
HYPERSPECTRAL = "hyperspectral"
_UNCLASSIFIED = 0
_NODATA = 255


@functools.cache
def _read_library(sensor: str) -> pd.DataFrame:
    path = resources.files("geo") / "data" / f"library_{sensor}.csv"
    with path.open(encoding="utf-8") as stream:
        return pd.read_csv(stream, comment="#")


def _check_groups(groups: Sequence[str], available: Sequence[str], what: str) -> None:
    unknown = sorted(set(groups) - set(available))
    if unknown:
        raise InvalidParameterError(
            f"The {what} name(s) {', '.join(map(repr, unknown))} are unknown; "
            f"known groups: {', '.join(available)}."
        )


def load_library(sensor: str, *, groups: Sequence[str] | None = None) -> pd.DataFrame:
    """Return the packaged spectral library of one sensor.

    Parameters
    ----------
    sensor : str
        Sensor key of :data:`geo.sensors.SENSORS` (``"landsat_oli"``, ``"aster"``...).
    groups : sequence of str, optional
        Keep only records of these groups (see :data:`GROUPS`).

    Returns
    -------
    pandas.DataFrame
        Columns ``name, group, record, library`` then one float column per band role in the
        sensor's band order (reflectance 0-1); one row per record, sorted by group then name.
        A new copy on every call.

    Raises
    ------
    InvalidParameterError
        Unknown sensor, or a group that the library does not hold.

    Examples
    --------
    >>> lib = load_library("aster", groups=["aloh_clay"])
    >>> list(lib["name"])
    ['alunite', 'kaolinite', 'kaolinite_kga1', 'montmorillonite', 'muscovite']
    >>> list(lib.columns[4:7])
    ['green', 'red', 'nir']
    """
    get_sensor(sensor)
    table = _read_library(sensor).copy()
    if groups is not None:
        _check_groups(groups, sorted(set(table["group"])), "group")
        table = table[table["group"].isin(groups)].reset_index(drop=True)
    return table


def hyperspectral_library(spectra: xr.DataArray) -> tuple[pd.DataFrame, list[str]]:
    """Return the USGS library at the bands of an imaging-spectrometer cube, ready for SAM.

    Parameters
    ----------
    spectra : xarray.DataArray
        ``(band, y, x)`` with ``wavelength`` and ``fwhm`` (nm) and optionally ``good`` on
        ``band``.

    Returns
    -------
    table : pandas.DataFrame
        Shaped like :func:`load_library` with one column per cube band label; records missing
        more than 10 % of the good bands (the SWIR-only ones) are dropped.
    bands : list of str
        The good band labels every kept record covers (the second copy of detector-overlap
        bands left out), to compare on.

    Raises
    ------
    BandError, InvalidParameterError
        No ``wavelength`` / ``fwhm`` coordinate.
    """
    from geo.spectral.continuum import spectral_axis
    from geo.spectral.minerals import library_at_bands

    wavelength, good = spectral_axis(spectra)
    if "fwhm" not in spectra.coords:
        raise InvalidParameterError(
            "The spectra cube needs an 'fwhm' coordinate on 'band' (nm) to convolve the library."
        )
    labels = [str(b) for b in spectra["band"].values]
    table = library_at_bands(wavelength, spectra["fwhm"].values, labels)
    bands = [b for b, ok in zip(labels, good, strict=True) if ok]
    # records missing more than a tenth of the good bands (SWIR-only) go; then the bands that
    # some kept record misses (e.g. the last EMIT band, past the library's 2498 nm) go
    covered = table[bands].notna().mean(axis=1) >= 0.9
    table = table[covered].reset_index(drop=True)
    bands = [b for b in bands if table[b].notna().all()]
    return table, bands


def _cube_bands(cube: xr.DataArray, roles: Sequence[str], what: str) -> xr.DataArray:
    """Select ``roles`` from a ``(band, y, x)`` cube in that order, one chunk along ``band``."""
    selected = select_bands(
        cube, roles, what=what, hint="Pass bands=[...] to use fewer library bands."
    ).astype("float32")
    return selected.chunk({"band": -1}) if selected.chunks else selected


def _angles(pixels: np.ndarray, references: np.ndarray) -> np.ndarray:
    """Spectral angles (radians) of pixels ``(..., B)`` to references ``(K, B)``: ``(..., K)``.

    NaN where a pixel has a NaN band or zero norm (0/0). Computed in float64.
    """
    pixels = pixels.astype("float64")
    unit = references / np.linalg.norm(references, axis=1, keepdims=True)
    norm = np.sqrt(np.sum(pixels * pixels, axis=-1, keepdims=True))
    with np.errstate(divide="ignore", invalid="ignore"):
        cosine = (pixels @ unit.T) / norm
    return np.arccos(np.clip(cosine, -1.0, 1.0))


def _check_references(references: np.ndarray, names: Sequence[str]) -> None:
    bad = [str(n) for n, r in zip(names, references, strict=True) if not np.all(np.isfinite(r))]
    bad += [str(n) for n, r in zip(names, references, strict=True) if not np.any(r)]
    if bad:
        raise InvalidParameterError(
            f"Reference spectra must be finite and not all zero; got {', '.join(bad)}."
        )


def spectral_angle(
    cube: xr.DataArray, reference: Mapping[str, float], *, name: str = "spectral_angle"
) -> xr.DataArray:
    """Spectral angle between every pixel and one reference spectrum.

    Parameters
    ----------
    cube : xarray.DataArray
        ``(band, y, x)`` reflectance with role names on ``band`` (numpy or dask backed).
    reference : mapping of str to float
        Reference value per band role, e.g. ``{"red": 0.2, "nir": 0.4}`` or one row of
        :func:`load_library` restricted to band columns (a :class:`pandas.Series`). Only these
        roles are used, in the reference's order.
    name : str
        Name of the result.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 angle in radians in [0, π]; NaN where any used band is NaN or the
        pixel is all zero. Lazy if the cube is dask backed; coordinates and CRS kept.

    Raises
    ------
    BandError
        If the cube lacks a role of the reference.
    InvalidParameterError
        If the cube is not ``(band, y, x)``, or the reference is empty, non-finite or all zero.

    Examples
    --------
    >>> from geo.testing import make_raster
    >>> cube = make_raster([[[1.0, 1.0]], [[0.0, 1.0]]], bands=["red", "nir"])
    >>> spectral_angle(cube, {"red": 1.0, "nir": 1.0}).values.round(4)  # π/4 and 0
    array([[0.7854, 0.    ]], dtype=float32)
    """
    roles = [str(role) for role in reference.keys()]
    if not roles:
        raise InvalidParameterError("The 'reference' parameter names no band; give role: value.")
    values = np.asarray([reference[role] for role in roles], dtype="float64")[None, :]
    _check_references(values, ["reference"])
    bands = _cube_bands(cube, roles, "the reference")
    out = xr.apply_ufunc(
        lambda block: _angles(block, values)[..., 0].astype("float32"),
        bands,
        input_core_dims=[["band"]],
        dask="parallelized",
        output_dtypes=["float32"],
    )
    return out.rename(name).rio.write_nodata(np.nan, encoded=False)


def _classify_kernel(
    pixels: np.ndarray, references: np.ndarray, limits: np.ndarray, record_groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best record, its group code and the minimum angle for pixels ``(..., B)``.

    A record is a candidate where its angle is at most its group's limit; the pixel takes the
    candidate with the smallest angle. ``record_groups`` holds each record's group code.
    """
    angles = _angles(pixels, references)
    nodata = np.isnan(angles[..., 0])
    candidates = np.where(angles <= limits, angles, np.inf)
    best = np.argmin(candidates, axis=-1)
    matched = np.isfinite(np.min(candidates, axis=-1))
    record_code = np.where(matched, best + 1, _UNCLASSIFIED)
    group_code = np.where(matched, record_groups[best], _UNCLASSIFIED)
    return (
        np.where(nodata, _NODATA, record_code).astype("uint8"),
        np.where(nodata, _NODATA, group_code).astype("uint8"),
        np.min(angles, axis=-1).astype("float32"),  # NaN at nodata: all angles are NaN there
    )


def _group_limits(
    thresholds: Mapping[str, float] | float, groups: Sequence[str]
) -> dict[str, float]:
    """Maximum angle per group; ``thresholds`` may give ``"default"`` for unlisted groups."""
    if isinstance(thresholds, Mapping):
        limits = dict(thresholds)
        default = limits.pop("default", DEFAULT_THRESHOLD)
        _check_groups(list(limits), list(groups), "thresholds group")
    else:
        limits, default = {}, thresholds
    limits = {group: float(limits.get(group, default)) for group in groups}
    bad = {g: v for g, v in limits.items() if not 0 < v <= np.pi}
    if bad:
        raise InvalidParameterError(
            f"The 'thresholds' parameter must give angles in (0, π] radians; got {bad}. "
            "Typical values are 0.08-0.10 rad."
        )
    return limits


def sam_classify(
    cube: xr.DataArray,
    library: pd.DataFrame | str,
    *,
    thresholds: Mapping[str, float] | float = DEFAULT_THRESHOLD,
    groups: Sequence[str] | None = None,
    bands: Sequence[str] | None = None,
) -> xr.Dataset:
    """Classify every pixel to the mineral group of its closest library spectrum.

    All records are stacked and compared in one pass over the bands. A record is a match where
    its angle is at most the threshold of its group; the pixel takes the match with the smallest
    angle, or stays unclassified if no record matches.

    Parameters
    ----------
    cube : xarray.DataArray
        ``(band, y, x)`` surface reflectance with role names on ``band``; extra bands are ignored.
    library : pandas.DataFrame or str
        A table shaped like :func:`load_library`'s result, a sensor key to load it, or
        :data:`HYPERSPECTRAL` (``"hyperspectral"``) for the USGS library convolved to the bands
        of an imaging-spectrometer cube (:func:`hyperspectral_library`; ``bands`` then
        defaults to the cube's good bands).
    thresholds : float or mapping of str to float
        Maximum angle in radians, for all groups or per group (``{"iron_oxide": 0.08}``);
        groups not listed use the mapping's ``"default"`` entry, else :data:`DEFAULT_THRESHOLD`.
    groups : sequence of str, optional
        Use only records of these groups.
    bands : sequence of str, optional
        Library band columns to use; defaults to all of them.

    Returns
    -------
    xarray.Dataset
        On the cube's ``(y, x)`` grid, lazy if the cube is dask backed:

        - ``best_group`` uint8: group code, ``attrs["codes"]`` maps code to group name;
          0 = no record within its threshold, 255 = nodata (a used band is NaN or all are 0).
        - ``best_name`` uint8: code of the matched record, same conventions, ``attrs["codes"]``
          maps code to record name.
        - ``angle`` float32: smallest angle in radians to any record (matched or not), NaN at
          nodata.

        ``attrs`` record the bands and per-group thresholds used.

    Raises
    ------
    BandError
        If the cube lacks a band the library uses (the message names them) or it is unusable.
    InvalidParameterError
        Unknown group, threshold outside (0, π], unknown band column, empty library or more than
        254 records.

    Examples
    --------
    A half-bright kaolinite pixel and a nodata pixel:

    >>> from geo.testing import make_raster
    >>> lib = load_library("landsat_oli")
    >>> bands = list(lib.columns[4:])
    >>> kaolinite = 0.5 * lib.set_index("name").loc["kaolinite", bands].to_numpy(float)
    >>> cube = make_raster(np.stack([kaolinite, np.full(7, np.nan)], 1)[:, None], bands=bands)
    >>> out = sam_classify(cube, lib)
    >>> codes = out.best_group.attrs["codes"]
    >>> codes[int(out.best_group[0, 0])], int(out.best_group[0, 1]), round(float(out.angle[0, 0]), 6)
    ('aloh_clay', 255, 0.0)
    """
    if isinstance(library, str) and library == HYPERSPECTRAL:
        table, good_bands = hyperspectral_library(cube)
        bands = good_bands if bands is None else bands
    else:
        table = load_library(library) if isinstance(library, str) else library
    if groups is not None:
        _check_groups(groups, sorted(set(table["group"])), "group")
        table = table[table["group"].isin(groups)]
    columns = [c for c in table.columns if c not in _LABELS]
    if bands is not None:
        unknown = [b for b in bands if b not in columns]
        if unknown:
            raise InvalidParameterError(
                f"The 'bands' parameter names {', '.join(unknown)}, which the library lacks; "
                f"library bands: {', '.join(columns)}."
            )
        columns = list(bands)
    if not 0 < len(table) <= _NODATA - 1 or not columns:
        raise InvalidParameterError(
            f"The library must hold 1-254 records and at least one band; got {len(table)} "
            f"records and bands {columns}."
        )
    _check_groups(list(table["group"].unique()), list(GROUPS), "library group")
    present = [g for g in GROUPS if g in set(table["group"])]
    limits = _group_limits(thresholds, present)
    references = table[columns].to_numpy(dtype="float64")
    _check_references(references, list(table["name"]))
    group_code = {g: GROUPS.index(g) + 1 for g in present}
    record_groups = np.array([group_code[g] for g in table["group"]])
    record_limits = np.array([limits[g] for g in table["group"]])
    pixels = _cube_bands(cube, columns, "the library")
    best_name, best_group, angle = xr.apply_ufunc(
        lambda block: _classify_kernel(block, references, record_limits, record_groups),
        pixels,
        input_core_dims=[["band"]],
        output_core_dims=[[], [], []],
        dask="parallelized",
        output_dtypes=["uint8", "uint8", "float32"],
    )
    best_group.attrs["codes"] = {0: "unclassified", **{c: g for g, c in group_code.items()}}
    best_name.attrs["codes"] = {
        0: "unclassified",
        **{i + 1: str(n) for i, n in enumerate(table["name"])},
    }
    return xr.Dataset(
        {
            "best_group": best_group.rio.write_nodata(_NODATA, encoded=False),
            "best_name": best_name.rio.write_nodata(_NODATA, encoded=False),
            "angle": angle.rio.write_nodata(np.nan, encoded=False),
        },
        attrs={"bands": columns, "thresholds": limits},
    )


def matched_filter(
    cube: xr.DataArray,
    target: Mapping[str, float],
    *,
    valid: xr.DataArray | None = None,
    name: str = "matched_filter",
) -> xr.DataArray:
    """Matched-filter score of a target spectrum in every pixel.

    Parameters
    ----------
    cube : xarray.DataArray
        ``(band, y, x)`` reflectance (numpy or dask backed).
    target : mapping of str to float
        Target value per band label, e.g. one row of :func:`hyperspectral_library`'s table
        restricted to its ``bands`` (a :class:`pandas.Series`); only these bands are used.
    valid : xarray.DataArray of bool, optional
        ``(y, x)`` pixels that may enter the background statistics.
    name : str
        Name of the result.

    Returns
    -------
    xarray.DataArray
        ``(y, x)`` float32 score: ~1 for the pure target, ~0 for the background mean, the target
        fraction for a linear mixture with the background; NaN where a used band is NaN. Lazy
        if the cube is dask backed; ``attrs["n_background"]`` is the background pixel count.

    Raises
    ------
    BandError
        The cube lacks a band of the target.
    InvalidParameterError
        An empty or non-finite target, or a target equal to the background mean.
    TooFewPixelsError
        Fewer background pixels than bands + 1 (the covariance cannot be inverted).
    """
    from geo.errors import TooFewPixelsError
    from geo.spectral.pca import streaming_covariance

    roles = [str(role) for role in target.keys()]
    if not roles:
        raise InvalidParameterError("The 'target' parameter names no band; give band: value.")
    values = np.asarray([target[role] for role in roles], dtype="float64")
    if not np.all(np.isfinite(values)):
        raise InvalidParameterError("The 'target' spectrum must be finite in every band it names.")
    bands = _cube_bands(cube, roles, "the target")
    mean, cov, n = streaming_covariance(bands, roles, valid)
    if n < len(roles) + 1:
        raise TooFewPixelsError(
            f"The matched filter needs more than {len(roles)} background pixels for "
            f"{len(roles)} bands; got {n}. Use a larger area or fewer bands."
        )
    ridge = np.eye(len(roles)) * max(np.trace(cov) / len(roles), 1e-30) * 1e-6
    direction = values - mean
    weights = np.linalg.solve(cov + ridge, direction)
    norm = float(direction @ weights)
    if not norm > 0:
        raise InvalidParameterError(
            "The 'target' spectrum equals the background mean; the matched filter is undefined."
        )
    weights = weights / norm

    def kernel(block: np.ndarray) -> np.ndarray:
        return ((block.astype("float64") - mean) @ weights).astype("float32")

    out = xr.apply_ufunc(
        kernel,
        bands,
        input_core_dims=[["band"]],
        dask="parallelized",
        output_dtypes=["float32"],
    )
    out = out.drop_vars([c for c in out.coords if "band" in out[c].dims])
    out.attrs = {"n_background": int(n)}
    return out.rename(name).rio.write_nodata(np.nan, encoded=False)
