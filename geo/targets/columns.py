"""The output contract of the targets table, in one place.

``targets.gpkg`` (layer ``targets``), ``targets.csv``, a batch's merged targets and the
field formats all take their columns from here. Later versions only add columns; they never
remove or rename these.
"""

from __future__ import annotations

from geo.targets.rank import COMPONENTS

__all__ = ["FIELD_COLUMNS", "GPS_COLUMNS", "PROSPECT_COLUMNS", "TARGET_COLUMNS"]

#: Columns of the ``targets`` layer and ``targets.csv``, in order.
TARGET_COLUMNS = [
    "target_id",
    "rank",
    "score",
    "licence_id",
    "holder",
    "licence_status",
    "area_ha",
    "easting",
    "northing",
    "epsg",
    "lon",
    "lat",
    *COMPONENTS,
    "licence_overlap_pct",
    "straddles_boundary",
    "iron_area_ha",
    "clay_area_ha",
    "iron_z",
    "clay_z",
    "n_zones",
    "zone_ids",
    "kinds",
    "scene_id",
    "date",
    "rank_in_licence",
    "licence_expiry",
    "licence_flag",
    "masked_fraction",
    "flags",
    "split_with",
]
#: Added when targets come from the prospectivity score (plus ``mean_<evidence>`` and
#: ``contrib_<evidence>`` for each evidence layer).
PROSPECT_COLUMNS = [
    "score_method",
    "score_mean",
    "score_max",
    "score_std",
    "n_evidence",
    "evidence",
]
#: Coordinates a handheld GPS shows, computed from ``easting``/``northing``/``epsg``
#: (:func:`geo.export._common.field_coordinates`).
GPS_COLUMNS = ("utm_zone", "utm_easting", "utm_northing", "lat_dms", "lon_dms", "datum")
#: Columns of the field CSV (``exports/targets_field.csv``), in order: target columns
#: and GPS coordinates (``evidence`` is appended when the targets have it).
FIELD_COLUMNS = (
    "target_id",
    "rank",
    "score",
    "licence_id",
    "holder",
    "licence_status",
    "licence_flag",
    "area_ha",
    "easting",
    "northing",
    "epsg",
    "utm_zone",
    "utm_easting",
    "utm_northing",
    "lat",
    "lon",
    "lat_dms",
    "lon_dms",
    "datum",
    "flags",
)
