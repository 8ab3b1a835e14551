"""Lesson 2, band ratios and mineral indices: answer checks and the lesson's map helpers.

Every check computes the expected answer from the bundled sample with the package itself
(:func:`geo.open_scene`, :func:`geo.spectral.masks.build_mask`,
:func:`geo.spectral.indices.compute_indices`, :func:`geo.spectral.anomaly.fit_threshold`) and,
when the learner's answer differs, says which usual mistake it looks like (bands swapped, mask
forgotten, mean and σ instead of median and MAD, threshold left in log units...).

The map helpers (:func:`draw_map`, :func:`stretch_rgb`, :func:`truth_outlines`) draw the
lessons' figures with a scale bar, a north arrow and a legend; lesson 3 uses them too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import matplotlib
import numpy as np
import xarray as xr
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from geo.export.quicklook import draw_scale_and_north
from geo.io.readers import open_scene
from geo.spectral.anomaly import fit_threshold
from geo.spectral.indices import compute_indices
from geo.spectral.masks import MASK_RULES, build_mask, product_flags
from geo.spectral.sam import load_library
from geo.training import sample_dir
from geo.training.checks import CheckFailed, check_array, check_choice, check_value

__all__ = [
    "SCENE",
    "Sample",
    "check_clay_bands",
    "check_culprit",
    "check_iron_ratio",
    "check_naive_cutoff",
    "check_robust_threshold",
    "draw_map",
    "load_sample",
    "naive_anomaly_shares",
    "stretch_rgb",
    "truth_outlines",
]

#: The sample product folder inside :func:`geo.training.sample_dir`.
SCENE = "LC08_L2SR_171075_20230601_20230607_02_T1"
_MAD_TO_SIGMA = 1.4826
_BAND_NUMBERS = {"1": "coastal", "2": "blue", "3": "green", "4": "red", "5": "nir", "6": "swir1"}
_BAND_NUMBERS["7"] = "swir2"


# --------------------------------------------------------------------------------------------
# The lesson data


@dataclass(frozen=True)
class Sample:
    """The sample scene as the lessons use it (loaded in memory: 7 × 600 × 600 float32).

    Attributes
    ----------
    reflectance : xarray.DataArray
        ``(band, y, x)`` surface reflectance, band roles ``coastal … swir2``, NaN = fill.
    reasons : xarray.DataArray
        ``(y, x)`` uint16 mask reasons of :func:`geo.spectral.masks.build_mask` (default rules).
    valid : xarray.DataArray
        ``(y, x)`` bool, True where no rule removed the pixel.
    """

    reflectance: xr.DataArray
    reasons: xr.DataArray
    valid: xr.DataArray


@functools.cache
def _load(folder: str) -> Sample:
    scene = open_scene(Path(folder) / SCENE)
    refl = scene.reflectance.compute()
    flags = product_flags(scene.qa, scene.metadata.get("qa_kind"), sensor=refl.attrs["sensor"])
    reasons = build_mask(refl, flags=flags).compute()
    return Sample(refl, reasons, reasons == 0)


def load_sample() -> Sample:
    """Return the sample scene, its mask reasons and valid pixels, as the checks compute them.

    The same as a notebook's ``geo.open_scene`` + ``build_mask(..., flags=product_flags(...))``
    with the default :class:`~geo.spectral.masks.MaskConfig`; read once per session.
    """
    return _load(str(sample_dir()))


def _band(sample: Sample, role: str) -> xr.DataArray:
    return sample.reflectance.sel(band=role, drop=True)


# --------------------------------------------------------------------------------------------
# Comparing answers with the usual mistakes


def _plain(x) -> np.ndarray:
    return np.asarray(x.values if isinstance(x, xr.DataArray) else x, dtype="float64")


def _same(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> bool:
    """Return True for the same shape, NaN in the same places and close values elsewhere."""
    if got.shape != want.shape:
        return False
    nan_got, nan_want = np.isnan(got), np.isnan(want)
    if (nan_got != nan_want).any():
        return False
    keep = ~nan_want
    return bool(np.allclose(got[keep], want[keep], rtol=rtol, atol=atol, equal_nan=True))


def _check_array_mistakes(
    answer,
    expected: xr.DataArray,
    mistakes: Iterable[tuple[Callable[[], object], str]],
    *,
    name: str,
    rtol: float = 1e-5,
    atol: float = 1e-6,
    hint: str = "",
) -> bool:
    """:func:`check_array`, but first name the mistake if the answer equals a known wrong one.

    ``mistakes`` holds ``(build the wrong answer, what went wrong)`` pairs, tried in order
    only when the answer is not the expected one.
    """
    if answer is not None:
        got, want = _plain(answer), _plain(expected)
        if got.shape == want.shape and not _same(got, want, rtol, atol):
            with np.errstate(divide="ignore", invalid="ignore"):
                for build, message in mistakes:
                    if _same(got, _plain(build()), rtol, atol):
                        raise CheckFailed(f"{name}: {message}")
    return check_array(answer, expected, name=name, rtol=rtol, atol=atol, hint=hint)


def _check_value_mistakes(
    answer,
    expected: float,
    mistakes: Iterable[tuple[float, str]],
    *,
    name: str,
    rtol: float = 1e-3,
    hint: str = "",
) -> bool:
    """:func:`check_value`, but first name the mistake if the answer equals a known wrong one."""
    try:
        value = float(answer) if answer is not None else None
    except (TypeError, ValueError):
        value = None
    if value is not None and not np.isclose(value, expected, rtol=rtol):
        for wrong, message in mistakes:
            if np.isfinite(wrong) and np.isclose(value, wrong, rtol=rtol):
                raise CheckFailed(f"{name}: {value:.6g} — {message} Expected {expected:.6g}.")
    return check_value(answer, expected, name=name, rtol=rtol, hint=hint)


def _band_role(answer) -> str | None:
    """Return the role of a band named by role (``"swir1"``) or OLI number (``6``, ``"B6"``)."""
    if answer is None:
        return None
    text = str(answer).strip().lower().replace("sr_", "").replace("band", "").strip()
    text = text.removeprefix("b").strip()
    return _BAND_NUMBERS.get(text, str(answer).strip().lower())


# --------------------------------------------------------------------------------------------
# Exercise 1: the iron-oxide ratio


def check_iron_ratio(ratio) -> bool:
    """Check the iron-oxide ratio red / blue, NaN where the mask removes a pixel.

    Parameters
    ----------
    ratio : xarray.DataArray or numpy.ndarray
        ``(y, x)`` the learner's ratio on the sample grid.

    Raises
    ------
    CheckFailed
        The ratio is missing, upside down, uses another band, holds values on masked pixels,
        or differs otherwise; the message says which.
    """
    s = load_sample()
    red, blue, green = _band(s, "red"), _band(s, "blue"), _band(s, "green")
    expected = (red / blue).where(s.valid)
    masked = "and it holds values on pixels the mask removes (cloud, water, vegetation, dark slopes); add `.where(valid)`."
    mistakes = [
        (
            lambda: (blue / red).where(s.valid),
            "this is blue / red, upside down. Iron oxides absorb blue light (Fe³⁺ charge "
            "transfer) and reflect red, so red goes on top and iron-stained rock comes out bright.",
        ),
        (lambda: blue / red, f"this is blue / red, upside down (red goes on top), {masked}"),
        (
            lambda: red / blue,
            "the values are right on the valid pixels, but the ratio holds values on pixels "
            "the mask removes (cloud, water, vegetation, dark slopes). Set them to NaN with "
            "`.where(valid)`: a ratio over a cloud or a river is not geology.",
        ),
        (
            lambda: (red / green).where(s.valid),
            "this is red / green, the ferric-iron index. The iron-oxide ratio of this exercise "
            "is red / blue (OLI band 4 / band 2).",
        ),
        (
            lambda: ((red - blue) / (red + blue)).where(s.valid),
            "this is a normalised difference (red − blue) / (red + blue); the exercise asks for "
            "the plain ratio red / blue.",
        ),
    ]
    return _check_array_mistakes(
        ratio,
        expected,
        mistakes,
        name="iron-oxide ratio",
        hint="Compute red / blue on reflectance, then `.where(valid)`.",
    )


# --------------------------------------------------------------------------------------------
# Exercise 2: the bands of the clay ratio


def check_clay_bands(numerator, denominator, *, mineral: str = "kaolinite") -> bool:
    """Check the band choice of the clay / hydroxyl ratio (swir1 / swir2 on OLI).

    Parameters
    ----------
    numerator, denominator : str or int
        Band roles (``"swir1"``) or OLI band numbers (``6``, ``"B6"``).
    mineral : str
        The library record the explanation quotes.

    Raises
    ------
    CheckFailed
        A band is missing or wrong; the message explains the 2.2 µm absorption.
    """
    lib = load_library("landsat_oli").set_index("name")
    row = lib.loc[mineral]
    why = (
        f"{mineral} reflects {row['swir1']:.2f} in swir1 (OLI band 6, 1.57–1.65 µm) but only "
        f"{row['swir2']:.2f} in swir2 (band 7, 2.11–2.29 µm): the Al-OH absorption near 2.2 µm "
        "falls inside band 7. Dividing the shoulder (swir1) by the absorption band (swir2) "
        "gives clay-rich rock a high ratio, and the ratio of two neighbouring bands cancels "
        "brightness (slope, shadow)."
    )
    num, den = _band_role(numerator), _band_role(denominator)
    if num is None or den is None:
        raise CheckFailed("clay ratio bands: no answer yet (a variable is None). Fill in the cell.")
    if (num, den) == ("swir2", "swir1"):
        raise CheckFailed(
            "clay ratio bands: swir2 / swir1 is upside down — clays would come out dark. " + why
        )
    if den != "swir2":
        raise CheckFailed(
            f"clay ratio bands: the denominator {denominator!r} is not where clays absorb; "
            f"{mineral} is {row[den]:.2f} there. " + why
            if den in row.index
            else f"clay ratio bands: {denominator!r} is not an OLI band role or number. " + why
        )
    if num not in _BAND_NUMBERS.values():
        raise CheckFailed(
            f"clay ratio bands: {numerator!r} is not an OLI band role or number. " + why
        )
    if num != "swir1":
        extra = (
            " Green vegetation is bright in nir too, and nir is far from 2.2 µm, so nir / swir2 "
            "mixes the clay signal with vegetation and iron."
            if num == "nir"
            else ""
        )
        raise CheckFailed(
            f"clay ratio bands: the numerator {numerator!r} is not the nearest reflectance "
            f"shoulder.{extra} " + why
        )
    return check_choice("swir1/swir2", "swir1/swir2", name="clay ratio bands", explain=why)


# --------------------------------------------------------------------------------------------
# Exercise 3: a robust threshold


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(values[np.isfinite(values) & (values > 0)])


def _robust(t: np.ndarray, k: float, factor: float = _MAD_TO_SIGMA) -> float:
    med = float(np.median(t))
    return med + k * factor * float(np.median(np.abs(t - med)))


@functools.cache
def _robust_answers(folder: str, k: float) -> tuple[float, tuple[tuple[float, str], ...]]:
    """Return the expected robust cut-off and the usual wrong ones (computed once per k)."""
    s = load_sample()
    ratio = _band(s, "red") / _band(s, "blue")
    expected = fit_threshold(
        ratio.where(s.valid), name="iron_oxide", method="robust_z", k=k, log=True
    ).cutoff
    masked = ratio.where(s.valid).values
    t = _log(masked)
    med = float(np.median(t))
    mad = float(np.median(np.abs(t - med)))
    plain = masked[np.isfinite(masked)]
    mistakes = [
        (
            med + k * _MAD_TO_SIGMA * mad,
            "this is the cut-off in log units. The statistics are computed on log(ratio); "
            "take np.exp() of median + k·1.4826·MAD to get back to ratio units.",
        ),
        (
            float(np.exp(med + k * mad)),
            "the MAD was not scaled by 1.4826. MAD × 1.4826 is the standard deviation a "
            "normal distribution with that MAD would have, so k keeps its usual meaning.",
        ),
        (
            float(np.exp(t.mean() + k * t.std(ddof=1))),
            "this is mean + k·σ (on log ratio). Mean and σ are pulled up by the very anomalies "
            "we look for and by outliers; use the median and the MAD.",
        ),
        (
            float(np.exp(t.mean() + k * t.std(ddof=0))),
            "this is mean + k·σ (on log ratio); use the median and the MAD.",
        ),
        (
            _robust(plain, k),
            "the statistics were computed on the ratio itself. Ratios are skewed (a ratio of "
            "2 is as far from 1 as 0.5), so compute them on np.log(ratio).",
        ),
        (
            float(np.exp(_robust(_log(ratio.values), k))),
            "the statistics include the pixels the mask removes (cloud, water, vegetation, "
            "dark slopes). Keep only the valid pixels: the threshold moves with the mask.",
        ),
        *[
            (
                float(np.exp(med + other * _MAD_TO_SIGMA * mad)),
                f"this is the cut-off for k = {other:g}; the exercise uses k = {k:g}.",
            )
            for other in (1.5, 2.0, 2.5, 3.0, 4.0)
            if other != k
        ],
    ]
    return expected, tuple(mistakes)


def check_robust_threshold(cutoff, *, k: float = 3.0) -> bool:
    """Check the robust-z cut-off of the iron-oxide ratio, in ratio units.

    Expected: ``exp(median + k · 1.4826 · MAD)`` of log(red / blue) over the valid pixels,
    as :func:`geo.spectral.anomaly.fit_threshold` (``method="robust_z"``) computes it.

    Raises
    ------
    CheckFailed
        The cut-off is missing or wrong; the message names the usual mistake it matches
        (log units, no 1.4826, mean and σ, no log, no mask, another k).
    """
    expected, mistakes = _robust_answers(str(sample_dir()), float(k))
    return _check_value_mistakes(cutoff, expected, mistakes, name="robust iron-oxide cut-off")


# --------------------------------------------------------------------------------------------
# Exercise 4 and 5: the naive threshold and what it picks up


def _clay_ratio(s: Sample) -> xr.DataArray:
    """Return the catalogue's clay / hydroxyl index (swir1 / swir2), unmasked."""
    return compute_indices(s.reflectance, ["clay_hydroxyl"]).sel(index="clay_hydroxyl", drop=True)


def check_naive_cutoff(cutoff, *, k: float = 2.0) -> bool:
    """Check the naive cut-off: mean + k·σ of the clay index over every pixel with a value.

    Raises
    ------
    CheckFailed
        The cut-off is missing or wrong; the message says what it looks like instead.
    """
    s = load_sample()
    clay = _clay_ratio(s)
    expected = fit_threshold(clay, name="clay_hydroxyl", method="mean_std", k=k, log=False).cutoff
    values = clay.values[np.isfinite(clay.values)]
    valid = clay.where(s.valid).values
    valid = valid[np.isfinite(valid)]
    mistakes = [
        (
            float(valid.mean() + k * valid.std()),
            "you used only the valid pixels. That is the right habit, but this exercise "
            "deliberately asks for the naive cut-off over every pixel with a value, to see "
            "what it does.",
        ),
        (
            float(np.exp(np.log(values).mean() + k * np.log(values).std())),
            "this is computed on log(ratio); the naive version works on the ratio itself.",
        ),
        (
            _robust(values, k),
            "this is median + k·1.4826·MAD; the naive version is mean + k·σ (np.nanmean, np.nanstd).",
        ),
    ]
    return _check_value_mistakes(cutoff, expected, mistakes, name="naive clay cut-off")


def naive_anomaly_shares(cutoff: float | None = None, *, k: float = 2.0) -> dict[str, float]:
    """Share of the naive clay anomalies (index ≥ mean + k·σ, no mask) removed by each mask rule.

    Parameters
    ----------
    cutoff : float, optional
        The cut-off to use; by default mean + k·σ over every pixel with a value.

    Returns
    -------
    dict of str to float
        ``{"valid": share kept by the mask, rule: share flagged by that rule, ...}``, rules
        that flag none of the anomalies left out (a pixel may carry several rules).
    """
    s = load_sample()
    clay = _clay_ratio(s)
    if cutoff is None:
        cutoff = fit_threshold(clay, name="clay", method="mean_std", k=k, log=False).cutoff
    hit = (clay >= cutoff).values
    n = max(int(hit.sum()), 1)
    reasons = s.reasons.values
    shares = {"valid": float((hit & (reasons == 0)).sum() / n)}
    for bit, rule in enumerate(MASK_RULES):
        share = float((hit & ((reasons >> bit) & 1).astype(bool)).sum() / n)
        if share > 0:
            shares[rule] = share
    return shares


def check_culprit(rule) -> bool:
    """Check which mask rule removes the most naive clay anomalies (mean + 2σ, no mask).

    Raises
    ------
    CheckFailed
        Another rule, or no answer; the message gives each rule's share.
    """
    shares = naive_anomaly_shares()
    rules = {r: v for r, v in shares.items() if r != "valid"}
    best = max(rules, key=lambda r: rules[r])
    listing = ", ".join(f"{r} {v:.1%}" for r, v in sorted(rules.items(), key=lambda i: -i[1]))
    explain = (
        f"of the pixels above the naive cut-off, {listing} are removed by the mask, and only "
        f"{shares['valid']:.1%} are valid ground."
    )
    if best == "vegetation":
        explain += (
            " Green vegetation has a high swir1 / swir2 (leaf water absorbs more at 2.2 µm than "
            "at 1.6 µm), so the riparian strip looks like a clay anomaly: mask vegetation (NDVI) "
            "before thresholding."
        )
    return check_choice(rule, best, name="main source of false clay anomalies", explain=explain)


# --------------------------------------------------------------------------------------------
# Maps


def stretch_rgb(
    cube: xr.DataArray, valid: xr.DataArray | None = None, *, percent: float = 2.0
) -> xr.DataArray:
    """Stretch each band of a ``(3, y, x)`` cube linearly between its p and 100−p percentiles.

    Percentiles come from the valid, finite pixels; the result is in [0, 1], NaN where a band
    is NaN or the pixel is not valid.
    """
    out = cube.where(valid) if valid is not None else cube
    bands = []
    for i in range(out.sizes[out.dims[0]]):
        band = out[i]
        finite = band.values[np.isfinite(band.values)]
        lo, hi = np.percentile(finite, [percent, 100 - percent]) if finite.size else (0.0, 1.0)
        bands.append(((band - lo) / max(float(hi - lo), 1e-12)).clip(0, 1))
    return xr.concat(bands, dim=out.dims[0]).astype("float32")


@functools.cache
def _truth(folder: str) -> gpd.GeoDataFrame:
    return gpd.read_file(Path(folder) / "truth.gpkg", layer="planted")


def truth_outlines(names: Sequence[str], *, crs=None) -> gpd.GeoDataFrame:
    """Return the planted truth polygons named ``names`` (from ``truth.gpkg``), in ``crs``."""
    truth = _truth(str(sample_dir()))
    unknown = sorted(set(names) - set(truth["name"]))
    if unknown:
        raise ValueError(f"Unknown truth feature(s) {unknown}; known: {list(truth['name'])}.")
    out = truth[truth["name"].isin(names)]
    return out.to_crs(crs) if crs is not None else out


def draw_map(
    ax,
    image: xr.DataArray,
    *,
    title: str = "",
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    label: str | None = None,
    categories: Mapping[int, tuple[str, str]] | None = None,
    legend: Sequence[tuple[str, str]] = (),
    outlines: Mapping[str, str] | None = None,
    legend_loc: str = "upper left",
):
    """Draw a ``(y, x)`` layer or a ``(3, y, x)`` RGB in [0, 1] as a map in scene metres.

    Adds a scale bar and a north arrow, a colour bar (``label``) for continuous layers, and a
    legend with the ``categories`` (code → (name, colour)) of a class map, extra ``legend``
    patches (name, colour), grey for masked pixels, and the ``outlines`` (truth feature →
    colour) drawn from ``truth.gpkg``.

    Returns
    -------
    matplotlib.image.AxesImage
    """
    left, bottom, right, top = image.rio.bounds()
    data = np.asarray(image.values, dtype="float64")
    handles: list = []
    extent = (left, right, bottom, top)
    if data.ndim == 3:
        rgb = np.moveaxis(data, 0, -1)
        missing = ~np.isfinite(rgb).all(axis=-1)
        rgb = np.where(missing[..., None], 0.8, np.nan_to_num(rgb))
        shown = ax.imshow(rgb, extent=extent, interpolation="nearest")
    elif categories:
        codes = sorted(categories)
        colours = matplotlib.colors.ListedColormap([categories[c][1] for c in codes])
        index = np.full(data.shape, np.nan)
        for i, code in enumerate(codes):
            index[data == code] = i
        missing = np.isnan(index)
        shown = ax.imshow(
            np.ma.masked_invalid(index),
            extent=extent,
            cmap=colours.with_extremes(bad="0.8"),
            vmin=-0.5,
            vmax=len(codes) - 0.5,
            interpolation="nearest",
        )
        handles += [Patch(color=categories[c][1], label=categories[c][0]) for c in codes]
    else:
        missing = ~np.isfinite(data)
        ramp = matplotlib.colormaps[cmap].with_extremes(bad="0.8")
        shown = ax.imshow(
            np.ma.masked_invalid(data),
            extent=extent,
            cmap=ramp,
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
        )
        if label:
            ax.figure.colorbar(shown, ax=ax, label=label, shrink=0.8)
    handles += [Patch(color=colour, label=name) for name, colour in legend]
    if missing.any():
        handles.append(Patch(color="0.8", label="masked / no data"))
    for name, colour in (outlines or {}).items():
        truth_outlines([name], crs=image.rio.crs).boundary.plot(ax=ax, color=colour, linewidth=1.2)
        handles.append(Line2D([], [], color=colour, label=name.replace("_", " ")))
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=7)
    ax.set_xlabel(f"easting (m, {image.rio.crs})", fontsize=8)
    ax.set_ylabel("northing (m)", fontsize=8)
    draw_scale_and_north(ax, (left, bottom, right, top), fontsize=8)
    if handles:
        ax.legend(handles=handles, loc=legend_loc, fontsize=7, framealpha=0.85)
    if title:
        ax.set_title(title, fontsize=10)
    return shown
