"""Vector inputs: the licence layer, read in its own CRS and reprojected explicitly."""

from __future__ import annotations

import codecs
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyogrio.errors import DataLayerError, DataSourceError

from geo.errors import CRSError, GeoWarning, InputNotFoundError, VectorError

__all__ = [
    "LICENCE_FIELD_ALIASES",
    "read_aoi",
    "read_exclusions",
    "read_licences",
    "read_training",
    "read_vector",
]

logger = logging.getLogger(__name__)

_DEFAULT_FIELDS = {"licence_id": "licence_id", "holder": "holder", "status": "status"}
#: Column names cadastre portals use for each licence field (compared ignoring case, spaces,
#: dashes and underscores). When the mapped column is missing and exactly one column of the
#: layer has one of these names, it is used, with a warning that says so.
LICENCE_FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "licence_id": (
        "licence_id", "license_id", "licence_no", "license_no", "licence_number",
        "license_number", "licence", "license", "licence_code", "license_code", "lic_no",
        "permit_no", "permit_id", "permit_number", "permit", "tenement_id", "tenement",
        "tenement_no", "title_id", "title_no", "claim_id", "claim_no", "concession_id",
        "code", "id_code",
    ),
    "holder": (
        "holder", "holder_name", "holders", "licensee", "licencee", "owner", "owners",
        "company", "parties", "party", "titleholder", "title_holder", "applicant",
    ),
    "status": ("status", "licence_status", "license_status", "state", "title_status"),
    "expiry": (
        "expiry", "expiry_date", "expires", "expiration", "expiration_date", "end_date",
        "exp_date", "valid_to", "valid_until",
    ),
}  # fmt: skip


def _plain_column_name(name: object) -> str:
    return "".join(c for c in str(name).lower() if c.isalnum())


def _alias_column(columns, canonical: str) -> str | None:
    """Return the one column named like ``canonical``'s aliases; None for none or several."""
    wanted = {_plain_column_name(a) for a in LICENCE_FIELD_ALIASES.get(canonical, ())}
    found = [c for c in columns if c != "geometry" and _plain_column_name(c) in wanted]
    return found[0] if len(found) == 1 else None


def read_licences(
    path: str | Path,
    *,
    layer: str | None = None,
    fields: Mapping[str, str | None] | None = None,
    to_crs=None,
    encoding: str | None = None,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Read a licence layer, map its fields, repair its polygons, reproject it to ``to_crs``.

    Cadastre exports arrive in every state of repair, so the layer is cleaned, and every
    change is reported (a :class:`~geo.errors.GeoWarning` naming the file, the count and
    the licence ids) and recorded in ``info``:

    - text that is not valid in the declared encoding (a Windows-1252 Shapefile whose
      ``.cpg`` says UTF-8) is read as Windows-1252 (``encoding`` overrides it);
    - Z and M values are dropped and curves (CurvePolygon, MultiSurface) linearised;
    - the polygons inside GeometryCollections are kept, other parts dropped;
    - invalid polygons (bow-ties...) are repaired with ``make_valid``;
    - null, empty and zero-area geometries, points and lines are dropped;
    - numeric licence numbers read as floats become ``"123"``, not ``"123.0"``;
    - features sharing a licence id and the same holder, status (and expiry) are one
      licence in several parts: their polygons are merged into one row.

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
    encoding : str, optional
        Text encoding of the attribute table (``"cp1252"``, ``"latin-1"``...), when the
        file declares none or declares a wrong one. By default the declared encoding is
        used, and Windows-1252 when the text is not valid in it.

    Returns
    -------
    licences : geopandas.GeoDataFrame
        Columns ``licence_id``, ``holder``, ``status`` plus the layer's own, one row per
        licence id, 2-D polygons or multipolygons with an area, valid, in ``to_crs``.
    info : dict
        What was read and done (source CRS, feature count, encoding, reprojection,
        repaired, dropped and merged features), for the manifest.

    Raises
    ------
    InputNotFoundError
        The file does not exist or cannot be opened.
    VectorError
        Ambiguous/missing layer, no features, no polygon with an area, a mapped column is
        missing, licence ids are blank, one id names licences with different holders or
        statuses, or the text is not valid in the given ``encoding``.
    CRSError
        The layer has no CRS.

    Examples
    --------
    >>> import tempfile
    >>> from shapely.geometry import Polygon, box
    >>> folder = Path(tempfile.mkdtemp())
    >>> layer = gpd.GeoDataFrame(
    ...     {"licence_no": [12.0, 13.0], "holder": ["A", "B"], "status": ["granted"] * 2},
    ...     geometry=[box(0, 0, 100, 100), Polygon([(0, 0), (1, 1), (2, 2)])],
    ...     crs="EPSG:32635",
    ... )
    >>> layer.to_file(folder / "lic.gpkg")
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     lic, info = read_licences(folder / "lic.gpkg", fields={"licence_id": "licence_no"})
    >>> lic["licence_id"].tolist(), info["dropped_empty"]
    (['12'], ['13'])
    >>> print(str(caught[0].message).split(": ", 1)[1])
    dropped 1 licence(s) with an empty, null or zero-area geometry: 13.
    >>> import shutil; shutil.rmtree(folder)
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
    where = f"{path} (layer {layer!r})"
    try:
        gdf, used_encoding = _read_file(
            path, layer, encoding, where=where, option="inputs.licences.encoding", force_2d=True
        )
    except (DataSourceError, DataLayerError) as exc:
        raise InputNotFoundError(f"{path}: cannot read layer {layer!r} ({exc}).") from None
    if len(gdf) == 0:
        raise VectorError(
            f"{where}: the licence layer is empty; it must hold at least one polygon. Check "
            "the export from the cadastre portal, or name the right layer with "
            "inputs.licences.layer."
        )
    if gdf.crs is None:
        raise CRSError(
            f"{where}: the licence layer has no CRS. geo never guesses one; set it "
            "(e.g. `ogr2ogr -a_srs EPSG:4326 out.gpkg in.shp`) and try again."
        )
    mapping = {**_DEFAULT_FIELDS, **(fields or {})}
    out = gdf.copy()
    for canonical, column in mapping.items():
        if column is None:
            out[canonical] = None
            continue
        alias = _alias_column(gdf.columns, canonical) if column not in gdf.columns else None
        if alias is not None:
            _warn(
                f"{where}: no column {column!r} for {canonical}; using {alias!r}, the layer's "
                f"only column named like one (set inputs.licences.fields.{canonical} or "
                f"--licence-fields {canonical}=COLUMN to choose another)."
            )
            mapping[canonical] = column = alias
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
        out[canonical] = _as_text(gdf[column])
    out = out.reset_index(drop=True)

    # geometry: polygonal parts only, valid, with an area
    geoms, kinds, repaired = _polygonal(out.geometry.values)
    if repaired:
        _warn(f"{where}: repaired {repaired} invalid licence polygon(s) with make_valid.")
    other = kinds == _OTHER
    if not (kinds == _POLYGON).any():
        found = sorted(set(gdf.geometry.geom_type.dropna()))
        raise VectorError(
            f"{where}: licences must be polygons with an area; found "
            f"{', '.join(found) if other.any() else 'only empty or null geometries'}. "
            "Check that the file holds the licence polygons."
        )
    ids = out["licence_id"]
    if other.any():
        other_types = ", ".join(sorted(set(gdf.geometry.geom_type.to_numpy()[other])))
        _warn(
            f"{where}: ignoring {int(other.sum())} non-polygon feature(s) ({other_types}): "
            f"{_id_list(ids[other])}."
        )
    empty = kinds == _EMPTY
    if empty.any():
        _warn(
            f"{where}: dropped {int(empty.sum())} licence(s) with an empty, null or zero-area "
            f"geometry: {_id_list(ids[empty])}."
        )
    dropped_empty = [str(v) for v in ids[empty]]
    keep = kinds == _POLYGON
    out = out.loc[keep].set_geometry(geoms[keep], crs=gdf.crs).reset_index(drop=True)
    if out["licence_id"].isna().any() or (out["licence_id"] == "").any():
        raise VectorError(
            f"{where}: some licences have a blank {mapping['licence_id']!r}; fill it, or map "
            "inputs.licences.fields.licence_id to a column that names every licence."
        )
    out, merged = _merge_duplicates(out, [c for c in mapping if c != "licence_id"], where)
    source_crs = out.crs
    unprojectable: list[str] = []
    if to_crs is not None and out.crs != to_crs:
        out = out.to_crs(to_crs)
        # far from the target CRS's area of use, a projection can fold a polygon or fail
        geoms, kinds, _ = _polygonal(out.geometry.values)
        polygons = geoms.copy()
        polygons[kinds != _POLYGON] = None
        finite = np.isfinite(shapely.bounds(polygons)).all(axis=1)
        lost = (kinds != _POLYGON) | ~finite
        if lost.all():
            raise VectorError(
                f"{where}: no licence can be expressed in the scene CRS {to_crs} (they lie too "
                "far from it); check that the licence layer covers this scene."
            )
        if lost.any():
            unprojectable = [str(v) for v in out["licence_id"][lost]]
            _warn(
                f"{where}: dropped {int(lost.sum())} licence(s) that cannot be expressed in the "
                f"scene CRS {to_crs} (too far from it): {_id_list(out['licence_id'][lost])}."
            )
        out = out.loc[~lost].set_geometry(geoms[~lost], crs=out.crs).reset_index(drop=True)
    info = {
        "file": str(path),
        "layer": layer,
        "features": len(out),
        "features_read": len(gdf),
        "encoding": used_encoding,
        "source_crs": source_crs.to_string(),
        "reprojected_to": None if to_crs is None or source_crs == to_crs else str(to_crs),
        "fields": dict(mapping),
        "repaired_geometries": repaired,
        "dropped_non_polygons": int(other.sum()),
        "dropped_empty": dropped_empty,
        "merged_duplicate_ids": merged,
        "dropped_unprojectable": unprojectable,
    }
    leading = ["licence_id", "holder", "status"] + (["expiry"] if "expiry" in mapping else [])
    cols = leading + [c for c in gdf.columns if c not in ("geometry", *leading)]
    return out[[*cols, "geometry"]], info


#: What :func:`_polygonal` found in a feature.
_POLYGON, _EMPTY, _OTHER = 0, 1, 2


def _polygonal(geoms) -> tuple[np.ndarray, np.ndarray, int]:
    """Keep the valid polygonal part of each geometry; say which are polygons, empty or other.

    Polygons and multipolygons are kept, a GeometryCollection becomes the multipolygon of
    its polygons, invalid ones are repaired with ``make_valid`` (a bow-tie becomes two
    triangles; a polygon collapsed to a line has no area).

    Returns
    -------
    geoms : numpy.ndarray
        The geometries, polygonal where ``kinds`` is ``_POLYGON``.
    kinds : numpy.ndarray
        ``_POLYGON`` (a polygon with an area), ``_EMPTY`` (null, empty, or polygonal
        with no area) or ``_OTHER`` (points, lines).
    repaired : int
        How many were invalid and are polygons with an area once repaired.
    """
    geoms = np.array(geoms, dtype=object)
    types = shapely.get_type_id(geoms)  # -1 for a null geometry
    kinds = np.full(len(geoms), _OTHER, dtype="int8")
    kinds[types == -1] = _EMPTY
    candidate = np.isin(types, (3, 6))
    for i in np.flatnonzero(types == 7):  # GeometryCollection
        polys = _polygon_parts(geoms[i])
        if polys is not None:
            geoms[i], candidate[i] = polys, True
        elif shapely.is_empty(geoms[i]) or shapely.is_empty(shapely.get_parts(geoms[i])).all():
            kinds[i] = _EMPTY
    kinds[(kinds == _OTHER) & ~candidate & shapely.is_empty(geoms)] = _EMPTY
    invalid = candidate & ~shapely.is_valid(geoms)
    for i in np.flatnonzero(invalid):
        fixed = shapely.make_valid(geoms[i])
        if shapely.get_type_id(fixed) not in (3, 6):
            fixed = _polygon_parts(fixed)  # None: collapsed to lines or points
        geoms[i] = fixed
    area = np.zeros(len(geoms))
    area[candidate] = shapely.area(geoms[candidate])  # NaN for None
    kinds[candidate] = np.where(area[candidate] > 0, _POLYGON, _EMPTY)
    return geoms, kinds, int((invalid & (kinds == _POLYGON)).sum())


def _polygon_parts(geom):
    """Return the (multi)polygon of a collection's polygons, or None when it has none."""
    parts = shapely.get_parts(shapely.get_parts(geom))  # GeometryCollection -> Multi* -> parts
    polys = parts[shapely.get_type_id(parts) == 3]
    if not len(polys):
        return None
    multi = shapely.multipolygons(polys)
    return multi if shapely.is_valid(multi) else shapely.union_all(shapely.make_valid(polys))


def _merge_duplicates(
    licences: gpd.GeoDataFrame, attributes: list[str], where: str
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Merge the features of one licence id into one row (a licence in several parts).

    The parts must agree on ``attributes`` (holder, status, expiry); the first feature's
    other columns are kept.

    Raises
    ------
    VectorError
        One id names features with different holders, statuses or expiry dates.
    """
    dup = licences["licence_id"].duplicated(keep=False)
    if not dup.any():
        return licences, []
    parts = licences.loc[dup]
    conflicts = [
        str(lic)
        for lic, group in parts.groupby("licence_id", sort=True)
        if any(group[a].astype("string").fillna("\0").nunique() > 1 for a in attributes)
    ]
    if conflicts:
        raise VectorError(
            f"{where}: licence id(s) {_id_list(pd.Series(conflicts))} name several features "
            f"with different {'/'.join(attributes)}; remove the stale records or map "
            "inputs.licences.fields.licence_id to a column that is unique per licence."
        )
    ids = sorted({str(v) for v in parts["licence_id"]})
    merged_geoms = parts.geometry.groupby(parts["licence_id"], sort=False).agg(
        lambda g: shapely.union_all(np.asarray(g.values, dtype=object))
    )
    first = ~licences["licence_id"].duplicated(keep="first")
    out = licences.loc[first].copy()
    geoms = out.geometry.values.copy()
    is_dup = out["licence_id"].isin(merged_geoms.index).to_numpy()
    geoms[is_dup] = merged_geoms.loc[out.loc[is_dup, "licence_id"]].to_numpy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=licences.crs))
    _warn(
        f"{where}: {len(ids)} licence id(s) appear on several features with the same holder "
        f"and status; merged each into one licence: {_id_list(pd.Series(ids))}."
    )
    return out.reset_index(drop=True), ids


def _as_text(values: pd.Series) -> pd.Series:
    """Attribute values as stripped text; whole numbers read as floats lose their ``.0``."""
    if pd.api.types.is_float_dtype(values):
        whole = values.dropna()
        if len(whole) and bool(((whole % 1 == 0) & (whole.abs() < 2**53)).all()):
            values = values.astype("Int64")
    elif values.dtype == object:
        values = values.map(
            lambda v: int(v) if isinstance(v, float) and v.is_integer() and abs(v) < 2**53 else v
        )
    return values.astype("string").str.strip()


def _id_list(ids: pd.Series, limit: int = 10) -> str:
    """Format ids for a one-line message: ``A, B, C`` or ``A, B, ... (and 40 more)``."""
    text = [str(v) for v in ids]
    more = f" (and {len(text) - limit} more)" if len(text) > limit else ""
    return ", ".join(text[:limit]) + more


def _warn(message: str) -> None:
    warnings.warn(message, GeoWarning, stacklevel=3)


#: Tried, in order, when a file's text is not valid in its declared encoding.
_FALLBACK_ENCODINGS = ("cp1252", "latin-1")


def _read_file(
    path: Path,
    layer: str | None,
    encoding: str | None,
    *,
    where: str,
    option: str | None,
    force_2d: bool = False,
) -> tuple[gpd.GeoDataFrame, str | None]:
    """Read one layer; retry text that is not valid in its declared encoding as cp1252.

    GDAL's own errors (``DataSourceError``...) propagate. Returns the layer and the encoding
    used (``None``: the file's own).

    Raises
    ------
    VectorError
        ``encoding`` is unknown, or the text is not valid in the ``encoding`` the user gave.
    """
    how = (
        f"set {option} in the pipeline file"
        if option
        else "re-save the file as UTF-8 (e.g. `ogr2ogr -lco ENCODING=UTF-8 out.shp in.shp`)"
    )

    def read(enc):
        return gpd.read_file(path, layer=layer, engine="pyogrio", encoding=enc, force_2d=force_2d)

    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise VectorError(
                f"{where}: {encoding!r} is not a text encoding Python knows; {how} to one such "
                "as utf-8, cp1252, latin-1 or cp1251."
            ) from None
    try:
        return read(encoding), encoding
    except UnicodeDecodeError as exc:
        if encoding is not None:
            raise VectorError(
                f"{where}: its text is not valid {encoding} ({_byte(exc)}); {how} to the "
                "encoding the file was written in (e.g. utf-8, cp1252, latin-1, cp1251)."
            ) from None
        error = exc
    for fallback in _FALLBACK_ENCODINGS:
        try:
            gdf = read(fallback)
        except UnicodeDecodeError:
            continue
        fix = (
            f"set {option} in the pipeline file to the right one (e.g. latin-1, cp1251)"
            if option
            else how
        )
        _warn(
            f"{where}: its text is not valid {error.encoding} as the file declares "
            f"({_byte(error)}); read it as {fallback}. If names look wrong, {fix}."
        )
        return gdf, fallback
    raise VectorError(  # latin-1 decodes any byte: reached only if GDAL itself re-encodes
        f"{where}: its text is not valid {error.encoding} ({_byte(error)}); {how} to the "
        "encoding the file was written in."
    )


def _byte(exc: UnicodeDecodeError) -> str:
    return f"byte 0x{exc.object[exc.start]:02x}"


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
        layer = layer or (names[0] if names else None)
        gdf, _ = _read_file(path, layer, None, where=str(path), option=None)
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
    encoding: str | None = None,
) -> tuple[gpd.GeoDataFrame, dict]:
    """Read an evidence or occurrence layer (any CRS) and reproject it to ``to_crs``.

    Features whose geometry is not of ``kinds`` (``points``, ``lines``, ``polygons``) and
    empty geometries are dropped and counted in the returned info. Text that is not valid
    in the file's declared encoding is read as Windows-1252, with a warning, unless
    ``encoding`` names the file's encoding.

    Raises
    ------
    InputNotFoundError
        Missing file or layer.
    VectorError
        No feature of the expected kind, a required column is missing, or the text is not
        valid in ``encoding``.
    CRSError
        The layer has no CRS (never guessed).
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: {what} not found.")
    try:
        gdf, _ = _read_file(path, layer, encoding, where=str(path), option=None)
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
    found = ", ".join(sorted(set(gdf.geom_type.dropna()))) or "nothing"
    gdf = gdf[keep]
    if gdf.empty:
        raise VectorError(f"{path}: the {what} holds no {' or '.join(kinds)} (found {found}).")
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
