#!/usr/bin/env python3
"""Write a deterministic synthetic Sentinel-2 L2A SAFE product of full tile size.

    python bench/make_s2_tile.py OUT_DIR [--size 10980] [--seed 0] [--no-extra-files]

``OUT_DIR/<name>.SAFE`` gets the layout of an ESA L2A product at processing baseline 05.09
(``S2B_MSIL2A_20230601T080609_N0509_R078_T35KMT_20230601T104125.SAFE``)::

    MTD_MSIL2A.xml                     BOA_QUANTIFICATION_VALUE 10000, BOA_ADD_OFFSET -1000
    GRANULE/L2A_T35KMT_A032541_20230601T082434/
        MTD_TL.xml                     tile geocoding (EPSG:32735, sizes per resolution)
        QI_DATA/
        IMG_DATA/R10m/T35KMT_20230601T080609_B02_10m.jp2   B02 B03 B04 B08
                 R20m/..._B05_20m.jp2                      B05 B06 B07 B8A B11 B12 SCL
                      (+ B01..B04 at 20 m, as ESA ships them)
                 R60m/..._B01_60m.jp2                      B01 B09
                      (+ B02..B8A, B11, B12, SCL at 60 m, as ESA ships them)

``--size`` is the 10 m edge in pixels (10980 for a real tile; a multiple of 6 so the 20 m and
60 m grids share the tile extent). Bands are lossless JPEG 2000 (JP2OpenJPEG, 1024 x 1024
tiles), uint16 DN = reflectance x 10000 + 1000, DN 0 = no data; SCL is uint8 at 20 m.

Pixels: reflectance is modelled at 10 m for all 12 bands and averaged to each band's native
grid (2 x 2 for 20 m, 6 x 6 for 60 m), plus sensor noise. The surface is a mixture of soil, sand,
dark (varnished) rock and dry grass driven by smooth multi-octave value noise, with a little
green vegetation and a few water bodies. Alteration systems (an iron-oxide core in a larger
clay halo) and isolated ferricrete / clay pans blend mineral spectra in; their number grows
with the tile's area (features keep their size in metres). Clouds, their shadows and thin
cirrus alter the reflectance and give the SCL its classes (0, 2, 3, 4, 5, 6, 7, 8, 9, 10);
a slanted swath edge leaves a no-data wedge at the lower-left corner. Spectra are
band-averaged USGS / earthlib records from geo/data/library_sentinel2_msi.csv (copied here).

Everything is seeded and generated in strips of 10 m rows: the output is byte-identical for a
given (size, seed), and the script stays under 0.6 GB RSS at full size (about 3 min). Strips
go to striped GeoTIFFs in a scratch folder and are then copied to JPEG 2000 one file at a
time. The product is built in ``OUT_DIR/.partial`` and moved into place when complete, with
``OUT_DIR/s2_tile.json`` (parameters, SCL class fractions, file sizes) written last.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import rasterio
from rasterio.shutil import copy as rio_copy
from rasterio.transform import from_origin
from rasterio.windows import Window

FULL = 10980
CRS = "EPSG:32735"  # WGS 84 / UTM 35S
CS_NAME = "WGS84 / UTM zone 35S"
X0, Y0 = 399960.0, 7500040.0  # upper-left corner, metres (eastern Botswana)
TILE = "T35KMT"
SENSING = "20230601T080609"
SAFE_NAME = f"S2B_MSIL2A_{SENSING}_N0509_R078_{TILE}_20230601T104125.SAFE"
GRANULE = f"L2A_{TILE}_A032541_20230601T082434"
BASELINE = "05.09"
QUANTIFICATION = 10000
BOA_OFFSET = -1000
STRIP = 120  # 10 m rows per strip: a multiple of 6 (whole 60 m rows)

# Band code, native resolution (m), bandId in the product XML. B10 is L1C only.
BANDS = [
    ("B01", 60),
    ("B02", 10),
    ("B03", 10),
    ("B04", 10),
    ("B05", 20),
    ("B06", 20),
    ("B07", 20),
    ("B08", 10),
    ("B8A", 20),
    ("B09", 60),
    ("B11", 20),
    ("B12", 20),
]
BAND_ID = {
    "B01": 0, "B02": 1, "B03": 2, "B04": 3, "B05": 4, "B06": 5, "B07": 6,
    "B08": 7, "B8A": 8, "B09": 9, "B10": 10, "B11": 11, "B12": 12,
}  # fmt: skip
PHYSICAL = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
PHYSICAL_RES = [60, 10, 10, 10, 20, 20, 20, 10, 20, 60, 60, 20, 20]
# Non-native copies a real L2A product carries (never read by geo; they must not be picked).
EXTRA = {20: ["B01", "B02", "B03", "B04"], 60: ["B02", "B03", "B04", "B05", "B06", "B07", "B8A",
                                                "B11", "B12", "SCL"]}  # fmt: skip

# Band-averaged reflectance, bands in BANDS order (B01..B09, B8A placed as in BANDS, B11, B12),
# from geo/data/library_sentinel2_msi.csv (USGS splib06 / earthlib records named there).
SPECTRA = {
    "soil": [0.08453, 0.10209, 0.13932, 0.18254, 0.19723, 0.21209, 0.22804, 0.24204, 0.25022,
             0.26785, 0.39413, 0.41060],
    "sand": [0.16548, 0.19260, 0.24418, 0.27883, 0.28535, 0.29234, 0.29928, 0.30169, 0.30224,
             0.30178, 0.37757, 0.37319],
    "varnish": [0.05182, 0.05366, 0.05612, 0.06207, 0.06453, 0.06839, 0.07121, 0.07633, 0.07867,
                0.08836, 0.19282, 0.22712],
    "dry_grass": [0.08255, 0.12178, 0.16932, 0.23285, 0.25672, 0.27587, 0.29234, 0.30673,
                  0.31521, 0.32981, 0.33092, 0.23475],
    "green_veg": [0.03257, 0.04293, 0.09086, 0.04103, 0.12020, 0.50072, 0.68839, 0.70118,
                  0.70442, 0.68444, 0.31747, 0.15603],
    "water": [0.02961, 0.03251, 0.03799, 0.02457, 0.02372, 0.02079, 0.01989, 0.01982, 0.01977,
              0.01976, 0.01864, 0.01631],
    "hematite_qz": [0.20559, 0.20796, 0.26105, 0.58681, 0.65053, 0.69162, 0.67561, 0.65285,
                    0.64309, 0.69766, 0.90426, 0.90204],
    "goethite_qz": [0.31933, 0.37427, 0.55299, 0.65365, 0.67951, 0.70818, 0.71455, 0.69782,
                    0.68724, 0.68640, 0.85060, 0.85510],
    "jarosite": [0.16116, 0.31467, 0.49525, 0.67048, 0.74261, 0.70867, 0.60544, 0.50938, 0.45657,
                 0.43164, 0.79656, 0.51592],
    "kaolinite": [0.62730, 0.67044, 0.71385, 0.72689, 0.72999, 0.73410, 0.74181, 0.74312,
                  0.74252, 0.73161, 0.78006, 0.34497],
    "alunite": [0.76941, 0.80838, 0.85890, 0.93858, 0.95561, 0.96320, 0.96329, 0.96344, 0.96385,
                0.97089, 0.89142, 0.63713],
    "montmorillonite": [0.56830, 0.62968, 0.69326, 0.70828, 0.72257, 0.72987, 0.73474, 0.73463,
                        0.73249, 0.72675, 0.76101, 0.61858],
}  # fmt: skip
# the library lists B8A before B09; BANDS puts B8A before B09 too, so the order above is
# coastal, blue, green, red, re1, re2, re3, nir, nir_narrow, water_vapour, swir1, swir2.
CLOUD = np.array([0.52, 0.50, 0.49, 0.48, 0.48, 0.48, 0.48, 0.47, 0.47, 0.40, 0.36, 0.26])
BACKGROUND = ["soil", "sand", "varnish", "dry_grass"]
IRON = ["hematite_qz", "goethite_qz", "jarosite"]
CLAY = ["kaolinite", "alunite", "montmorillonite"]
NOISE = 0.002  # sensor noise, reflectance units
# target fractions of the tile (on a sparse sample of the noise fields)
FRACTION = {"cloud": 0.06, "cirrus": 0.03, "water": 0.012, "green": 0.05, "unclassified": 0.015}
SYSTEMS_PER_KM2 = 1 / 150  # alteration systems (iron core + clay halo)
PANS_PER_KM2 = 1 / 300  # isolated ferricrete and clay pans, each


def _smooth(t):
    return t * t * (3.0 - 2.0 * t)


class Field:
    """Multi-octave value noise on the 10 m grid, evaluated on any rows x cols (deterministic).

    ``cells`` are octave wavelengths in 10 m pixels; the lattice has a margin so that shifted
    copies (cloud shadows) can be evaluated off the tile.
    """

    def __init__(self, rng, n: int, cells, amps, margin: int = 0):
        norm = math.sqrt(sum(a * a for a in amps))
        self.margin = margin
        self.octaves = []
        for cell, amp in zip(cells, amps, strict=True):
            cell = max(float(cell), 2.0)
            size = math.ceil((n + 2 * margin) / cell) + 3
            grid = rng.standard_normal((size, size)).astype("float32")
            self.octaves.append((cell, np.float32(amp / norm), grid))

    def values(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        out = np.zeros((rows.size, cols.size), "float32")
        for cell, amp, grid in self.octaves:
            ys = (rows.astype("float64") + self.margin + 0.5) / cell
            xs = (cols.astype("float64") + self.margin + 0.5) / cell
            y0, x0 = np.floor(ys).astype(np.intp), np.floor(xs).astype(np.intp)
            fy = _smooth(ys - y0).astype("float32")[:, None]
            fx = _smooth(xs - x0).astype("float32")[None, :]
            lo = int(y0.min())
            sub = grid[lo : int(y0.max()) + 2]
            gx = sub[:, x0] * (1 - fx) + sub[:, x0 + 1] * fx
            yi = y0 - lo
            out += amp * (gx[yi] * (1 - fy) + gx[yi + 1] * fy)
        return out

    def quantile(self, n: int, q: float, step: int = 16) -> float:
        """Value exceeded by a fraction ``1 - q`` of the tile (on every ``step``-th pixel)."""
        grid = np.arange(step // 2, n, step)
        return float(np.quantile(self.values(grid, grid), q))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _zones(rng, n: int) -> list[tuple]:
    """Alteration zones ``(species, cx, cy, a, b, angle, strength)`` in 10 m pixels."""
    area_km2 = (n * 0.01) ** 2
    zones = []

    def centre():
        return rng.uniform(0.03 * n, 0.97 * n), rng.uniform(0.03 * n, 0.97 * n)

    for _ in range(max(2, round(area_km2 * SYSTEMS_PER_KM2))):
        x, y = centre()
        a = rng.uniform(25, 90)  # 250-900 m semi-axis
        b = a * rng.uniform(0.35, 0.8)
        ang = rng.uniform(0, math.pi)
        zones.append((IRON[rng.integers(3)], x, y, a, b, ang, rng.uniform(0.6, 1.0)))
        dx, dy = rng.normal(0, 0.3 * a, 2)
        zones.append(
            (
                CLAY[rng.integers(3)],
                x + dx,
                y + dy,
                a * rng.uniform(1.5, 2.4),
                b * rng.uniform(1.6, 2.6),
                ang + rng.normal(0, 0.3),
                rng.uniform(0.5, 0.9),
            )
        )
    for kinds in (IRON, CLAY):
        for _ in range(max(1, round(area_km2 * PANS_PER_KM2))):
            x, y = centre()
            a = rng.uniform(12, 60)
            zones.append(
                (
                    kinds[rng.integers(3)],
                    x,
                    y,
                    a,
                    a * rng.uniform(0.3, 0.9),
                    rng.uniform(0, math.pi),
                    rng.uniform(0.4, 0.8),
                )
            )
    return zones


def _zone_strength(zones, species, r0, r1, n, edge):
    """Largest membership (0..1) of the zones of one species over rows r0:r1."""
    out = np.zeros((r1 - r0, n), "float32")
    for sp, x, y, a, b, ang, strength in zones:
        if sp != species:
            continue
        ext = max(a, b) * 1.5
        ylo, yhi = max(int(y - ext), r0), min(int(y + ext) + 1, r1)
        xlo, xhi = max(int(x - ext), 0), min(int(x + ext) + 1, n)
        if ylo >= yhi or xlo >= xhi:
            continue
        yy = np.arange(ylo, yhi, dtype="float32")[:, None] + 0.5 - y
        xx = np.arange(xlo, xhi, dtype="float32")[None, :] + 0.5 - x
        ca, sa = math.cos(ang), math.sin(ang)
        d = np.hypot((xx * ca + yy * sa) / a, (-xx * sa + yy * ca) / b)
        d = d * (1 + 0.35 * edge[ylo - r0 : yhi - r0, xlo:xhi])  # irregular outline
        m = _smooth(np.clip((1 - d) / 0.4, 0, 1)) * np.float32(strength)
        view = out[ylo - r0 : yhi - r0, xlo:xhi]
        np.maximum(view, m, out=view)
    return out


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean of k x k blocks over the last two axes."""
    if k == 1:
        return a
    *lead, h, w = a.shape
    return a.reshape(*lead, h // k, k, w // k, k).mean(axis=(-3, -1), dtype="float32")


class Model:
    """The synthetic scene: fields and zones, evaluated strip by strip."""

    def __init__(self, n: int, seed: int):
        self.n = n
        rng = np.random.default_rng(seed)
        coarse = [2500, 800, 250, 60]
        self.cover = [Field(rng, n, coarse, [1, 0.7, 0.45, 0.25]) for _ in BACKGROUND]
        self.cover_bias = np.array([0.3, 0.0, -0.3, 0.0], "float32")
        self.texture = Field(rng, n, [14, 4], [1, 0.6])
        self.shade = Field(rng, n, [120, 30], [1, 0.5])
        self.green = Field(rng, n, [600, 120, 25], [1, 0.6, 0.35])
        self.water = Field(rng, n, [900, 200, 50], [1, 0.5, 0.25])
        self.edge = Field(rng, n, [40, 10], [1, 0.5])
        self.shadow_shift = (45, 60)  # rows, cols (10 m px): sun from the north-west
        self.cloud = Field(rng, n, [700, 180, 45, 12], [1, 0.55, 0.3, 0.12], margin=100)
        self.cirrus = Field(rng, n, [1500, 300], [1, 0.4])
        self.unclassified = Field(rng, n, [80, 20], [1, 0.5])
        self.zones = _zones(rng, n)
        self.spectra = {k: np.asarray(v, "float32") for k, v in SPECTRA.items()}
        self.cloud_spec = CLOUD.astype("float32")
        self.seed = seed
        # thresholds from the fields' own quantiles, so fractions do not depend on the size
        self.t_cloud = self.cloud.quantile(n, 1 - FRACTION["cloud"])
        self.t_cirrus = self.cirrus.quantile(n, 1 - FRACTION["cirrus"])
        self.t_water = self.water.quantile(n, 1 - FRACTION["water"])
        self.t_green = self.green.quantile(n, 1 - FRACTION["green"])
        self.t_uncl = self.unclassified.quantile(n, 1 - FRACTION["unclassified"])

    def nodata60(self, r0: int, r1: int) -> np.ndarray:
        """No-data wedge (slanted swath edge) on the 60 m rows covering 10 m rows r0:r1."""
        n60 = self.n // 6
        y = (np.arange(r0 // 6, r1 // 6) + 0.5)[:, None] / n60
        x = (np.arange(n60) + 0.5)[None, :] / n60
        return x < 0.32 * y - 0.06

    def strip(self, r0: int, r1: int):
        """Reflectance (12, rows, n) at 10 m and the SCL inputs for 10 m rows r0:r1."""
        n = self.n
        rows, cols = np.arange(r0, r1), np.arange(n)
        logits = np.stack([2.2 * f.values(rows, cols) for f in self.cover])
        logits += self.cover_bias[:, None, None]
        logits -= logits.max(axis=0)
        w = np.exp(logits)
        w /= w.sum(axis=0)
        spectra = np.stack([self.spectra[k] for k in BACKGROUND], axis=1)  # (band, cover)
        bg = np.tensordot(spectra, w, axes=1)  # (band, rows, cols)
        del logits, w
        bright = 1 + 0.06 * self.texture.values(rows, cols) + 0.10 * self.shade.values(rows, cols)
        bg *= bright
        edge = self.edge.values(rows, cols)
        total = np.zeros((r1 - r0, n), "float32")
        alt = np.zeros_like(bg)
        for species, scale in [*((s, 0.55) for s in IRON), *((s, 0.5) for s in CLAY)]:
            a = _zone_strength(self.zones, species, r0, r1, n, edge) * np.float32(scale)
            if a.any():
                alt += a[None] * self.spectra[species][:, None, None]
                total += a
        over = np.maximum(total, 1)  # overlapping zones: normalise the mineral fractions
        refl = bg * (1 - total / over) + alt / over
        del bg, alt, edge
        g = _sigmoid((self.green.values(rows, cols) - self.t_green) * 6) * 0.85
        refl = refl * (1 - g) + g * self.spectra["green_veg"][:, None, None]
        wat = _sigmoid((self.water.values(rows, cols) - self.t_water) * 10)
        refl = refl * (1 - wat) + wat * self.spectra["water"][:, None, None]
        dy, dx = self.shadow_shift
        c = np.clip((self.cloud.values(rows, cols) - self.t_cloud) / 0.25 + 0.4, 0, 1)
        s = np.clip((self.cloud.values(rows - dy, cols - dx) - self.t_cloud) / 0.25 + 0.4, 0, 1)
        s *= 1 - c
        refl *= 1 - 0.7 * s
        ci = np.clip((self.cirrus.values(rows, cols) - self.t_cirrus) / 0.3 + 0.3, 0, 1)
        refl += 0.04 * ci
        refl = refl * (1 - c) + c * self.cloud_spec[:, None, None]
        uncl = self.unclassified.values(rows, cols) > self.t_uncl
        return refl.astype("float32"), {"cloud": c, "shadow": s, "cirrus": ci, "water": wat,
                                         "unclassified": uncl}  # fmt: skip

    def scl20(self, refl: np.ndarray, aux: dict, nodata60: np.ndarray) -> np.ndarray:
        """SCL classes on the 20 m grid of a strip."""
        c, s, ci = (_block_mean(aux[k], 2) for k in ("cloud", "shadow", "cirrus"))
        wat = _block_mean(aux["water"], 2)
        r20 = _block_mean(refl[[2, 3, 7, 10]], 2)  # green, red, nir, swir1
        ndvi = (r20[2] - r20[1]) / np.maximum(r20[2] + r20[1], 1e-6)
        albedo = r20.mean(axis=0)
        uncl = aux["unclassified"][::2, ::2]
        scl = np.full(c.shape, 5, "uint8")  # bare soil
        # lowest priority first; later rules overwrite
        scl[uncl] = 7
        scl[albedo < 0.05] = 2
        scl[ndvi > 0.4] = 4
        scl[wat > 0.5] = 6
        scl[ci > 0.5] = 10
        scl[(c > 0.05) & (c <= 0.35)] = 7  # cloud low probability / unclassified
        scl[s > 0.35] = 3
        scl[c > 0.35] = 8
        scl[c > 0.7] = 9
        scl[np.repeat(np.repeat(nodata60, 3, 0), 3, 1)] = 0
        return scl


def _dn(refl: np.ndarray, rng) -> np.ndarray:
    noisy = refl + rng.standard_normal(refl.shape, dtype="float32") * np.float32(NOISE)
    return np.clip(np.rint(noisy * QUANTIFICATION) - BOA_OFFSET, 1, 65535).astype("uint16")


def _name(code: str, res: int) -> str:
    return f"{TILE}_{SENSING}_{code}_{res}m"


def _files(extras: bool) -> list[tuple[str, int]]:
    """(code, resolution) of every image file written."""
    out = [(code, res) for code, res in BANDS] + [("SCL", 20)]
    if extras:
        out += [(code, res) for res, codes in EXTRA.items() for code in codes]
    return out


def product_xml(cloud_cover: float, files: list[tuple[str, int]]) -> str:
    granule_files = "\n".join(
        f"            <IMAGE_FILE>GRANULE/{GRANULE}/IMG_DATA/R{res}m/{_name(code, res)}</IMAGE_FILE>"
        for code, res in sorted(files, key=lambda f: (f[1], f[0]))
    )
    spectral = "\n".join(
        f'        <Spectral_Information bandId="{i}" physicalBand="{PHYSICAL[i]}">'
        f"<RESOLUTION>{PHYSICAL_RES[i]}</RESOLUTION></Spectral_Information>"
        for i in range(13)
    )
    offsets = "".join(
        f'<BOA_ADD_OFFSET band_id="{i}">{BOA_OFFSET}</BOA_ADD_OFFSET>' for i in range(13)
    )
    xsd = "https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd"
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-2A_User_Product xmlns:n1="{xsd}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{xsd}">
  <n1:General_Info>
    <Product_Info>
      <PRODUCT_START_TIME>2023-06-01T08:06:09.024Z</PRODUCT_START_TIME>
      <PRODUCT_STOP_TIME>2023-06-01T08:06:09.024Z</PRODUCT_STOP_TIME>
      <PRODUCT_URI>{SAFE_NAME}</PRODUCT_URI>
      <PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
      <PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE>
      <PROCESSING_BASELINE>{BASELINE}</PROCESSING_BASELINE>
      <PRODUCT_DOI>synthetic (geo bench/make_s2_tile.py)</PRODUCT_DOI>
      <GENERATION_TIME>2023-06-01T10:41:25.000000Z</GENERATION_TIME>
      <PREVIEW_IMAGE_URL>Not applicable</PREVIEW_IMAGE_URL>
      <Datatake datatakeIdentifier="GS2B_{SENSING}_032541_N{BASELINE}">
        <SPACECRAFT_NAME>Sentinel-2B</SPACECRAFT_NAME>
        <DATATAKE_TYPE>INS-NOBS</DATATAKE_TYPE>
        <DATATAKE_SENSING_START>2023-06-01T08:06:09.024Z</DATATAKE_SENSING_START>
        <SENSING_ORBIT_NUMBER>78</SENSING_ORBIT_NUMBER>
        <SENSING_ORBIT_DIRECTION>DESCENDING</SENSING_ORBIT_DIRECTION>
      </Datatake>
      <Query_Options completeSingleTile="true">
        <PRODUCT_FORMAT>SAFE_COMPACT</PRODUCT_FORMAT>
      </Query_Options>
      <Product_Organisation>
        <Granule_List>
          <Granule datastripIdentifier="S2B_OPER_MSI_L2A_DS_2BPS_20230601T104125_S20230601T082434_N{BASELINE}" granuleIdentifier="S2B_OPER_MSI_L2A_TL_2BPS_20230601T104125_A032541_{TILE}_N{BASELINE}" imageFormat="JPEG2000">
{granule_files}
          </Granule>
        </Granule_List>
      </Product_Organisation>
    </Product_Info>
    <Product_Image_Characteristics>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>NODATA</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>0</SPECIAL_VALUE_INDEX>
      </Special_Values>
      <Special_Values>
        <SPECIAL_VALUE_TEXT>SATURATED</SPECIAL_VALUE_TEXT>
        <SPECIAL_VALUE_INDEX>65535</SPECIAL_VALUE_INDEX>
      </Special_Values>
      <QUANTIFICATION_VALUES_LIST>
        <BOA_QUANTIFICATION_VALUE unit="none">{QUANTIFICATION}</BOA_QUANTIFICATION_VALUE>
        <AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE>
        <WVP_QUANTIFICATION_VALUE unit="cm">1000.0</WVP_QUANTIFICATION_VALUE>
      </QUANTIFICATION_VALUES_LIST>
      <BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST>
      <Spectral_Information_List>
{spectral}
      </Spectral_Information_List>
    </Product_Image_Characteristics>
  </n1:General_Info>
  <n1:Quality_Indicators_Info>
    <Cloud_Coverage_Assessment>{cloud_cover:.6f}</Cloud_Coverage_Assessment>
  </n1:Quality_Indicators_Info>
</n1:Level-2A_User_Product>
"""


def tile_xml(n: int) -> str:
    sizes = "\n".join(
        f'      <Size resolution="{r}"><NROWS>{n * 10 // r}</NROWS><NCOLS>{n * 10 // r}</NCOLS></Size>'
        for r in (10, 20, 60)
    )
    geopos = "\n".join(
        f'      <Geoposition resolution="{r}"><ULX>{X0:.0f}</ULX><ULY>{Y0:.0f}</ULY>'
        f"<XDIM>{r}</XDIM><YDIM>-{r}</YDIM></Geoposition>"
        for r in (10, 20, 60)
    )
    xsd = "https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd"
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<n1:Level-2A_Tile_ID xmlns:n1="{xsd}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="{xsd}">
  <n1:General_Info>
    <TILE_ID>S2B_OPER_MSI_L2A_TL_2BPS_20230601T104125_A032541_{TILE}_N{BASELINE}</TILE_ID>
    <SENSING_TIME>2023-06-01T08:24:34.000Z</SENSING_TIME>
  </n1:General_Info>
  <n1:Geometric_Info>
    <Tile_Geocoding>
      <HORIZONTAL_CS_NAME>{CS_NAME}</HORIZONTAL_CS_NAME>
      <HORIZONTAL_CS_CODE>{CRS}</HORIZONTAL_CS_CODE>
{sizes}
{geopos}
    </Tile_Geocoding>
    <Tile_Angles>
      <Mean_Sun_Angle>
        <ZENITH_ANGLE unit="deg">48.5</ZENITH_ANGLE>
        <AZIMUTH_ANGLE unit="deg">35.2</AZIMUTH_ANGLE>
      </Mean_Sun_Angle>
    </Tile_Angles>
  </n1:Geometric_Info>
</n1:Level-2A_Tile_ID>
"""


def generate(out_dir: Path, n: int, seed: int, extras: bool) -> dict:
    t0 = time.perf_counter()
    partial = out_dir / ".partial"
    if partial.exists():
        shutil.rmtree(partial)
    safe = partial / SAFE_NAME
    img = safe / "GRANULE" / GRANULE / "IMG_DATA"
    scratch = partial / "scratch"
    for d in (img / "R10m", img / "R20m", img / "R60m", safe / "GRANULE" / GRANULE / "QI_DATA",
              safe / "AUX_DATA", safe / "DATASTRIP", scratch):  # fmt: skip
        d.mkdir(parents=True, exist_ok=True)

    model = Model(n, seed)
    files = _files(extras)
    dst = {}
    for code, res in files:
        m = n * 10 // res
        dst[code, res] = rasterio.open(
            scratch / f"{_name(code, res)}.tif",
            "w",
            driver="GTiff",
            width=m,
            height=m,
            count=1,
            dtype="uint8" if code == "SCL" else "uint16",
            crs=CRS,
            transform=from_origin(X0, Y0, res, res),
            tiled=False,
            blockysize=STRIP * 10 // 60,
        )
    scl_counts = np.zeros(12, "int64")
    try:
        for i, r0 in enumerate(range(0, n, STRIP)):
            r1 = min(r0 + STRIP, n)
            refl, aux = model.strip(r0, r1)
            nod60 = model.nodata60(r0, r1)
            native = {}
            for b, (code, res) in enumerate(BANDS):
                k = res // 10
                rng = np.random.default_rng([seed, i, b])
                dn = _dn(_block_mean(refl[b], k), rng)
                dn[np.repeat(np.repeat(nod60, 6 // k, 0), 6 // k, 1)] = 0
                native[code] = (dn, res)
            native["SCL"] = (model.scl20(refl, aux, nod60), 20)
            scl_counts += np.bincount(native["SCL"][0].ravel(), minlength=12)[:12]
            del refl, aux
            for (code, res), ds in dst.items():
                a, nat = native[code]
                if res == nat:
                    data = a
                elif res > nat and code == "SCL":  # nearest
                    data = a[res // nat // 2 :: res // nat, res // nat // 2 :: res // nat]
                elif res > nat:  # average of the finer DNs (no-data blocks stay 0)
                    data = np.rint(_block_mean(a.astype("float32"), res // nat)).astype(a.dtype)
                else:  # ESA's R20m B01: the 60 m band repeated
                    k = nat // res
                    data = np.repeat(np.repeat(a, k, 0), k, 1)
                h = (r1 - r0) * 10 // res
                ds.write(data, 1, window=Window(0, r0 * 10 // res, data.shape[1], h))
            if i % 10 == 0:
                print(f"  rows {r0}-{r1} of {n} ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        for ds in dst.values():
            ds.close()
    t_pixels = time.perf_counter() - t0

    sizes = {}
    for code, res in files:
        target = img / f"R{res}m" / f"{_name(code, res)}.jp2"
        src = scratch / f"{_name(code, res)}.tif"
        rio_copy(src, target, driver="JP2OpenJPEG", QUALITY="100", REVERSIBLE="YES",
                 BLOCKXSIZE="1024", BLOCKYSIZE="1024")  # fmt: skip
        src.unlink()
        for aux_file in target.parent.glob(target.name + ".aux.xml"):
            aux_file.unlink()  # GDAL's PAM sidecar, not part of a product
        sizes[target.name] = target.stat().st_size
        print(f"  {target.name} ({time.perf_counter() - t0:.0f} s)", flush=True)
    shutil.rmtree(scratch)

    valid = scl_counts[1:].sum()
    cloud_cover = 100.0 * scl_counts[[8, 9, 10]].sum() / max(valid, 1)
    (safe / "MTD_MSIL2A.xml").write_text(product_xml(cloud_cover, files), encoding="utf-8")
    (safe / "GRANULE" / GRANULE / "MTD_TL.xml").write_text(tile_xml(n), encoding="utf-8")
    total = int(scl_counts.sum())
    meta = {
        "safe": SAFE_NAME,
        "size_10m": n,
        "seed": seed,
        "extra_files": extras,
        "crs": CRS,
        "upper_left": [X0, Y0],
        "scl_fractions": {str(c): round(int(v) / total, 5) for c, v in enumerate(scl_counts)},
        "cloud_cover_percent": round(cloud_cover, 4),
        "alteration_zones": len(model.zones),
        "file_bytes": sizes,
        "seconds": {"pixels": round(t_pixels, 1), "total": round(time.perf_counter() - t0, 1)},
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    final = out_dir / SAFE_NAME
    if final.exists():
        shutil.rmtree(final)
    safe.rename(final)
    shutil.rmtree(partial)
    (out_dir / "s2_tile.json").write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("out_dir", type=Path)
    p.add_argument("--size", type=int, default=FULL, help="10 m edge in pixels (multiple of 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-extra-files",
        dest="extras",
        action="store_false",
        help="skip the non-native band copies ESA ships (R20m B01-B04, R60m ...)",
    )
    args = p.parse_args(argv)
    if args.size < 6 * 64 or args.size % 6:
        p.error("--size must be a multiple of 6 and at least 384 (10 m px)")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    meta = generate(args.out_dir, args.size, args.seed, args.extras)
    print(json.dumps({k: meta[k] for k in ("safe", "size_10m", "seconds", "max_rss_mb")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
