#!/usr/bin/env python3
"""Write a deterministic synthetic Landsat-8/9 OLI Collection-2 Level-2 style scene.

The scene is the benchmark input for every peer in ``bench/peers``.

* 7 reflective bands in OLI order: coastal (B1), blue (B2), green (B3),
  red (B4), nir (B5), swir1 (B6), swir2 (B7).
* uint16 digital numbers on the Collection-2 surface-reflectance scale
  (reflectance = DN * 2.75e-5 - 0.2), fill value 0 = nodata.
* Full size is 7801 x 7681 pixels (width x height) at 30 m, EPSG:32635
  (UTM 35N with negative northings, as USGS does for southern-hemisphere
  scenes; the footprint lies over eastern Botswana).
* Valid data is a rotated rectangle (~62 % of the frame, like a WRS-2
  scene) and each band's footprint is shifted a few pixels along track, so
  band edges do not coincide (that is why "nodata where either band is 0"
  matters).
* Pixel values are spatially structured: multi-octave value-noise fields
  drive a linear mixture of soil / savanna vegetation / rock / bright pan /
  water end-members, plus fine soil texture and per-pixel sensor noise.
  Alteration systems add ferric-iron zones (red up, blue down: red/blue
  ratio roughly x2) and argillic clay zones (2.2 um Al-OH absorption:
  swir1/swir2 ratio roughly x1.45), mostly nested (iron core with clay
  halo) plus isolated "false positive" ferricrete and clay pans.
* Everything is seeded and generated strip by strip, so the output is
  byte-for-byte deterministic for a given (seed, size) and memory stays at a
  few hundred MB even for the full scene.

Besides the raster it writes ``<stem>_train.csv`` (5,000 labelled pixels by
default: x, y map coordinates of the pixel centre, row, col, label with
0 = background, 1 = iron oxide, 2 = clay, 3 = iron oxide + clay) and
``<stem>.json`` (metadata, class counts, generation time).

With ``--layout landsat`` or ``both`` it also writes, from the same pixels, a Landsat 8
Collection 2 Level-2 product folder (``<bundle>/LC08_L2SP_171075_20230601_20230607_02_T1/``:
SR_B1-B7, QA_PIXEL, QA_RADSAT as COGs like USGS delivers them, and the ``_MTL.txt``) plus
``licences.gpkg``, ``faults.gpkg`` and ``occurrences.gpkg`` in ``<bundle>/`` (default
``<stem>_landsat/``); see landsat_product.py. ``both`` writes the stack and the product in
one pass, so they hold identical DN.

Vendored from the course's shared peer harness (../shared/bench/make_scene.py); the stack
output is unchanged (byte-identical), the product layout and vectors are new here
(see PROVENANCE.md).

Examples::

    python make_scene.py                                  # full size stack
    python make_scene.py --size 2048 --out ~/.cache/geo-bench/data/scene_2048.tif
    python make_scene.py --size 2048 --layout both --out ~/.cache/geo-bench/data/scene_2048.tif
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import sys
import time

import landsat_product
import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

FULL_W, FULL_H = 7801, 7681
BAND_NAMES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
SCALE, OFFSET = 2.75e-5, -0.2  # Collection-2 L2 SR scaling
DN_MAX = 65455  # top of the C2 SR valid range
LANDSAT_ID = "LC08_L2SP_171075_20230601_20230607_02_T1"
CRS = "EPSG:32635"
PIXEL = 30.0
# Upper-left corner (pixel edge) in UTM 35N metres; negative northing as USGS
# writes southern-hemisphere scenes in the northern-hemisphere zone.
ULX, ULY = 363285.0, -2114985.0
ROT_DEG = 12.6  # WRS-2 descending-node scene tilt
VALID_FRAC_W, VALID_FRAC_H = 0.79, 0.78  # valid rectangle / frame (before rotation)
BAND_SHIFT_PX = [-3, -2, -1, 0, 1, 2, 3]  # along-track shift of each band footprint

# Surface reflectance end-members, OLI bands 1-7.
EM = {
    "soil": [0.080, 0.100, 0.150, 0.230, 0.300, 0.400, 0.330],  # Kalahari sand
    "veg": [0.030, 0.040, 0.070, 0.050, 0.330, 0.190, 0.090],  # savanna
    "rock": [0.060, 0.070, 0.090, 0.110, 0.150, 0.180, 0.160],  # greenstone
    "pan": [0.300, 0.340, 0.400, 0.450, 0.480, 0.500, 0.420],  # calcrete/salt pan
    "water": [0.060, 0.050, 0.050, 0.030, 0.015, 0.008, 0.005],
}
# Multiplicative spectral signature at full zone strength.
IRON_MULT = np.array([0.65, 0.62, 0.85, 1.25, 1.10, 1.00, 1.00], np.float32)
CLAY_MULT = np.array([1.00, 1.00, 1.00, 1.00, 1.00, 1.04, 0.72], np.float32)
NOISE_SIGMA = 0.0025  # per-pixel sensor noise, reflectance units


def parse_size(text: str) -> tuple[int, int]:
    if text in ("full", "landsat"):
        return FULL_W, FULL_H
    if "x" in text.lower():
        w, h = text.lower().split("x")
        return int(w), int(h)
    n = int(text)
    return n, n


def _smooth(t):
    return t * t * (3.0 - 2.0 * t)


class Field:
    """Multi-octave value noise evaluated on row strips (deterministic)."""

    def __init__(
        self,
        rng: np.random.Generator,
        width: int,
        height: int,
        cells: list[float],
        amps: list[float],
    ):
        self.width, self.height = width, height
        self.octaves = []
        norm = math.sqrt(sum(a * a for a in amps))
        for cell, amp in zip(cells, amps, strict=False):
            cell = max(float(cell), 2.0)
            gh = math.ceil(height / cell) + 3
            gw = math.ceil(width / cell) + 3
            grid = rng.standard_normal((gh, gw)).astype(np.float32)
            self.octaves.append((cell, amp / norm, grid))

    def strip(self, r0: int, r1: int) -> np.ndarray:
        out = np.zeros((r1 - r0, self.width), np.float32)
        for cell, amp, grid in self.octaves:
            ys = (np.arange(r0, r1, dtype=np.float64) + 0.5) / cell
            xs = (np.arange(self.width, dtype=np.float64) + 0.5) / cell
            y0 = np.floor(ys).astype(np.int64)
            x0 = np.floor(xs).astype(np.int64)
            fy = _smooth(ys - y0).astype(np.float32)[:, None]
            fx = _smooth(xs - x0).astype(np.float32)[None, :]
            ylo = int(y0.min())
            sub = grid[ylo : int(y0.max()) + 2]
            gx = sub[:, x0] * (1.0 - fx) + sub[:, x0 + 1] * fx
            yi = y0 - ylo
            out += amp * (gx[yi] * (1.0 - fy) + gx[yi + 1] * fy)
        return out


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def make_zones(
    rng: np.random.Generator,
    width: int,
    height: int,
    cx: float,
    cy: float,
    half_u: float,
    half_v: float,
    theta: float,
):
    """Alteration zones as (kind, cx, cy, a, b, angle, strength) ellipses, in pixels."""
    s = min(width, height) / FULL_H  # scale feature sizes with the scene
    s = max(s, 0.12)
    zones = []
    cos_t, sin_t = math.cos(theta), math.sin(theta)

    def random_centre(margin=0.9):
        u = rng.uniform(-half_u * margin, half_u * margin)
        v = rng.uniform(-half_v * margin, half_v * margin)
        return cx + u * cos_t - v * sin_t, cy + u * sin_t + v * cos_t

    # 14 alteration systems: iron-oxide core with a larger clay halo.
    for _ in range(14):
        x, y = random_centre()
        a = rng.uniform(120, 420) * s
        b = a * rng.uniform(0.35, 0.8)
        ang = rng.uniform(0, math.pi)
        zones.append(("iron", x, y, a, b, ang, rng.uniform(0.7, 1.0)))
        dx, dy = rng.normal(0, 0.3 * a, 2)
        zones.append(
            (
                "clay",
                x + dx,
                y + dy,
                a * rng.uniform(1.5, 2.4),
                b * rng.uniform(1.6, 2.6),
                ang + rng.normal(0, 0.3),
                rng.uniform(0.6, 1.0),
            )
        )
    # isolated ferricrete (iron only) and clay pans (clay only)
    for kind, n in (("iron", 10), ("clay", 10)):
        for _ in range(n):
            x, y = random_centre()
            a = rng.uniform(60, 300) * s
            zones.append(
                (
                    kind,
                    x,
                    y,
                    a,
                    a * rng.uniform(0.3, 0.9),
                    rng.uniform(0, math.pi),
                    rng.uniform(0.5, 0.9),
                )
            )
    return zones


def zone_strength(zones, kind, r0, r1, width, edge):
    """Max membership (0..1) of the zones of one kind over a strip."""
    out = np.zeros((r1 - r0, width), np.float32)
    for k, x, y, a, b, ang, strength in zones:
        if k != kind:
            continue
        ext = max(a, b) * 1.5
        ylo, yhi = max(int(y - ext), r0), min(int(y + ext) + 1, r1)
        xlo, xhi = max(int(x - ext), 0), min(int(x + ext) + 1, width)
        if ylo >= yhi or xlo >= xhi:
            continue
        yy = np.arange(ylo, yhi, dtype=np.float32)[:, None] + 0.5 - y
        xx = np.arange(xlo, xhi, dtype=np.float32)[None, :] + 0.5 - x
        ca, sa = math.cos(ang), math.sin(ang)
        u = (xx * ca + yy * sa) / a
        v = (-xx * sa + yy * ca) / b
        d = np.sqrt(u * u + v * v)
        d = d * (1.0 + 0.35 * edge[ylo - r0 : yhi - r0, xlo:xhi])  # irregular edges
        m = _smooth(np.clip((1.0 - d) / 0.4, 0.0, 1.0)) * strength
        view = out[ylo - r0 : yhi - r0, xlo:xhi]
        np.maximum(view, m, out=view)
    return out


def generate(
    width, height, seed, out, layout, bundle_dir, n_train, strip_rows, interleave, threads
):
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    big = min(width, height) / FULL_H
    big = max(big, 0.12)

    def cells(coarse, fine):
        # coarse octaves scale with the scene, fine texture stays in pixels
        return [c * big for c in coarse] + list(fine)

    f_bright = Field(rng, width, height, cells([3000, 900, 300], [60]), [1, 0.6, 0.4, 0.2])
    f_veg = Field(rng, width, height, cells([2000, 700, 250, 90], [30]), [1, 0.7, 0.5, 0.35, 0.2])
    f_rock = Field(rng, width, height, cells([1500, 500, 160, 60], [20]), [1, 0.7, 0.6, 0.4, 0.25])
    f_pan = Field(rng, width, height, cells([1200, 400, 140], [40]), [1, 0.6, 0.35, 0.2])
    f_water = Field(rng, width, height, cells([900, 300, 100], []), [1, 0.5, 0.25])
    f_tex = Field(rng, width, height, [12.0, 4.0], [1.0, 0.6])
    f_edge = Field(rng, width, height, [48.0, 12.0], [1.0, 0.5])

    cx, cy = width / 2.0, height / 2.0
    theta = math.radians(ROT_DEG)
    half_u, half_v = VALID_FRAC_W * width / 2.0, VALID_FRAC_H * height / 2.0
    zones = make_zones(rng, width, height, cx, cy, half_u, half_v, theta)

    em = {k: np.array(v, np.float32)[:, None, None] for k, v in EM.items()}

    profile = dict(
        driver="GTiff",
        dtype="uint16",
        width=width,
        height=height,
        crs=CRS,
        transform=from_origin(ULX, ULY, PIXEL, PIXEL),
        nodata=0,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="deflate",
        num_threads=str(threads),
    )
    dsts = []
    if layout in ("stack", "both"):
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        dsts.append(("stack", rasterio.open(out, "w", count=7, interleave=interleave, **profile)))
    product = None
    if layout in ("landsat", "both"):
        # The cloud field has its own generator, so the stack's random stream (and bytes)
        # stay those of the shared harness.
        crng = np.random.default_rng([seed, 0xC10D])
        f_cloud = Field(crng, width, height, cells([700, 250], [40]), [1, 0.5, 0.25])
        product = landsat_product.ProductWriter(
            os.path.join(bundle_dir, LANDSAT_ID),
            LANDSAT_ID,
            width,
            height,
            CRS,
            profile["transform"],
            threads,
            f_cloud,
        )
    for _key, dst in dsts:
        for i, name in enumerate(BAND_NAMES):
            dst.set_band_description(i + 1, f"B{i + 1} {name}")
        dst.update_tags(
            LANDSAT_PRODUCT_ID=LANDSAT_ID,
            SYNTHETIC="1",
            SEED=str(seed),
            SR_SCALE=str(SCALE),
            SR_OFFSET=str(OFFSET),
        )

    cand = {c: [] for c in range(4)}
    keep_p = {0: 0.002, 1: 0.05, 2: 0.05, 3: 0.05}
    class_px = np.zeros(4, np.int64)
    valid_all_px = 0
    valid_any_px = 0
    digest = hashlib.sha256()

    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5 - cx
    for si, r0 in enumerate(range(0, height, strip_rows)):
        r1 = min(r0 + strip_rows, height)
        h = r1 - r0
        ys = np.arange(r0, r1, dtype=np.float32)[:, None] + 0.5 - cy
        u = xs * math.cos(theta) + ys * math.sin(theta)  # across track
        v = -xs * math.sin(theta) + ys * math.cos(theta)  # along track
        inside_u = np.abs(u) <= half_u
        del u

        veg = 0.75 * sigmoid(2.2 * (f_veg.strip(r0, r1) - 0.5))
        rock = 0.85 * sigmoid(3.5 * (f_rock.strip(r0, r1) - 0.9))
        pan = 0.9 * sigmoid(7.0 * (f_pan.strip(r0, r1) - 1.7))
        water = _smooth(np.clip((f_water.strip(r0, r1) - 1.9) / 0.25, 0.0, 1.0))
        tot = veg + rock + pan
        over = np.maximum(tot, 1.0)
        veg /= over
        rock /= over
        pan /= over
        soil = 1.0 - (veg + rock + pan)
        refl = (
            soil[None] * em["soil"]
            + veg[None] * em["veg"]
            + rock[None] * em["rock"]
            + pan[None] * em["pan"]
        )
        del soil, veg, rock, pan, tot, over
        bright = 1.0 + 0.08 * f_bright.strip(r0, r1) + 0.03 * f_tex.strip(r0, r1)
        refl *= bright[None]
        del bright

        edge = f_edge.strip(r0, r1)
        s_fe = zone_strength(zones, "iron", r0, r1, width, edge)
        s_cl = zone_strength(zones, "clay", r0, r1, width, edge)
        del edge
        s_fe *= 1.0 - water
        s_cl *= 1.0 - water
        refl *= 1.0 + s_fe[None] * (IRON_MULT[:, None, None] - 1.0)
        refl *= 1.0 + s_cl[None] * (CLAY_MULT[:, None, None] - 1.0)
        refl = refl * (1.0 - water[None]) + water[None] * em["water"]

        nrng = np.random.default_rng([seed, width, height, strip_rows, si, 0xB0])
        refl += nrng.standard_normal(refl.shape, dtype=np.float32) * NOISE_SIGMA
        dn = np.rint((refl - OFFSET) / SCALE)
        del refl
        np.clip(dn, 1, DN_MAX, out=dn)
        dn = dn.astype(np.uint16)

        valid_all = np.ones((h, width), bool)
        valid_any = np.zeros((h, width), bool)
        for b in range(7):
            vb = inside_u & (np.abs(v - BAND_SHIFT_PX[b]) <= half_v)
            dn[b][~vb] = 0
            valid_all &= vb
            valid_any |= vb
        valid_all_px += int(valid_all.sum())
        valid_any_px += int(valid_any.sum())
        digest.update(dn.tobytes())

        # ground truth for the training sample (clear zones only)
        cls = np.full((h, width), -1, np.int8)
        clear_bg = (s_fe < 0.05) & (s_cl < 0.05) & (water < 0.01)
        cls[clear_bg] = 0
        cls[(s_fe > 0.5) & (s_cl < 0.2)] = 1
        cls[(s_cl > 0.5) & (s_fe < 0.2)] = 2
        cls[(s_fe > 0.5) & (s_cl > 0.5)] = 3
        cls[~valid_all] = -1
        srng = np.random.default_rng([seed, width, height, strip_rows, si, 0x5A])
        for c in range(4):
            rr, cc = np.nonzero(cls == c)
            class_px[c] += rr.size
            if rr.size:
                keep = srng.random(rr.size) < keep_p[c]
                cand[c].append(np.stack([rr[keep] + r0, cc[keep]], axis=1))

        win = Window(0, r0, width, h)
        for _key, dst in dsts:
            dst.write(dn, window=win)
        if product is not None:
            product.write_strip(r0, dn, valid_all, water)
        del dn, cls, s_fe, s_cl, water, valid_all, valid_any
        print(
            f"\r  strip {r1}/{height} rows  {time.perf_counter() - t0:6.1f}s",
            end="",
            file=sys.stderr,
            flush=True,
        )
    print(file=sys.stderr)
    for _, dst in dsts:
        dst.close()
    product_files, vector_files = {}, {}
    if product is not None:
        print("  writing the product's COGs and MTL", file=sys.stderr, flush=True)
        product_files = product.finish()
        vector_files = landsat_product.write_vectors(
            bundle_dir,
            seed=seed,
            width=width,
            height=height,
            transform=profile["transform"],
            crs=CRS,
            cx=cx,
            cy=cy,
            half_u=half_u,
            half_v=half_v,
            theta=theta,
            zones=zones,
        )

    # 5,000 labelled pixels: 40 % background, 20 % each alteration class
    prng = np.random.default_rng([seed, 0x7A1])
    want = {0: int(n_train * 0.4)}
    rest = n_train - want[0]
    want.update({1: rest // 3, 2: rest // 3, 3: rest - 2 * (rest // 3)})
    rows = []
    for c in range(4):
        pool = np.concatenate(cand[c]) if cand[c] else np.zeros((0, 2), np.int64)
        take = min(want[c], len(pool))
        idx = prng.choice(len(pool), size=take, replace=False) if take else []
        for r, cidx in pool[idx]:
            rows.append((int(r), int(cidx), c))
    rows.sort()
    train_path = (
        os.path.splitext(out if layout != "landsat" else os.path.join(bundle_dir, LANDSAT_ID))[0]
        + "_train.csv"
    )
    with open(train_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["x", "y", "row", "col", "label"])
        for r, cidx, c in rows:
            w.writerow([ULX + (cidx + 0.5) * PIXEL, ULY - (r + 0.5) * PIXEL, r, cidx, c])

    elapsed = time.perf_counter() - t0
    meta = dict(
        width=width,
        height=height,
        bands=BAND_NAMES,
        seed=seed,
        crs=CRS,
        transform=[ULX, PIXEL, 0, ULY, 0, -PIXEL],
        dtype="uint16",
        nodata=0,
        interleave=interleave,
        layout=layout,
        stack=out if layout != "landsat" else None,
        product_dir=os.path.join(bundle_dir, LANDSAT_ID) if product else None,
        product_files=product_files,
        vectors=vector_files,
        qa_counts=product.counts if product else None,
        cloud_cover=product.cloud_cover() if product else None,
        train_csv=train_path,
        n_train=len(rows),
        train_counts={c: sum(1 for r in rows if r[2] == c) for c in range(4)},
        truth_class_pixels={c: int(class_px[c]) for c in range(4)},
        valid_all_bands_px=valid_all_px,
        valid_any_band_px=valid_any_px,
        valid_fraction=valid_all_px / (width * height),
        dn_sha256=digest.hexdigest(),
        generation_s=round(elapsed, 2),
        file_bytes={
            p: os.path.getsize(p)
            for p in ([out] if layout != "landsat" else [])
            + list(product_files.values())
            + list(vector_files.values())
        },
        file_sha256={
            p: _sha256(p)
            for p in ([out] if layout != "landsat" else [])
            + list(product_files.values())
            + list(vector_files.values())
            + [train_path]
        },
    )
    meta_path = os.path.splitext(train_path)[0].removesuffix("_train") + ".json"
    with open(meta_path, "w") as fh:
        json.dump(meta, fh, indent=1)
    return meta


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--size", default="full", help="'full' (7801x7681), N (NxN) or WxH, e.g. 2048 or 4096x2048"
    )
    ap.add_argument(
        "--out",
        default=None,
        help="multi-band GeoTIFF path (default ~/.cache/geo-bench/data/scene_<size>.tif)",
    )
    ap.add_argument(
        "--layout",
        choices=["stack", "landsat", "both"],
        default="stack",
        help="stack: one 7-band file; landsat: a Landsat 8 C2 L2 product folder "
        "(SR_B1-B7, QA_PIXEL, QA_RADSAT, MTL) plus licences/faults/"
        "occurrences layers; both: the two from the same pixels",
    )
    ap.add_argument(
        "--landsat-dir",
        default=None,
        help="bundle folder for --layout landsat/both: it receives the product "
        "folder and the .gpkg layers (default <out stem>_landsat/)",
    )
    ap.add_argument(
        "--interleave",
        choices=["band", "pixel"],
        default="band",
        help="interleave of the 7-band stack (default band: each band's "
        "tiles are separate, like Landsat's per-band files)",
    )
    ap.add_argument("--seed", type=int, default=20230601)
    ap.add_argument("--n-train", type=int, default=5000)
    ap.add_argument("--strip-rows", type=int, default=512)
    ap.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count() or 1,
        help="GDAL deflate threads while writing",
    )
    ap.add_argument("--force", action="store_true", help="overwrite existing outputs")
    args = ap.parse_args(argv)

    width, height = parse_size(args.size)
    tag = "full" if (width, height) == (FULL_W, FULL_H) else f"{width}x{height}"
    out = args.out or os.path.expanduser(f"~/.cache/geo-bench/data/scene_{tag}.tif")
    landsat_dir = args.landsat_dir or os.path.splitext(out)[0] + "_landsat"
    targets = ([out] if args.layout != "landsat" else []) + (
        [
            os.path.join(landsat_dir, LANDSAT_ID, f"{LANDSAT_ID}_MTL.txt"),
            os.path.join(landsat_dir, "occurrences.gpkg"),
        ]
        if args.layout != "stack"
        else []
    )
    if all(os.path.exists(t) for t in targets) and not args.force:
        print(f"{', '.join(targets)} exist(s) (use --force to rewrite)", file=sys.stderr)
        return 0
    print(
        f"generating {width}x{height} seed={args.seed} -> {out if args.layout != 'landsat' else landsat_dir}",
        file=sys.stderr,
    )
    meta = generate(
        width,
        height,
        args.seed,
        out,
        args.layout,
        landsat_dir,
        args.n_train,
        args.strip_rows,
        args.interleave,
        args.threads,
    )
    print(
        json.dumps(
            {
                k: meta[k]
                for k in (
                    "width",
                    "height",
                    "valid_fraction",
                    "train_counts",
                    "cloud_cover",
                    "generation_s",
                    "file_bytes",
                )
            },
            indent=1,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
