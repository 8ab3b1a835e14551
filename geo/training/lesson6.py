"""Lesson 6, delivering to the field: a map of the run, the field files, and the answer checks.

The checks read the run folder the lesson wrote (``targets.gpkg``, the field CSV) and
compare the learner's answer with it, recognising the usual mistakes (metres for
kilometres, degrees used as distances, the polygon instead of the waypoint, the negative
northing of Landsat's north-zone grid, another licence...).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.training.checks import CheckFailed, _ok, check_value

__all__ = [
    "check_camp_distance",
    "check_gps_northing",
    "check_licence_targets",
    "field_files",
    "plot_targets_map",
]

#: What each delivered file is for (paths relative to the run folder).
_FILES = {
    "report.html": "laptop, offline: maps, sortable table, one sheet per target",
    "report.pdf": "printing: summary and one A4 page per target",
    "targets.gpkg": "QGIS: targets, zones, licences, occurrences, faults, styled",
    "exports/targets.gpx": "handheld GPS: waypoints and a visiting route",
    "exports/targets.kmz": "Google Earth: placemarks, outlines, scene picture",
    "exports/targets.kml": "Google Earth (no picture)",
    "exports/targets_field.csv": "spreadsheets: UTM as the GPS shows it, lat/lon, DMS",
    "exports/targets.geojson": "web GIS (WGS 84)",
    "exports/target_points.geojson": "web GIS, one point per target",
    "exports/targets_shp.zip": "older GIS: Shapefiles",
    "rasters/true_colour.tif": "basemap for GPS units and offline GIS",
    "targets.csv": "the target table without geometry",
    "licences.csv": "per-licence summary",
    "manifest.json": "everything the run did, with checksums",
}


def field_files(run_dir: str | Path) -> pd.DataFrame:
    """List the delivered files of a run that exist, with their size and who they are for."""
    run_dir = Path(run_dir)
    rows = [
        {"file": name, "size_kb": round((run_dir / name).stat().st_size / 1000, 1), "for": use}
        for name, use in _FILES.items()
        if (run_dir / name).is_file()
    ]
    return pd.DataFrame(rows).set_index("file")


def _layer(run_dir: Path, layer: str) -> gpd.GeoDataFrame:
    return gpd.read_file(run_dir / "targets.gpkg", layer=layer)


def plot_targets_map(run_dir: str | Path, *, camp: tuple[float, float] | None = None, ax=None):
    """Map of a run for the field: true colour, licences, targets labelled by rank, camp.

    Parameters
    ----------
    run_dir : path
        A geo run folder (``rasters/true_colour.tif`` and ``targets.gpkg``).
    camp : (lat, lon), optional
        A camp to mark with a star.
    """
    import matplotlib.patheffects as pe
    import matplotlib.pyplot as plt
    import rasterio
    from matplotlib.artist import Artist
    from matplotlib.colors import TABLEAU_COLORS
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    from geo.export.quicklook import draw_scale_and_north

    run_dir = Path(run_dir)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 8), layout="constrained")
    with rasterio.open(run_dir / "rasters" / "true_colour.tif") as src:
        step = max(1, max(src.shape) // 800)
        rgb = src.read(out_shape=(3, src.height // step, src.width // step))
        bounds, crs = src.bounds, src.crs
    alpha = (rgb != 0).any(axis=0).astype("uint8") * 255
    picture = np.dstack([*rgb, alpha]).astype("uint8")
    ax.imshow(picture, extent=(bounds.left, bounds.right, bounds.bottom, bounds.top))
    halo = [pe.withStroke(linewidth=3, foreground="black")]
    handles: list[Artist] = []
    licences = _layer(run_dir, "licences").to_crs(crs)
    colours = list(TABLEAU_COLORS.values())  # the tab10 colours
    for i, (_, lic) in enumerate(licences.iterrows()):
        colour = colours[i % len(colours)]
        gpd.GeoSeries([lic.geometry], crs=crs).boundary.plot(ax=ax, color=colour, linewidth=2, linestyle="--")  # fmt: skip
        handles.append(Line2D([], [], color=colour, linestyle="--", lw=2,
                              label=f"{lic['licence_id']} ({lic['status']})"))  # fmt: skip
    targets = _layer(run_dir, "targets").to_crs(crs)
    targets.plot(ax=ax, facecolor="none", edgecolor="yellow", linewidth=1.5)
    for _, t in targets.iterrows():
        ax.annotate(str(int(t["rank"])), (t["easting"], t["northing"]), color="yellow",
                    fontsize=11, fontweight="bold", ha="center", va="center", path_effects=halo)  # fmt: skip
    handles.append(Patch(facecolor="none", edgecolor="yellow", lw=1.5, label="target (rank)"))
    if camp is not None:
        point = gpd.GeoSeries(gpd.points_from_xy([camp[1]], [camp[0]]), crs=4326).to_crs(crs)
        ax.plot(point.x, point.y, marker="*", markersize=18, color="white", mec="black")
        handles.append(Line2D([], [], marker="*", color="white", mec="black", ms=12, lw=0,
                              label="camp"))  # fmt: skip
    ax.set_xlim(bounds.left, bounds.right)
    ax.set_ylim(bounds.bottom, bounds.top)
    ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.85)
    ax.set_xlabel("easting (m)", fontsize=8)
    ax.set_ylabel("northing (m)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.set_title(f"Targets and licences — {crs}", fontsize=10)
    draw_scale_and_north(ax, tuple(bounds), fontsize=8)
    return ax


# ----------------------------------------------------------------------------- checks


def _ids(answer) -> list[str]:
    if isinstance(answer, pd.DataFrame):
        if "target_id" not in answer.columns:
            raise CheckFailed(
                "targets in the licence: the table has no 'target_id' column; select rows of "
                "the targets table (keep all its columns)."
            )
        return [str(v) for v in answer["target_id"]]
    if isinstance(answer, str):
        return [answer]
    return [str(v) for v in answer]


def check_licence_targets(answer, licence_id: str, run_dir: str | Path) -> bool:
    """Check the targets selected for one licence: those whose ``licence_id`` is it.

    ``answer`` is a table of targets (rows of the targets table) or a list of target ids.
    """
    name = f"targets in licence {licence_id}"
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    targets = _layer(Path(run_dir), "targets")
    got = _ids(answer)
    want = targets.loc[targets["licence_id"] == licence_id, "target_id"].tolist()
    if sorted(got) == sorted(want):
        straddling = targets.loc[
            targets["target_id"].isin(want) & targets["straddles_boundary"].astype(bool),
            "target_id",
        ].tolist()
        note = (
            f"; {', '.join(straddling)} straddle(s) the boundary: check the licence_overlap_pct "
            "before pegging a drill hole"
            if straddling
            else ""
        )
        return _ok(name, f"{', '.join(want)}{note}")
    if not got:
        raise CheckFailed(f"{name}: the selection is empty; expected {len(want)} target(s).")
    for other, group in targets.groupby("licence_id"):
        if other != licence_id and sorted(got) == sorted(group["target_id"]):
            raise CheckFailed(f"{name}: these are the targets of licence {other}.")
    unknown = sorted(set(got) - set(targets["target_id"]))
    if unknown:
        raise CheckFailed(f"{name}: {unknown} are not target ids of this run.")
    extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    raise CheckFailed(
        f"{name}: {len(got)} selected, expected {len(want)}"
        + (f"; {', '.join(extra)} belong(s) to another licence or none" if extra else "")
        + (f"; missing {', '.join(missing)}" if missing else "")
        + ". Compare the licence_id column with the licence number, spelled exactly."
    )


def check_camp_distance(answer, camp_lat: float, camp_lon: float, run_dir: str | Path) -> bool:
    """Check the distance in km from a camp (lat, lon) to target 1's waypoint.

    Expected: the geodesic distance on the WGS 84 ellipsoid to target 1's ``lat``/``lon``
    (the point inside the target the GPS goes to); a distance in the UTM grid agrees within
    0.3 %.
    """
    from pyproj import Geod

    name = "distance from the camp to target 1"
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    try:
        value = float(np.asarray(answer).item() if np.size(answer) == 1 else answer)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name}: expected one number (km), got {answer!r}.") from None
    targets = _layer(Path(run_dir), "targets").sort_values("rank")
    geod = Geod(ellps="WGS84")

    def km(lat: float, lon: float) -> float:
        return geod.inv(camp_lon, camp_lat, lon, lat)[2] / 1000

    first = targets.iloc[0]
    want = km(first["lat"], first["lon"])
    close = bool(np.isclose(value, want, rtol=3e-3))
    if close:
        return check_value(value, want, name=name, rtol=3e-3)
    if np.isclose(value, want * 1000, rtol=3e-3):
        raise CheckFailed(f"{name}: {value:.6g} is in metres; divide by 1000 for km.")
    degrees = float(np.hypot(first["lat"] - camp_lat, first["lon"] - camp_lon))
    if np.isclose(value, degrees, rtol=1e-2) or (value < 0.5 * want and value < 1):
        raise CheckFailed(
            f"{name}: {value:.4g} looks like a distance in degrees of latitude/longitude, "
            "which are not lengths (a degree of longitude shrinks towards the poles). Put both "
            "points in the scene's UTM grid (metres) first, or use a geodesic calculation."
        )
    camp = gpd.GeoSeries(gpd.points_from_xy([camp_lon], [camp_lat]), crs=4326)
    camp_utm = camp.to_crs(targets.crs).iloc[0]
    edge_km = targets.geometry.iloc[0].distance(camp_utm) / 1000
    if np.isclose(value, edge_km, rtol=3e-3):
        raise CheckFailed(
            f"{name}: {value:.4g} km is the distance to the nearest edge of the target's "
            "polygon; the field team walks to the waypoint (easting, northing or lat, lon)."
        )
    swapped = geod.inv(camp_lat, camp_lon, first["lat"], first["lon"])[2] / 1000
    if np.isclose(value, swapped, rtol=3e-3):
        raise CheckFailed(
            f"{name}: latitude and longitude are swapped; points are (x, y) = (lon, lat)."
        )
    for _, t in targets.iloc[1:].iterrows():
        if np.isclose(value, km(t["lat"], t["lon"]), rtol=3e-3):
            raise CheckFailed(
                f"{name}: that is the distance to {t['target_id']} (rank {int(t['rank'])}); "
                "target 1 is the row with rank 1 (T001)."
            )
    return check_value(value, want, name=name, rtol=3e-3,
                       hint="Project the camp to the targets' CRS and measure to target 1's "
                       "easting/northing, in km.")  # fmt: skip


def check_gps_northing(answer, run_dir: str | Path) -> bool:
    """Check target 1's northing as a GPS shows it (standard UTM, southern hemisphere)."""
    name = "GPS northing of target 1"
    if answer is None:
        raise CheckFailed(f"{name}: no answer yet (the variable is None). Fill in the cell above.")
    field = pd.read_csv(Path(run_dir) / "exports" / "targets_field.csv", encoding="utf-8-sig")
    first = field.sort_values("rank").iloc[0]
    want = float(first["utm_northing"])
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise CheckFailed(f"{name}: expected a number in metres, got {answer!r}.") from None
    if np.isclose(value, float(first["northing"]), atol=1):
        raise CheckFailed(
            f"{name}: {value:.0f} is the scene's grid northing (negative: Landsat keeps the "
            "north zone 35N south of the equator). A GPS in zone 35S counts from a false "
            "origin 10 000 000 m south of the equator: add 10 000 000."
        )
    return check_value(value, want, name=name, atol=1, rtol=0)
