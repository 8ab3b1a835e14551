"""Landsat 8 Collection 2 Level-2 product folder and vector layers for the benchmark scene.

Used by ``make_scene.py --layout landsat|both``; written for this benchmark (it is not part
of the shared peer harness). Everything here is deterministic for a given seed and size.

Product folder ``LC08_L2SP_171075_20230601_20230607_02_T1/``:

* ``…_SR_B1.TIF`` … ``…_SR_B7.TIF``: the same uint16 DN as the 7-band stack, nodata 0.
* ``…_QA_PIXEL.TIF``: CFMask bits. Bit 0 (fill) where any band is fill, bit 6 (clear)
  elsewhere, bit 7 (water) where the scene's water field is ≥ 0.5, and a few cloud
  (bit 3, high confidence) and dilated-cloud (bit 1) patches from a separate noise field.
  The clouds are QA flags only: the reflectance is not clouded, so the stack the peers
  read stays byte-identical to the shared harness's scene. Nodata 1 (fill), as USGS.
* ``…_QA_RADSAT.TIF``: all 0 (nothing is saturated: DN are clipped at 65455).
* ``…_MTL.txt``: ODL metadata in the Collection 2 Level-2 layout (groups PRODUCT_CONTENTS,
  IMAGE_ATTRIBUTES, PROJECTION_ATTRIBUTES, LEVEL2_PROCESSING_RECORD,
  LEVEL2_SURFACE_REFLECTANCE_PARAMETERS, LEVEL1_RADIOMETRIC_RESCALING). The Level-1 group
  carries the Level-1 values (2e-05, -0.1) under the same key names, as real MTLs do,
  so a reader that takes the scaling from the wrong group gets wrong ratios. The
  surface-temperature band and the ANG/MTL.json/MTL.xml/stac files are not written.

GeoTIFF layout: COG (GDAL COG driver), 256 × 256 tiles, DEFLATE with horizontal predictor
(PREDICTOR=2), internal overviews (nearest). The geo project's own sample product writer
(geo/sampledata.py) uses the same tiles/compression/predictor; no real USGS C2 file was
available offline to compare with (see bench/PROVENANCE.md).

Vector layers beside the product folder, all EPSG:32635 (the scene CRS):

* ``licences.gpkg`` layer ``licences``: 6 polygons tiling the centre of the frame, columns
  ``licence_id``, ``holder``, ``status``, ``expiry``.
* ``faults.gpkg`` layer ``faults``: LineStrings (half through alteration systems, half
  regional), columns ``name``, ``kind``.
* ``occurrences.gpkg`` layer ``occurrences``: points at most alteration-system cores plus a
  few barren ones, columns ``name``, ``commodity``, ``type``.
"""

from __future__ import annotations

import math
import os

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

OLI_BANDS = 7
SR_MULT, SR_ADD = 2.75e-05, -0.2
L1_MULT, L1_ADD = 2.0e-05, -0.1
ACQUIRED_DATE, ACQUIRED_TIME = "2023-06-01", "08:13:52.4690000Z"
PROCESSED_DATE = "2023-06-07"
SUN_AZIMUTH, SUN_ELEVATION = 34.3, 38.5  # eastern Botswana, 1 June, 08:14 UTC (as the
EARTH_SUN_DISTANCE = 1.0140  # project's sample product)
# GPKG stores a "last change" timestamp; fixing it keeps the files byte-identical.
OGR_DATE = "2023-06-07T00:00:00.000Z"

QA_FILL, QA_DILATED, QA_CLOUD, QA_CLEAR, QA_WATER = 1, 1 << 1, 1 << 3, 1 << 6, 1 << 7
_LOW, _HIGH = 1, 3


def _conf(cloud=_LOW, shadow=_LOW, snow=_LOW, cirrus=_LOW):
    return cloud << 8 | shadow << 10 | snow << 12 | cirrus << 14


QA_VALUES = {
    "fill": QA_FILL,
    "clear_land": QA_CLEAR | _conf(),
    "clear_water": QA_CLEAR | QA_WATER | _conf(),
    "dilated_cloud": QA_DILATED | _conf(),
    "cloud": QA_CLOUD | _conf(cloud=_HIGH),
}
CLOUD_T, DILATED_T = 1.55, 1.40  # thresholds on the cloud noise field (unit-variance octaves)

COG_OPTIONS = dict(
    driver="COG", COMPRESS="DEFLATE", PREDICTOR="YES", BLOCKSIZE=256, OVERVIEW_RESAMPLING="NEAREST"
)


def product_files(product_dir: str, landsat_id: str) -> dict[str, str]:
    files = {
        f"SR_B{i}": os.path.join(product_dir, f"{landsat_id}_SR_B{i}.TIF")
        for i in range(1, OLI_BANDS + 1)
    }
    for name in ("QA_PIXEL", "QA_RADSAT"):
        files[name] = os.path.join(product_dir, f"{landsat_id}_{name}.TIF")
    files["MTL"] = os.path.join(product_dir, f"{landsat_id}_MTL.txt")
    return files


class ProductWriter:
    """Stage the product's rasters strip by strip (uncompressed), then convert them to COGs."""

    def __init__(
        self, product_dir, landsat_id, width, height, crs, transform, threads, cloud_field
    ):
        os.makedirs(product_dir, exist_ok=True)
        self.product_dir, self.landsat_id = product_dir, landsat_id
        self.width, self.height, self.crs, self.transform = width, height, crs, transform
        self.threads = threads
        self.cloud_field = cloud_field
        self.files = product_files(product_dir, landsat_id)
        self.staging = {}
        base = dict(
            driver="GTiff",
            dtype="uint16",
            width=width,
            height=height,
            count=1,
            crs=crs,
            transform=transform,
            tiled=True,
            blockxsize=256,
            blockysize=256,
        )
        for name, _path in self.files.items():
            if name == "MTL":
                continue
            nodata = {"QA_PIXEL": QA_FILL, "QA_RADSAT": None}.get(name, 0)
            tmp = os.path.join(product_dir, f".{name}.staging.tif")
            dst = rasterio.open(tmp, "w", nodata=nodata, **base)
            dst.set_band_description(1, name)
            self.staging[name] = (tmp, dst)
        self.counts = dict(valid=0, cloud=0, dilated=0, water=0)

    def write_strip(self, r0, dn, valid_all, water):
        h = dn.shape[1]
        win = Window(0, r0, self.width, h)
        for b in range(OLI_BANDS):
            self.staging[f"SR_B{b + 1}"][1].write(dn[b], 1, window=win)
        c = self.cloud_field.strip(r0, r0 + h)
        qa = np.full((h, self.width), QA_VALUES["clear_land"], np.uint16)
        is_water = water >= 0.5
        qa[is_water] = QA_VALUES["clear_water"]
        dil = (c > DILATED_T) & (c <= CLOUD_T)
        cloud = c > CLOUD_T
        qa[dil] = QA_VALUES["dilated_cloud"]
        qa[cloud] = QA_VALUES["cloud"]
        qa[~valid_all] = QA_VALUES["fill"]
        self.staging["QA_PIXEL"][1].write(qa, 1, window=win)
        self.staging["QA_RADSAT"][1].write(np.zeros((h, self.width), np.uint16), 1, window=win)
        self.counts["valid"] += int(valid_all.sum())
        self.counts["cloud"] += int((cloud & valid_all).sum())
        self.counts["dilated"] += int((dil & valid_all).sum())
        self.counts["water"] += int((is_water & ~cloud & ~dil & valid_all).sum())

    def finish(self):
        """Close the staging files, write the COGs and the MTL; return {name: path}."""
        for name, (tmp, dst) in self.staging.items():
            dst.close()
            rasterio.shutil.copy(
                tmp, self.files[name], NUM_THREADS=str(self.threads), **COG_OPTIONS
            )
            os.remove(tmp)
        with open(self.files["MTL"], "w", encoding="utf-8", newline="\n") as fh:
            fh.write(format_mtl(self.mtl_groups()))
        return dict(self.files)

    def cloud_cover(self):
        return round(100.0 * self.counts["cloud"] / max(self.counts["valid"], 1), 2)

    def mtl_groups(self):
        from pyproj import Transformer

        lid = self.landsat_id
        bands = range(1, OLI_BANDS + 1)
        to_ll = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        corners = {}
        for corner, (row, col) in {
            "UL": (0, 0),
            "UR": (0, self.width - 1),
            "LL": (self.height - 1, 0),
            "LR": (self.height - 1, self.width - 1),
        }.items():
            x, y = self.transform * (col + 0.5, row + 0.5)  # MTL corners are pixel centres
            lon, lat = to_ll.transform(x, y)
            corners[f"CORNER_{corner}_LAT_PRODUCT"] = round(lat, 5)
            corners[f"CORNER_{corner}_LON_PRODUCT"] = round(lon, 5)
            corners[f"CORNER_{corner}_PROJECTION_X_PRODUCT"] = float(x)
            corners[f"CORNER_{corner}_PROJECTION_Y_PRODUCT"] = float(y)
        origin = "Synthetic benchmark scene (geo bench/make_scene.py); not a USGS product"
        return {
            "PRODUCT_CONTENTS": {
                "ORIGIN": origin,
                "DIGITAL_OBJECT_IDENTIFIER": "none (synthetic)",
                "LANDSAT_PRODUCT_ID": lid,
                "PROCESSING_LEVEL": "L2SP",
                "COLLECTION_NUMBER": 2,
                "COLLECTION_CATEGORY": "T1",
                "OUTPUT_FORMAT": "GEOTIFF",
                **{f"FILE_NAME_BAND_{n}": os.path.basename(self.files[f"SR_B{n}"]) for n in bands},
                "FILE_NAME_QUALITY_L1_PIXEL": os.path.basename(self.files["QA_PIXEL"]),
                "FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION": os.path.basename(
                    self.files["QA_RADSAT"]
                ),
                "FILE_NAME_METADATA_ODL": os.path.basename(self.files["MTL"]),
                **{f"DATA_TYPE_BAND_{n}": "UINT16" for n in bands},
                "DATA_TYPE_QUALITY_L1_PIXEL": "UINT16",
                "DATA_TYPE_QUALITY_L1_RADIOMETRIC_SATURATION": "UINT16",
            },
            "IMAGE_ATTRIBUTES": {
                "SPACECRAFT_ID": "LANDSAT_8",
                "SENSOR_ID": "OLI_TIRS",
                "WRS_TYPE": 2,
                "WRS_PATH": int(lid[10:13]),
                "WRS_ROW": int(lid[13:16]),
                "NADIR_OFFNADIR": "NADIR",
                "DATE_ACQUIRED": ACQUIRED_DATE,
                "SCENE_CENTER_TIME": ACQUIRED_TIME,
                "CLOUD_COVER": self.cloud_cover(),
                "CLOUD_COVER_LAND": self.cloud_cover(),
                "SUN_AZIMUTH": SUN_AZIMUTH,
                "SUN_ELEVATION": SUN_ELEVATION,
                "EARTH_SUN_DISTANCE": EARTH_SUN_DISTANCE,
            },
            "PROJECTION_ATTRIBUTES": {
                "MAP_PROJECTION": "UTM",
                "DATUM": "WGS84",
                "ELLIPSOID": "WGS84",
                "UTM_ZONE": 35,
                "GRID_CELL_SIZE_REFLECTIVE": float(self.transform.a),
                "REFLECTIVE_LINES": self.height,
                "REFLECTIVE_SAMPLES": self.width,
                "ORIENTATION": "NORTH_UP",
                **corners,
            },
            "LEVEL2_PROCESSING_RECORD": {
                "ORIGIN": origin,
                "LANDSAT_PRODUCT_ID": lid,
                "PROCESSING_LEVEL": "L2SP",
                "OUTPUT_FORMAT": "GEOTIFF",
                "DATE_PRODUCT_GENERATED": f"{PROCESSED_DATE}T00:00:00Z",
                "PROCESSING_SOFTWARE_VERSION": "geo bench/make_scene.py",
            },
            "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS": {
                **{f"REFLECTANCE_MAXIMUM_BAND_{n}": 1.602213 for n in bands},
                **{f"REFLECTANCE_MINIMUM_BAND_{n}": -0.199972 for n in bands},
                **{f"QUANTIZE_CAL_MAX_BAND_{n}": 65535 for n in bands},
                **{f"QUANTIZE_CAL_MIN_BAND_{n}": 1 for n in bands},
                **{f"REFLECTANCE_MULT_BAND_{n}": SR_MULT for n in bands},
                **{f"REFLECTANCE_ADD_BAND_{n}": SR_ADD for n in bands},
            },
            "LEVEL1_RADIOMETRIC_RESCALING": {
                **{f"REFLECTANCE_MULT_BAND_{n}": L1_MULT for n in bands},
                **{f"REFLECTANCE_ADD_BAND_{n}": L1_ADD for n in bands},
            },
        }


def _mtl_value(value):
    if isinstance(value, bool):
        raise TypeError("MTL has no booleans")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e7):
            return f"{value:.4E}"
        return repr(value)
    if len(value) == 10 and value[4] == "-" and value[7] == "-":  # dates are unquoted
        return value
    return f'"{value}"'


def format_mtl(groups) -> str:
    """ODL text as USGS writes ``*_MTL.txt`` (two-space indents, END at the end)."""
    lines = ["GROUP = LANDSAT_METADATA_FILE"]
    for gname, body in groups.items():
        lines.append(f"  GROUP = {gname}")
        lines += [f"    {k} = {_mtl_value(v)}" for k, v in body.items()]
        lines.append(f"  END_GROUP = {gname}")
    lines += ["END_GROUP = LANDSAT_METADATA_FILE", "END", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# Vector layers
# ---------------------------------------------------------------------------------------


def write_vectors(
    folder, *, seed, width, height, transform, crs, cx, cy, half_u, half_v, theta, zones
):
    """Write licences.gpkg, faults.gpkg and occurrences.gpkg; return {name: path}."""
    import geopandas as gpd
    from shapely.geometry import LineString, Point, Polygon, box

    os.environ["OGR_CURRENT_DATE"] = OGR_DATE
    rng = np.random.default_rng([seed, width, height, 0x6E0])
    cos_t, sin_t = math.cos(theta), math.sin(theta)

    def to_map(u, v):
        """Frame coordinates (u across, v along track, pixels from the centre) -> map x, y."""
        col = cx + u * cos_t - v * sin_t
        row = cy + u * sin_t + v * cos_t
        x, y = transform * (col, row)
        return float(round(x, 2)), float(round(y, 2))

    # Licences: a jittered 3 x 2 lattice over the central part of the valid frame; shared
    # edges use the same vertices, so neighbouring licences touch without gaps or overlaps.
    nu, nv = 3, 2
    us = np.linspace(-0.72 * half_u, 0.72 * half_u, nu + 1)
    vs = np.linspace(-0.62 * half_v, 0.62 * half_v, nv + 1)
    du, dv = (us[1] - us[0]) * 0.12, (vs[1] - vs[0]) * 0.12
    nodes = {}
    for i, u in enumerate(us):
        for j, v in enumerate(vs):
            inner_u, inner_v = 0 < i < nu, 0 < j < nv
            nodes[i, j] = (
                u + (rng.uniform(-du, du) if inner_u else 0.0),
                v + (rng.uniform(-dv, dv) if inner_v else 0.0),
            )
    statuses = ["granted", "granted", "pending", "granted", "expired", "pending"]
    expiries = ["2026-03-31", "2025-12-31", "2027-09-30", "2026-06-30", "2022-11-30", "2027-01-31"]
    lic = []
    for k, (i, j) in enumerate((i, j) for j in range(nv) for i in range(nu)):
        ring = [nodes[i, j], nodes[i + 1, j], nodes[i + 1, j + 1], nodes[i, j + 1]]
        lic.append(
            dict(
                licence_id=f"BL {k + 1:03d}/2021",
                holder=f"Bench Exploration {chr(65 + k % 4)} (Pty) Ltd",
                status=statuses[k],
                expiry=expiries[k],
                geometry=Polygon([to_map(u, v) for u, v in ring]),
            )
        )

    # Faults: half pass through alteration-system cores (structural control), half regional.
    frame = box(*transform * (0, height), *transform * (width, 0))
    systems = [z for z in zones if z[0] == "iron"][:14]
    span = math.hypot(width, height)
    faults = []
    n_through = 7
    for k in range(14):
        trend = math.radians(rng.choice([40.0, 130.0]) + rng.normal(0, 12))
        if k < n_through:
            _, px, py, *_ = systems[k % len(systems)]
        else:
            px = cx + rng.uniform(-0.8, 0.8) * half_u
            py = cy + rng.uniform(-0.8, 0.8) * half_v
        half_len = span * rng.uniform(0.12, 0.35)
        ts = np.linspace(-half_len, half_len, 9)
        offs = np.cumsum(rng.normal(0, span * 0.004, ts.size))
        offs -= offs[ts.size // 2]
        pts = []
        for t, o in zip(ts, offs, strict=False):
            col = px + t * math.sin(trend) + o * math.cos(trend)
            row = py - t * math.cos(trend) + o * math.sin(trend)
            x, y = transform * (col, row)
            pts.append((float(round(x, 2)), float(round(y, 2))))
        line = LineString(pts).intersection(frame)
        if line.is_empty or line.geom_type != "LineString":
            continue
        faults.append(
            dict(
                name=f"F{k + 1:02d}", kind="fault" if k < n_through else "lineament", geometry=line
            )
        )

    # Occurrences: 10 of the 14 system cores (some slightly off-centre) and 4 barren points.
    occ = []
    commodities = ["Cu", "Au", "Cu, Mo", "Au", "Cu, Au"]
    for k, (_, px, py, _a, b, _ang, _s) in enumerate(systems[:10]):
        dx, dy = rng.normal(0, 0.2 * b, 2)
        x, y = transform * (px + dx, py + dy)
        occ.append(
            dict(
                name=f"Showing {k + 1:02d}",
                commodity=commodities[k % 5],
                type="showing" if k % 3 else "prospect",
                geometry=Point(round(x, 2), round(y, 2)),
            )
        )
    for k in range(4):
        x, y = to_map(rng.uniform(-0.85, 0.85) * half_u, rng.uniform(-0.85, 0.85) * half_v)
        occ.append(
            dict(name=f"Old working {k + 1}", commodity="Au", type="working", geometry=Point(x, y))
        )

    os.makedirs(folder, exist_ok=True)
    out = {}
    for name, rows in (("licences", lic), ("faults", faults), ("occurrences", occ)):
        path = os.path.join(folder, f"{name}.gpkg")
        if os.path.exists(path):
            os.remove(path)
        gpd.GeoDataFrame(rows, geometry="geometry", crs=crs).to_file(
            path, layer=name, driver="GPKG"
        )
        out[name] = path
    return out
