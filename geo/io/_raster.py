"""Low-level raster reading shared by the product readers: open, check, chunk."""

from __future__ import annotations

import logging
import math
import os
import re
import tarfile
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

import dask.array as dsa
import numpy as np
import rasterio
import rioxarray
import xarray as xr
from dask.base import tokenize
from rasterio.enums import Resampling
from rasterio.errors import RasterioError, RasterioIOError
from rasterio.windows import Window

from geo.errors import (
    CRSError,
    GeoError,
    GridMismatchError,
    InputNotFoundError,
    InvalidParameterError,
    ProductError,
)

try:  # GDAL errors rasterio did not wrap (rare; private module, so guarded)
    from rasterio._err import CPLE_BaseError
except ImportError:  # pragma: no cover
    CPLE_BaseError = RasterioError

logger = logging.getLogger(__name__)

#: What a failed pixel read can raise from rasterio/GDAL.
READ_ERRORS: tuple[type[BaseException], ...] = (RasterioError, CPLE_BaseError, OSError)


class RasterReadError(ProductError):
    """The pixels of a raster file could not be read: the file is damaged or truncated.

    Raised from inside dask tasks (the read of one chunk), so the message names the file and
    the window. The exception pickles with its message and attributes, so it crosses from
    dask distributed workers to the client intact.

    Attributes
    ----------
    path : str or None
        The file (GDAL path) that failed.
    window : tuple or None
        ``((first row, last row), (first col, last col))``, inclusive, of the failed read.
    """

    def __init__(
        self, message: str, *, path: str | None = None, window: tuple | None = None
    ) -> None:
        super().__init__(message)
        self.path = path
        self.window = window


def _gdal_detail(exc: BaseException) -> str:
    """Return the most specific GDAL message of a read error, on one line, shortened."""
    causes = [exc.__cause__, exc.__context__, exc]
    text = next((str(c) for c in causes if c is not None and str(c).strip()), type(exc).__name__)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


def read_error(
    path: str,
    exc: BaseException,
    *,
    rows: tuple[int, int] | None = None,
    cols: tuple[int, int] | None = None,
    label: str | None = None,
    bands: tuple[int, int] | None = None,
    what: str | None = None,
) -> RasterReadError:
    """Build the :class:`RasterReadError` for a failed read of ``rows`` x ``cols`` (inclusive).

    ``what`` replaces the window in the message (``"band 2 for a decimated preview"``).

    Examples
    --------
    >>> err = read_error("/d/B4.TIF", OSError("TIFFReadEncodedTile() failed."), rows=(0, 255),
    ...                  cols=(256, 511), label="band 4 (red)")
    >>> print(err)  # /d/B4.TIF does not exist: it was moved (if it did: "damaged or truncated")
    /d/B4.TIF: cannot read rows 0-255, cols 256-511 of band 4 (red) (TIFFReadEncodedTile() failed.): the file was moved or deleted after the scene was opened; put it back.
    """
    window = None
    if what is None:
        what = f"rows {rows[0]}-{rows[1]}, cols {cols[0]}-{cols[1]}" if rows and cols else "pixels"
        window = (rows, cols) if rows and cols else None
        if bands is not None and bands[0] == bands[1]:
            what = f"band {bands[0]}, {what}"
        elif bands is not None:
            what = f"bands {bands[0]}-{bands[1]}, {what}"
    name = PurePosixPath(path).name
    label = " ".join((label or "").replace(name, "").split())
    of = f" of {label}" if label else ""
    detail = _gdal_detail(exc)
    for prefix in (f"{path}, ", f"{path}: ", f"{name}, ", f"{name}: "):
        detail = detail.removeprefix(prefix)
    if _exists(path):
        fix = "the file is damaged or truncated; download it again"
    else:
        fix = "the file was moved or deleted after the scene was opened; put it back"
    return RasterReadError(
        f"{path}: cannot read {what}{of} ({detail}): {fix}.", path=path, window=window
    )


_BLOCK = re.compile(r"IReadBlock failed at X offset (\d+), Y offset (\d+)")


def _failed_block(
    detail: str, block: tuple[int, int], size: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Rows and columns (inclusive) of the tile GDAL's message names, or None.

    Examples
    --------
    >>> _failed_block("b, band 1: IReadBlock failed at X offset 1, Y offset 2: x", (256, 256),
    ...               (600, 600))
    ((512, 599), (256, 511))
    """
    match = _BLOCK.search(detail)
    if match is None:
        return None
    col, row = int(match.group(1)), int(match.group(2))
    (height, width), (rows, cols) = block, size
    return (
        (row * height, min((row + 1) * height, rows) - 1),
        (col * width, min((col + 1) * width, cols) - 1),
    )


_VSI_PREFIX = re.compile(r"^/vsi[a-z0-9_]+/")


def _on_disk(path: str) -> str | None:
    """Return the file a GDAL path reads: itself, or the archive behind ``/vsitar/`` etc."""
    match = _VSI_PREFIX.match(path)
    if match is None:
        return path
    inner = PurePosixPath(path[match.end() - 1 :])
    return next((str(p) for p in (inner, *inner.parents) if os.path.isfile(p)), None)


def _exists(path: str) -> bool:
    found = _on_disk(path)
    return found is not None and os.path.exists(found)


def _stamp(path: str) -> int | None:
    found = _on_disk(path)
    try:
        return os.stat(found).st_mtime_ns if found else None
    except OSError:
        return None


def _span(key: Any, size: int) -> tuple[int, int, Any]:
    """``(start, stop, relative key)``: the range one axis of ``key`` reads, and the key within it."""
    if isinstance(key, slice):
        start, stop, step = key.indices(size)
        if step > 0:
            if stop <= start:
                return start, start, slice(0, 0)
            return start, stop, slice(0, stop - start, step)
        key = np.arange(start, stop, step)
    if isinstance(key, (int, np.integer)):
        position = int(key) + size if key < 0 else int(key)
        return position, position + 1, 0
    index = np.asarray(key)
    if index.dtype == bool:
        index = np.flatnonzero(index)
    index = np.where(index < 0, index + size, index).astype(np.intp)
    if index.size == 0:
        return 0, 0, index
    low = int(index.min())
    return low, int(index.max()) + 1, index - low


#: Check the DEFLATE checksum of every GeoTIFF tile :class:`WindowReader` reads (once per
#: tile). libtiff stops inflating a tile when its pixels are complete, before the stream's
#: Adler-32 trailer, so garbled compressed bytes that still inflate give wrong pixels with
#: no error at all. The check computes the Adler-32 of the tile's bytes as stored (the
#: pixels GDAL returned, horizontal predictor re-applied) and compares it with the trailer;
#: where that cannot be done (edge tiles, pixel interleave, floating-point predictor), or
#: does not match, it inflates the stored bytes again with :mod:`zlib`, which verifies the
#: checksum. Cost: a few percent of the decoding (the inflate fallback alone costs about
#: as much as GDAL's decoding).
VERIFY_DEFLATE = True


@dataclass(frozen=True)
class _DeflateLayout:
    """What the checksum check needs to know about a DEFLATE GeoTIFF."""

    file: str  # the file holding the bytes (the tar for a /vsitar/ member)
    base: int  # offset of the GeoTIFF's first byte in ``file``
    predictor: int  # TIFF Predictor: 1 none, 2 horizontal, 3 floating point
    big_endian: bool
    separate: bool  # one tile per band (PlanarConfiguration 2, or a single band)


def _bytes_source(path: str) -> tuple[str, int] | None:
    """Where the bytes of ``path`` are: ``(file, offset of the file's first byte)``, or None.

    A plain file is itself; a ``/vsitar/`` member is a stretch of its (uncompressed) tar.
    Other GDAL virtual paths (``/vsizip/``: compressed members) are not checked.
    """
    match = _VSI_PREFIX.match(path)
    if match is None:
        return (path, 0) if os.path.isfile(path) else None
    if not path.startswith("/vsitar/"):
        return None
    archive = _on_disk(path)
    if archive is None:
        return None
    # path is "/vsitar/" + archive + "/" + member
    member = path[match.end() - 1 :][len(archive) :].lstrip("/")
    try:
        with tarfile.open(archive) as tar:
            info = tar.getmember(member)
    except (tarfile.TarError, KeyError, OSError):
        return None
    return archive, info.offset_data


def _deflate_layout(dataset: Any, path: str) -> _DeflateLayout | None:
    """Return what to check when ``dataset`` is a DEFLATE GeoTIFF with reachable bytes."""
    structure = {k.upper(): str(v).upper() for k, v in dataset.tags(ns="IMAGE_STRUCTURE").items()}
    if dataset.driver != "GTiff" or structure.get("COMPRESSION") not in ("DEFLATE", "ZIP"):
        return None
    source = _bytes_source(path)
    if source is None:
        return None
    try:
        with open(source[0], "rb") as raw:
            raw.seek(source[1])
            order = raw.read(2)
    except OSError:
        return None
    try:
        predictor = int(structure.get("PREDICTOR", "1"))
    except ValueError:
        predictor = 0  # unknown: always inflate
    separate = dataset.count == 1 or structure.get("INTERLEAVE") == "BAND"
    return _DeflateLayout(source[0], source[1], predictor, order == b"MM", separate)


def _stored_adler32(pixels: np.ndarray, layout: _DeflateLayout) -> int | None:
    """Adler-32 of a whole tile's bytes as stored, from its pixels; None if not derivable."""
    dtype = pixels.dtype
    if layout.predictor == 2:
        if dtype.kind not in "iu":
            return None
        encoded = np.empty_like(pixels)
        encoded[:, 0] = pixels[:, 0]
        np.subtract(pixels[:, 1:], pixels[:, :-1], out=encoded[:, 1:])  # libtiff's, modular
    elif layout.predictor == 1:
        encoded = pixels
    else:
        return None
    stored = dtype.newbyteorder(">" if layout.big_endian else "<")
    return zlib.adler32(np.ascontiguousarray(encoded, dtype=stored).data)


def _deflate_damage(
    dataset: Any,
    layout: _DeflateLayout,
    block: np.ndarray,
    bands: range,
    rows: tuple[int, int],
    cols: tuple[int, int],
    checked: set[int],
) -> tuple[int, tuple[int, int], tuple[int, int], str] | None:
    """Check the DEFLATE tiles under ``rows`` x ``cols`` (half-open) that ``block`` holds.

    Returns ``(band, tile rows, tile cols, reason)`` of the first damaged tile, or None.
    ``checked`` holds the file offsets of tiles already found sound (shared across calls).
    """
    height, width = dataset.shape
    with open(layout.file, "rb") as raw:
        for k, band in enumerate(bands):
            block_rows, block_cols = dataset.block_shapes[band]
            for i in range(rows[0] // block_rows, (rows[1] - 1) // block_rows + 1):
                for j in range(cols[0] // block_cols, (cols[1] - 1) // block_cols + 1):
                    offset = dataset.get_tag_item(f"BLOCK_OFFSET_{j}_{i}", "TIFF", bidx=band + 1)
                    size = dataset.get_tag_item(f"BLOCK_SIZE_{j}_{i}", "TIFF", bidx=band + 1)
                    if not offset or not size or int(offset) in checked:
                        continue  # sparse (never written) or already checked
                    offset, size = int(offset), int(size)
                    top, left = i * block_rows, j * block_cols
                    bottom, right = top + block_rows, left + block_cols
                    expected = None
                    whole = (
                        layout.separate
                        and bottom <= height
                        and right <= width
                        and rows[0] <= top
                        and bottom <= rows[1]
                        and cols[0] <= left
                        and right <= cols[1]
                    )
                    if whole and size > 6:
                        pixels = block[
                            k, top - rows[0] : bottom - rows[0], left - cols[0] : right - cols[0]
                        ]
                        expected = _stored_adler32(pixels, layout)
                    if expected is not None:
                        raw.seek(layout.base + offset + size - 4)
                        if int.from_bytes(raw.read(4), "big") == expected:
                            checked.add(offset)
                            continue
                    raw.seek(layout.base + offset)  # no shortcut, or a mismatch: inflate
                    data = raw.read(size)
                    reason = None
                    if len(data) < size:
                        reason = f"the tile's data end {size - len(data)} bytes early"
                    else:
                        try:
                            zlib.decompress(data)
                        except zlib.error as exc:
                            reason = f"the tile's DEFLATE data fail their check: {exc}"
                    if reason is not None:
                        tile_rows = (top, min(bottom, height) - 1)
                        tile_cols = (left, min(right, width) - 1)
                        return band, tile_rows, tile_cols, reason
                    checked.add(offset)
    return None


class WindowReader:
    """Array-like view of a raster file for :func:`dask.array.from_array`: ``(band, y, x)``.

    Each read opens (once per thread) the file and reads the window the key covers; a
    failure raises :class:`RasterReadError` naming the file, the rows and columns and
    GDAL's reason, where rasterio says only "Read failed. See previous exception". The
    tiles of a DEFLATE GeoTIFF are also checked against their checksum (see
    :data:`VERIFY_DEFLATE`), once per tile. Picklable (thread-local handles and the set of
    checked tiles are not part of its state).
    """

    def __init__(self, path: str, label: str, shape: tuple[int, int, int], dtype: Any) -> None:
        self.path, self.label = path, label
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.ndim = len(self.shape)
        self._local = threading.local()
        self._checked: set[int] = set()
        self._deflate: _DeflateLayout | Literal[False] | None = False  # False: not looked up yet

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_local", "_checked")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()
        self._checked = set()

    def _layout(self, dataset: Any) -> _DeflateLayout | None:
        """Return how to check the tiles of a DEFLATE GeoTIFF, else None (looked up once)."""
        if self._deflate is False:
            self._deflate = _deflate_layout(dataset, self.path)
        return self._deflate

    def _dataset(self) -> Any:
        dataset = getattr(self._local, "dataset", None)
        if dataset is None or dataset.closed:
            dataset = self._local.dataset = rasterio.open(self.path)
        return dataset

    def _forget(self) -> None:
        dataset = getattr(self._local, "dataset", None)
        self._local.dataset = None
        if dataset is not None:
            try:
                dataset.close()
            except READ_ERRORS:
                pass

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = key.index(Ellipsis)
            key = key[:at] + (slice(None),) * (self.ndim - len(key) + 1) + key[at + 1 :]
        key = key + (slice(None),) * (self.ndim - len(key))
        spans = [_span(k, n) for k, n in zip(key, self.shape, strict=True)]
        (b0, b1, _), (r0, r1, _), (c0, c1, _) = spans
        relative = tuple(rel for _, _, rel in spans)
        if b1 <= b0 or r1 <= r0 or c1 <= c0:
            block = np.zeros((b1 - b0, r1 - r0, c1 - c0), self.dtype)
            return block[relative]
        layout = None  # (block shape, raster shape), to name the failed tile
        damage = None
        try:
            dataset = self._dataset()
            layout = (dataset.block_shapes[b0], dataset.shape)
            block = dataset.read(
                list(range(b0 + 1, b1 + 1)), window=Window(c0, r0, c1 - c0, r1 - r0)
            )
            deflate = self._layout(dataset) if VERIFY_DEFLATE else None
            if deflate is not None:
                damage = _deflate_damage(
                    dataset, deflate, block, range(b0, b1), (r0, r1), (c0, c1), self._checked
                )
        except READ_ERRORS as exc:
            self._forget()
            # GDAL names the tile that failed; else the whole window read is named
            tile = _failed_block(_gdal_detail(exc), *layout) if layout else None
            rows, cols = tile if tile else ((r0, r1 - 1), (c0, c1 - 1))
            error = read_error(
                self.path,
                exc,
                rows=rows,
                cols=cols,
                label=self.label,
                bands=(b0 + 1, b1) if self.shape[0] > 1 else None,
            )
        else:
            if damage is None:
                return block[relative]
            band, rows, cols, reason = damage
            error = read_error(
                self.path,
                OSError(reason),
                rows=rows,
                cols=cols,
                label=self.label,
                bands=(band + 1, band + 1) if self.shape[0] > 1 else None,
            )
        # raised outside the except block: no GDAL exception chained as its context, which
        # would not survive the pickling (tblib) that carries it from a distributed worker
        raise error


#: Default chunk edge in pixels. Chunks are snapped to a multiple of the file's
#: internal tile size so every chunk decodes whole tiles exactly once.
DEFAULT_CHUNK = 1024


def aligned_chunk(block: int, target: int = DEFAULT_CHUNK, multiple: int = 1) -> int:
    """Return a chunk edge that is a multiple of ``block`` (and of ``multiple``) close to ``target``.

    ``multiple`` is for readers that aggregate k x k pixels per chunk (k = ``multiple``): the
    edge is then a multiple of both the file's tile and k.

    Examples
    --------
    >>> aligned_chunk(512, 1024), aligned_chunk(256, 1000), aligned_chunk(1, 1024)
    (1024, 1024, 1024)
    >>> aligned_chunk(1024, 2048, multiple=6), aligned_chunk(1024, 2048, multiple=2)
    (3072, 2048)
    """
    step = math.lcm(max(int(block), 1), max(int(multiple), 1))
    return max(step, round(target / step) * step)


@dataclass(frozen=True)
class RasterInfo:
    """What a raster file holds, read from its header only."""

    count: int
    dtype: str
    nodata: float | None
    descriptions: tuple
    scales: tuple
    offsets: tuple
    block: int


def probe(path: str, *, label: str) -> RasterInfo:
    """Read a raster's header; require a CRS.

    Raises
    ------
    InputNotFoundError
        The file is missing.
    ProductError
        The file exists but GDAL cannot open it (damaged, truncated, not a raster).
    CRSError
        The file has no CRS.
    """
    error: GeoError | None = None
    try:
        with rasterio.open(path) as src:
            info = RasterInfo(
                count=src.count,
                dtype=src.dtypes[0],
                nodata=src.nodata,
                descriptions=src.descriptions,
                scales=src.scales,
                offsets=src.offsets,
                block=max(src.block_shapes[0]),
            )
            crs = src.crs
    except RasterioIOError as exc:
        detail = " ".join(str(exc).split())
        if _exists(path):
            error = ProductError(
                f"{path}: cannot open {label}: {detail}. The file is damaged, truncated or not "
                "a raster; download it again."
            )
        else:
            error = InputNotFoundError(f"{path}: cannot open {label}: {detail}")
    if error is not None:
        raise error  # outside the except block: no GDAL context to pickle (distributed)
    if crs is None:
        raise CRSError(
            f"{path}: {label} has no CRS. geo never guesses a CRS; assign the right one "
            "first (e.g. `gdal_edit.py -a_srs EPSG:32635 FILE`)."
        )
    return info


def open_chunked(
    path: str,
    info: RasterInfo,
    chunk: int = DEFAULT_CHUNK,
    *,
    multiple: int = 1,
    label: str | None = None,
) -> xr.DataArray:
    """Open a raster lazily as (band, y, x) raw values, chunks aligned to its tiles.

    ``multiple``: make the chunk edge a multiple of it too (see :func:`aligned_chunk`).
    Coordinates, CRS and attributes come from rioxarray; the pixels are read chunk by
    chunk through :class:`WindowReader`, so a damaged tile raises :class:`RasterReadError`
    naming the file (and ``label``) and the window, inside whatever computes the chunk.
    """
    edge = aligned_chunk(info.block, chunk, multiple)
    # one GeoTIFF: one DataArray (a list of Datasets is only for HDF subdatasets)
    lazy = cast(xr.DataArray, rioxarray.open_rasterio(path, lock=False, cache=False, masked=False))
    try:
        shape = cast(tuple[int, int, int], lazy.shape)  # rioxarray always gives (band, y, x)
        reader = WindowReader(path, label or PurePosixPath(path).name, shape, lazy.dtype)
        token = tokenize(path, _stamp(path), reader.shape, str(reader.dtype), edge)
        data = dsa.from_array(
            reader,
            chunks=(1, edge, edge),
            name=f"read-{PurePosixPath(path).stem[-40:]}-{token}",
            meta=np.empty((0, 0, 0), dtype=reader.dtype),
        )
        return lazy.copy(data=data)
    finally:
        lazy.close()


def open_band(
    path: str, *, label: str, chunk: int = DEFAULT_CHUNK, multiple: int = 1
) -> xr.DataArray:
    """Open one single-band raster lazily as a (y, x) dask-backed DataArray of raw values.

    Parameters
    ----------
    path : str
        File path or GDAL virtual path (``/vsitar/...``).
    label : str
        What the file is (``"band 4 (red) X_SR_B4.TIF"``), used in error messages.
    chunk : int
        Target chunk edge; snapped to the file's block size.
    multiple : int
        Also make the chunk edge a multiple of this (a reader that averages k x k pixels
        passes k, so no output pixel straddles two chunks).

    Raises
    ------
    InputNotFoundError
        The file is missing or GDAL cannot open it.
    CRSError
        The file has no CRS.
    ProductError
        The file has more than one band.
    """
    info = probe(path, label=label)
    if info.count != 1:
        raise ProductError(f"{path}: {label} should hold 1 band, found {info.count}.")
    opened = open_chunked(path, info, chunk, multiple=multiple, label=label)
    return opened.squeeze("band", drop=True)


def check_same_grid(arrays: dict[str, xr.DataArray], *, source: str) -> None:
    """Raise :class:`GridMismatchError` unless all arrays share shape, transform and CRS."""
    items = list(arrays.items())
    ref_name, ref = items[0]
    for name, da in items[1:]:
        if da.shape != ref.shape or da.rio.transform() != ref.rio.transform():
            raise GridMismatchError(
                f"{source}: {name} is on a different pixel grid from {ref_name} "
                f"(shape {da.shape} vs {ref.shape}, transform {tuple(da.rio.transform())[:6]} vs "
                f"{tuple(ref.rio.transform())[:6]}). Resample them onto one grid before ingesting."
            )
        if da.rio.crs != ref.rio.crs:
            raise CRSError(
                f"{source}: {name} has CRS {da.rio.crs} but {ref_name} has {ref.rio.crs}; "
                "all bands of a product must share one CRS."
            )


def finite_number(
    value: Any,
    *,
    what: str,
    fix: str,
    positive: bool = False,
    error: type[Exception] = InvalidParameterError,
) -> float:
    """Return ``value`` as a finite float (> 0 if ``positive``), else raise ``error``.

    For scale factors and offsets: a NaN, infinite, zero or non-numeric value gives
    reflectance that is NaN or constant everywhere, which a run would blame on its masks.
    The message is one line: ``what`` (naming the file and key), the value, what was
    expected and ``fix``.

    Examples
    --------
    >>> finite_number("1e-4", what="scene.yaml: scale", fix="Fix it.", positive=True)
    0.0001
    >>> finite_number(0, what="B4.tif: scale", fix="Give --scale.", positive=True)
    Traceback (most recent call last):
    ...
    geo.errors.InvalidParameterError: B4.tif: scale is 0; expected a finite, positive number. Give --scale.
    """
    number: float | None = None
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            number = None
    if number is not None and math.isfinite(number) and (number > 0 or not positive):
        return number
    expected = "a finite, positive number" if positive else "a finite number"
    shown = repr(value) if isinstance(value, str) else str(value)
    raise error(f"{what} is {shown}; expected {expected}. {fix}")


def require_exists(path: Path, what: str) -> Path:
    """Return ``path`` if it exists, else raise :class:`InputNotFoundError` naming ``what``."""
    if not path.exists():
        raise InputNotFoundError(f"{path}: {what} not found.")
    return path


def scale_values(
    raw: xr.DataArray,
    scale: float | Sequence[float],
    offset: float | Sequence[float],
    nodata: Sequence[float | None] = (),
) -> xr.DataArray:
    """Return ``raw × scale + offset`` as float32, NaN where ``raw`` is NaN or a no-data value.

    The product readers' DN-to-reflectance step. One numpy kernel per chunk (a single
    float32 result, scaled in place) instead of a chain of xarray operations that each
    allocate a whole chunk (the mask pass of a full Landsat scene: 3.05 → 2.02 s).

    Parameters
    ----------
    raw : xarray.DataArray
        ``(y, x)`` or ``(band, y, x)`` raw values, numpy- or dask-backed.
    scale, offset : float or sequence of float
        One value, or one per band of a ``(band, y, x)`` array.
    nodata : sequence of float or None
        Raw values that mean "no data" (None: none; NaN input is always no data).

    Returns
    -------
    xarray.DataArray
        float32, same dims and coordinates, no attributes (the raw file's integer nodata
        and scaling do not describe the result).

    Examples
    --------
    >>> dn = xr.DataArray(np.array([[0, 7273, 65535]], dtype="uint16"), dims=("y", "x"))
    >>> scale_values(dn, 2.75e-05, -0.2, nodata=[0, 65535]).values.round(4).tolist()
    [[nan, 0.0, nan]]
    >>> stack = xr.DataArray(np.array([[[1.0]], [[np.nan]]]), dims=("band", "y", "x"))
    >>> scale_values(stack, [2.0, 3.0], [0.5, 0.0]).values.ravel().tolist()
    [2.5, nan]
    """
    per_band = np.ndim(scale) > 0 or np.ndim(offset) > 0
    if per_band and raw.ndim != 3:
        raise ValueError("scale_values: per-band scale/offset need a (band, y, x) array")
    shape = (-1, 1, 1) if per_band else ()
    scales = np.broadcast_to(np.asarray(scale, dtype="float32"), raw.shape[:1] if per_band else ())
    offsets = np.broadcast_to(
        np.asarray(offset, dtype="float32"), raw.shape[:1] if per_band else ()
    )
    fill = [v for v in nodata if v is not None and not np.isnan(v)]

    def kernel(block: np.ndarray, block_info=None) -> np.ndarray:
        if per_band:
            first, last = block_info[0]["array-location"][0] if block_info else (0, len(scales))
            mult, add = scales[first:last].reshape(shape), offsets[first:last].reshape(shape)
        else:
            mult, add = scales, offsets
        out = block.astype("float32")  # a copy: the raw block is left as read
        out *= mult
        out += add
        for value in fill:
            out[block == value] = np.nan
        return out

    if isinstance(raw.data, dsa.Array):
        data = dsa.map_blocks(kernel, raw.data, dtype="float32")
    else:
        data = kernel(np.asarray(raw.data))
    out = raw.copy(data=data)
    out.attrs, out.encoding = {}, {}
    return out


@dataclass(frozen=True)
class PreviewSource:
    """Where one reflectance band can be read decimated, through its file's overviews.

    Readers record one per band whose file covers exactly the reflectance grid's extent
    (any resolution): ``reflectance = raw × scale + offset``, ``nodata`` raw values = NaN.
    """

    path: str
    band: int
    scale: float
    offset: float
    nodata: tuple = ()


def read_preview(sources: Sequence[PreviewSource], shape: tuple[int, int]) -> np.ndarray:
    """Read bands on a ``shape`` grid over their whole extent (nearest pixel), as reflectance.

    GDAL serves a decimated read from the coarsest overview that still has ``shape``'s
    detail, so a ~1100 px picture of a full scene decodes a few overview tiles instead of
    every full-resolution tile (a second on a Landsat scene, more on JPEG 2000).

    Returns
    -------
    numpy.ndarray
        float32 ``(len(sources), *shape)``, NaN where no data.
    """
    out = np.empty((len(sources), *shape), dtype="float32")
    for i, source in enumerate(sources):
        layout = None  # (block shape, raster shape), to name the failed tile
        try:
            with rasterio.open(source.path) as src:
                layout = (src.block_shapes[source.band - 1], src.shape)
                raw = src.read(source.band, out_shape=shape, resampling=Resampling.nearest)
        except READ_ERRORS as exc:
            block = _failed_block(_gdal_detail(exc), *layout) if layout else None
            if block is not None:
                error = read_error(source.path, exc, rows=block[0], cols=block[1])
            else:
                what = f"band {source.band} for a {shape[0]} x {shape[1]} preview"
                error = read_error(source.path, exc, what=what)
        else:
            grid = xr.DataArray(raw, dims=("y", "x"))
            out[i] = scale_values(grid, source.scale, source.offset, source.nodata).values
            continue
        raise error  # outside the except block: see WindowReader.__getitem__
    return out
