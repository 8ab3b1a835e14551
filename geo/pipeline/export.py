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
pdf        printable report, one page per target                       ``report.pdf``
=========  ==========================================================  =====================
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import pyogrio

from geo._memory import release_memory
from geo.errors import InputNotFoundError, InvalidParameterError

__all__ = ["EXPORT_FORMATS", "export_run"]

EXPORT_FORMATS = ("qgis", "kml", "kmz", "gpx", "geojson", "shp", "csv", "html", "pdf")


def _layers(run_dir: Path) -> dict[str, gpd.GeoDataFrame]:
    path = run_dir / "targets.gpkg"
    names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
    return {
        name: gpd.read_file(path, layer=name, engine="pyogrio")
        for name in ("targets", "zones", "licences", "occurrences", "structures")
        if name in names
    }


def export_run(
    run_dir: str | Path,
    formats: Sequence[str] = EXPORT_FORMATS,
    *,
    top: int = 10,
    route_top: int = 10,
) -> dict[str, list[str]]:
    """Write the field formats of a run; return ``{format: [paths relative to run_dir]}``.

    Raises
    ------
    InputNotFoundError
        ``run_dir`` is not a geo run folder.
    InvalidParameterError
        An unknown format.
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
    layers = _layers(run_dir)
    title = _title(run_dir)  # (an unreadable manifest stops the export before any write)
    written: dict[str, list[Path]] = {}
    if "qgis" in formats:
        written["qgis"] = _qgis(run_dir)
    release_memory()  # each format's temporaries are freed before the next one's
    written.update(_google_earth(run_dir, formats, layers, title))
    # the zones (the largest layer: every alteration outline) serve only Google Earth
    layers.pop("zones", None)
    release_memory()
    written.update(_field_files(run_dir / "exports", formats, layers, route_top))
    release_memory()
    if "html" in formats or "pdf" in formats:
        from geo.export.report import write_report

        paths = write_report(
            run_dir,
            html_path=run_dir / "report.html" if "html" in formats else False,
            pdf_path=run_dir / "report.pdf" if "pdf" in formats else False,
            top=top,
            layers=layers,
        )
        for key, path in paths.items():
            written.setdefault(key, []).append(path)
    return {
        fmt: [str(Path(p).relative_to(run_dir)) for p in paths] for fmt, paths in written.items()
    }


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


def _google_earth(run_dir: Path, formats, layers: dict, title: str) -> dict[str, list[Path]]:
    """``kml`` and ``kmz`` (the latter with the true-colour scene as a ground overlay)."""
    exports = run_dir / "exports"
    licences, zones = layers.get("licences"), layers.get("zones")
    occurrences = layers.get("occurrences")
    written: dict[str, list[Path]] = {}
    if "kml" in formats:
        from geo.export.kml import write_kml

        written["kml"] = [
            write_kml(
                exports / "targets.kml",
                layers["targets"],
                licences=licences,
                zones=zones,
                occurrences=occurrences,
                title=title,
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
                layers["targets"],
                licences=licences,
                zones=zones,
                occurrences=occurrences,
                overlay=overlay,
                title=title,
            )
        ]
    return written


def _field_files(exports: Path, formats, layers: dict, route_top: int) -> dict[str, list[Path]]:
    """``gpx``, ``geojson``, ``shp`` and ``csv``: the targets for GPS units and GIS."""
    targets, licences = layers["targets"], layers.get("licences")
    written: dict[str, list[Path]] = {}
    if "gpx" in formats:
        from geo.export.gpx import write_gpx

        written["gpx"] = [write_gpx(exports / "targets.gpx", targets, route_top=route_top)]
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


def _points(targets: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Targets as points at their representative point (the coordinates of the table)."""
    points = gpd.points_from_xy(targets["easting"], targets["northing"], crs=targets.crs)
    return gpd.GeoDataFrame(targets.drop(columns="geometry"), geometry=points, crs=targets.crs)


def _title(run_dir: Path) -> str:
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputNotFoundError(
            f"{run_dir / 'manifest.json'}: not a geo manifest (not valid JSON: {exc})."
        ) from None
    manifest = manifest if isinstance(manifest, dict) else {}
    scene = manifest.get("scene")
    scene = scene if isinstance(scene, dict) else {}
    pipeline = manifest.get("pipeline")
    pipeline = pipeline if isinstance(pipeline, dict) else {}
    name = pipeline.get("name", "geo")
    return f"{name}: {scene.get('scene_id', '')} ({scene.get('date_acquired', '')})".strip()
