"""PRISMA Level-2D surface reflectance (ASI): ``PRS_L2D_STD_*.he5`` (HDF-EOS5, read with h5py).

What is read (names as read by the EnMAP-Box ``ImportPrismaL2DAlgorithm`` and by
prismaread ``pr_convert``/``pr_get_geoloc``, after ASI's PRISMA Product Specification
PRS-SY-SPC-012)
-----------------------------------------------------------------------------------------
- ``HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields/VNIR_Cube`` and ``SWIR_Cube``: uint16, stored
  ``(lines, bands, samples)``; line 0 is the northern row of the map grid.
- Global attributes ``List_Cw_Vnir`` / ``List_Fwhm_Vnir`` / ``List_Cw_Vnir_Flags`` and the
  ``Swir`` ones: band centre and FWHM (nm) per cube band, listed in DESCENDING wavelength,
  with ``0.0`` (and flag 0) for the unused bands at the ends of each cube. Bands with flag 0
  or a zero centre are dropped; the rest are sorted ascending.
- ``L2ScaleVnirMin`` / ``L2ScaleVnirMax`` and ``L2ScaleSwirMin`` / ``L2ScaleSwirMax``:
  reflectance = Min + DN x (Max - Min) / 65535, per cube. A missing attribute refuses the
  product (MetadataError naming it); a pixel whose DN is 0 in every band is no data (NaN).
- ``Processing_Level`` ("2D"; L1 and L2B/L2C, in swath geometry, are refused),
  ``Product_StartTime``, ``Epsg_Code`` and ``Product_ULcorner_easting`` / ``_northing``,
  the centre of the upper-left 30 m pixel (both readers above put the grid edge half a pixel
  out from it); ``Product_LRcorner_*`` is checked against the cube's size.
- Optional masks in ``Data Fields`` (``Cloud_Mask``: 1 = cloud; ``LandCover_Mask``: 0 =
  water, 1 = snow/ice; codes from prismaread's documentation of the L1 product) become
  ``Scene.qa`` layers ``cloud``, ``water``, ``snow`` when present with the cube's shape.

Band numbers: ``b001``..``b066`` are VNIR cube positions 1-66, ``b067``..``b239`` SWIR cube
positions 1-173 (the product's 239 bands), so a spectrum's bands are named the same in
every PRISMA scene. The VNIR/SWIR overlap (~940-975 nm) is kept once:
:data:`geo.io.readers.enmap.OVERLAP_RULE` (SWIR wins). Water-vapour bands are marked
``good=False`` (:data:`geo.io.readers.enmap.WATER_VAPOUR_WINDOWS_NM`).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from datetime import date
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from dask.base import tokenize
from rasterio.crs import CRS

from geo.errors import InputNotFoundError, MetadataError, ProductError
from geo.io._raster import _span, read_error
from geo.io.readers._hyper import first_date
from geo.io.readers.enmap import (
    HYPER_CHUNK,
    OVERLAP_RULE,
    finish_scene,
    require_utm,
    spectra_array,
    water_vapour_bad,
)
from geo.io.scene import Scene

__all__ = ["PIXEL_SIZE_M", "is_prisma", "open_prisma"]

logger = logging.getLogger(__name__)

#: Ground sampling of the PRS_L2D_HCO hyperspectral cubes.
PIXEL_SIZE_M = 30.0
SWATH = "HDFEOS/SWATHS/PRS_L2D_HCO"
_NAME = re.compile(r"^PRS_(L1|L2[BCD])_\w*?(\d{14})?_?\w*\.he5$", re.IGNORECASE)
_STAMP = re.compile(r"_(\d{8})\d{6}_")
_LOCK = threading.Lock()


def is_prisma(path: str | Path) -> bool:
    """Return True for a file named like a PRISMA product (``PRS_<level>_*.he5``).

    Examples
    --------
    >>> is_prisma("PRS_L2D_STD_20200524103704_20200524103708_0001.he5")
    True
    >>> is_prisma("scene.he5")
    False
    """
    name = Path(path).name
    return name.upper().startswith("PRS_") and name.lower().endswith(".he5")


def open_prisma(path: str | Path, *, chunk: int = HYPER_CHUNK) -> Scene:
    """Open a PRISMA L2D product as hyperspectral reflectance and simulated OLI roles.

    Parameters
    ----------
    path : str or Path
        The ``PRS_L2D_*.he5`` file.
    chunk : int
        Target spatial chunk edge (all bands of a chunk are read together).

    Returns
    -------
    Scene
        ``spectra`` ``(band, y, x)`` float32 sorted by wavelength, each wavelength once;
        ``reflectance`` the OLI roles ``coastal .. swir2``; ``qa`` the masks found;
        ``metadata["spectral"]`` the scaling per cube, dropped and bad bands.

    Raises
    ------
    InputNotFoundError
        ``path`` does not exist.
    ProductError
        Not an HDF5 file, not Level 2D, a cube missing or of the wrong shape.
    MetadataError
        A scaling, wavelength, FWHM or georeferencing attribute missing or not a number.
    CRSError
        ``Epsg_Code`` is not a WGS 84 UTM zone.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: PRISMA product not found.")
    source = str(path)
    if not h5py.is_hdf5(source):
        raise ProductError(
            f"{path}: not an HDF5 file (truncated download?); PRISMA products are HDF-EOS5."
        )
    with h5py.File(source, "r") as f:
        attrs = dict(f.attrs)
        level = _text(attrs.get("Processing_Level"))
        if level is None or level.strip().upper() != "2D":
            raise ProductError(
                f"{path}: Processing_Level is {level!r}; geo reads PRISMA L2D (surface "
                "reflectance on a UTM map grid). L1, L2B and L2C are in swath geometry: "
                "order the L2D product of the same acquisition."
            )
        cubes: dict[str, tuple[str, tuple[int, int, int], Any]] = {}
        for cube in ("VNIR", "SWIR"):
            name = f"{SWATH}/Data Fields/{cube}_Cube"
            if name not in f:
                raise ProductError(f"{path}: no {name}; the product is incomplete.")
            dataset = f[name]
            if dataset.ndim != 3 or dataset.dtype.kind not in "iu":
                raise ProductError(
                    f"{path}: {name} is {dataset.dtype} with shape {dataset.shape}; expected "
                    "integer DN (lines, bands, samples)."
                )
            lines_, bands_, samples_ = (int(n) for n in dataset.shape)
            cubes[cube] = (name, (lines_, bands_, samples_), dataset.dtype)
        masks = _read_masks(f, cubes["VNIR"][1], source)
    lines, _, samples = cubes["VNIR"][1]
    if cubes["SWIR"][1][0] != lines or cubes["SWIR"][1][2] != samples:
        raise ProductError(
            f"{path}: VNIR_Cube {cubes['VNIR'][1]} and SWIR_Cube {cubes['SWIR'][1]} "
            "cover different grids (lines, bands, samples)."
        )

    bands: list[dict[str, Any]] = []
    scaling: dict[str, dict[str, float]] = {}
    offset_number = 0
    for cube in ("VNIR", "SWIR"):
        key = cube.capitalize()
        n_cube = cubes[cube][1][1]
        cw = _float_list(attrs, f"List_Cw_{key}", source, n_cube)
        fw = _float_list(attrs, f"List_Fwhm_{key}", source, n_cube)
        flags_key = f"List_Cw_{key}_Flags"
        flags = (
            _float_list(attrs, flags_key, source, n_cube) if flags_key in attrs else np.ones(n_cube)
        )
        low = _scalar(attrs, f"L2Scale{key}Min", source)
        high = _scalar(attrs, f"L2Scale{key}Max", source)
        if not high > low:
            raise MetadataError(
                f"{path}: L2Scale{key}Max ({high}) is not above L2Scale{key}Min ({low}); "
                "the scaling is damaged, download the product again."
            )
        mult = (high - low) / 65535.0
        scaling[cube] = {"min": low, "max": high, "mult": mult, "add": low}
        for index in range(n_cube):
            bands.append(
                {
                    "cube": cube,
                    "index": index,
                    "number": offset_number + index + 1,
                    "wavelength": float(cw[index]),
                    "fwhm": float(fw[index]),
                    "used": bool(flags[index] != 0 and cw[index] > 0),
                    "mult": mult,
                    "add": low,
                }
            )
        offset_number += n_cube
    unused = [b for b in bands if not b["used"]]
    used = [b for b in bands if b["used"]]
    swir_used = [b["wavelength"] for b in used if b["cube"] == "SWIR"]
    if not swir_used or not any(b["cube"] == "VNIR" for b in used):
        raise ProductError(f"{path}: no used VNIR or SWIR band (all flags 0 or centres 0).")
    shortest_swir = min(swir_used)
    overlap = [b for b in used if b["cube"] == "VNIR" and b["wavelength"] >= shortest_swir]
    kept = [b for b in used if b not in overlap]
    kept.sort(key=lambda b: b["wavelength"])
    if any(b["fwhm"] <= 0 or not math.isfinite(b["fwhm"]) for b in kept):
        raise MetadataError(f"{path}: List_Fwhm_* holds a non-positive FWHM for a used band.")

    crs, transform, grid_note = _grid(attrs, source, lines, samples)
    acquired, date_source = _acquisition_date(attrs, path)
    edge = max(int(chunk), 1)
    data = _cube_data(source, cubes, kept, edge)
    wl = np.array([b["wavelength"] for b in kept])
    wv = water_vapour_bad(wl)
    scene_id = path.stem
    spectra = spectra_array(
        data,
        ids=[f"b{b['number']:03d}" for b in kept],
        wavelength=wl,
        fwhm=np.array([b["fwhm"] for b in kept]),
        good=~wv,
        transform=transform,
        crs=crs,
        attrs={"sensor": "prisma", "scene_id": scene_id, "date": acquired.isoformat()},
    )
    qa = {
        name: xr.DataArray(
            da.from_array(layer, chunks=spectra.data.chunks[1:]),
            dims=("y", "x"),
            coords={"y": spectra["y"], "x": spectra["x"]},
            name=name,
            attrs={"source": f"{SWATH}/Data Fields/{field}"},
        )
        for name, (field, layer) in masks.items()
    }
    metadata: dict[str, Any] = {
        "product": "prisma_l2d",
        "form": "he5",
        "scene_id": scene_id,
        "sensor": "prisma",
        "platform": "PRISMA",
        "processing_level": "L2D",
        "date_acquired": acquired.isoformat(),
        "date_source": date_source,
        "grid": grid_note,
        "spectral": {
            "scaling": "per cube: reflectance = L2Scale<cube>Min + DN x (Max - Min) / 65535; "
            "DN 0 in every band = no data",
            "cubes": scaling,
            "overlap": {
                "rule": OVERLAP_RULE,
                "shortest_swir_nm": float(shortest_swir),
                "dropped": [f"b{b['number']:03d}" for b in overlap],
            },
            "unused_bands": [f"b{b['number']:03d}" for b in unused],
            "water_vapour_bands": [
                f"b{b['number']:03d}" for b, w in zip(kept, wv, strict=True) if w
            ],
            "source_bands": {
                f"b{b['number']:03d}": f"{b['cube']}_Cube band {b['index'] + 1}" for b in kept
            },
        },
    }
    return finish_scene(spectra, qa, metadata, [source])


# --------------------------------------------------------------------------------------
# Attributes


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    return str(value)


def _missing(key: str, source: str, what: str) -> MetadataError:
    return MetadataError(
        f"{source}: no global attribute {key} ({what}); PRISMA scaling, wavelengths and "
        "georeferencing are read from the product, never assumed. The file is incomplete: "
        "download the product again."
    )


def _scalar(attrs: dict[str, Any], key: str, source: str) -> float:
    if key not in attrs:
        raise _missing(key, source, "reflectance scaling")
    value = np.asarray(attrs[key]).reshape(-1)
    try:
        number = float(value[0]) if value.size == 1 else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise MetadataError(
            f"{source}: global attribute {key} is {_text(attrs[key])!r:.60}; expected one "
            "finite number. The file is damaged: download the product again."
        )
    return number


def _float_list(attrs: dict[str, Any], key: str, source: str, n: int) -> np.ndarray:
    if key not in attrs:
        raise _missing(key, source, "one value per cube band")
    try:
        values = np.asarray(attrs[key], dtype="float64").reshape(-1)
    except (TypeError, ValueError):
        raise MetadataError(f"{source}: global attribute {key} is not a list of numbers.") from None
    if values.size != n or not np.all(np.isfinite(values)):
        raise MetadataError(
            f"{source}: global attribute {key} holds {values.size} values (finite: "
            f"{bool(np.all(np.isfinite(values)))}); the cube has {n} bands."
        )
    return values


def _grid(
    attrs: dict[str, Any], source: str, lines: int, samples: int
) -> tuple[CRS, Affine, dict[str, Any]]:
    if "Epsg_Code" not in attrs:
        raise _missing("Epsg_Code", source, "the map projection")
    epsg = int(_scalar(attrs, "Epsg_Code", source))
    crs = CRS.from_epsg(epsg)
    require_utm(crs, source)
    for key in ("Product_ULcorner_easting", "Product_ULcorner_northing"):
        if key not in attrs:
            raise _missing(key, source, "the grid position")
    east = _scalar(attrs, "Product_ULcorner_easting", source)
    north = _scalar(attrs, "Product_ULcorner_northing", source)
    half = PIXEL_SIZE_M / 2
    transform = Affine(PIXEL_SIZE_M, 0.0, east - half, 0.0, -PIXEL_SIZE_M, north + half)
    note: dict[str, Any] = {
        "ul_pixel_centre": [east, north],
        "pixel_size_m": PIXEL_SIZE_M,
        "epsg": epsg,
    }
    if "Product_LRcorner_easting" in attrs and "Product_LRcorner_northing" in attrs:
        lr_east = _scalar(attrs, "Product_LRcorner_easting", source)
        lr_north = _scalar(attrs, "Product_LRcorner_northing", source)
        expected = (east + PIXEL_SIZE_M * (samples - 1), north - PIXEL_SIZE_M * (lines - 1))
        off = max(abs(lr_east - expected[0]), abs(lr_north - expected[1]))
        note["lr_corner_offset_m"] = off
        if off > half:
            logger.warning(
                "%s: Product_LRcorner (%s, %s) is %.1f m from the centre of the last pixel "
                "of a %d x %d grid at 30 m from the UL corner; the UL corner is used.",
                source,
                lr_east,
                lr_north,
                off,
                samples,
                lines,
            )
    return crs, transform, note


def _acquisition_date(attrs: dict[str, Any], path: Path) -> tuple[date, str]:
    stamp = _STAMP.search(path.name)
    found = first_date(
        [
            (_text(attrs.get("Product_StartTime")), "Product_StartTime"),
            (stamp.group(1) if stamp else None, "file name"),
        ]
    )
    if found is not None:
        return found
    raise MetadataError(
        f"{path}: no acquisition date (Product_StartTime, nor a YYYYMMDDhhmmss stamp in "
        "the file name)."
    )


def _read_masks(f: Any, shape: tuple[int, int, int], source: str) -> dict[str, tuple[str, Any]]:
    """``{qa name: (field, uint8 0/1 array)}`` for the optional masks with the cube's shape."""
    lines, _, samples = shape
    found: dict[str, tuple[str, Any]] = {}
    rules = {
        "Cloud_Mask": (("cloud", 1),),
        "LandCover_Mask": (("water", 0), ("snow", 1)),
    }
    for field, outputs in rules.items():
        name = f"{SWATH}/Data Fields/{field}"
        if name not in f:
            continue
        dataset = f[name]
        if tuple(dataset.shape) != (lines, samples):
            logger.warning(
                "%s: %s has shape %s, not the cube's (%d, %d); not used.",
                source,
                field,
                dataset.shape,
                lines,
                samples,
            )
            continue
        values = np.asarray(dataset[()])
        for qa_name, code in outputs:
            found[qa_name] = (field, (values == code).astype("uint8"))
    return found


# --------------------------------------------------------------------------------------
# Lazy cube


class _CubeReader:
    """Array-like ``(band, y, x)`` view of the kept bands of one PRISMA cube, for dask.

    Each read opens the file (h5py is not safe across threads: reads hold a lock), reads
    ``cube[rows, :, cols]`` and picks the kept bands in ascending wavelength.
    """

    def __init__(self, path: str, name: str, lines: int, samples: int, index: list[int], dtype):
        self.path, self.name, self.index = path, name, np.asarray(index, dtype=int)
        self.shape = (len(index), lines, samples)
        self.dtype = np.dtype(dtype)
        self.ndim = 3

    def __getitem__(self, key: Any) -> np.ndarray:
        import h5py

        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (3 - len(key))
        spans = [_span(k, n) for k, n in zip(key, self.shape, strict=True)]
        (b0, b1, _), (r0, r1, _), (c0, c1, _) = spans
        relative = tuple(rel for _, _, rel in spans)
        if b1 <= b0 or r1 <= r0 or c1 <= c0:
            return np.zeros((b1 - b0, r1 - r0, c1 - c0), self.dtype)[relative]
        wanted = self.index[b0:b1]
        low, high = int(wanted.min()), int(wanted.max()) + 1
        try:
            with _LOCK, h5py.File(self.path, "r") as f:
                block = f[self.name][r0:r1, low:high, c0:c1]
        except (OSError, KeyError) as exc:
            error = read_error(
                self.path, exc, rows=(r0, r1 - 1), cols=(c0, c1 - 1), label=self.name
            )
        else:
            out = np.moveaxis(block, 1, 0)[wanted - low]
            return out[relative]
        raise error


def _cube_data(
    source: str,
    cubes: dict[str, tuple[str, tuple[int, int, int], Any]],
    kept: list[dict[str, Any]],
    edge: int,
) -> da.Array:
    """Return the kept bands of both cubes, scaled, as one float32 ``(band, y, x)`` array."""
    parts = []
    for cube in ("VNIR", "SWIR"):
        name, (lines, _, samples), dtype = cubes[cube]
        index = [b["index"] for b in kept if b["cube"] == cube]
        if not index:
            continue
        reader = _CubeReader(source, name, lines, samples, index, dtype)
        token = tokenize(source, Path(source).stat().st_mtime_ns, name, index, edge)
        parts.append(
            da.from_array(
                reader,
                chunks=(len(index), edge, edge),
                name=f"prisma-{cube.lower()}-{token}",
                meta=np.empty((0, 0, 0), dtype=dtype),
            )
        )
    raw = da.concatenate(parts, axis=0).rechunk({0: -1})
    mult = np.array([b["mult"] for b in kept], dtype="float32").reshape(-1, 1, 1)
    add = np.array([b["add"] for b in kept], dtype="float32").reshape(-1, 1, 1)

    def kernel(block: np.ndarray) -> np.ndarray:
        fill = np.all(block == 0, axis=0)
        out = block.astype("float32")
        out *= mult
        out += add
        out[:, fill] = np.nan
        return out

    return da.map_blocks(kernel, raw, dtype="float32")
