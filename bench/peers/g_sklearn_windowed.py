#!/usr/bin/env python3
"""Peer (g) plain scikit-learn over rasterio windows.

Same training as peer (f) (same pixels, same RandomForestClassifier
parameters and seed, features as float32 band values in band order 1-7),
then loops over the scene's 512x512 blocks, predicts only pixels that are
valid in all 7 bands, and writes uint8 classes (nodata 255) to
OUTDIR/classes.tif.

usage: g_sklearn_windowed.py SCENE.tif TRAIN.csv OUTDIR
"""

import os
import sys

import numpy as np
import rasterio
from sklearn.ensemble import RandomForestClassifier

scene, train_csv, outdir = sys.argv[1:4]
os.makedirs(outdir, exist_ok=True)

table = np.loadtxt(train_csv, delimiter=",", skiprows=1)
xys, labels = table[:, :2], table[:, 4].astype(int)

with rasterio.open(scene) as src:
    X = np.array(list(src.sample(xys)), dtype=np.float32)
    rf = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=42)
    rf.fit(X, labels)

    profile = src.profile
    profile.update(
        count=1,
        dtype="uint8",
        nodata=255,
        compress="deflate",
        tiled=True,
        blockxsize=512,
        blockysize=512,
    )
    profile.pop("interleave", None)
    with rasterio.open(os.path.join(outdir, "classes.tif"), "w", **profile) as dst:
        for _, win in src.block_windows(1):
            block = src.read(window=win)  # (7, h, w) uint16
            flat = block.reshape(block.shape[0], -1).T
            valid = (flat != 0).all(axis=1)
            pred = np.full(flat.shape[0], 255, np.uint8)
            if valid.any():
                pred[valid] = rf.predict(flat[valid].astype(np.float32))
            dst.write(pred.reshape(win.height, win.width), 1, window=win)
