"""Field tables: GeoJSON, zipped Shapefiles and a CSV a field team opens anywhere.

Every coordinate comes from :func:`~geo.export._common.field_coordinates` (the target's
representative point ``easting``/``northing`` in the scene CRS), so the GeoJSON points,
the CSV and the GPS files agree to the centimetre. Every file is written to a temporary
sibling and moved into place only when complete.
"""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geo._text import csv_frame
from geo._vectorfile import DATE_COLUMNS, write_layer
from geo.errors import InvalidParameterError, VectorError
from geo.export._common import atomic_path, field_coordinates
from geo.targets.columns import FIELD_COLUMNS

__all__ = [
    "FIELD_CSV_COLUMNS",
    "shapefile_field_names",
    "write_field_csv",
    "write_geojson",
    "write_shapefile_zip",
]

#: Columns of the field CSV, in order (see :mod:`geo.targets.columns`).
FIELD_CSV_COLUMNS = FIELD_COLUMNS
_POINT_COLUMNS = ("easting", "northing", "epsg")
#: dBASE limits: field names of at most 10 characters, character fields of at most 254 bytes.
DBF_NAME_LENGTH = 10
DBF_STRING_BYTES = 254
_ELLIPSIS = "…"

#: Abbreviations tried first when a column name is longer than a DBF field name allows.
_ABBREVIATIONS = {
    "anomalous": "anom",
    "area": "ar",
    "boundary": "bnd",
    "coincidence": "coinc",
    "commodity": "comm",
    "contrib": "ctb",
    "count": "cnt",
    "description": "desc",
    "evidence": "evid",
    "expiry": "exp",
    "fraction": "frac",
    "holder": "hold",
    "hydroxyl": "oh",
    "imaged": "img",
    "intensity": "int",
    "intersections": "isect",
    "licence": "lic",
    "license": "lic",
    "masked": "mask",
    "maximum": "max",
    "method": "meth",
    "minimum": "min",
    "number": "no",
    "occurrence": "occ",
    "overlap": "ovl",
    "oxide": "ox",
    "pct": "pc",
    "percent": "pc",
    "prospective": "prosp",
    "prospectivity": "prosp",
    "score": "scr",
    "status": "stat",
    "straddles": "strad",
    "target": "tgt",
}
_VOWELS = re.compile(r"(?<=.)[aeiou]", re.IGNORECASE)


def _check_targets(targets: pd.DataFrame, path: Path, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in targets.columns]
    if missing:
        raise VectorError(
            f"{path}: the targets table lacks column(s) {', '.join(missing)} needed for the "
            f"field coordinates; found {', '.join(map(str, targets.columns))}. Give the "
            "targets layer of a run."
        )


# --------------------------------------------------------------------------- GeoJSON


def write_geojson(targets: gpd.GeoDataFrame, path: str | Path, *, points: bool = False) -> Path:
    """Write the targets as RFC 7946 GeoJSON (WGS 84 longitude/latitude); return ``path``.

    Parameters
    ----------
    targets
        The ``targets`` layer of a run (any CRS; it needs ``easting``, ``northing``,
        ``epsg``, the representative point of each target in its scene CRS).
    path
        The ``.geojson`` file to write (replaced atomically).
    points
        Write each target's representative point (the coordinates of the field CSV)
        instead of its polygon.

    The properties are the target columns plus the field coordinates (``lon``/``lat`` to
    8 decimals, DMS, standard UTM zone/easting/northing); coordinates are written with 8
    decimals (~1 mm) by GDAL's GeoJSON driver with ``RFC7946=YES`` (right-hand winding,
    ``bbox`` members).
    """
    path = Path(path)
    _check_targets(targets, path, _POINT_COLUMNS)
    coords = field_coordinates(targets)
    attributes = pd.concat(
        [targets.drop(columns=[*coords.columns, targets.geometry.name], errors="ignore"), coords],
        axis=1,
    )
    if points:
        geometry = gpd.points_from_xy(coords["lon"], coords["lat"], crs="EPSG:4326")
    else:
        if targets.crs is None and len(targets):
            raise VectorError(f"{path}: the targets have no CRS; cannot write WGS 84 GeoJSON.")
        geometry = targets.geometry.to_crs("EPSG:4326").values if len(targets) else None
    frame = gpd.GeoDataFrame(
        _plain(attributes), geometry=geometry if geometry is not None else [], crs="EPSG:4326"
    )
    with atomic_path(path) as tmp:
        pyogrio.write_dataframe(
            frame,
            tmp,
            driver="GeoJSON",
            layer=path.stem,
            geometry_type="Point" if points else "MultiPolygon" if frame.empty else None,
            layer_options={"RFC7946": "YES", "COORDINATE_PRECISION": "8"},
        )
    return path


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns GDAL writes everywhere: datetimes as ISO text, lists and objects as text."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            out[column] = series.dt.strftime("%Y-%m-%dT%H:%M:%S").where(series.notna(), None)
        elif series.dtype == object:
            out[column] = [
                v if v is None or isinstance(v, str | bool | int | float) else str(v)
                for v in series
            ]
    return out


# --------------------------------------------------------------------------- Shapefile


def _abbreviate(name: str) -> str:
    clean = re.sub(r"[^0-9A-Za-z_]", "_", name).strip("_") or "field"
    if len(clean) <= DBF_NAME_LENGTH:
        return clean
    tokens = [_ABBREVIATIONS.get(t.lower(), t) for t in clean.split("_") if t]
    while len("_".join(tokens)) > DBF_NAME_LENGTH:
        longest = max(range(len(tokens)), key=lambda i: (len(tokens[i]), i))
        token = tokens[longest]
        if len(token) <= 1:
            break
        shorter = _VOWELS.sub("", token)
        tokens[longest] = shorter if len(shorter) >= 2 and shorter != token else token[:-1]
    short = "_".join(tokens)
    if len(short) > DBF_NAME_LENGTH:
        short = "".join(tokens)[:DBF_NAME_LENGTH]
    return short


def shapefile_field_names(columns: Sequence[str]) -> dict[str, str]:
    """Map column names to unique, readable dBASE field names of at most 10 characters.

    Names that fit are kept. Longer names are split on ``_``, common words abbreviated
    (licence → lic, overlap → ovl, pct → pc, …), then the longest word loses its vowels or
    its last letter until the name fits. Names equal ignoring case (dBASE does not tell
    them apart) get numbered suffixes ``_2``, ``_3``… in column order. Deterministic.

    Examples
    --------
    >>> names = shapefile_field_names(
    ...     ["target_id", "licence_overlap_pct", "straddles_boundary", "mean_intersections"]
    ... )
    >>> list(names.values())
    ['target_id', 'lic_ovl_pc', 'strad_bnd', 'mean_isect']
    >>> shapefile_field_names(["contribution_a", "contribution_b", "CONTRIBUTION_A"])
    {'contribution_a': 'cntrbtn_a', 'contribution_b': 'cntrbtn_b', 'CONTRIBUTION_A': 'CNTRBTN_2'}
    """
    names: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        if column in names:
            continue
        base = _abbreviate(str(column))
        candidate, k = base, 1
        while candidate.lower() in used:
            k += 1
            suffix = f"_{k}"
            candidate = base[: DBF_NAME_LENGTH - len(suffix)].rstrip("_") + suffix
        used.add(candidate.lower())
        names[column] = candidate
    return names


def _truncate(value: object) -> object:
    """Cut text longer than a DBF character field (254 bytes in UTF-8), ending with '…'."""
    if not isinstance(value, str) or len(value.encode("utf-8")) <= DBF_STRING_BYTES:
        return value
    room = DBF_STRING_BYTES - len(_ELLIPSIS.encode("utf-8"))
    head = value.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return head + _ELLIPSIS


def _truncate_column(series: pd.Series) -> pd.Series:
    """:func:`_truncate` the cells that may be too long (a UTF-8 character is <= 4 bytes).

    Only cells of more than 63 characters can exceed 254 bytes: one cheap length pass
    finds them, and only they are encoded and cut (a layer of tens of thousands of short
    licence ids costs milliseconds).
    """
    values = series.astype(object)
    lengths = np.fromiter(
        (len(v) if isinstance(v, str) else 0 for v in values), dtype=np.int64, count=len(values)
    )
    long = lengths > DBF_STRING_BYTES // 4
    if long.any():
        values = values.copy()
        values[long] = [_truncate(v) for v in values[long]]
    return values


def _shapefile_frame(layer: gpd.GeoDataFrame, names: Mapping[str, str]) -> gpd.GeoDataFrame:
    geometry = layer.geometry.name
    attributes = _plain(layer.drop(columns=geometry))
    for column in attributes.columns:
        series = attributes[column]
        if pd.api.types.is_bool_dtype(series):
            attributes[column] = series.astype("int32")  # DBF logicals are poorly supported
        elif series.dtype == object or pd.api.types.is_string_dtype(series):
            attributes[column] = _truncate_column(series)
    attributes = attributes.rename(columns=dict(names))
    return gpd.GeoDataFrame(attributes, geometry=layer.geometry.values, crs=layer.crs)


def _geometry_type(name: str, layer: gpd.GeoDataFrame) -> str | None:
    """Geometry type of an empty layer (GDAL cannot guess it): points if the name says so."""
    if not layer.empty:
        return None
    return "Point" if "point" in name.lower() else "Polygon"


def write_shapefile_zip(layers: Mapping[str, gpd.GeoDataFrame], path: str | Path) -> Path:
    """Write one Shapefile per layer into a zip archive; return ``path``.

    Each layer ``name`` becomes ``name.shp/.shx/.dbf/.prj/.cpg`` at the root of the zip,
    **in the layer's own CRS** (the scene CRS for a run's layers: UTM metres, so areas
    and distances measured in the field GIS are right; the ``.prj`` tells any GIS how to
    show it on WGS 84 maps). Attribute text is UTF-8 (declared in the ``.cpg``). dBASE
    limits are respected without failing: field names are shortened by
    :func:`shapefile_field_names` (the full names are listed in ``fields.csv`` inside the
    zip: ``layer, shapefile_field, full_name``; a full name a spreadsheet would run as a
    formula gets a leading ``'``, see :func:`geo._text.csv_cell`), text longer than 254
    bytes is cut and ends with an ellipsis, booleans become 0/1 integers and dates ISO
    text.

    Raises
    ------
    InvalidParameterError
        No layers, or a layer name that is not a plain file name.
    """
    path = Path(path)
    if not layers:
        raise InvalidParameterError(f"{path}: write_shapefile_zip needs at least one layer.")
    bad = [n for n in layers if not re.fullmatch(r"[A-Za-z0-9_\-]+", str(n))]
    if bad:
        raise InvalidParameterError(
            f"{path}: layer names become file names and must use letters, digits, '_' or '-'. "
            f"Got {', '.join(map(repr, bad))} instead."
        )
    catalogue = io.StringIO()
    rows = []
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as work:
        folder = Path(work)
        for name, layer in layers.items():
            columns = [c for c in layer.columns if c != layer.geometry.name]
            names = shapefile_field_names(columns)
            rows += [(name, names[c], c) for c in columns]
            write_layer(
                _shapefile_frame(layer, names),
                folder / f"{name}.shp",
                date_columns={names[c] for c in columns if c in DATE_COLUMNS},  # Date fields
                driver="ESRI Shapefile",
                encoding="UTF-8",
                geometry_type=_geometry_type(name, layer),
            )
        # full names are column names of user files (a licence layer's own columns)
        catalogue_rows = pd.DataFrame(rows, columns=["layer", "shapefile_field", "full_name"])
        csv_frame(catalogue_rows).to_csv(catalogue, index=False, lineterminator="\n")
        with atomic_path(path) as tmp:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                for name in layers:
                    for part in sorted(folder.glob(f"{name}.*")):
                        archive.write(part, arcname=part.name)
                archive.writestr("fields.csv", catalogue.getvalue().encode("utf-8"))
    return path


# --------------------------------------------------------------------------- field CSV


def write_field_csv(targets: pd.DataFrame, path: str | Path) -> Path:
    """Write the field table: one row per target with every coordinate a team needs.

    Columns: ``target_id, rank, score, licence_id, holder, licence_status, licence_flag,
    area_ha``; the scene CRS ``easting, northing, epsg``; the standard UTM ``utm_zone``
    (e.g. ``35S``), ``utm_easting``, ``utm_northing`` a handheld GPS shows (southern
    points with the 10 000 km false northing); ``lat, lon`` (WGS 84, 8 decimals, ~1 mm)
    and ``lat_dms, lon_dms``; ``datum`` ("WGS 84"); ``flags``; and ``evidence`` when the
    targets have it. Columns the targets lack are left empty.

    The file is UTF-8 **with a byte-order mark** (``utf-8-sig``): Excel on Windows opens
    a CSV without BOM in the local ANSI code page, which garbles the ° and ″ of the DMS
    columns and accented holder names; with the BOM it reads UTF-8, and LibreOffice,
    QGIS and pandas (``encoding="utf-8-sig"``) read it as well.

    Text cells a spreadsheet would run as a formula (a holder ``=HYPERLINK(...)``, a
    status ``@SUM(1)``: text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
    return) get a leading ``'`` (:func:`geo._text.csv_cell`); numeric columns stay numbers.
    """
    path = Path(path)
    _check_targets(targets, path, _POINT_COLUMNS)
    coords = field_coordinates(targets)
    table = pd.DataFrame(index=targets.index)
    for column in FIELD_CSV_COLUMNS:
        if column in coords.columns:
            table[column] = coords[column]
        elif column == "datum":
            table[column] = "WGS 84"
        elif column in targets.columns:
            table[column] = targets[column]
        else:
            table[column] = pd.Series(None, index=targets.index, dtype=object)
    if "evidence" in targets.columns:
        table["evidence"] = targets["evidence"]
    for column, decimals in (("score", 4), ("area_ha", 2), ("easting", 2), ("northing", 2)):
        if pd.api.types.is_numeric_dtype(table[column]):
            table[column] = table[column].round(decimals)
    table["epsg"] = pd.to_numeric(table["epsg"], errors="coerce").astype("Int64")
    table["rank"] = pd.to_numeric(table["rank"], errors="coerce").round().astype("Int64")
    table = csv_frame(table)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, encoding="utf-8-sig", lineterminator="\n")
    return path
