"""Peak memory of reading a full-size EMIT L2A granule onto the UTM grid (issue 22).

Writes a synthetic EMIT-shaped granule (1280 lines x 1242 samples x 285 bands float32, about
1.8 GB of reflectance; smooth synthetic spectra; a swath rotated 40 degrees on a geographic
ortho grid with a nearest-neighbour GLT, as EMIT's) into FOLDER, then, in a child process,
opens it with ``geo.io.readers.emit.open_emit`` (GLT gather straight to UTM at 60 m, 256 px
chunks with all bands) and writes two GeoTIFFs chunk by chunk: the mean of the good bands and
the seven simulated Landsat OLI roles. Prints one JSON line: the child's peak RSS (MB, from
``getrusage``), wall time, grid, and whether it stays within 1.5 GB.

Usage::

    python bench/emit_memory.py /tmp/emit-bench            # write (once) then measure
    python bench/emit_memory.py /tmp/emit-bench --lines 256 # a small check
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

LIMIT_MB = 1500.0
ANGLE_DEG = 40.0  # swath heading relative to north (the ISS ground track is inclined)
CENTRE = (-117.2, 37.5)  # lon, lat (Cuprite, Nevada)
PIXEL_M = 60.0


def emit_wavelengths(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """EMIT-like band table: ~7.4 nm steps from 381 to 2493 nm, two water-vapour gaps bad."""
    w = np.linspace(381.0, 2493.0, n)
    fwhm = np.full(n, 8.5)
    good = ~(((w > 1320) & (w < 1440)) | ((w > 1770) & (w < 1960)))
    return w, fwhm, good.astype("int8")


class SyntheticCube:
    """``(lines, samples, bands)`` reflectance made on demand, 64 lines at a time."""

    def __init__(self, lines: int, samples: int, wavelengths: np.ndarray) -> None:
        self.shape = (lines, samples, wavelengths.shape[0])
        w = wavelengths / 1000.0
        # a soil-like continuum with a 2.2 um Al-OH dip and a 0.9 um ferric dip
        self.base = (0.15 + 0.12 * (w - 0.4)).astype("float32")
        self.dip = (
            0.08 * np.exp(-0.5 * ((w - 2.20) / 0.02) ** 2)
            + 0.05 * np.exp(-0.5 * ((w - 0.90) / 0.06) ** 2)
        ).astype("float32")

    def __getitem__(self, key: slice) -> np.ndarray:
        lines = np.arange(self.shape[0])[key]
        s = np.arange(self.shape[1])
        albedo = 0.8 + 0.4 * np.sin(lines[:, None] / 37.0) * np.cos(s[None, :] / 53.0)
        depth = 0.5 + 0.5 * np.cos(lines[:, None] / 91.0 + s[None, :] / 71.0)
        cube = albedo[..., None] * self.base - depth[..., None] * self.dip
        cube[:, :3, :] = -9999.0  # a few fill columns at the swath edge
        return cube.astype("float32")


def rotated_glt(lines: int, samples: int) -> tuple[np.ndarray, tuple[float, ...]]:
    """Nearest-neighbour GLT of a swath rotated ANGLE_DEG, on a geographic ortho grid."""
    t = math.radians(ANGLE_DEG)
    # swath pixel (l, s) -> metres east/north of the swath centre
    # east = (s - S/2) cos t + (l - L/2) sin t ; north = -(l - L/2) cos t + (s - S/2) sin t
    width = samples * math.cos(t) + lines * math.sin(t)
    height = samples * math.sin(t) + lines * math.cos(t)
    nx, ny = math.ceil(width) + 2, math.ceil(height) + 2
    dlat = PIXEL_M / 110_574.0
    dlon = PIXEL_M / (111_320.0 * math.cos(math.radians(CENTRE[1])))
    gt = (CENTRE[0] - nx / 2 * dlon, dlon, 0.0, CENTRE[1] + ny / 2 * dlat, 0.0, -dlat)
    glt = np.zeros((ny, nx, 2), dtype="int32")
    east = (np.arange(nx) + 0.5 - nx / 2)[None, :]
    for r0 in range(0, ny, 256):
        north = (ny / 2 - (np.arange(r0, min(r0 + 256, ny)) + 0.5))[:, None]
        s = east * math.cos(t) + north * math.sin(t) + samples / 2
        line = east * math.sin(t) - north * math.cos(t) + lines / 2
        si, li = np.floor(s).astype(int), np.floor(line).astype(int)
        ok = (si >= 0) & (si < samples) & (li >= 0) & (li < lines)
        glt[r0 : r0 + north.shape[0], :, 0] = np.where(ok, si + 1, 0)
        glt[r0 : r0 + north.shape[0], :, 1] = np.where(ok, li + 1, 0)
    return glt, gt


def write_granule(folder: Path, lines: int, samples: int, bands: int) -> Path:
    from geo.testing import write_emit_granule

    path = folder / f"EMIT_L2A_RFL_001_20230316T045133_2307503_{lines:04d}.nc"
    if path.is_file():
        return path
    w, fwhm, good = emit_wavelengths(bands)
    glt, gt = rotated_glt(lines, samples)
    tmp = path.with_suffix(".part")
    write_emit_granule(tmp, SyntheticCube(lines, samples, w), w, fwhm, glt, gt, good=good)
    tmp.rename(path)
    return path


class _Window:
    """``dask.array.store`` target: writes ``(band, y, x)`` blocks into a rasterio dataset."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __setitem__(self, key, value) -> None:
        from rasterio.windows import Window

        _, rows, cols = key
        window = Window(cols.start, rows.start, cols.stop - cols.start, rows.stop - rows.start)
        self.dataset.write(np.asarray(value, dtype="float32"), window=window)


def child(granule: Path, out: Path, chunk: int) -> dict:
    import dask.array as dsa
    import rasterio

    from geo.io.readers.emit import open_emit

    start = time.perf_counter()
    scene = open_emit(granule, chunk=chunk)
    spectra = scene.spectra
    assert spectra is not None
    good = spectra.isel(band=np.flatnonzero(spectra["good"].values))
    mean = good.mean("band").data[None]
    roles = scene.reflectance.data
    profile = {
        "driver": "GTiff",
        "width": spectra.sizes["x"],
        "height": spectra.sizes["y"],
        "crs": spectra.rio.crs,
        "transform": spectra.rio.transform(),
        "dtype": "float32",
        "nodata": float("nan"),
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    lock = threading.Lock()
    with (
        rasterio.open(out / "band_mean.tif", "w", count=1, **profile) as a,
        rasterio.open(out / "broadband.tif", "w", count=roles.shape[0], **profile) as b,
    ):
        dsa.store([mean, roles], [_Window(a), _Window(b)], lock=lock)
    with rasterio.open(out / "band_mean.tif") as src:
        values = src.read(1)
    return {
        "grid": [spectra.sizes["y"], spectra.sizes["x"]],
        "crs": str(spectra.rio.crs),
        "chunk": chunk,
        "chunks": int(np.prod(spectra.data.numblocks)),
        "valid_fraction": round(float(np.isfinite(values).mean()), 4),
        "band_mean_median": round(float(np.nanmedian(values)), 5),
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--lines", type=int, default=1280)
    p.add_argument("--samples", type=int, default=1242)
    p.add_argument("--bands", type=int, default=285)
    p.add_argument("--chunk", type=int, default=256)
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.folder, args.chunk)))
        return
    args.folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    granule = write_granule(args.folder, args.lines, args.samples, args.bands)
    written = time.perf_counter() - t0
    run = subprocess.run(
        [sys.executable, __file__, str(args.folder), "--chunk", str(args.chunk),
         "--child", str(granule)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if run.returncode != 0:
        sys.exit(f"child failed:\n{run.stderr}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result.update(
        granule=granule.name,
        swath=[args.lines, args.samples, args.bands],
        reflectance_gb=round(args.lines * args.samples * args.bands * 4 / 1e9, 2),
        file_gb=round(granule.stat().st_size / 1e9, 2),
        write_seconds=round(written, 1),
        limit_mb=LIMIT_MB,
        within_limit=result["peak_rss_mb"] <= LIMIT_MB,
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
