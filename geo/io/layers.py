"""Single raster layers: from outside the scene (geophysics, a DEM), or written by a run."""

from __future__ import annotations

from typing import cast

import numpy as np
import xarray as xr

from geo.errors import BandError
from geo.io._raster import open_chunked, probe

__all__ = ["open_run_layer", "read_raster_layer", "run_layer_file"]

#: The layers :func:`open_run_layer` returned, by the name of their dask array: its file
#: and whether nodata became NaN. The name is a token of the file and the operations that
#: made the array, so a layer computed from one (``where``, ``astype``) is not found here.
#: rioxarray's token leaves ``masked`` out: a file opened both ways is ambiguous (None).
_FILES: dict[str, tuple[str, bool | None]] = {}
_MAX_FILES = 4096  # a long batch opens many layers: the oldest names are forgotten


def read_raster_layer(
    path, *, band: int = 1, label: str = "raster", chunk: int = 1024
) -> xr.DataArray:
    """Open one band of a raster lazily as float32 ``(y, x)``, its nodata turned into NaN.

    The CRS is required (never guessed); put the layer on the scene grid with
    :func:`geo.io.stack.reproject_to_grid`.

    Raises
    ------
    InputNotFoundError, CRSError
        Missing or unreadable file, or a file without CRS.
    BandError
        ``band`` is not in the file.
    """
    info = probe(str(path), label=label)
    if not isinstance(band, int) or not 1 <= band <= info.count:
        raise BandError(
            f"{path}: {label}: band {band!r} requested, the file has bands 1..{info.count}."
        )
    raw = open_chunked(str(path), info, chunk).sel(band=band, drop=True)
    out = raw.astype("float32")
    if info.nodata is not None:
        out = out.where(raw != info.nodata) if np.isfinite(info.nodata) else out
    out = out.rio.write_crs(raw.rio.crs).rio.write_transform(raw.rio.transform())
    return out.rio.write_nodata(np.nan, encoded=False).rename(label)


def open_run_layer(path, chunk: int, *, masked: bool = True, squeeze: bool = True) -> xr.DataArray:
    """Re-open a raster a run wrote, lazily, in chunks of ``chunk`` pixels.

    ``masked`` turns nodata into NaN; ``squeeze`` drops the band dimension of a single-band
    layer (a multi-band layer such as ``class_probability`` keeps it with ``squeeze=False``).
    """
    import rioxarray

    # one GeoTIFF: one DataArray (a list of Datasets is only for HDF subdatasets)
    da = cast(
        xr.DataArray,
        rioxarray.open_rasterio(
            path, chunks={"band": 1, "y": chunk, "x": chunk}, masked=masked, lock=False
        ),
    )
    out = da.squeeze("band", drop=True) if squeeze else da
    if out.ndim == 2 and isinstance(getattr(out.data, "name", None), str):
        if len(_FILES) >= _MAX_FILES:
            del _FILES[next(iter(_FILES))]
        known = _FILES.get(out.data.name)
        _FILES[out.data.name] = (
            str(path),
            masked if known in (None, (str(path), masked)) else None,
        )
    return out


def run_layer_file(layer) -> tuple[str, bool] | None:
    """Return ``(path, masked)`` of a layer exactly as :func:`open_run_layer` opened it.

    None for anything else (a layer in memory, or computed from a file's layer): a window
    of a layer found here may be read straight from its file (band 1), which for a few
    pixels is much cheaper than through dask, whose smallest read is a whole chunk.
    """
    name = getattr(getattr(layer, "data", None), "name", None)
    found = _FILES.get(name) if isinstance(name, str) else None
    if found is None or found[1] is None:
        return None
    return found[0], found[1]
