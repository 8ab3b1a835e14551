"""Vector inputs: the licence layer, read in its own CRS and reprojected explicitly."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError

from geo.errors import CRSError, InputNotFoundError, VectorError

__all__ = ["read_aoi", "read_exclusions", "read_licences", "read_training", "read_vector"]

logger = logging.getLogger(__name__)

_DEFAULT_FIELDS = {"licence_id": "licence_id", "holder": "holder", "status": "status"}


def read_licences(
    path: str | Path,
    *,
    layer: str | None = None,
    fields: Mapping[str, str] | None = None,
    to_crs=None,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Read a licence layer, map its fields, and reproject it to ``to_crs``.

    Parameters
    ----------
    path : str or Path
        Any vector format GDAL reads (GeoPackage, Shapefile, GeoJSON, ...).
    layer : str, optional
        Layer name for multi-layer sources; required when there are several.
    fields : mapping, optional
        ``{"licence_id": "<column>", "holder": "<column>", "status": "<column>"}``: which
        of the layer's columns hold the licence number, holder and status. ``holder``
        and ``status`` may map to a missing column only if given as ``None``.
    to_crs : optional
        Target CRS (the scene CRS); the layer is reprojected to it explicitly.

    Returns
    -------
    licences : geopandas.GeoDataFrame
        Columns ``licence_id``, ``holder``, ``status`` plus the layer's own, geometry
        in ``to_crs`` (made valid).
    info : dict
        What was read and done (source CRS, feature count, reprojection), for the manifest.

    Raises
    ------
    InputNotFoundError
        The file does not exist or cannot be opened.
    VectorError
        Ambiguous/missing layer, no features, no polygons, a mapped column is missing,
        or licence ids are blank.
    CRSError
        The layer has no CRS.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: licence file not found.")
    try:
        layers = pyogrio.list_layers(path)
    except (DataSourceError, OSError) as exc:
        raise InputNotFoundError(f"{path}: cannot open the licence file ({exc}).") from None
    names = [str(n) for n in layers[:, 0]] if len(layers) else []
    if layer is None:
        if len(names) > 1:
            raise VectorError(
                f"{path}: holds layers {', '.join(names)}; name one with inputs.licences.layer "
                "in the pipeline file."
            )
        layer = names[0] if names else None
    elif layer not in names:
        raise VectorError(f"{path}: has no layer {layer!r}; layers: {', '.join(names) or 'none'}.")
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except (DataSourceError, DataLayerError) as exc:
        raise InputNotFoundError(f"{path}: cannot read layer {layer!r} ({exc}).") from None
    where = f"{path} (layer {layer!r})"
    if len(gdf) == 0:
        raise VectorError(
            f"{where}: the licence layer is empty; it must hold at least one polygon."
        )
    if gdf.crs is None:
        raise CRSError(
            f"{where}: the licence layer has no CRS. geo never guesses one; set it "
            "(e.g. `ogr2ogr -a_srs EPSG:4326 out.gpkg in.shp`) and try again."
        )
    polygonal = gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"])
    if not polygonal.any():
        kinds = ", ".join(sorted(set(gdf.geometry.geom_type.dropna())))
        raise VectorError(f"{where}: licences must be polygons; found {kinds or 'no geometry'}.")
    dropped = int((~polygonal).sum())
    if dropped:
        logger.warning("%s: ignoring %d non-polygon features", where, dropped)
        gdf = gdf[polygonal]
    mapping = {**_DEFAULT_FIELDS, **(fields or {})}
    out = gdf.copy()
    for canonical, column in mapping.items():
        if column is None:
            out[canonical] = None
            continue
        if column not in gdf.columns and canonical == "expiry":  # optional: flag nothing
            logger.warning(
                "%s: no column %r for the licence expiry; expiry dates are not checked",
                where,
                column,
            )
            out[canonical] = None
            continue
        if column not in gdf.columns:
            raise VectorError(
                f"{where}: column {column!r} (mapped to {canonical!r}) is missing; the layer has "
                f"{', '.join(c for c in gdf.columns if c != 'geometry')}. Set "
                f"inputs.licences.fields.{canonical} in the pipeline file."
            )
        out[canonical] = gdf[column].astype("string").str.strip()
    if out["licence_id"].isna().any() or (out["licence_id"] == "").any():
        raise VectorError(f"{where}: some licences have a blank {mapping['licence_id']!r}.")
    duplicates = sorted(set(out.loc[out["licence_id"].duplicated(), "licence_id"]))
    if duplicates:
        logger.warning("%s: licence id(s) %s appear more than once", where, ", ".join(duplicates))
    invalid = int((~out.geometry.is_valid).sum())
    if invalid:
        logger.warning(
            "%s: repairing %d invalid licence polygon(s) with make_valid", where, invalid
        )
        out["geometry"] = out.geometry.make_valid()
    source_crs = out.crs
    if to_crs is not None and out.crs != to_crs:
        out = out.to_crs(to_crs)
    info = {
        "file": str(path),
        "layer": layer,
        "features": len(out),
        "source_crs": source_crs.to_string(),
        "reprojected_to": None if to_crs is None or source_crs == to_crs else str(to_crs),
        "fields": dict(mapping),
        "repaired_geometries": invalid,
        "dropped_non_polygons": dropped,
    }
    canonical = ["licence_id", "holder", "status"] + (["expiry"] if "expiry" in mapping else [])
    cols = canonical + [c for c in gdf.columns if c not in ("geometry", *canonical)]
    return out[[*cols, "geometry"]], info


def read_training(
    path: str | Path, *, layer: str | None = None, label_column: str = "class", to_crs=None
) -> tuple[gpd.GeoDataFrame, dict]:
    """Read classifier training polygons or points and reproject them to ``to_crs``.

    Returns the layer with an integer ``code`` column (1..n in sorted label order; 0 is
    reserved for "unlabelled") and an info dict with the label ↔ code table.

    Raises
    ------
    InputNotFoundError, VectorError, CRSError
        Missing file or layer, empty layer, missing label column, no CRS.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: training file not found.")
    try:
        names = [str(n) for n in pyogrio.list_layers(path)[:, 0]]
        if layer is None and len(names) > 1:
            raise VectorError(
                f"{path}: holds layers {', '.join(names)}; name one (classifier.layer)."
            )
        gdf = gpd.read_file(path, layer=layer or (names[0] if names else None), engine="pyogrio")
    except (DataSourceError, DataLayerError, OSError) as exc:
        raise InputNotFoundError(f"{path}: cannot read the training layer ({exc}).") from None
    if gdf.empty:
        raise VectorError(f"{path}: the training layer is empty.")
    if gdf.crs is None:
        raise CRSError(
            f"{path}: the training layer has no CRS; geo never guesses one. Set it first."
        )
    if label_column not in gdf.columns:
        raise VectorError(
            f"{path}: column {label_column!r} (classifier.label_column) is missing; the layer has "
            f"{', '.join(c for c in gdf.columns if c != 'geometry')}."
        )
    gdf = gdf[gdf[label_column].notna()].copy()
    labels = sorted(str(v) for v in gdf[label_column].unique())
    codes = {label: i for i, label in enumerate(labels, 1)}
    gdf["code"] = [codes[str(v)] for v in gdf[label_column]]
    source_crs = gdf.crs
    if to_crs is not None and gdf.crs != to_crs:
        gdf = gdf.to_crs(to_crs)
    info = {
        "file": str(path),
        "features": len(gdf),
        "source_crs": source_crs.to_string(),
        "label_column": label_column,
        "classes": codes,
    }
    return gdf, info


def read_aoi(
    path: str | Path, *, layer: str | None = None, to_crs=None
) -> tuple[gpd.GeoDataFrame, dict]:
    """Read area-of-interest polygons (any CRS) and reproject them to ``to_crs``.

    Raises
    ------
    InputNotFoundError, VectorError, CRSError
        Missing file or layer, no polygons, no CRS.
    """
    return read_vector(
        path, layer=layer, to_crs=to_crs, what="area of interest", kinds=("polygons",)
    )


def read_exclusions(
    path: str | Path, *, layer: str | None = None, name_column: str | None = None, to_crs=None
) -> tuple[gpd.GeoDataFrame, list[str], dict]:
    """Read exclusion polygons (protected areas, settlements...) and a name for each.

    Raises
    ------
    InputNotFoundError, VectorError, CRSError
        Missing file, no polygons, unknown name column, no CRS.
    """
    gdf, info = read_aoi(path, layer=layer, to_crs=to_crs)
    if name_column is not None and name_column not in gdf.columns:
        raise VectorError(
            f"{path}: column {name_column!r} (inputs.exclusions.name_column) is missing; the layer "
            f"has {', '.join(c for c in gdf.columns if c != 'geometry')}."
        )
    names = (
        [str(v) for v in gdf[name_column]]
        if name_column
        else [f"{Path(path).stem}#{i + 1}" for i in range(len(gdf))]
    )
    return gdf.reset_index(drop=True), names, info


_GEOMETRY_KINDS = {
    "points": ("Point", "MultiPoint"),
    "lines": ("LineString", "MultiLineString"),
    "polygons": ("Polygon", "MultiPolygon"),
}


def read_vector(
    path: str | Path,
    *,
    layer: str | None = None,
    to_crs=None,
    what: str = "vector layer",
    kinds: tuple[str, ...] = ("points", "lines", "polygons"),
    columns: tuple[str, ...] = (),
) -> tuple[gpd.GeoDataFrame, dict]:
    """Read an evidence or occurrence layer (any CRS) and reproject it to ``to_crs``.

    Features whose geometry is not of ``kinds`` (``points``, ``lines``, ``polygons``) and
    empty geometries are dropped and counted in the returned info.

    Raises
    ------
    InputNotFoundError
        Missing file or layer.
    VectorError
        No feature of the expected kind, or a required column is missing.
    CRSError
        The layer has no CRS (never guessed).
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: {what} not found.")
    try:
        gdf = gpd.read_file(path, layer=layer, engine="pyogrio")
    except (DataSourceError, DataLayerError, OSError) as exc:
        layers = ""
        try:
            layers = f" Layers in the file: {', '.join(pyogrio.list_layers(path)[:, 0])}."
        except Exception:  # the file itself is unreadable: the first message says it
            pass
        raise InputNotFoundError(f"{path}: cannot read the {what} ({exc}).{layers}") from None
    if gdf.crs is None:
        raise CRSError(
            f"{path}: the {what} has no CRS; geo never guesses one. Set it first (e.g. "
            "`ogr2ogr -a_srs EPSG:xxxx OUT IN`)."
        )
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise VectorError(
            f"{path}: the {what} has no column {', '.join(map(repr, missing))}; it has "
            f"{', '.join(c for c in gdf.columns if c != 'geometry')}."
        )
    allowed = tuple(t for k in kinds for t in _GEOMETRY_KINDS[k])
    keep = gdf.geometry.notna() & ~gdf.geometry.is_empty & gdf.geometry.geom_type.isin(allowed)
    dropped = int((~keep).sum())
    gdf = gdf[keep]
    if gdf.empty:
        raise VectorError(
            f"{path}: the {what} holds no {' or '.join(kinds)} (found "
            f"{', '.join(sorted(set(gpd.read_file(path, layer=layer, engine='pyogrio').geom_type.dropna()))) or 'nothing'})."
        )
    source_crs = gdf.crs
    if to_crs is not None and gdf.crs != to_crs:
        gdf = gdf.to_crs(to_crs)
        logger.info("%s: %s reprojected from %s to %s", path, what, source_crs, to_crs)
    return gdf.reset_index(drop=True), {
        "file": str(path),
        "layer": layer,
        "features": len(gdf),
        "dropped_features": dropped,
        "source_crs": source_crs.to_string(),
    }
