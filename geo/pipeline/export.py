"""Field deliverables from a run folder: every format a field team's tools open offline.

``export_run`` reads only the run folder (``targets.gpkg``, ``manifest.json``, the PNGs and
``rasters/``), so it runs at the end of ``geo run`` and again later with ``geo export``
(e.g. after ``geo rank``). Every file is written to a temporary name and moved into place.

=========  ==========================================================  =====================
format     what                                                        written to
=========  ==========================================================  =====================
qgis       QGIS styles in ``targets.gpkg`` (``layer_styles``) and a    ``targets.gpkg``,
           ``.qml`` beside every raster                                ``rasters/*.qml``
kml        Google Earth placemarks, outlines, licences                 ``exports/targets.kml``
kmz        the same plus the scene as a ground overlay                 ``exports/targets.kmz``
gpx        GPS waypoints and a route through the best targets          ``exports/targets.gpx``
geojson    RFC 7946 polygons and points (WGS 84)                       ``exports/*.geojson``
shp        zipped Shapefiles (targets, points, licences in play)       ``exports/targets_shp.zip``
csv        field table: scene CRS, standard UTM, WGS 84, DMS           ``exports/targets_field.csv``
html       offline report with interactive map and target sheets      ``report.html``
pdf        printable report: cover, target table, a sheet per target   ``report.pdf``
qfield     QGIS project for QField on a phone: styled layers, basemap  ``exports/qfield/``
geopdf     georeferenced PDF map of the field targets (Avenza Maps)    ``exports/targets_map.pdf``
=========  ==========================================================  =====================

**Sized for the field.** A full scene gives well over a thousand targets; a field team
walks to a few dozen and a handheld GPS holds 1,000 to 2,000 waypoints. The *field set* is
the best ``field_top`` targets (the pipeline's ``field.top``, default 50), at most
``per_licence`` a licence when asked (``field.per_licence``;
:func:`~geo.export._common.select_field_targets`). The files a team carries hold the field
set only: the report's table, interactive map and sheets, the PDF's pages, the GPX
waypoints and route, the KML/KMZ target placemarks and outlines (with the alteration zones
meeting them). The run's tables keep every target: ``targets.gpkg``, ``targets.csv``, the
field CSV, GeoJSON and Shapefiles; the report, the GPX and the KML say how many targets
the run has and where they are. ``top`` (report sheets and PDF pages, the pipeline's
``export.top``) and ``route_top`` (the GPX route, ``export.route_top``) are the best of the
field set: by default all of it (at most :data:`MAX_REPORT_SHEETS` sheets and
:data:`MAX_ROUTE` route points), never more. So no format does per-target work beyond the
field set except the full tables, and ``report.html`` and ``targets.kmz`` stay under 5 MB
whatever the scene.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio

from geo._memory import release_memory
from geo._vectorfile import dates_as_text
from geo.errors import GeoWarning, InputNotFoundError, InvalidParameterError
from geo.export._common import DEFAULT_FIELD_TOP, select_field_targets
from geo.pipeline._formats import DEFAULT_GDAL_CACHE_MB, EXPORT_FORMATS
from geo.pipeline._side import side_formats

__all__ = ["EXPORT_FORMATS", "MAX_REPORT_SHEETS", "MAX_ROUTE", "Exported", "export_run"]

#: Most report sheets / PDF pages by default (the pipeline's ``export.top`` allows 200).
MAX_REPORT_SHEETS = 200
#: Most targets in the GPX route by default (the pipeline's ``export.route_top`` allows 500).
MAX_ROUTE = 500
#: Most outline vertices (target outlines and zones) in the KML/KMZ; beyond, they are
#: simplified (a full scene's best 50 targets and their zones hold ~340,000 at 30 m pixels).
MAX_KML_VERTICES = 250_000
#: Most alteration zones in the KML/KMZ (the largest of those meeting the field targets).
MAX_KML_ZONES = 5_000


def _layers(run_dir: Path, formats: Sequence[str]) -> dict[str, gpd.GeoDataFrame]:
    path = run_dir / "targets.gpkg"
    names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    wanted = ["targets", "licences", "occurrences", "structures"]
    if "kml" in formats or "kmz" in formats:
        wanted.append("zones")  # every alteration outline: only Google Earth draws them
    return {
        name: dates_as_text(gpd.read_file(path, layer=name, engine="pyogrio"))
        for name in wanted
        if name in names
    }


class Exported(dict[str, list[str]]):
    """What :func:`export_run` wrote: ``{format: [paths relative to the run folder]}``.

    ``second_process`` names the formats a second Python process wrote (empty: all were
    written in the calling process), which a run's manifest records.
    """

    second_process: tuple[str, ...] = ()


def export_run(
    run_dir: str | Path,
    formats: Sequence[str] = EXPORT_FORMATS,
    *,
    top: int | None = None,
    route_top: int | None = None,
    field_top: int | None = None,
    per_licence: int | None = None,
    start: tuple[float, float] | None = None,
    start_name: str | None = None,
    processes: int | None = None,
) -> Exported:
    """Write the field formats of a run; return ``{format: [paths relative to run_dir]}``.

    Parameters
    ----------
    run_dir : path
        A folder written by ``geo run``.
    formats : sequence of str
        Formats to write (:data:`EXPORT_FORMATS`).
    field_top : int, optional
        How many of the best targets go to the field (see the module docstring); default
        the run's ``field.top`` as its manifest records it, else 50.
    per_licence : int, optional
        At most this many field targets a licence; 0: no cap; default the run's
        ``field.per_licence``, else no cap.
    top : int, optional
        Report sheets and PDF pages: the best of the field set; default the run's
        ``export.top``, else every field target (at most :data:`MAX_REPORT_SHEETS`).
        Never more than the field set.
    route_top : int, optional
        Targets in the GPX route, likewise (default at most :data:`MAX_ROUTE`).
    start : (lon, lat), optional
        Where the GPX route starts (a camp, an airstrip), in WGS 84 degrees; default the
        run's ``field.start``, else the route starts at the best target.
    start_name : str, optional
        The start's waypoint name (default the run's, else ``START``).
    processes : int, optional
        1: write every format in this process; 2: write the PDFs in a second process
        meanwhile; default: 2 where it pays (two cores, ten report sheets or more; see
        :mod:`geo.pipeline._side`). The files hold the same either way; the report PDF's
        maps are drawn on its pages when the second process writes it, and are the HTML
        page's pictures when one process writes both (``second_process`` of the result).

    Raises
    ------
    InputNotFoundError
        ``run_dir`` is not a geo run folder.
    InvalidParameterError
        An unknown format, or a count that is not an integer (``field_top`` below 1,
        the others below 0).
    """
    run_dir = Path(run_dir)
    unknown = [f for f in formats if f not in EXPORT_FORMATS]
    if unknown:
        raise InvalidParameterError(
            f"Unknown export format {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(EXPORT_FORMATS)}."
        )
    if not (run_dir / "targets.gpkg").is_file() or not (run_dir / "manifest.json").is_file():
        raise InputNotFoundError(
            f"{run_dir}: not a geo run folder (no targets.gpkg / manifest.json); give the "
            "folder `geo run` wrote."
        )
    manifest = _manifest(run_dir)  # (an unreadable manifest stops the export before any write)
    title = _title(manifest)
    recorded = _recorded(manifest)
    field_top = _count(field_top, recorded.get("field_top", DEFAULT_FIELD_TOP), "field_top", 1)
    per_licence = _count(per_licence, recorded.get("per_licence", 0), "per_licence", 0)
    top = min(_count(top, recorded.get("top", MAX_REPORT_SHEETS), "top", 0), field_top)
    route_top = min(
        _count(route_top, recorded.get("route_top", MAX_ROUTE), "route_top", 0), field_top
    )
    if start is None and "start" in recorded:
        start = recorded["start"]["lon"], recorded["start"]["lat"]
        start_name = start_name or recorded["start"]["name"]
    if processes is not None and (
        isinstance(processes, bool) or not isinstance(processes, int) or processes < 1
    ):
        raise InvalidParameterError(
            f"The 'processes' parameter of export_run must be an integer >= 1; got {processes!r}."
        )
    options = {
        "top": top,
        "route_top": route_top,
        "field_top": field_top,
        "per_licence": per_licence,
        "start": start,
        "start_name": start_name,
    }
    with _gdal_env():
        return _export(run_dir, formats, title, options, processes)


def _gdal_env():
    """GDAL's block cache as a run has it (``processing.gdal_cache_mb``) unless one is set.

    (GDAL's default is 5 % of RAM: the QField package's JPEG copy of a full scene would
    hold a few hundred MB of it.)
    """
    import rasterio
    import rasterio.env

    if rasterio.env.hasenv():
        return contextlib.nullcontext()
    return rasterio.Env(GDAL_CACHEMAX=DEFAULT_GDAL_CACHE_MB * 2**20)


def _export(
    run_dir: Path, formats: Sequence[str], title: str, options: dict, processes: int | None
) -> Exported:
    """Write ``formats`` (the checked options of :func:`export_run`)."""
    top, route_top = options["top"], options["route_top"]

    layers = _layers(run_dir, formats)
    field = _FieldSet(layers, options["field_top"], options["per_licence"])
    field.start, field.start_name = options["start"], options["start_name"] or "START"
    written: dict[str, list[Path]] = {}
    if "qgis" in formats:
        # before a second process opens targets.gpkg: the styles replace the file
        written["qgis"] = _qgis(run_dir)
    release_memory()  # each format's temporaries are freed before the next one's

    def write(names: Sequence[str]) -> None:
        written.update(_write(run_dir, names, layers, title, field, top, route_top))

    sheets = min(top, len(field.targets)) if "pdf" in formats else 0
    side = side_formats(formats, sheets, processes)
    if not side:
        write(formats)
        return _relative(run_dir, formats, written)
    from geo.pipeline._side import ChildLost, SideExports

    try:
        child = SideExports(run_dir, side, _outputs(run_dir, side), options)
    except OSError:  # no interpreter to start (an embedded Python): one process
        write(formats)
        return _relative(run_dir, formats, written)
    try:
        write([f for f in formats if f not in side])
        release_memory()
        for fmt, paths in child.wait().items():
            written[fmt] = [run_dir / p for p in paths]
        result = _relative(run_dir, formats, written)
        result.second_process = tuple(side)
        return result
    except ChildLost as lost:
        # it died without a word (killed, out of memory, a broken environment): the
        # formats are written here instead, the others' memory being freed
        child.stop()
        warnings.warn(
            f"{lost}; writing {', '.join(side)} in this process instead.", GeoWarning, stacklevel=2
        )
        write(side)
    except BaseException:
        child.stop()
        raise
    return _relative(run_dir, formats, written)


def _outputs(run_dir: Path, formats: Sequence[str]) -> list[Path]:
    """Return the files ``formats`` write (their temporaries go if the writer is stopped)."""
    from geo.export.qfield import PROJECT_NAME

    qfield = run_dir / "exports" / "qfield"
    files = {
        "pdf": [run_dir / "report.pdf"],
        "geopdf": [run_dir / "exports" / "targets_map.pdf"],
        "qfield": [qfield / "targets.gpkg", qfield / "basemap.tif", qfield / PROJECT_NAME],
    }
    return [path for fmt in formats for path in files.get(fmt, [])]


def _relative(run_dir: Path, formats: Sequence[str], written: dict) -> Exported:
    """``{format: [paths relative to run_dir]}`` in the order of ``formats``."""
    return Exported(
        (fmt, [str(Path(p).relative_to(run_dir)) for p in written[fmt]])
        for fmt in formats
        if fmt in written
    )


def _write(
    run_dir: Path,
    formats: Sequence[str],
    layers: dict,
    title: str,
    field: _FieldSet,
    top: int,
    route_top: int,
) -> dict[str, list[Path]]:
    """Write ``formats`` but ``qgis`` in this process; return ``{format: [paths]}``."""
    written: dict[str, list[Path]] = {}
    written.update(_google_earth(run_dir, formats, layers, title, field))
    # the zones (the largest layer: every alteration outline) serve only Google Earth
    layers.pop("zones", None)
    release_memory()
    written.update(_field_files(run_dir / "exports", formats, layers, route_top, field))
    release_memory()
    written.update(_offline_maps(run_dir, formats, layers, title, field))
    release_memory()
    if "html" in formats or "pdf" in formats:
        from geo.export.report import write_report

        paths = write_report(
            run_dir,
            html_path=run_dir / "report.html" if "html" in formats else False,
            pdf_path=run_dir / "report.pdf" if "pdf" in formats else False,
            top=top,
            layers=layers,
            field_top=field.top,
            per_licence=field.per_licence,
        )
        for key, path in paths.items():
            written.setdefault(key, []).append(path)
    return written


class _FieldSet:
    """The targets that go to the field (the best ``top``, ``per_licence`` a licence)."""

    def __init__(self, layers: dict, top: int, per_licence: int) -> None:
        self.top, self.per_licence = top, per_licence
        self.targets = select_field_targets(layers["targets"], top, per_licence=per_licence)
        self.total = len(layers["targets"])
        self.start: tuple[float, float] | None = None  # where the GPX route sets off
        self.start_name = "START"

    def zones(self, zones: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
        """Return the alteration zones meeting a field target (one spatial-index query).

        At most :data:`MAX_KML_ZONES`, the largest.
        """
        if zones is None or not len(zones):
            return zones
        shapes = self.targets.geometry
        if shapes.crs is not None and zones.crs is not None and shapes.crs != zones.crs:
            shapes = shapes.to_crs(zones.crs)
        hit = np.unique(zones.sindex.query(shapes.values, predicate="intersects")[1])
        if len(hit) > MAX_KML_ZONES:
            area = zones.geometry.values[hit].area
            hit = np.sort(hit[np.argsort(-area, kind="stable")[:MAX_KML_ZONES]])
        return zones.iloc[hit]


def _outlines_within(
    targets: gpd.GeoDataFrame, zones: gpd.GeoDataFrame | None, max_vertices: int
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame | None, str]:
    """Simplify the outlines when they hold more than ``max_vertices``; say by how much.

    The tolerance starts at 15 m (half a Landsat pixel) and doubles until they fit; the
    points of the targets (``easting``, ``northing``) are not touched.
    """
    import shapely

    frames = [f for f in (targets, zones) if f is not None and len(f)]
    if sum(int(shapely.get_num_coordinates(f.geometry.values).sum()) for f in frames) <= (
        max_vertices
    ):
        return targets, zones, ""
    crs = targets.crs or (zones.crs if zones is not None else None)
    metre = 1 / 111_320 if crs is not None and crs.is_geographic else 1.0
    tolerance = 15.0
    for _ in range(12):
        simple = [
            shapely.simplify(f.geometry.values, tolerance * metre, preserve_topology=True)
            for f in frames
        ]
        if sum(int(shapely.get_num_coordinates(g).sum()) for g in simple) <= max_vertices:
            break
        tolerance *= 2
    out = [
        f.set_geometry(gpd.GeoSeries(g, index=f.index, crs=f.crs))
        for f, g in zip(frames, simple, strict=True)
    ]
    done = dict(zip([id(f) for f in frames], out, strict=True))
    note = (
        f"Outlines simplified to within {tolerance:g} m to keep the file small; the exact ones "
        "are in the run's targets.gpkg."
    )
    return (
        done.get(id(targets), targets),
        (done.get(id(zones), zones) if zones is not None else None),
        note,
    )


def _count(value, default, name: str, minimum: int) -> int:
    """Return the count the caller gives, else the recorded or default one; checked."""
    value = default if value is None else value
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidParameterError(
            f"The '{name}' parameter of export_run must be an integer >= {minimum}; got {value!r}."
        )
    return int(value)


def _recorded(manifest: dict) -> dict[str, Any]:
    """Return the field options the run's pipeline chose, as its manifest records them.

    ``geo export RUN_DIR`` (and ``export_run`` without them) writes what ``geo run`` wrote.
    A value that is not a count of the right range is ignored (the manifest is a file).
    """
    pipeline = manifest.get("pipeline")
    spec = pipeline.get("spec") if isinstance(pipeline, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    out: dict[str, Any] = {}
    start = (spec.get("field") or {}).get("start") if isinstance(spec.get("field"), dict) else None
    if isinstance(start, dict):
        from geo.pipeline.spec import StartPoint

        try:
            point = StartPoint.model_validate(start)
            out["start"] = {"lon": point.lon, "lat": point.lat, "name": point.name}
        except ValueError:
            pass  # a hand-edited manifest: the route starts at the best target
    for section, key, name, minimum in (
        ("field", "top", "field_top", 1),
        ("field", "per_licence", "per_licence", 1),
        ("export", "top", "top", 0),
        ("export", "route_top", "route_top", 0),
    ):
        part = spec.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
            out[name] = value
    return out


def _qgis(run_dir: Path) -> list[Path]:
    """QGIS styles inside ``targets.gpkg`` (staged copy, moved into place) and beside rasters."""
    from geo.export.qgis import style_run_geopackage, write_raster_styles

    gpkg = run_dir / "targets.gpkg"
    staged = gpkg.with_name(f".{gpkg.stem}.{uuid.uuid4().hex[:8]}.partial.gpkg")
    try:
        shutil.copyfile(gpkg, staged)
        style_run_geopackage(staged)
        os.replace(staged, gpkg)
    finally:
        staged.unlink(missing_ok=True)
    written = [gpkg]
    if (run_dir / "rasters").is_dir():
        written += list(write_raster_styles(run_dir / "rasters"))
    return written


def _google_earth(
    run_dir: Path, formats, layers: dict, title: str, field: _FieldSet
) -> dict[str, list[Path]]:
    """``kml`` and ``kmz`` (the latter with the true-colour scene as a ground overlay).

    Both hold the field set and the alteration zones meeting it (counted against the run's).
    """
    exports = run_dir / "exports"
    licences, occurrences = layers.get("licences"), layers.get("occurrences")
    all_zones = layers.get("zones")
    targets, zones, note = field.targets, None, ""
    if "kml" in formats or "kmz" in formats:
        targets, zones, note = _outlines_within(
            field.targets, field.zones(all_zones), MAX_KML_VERTICES
        )
    counts: dict[str, Any] = {
        "total_targets": field.total,
        "zones_total": len(all_zones) if all_zones is not None else None,
        "note": note,
    }
    written: dict[str, list[Path]] = {}
    if "kml" in formats:
        from geo.export.kml import write_kml

        written["kml"] = [
            write_kml(
                exports / "targets.kml",
                targets,
                licences=licences,
                zones=zones,
                occurrences=occurrences,
                title=title,
                **counts,
            )
        ]
    release_memory()
    if "kmz" in formats:
        from geo.export.kml import overlay_from_true_colour, write_kmz

        picture = run_dir / "rasters" / "true_colour.tif"
        overlay = overlay_from_true_colour(picture) if picture.is_file() else None
        written["kmz"] = [
            write_kmz(
                exports / "targets.kmz",
                targets,
                licences=licences,
                zones=zones,
                occurrences=occurrences,
                overlay=overlay,
                title=title,
                **counts,
            )
        ]
    return written


def _field_files(
    exports: Path, formats, layers: dict, route_top: int, field: _FieldSet
) -> dict[str, list[Path]]:
    """``gpx`` (the field set), ``geojson``, ``shp`` and ``csv`` (every target)."""
    targets, licences = layers["targets"], layers.get("licences")
    written: dict[str, list[Path]] = {}
    if "gpx" in formats:
        from geo.export.gpx import write_gpx

        written["gpx"] = [
            write_gpx(
                exports / "targets.gpx",
                field.targets,
                route_top=route_top,
                total_targets=field.total,
                start=field.start,
                start_name=field.start_name,
            )
        ]
    if "geojson" in formats:
        from geo.export.tables import write_geojson

        written["geojson"] = [
            write_geojson(targets, exports / "targets.geojson"),
            write_geojson(targets, exports / "target_points.geojson", points=True),
        ]
    if "shp" in formats:
        from geo.export._common import licence_relevance
        from geo.export.tables import write_shapefile_zip

        shp_layers = {"targets": targets, "target_points": _points(targets)}
        if licences is not None:
            # the licences that hold a target or meet the scene; a national cadastre's
            # others stay in targets.gpkg
            shp_layers["licences"] = licences[licence_relevance(licences, targets).in_play]
        written["shp"] = [write_shapefile_zip(shp_layers, exports / "targets_shp.zip")]
    if "csv" in formats:
        from geo.export.tables import write_field_csv

        written["csv"] = [write_field_csv(targets, exports / "targets_field.csv")]
    return written


def _offline_maps(
    run_dir: Path, formats, layers: dict, title: str, field: _FieldSet
) -> dict[str, list[Path]]:
    """``qfield`` (a QGIS project of every layer for QField) and ``geopdf`` (the field set)."""
    written: dict[str, list[Path]] = {}
    if "qfield" in formats:
        from geo.export.qfield import write_qfield_project

        project = write_qfield_project(run_dir, title=title)
        written["qfield"] = sorted(p for p in project.parent.iterdir() if p.is_file())
    if "geopdf" in formats and len(field.targets):
        from geo.export.geopdf import write_geopdf

        basemap = run_dir / "rasters" / "true_colour.tif"
        written["geopdf"] = [
            write_geopdf(
                run_dir / "exports" / "targets_map.pdf",
                field.targets,
                licences=layers.get("licences"),
                basemap=basemap if basemap.is_file() else None,
                title=title,
            )
        ]
    return written


def _points(targets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Targets as points at their representative point (the coordinates of the table)."""
    points = gpd.points_from_xy(targets["easting"], targets["northing"], crs=targets.crs)
    return gpd.GeoDataFrame(targets.drop(columns="geometry"), geometry=points, crs=targets.crs)


def _manifest(run_dir: Path) -> dict:
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputNotFoundError(
            f"{run_dir / 'manifest.json'}: not a geo manifest (not valid JSON: {exc})."
        ) from None
    return manifest if isinstance(manifest, dict) else {}


def _title(manifest: dict) -> str:
    scene = manifest.get("scene")
    scene = scene if isinstance(scene, dict) else {}
    pipeline = manifest.get("pipeline")
    pipeline = pipeline if isinstance(pipeline, dict) else {}
    name = pipeline.get("name", "geo")
    return f"{name}: {scene.get('scene_id', '')} ({scene.get('date_acquired', '')})".strip()
