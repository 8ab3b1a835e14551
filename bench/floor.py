#!/usr/bin/env python3
"""Physical-floor probes for the benchmark.

Each mode prints ``BENCH_INTERNAL {json}`` with "seconds" = the time of the
probed part only (no interpreter start-up, imports, or set-up), which
measure.py records as internal_s.

modes:
  read7     decode all 7 bands once, 512x512 block by block, one thread
  read4     decode only the 4 bands the ratios need (2, 4, 6, 7), one thread
  read7_mt  decode all 7 bands as whole-band reads with the GTiff open option
            NUM_THREADS=ALL_CPUS (GDAL >= 3.6 multi-threaded tile decoding)
  read4_mt  same for the 4 bands the ratios need
  write2    encode two float32 ratio rasters (the peers' output format:
            deflate, 512x512 tiles, one thread); the ratios are computed
            before the clock starts
  write2_mt same with the NUM_THREADS=ALL_CPUS creation option
  membw     numpy memory bandwidth: np.copyto of a 1 GiB float64 array, 5 times;
            also reports first_touch_GBps, the rate at which fresh memory is
            faulted in (np.ones of 1 GiB): on a VM whose host backs guest
            pages lazily this is far slower than the copy bandwidth
  compute   the ratio arithmetic alone on in-memory float32 bands (numpy)

Floor probes for geo's formats (added in this project's copy; see PROVENANCE.md):
  read4_product     decode B2, B4, B6, B7 from the Landsat product folder's SR_Bn.TIF
                    files (256x256 COG tiles, deflate + horizontal predictor), block by
                    block, one thread. SCENE is the product folder.
  read4_product_mt  same, whole-band reads with NUM_THREADS=ALL_CPUS
  read7_product_mt  all 7 SR bands, NUM_THREADS=ALL_CPUS (geo reads every band: its fill
                    mask is "any band is fill" and its basemap needs green)
  write2_cog        encode the two float32 reflectance ratios in geo's output format: COG,
                    DEFLATE level 1, PREDICTOR=YES (3 for float32), 512x512 blocks, overviews by
                    averaging, NaN nodata (geo/io/writers.py). The arrays are staged
                    uncompressed in /vsimem/ before the clock starts; the clock times the
                    COG copy alone. One thread (GDAL default).
  write2_cog_mt     same with NUM_THREADS=ALL_CPUS (what geo passes)
  writeall_cog_mt   everything geo's index stage writes, in its format, 2 threads: the two
                    ratios, mask_reasons (uint16, nearest overviews) and the true-colour
                    basemap (3 x uint8, 2-98 % stretch)
The write probes read the DN from SCENE (the 7-band stack).

usage: floor.py MODE [SCENE.tif | PRODUCT_DIR] [OUTDIR]
"""

import json
import os
import sys
import time

import numpy as np


def emit(**kw):
    print("BENCH_INTERNAL " + json.dumps(kw), flush=True)


def main():
    mode = sys.argv[1]
    if mode == "membw":
        n = 2**27  # 1 GiB of float64
        t0 = time.perf_counter()
        a = np.ones(n)  # first touch of fresh pages
        t_touch = time.perf_counter() - t0
        b = np.empty_like(a)
        np.copyto(b, a)  # fault pages in
        reps = 5
        t0 = time.perf_counter()
        for _ in range(reps):
            np.copyto(b, a)
        t = time.perf_counter() - t0
        gbps = reps * a.nbytes / t / 1e9
        emit(
            seconds=t,
            copy_GBps=round(gbps, 2),
            traffic_GBps=round(2 * gbps, 2),
            bytes=reps * a.nbytes,
            first_touch_s=round(t_touch, 3),
            first_touch_GBps=round(a.nbytes / t_touch / 1e9, 2),
        )
        return

    import rasterio

    scene = sys.argv[2]
    if mode in ("read4_product", "read4_product_mt", "read7_product_mt"):
        return product_read(mode, scene)
    if mode in ("write2_cog", "write2_cog_mt", "writeall_cog_mt"):
        return cog_write(mode, scene, sys.argv[3])
    with rasterio.open(scene) as src:
        npx = src.width * src.height
        if mode in ("read7", "read4"):
            idx = list(range(1, src.count + 1)) if mode == "read7" else [2, 4, 6, 7]
            t0 = time.perf_counter()
            for _, win in src.block_windows(1):
                src.read(idx, window=win)
            t = time.perf_counter() - t0
            mb = npx * len(idx) * 2 / 1e6
            emit(
                seconds=t,
                bands=len(idx),
                decoded_MB=round(mb, 1),
                decoded_MBps=round(mb / t, 1),
                file_MB=round(os.path.getsize(scene) / 1e6, 1),
            )
            return
        if mode in ("read7_mt", "read4_mt"):
            pass
        elif mode in ("write2", "write2_mt", "compute"):
            blue, red, swir1, swir2 = (src.read(i).astype("float32") for i in (2, 4, 6, 7))
            profile = src.profile
        else:
            raise SystemExit(f"unknown mode {mode}")

    if mode in ("read7_mt", "read4_mt"):
        with rasterio.open(scene, num_threads="ALL_CPUS") as src:
            idx = list(range(1, src.count + 1)) if mode == "read7_mt" else [2, 4, 6, 7]
            buf = np.empty((src.height, src.width), np.uint16)
            src.read(1, window=((0, 1), (0, 1)))  # open/metadata outside the clock
            t0 = time.perf_counter()
            for i in idx:
                src.read(i, out=buf)
            t = time.perf_counter() - t0
        mb = npx * len(idx) * 2 / 1e6
        emit(seconds=t, bands=len(idx), decoded_MB=round(mb, 1), decoded_MBps=round(mb / t, 1))
        return

    t0 = time.perf_counter()
    out = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        out["ironox"] = np.where((red > 0) & (blue > 0), red / blue, np.float32(0))
        out["clay"] = np.where((swir1 > 0) & (swir2 > 0), swir1 / swir2, np.float32(0))
    t_compute = time.perf_counter() - t0
    if mode == "compute":
        emit(seconds=t_compute, Mpx=npx / 1e6)
        return

    outdir = sys.argv[3]
    os.makedirs(outdir, exist_ok=True)
    profile.update(
        count=1,
        dtype="float32",
        nodata=0,
        compress="deflate",
        tiled=True,
        blockxsize=512,
        blockysize=512,
    )
    profile.pop("interleave", None)
    if mode == "write2_mt":
        profile["num_threads"] = "ALL_CPUS"
    t0 = time.perf_counter()
    for name, arr in out.items():
        with rasterio.open(os.path.join(outdir, f"{name}.tif"), "w", **profile) as dst:
            dst.write(arr, 1)
    t = time.perf_counter() - t0
    nbytes = sum(os.path.getsize(os.path.join(outdir, f"{n}.tif")) for n in out)
    emit(
        seconds=t,
        raw_MB=round(2 * npx * 4 / 1e6, 1),
        written_MB=round(nbytes / 1e6, 1),
        encoded_MBps=round(2 * npx * 4 / 1e6 / t, 1),
    )


def _product_band(folder, n):
    import glob

    hits = glob.glob(os.path.join(folder, f"*_SR_B{n}.TIF"))
    if len(hits) != 1:
        raise SystemExit(f"{folder}: expected one *_SR_B{n}.TIF, found {len(hits)}")
    return hits[0]


def product_read(mode, folder):
    """Decode SR bands from the product folder (one file per band)."""
    import rasterio

    bands = [1, 2, 3, 4, 5, 6, 7] if mode == "read7_product_mt" else [2, 4, 6, 7]
    paths = [_product_band(folder, n) for n in bands]
    if mode == "read4_product":
        srcs = [rasterio.open(p) for p in paths]
        npx = srcs[0].width * srcs[0].height
        t0 = time.perf_counter()
        for _, win in srcs[0].block_windows(1):
            for src in srcs:
                src.read(1, window=win)
        t = time.perf_counter() - t0
    else:
        srcs = [rasterio.open(p, num_threads="ALL_CPUS") for p in paths]
        npx = srcs[0].width * srcs[0].height
        buf = np.empty((srcs[0].height, srcs[0].width), np.uint16)
        for src in srcs:
            src.read(1, window=((0, 1), (0, 1)))  # open/metadata outside the clock
        t0 = time.perf_counter()
        for src in srcs:
            src.read(1, out=buf)
        t = time.perf_counter() - t0
    file_mb = sum(os.path.getsize(p) for p in paths) / 1e6
    for src in srcs:
        src.close()
    mb = npx * len(bands) * 2 / 1e6
    emit(
        seconds=t,
        bands=len(bands),
        decoded_MB=round(mb, 1),
        decoded_MBps=round(mb / t, 1),
        file_MB=round(file_mb, 1),
    )


def cog_write(mode, scene, outdir):
    """Encode geo's outputs (COG, deflate, predictor, 512 blocks, overviews) from /vsimem/."""
    import rasterio
    import rasterio.shutil

    with rasterio.open(scene) as src:
        dn = {b: src.read(b) for b in range(1, 8)}  # geo's fill mask: any band is fill
        base = dict(
            driver="GTiff",
            width=src.width,
            height=src.height,
            crs=src.crs,
            transform=src.transform,
            tiled=True,
            blockxsize=512,
            blockysize=512,
        )
    need = (2, 3, 4, 6, 7) if mode == "writeall_cog_mt" else (2, 4, 6, 7)
    refl = {
        b: np.where(
            dn[b] > 0,
            dn[b].astype(np.float32) * np.float32(2.75e-5) + np.float32(-0.2),
            np.float32(np.nan),
        )
        for b in need
    }
    fill = np.zeros(dn[2].shape, bool)
    for d in dn.values():
        fill |= d == 0
    layers = {}  # name -> (array (bands, h, w), nodata, categorical)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, (a, b) in {"iron_oxide": (4, 2), "clay_hydroxyl": (6, 7)}.items():
            r = np.where(~fill & (refl[b] > 0.01), refl[a] / refl[b], np.float32(np.nan))
            layers[name] = (r.astype(np.float32)[None], float("nan"), False)
    if mode == "writeall_cog_mt":
        layers["mask_reasons"] = (fill.astype(np.uint16)[None], None, True)
        rgb = []
        for b in (4, 3, 2):
            x = refl[b][::8, ::8]
            lo, hi = np.nanpercentile(x, [2, 98])
            v = 1 + 254 * np.clip((refl[b] - lo) / max(hi - lo, 1e-6), 0, 1)
            rgb.append(np.where(fill, 0, np.rint(v)).astype(np.uint8))
        layers["true_colour"] = (np.stack(rgb), 0, False)
    del dn, refl
    staged = {}
    for name, (arr, nodata, _cat) in layers.items():
        path = f"/vsimem/{name}.tif"
        with rasterio.open(
            path, "w", count=arr.shape[0], dtype=arr.dtype.name, nodata=nodata, **base
        ) as dst:
            dst.write(arr)
        staged[name] = path
    raw = sum(a.nbytes for a, _, _ in layers.values())
    layers.clear()
    os.makedirs(outdir, exist_ok=True)
    extra = {"NUM_THREADS": "ALL_CPUS"} if mode.endswith("_mt") else {}
    t0 = time.perf_counter()
    for name, path in staged.items():
        categorical = name == "mask_reasons"
        rasterio.shutil.copy(
            path,
            os.path.join(outdir, f"{name}.tif"),
            driver="COG",
            COMPRESS="DEFLATE",
            LEVEL=1,  # as geo/io/writers.py writes them
            PREDICTOR="YES",
            BLOCKSIZE=512,
            OVERVIEW_RESAMPLING="NEAREST" if categorical else "AVERAGE",
            **extra,
        )
    t = time.perf_counter() - t0
    written = sum(os.path.getsize(os.path.join(outdir, f"{n}.tif")) for n in staged)
    for path in staged.values():
        rasterio.shutil.delete(path)
    emit(
        seconds=t,
        layers=len(staged),
        raw_MB=round(raw / 1e6, 1),
        written_MB=round(written / 1e6, 1),
        encoded_MBps=round(raw / 1e6 / t, 1),
    )


if __name__ == "__main__":
    main()
