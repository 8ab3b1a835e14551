"""The standard UTM zone of a point: one rule for the readers and the field exports."""

from __future__ import annotations

import math

from geo.errors import InvalidParameterError

__all__ = ["utm_epsg"]


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the standard UTM zone holding ``(lon, lat)`` (degrees, WGS 84).

    Zone ``floor((lon + 180) / 6) + 1`` (1..60; the Norway and Svalbard exceptions are not
    applied: the grid only has to be metric and conformal), north (326zz) for ``lat >= 0``,
    south (327zz) otherwise.

    Examples
    --------
    >>> utm_epsg(27.02, 0.03), utm_epsg(-70.4, -24.1), utm_epsg(180.0, 10.0)
    (32635, 32719, 32660)
    """
    if not (math.isfinite(lon) and math.isfinite(lat)) or abs(lat) > 90:
        raise InvalidParameterError(f"scene centre ({lon}, {lat}) is not a longitude/latitude.")
    lon = ((lon + 180.0) % 360.0) - 180.0 if not -180.0 <= lon <= 180.0 else lon
    zone = min(math.floor((lon + 180.0) / 6.0) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone
