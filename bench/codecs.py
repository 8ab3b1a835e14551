#!/usr/bin/env python3
"""Encode throughput and size of the GeoTIFF codecs GDAL offers, on a run's own layers.

Each layer of a geo run folder (``rasters/<name>.tif``: float32 indices and z-scores, the
uint16 mask reasons, a uint8 anomaly flag, the 3 x uint8 true-colour basemap) is read whole,
staged uncompressed in ``/vsimem/`` (512 x 512 tiles, as geo stages its layers), then copied
by GDAL's COG driver with each codec in turn, without overviews (``OVERVIEWS=NONE``: the
encoding of the full-resolution tiles is what is measured; overviews add about 1/3 of the
pixels with any codec). The copies go to ``/vsimem/`` too, so the disk is out of the
measurement. Configurations run round-robin (repeat 1 of every codec, then repeat 2 ...),
so the load of a shared machine spreads over all of them; every copy is decoded back and
compared with the input (lossless codecs: bit-identical; LERC: max error <= MAX_Z_ERROR).

Reported per layer and codec: input MB, output MB and ratio, encode wall seconds (median
and min of the repeats), encode CPU seconds (process user + system of the copy, GDAL's
threads included: the figure the load of other processes disturbs least), input MB per
wall second and per CPU second, and decode wall seconds of the whole file (one thread).

usage: codecs.py RUN_RASTERS_DIR [--layers a,b] [--repeats 3] [--threads 1] [--out DIR]

Run with geo's venv (rasterio's wheel and its GDAL are what geo writes with).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.io import MemoryFile

FLOAT_CODECS: list[tuple[str, dict]] = [
    ("NONE", {"COMPRESS": "NONE"}),
    ("DEFLATE L1", {"COMPRESS": "DEFLATE", "LEVEL": 1}),
    ("DEFLATE L1 PRED2", {"COMPRESS": "DEFLATE", "LEVEL": 1, "PREDICTOR": 2}),
    ("DEFLATE L1 PRED3", {"COMPRESS": "DEFLATE", "LEVEL": 1, "PREDICTOR": 3}),
    ("DEFLATE L6 PRED3", {"COMPRESS": "DEFLATE", "LEVEL": 6, "PREDICTOR": 3}),
    ("ZSTD L1", {"COMPRESS": "ZSTD", "LEVEL": 1}),
    ("ZSTD L1 PRED2", {"COMPRESS": "ZSTD", "LEVEL": 1, "PREDICTOR": 2}),
    ("ZSTD L1 PRED3", {"COMPRESS": "ZSTD", "LEVEL": 1, "PREDICTOR": 3}),
    ("ZSTD L9 PRED3", {"COMPRESS": "ZSTD", "LEVEL": 9, "PREDICTOR": 3}),
    ("LZW PRED3", {"COMPRESS": "LZW", "PREDICTOR": 3}),
    # lossy, opt-in only: LERC keeps every value within MAX_Z_ERROR of the input
    ("LERC_ZSTD 0.001", {"COMPRESS": "LERC_ZSTD", "MAX_Z_ERROR": 0.001, "LEVEL": 1}),
    ("LERC_DEFLATE 0.001", {"COMPRESS": "LERC_DEFLATE", "MAX_Z_ERROR": 0.001, "LEVEL": 1}),
]
INT_CODECS: list[tuple[str, dict]] = [
    ("NONE", {"COMPRESS": "NONE"}),
    ("DEFLATE L1", {"COMPRESS": "DEFLATE", "LEVEL": 1}),
    ("DEFLATE L1 PRED2", {"COMPRESS": "DEFLATE", "LEVEL": 1, "PREDICTOR": 2}),
    ("DEFLATE L6 PRED2", {"COMPRESS": "DEFLATE", "LEVEL": 6, "PREDICTOR": 2}),
    ("ZSTD L1", {"COMPRESS": "ZSTD", "LEVEL": 1}),
    ("ZSTD L1 PRED2", {"COMPRESS": "ZSTD", "LEVEL": 1, "PREDICTOR": 2}),
    ("ZSTD L9 PRED2", {"COMPRESS": "ZSTD", "LEVEL": 9, "PREDICTOR": 2}),
    ("LZW PRED2", {"COMPRESS": "LZW", "PREDICTOR": 2}),
    ("PACKBITS", {"COMPRESS": "PACKBITS"}),
]
DEFAULT_LAYERS = "iron_oxide,clay_hydroxyl,iron_oxide_z,mask_reasons,iron_oxide_anomaly,true_colour"


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def _stage(path: Path) -> tuple[str, dict]:
    """Read a layer whole and stage it uncompressed in /vsimem/ (512 tiles)."""
    with rasterio.open(path) as src:
        data = src.read()
        profile = {
            "driver": "GTiff",
            "width": src.width,
            "height": src.height,
            "count": src.count,
            "dtype": src.dtypes[0],
            "crs": src.crs,
            "transform": src.transform,
            "nodata": src.nodata,
            "tiled": True,
            "blockxsize": 512,
            "blockysize": 512,
        }
    staged = f"/vsimem/stage_{path.stem}.tif"
    with rasterio.open(staged, "w", **profile) as dst:
        dst.write(data)
    return staged, {"mb": data.nbytes / 1e6, "dtype": profile["dtype"], "bands": profile["count"]}


def _encode(staged: str, options: dict, threads: int) -> tuple[float, float, MemoryFile]:
    out = MemoryFile()  # /vsimem/, and its size is known
    c0, w0 = _cpu(), time.perf_counter()
    rasterio.shutil.copy(
        staged,
        out.name,
        driver="COG",
        BLOCKSIZE=512,
        OVERVIEWS="NONE",
        NUM_THREADS=threads,
        **options,
    )
    return time.perf_counter() - w0, _cpu() - c0, out


def _check(staged: str, out: str, options: dict) -> tuple[float, float]:
    """Decode ``out`` whole (timed) and compare it with the staged input."""
    with rasterio.open(staged) as a:
        ref = a.read()
    w0 = time.perf_counter()
    with rasterio.open(out) as b:
        got = b.read()
    decode = time.perf_counter() - w0
    if options.get("COMPRESS", "").startswith("LERC"):
        both = np.isfinite(ref) & np.isfinite(got)
        assert np.array_equal(np.isnan(ref), np.isnan(got)), "LERC changed the nodata"
        err = float(np.max(np.abs(ref[both].astype("float64") - got[both]))) if both.any() else 0.0
        # LERC quantises in float64 and the result is stored as float32: one float32
        # rounding step of the largest value on top of the stated error
        slack = float(np.max(np.abs(ref[both]))) * np.finfo(np.float32).eps if both.any() else 0
        assert err <= float(options["MAX_Z_ERROR"]) + slack, err
    else:
        assert np.array_equal(ref, got, equal_nan=ref.dtype.kind == "f"), "not lossless"
        err = 0.0
    return decode, err


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("rasters", type=Path, help="a geo run's rasters/ folder")
    ap.add_argument("--layers", default=DEFAULT_LAYERS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="GDAL NUM_THREADS of the copies")
    ap.add_argument("--out", type=Path, default=None, help="results folder (table.md, runs.json)")
    a = ap.parse_args(argv)
    rows = []
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20):
        for name in a.layers.split(","):
            path = a.rasters / f"{name}.tif"
            if not path.is_file():
                print(f"skip {name}: {path} not found")
                continue
            staged, info = _stage(path)
            codecs = FLOAT_CODECS if info["dtype"].startswith("float") else INT_CODECS
            if not name.endswith("_z"):  # LERC with an absolute error: z-scores only
                codecs = [c for c in codecs if not c[1]["COMPRESS"].startswith("LERC")]
            runs: dict[str, list] = {label: [] for label, _ in codecs}
            sizes: dict[str, tuple] = {}
            for _ in range(a.repeats):
                for label, options in codecs:
                    wall, cpu, out = _encode(staged, options, a.threads)
                    runs[label].append((wall, cpu))
                    if label not in sizes:
                        decode, err = _check(staged, out.name, options)
                        sizes[label] = (len(out.getbuffer()) / 1e6, decode, err)
                    out.close()
            rasterio.shutil.delete(staged)
            for label, _ in codecs:
                walls = [w for w, _ in runs[label]]
                cpus = [c for _, c in runs[label]]
                out_mb, decode, err = sizes[label]
                row = {
                    "layer": name,
                    "dtype": f"{info['bands']} x {info['dtype']}",
                    "codec": label,
                    "in_MB": round(info["mb"], 1),
                    "out_MB": round(out_mb, 1),
                    "ratio": round(info["mb"] / out_mb, 2),
                    "encode_s_median": round(statistics.median(walls), 3),
                    "encode_s_min": round(min(walls), 3),
                    "encode_cpu_s_median": round(statistics.median(cpus), 3),
                    "MBps_wall": round(info["mb"] / statistics.median(walls), 1),
                    "MBps_cpu": round(info["mb"] / statistics.median(cpus), 1),
                    "decode_s": round(decode, 3),
                    "max_error": err,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    if a.out is not None:
        a.out.mkdir(parents=True, exist_ok=True)
        (a.out / "runs.json").write_text(json.dumps(rows, indent=1) + "\n")
        (a.out / "table.md").write_text(_table(rows, a) + "\n")
        print(a.out / "table.md")


def _table(rows: list[dict], a) -> str:
    head = (
        f"# GeoTIFF codecs on geo's layers ({dt.date.today().isoformat()})\n\n"
        f"GDAL {rasterio.__gdal_version__} (rasterio {rasterio.__version__} wheel), "
        f"NUM_THREADS={a.threads}, {a.repeats} round-robin repeats, COG driver, 512 x 512 "
        "blocks, no overviews, /vsimem/ in and out. `MB/s` = input MB per second of the copy "
        "(median wall / median process CPU). Decode: the whole file, one thread, once.\n"
    )
    cols = [
        "layer",
        "dtype",
        "codec",
        "in_MB",
        "out_MB",
        "ratio",
        "encode_s_median",
        "encode_s_min",
        "encode_cpu_s_median",
        "MBps_wall",
        "MBps_cpu",
        "decode_s",
        "max_error",
    ]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return head + "\n" + "\n".join(lines)


if __name__ == "__main__":
    main()
