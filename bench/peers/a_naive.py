#!/usr/bin/env python3
"""Peer (a) naive: read whole bands with rasterio into numpy, divide, write.

This is the notebook approach: four full bands as float32 in memory, numpy
division, boolean mask for nodata, two full-size writes.

usage: a_naive.py SCENE.tif OUTDIR   -> OUTDIR/ironox.tif, OUTDIR/clay.tif
"""

import os
import sys

import numpy as np
import rasterio

scene, outdir = sys.argv[1], sys.argv[2]
os.makedirs(outdir, exist_ok=True)

with rasterio.open(scene) as src:
    profile = src.profile
    blue = src.read(2).astype("float32")
    red = src.read(4).astype("float32")
    swir1 = src.read(6).astype("float32")
    swir2 = src.read(7).astype("float32")

with np.errstate(divide="ignore", invalid="ignore"):
    ironox = red / blue
    clay = swir1 / swir2
ironox[(red == 0) | (blue == 0)] = 0
clay[(swir1 == 0) | (swir2 == 0)] = 0

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
for name, arr in (("ironox", ironox), ("clay", clay)):
    with rasterio.open(os.path.join(outdir, f"{name}.tif"), "w", **profile) as dst:
        dst.write(arr, 1)
