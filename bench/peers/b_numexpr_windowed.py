#!/usr/bin/env python3
"""Peer (b) numexpr + windowed block-by-block read/write with rasterio.

Iterates over the source's 512x512 blocks, reads the four needed bands of
each block as float32, evaluates both ratios with numexpr (multi-threaded,
NUMEXPR_MAX_THREADS / core count) and writes the block to both outputs.
Memory is bounded by the block size, not the scene size.

usage: b_numexpr_windowed.py SCENE.tif OUTDIR   -> OUTDIR/ironox.tif, OUTDIR/clay.tif
"""

import os
import sys

import numexpr as ne
import numpy as np
import rasterio

scene, outdir = sys.argv[1], sys.argv[2]
os.makedirs(outdir, exist_ok=True)

with rasterio.open(scene) as src:
    profile = src.profile
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
    with (
        rasterio.open(os.path.join(outdir, "ironox.tif"), "w", **profile) as d_fe,
        rasterio.open(os.path.join(outdir, "clay.tif"), "w", **profile) as d_cl,
    ):
        for _, win in src.block_windows(1):
            blue, red, swir1, swir2 = src.read((2, 4, 6, 7), window=win, out_dtype="float32")
            zero = np.float32(0)
            fe = ne.evaluate("where((red > 0) & (blue > 0), red / blue, zero)")
            cl = ne.evaluate("where((swir1 > 0) & (swir2 > 0), swir1 / swir2, zero)")
            d_fe.write(fe, 1, window=win)
            d_cl.write(cl, 1, window=win)
