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
    "DiskFullError",
    "GeoError",
    "GeoWarning",
    "GridMismatchError",
    "InputNotFoundError",
    "InvalidParameterError",
    "MetadataError",
    "ModelFileError",
    "OutputBusyError",
    "OutputExistsError",
    "PipelineSpecError",
    "ProductError",
    "RunCancelled",
    "TooFewPixelsError",
    "UnsafePathError",
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


class TooFewPixelsError(InvalidParameterError):
    """Too few valid pixels for a statistic (a threshold, a PCA); a run treats it as a result."""


class PipelineSpecError(GeoError, ValueError):
    """A pipeline file is malformed; the message names the file and the key."""


class ModelFileError(GeoError, ValueError):
    """A saved model file is corrupt, of an unsafe format, or holds types geo does not load."""


class OutputExistsError(GeoError, FileExistsError):
    """The output folder already holds a run and ``overwrite`` was not given."""


class OutputBusyError(GeoError, RuntimeError):
    """Another geo process holds the lock of the output folder."""


class DiskFullError(GeoError, OSError):
    """The disk filled up while a run was writing; the partial output was removed."""


class UnsafePathError(GeoError, ValueError):
    """A name or path would place a file outside the run's output folder."""


class RunCancelled(GeoError, RuntimeError):
    """The user cancelled the work (a tool driving geo asked it to stop; see geo.progress).

    Raised at the next progress point; the run's staging folder is removed, so nothing
    half-written is left. The command line exits with code 130.
    """


class GeoWarning(UserWarning):
    """A condition the user should know about that does not stop the run."""
