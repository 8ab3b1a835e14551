"""Lesson 7, imaging spectroscopy: the EMIT-format sample, maps, and the answer checks.

The expected answers come from the package on the bundled granule
(``sample_rasters/EMIT_L2A_RFL_...nc``, its MASK granule and ``emit_truth.gpkg``):
:func:`geo.spectral.continuum.continuum_removed` and
:func:`~geo.spectral.continuum.feature_parameters` for the hand-worked continuum removal,
:func:`geo.spectral.minerals.identify_minerals` and
:func:`~geo.spectral.minerals.assemblage_map` for the maps, and the pipeline file's own weights
for the score a ferric-iron-only pixel can reach. A wrong answer is compared with the usual
mistakes (the continuum subtracted instead of divided, the minimum of CR given as the depth,
the band centre without sub-band refinement, micrometres for nanometres, kaolinite and
alunite swapped, "none" pixels left out of a share, unnormalised weights) and the message
says which one it looks like.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr

from geo.spectral.continuum import FEATURES, continuum_removed, feature_parameters, upper_hull
from geo.spectral.minerals import (
    ASSEMBLAGE_CLASSES,
    MASKED,
    NONE,
    MineralMatcher,
    assemblage_legend,
    assemblage_map,
    identify_minerals,
    mineral_legend,
)
from geo.training.checks import CheckFailed, _ok, check_choice, check_value
from geo.training.lesson2 import _check_array_mistakes, _check_value_mistakes

__all__ = [
    "EXPECTED",
    "PIPELINE",
    "SCENE",
    "TRUTH",
    "WINDOW",
    "Sample",
    "check_assemblage_of_sand",
    "check_bad_bands",
    "check_band_depth",
    "check_continuum_removed",
    "check_feature_position",
    "check_iron_only_ceiling",
    "check_mystery_minerals",
    "check_polygon_share",
    "example_pixel",
    "load_sample",
    "mineral_maps",
    "mystery_pixels",
    "plot_mineral_map",
    "polygon_mask",
    "truth_table",
    "window_spectrum",
]

#: The sample granule (EMIT L2A RFL naming); its MASK granule lies beside it.
SCENE = "EMIT_L2A_RFL_001_20230601T082000_2315206_004.nc"
#: The planted polygons with their assemblage (the answer key of the sample).
TRUTH = "emit_truth.gpkg"
#: The course's imaging-spectroscopy pipeline (in ``pipelines/``).
PIPELINE = "hyperspectral_minerals.yaml"
#: The Al-OH feature window used by hand in the lesson (nm).
WINDOW: tuple[float, float] = FEATURES["aloh_22"].window
#: What each planted assemblage should be called: the map (group) and its minerals.
EXPECTED: dict[str, tuple[str, tuple[str, ...]]] = {
    "advanced_argillic": ("swir", ("alunite", "kaolinite", "pyrophyllite")),
    "phyllic": ("swir", ("white_mica",)),
    "propylitic": ("swir", ("chlorite", "epidote", "calcite")),
    "argillic": ("swir", ("kaolinite", "montmorillonite")),
    "ferric_iron": ("vnir", ("hematite", "goethite")),
    "vegetation": ("vnir", ("green_vegetation",)),
}
#: Mystery spectra of exercise 5: label -> (planted assemblage, SWIR mineral) they come from.
_MYSTERY = {"A": ("phyllic", "white_mica"), "B": ("advanced_argillic", "alunite"),
            "C": ("argillic", "kaolinite")}  # fmt: skip
_ALIASES = {
    "muscovite": "white_mica",
    "sericite": "white_mica",
    "illite": "white_mica",
    "mica": "white_mica",
    "white mica": "white_mica",
    "kaolin": "kaolinite",
}
#: How the three Al-OH minerals look once the continuum is removed (for the messages).
_LOOKS = {
    "kaolinite": "kaolinite has a doublet (2165 and 2207 nm) and no 1.76 µm feature",
    "alunite": "alunite has its 1.76 µm feature and a single Al-OH minimum near 2165-2170 nm "
    "(with a second one at 2.32 µm)",
    "white_mica": "white mica has one single Al-OH minimum at 2200-2220 nm (and weaker ones "
    "near 2350 and 2440 nm), no doublet and no 1.76 µm feature",
}


# --------------------------------------------------------------------------------------------
# The lesson data


@dataclass(frozen=True)
class Sample:
    """The EMIT-format sample as the lesson uses it (in memory: 285 × 99 × 91 float32).

    Attributes
    ----------
    spectra : xarray.DataArray
        ``(band, y, x)`` reflectance with ``wavelength``, ``fwhm``, ``good`` on ``band``.
    mask : xarray.DataArray
        ``(y, x)`` bool, True where the MASK granule's aggregate flag (cloud...) is set.
    truth : geopandas.GeoDataFrame
        The planted polygons (column ``assemblage``) on the cube's CRS.
    """

    spectra: xr.DataArray
    mask: xr.DataArray
    truth: gpd.GeoDataFrame


@functools.cache
def _load(folder: str) -> Sample:
    from geo.io.readers import open_scene

    scene = open_scene(Path(folder) / SCENE)
    if scene.spectra is None:  # pragma: no cover - the sample is an EMIT granule
        raise CheckFailed(f"{SCENE}: no spectra cube was read; regenerate the sample data.")
    spectra = scene.spectra.compute()
    flags = [scene.qa[n] for n in ("aggregate", "cloud") if n in scene.qa]
    mask = (flags[0] > 0).compute() if flags else xr.zeros_like(spectra.isel(band=0), dtype=bool)
    truth = gpd.read_file(Path(folder) / TRUTH).to_crs(spectra.rio.crs)
    return Sample(spectra, mask.astype(bool), truth)


def load_sample() -> Sample:
    """Return the EMIT-format sample, its product mask and the truth polygons (read once)."""
    from geo.training import sample_dir

    return _load(str(sample_dir()))


@functools.cache
def _maps(folder: str) -> tuple[xr.Dataset, xr.Dataset]:
    s = _load(folder)
    swir = identify_minerals(s.spectra, "swir", mask=s.mask).compute()
    vnir = identify_minerals(s.spectra, "vnir", mask=s.mask).compute()
    return swir, vnir


def mineral_maps() -> tuple[xr.Dataset, xr.Dataset]:
    """Return geo's SWIR and VNIR mineral maps of the sample (default floors, product mask)."""
    from geo.training import sample_dir

    return _maps(str(sample_dir()))


def polygon_mask(geometry, like: xr.DataArray) -> xr.DataArray:
    """Return a ``(y, x)`` bool raster, True on the pixels whose centre lies in ``geometry``.

    Parameters
    ----------
    geometry : shapely geometry
        A polygon in the CRS of ``like``.
    like : xarray.DataArray
        A raster with ``y``, ``x`` and a CRS (``.rio``); only its grid is used.
    """
    from rasterio.features import geometry_mask

    grid = like.isel(band=0, drop=True) if "band" in like.dims else like
    inside = geometry_mask(
        [geometry], out_shape=grid.shape, transform=grid.rio.transform(), invert=True
    )
    return xr.DataArray(inside, coords={"y": grid["y"], "x": grid["x"]}, dims=("y", "x"))


def _polygon(assemblage: str):
    truth = load_sample().truth
    rows = truth[truth["assemblage"] == assemblage]
    if rows.empty:
        raise CheckFailed(
            f"{assemblage!r} is not a planted assemblage; the truth layer has "
            f"{', '.join(truth['assemblage'])}."
        )
    return rows.geometry.iloc[0]


def _code(group: str, mineral: str) -> int:
    legend = mineral_legend(group)
    return int(legend.loc[legend["mineral"] == mineral, "code"].iloc[0])


def example_pixel(assemblage: str = "phyllic", mineral: str = "white_mica") -> xr.DataArray:
    """Return the spectrum of the pixel in a planted polygon with the deepest ``mineral``.

    The pixel geo's SWIR map names ``mineral`` with the largest band depth inside the planted
    polygon of ``assemblage``: a clear example, chosen from the data.

    Returns
    -------
    xarray.DataArray
        ``(band,)`` reflectance with ``wavelength``, ``fwhm``, ``good``, and the pixel's
        ``y``, ``x`` as scalar coordinates.
    """
    s = load_sample()
    swir, _ = mineral_maps()
    inside = polygon_mask(_polygon(assemblage), swir["mineral"])
    depth = swir["depth"].where(inside & (swir["mineral"] == _code("swir", mineral)))
    if not np.isfinite(depth.values).any():  # pragma: no cover - the sample plants them
        raise CheckFailed(f"no pixel of the {assemblage} polygon is mapped as {mineral}.")
    iy, ix = np.unravel_index(int(np.nanargmax(depth.values)), depth.shape)
    return s.spectra.isel(y=iy, x=ix)


def window_spectrum(
    pixel: xr.DataArray, window: tuple[float, float] = WINDOW
) -> tuple[np.ndarray, np.ndarray]:
    """Wavelengths (nm) and reflectance of a pixel's good bands inside ``window`` (inclusive)."""
    wl = np.asarray(pixel["wavelength"].values, dtype="float64")
    good = np.asarray(pixel["good"].values, dtype=bool) if "good" in pixel.coords else True
    keep = good & (wl >= window[0]) & (wl <= window[1])
    return wl[keep], np.asarray(pixel.values, dtype="float64")[keep]


def mystery_pixels() -> xr.DataArray:
    """Return three unlabelled spectra ``(label, band)``, labels ``"A"``, ``"B"``, ``"C"``.

    Each is the pixel of a planted polygon that geo's SWIR map names with the deepest
    absorption of its mineral (one white mica, one alunite, one kaolinite, in an order the
    learner must find).
    """
    pixels = [example_pixel(a, m) for a, m in _MYSTERY.values()]
    out = xr.concat(pixels, dim="label").assign_coords(label=list(_MYSTERY))
    return out.rename("mystery")


def truth_table(swir: xr.Dataset, vnir: xr.Dataset, truth: gpd.GeoDataFrame) -> pd.DataFrame:
    """Share of each planted polygon's pixels that the maps name correctly.

    Parameters
    ----------
    swir, vnir : xarray.Dataset
        Results of :func:`~geo.spectral.minerals.identify_minerals` for both groups.
    truth : geopandas.GeoDataFrame
        The planted polygons (``assemblage``) in the maps' CRS.

    Returns
    -------
    pandas.DataFrame
        Index ``assemblage``; columns ``map`` (the group that should see it), ``expected``
        (its minerals), ``pixels`` (unmasked pixels in the polygon), ``correct`` (share named
        one of the expected minerals) and ``most_common`` (the map's most frequent name there).
    """
    rows = []
    for assemblage, geometry in zip(truth["assemblage"], truth.geometry, strict=True):
        if assemblage not in EXPECTED:
            continue
        group, minerals = EXPECTED[assemblage]
        ds = swir if group == "swir" else vnir
        codes = ds["mineral"].values[polygon_mask(geometry, ds["mineral"]).values]
        codes = codes[codes != MASKED]
        legend = dict(zip(mineral_legend(group)["code"], mineral_legend(group)["mineral"], strict=True))  # fmt: skip
        wanted = [_code(group, m) for m in minerals]
        common = pd.Series(codes).map(legend).value_counts()
        rows.append(
            {
                "assemblage": assemblage,
                "map": group,
                "expected": ", ".join(minerals),
                "pixels": int(codes.size),
                "correct": float(np.isin(codes, wanted).mean()) if codes.size else np.nan,
                "most_common": common.index[0] if len(common) else "",
            }
        )
    return pd.DataFrame(rows).set_index("assemblage")


def plot_mineral_map(
    codes: xr.DataArray,
    *,
    truth: gpd.GeoDataFrame | None = None,
    ax=None,
    title: str | None = None,
):
    """Draw a mineral or assemblage map with the project's colours and a legend.

    Parameters
    ----------
    codes : xarray.DataArray
        ``mineral`` of :func:`~geo.spectral.minerals.identify_minerals` (any group) or the
        result of :func:`~geo.spectral.minerals.assemblage_map`.
    truth : geopandas.GeoDataFrame, optional
        Polygons to outline (the planted truth), labelled by their ``assemblage``.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from geo.export.qgis import MINERAL_COLOURS

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 5), layout="constrained")
    names: dict[int, str] = {int(k): str(v) for k, v in codes.attrs.get("codes", {}).items()}
    if not names:
        names = dict(zip(assemblage_legend()["code"], assemblage_legend()["assemblage"], strict=True))  # fmt: skip
    rgba = np.zeros((256, 4))
    rgba[NONE] = (0.93, 0.90, 0.84, 1.0)  # "none": pale sand
    for code, name in names.items():
        if name in MINERAL_COLOURS:
            rgba[code] = (*np.asarray(MINERAL_COLOURS[name]) / 255.0, 1.0)
    values = np.asarray(codes.values).astype("int64")
    x, y = codes["x"].values, codes["y"].values
    half = abs(float(x[1] - x[0])) / 2
    extent = (x.min() - half, x.max() + half, y.min() - half, y.max() + half)
    ax.imshow(values, cmap=ListedColormap(rgba), vmin=0, vmax=255, extent=extent,
              interpolation="nearest")  # fmt: skip
    present = sorted(set(np.unique(values).tolist()) - {MASKED})
    handles = [Patch(facecolor=rgba[c], edgecolor="0.5", label=names.get(c, str(c))) for c in present]  # fmt: skip
    if truth is not None:
        truth.boundary.plot(ax=ax, color="black", linewidth=0.8)
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)  # fmt: skip
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    return ax


# --------------------------------------------------------------------------------------------
# Checks


def _none(answer, name: str) -> None:
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")


def check_bad_bands(answer) -> bool:
    """Check the number of bands the product flags as bad (``good`` False).

    Parameters
    ----------
    answer : int
        The learner's count (or the list of the bad bands' names or wavelengths).
    """
    name = "number of bad bands"
    _none(answer, name)
    spectra = load_sample().spectra
    good = np.asarray(spectra["good"].values, dtype=bool)
    want = int((~good).sum())
    if np.ndim(answer) == 1:
        items = [str(i) for i in np.asarray(answer).tolist()]
        bad_names = {str(b) for b in spectra["band"].values[~good]}
        bad_wl = {f"{w:.2f}" for w in spectra["wavelength"].values[~good]}
        as_wl = set()
        try:
            as_wl = {f"{float(i):.2f}" for i in items}
        except ValueError:
            pass
        if set(items) == bad_names or as_wl == bad_wl:
            return _ok(name, f"{want} bands")
        raise CheckFailed(
            f"{name}: the list holds {len(items)} items that are not the {want} bad bands. "
            "Count the bands whose 'good' coordinate is False."
        )
    mistakes = [
        (float(good.sum()), "that is the number of good bands; count those where good is False."),
        (float(good.size), "that is every band of the product; count those where good is False."),
    ]
    return _check_value_mistakes(answer, float(want), mistakes, name=name, rtol=0,
                                 hint="Use (~spectra.good).sum().")  # fmt: skip


def _window(pixel: xr.DataArray) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(pixel, xr.DataArray) or "wavelength" not in pixel.coords:
        raise CheckFailed(
            "the pixel must be the spectrum of one pixel, as lesson7.example_pixel() returns it "
            "(with its wavelength coordinate)."
        )
    return window_spectrum(pixel)


def check_continuum_removed(answer, pixel: xr.DataArray) -> bool:
    """Check a pixel's continuum-removed spectrum over the Al-OH window (:data:`WINDOW`).

    Expected: ``R / hull`` over the good bands inside the window, the hull being the upper
    convex hull of the window's bands only.
    """
    name = "continuum-removed spectrum"
    _none(answer, name)
    wl, r = _window(pixel)
    want = continuum_removed(wl, r)
    got = np.asarray(answer.values if isinstance(answer, xr.DataArray) else answer, dtype="float64")  # fmt: skip
    if got.shape != want.shape:
        raise CheckFailed(
            f"{name}: {got.size} values; the window {WINDOW[0]:g}-{WINDOW[1]:g} nm holds "
            f"{want.size} good bands of this pixel. Keep the good bands inside the window only."
        )
    hull = upper_hull(wl, r)
    full_wl = np.asarray(pixel["wavelength"].values, dtype="float64")
    full_good = np.asarray(pixel["good"].values, dtype=bool)
    full_hull = upper_hull(full_wl[full_good], np.asarray(pixel.values, dtype="float64")[full_good])
    in_window = (full_wl[full_good] >= WINDOW[0]) & (full_wl[full_good] <= WINDOW[1])
    mistakes = [
        (lambda: hull, "that is the continuum (the hull) itself; divide the spectrum by it."),
        (lambda: r - hull, "the continuum is subtracted; continuum removal divides: R / hull."),
        (
            lambda: 1 - r / hull,
            "that is the absorption 1 − R/hull; the continuum-removed "
            "spectrum is R / hull (1 on the shoulders, below 1 in the absorption).",
        ),
        (lambda: hull / r, "upside down: divide the spectrum by the hull, R / hull."),
        (
            lambda: r / full_hull[in_window],
            "the hull was fitted over the whole spectrum; fit "
            "it over the window's bands only, so that the shoulders of this feature carry it.",
        ),
        (lambda: r, "that is the reflectance itself; divide it by upper_hull(wl, r)."),
    ]
    return _check_array_mistakes(got, xr.DataArray(want), mistakes, name=name, rtol=1e-4, atol=1e-6)  # fmt: skip


def check_band_depth(answer, pixel: xr.DataArray) -> bool:
    """Check the band depth ``1 - min(R / hull)`` of the Al-OH feature of ``pixel``."""
    name = "band depth"
    _none(answer, name)
    wl, r = _window(pixel)
    cr = continuum_removed(wl, r)
    want = float(1.0 - cr.min())
    i = int(np.argmin(cr))
    hull = upper_hull(wl, r)
    mistakes = [
        (float(cr.min()), "that is the lowest value of R / hull; the depth is 1 minus it."),
        (100 * want, "that is a percentage; give the depth as a fraction (0-1)."),
        (
            float(hull[i] - r[i]),
            "that is the drop in reflectance units (hull − R); the band "
            "depth is relative to the continuum: 1 − R/hull.",
        ),
        (
            float(1.0 - r.min() / r.max()),
            "that compares the lowest and highest reflectance "
            "in the window; use the continuum-removed spectrum: 1 − min(R/hull).",
        ),
    ]
    return _check_value_mistakes(answer, want, mistakes, name=name, rtol=1e-3)


def check_feature_position(answer, pixel: xr.DataArray, *, tolerance_nm: float = 0.5) -> bool:
    """Check the sub-band wavelength (nm) of the Al-OH minimum of ``pixel``.

    Expected: the position of :func:`~geo.spectral.continuum.feature_parameters` (vertex of a
    parabola through ``ln(1 - CR)`` at the lowest band and its two neighbours) within
    ``tolerance_nm``; a parabola through ``CR`` itself agrees within it too.
    """
    name = "position of the Al-OH minimum"
    _none(answer, name)
    try:
        value = float(np.asarray(answer).item() if np.size(answer) == 1 else answer)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name}: expected one number (nm), got {answer!r}.") from None
    wl, r = _window(pixel)
    want = float(feature_parameters(wl, r)["position"])
    if abs(value - want) <= tolerance_nm:
        return _ok(name, f"{want:.1f} nm")
    cr = continuum_removed(wl, r)
    i = int(np.argmin(cr))
    if abs(value * 1000 - want) <= tolerance_nm:
        raise CheckFailed(f"{name}: {value:g} is in micrometres; give nanometres (× 1000).")
    if np.isclose(value, wl[i], atol=1e-3):
        raise CheckFailed(
            f"{name}: {value:.2f} nm is the centre of the lowest band, so only as fine as the "
            f"band spacing (~{float(np.median(np.diff(wl))):.1f} nm). Refine it: fit a parabola "
            "through ln(1 − CR) at that band and its two neighbours, and take its vertex."
        )
    if value == int(value) and 0 <= value < wl.size:
        raise CheckFailed(f"{name}: {value:g} looks like a band index; give a wavelength in nm.")
    j = int(np.argmin(r))
    if j != i and np.isclose(value, wl[j], atol=1e-3):
        raise CheckFailed(
            f"{name}: {value:.2f} nm is where the reflectance is lowest; the absorption minimum "
            "is the lowest point of the continuum-removed spectrum (the slope of the continuum "
            "moves the raw minimum)."
        )
    if not wl[max(i - 1, 0)] <= value <= wl[min(i + 1, wl.size - 1)]:
        raise CheckFailed(
            f"{name}: {value:.2f} nm lies outside the lowest band and its neighbours "
            f"({wl[max(i - 1, 0)]:.1f}-{wl[min(i + 1, wl.size - 1)]:.1f} nm); the vertex of the "
            "parabola must fall between them."
        )
    return check_value(value, want, name=name, rtol=0, atol=tolerance_nm,
                       hint="Vertex of the parabola through ln(1 − CR) at the three lowest-"
                       "centred bands: x = (x0 + x1)/2 − d01 / (2a).")  # fmt: skip


def _mineral_name(answer) -> str:
    text = str(answer).strip().lower().replace("-", " ")
    text = _ALIASES.get(text, text)
    return text.replace(" ", "_")


def check_mystery_minerals(answer) -> bool:
    """Check the names given to the three mystery spectra of :func:`mystery_pixels`.

    Parameters
    ----------
    answer : dict
        ``{"A": mineral, "B": mineral, "C": mineral}`` (white mica may be called muscovite,
        sericite or illite).

    The expected names are geo's SWIR identification of those three spectra.
    """
    name = "mystery spectra"
    _none(answer, name)
    if not isinstance(answer, dict):
        raise CheckFailed(f"{name}: give a dict such as {{'A': 'kaolinite', 'B': ..., 'C': ...}}.")
    mystery = mystery_pixels()
    matcher = MineralMatcher(
        mystery["wavelength"].values, mystery["fwhm"].values, mystery["good"].values, group="swir"
    )
    codes, _fit, _depth = matcher.match(mystery.values)
    want = {
        str(k): matcher.minerals[int(c) - 1] if 0 < int(c) < MASKED else "none"
        for k, c in zip(mystery["label"].values, codes, strict=True)
    }
    got = {str(k).strip().upper(): _mineral_name(v) for k, v in answer.items()}
    missing = sorted(set(want) - set(got))
    if missing:
        raise CheckFailed(f"{name}: no name for {', '.join(missing)}; name all three (A, B, C).")
    wrong = [k for k in sorted(want) if got[k] != want[k]]
    if not wrong:
        return _ok(name, ", ".join(f"{k} {v}" for k, v in sorted(want.items())))
    notes = []
    for k in wrong:
        said, truth = got[k], want[k]
        if said in _LOOKS and truth in _LOOKS:
            notes.append(f"{k} is not {said}: {_LOOKS[truth]}")
        else:
            notes.append(f"{k} is not {said!r}; compare its continuum-removed shape with the three library minerals")  # fmt: skip
    raise CheckFailed(f"{name}: {len(wrong)} of 3 wrong. " + "; ".join(notes) + ".")


def _share(assemblage: str) -> tuple[float, int, int, int, float]:
    """Return the expected share, pixels, named, masked and scene-wide share of a polygon."""
    group, minerals = EXPECTED[assemblage]
    swir, vnir = mineral_maps()
    ds = swir if group == "swir" else vnir
    inside = polygon_mask(_polygon(assemblage), ds["mineral"]).values
    codes = ds["mineral"].values
    wanted = [_code(group, m) for m in minerals]
    here = codes[inside]
    valid = here[here != MASKED]
    hits = int(np.isin(valid, wanted).sum())
    scene = codes[codes != MASKED]
    return hits / valid.size, valid.size, int((valid != NONE).sum()), int(here.size), float(np.isin(scene, wanted).mean())  # fmt: skip


def check_polygon_share(answer, assemblage: str = "phyllic") -> bool:
    """Check the share (0-1) of a planted polygon's unmasked pixels named correctly.

    Correct names are :data:`EXPECTED` (white mica for the phyllic ring...), on the map of
    :func:`mineral_maps`; pixels named "none" count as misses, masked pixels do not count.
    """
    name = f"share of the {assemblage} polygon named correctly"
    _none(answer, name)
    want, n_valid, n_named, n_all, scene = _share(assemblage)
    hits = want * n_valid
    mistakes = [
        (100 * want, "that is a percentage; give a fraction (0-1)."),
        (hits, "that is a number of pixels; divide by the pixels in the polygon."),
        (
            hits / n_named if n_named else np.nan,
            "the 'none' pixels were left out; a pixel "
            "the map does not name is a miss, so divide by all unmasked pixels of the polygon.",
        ),
        (
            scene,
            "that is the share over the whole scene; count only the pixels inside the "
            "polygon (polygon_mask).",
        ),
    ]
    if n_all != n_valid:
        mistakes.append((hits / n_all, "masked pixels (255) were counted; leave them out."))
    return _check_value_mistakes(answer, want, mistakes, name=name, rtol=1e-3)


def check_assemblage_of_sand(answer) -> bool:
    """Check the assemblage the maps give most often in the hematite-stained sand polygon."""
    name = "assemblage of the stained sand"
    _none(answer, name)
    swir, vnir = mineral_maps()
    classes = assemblage_map(swir["mineral"], vnir["mineral"])
    here = classes.values[polygon_mask(_polygon("ferric_iron"), classes).values]
    here = here[here != MASKED]
    named = here[here != NONE]
    if named.size == 0:  # pragma: no cover - the sample plants hematite there
        raise CheckFailed(f"{name}: the maps name nothing in the sand; regenerate the sample.")
    code = int(np.bincount(named).argmax())
    want = ASSEMBLAGE_CLASSES[code - 1]
    swir_share = float(np.isin(swir["mineral"].values[polygon_mask(_polygon("ferric_iron"), classes).values], [NONE]).mean())  # fmt: skip
    if str(answer).strip().lower() == "none":
        raise CheckFailed(
            f"{name}: 'none' is what the SWIR map says ({swir_share:.0%} of the sand): no clay, "
            "mica or carbonate. The assemblage map also reads the VNIR map, where the "
            "hematite's 0.86 µm band is; look at the most common class other than none."
        )
    return check_choice(
        answer.replace(" ", "_") if isinstance(answer, str) else answer,
        want,
        name=name,
        explain="iron only, with no SWIR alteration mineral around it: a stained sand, not "
        "an altered system",
    )


def check_iron_only_ceiling(answer, spec) -> bool:
    """Check the highest prospectivity score a pixel with only ferric iron can reach.

    Expected from the pipeline file itself: the weighted overlay is ``Σ wᵢ mᵢ / Σ wᵢ`` over
    every evidence layer (missing weights count 1), memberships at most 1, so a pixel whose
    only evidence is ``ferric_iron`` reaches ``w_ferric / Σ w``.
    """
    name = "best score of ferric iron alone"
    _none(answer, name)
    names = list(spec.evidence)
    weights = {n: float(spec.prospectivity.weights.get(n, 1.0)) for n in names}
    if "ferric_iron" not in weights:  # pragma: no cover - the course's pipeline has it
        raise CheckFailed(f"{name}: the pipeline has no ferric_iron evidence.")
    total = sum(weights.values())
    want = weights["ferric_iron"] / total
    mistakes = [
        (
            weights["ferric_iron"],
            "that is the weight itself; the weighted overlay divides by the sum of all weights.",
        ),
        (
            1.0 / len(names),
            "that treats every layer alike (equal weights); use the pipeline's weights.",
        ),
        (
            weights["ferric_iron"] / max(weights.values()),
            "divide by the sum of the weights, not the largest.",
        ),
        (100 * want, "that is a percentage; scores run from 0 to 1."),
    ]
    return _check_value_mistakes(answer, want, mistakes, name=name, rtol=1e-3,
                                 hint="Score = Σ wᵢ mᵢ / Σ wᵢ with m = 1 for ferric iron, 0 "
                                 "for the others.")  # fmt: skip
