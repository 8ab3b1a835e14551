#!/usr/bin/env python3
"""geo's row of the peer harness's classifier pair (../shared/bench/peers/f_*, g_*).

Same contract as the peers: read TRAIN.csv (x, y, row, col, label), sample the 7 bands
at those pixels, fit ``RandomForestClassifier(n_estimators=100, n_jobs=2,
random_state=42)`` on the float32 band values, classify the whole scene and write
OUTDIR/classes.tif (uint8, nodata 255, tiled 512, deflate). The scene side is geo's
public API: ``geo.io.open_scene`` opens the GeoTIFF as a lazy dask cube (scale 1,
offset 0, so the values are the DN as float32, and the file's nodata 0 becomes NaN),
the training pixels are picked from that cube, ``geo.classify.predict.predict_classes``
classifies it chunk by chunk (forest fast path, exact ``predict``), and
``geo.io.writers.write_rasters`` writes a Cloud-Optimized GeoTIFF (deflate, 512 tiles,
overviews). ``--writer rasterio`` instead stores the dask array into a plain tiled deflate
GeoTIFF (as the peers write) in one ``dask.array.store`` call.

usage: geo_classify.py SCENE.tif TRAIN.csv OUTDIR [--chunk N] [--writer geo|rasterio]

Prints one line ``BENCH_INTERNAL {...}``: wall seconds of each stage, and the process's CPU
seconds (user + system, all threads) of each stage as ``<stage>_cpu``, and the process's
peak RSS (MB) at the end of each stage as ``<stage>_peak_mb``.
"""

from __future__ import annotations

import argparse
import json
import resource
import threading
import time
from pathlib import Path

import dask.array as dsa
import numpy as np
import rasterio
import xarray as xr
from rasterio.transform import rowcol
from rasterio.windows import Window
from sklearn.ensemble import RandomForestClassifier

from geo.classify.predict import predict_classes
from geo.io import open_scene
from geo.io.writers import RasterLayer, write_rasters

ROLES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]


class _Window:
    """``dask.array.store`` target writing each (y, x) block to a window of band 1."""

    def __init__(self, dst) -> None:
        self.dst = dst

    def __setitem__(self, key: tuple[slice, slice], value: np.ndarray) -> None:
        rows, cols = key
        window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        self.dst.write(value, 1, window=window)


def write_plain(classes: xr.DataArray, path: Path) -> None:
    """Write uint8 classes as a tiled (512), deflate GeoTIFF, nodata 255, in one store call."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {
        "driver": "GTiff",
        "height": classes.shape[0],
        "width": classes.shape[1],
        "count": 1,
        "dtype": "uint8",
        "crs": classes.rio.crs,
        "transform": classes.rio.transform(),
        "nodata": 255,
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dsa.store(classes.data, _Window(dst), lock=threading.Lock())


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Train on the CSV's pixels, classify the scene and write OUTDIR/classes.tif."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scene")
    parser.add_argument("train_csv")
    parser.add_argument("outdir")
    parser.add_argument(
        "--chunk", type=int, default=512, help="read and prediction window edge (px)"
    )
    parser.add_argument("--writer", choices=["geo", "rasterio"], default="geo")
    args = parser.parse_args()
    stages: dict[str, float] = {}
    mark = [time.perf_counter(), _cpu()]
    start = mark[:]

    def done(stage: str) -> None:
        now = [time.perf_counter(), _cpu()]
        stages[stage], stages[f"{stage}_cpu"] = now[0] - mark[0], now[1] - mark[1]
        stages[f"{stage}_peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        mark[:] = now

    scene = open_scene(args.scene, roles=ROLES, scale=1.0, offset=0.0, chunk=args.chunk)
    cube = scene.reflectance
    table = np.loadtxt(args.train_csv, delimiter=",", skiprows=1, ndmin=2)
    rows, cols = rowcol(cube.rio.transform(), table[:, 0], table[:, 1])
    picked = cube.isel(
        y=xr.DataArray(np.asarray(rows), dims="s"), x=xr.DataArray(np.asarray(cols), dims="s")
    )
    X = np.asarray(picked.transpose("s", "band").values, dtype=np.float32)
    if not np.isfinite(X).all():
        raise SystemExit(f"{args.train_csv}: some training pixels are nodata in the scene")
    done("sample")

    rf = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=42)
    rf.fit(X, table[:, 4].astype(int))
    done("fit")

    classes = predict_classes(rf, cube, chunk=args.chunk)
    if args.writer == "geo":
        layer = RasterLayer(classes, "uint8", 255, True, "class code")
        write_rasters({"classes": layer}, Path(args.outdir))
    else:
        write_plain(classes, Path(args.outdir) / "classes.tif")
    done("predict_write")
    mark[:] = start
    done("total")
    print("BENCH_INTERNAL", json.dumps({k: round(v, 3) for k, v in stages.items()}))


if __name__ == "__main__":
    # geo's own GDAL block-cache cap (processing.gdal_cache_mb of every pipeline), in bytes as
    # rasterio passes it to GDAL; each tile is read once per pass, so a larger cache only
    # holds memory (until 0.6.1 this passed 128, which GDAL took as 128 bytes)
    from geo.pipeline.spec import Processing

    with rasterio.Env(GDAL_CACHEMAX=Processing().gdal_cache_mb * 1024 * 1024):
        main()
