"""One exception tree for the whole package.

Every error a user can cause is a :class:`GeoError`. Each class also derives from
the builtin that fits (``ValueError``, ``FileNotFoundError``...), so callers that
already catch builtins keep working. Messages name the file, field or band, what
was expected, what was found, and how to fix it.

The CLI turns any :class:`GeoError` into a one-line message and exit code 2.
"""

from __future__ import annotations

__all__ = [
    "BandError",
    "CRSError",
    "GeoError",
    "GeoWarning",
    "GridMismatchError",
    "InputNotFoundError",
    "InvalidParameterError",
    "MetadataError",
    "OutputExistsError",
    "PipelineSpecError",
    "ProductError",
    "VectorError",
]


class GeoError(Exception):
    """Root of every error raised by geo for bad input or bad configuration."""


class InputNotFoundError(GeoError, FileNotFoundError):
    """A file or folder named by the user does not exist or cannot be read."""


class ProductError(GeoError, ValueError):
    """A scene product is incomplete or not of a recognised kind."""


class MetadataError(ProductError):
    """Product metadata (MTL, band descriptions) is missing a required group or key."""


class BandError(GeoError, ValueError):
    """A band role is missing, duplicated or unknown."""


class CRSError(GeoError, ValueError):
    """A dataset has no CRS, or two datasets disagree on it."""


class GridMismatchError(GeoError, ValueError):
    """Two rasters that must share a pixel grid do not."""


class VectorError(GeoError, ValueError):
    """A vector layer (licences, polygons) is missing, empty or lacks required fields."""


class InvalidParameterError(GeoError, ValueError):
    """A parameter is outside its allowed values."""


class PipelineSpecError(GeoError, ValueError):
    """A pipeline file is malformed; the message names the file and the key."""


class OutputExistsError(GeoError, FileExistsError):
    """The output folder already holds a run and ``overwrite`` was not given."""


class GeoWarning(UserWarning):
    """A condition the user should know about that does not stop the run."""
