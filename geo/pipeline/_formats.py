"""Names and defaults the pipeline file and the field exports share, without their imports.

(:mod:`geo.pipeline.spec` validates pipeline files with the catalogues of every stage and
imports them; the field exports, which may run in a process of their own, need only these.)
"""

from __future__ import annotations

__all__ = ["DEFAULT_GDAL_CACHE_MB", "EXPORT_FORMATS"]

#: Field formats a run can write (``export.formats``; written by geo.pipeline.export).
EXPORT_FORMATS = (
    "qgis",
    "kml",
    "kmz",
    "gpx",
    "geojson",
    "shp",
    "csv",
    "html",
    "pdf",
    "qfield",
    "geopdf",
)

#: GDAL's block cache in MB (``processing.gdal_cache_mb``). 32 MB: decimated and unaligned
#: reads stay fast (a tile row of several bands); a bigger cache mostly holds written
#: blocks (128 MB: +0.3 GB peak on a Landsat scene, no faster).
DEFAULT_GDAL_CACHE_MB = 32
