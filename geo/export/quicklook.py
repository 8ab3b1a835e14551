"""Quicklook maps: the true-colour scene (masks, zones, targets, licences) and the score map.

Outlines (zones, targets, licences, structures) are drawn as one line collection per layer,
clipped to the map with a spatial-index query, so a licence layer of tens of thousands of
licences costs one artist, not one per licence. Licence labels: every licence in view when
at most :data:`MAX_LICENCE_LABELS` are; otherwise those holding or touching a target (or,
when even those are too many, the licences the targets are assigned to). Text from the
layers is drawn as it is, never as mathtext (:func:`geo._text.mpl_text`).
"""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import matplotlib.patheffects as pe
import numpy as np
import xarray as xr
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from geo._text import mpl_text
from geo.export._common import draw_lines, is_missing, licence_relevance

__all__ = [
    "MAX_LICENCE_LABELS",
    "decimated_rgb",
    "render_quicklook",
    "render_score_map",
    "true_colour",
]

#: Licences labelled on a quicklook when that many or fewer are in view (see the module doc).
MAX_LICENCE_LABELS = 60

# the maps are 10 in wide at 110 dpi (1100 px, the axes less): a picture with more pixels is
# only resampled down by matplotlib, which costs ~60 bytes a pixel while it draws
_MAX_PIXELS = 1100
_FAMILY_COLOURS = {"iron oxide": "#ff7f0e", "clay / hydroxyl": "#17becf", "other": "#e377c2"}


def _family(kind: str) -> str:
    """Group zone kinds (ratio, Crosta, SAM, classifier layers) into evidence families."""
    if any(k in kind for k in ("iron", "ferric", "gossan", "hematite", "jarosite")):
        return "iron oxide"
    if any(k in kind for k in ("clay", "hydroxyl", "aloh", "argillic", "phyllic", "kaolinite")):
        return "clay / hydroxyl"
    return "other"


_HALO = [pe.withStroke(linewidth=3, foreground="black")]


def _figure(width: float, height: float):
    """Return a figure and axes outside pyplot's registry (nothing retained once dropped)."""
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _stretch(rgb: np.ndarray) -> np.ndarray:
    """2–98 % linear stretch per band over finite pixels; NaN stays NaN."""
    out = np.empty_like(rgb, dtype="float32")
    for i in range(rgb.shape[0]):
        band = rgb[i]
        finite = band[np.isfinite(band)]
        lo, hi = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
        out[i] = np.clip((band - lo) / max(hi - lo, 1e-6), 0, 1)
    return out


def _step(shape: tuple[int, ...]) -> int:
    """Decimation step that brings the long side of a grid to at most ``_MAX_PIXELS``."""
    return max(1, int(np.ceil(max(shape[-2:]) / _MAX_PIXELS)))


def _outlines(frame: gpd.GeoDataFrame, tolerance: float) -> gpd.GeoSeries:
    """Boundaries simplified to the map's drawing resolution (half a decimated pixel).

    A zone traced from pixels has a vertex at every pixel corner; drawn on a picture with a
    few scene pixels to each of its own, they only cost memory and time (thousands of zones
    on a large scene), not detail.
    """
    return frame.geometry.boundary.simplify(tolerance, preserve_topology=False)


def decimated_rgb(
    reflectance: xr.DataArray,
    *,
    preview: Callable[[list[str], int], np.ndarray | None] | None = None,
) -> np.ndarray:
    """Red, green and blue of a scene, every n-th pixel (at most ~1100 px on the long side).

    One read of the three bands, shared by :func:`true_colour` (its stretch) and
    :func:`render_quicklook` (its picture) so a run decodes them once for both. A
    scene's :meth:`~geo.io.scene.Scene.preview`, given as ``preview``, reads them through
    the files' overviews; without one (or when it returns None) every n-th pixel of
    ``reflectance`` is taken, which decodes the three bands in full.

    Returns
    -------
    numpy.ndarray
        float32 ``(3, ny, nx)``; NaN where the scene has no data.
    """
    step = _step(reflectance.shape)
    if preview is not None:
        rgb = preview(["red", "green", "blue"], step)
        if rgb is not None:
            return rgb
    subset = reflectance.sel(band=["red", "green", "blue"])[:, ::step, ::step]
    return np.asarray(subset.values, dtype="float32")


def true_colour(reflectance: xr.DataArray, *, sample: np.ndarray | None = None) -> xr.DataArray:
    """8-bit true-colour picture of a scene (lazy): the field team's basemap and the overlays.

    Each of red, green and blue is stretched linearly between its 2nd and 98th percentile,
    estimated on a decimated copy (at most ~1100 px on the long side, so the cost does not
    grow with the scene), to 1–255; 0 is nodata (fill: any band NaN). Clouds and other
    masked pixels stay visible: this is a picture, not an analysis layer. Pass the
    :func:`decimated_rgb` of the scene as ``sample`` when it is already at hand.

    Returns
    -------
    xarray.DataArray
        uint8 ``(band, y, x)`` with ``band`` = red, green, blue; CRS and transform kept.
    """
    rgb = reflectance.sel(band=["red", "green", "blue"])
    if sample is None:
        sample = decimated_rgb(reflectance)
    scaled = []
    for i in range(3):
        finite = sample[i][np.isfinite(sample[i])]
        lo, hi = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
        band = rgb.isel(band=i)
        scaled.append(1 + 254 * ((band - lo) / max(float(hi - lo), 1e-6)).clip(0, 1))
    out = xr.concat(scaled, dim="band").assign_coords(band=["red", "green", "blue"])
    out = out.where(rgb.notnull().all("band"), 0).round().astype("uint8")
    out = out.rio.write_crs(reflectance.rio.crs).rio.write_transform(reflectance.rio.transform())
    out.attrs = {"stretch": "2-98 % per band", "nodata": 0}
    return out.rio.write_nodata(0)


def draw_scale_and_north(
    ax, bounds, *, bar: float | None = None, linewidth: float = 4, fontsize: float = 10, zorder=None
) -> None:
    """Draw a scale bar (lower left) and a north arrow (upper right) on a map in metres.

    The arrow points up the map: right for north-up projected grids such as UTM.
    """
    left, bottom, right, top = bounds
    bar = _nice_length(right - left) if bar is None else bar
    x0, y0 = left + 0.05 * (right - left), bottom + 0.05 * (top - bottom)
    extra = {} if zorder is None else {"zorder": zorder}
    ax.plot(
        [x0, x0 + bar],
        [y0, y0],
        color="white",
        linewidth=linewidth,
        solid_capstyle="butt",
        path_effects=_HALO,
        **extra,
    )
    ax.annotate(
        f"{bar / 1000:g} km" if bar >= 1000 else f"{bar:g} m",
        (x0 + bar / 2, y0),
        xytext=(0, 6),
        textcoords="offset points",
        color="white",
        ha="center",
        fontsize=fontsize,
        path_effects=_HALO,
        **extra,
    )
    ax.annotate(
        "N",
        xy=(0.95, 0.95),
        xytext=(0.95, 0.86),
        xycoords="axes fraction",
        color="white",
        ha="center",
        fontsize=14,
        fontweight="bold",
        path_effects=_HALO,
        arrowprops={"arrowstyle": "-|>", "color": "white", "lw": 2},
        **extra,
    )


def _nice_length(span_m: float) -> float:
    target = span_m / 5
    base = 10 ** np.floor(np.log10(target))
    return float(max(m * base for m in (1, 2, 5) if m * base <= target))


def render_quicklook(
    reflectance: xr.DataArray,
    *,
    invalid: xr.DataArray | None = None,
    zones: gpd.GeoDataFrame | None = None,
    targets: gpd.GeoDataFrame | None = None,
    licences: gpd.GeoDataFrame | None = None,
    structures: gpd.GeoDataFrame | None = None,
    occurrences: gpd.GeoDataFrame | None = None,
    title: str = "",
    label_top: int = 15,
    rgb: np.ndarray | None = None,
) -> Figure:
    """Draw the quicklook map and return the figure (the caller saves it).

    The scene is decimated to at most ~1100 pixels on its long side (the figure's width)
    before it is read, so the cost does not grow with the scene.

    Parameters
    ----------
    reflectance : xarray.DataArray
        ``(band, y, x)`` with ``red``, ``green``, ``blue`` roles.
    invalid : xarray.DataArray of bool, optional
        Pixels removed by the masks, drawn as a grey veil.
    zones, targets, licences, structures, occurrences : geopandas.GeoDataFrame, optional
        Layers in the scene CRS (structures: lines; occurrences: points).
    title : str
        Figure title.
    label_top : int
        Label the best ``label_top`` targets with their rank.
    rgb : numpy.ndarray, optional
        The scene's :func:`decimated_rgb`, when already read.
    """
    step = _step(reflectance.shape)
    if rgb is None:
        rgb = decimated_rgb(reflectance)
    image = np.moveaxis(_stretch(rgb), 0, -1)
    left, bottom, right, top = reflectance.rio.bounds()
    extent = (left, right, bottom, top)
    tolerance = step * abs(reflectance.rio.resolution()[0]) / 2
    fig, ax = _figure(10, 10 * (top - bottom) / (right - left) + 1.2)
    ax.set_facecolor("#202020")
    picture = np.nan_to_num(image, nan=0.12)
    handles: list = []
    if invalid is not None:
        # the veil is blended here, so matplotlib resamples one picture instead of two
        # (~60 bytes a pixel each while it draws)
        veil = np.asarray(invalid[::step, ::step].values, dtype=bool)
        picture[veil] = 0.45 * picture[veil] + 0.55 * np.array([0.55, 0.55, 0.6])
    # 8-bit RGBA: matplotlib resamples an image as float RGBA and adds a missing alpha
    # channel in float64, so RGB input costs ~100 MB while it draws; opaque RGBA ~50 MB
    # (same PNG, pixel for pixel)
    picture = np.round(picture * 255).astype("uint8")
    picture = np.dstack([picture, np.full(picture.shape[:2], 255, "uint8")])
    ax.imshow(picture, extent=extent, interpolation="nearest")
    if invalid is not None:
        handles.append(
            Patch(
                facecolor=(0.55, 0.55, 0.6, 0.55),
                label="masked (cloud, shadow, water, vegetation, fill)",
            )
        )
    if zones is not None and len(zones):
        family = zones["kind"].map(_family)
        for name, group in zones.groupby(family):
            colour = _FAMILY_COLOURS[name]
            draw_lines(ax, _outlines(group, tolerance).values, colors=colour, linewidths=0.9)
            n = group["kind"].nunique()
            label = f"{name} zones ({n} layer{'s' if n > 1 else ''})"
            handles.append(Line2D([], [], color=colour, label=label))
    _overlay(
        ax,
        handles,
        targets,
        licences,
        structures,
        occurrences,
        label_top,
        tolerance,
        bounds=(left, bottom, right, top),
    )
    _decorate(ax, fig, handles, reflectance.rio.bounds(), reflectance.rio.crs, title)
    return fig


def render_score_map(
    score: xr.DataArray,
    *,
    cutoff: float | None = None,
    targets: gpd.GeoDataFrame | None = None,
    licences: gpd.GeoDataFrame | None = None,
    structures: gpd.GeoDataFrame | None = None,
    occurrences: gpd.GeoDataFrame | None = None,
    title: str = "",
    label: str = "prospectivity score",
    label_top: int = 15,
) -> Figure:
    """Map a prospectivity score (decimated like the quicklook) with the target cutoff.

    Parameters
    ----------
    score : xarray.DataArray
        ``(y, x)`` score with CRS; NaN is drawn dark grey.
    cutoff : float, optional
        Target cutoff, drawn as a contour and marked on the colour bar.
    targets, licences, structures, occurrences : geopandas.GeoDataFrame, optional
        Layers in the score's CRS.
    """
    ny, nx = score.shape
    step = max(1, int(np.ceil(max(ny, nx) / _MAX_PIXELS)))
    values = np.asarray(score[::step, ::step].values, dtype="float32")
    left, bottom, right, top = score.rio.bounds()
    extent = (left, right, bottom, top)
    fig, ax = _figure(10, 10 * (top - bottom) / (right - left) + 1.2)
    ax.set_facecolor("#303030")
    finite = values[np.isfinite(values)]
    vmin, vmax = np.percentile(finite, [1, 99.9]) if finite.size else (0.0, 1.0)
    image = ax.imshow(
        np.ma.masked_invalid(values),
        extent=extent,
        cmap="magma",
        vmin=vmin,
        vmax=vmax,
        interpolation="nearest",
    )
    bar = fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02)
    bar.set_label(label)
    handles: list = []
    if cutoff is not None and finite.size:
        ys = top + (bottom - top) * (np.arange(values.shape[0]) + 0.5) / values.shape[0]
        xs = left + (right - left) * (np.arange(values.shape[1]) + 0.5) / values.shape[1]
        ax.contour(
            xs, ys, np.nan_to_num(values, nan=vmin), levels=[cutoff], colors="cyan", linewidths=0.8
        )
        bar.ax.axhline(cutoff, color="cyan", linewidth=2)
        handles.append(Line2D([], [], color="cyan", label=f"target cutoff ({cutoff:.3g})"))
    tolerance = step * abs(score.rio.resolution()[0]) / 2
    _overlay(
        ax,
        handles,
        targets,
        licences,
        structures,
        occurrences,
        label_top,
        tolerance,
        bounds=(left, bottom, right, top),
    )
    _decorate(ax, fig, handles, (left, bottom, right, top), score.rio.crs, title)
    return fig


def _licence_labels(licences: gpd.GeoDataFrame, targets, seen: np.ndarray) -> np.ndarray:
    """Positions (in ``licences``) of the licences to label among those in view (``seen``)."""
    if len(seen) <= MAX_LICENCE_LABELS:
        return seen
    holds = licence_relevance(licences.iloc[seen], targets).holds
    if holds.sum() <= MAX_LICENCE_LABELS:
        return seen[holds]
    if targets is None or "licence_id" not in licences or "licence_id" not in targets:
        return seen[:0]
    ids = set(targets["licence_id"].dropna().astype(str))
    return seen[licences["licence_id"].iloc[seen].astype(str).isin(ids).to_numpy()]


def _overlay(
    ax,
    handles,
    targets,
    licences,
    structures,
    occurrences,
    label_top,
    tolerance=0.0,
    *,
    bounds=None,
) -> None:
    """Draw licences, structures, occurrences and targets (labelled by rank).

    Target outlines are simplified by ``tolerance`` (CRS units), see :func:`_outlines`.
    With ``bounds`` (left, bottom, right, top), only the licences in view are drawn.
    """
    if structures is not None and len(structures):
        draw_lines(ax, structures.geometry.values, colors="#d62728", linewidths=1.1)
        handles.append(Line2D([], [], color="#d62728", label="faults / structures"))
    if occurrences is not None and len(occurrences):
        ax.scatter(
            occurrences.geometry.x,
            occurrences.geometry.y,
            marker="*",
            s=90,
            color="white",
            edgecolors="black",
            linewidths=0.8,
            zorder=5,
        )
        handles.append(
            Line2D(
                [],
                [],
                marker="*",
                color="white",
                markeredgecolor="black",
                linestyle="",
                markersize=10,
                label="known occurrence",
            )
        )
    if licences is not None and len(licences):
        if bounds is not None:
            from shapely.geometry import box

            seen = np.sort(licences.sindex.query(box(*bounds), predicate="intersects"))
        else:
            seen = np.arange(len(licences))
        draw_lines(
            ax, licences.geometry.values[seen], colors="white", linewidths=1.4, linestyles="--"
        )
        labelled = licences.iloc[_licence_labels(licences, targets, seen)]
        ids = labelled["licence_id"] if "licence_id" in labelled else [None] * len(labelled)
        for lic_id, point in zip(ids, labelled.geometry.representative_point(), strict=True):
            ax.annotate(
                mpl_text("" if is_missing(lic_id) else lic_id),
                (point.x, point.y),
                color="white",
                fontsize=9,
                ha="center",
                path_effects=_HALO,
            )
        handles.append(Line2D([], [], color="white", linestyle="--", label="licence"))
    if targets is not None and len(targets):
        draw_lines(ax, _outlines(targets, tolerance).values, colors="yellow", linewidths=2.0)
        handles.append(Line2D([], [], color="yellow", linewidth=2, label="target (label = rank)"))
        for row in targets.sort_values("rank").head(label_top).itertuples():
            ax.annotate(
                str(row.rank),
                (row.easting, row.northing),
                color="yellow",
                fontsize=11,
                fontweight="bold",
                ha="center",
                va="center",
                path_effects=_HALO,
            )


def _decorate(ax, fig, handles, bounds, crs, title) -> None:
    """Axes, scale bar, north arrow, legend below the map, title."""
    left, bottom, right, top = bounds
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    ax.set_xlabel(f"Easting (m), {crs}")
    ax.set_ylabel("Northing (m)")
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.tick_params(labelsize=8)
    draw_scale_and_north(ax, (left, bottom, right, top))
    if handles:  # below the map, so it never hides a target
        ax.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.07),
            ncol=3,
            fontsize=8,
            facecolor="#404040",
            labelcolor="white",
            framealpha=1.0,
        )
    ax.set_title(mpl_text(title), fontsize=11)  # holds the pipeline's name: user text
    fig.tight_layout()
