"""Writers: Cloud-Optimized GeoTIFFs in one chunked pass, vector layers, and atomic run folders.

Rasters are computed chunk by chunk straight into uncompressed tiled GeoTIFFs (all
layers of a run in one pass, a block of chunks at a time, so the input bands are read
once), together with the averaged overview levels of the continuous layers (2 x 2 means
of the valid pixels, level by level, as GDAL's AVERAGE) and whatever else the caller taps
from the same blocks (the statistics of the thresholds); then each layer is copied once
into a compressed COG (ZSTD by default, :data:`CODECS`) using GDAL's threads, its staged
levels as the overviews (categorical layers: GDAL's nearest-neighbour overviews). A staged
layer can be read back before or after its copy (:class:`StagedRasters`). Nothing is held
whole in memory.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.array as dsa
import dask.system
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.shutil
import xarray as xr
from affine import Affine
from rasterio.windows import Window

from geo._memory import release_memory
from geo._vectorfile import write_layer
from geo.io.runfolder import inside_run, is_disk_full, run_folder, safe_child
from geo.progress import reporter

__all__ = [
    "CODECS",
    "DEFAULT_COMPRESSION",
    "RasterLayer",
    "StagedRasters",
    "codec_options",
    "run_folder",
    "stage_rasters",
    "use_compression",
    "write_csv",
    "write_rasters",
    "write_vectors",
]

logger = logging.getLogger(__name__)

_BLOCK = 512
#: Chunks per block row computed at once (:func:`stage_rasters`' ``block_chunks``): two
#: threads keep busy on 4. Each block's compute optimizes the whole upstream graph again,
#: so a pass over a large graph gains from wider blocks (the index stage: 8, see
#: ``geo.pipeline.stages.masks``), at the cost of memory.
_BLOCK_CHUNKS = 4

#: GDAL creation options of the COGs, per ``outputs.compression`` name and kind of data
#: (``float`` layers, ``int`` layers: masks, flags, classes, the 8-bit basemap). Chosen from
#: ``bench/codecs.py`` on the full-size scene's layers (``bench/results/codecs-*``).
CODECS: dict[str, dict[str, dict[str, Any]]] = {
    "zstd": {
        "float": {"COMPRESS": "ZSTD", "LEVEL": 1},
        "int": {"COMPRESS": "ZSTD", "LEVEL": 1},
    },
    # what geo wrote before 0.8: read by any GDAL, also the oldest
    "deflate": {
        "float": {"COMPRESS": "DEFLATE", "LEVEL": 1, "PREDICTOR": "YES"},
        "int": {"COMPRESS": "DEFLATE", "LEVEL": 1, "PREDICTOR": "YES"},
    },
}
DEFAULT_COMPRESSION = "zstd"
#: The codec of the run being written (set once per run by the index stage, from
#: ``outputs.compression``; every raster of the run is written with it).
_COMPRESSION: ContextVar[str] = ContextVar("geo_compression", default=DEFAULT_COMPRESSION)


def use_compression(name: str | None) -> None:
    """Make ``name`` (an entry of :data:`CODECS`; None: the default) the run's codec."""
    name = name or DEFAULT_COMPRESSION
    if name not in CODECS:
        raise ValueError(f"unknown compression {name!r}; choose from {', '.join(CODECS)}")
    _COMPRESSION.set(name)


def codec_options(compression: str | None, layer: RasterLayer) -> dict[str, Any]:
    """GDAL creation options of ``layer``'s COG with ``compression`` (None: the run's).

    A float layer with ``max_error`` is written with LERC (lossy within that absolute
    error, then ZSTD), whatever the codec.
    """
    name = compression or _COMPRESSION.get()
    kind = "float" if np.dtype(layer.dtype).kind == "f" else "int"
    if kind == "float" and layer.max_error is not None:
        return {"COMPRESS": "LERC_ZSTD", "MAX_Z_ERROR": layer.max_error, "LEVEL": 1}
    return dict(CODECS[name][kind])


@dataclass(frozen=True)
class RasterLayer:
    """One raster output.

    Attributes
    ----------
    data : xarray.DataArray
        ``(y, x)`` layer, or ``(band, y, x)`` whose ``band`` coordinate becomes the band
        descriptions; CRS and transform on ``.rio``; already holding ``nodata`` where
        invalid (NaN for float layers).
    dtype : str
        Output data type.
    nodata : float or int or None
        Nodata value on disk (NaN for float layers).
    categorical : bool
        Overviews by nearest neighbour (masks, classes) instead of averaging.
    description : str
        Band description written to the file.
    colormap : mapping of int to (r, g, b, a), optional
        GDAL colour table for a single-band uint8 layer, so GIS software shows classes in
        their colours without a style file.
    max_error : float, optional
        Write a float layer with LERC, every value within this absolute error (lossy;
        opt-in, e.g. z-scores to 0.001).
    """

    data: xr.DataArray
    dtype: str = "float32"
    nodata: float | int | None = float("nan")
    categorical: bool = False
    description: str = ""
    colormap: Mapping[int, tuple[int, int, int, int]] | None = None
    max_error: float | None = None


class _Guard:
    """One lock per open file, shared by every block written to it, and whether it is closed.

    When a task of the pass fails, dask raises at once while other threads may still be
    writing their blocks; the file is closed only under its lock, and a late write is
    refused instead of touching a closed GDAL dataset (a crash at exit).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.closed = False


class _WindowTarget:
    """``dask.array.store`` target that writes each block to a window of an open dataset.

    ``row_offset`` and ``col_offset`` place a block of the array in the file.
    """

    def __init__(
        self,
        dataset: rasterio.io.DatasetWriter,
        row_offset: int = 0,
        col_offset: int = 0,
        guard: _Guard | None = None,
    ) -> None:
        self.dataset = dataset
        self.row_offset = row_offset
        self.col_offset = col_offset
        self.guard = guard if guard is not None else _Guard()

    def __setitem__(self, key: tuple[slice, ...], value: np.ndarray) -> None:
        *bands, rows, cols = key
        window = Window(
            cols.start + self.col_offset,
            rows.start + self.row_offset,
            cols.stop - cols.start,
            rows.stop - rows.start,
        )
        with self.guard.lock:
            if self.guard.closed:  # the pass failed and closed the file: stop quietly
                raise RuntimeError(f"{self.dataset.name}: closed after a failed write")
            if bands:  # (band, y, x) block
                first = bands[0].start or 0
                indexes = list(range(first + 1, first + value.shape[0] + 1))
                self.dataset.write(value, indexes, window=window)
            else:
                self.dataset.write(value, 1, window=window)


def write_rasters(
    layers: Mapping[str, RasterLayer],
    folder: Path,
    *,
    taps: Sequence[tuple[dsa.Array, Any]] = (),
    compression: str | None = None,
) -> dict[str, str]:
    """Compute and write every layer as ``<folder>/<name>.tif`` Cloud-Optimized GeoTIFF.

    All layers are computed in one chunked pass, a strip of chunk rows at a time (so the
    bands are read once and memory does not grow with the number of rows), with the
    overview levels of the averaged (non-categorical) layers; then each is copied once into
    a COG (:func:`stage_rasters`, :meth:`StagedRasters.finish`). ``taps`` and
    ``compression`` as there. Returns ``{name: path}``.
    """
    return stage_rasters(layers, folder, taps=taps).finish(compression=compression)


def stage_rasters(
    layers: Mapping[str, RasterLayer],
    folder: Path,
    *,
    taps: Sequence[tuple[dsa.Array, Any]] = (),
    block_chunks: int = _BLOCK_CHUNKS,
) -> StagedRasters:
    """Compute every layer in one chunked pass into uncompressed staging files.

    The pass goes a block of chunks at a time (a chunk row, at most ``block_chunks``
    chunks wide): every layer of a block is computed together, so the input chunks are read
    once, and memory holds one block whatever the scene's size. The overview levels of the
    averaged layers are computed from the same blocks. ``taps`` are ``(array, target)``
    pairs computed in the same pass, on the layers' chunk grid: each block of ``array``
    goes to ``target[key] = block`` (e.g. a :class:`~geo.spectral.anomaly.ValueHistogram`
    counting the values of the layer being written; an array that *is* a layer's data
    shares its tasks). Each block is one dask compute, which optimizes the whole graph
    again: wider blocks (``block_chunks``) spend less time on that, and more memory.
    Returns the staged layers; :meth:`StagedRasters.finish` turns them into COGs.
    """
    if block_chunks < 1:
        raise ValueError(f"block_chunks must be at least 1; got {block_chunks!r}")
    inside_run(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staged = StagedRasters(folder, dict(layers))
    datasets, sources, targets = [], [], []
    guards: dict[str, _Guard] = {}
    progress = ExitStack()
    start = time.perf_counter()
    try:
        for name, layer in layers.items():
            da = layer.data
            safe_child(folder, name, ".tif")  # user-chosen names never leave the folder
            tmp = staged.stage(name)
            profile = {
                "driver": "GTiff",
                "height": da.shape[-2],
                "width": da.shape[-1],
                "count": 1 if da.ndim == 2 else da.shape[0],
                "dtype": layer.dtype,
                "crs": da.rio.crs,
                "transform": da.rio.transform(),
                "nodata": layer.nodata,
                "tiled": True,
                "blockxsize": _BLOCK,
                "blockysize": _BLOCK,
                "BIGTIFF": "IF_SAFER",
            }
            dst = rasterio.open(tmp, "w", **profile)
            datasets.append(dst)
            if da.ndim == 3 and "band" in da.coords:
                for i, name_i in enumerate(da["band"].values, 1):
                    dst.set_band_description(i, str(name_i))
            elif layer.description:
                dst.set_band_description(1, layer.description)
            if layer.colormap is not None:
                dst.write_colormap(1, dict(layer.colormap))
            data = (
                da.data if isinstance(da.data, dsa.Array) else dsa.from_array(da.data, chunks=2048)
            )
            sources.append(data.astype(layer.dtype))
            targets.append(dst)
        grid = sources[0] if sources else (taps[0][0] if taps else None)
        no_edges = np.zeros(0, dtype=np.intp)
        rows = np.cumsum((0, *grid.chunks[-2])) if grid is not None else no_edges
        cols = np.cumsum((0, *grid.chunks[-1])) if grid is not None else no_edges
        # overview levels of the averaged layers, computed in the same pass in both dask
        # threads (GDAL's COG driver would compute them afterwards in one thread):
        # (layer index, factor, staged file)
        levels: list[tuple[int, int, rasterio.io.DatasetWriter]] = []
        edges = [*rows[1:-1], *cols[1:-1]]
        specs = list(layers.values())
        for i, (name, layer) in enumerate(layers.items()):
            factors = _overview_factors(*sources[i].shape[-2:])
            if layer.categorical or not _pyramid_fits(sources[i], rows, cols, factors):
                continue
            for factor in factors:
                dst = _stage_overview(folder, name, factor, datasets[i], edges)
                datasets.append(dst)
                levels.append((i, factor, dst))
                staged.overviews.setdefault(name, []).append(dst.name)
        # one block of chunks (a chunk row, at most block_chunks chunks wide) at a time: the
        # input chunks are read once (every layer of a block is computed together) and memory
        # holds one block, whatever the scene's height or width
        ends = list(cols[::block_chunks])  # every block_chunks-th chunk edge, and the last
        if len(cols) and ends[-1] != cols[-1]:
            ends.append(cols[-1])
        guards.update({dst.name: _Guard() for dst in datasets})
        advance = progress.enter_context(
            reporter().task("rasters", total=(len(rows) - 1) * (len(ends) - 1))
        )
        for y0, y1 in itertools.pairwise(rows):
            for x0, x1 in itertools.pairwise(ends):
                parts = [src[..., y0:y1, x0:x1] for src in sources]
                sinks: list[Any] = [
                    _WindowTarget(dst, int(y0), int(x0), guards[dst.name]) for dst in targets
                ]
                # each level from the block being written (not from the whole layer), so it
                # shares the block's tasks and reads nothing again
                halves: dict[int, dsa.Array] = {}
                for i, factor, dst in levels:  # factors of a layer in increasing order
                    spec = specs[i]
                    halves[i] = _half(halves.get(i, parts[i]), spec.nodata, spec.dtype)
                    parts.append(halves[i])
                    # block edges divide by the factor (see _pyramid_fits)
                    sinks.append(
                        _WindowTarget(dst, int(y0) // factor, int(x0) // factor, guards[dst.name])
                    )
                for array, target in taps:
                    parts.append(array[..., y0:y1, x0:x1])
                    sinks.append(target)
                # dask.array.store takes any target with __setitem__ (its docstring); its
                # annotation names array-likes only
                dsa.store(parts, sinks, lock=False, compute=True)
                advance()
    except BaseException as exc:
        # a full disk is told by the free space left *before* the stages are dropped
        full = isinstance(exc, Exception) and is_disk_full(exc, folder)
        _close(datasets, guards)
        progress.close()
        staged.discard(staged.created)
        if full:
            raise OSError(errno.ENOSPC, f"No space left on device while writing {folder}") from exc
        raise
    progress.close()
    _close(datasets, guards)
    logger.debug("computed %d layers in %.2f s", len(layers), time.perf_counter() - start)
    # the pass's freed chunk temporaries stay in the threads' heaps; given back, they do
    # not add to the COG copies' peak
    release_memory()
    return staged


class _StageReader:
    """Array-like view of a staged single-band file for :func:`dask.array.from_array`."""

    def __init__(self, path: str, shape: tuple[int, ...], dtype: str) -> None:
        self.path, self.shape, self.dtype = path, tuple(shape), np.dtype(dtype)
        self.ndim = 2

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows, cols = (k.indices(n) for k, n in zip(key, self.shape, strict=True))
        if rows[1] <= rows[0] or cols[1] <= cols[0]:
            return np.zeros((max(rows[1] - rows[0], 0), max(cols[1] - cols[0], 0)), self.dtype)
        window = Window(cols[0], rows[0], cols[1] - cols[0], rows[1] - rows[0])
        with rasterio.open(self.path) as src:
            return src.read(1, window=window)


def _close(datasets: list, guards: dict[str, _Guard]) -> None:
    for dst in datasets:
        guard = guards.get(dst.name) or _Guard()
        with guard.lock:  # a block still being written by another thread finishes first
            guard.closed = True
            dst.close()


@dataclass
class StagedRasters:
    """Layers a chunked pass wrote uncompressed (``.<name>.stage.tif``), waiting for their COG.

    :meth:`finish` copies them into ``<name>.tif`` COGs; :meth:`open` reads a staged layer
    back (uncompressed: a copy from the page cache, not a decode), e.g. to derive another
    layer from it before its COG exists or after, with ``keep``.
    """

    folder: Path
    layers: dict[str, RasterLayer]
    #: staged overview files of the averaged layers, finest first
    overviews: dict[str, list[str]] = field(default_factory=dict)
    #: layers whose COG is written (their stage may be kept for reading)
    done: set[str] = field(default_factory=set)
    #: layers whose staging file was named (created or about to be)
    created: list[str] = field(default_factory=list)

    def stage(self, name: str) -> Path:
        """Return the staging file of a layer (and remember it for :meth:`discard`)."""
        if name not in self.created:
            self.created.append(name)
        return self.folder / f".{name}.stage.tif"

    def pending(self) -> list[str]:
        """Return the layers without a COG yet."""
        return [n for n in self.layers if n not in self.done]

    def open(self, name: str) -> xr.DataArray:
        """Read a staged single-band layer back, lazily, on the chunks it was computed on.

        Coordinates and CRS are the layer's; the values are as written (nodata included).
        Each chunk opens the file for its read only, so no handle outlives it.
        """
        data = self.layers[name].data
        if data.ndim != 2:
            raise ValueError(f"{name}: only single-band layers are read back")
        chunks = data.chunks if data.chunks is not None else (2048, 2048)
        reader = _StageReader(str(self.stage(name)), data.shape, self.layers[name].dtype)
        lazy = dsa.from_array(reader, chunks=chunks, name=f"stage-{name}-{id(self)}")
        return data.copy(data=lazy)

    def finish(
        self,
        names: Sequence[str] | None = None,
        *,
        keep: Sequence[str] = (),
        compression: str | None = None,
    ) -> dict[str, str]:
        """Copy staged layers (default: all pending) into COGs; return ``{name: path}``.

        One copy at a time, each with the run's thread budget. The staging files go,
        except the full-resolution stage of the layers in ``keep`` (dropped later with
        :meth:`discard`). ``compression`` names an entry of :data:`CODECS` (default: the
        run's, :func:`compression_for`).
        """
        written = {}
        for name in self.pending() if names is None else names:
            if name in self.done:
                continue
            written[name] = _to_cog(
                self.folder,
                name,
                self.layers[name],
                self.overviews.pop(name, []),
                source=self.stage(name),
                keep=name in keep,
                compression=compression,
            )
            self.done.add(name)
            release_memory()
        return written

    def discard(self, names: Sequence[str] | None = None) -> None:
        """Delete the staging files of ``names`` (default: every layer), COG or not."""
        for name in self.layers if names is None else names:
            self.stage(name).unlink(missing_ok=True)
            for path in self.overviews.pop(name, []):
                Path(path).unlink(missing_ok=True)


def _threads() -> int:
    """Return the run's thread budget: dask's ``num_workers``, else every core.

    The same count dask's threaded scheduler uses for the chunked pass.
    """
    if dask.config.get("scheduler", None) in ("sync", "synchronous", "single-threaded"):
        return 1
    n = dask.config.get("num_workers", None)
    return max(1, int(n)) if n else max(1, dask.system.CPU_COUNT)  # cgroup and affinity aware


def _to_cog(
    folder: Path,
    name: str,
    layer: RasterLayer,
    overviews: list[str],
    *,
    source: Path | None = None,
    keep: bool = False,
    compression: str | None = None,
) -> str:
    """Copy the staged ``source`` into ``<name>.tif`` as a COG; drop the stage (unless ``keep``).

    With ``overviews`` (staged files of the overview levels, finest first), the copy reads
    a VRT of the stage that lists them as its overviews, and GDAL only encodes them.
    """
    start = time.perf_counter()
    tmp = source if source is not None else folder / f".{name}.stage.tif"
    final = folder / f"{name}.tif"
    src, extra = tmp, {"OVERVIEW_RESAMPLING": "NEAREST" if layer.categorical else "AVERAGE"}
    if overviews:
        src = folder / f".{name}.stage.vrt"
        _vrt_with_overviews(tmp, src, overviews)
        extra = {"OVERVIEWS": "FORCE_USE_EXISTING"}
    rasterio.shutil.copy(
        src,
        final,
        driver="COG",
        BLOCKSIZE=_BLOCK,
        # the run's thread budget (dask's num_workers: `geo batch --threads`), not every
        # core: a batch worker must not take the cores of the others
        NUM_THREADS=_threads(),
        **codec_options(compression, layer),
        **extra,
    )
    for path in (*([] if keep else [tmp]), *map(Path, overviews), *([src] if overviews else [])):
        path.unlink()
    logger.debug("%s.tif: COG written in %.2f s", name, time.perf_counter() - start)
    return str(final)


def _overview_factors(height: int, width: int) -> list[int]:
    """Overview factors of a COG of this size: halve until a level fits in one block.

    The levels GDAL's COG driver makes by default (e.g. 2, 4, 8, 16 for a Landsat scene).

    >>> _overview_factors(7681, 7801), _overview_factors(600, 400), _overview_factors(512, 512)
    ([2, 4, 8, 16], [2], [])
    """
    factors, factor = [], 2
    while -(-max(height, width) // (factor // 2)) > _BLOCK:
        factors.append(factor)
        factor *= 2
    return factors


def _pyramid_fits(data: dsa.Array, rows, cols, factors: list[int]) -> bool:
    """Tell whether each chunk of ``data`` makes whole cells of the coarsest overview.

    Every chunk edge of ``data`` and every block edge of the pass (``rows``, ``cols``) but
    the last must divide by the coarsest factor.
    """
    if not factors:
        return False
    step = factors[-1]
    edges = [*data.chunks[-2][:-1], *data.chunks[-1][:-1]]
    return all(e % step == 0 for e in edges) and all(
        int(e) % step == 0 for e in (*rows[1:-1], *cols[1:-1])
    )


def _half(data: dsa.Array, nodata, dtype: str) -> dsa.Array:
    """Return the next overview level, lazily: each 2 x 2 cell's mean.

    The mean is over the cell's valid pixels (GDAL's AVERAGE), nodata where it has none; a
    last odd row or column makes cells of its own. Each level comes from the previous one,
    as GDAL computes them.
    """
    chunks = (*data.chunks[:-2], *(tuple(-(-c // 2) for c in cs) for cs in data.chunks[-2:]))
    return dsa.map_blocks(_half_block, data, nodata, dtype, chunks=chunks, dtype=dtype)


def _half_block(block: np.ndarray, nodata, dtype: str) -> np.ndarray:
    """Average one chunk's 2 x 2 cells (see :func:`_half`).

    >>> _half_block(np.array([[1, 3, 5], [np.nan, 2, 7]], dtype="float32"), np.nan, "float32")
    array([[2., 6.]], dtype=float32)
    >>> _half_block(np.array([[0, 0, 9], [0, 0, 8]], dtype="uint8"), 0, "uint8").tolist()
    [[0, 9]]
    """
    values = block.astype("float32")  # a copy
    valid = values == values  # not NaN
    if nodata is not None and not np.isnan(nodata):
        valid &= values != nodata
    values[~valid] = 0
    if block.shape[-2] % 2 or block.shape[-1] % 2:  # the last chunk of a row or column
        pad = [(0, 0)] * (block.ndim - 2) + [(0, block.shape[-2] % 2), (0, block.shape[-1] % 2)]
        values, valid = np.pad(values, pad), np.pad(valid, pad)
    count = valid.astype("uint8")
    # pairs of rows, then pairs of columns: plain strided adds, ~15x faster than a
    # reshape-and-sum over two axes
    total = values[..., 0::2, :] + values[..., 1::2, :]
    total = total[..., 0::2] + total[..., 1::2]
    n = count[..., 0::2, :] + count[..., 1::2, :]
    n = n[..., 0::2] + n[..., 1::2]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / n
    if np.dtype(dtype).kind in "iu":
        mean = np.floor(mean + 0.5)  # halves up, as GDAL rounds integer averages
    mean[n == 0] = np.nan if nodata is None else nodata
    return mean.astype(dtype, copy=False)


def _stage_overview(
    folder: Path, name: str, factor: int, stage: rasterio.io.DatasetWriter, edges
) -> rasterio.io.DatasetWriter:
    """Open the uncompressed staging file of one overview level of a layer.

    Its tiles divide the level's share of every block the pass writes (``edges``: the
    block edges at full resolution), so each write fills whole tiles; a partly written
    tile would wait in GDAL's cache, or be written and read back, until the next strip.
    """
    tile = 16  # GeoTIFF tiles are multiples of 16
    while tile < _BLOCK and all((int(e) // factor) % (2 * tile) == 0 for e in edges):
        tile *= 2
    profile = dict(stage.profile)
    profile.update(
        height=-(-stage.height // factor),
        width=-(-stage.width // factor),
        transform=stage.transform * Affine.scale(factor),
        blockxsize=tile,
        blockysize=tile,
    )
    return rasterio.open(folder / f".{name}.stage.ovr{factor}.tif", "w", **profile)


def _vrt_with_overviews(stage: Path, vrt: Path, overviews: list[str]) -> None:
    """Write a VRT of ``stage`` that lists ``overviews`` as each band's overviews.

    The VRT is GDAL's own copy of the stage, so every band keeps its metadata.
    """
    rasterio.shutil.copy(stage, vrt, driver="VRT")
    tree = ET.parse(vrt)
    for band in tree.getroot().iter("VRTRasterBand"):
        for path in overviews:
            overview = ET.SubElement(band, "Overview")
            # absolute: a run folder given as a relative --out must still resolve
            ET.SubElement(overview, "SourceFilename", relativeToVRT="0").text = os.path.abspath(
                path
            )
            ET.SubElement(overview, "SourceBand").text = band.get("band")
    tree.write(vrt)


def write_vectors(layers: Mapping[str, gpd.GeoDataFrame], path: Path) -> None:
    """Write several layers into one GeoPackage (created fresh); dates as DATE fields."""
    inside_run(path)
    if path.exists():
        path.unlink()
    for name, gdf in layers.items():
        # an empty layer would be typed "Unknown"; every geo layer holds areas
        extra = {"geometry_type": "MultiPolygon"} if gdf.empty else {}
        # GeoPackage 1.2: read without warnings by the GDAL of older QGIS LTRs (3.22 has 3.6)
        write_layer(gdf, path, layer=name, driver="GPKG", VERSION="1.2", **extra)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write a table as UTF-8 CSV without the index or geometry column.

    Text cells and column names that a spreadsheet would run as a formula (starting with
    ``=``, ``+``, ``-``, ``@``, tab or carriage return: a licence holder
    ``=HYPERLINK(...)``) are written with a leading ``'`` (:func:`geo._text.csv_cell`);
    numeric columns are written as numbers, unchanged.
    """
    from geo._text import csv_frame

    table = csv_frame(frame.drop(columns="geometry", errors="ignore"))
    table.to_csv(path, index=False, lineterminator="\n")
