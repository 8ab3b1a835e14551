#!/usr/bin/env python3
"""Peer (f) pyspatialml: Raster.extract_xy for training, Raster.predict for the scene.

Trains RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=42) on
the labelled pixels in TRAIN.csv (x, y, row, col, label), sampled from the
scene's 7 bands, then predicts every pixel with pyspatialml's default
windowing (Raster.block_shape, 256 x 256) and writes uint8 classes
(nodata 255) to OUTDIR/classes.tif.

usage: f_pyspatialml.py SCENE.tif TRAIN.csv OUTDIR
"""

import os
import sys

import numpy as np
from pyspatialml import Raster
from sklearn.ensemble import RandomForestClassifier

scene, train_csv, outdir = sys.argv[1:4]
os.makedirs(outdir, exist_ok=True)

table = np.loadtxt(train_csv, delimiter=",", skiprows=1)
xys, labels = table[:, :2], table[:, 4].astype(int)

stack = Raster(scene)
X = stack.extract_xy(xys, return_array=True)
rf = RandomForestClassifier(n_estimators=100, n_jobs=2, random_state=42)
rf.fit(np.ma.getdata(X), labels)

stack.predict(
    rf,
    file_path=os.path.join(outdir, "classes.tif"),
    dtype="uint8",
    nodata=255,
    compress="deflate",
    tiled=True,
    blockxsize=512,
    blockysize=512,
)
