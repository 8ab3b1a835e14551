"""Vector layers written with their dates typed as dates (GeoPackage, Shapefile).

pyogrio writes a column of ``datetime.date`` objects as text and a pandas date-time column
as DateTime; a field GIS should see an expiry date as a DATE, to sort and filter it.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, cast

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pandas.core.arrays.masked import BaseMaskedArray
from pyogrio.raw import write

__all__ = ["DATE_COLUMNS", "date_fields", "dates_as_text", "write_layer"]

#: Columns holding calendar dates (``YYYY-MM-DD`` text in the frames): written as DATE
#: fields, so QGIS, ArcGIS and a spreadsheet sort and filter them as dates.
DATE_COLUMNS = frozenset({"date", "licence_expiry", "expiry", "date_acquired"})


def date_fields(
    frame: pd.DataFrame, columns: Collection[str] = DATE_COLUMNS
) -> dict[str, np.ndarray]:
    """Return the :data:`DATE_COLUMNS` of ``frame`` that hold only dates, as ``datetime64[D]``.

    A column is typed only when every non-empty cell is a calendar date (``2031-12-31``,
    or a date-time at midnight); one cell that is not (``perpetual``, ``31/12/2031``) keeps
    the whole column as text, so nothing a licence file says is lost.

    >>> t = pd.DataFrame({"date": ["2023-06-01", None], "expiry": ["2031-12-31", "perpetual"]})
    >>> {k: v.tolist() for k, v in date_fields(t).items()}
    {'date': [datetime.date(2023, 6, 1), None]}
    """
    typed = {}
    for name in [c for c in frame.columns if c in columns]:
        col = frame[name]
        if col.dtype.kind == "M":
            stamps = col.to_numpy()
            days = stamps.astype("datetime64[D]")
            known = ~np.isnat(stamps)
            if (days[known] == stamps[known]).all():  # midnights only: dates
                typed[name] = days
            continue
        if not (col.dtype == object or pd.api.types.is_string_dtype(col)):
            continue
        text = col.map(lambda v: v.strip() if isinstance(v, str) else v)
        blank = text.isna() | (text == "")
        if blank.all() or not text[~blank].map(lambda v: isinstance(v, str)).all():
            continue
        parsed = pd.to_datetime(text.where(~blank), format="%Y-%m-%d", errors="coerce")
        if parsed[~blank].isna().any():  # one cell is not a date: the column stays text
            continue
        typed[name] = parsed.to_numpy().astype("datetime64[D]")
    return typed


def write_layer(
    frame: gpd.GeoDataFrame,
    path: Path,
    *,
    layer: str | None = None,
    date_columns: Collection[str] = DATE_COLUMNS,
    **options,
) -> None:
    """Write one layer with pyogrio, its :func:`date_fields` as DATE fields.

    pyogrio types a pandas date-time column as DateTime (pandas holds no plain dates), so
    the frame is handed over as arrays, the date columns as ``datetime64[D]`` (GDAL's
    Date). ``options`` go to :func:`pyogrio.write_dataframe` / :func:`pyogrio.raw.write`
    (``driver``, ``encoding``, ``geometry_type``, creation options).
    """
    dates = date_fields(frame, date_columns)
    if not dates:
        pyogrio.write_dataframe(frame, path, layer=layer, **options)
        return
    geometry = frame.geometry
    fields = [c for c in frame.columns if c != geometry.name]
    data: list[np.ndarray] = []
    masks: list[np.ndarray | None] = []
    for name in fields:
        if name in dates:
            data.append(dates[name])
            masks.append(None)
            continue
        values = frame[name].array
        if isinstance(values, pd.api.extensions.ExtensionArray):
            if isinstance(values, BaseMaskedArray):  # nullable integers, floats, booleans
                masked = cast(Any, values.dtype)  # a pandas BaseMaskedDtype
                base = np.dtype(masked.numpy_dtype)  # int64, float64, bool
                data.append(values.to_numpy(dtype=base, na_value=base.type(0)))
                masks.append(np.asarray(values.isna()))
            else:  # strings and the like, as pyogrio.write_dataframe hands them over
                data.append(np.asarray(values))
                masks.append(np.asarray(values.isna()))
        else:
            data.append(np.asarray(values))
            masks.append(None)
    # the layer's type as pyogrio infers it: one type, or singles promoted to their multi
    types = sorted(set(geometry.geom_type.dropna()), key=len)  # a single type first
    promote = len(types) == 2 and types[1] == f"Multi{types[0]}"
    inferred = types[-1] if len(types) == 1 or promote else "Unknown"
    epsg = geometry.crs.to_epsg() if geometry.crs is not None else None
    write(
        path,
        layer=layer,
        geometry=shapely.to_wkb(geometry.values),
        field_data=data,
        field_mask=masks,
        fields=fields,
        crs=(f"EPSG:{epsg}" if epsg else geometry.crs.to_wkt("WKT1_GDAL"))
        if geometry.crs is not None
        else None,
        geometry_type=options.pop("geometry_type", None) or inferred,
        promote_to_multi=promote,
        **options,
    )


def dates_as_text(frame: pd.DataFrame, columns: Collection[str] = DATE_COLUMNS) -> pd.DataFrame:
    """Turn the date columns read from a file back into ``YYYY-MM-DD`` text (None if empty).

    The field formats (GPX, KML, report, CSV) print dates as the run wrote them.

    >>> t = pd.DataFrame({"date": pd.to_datetime(["2023-06-01", None])})
    >>> dates_as_text(t)["date"].tolist()
    ['2023-06-01', None]
    """
    for name in [c for c in frame.columns if c in columns]:
        col = frame[name]
        if col.dtype.kind == "M":
            text = col.dt.strftime("%Y-%m-%d").astype(object)
            frame[name] = text.where(col.notna(), None)
    return frame
