"""Landsat 4/5/7/8/9 products: folder, MTL file or the USGS ``.tar``.

Every route reduces to reflectance = DN × mult + add per band, recorded in the metadata:

- Collection 2 Level-2 (L2SP/L2SR): surface reflectance with ``REFLECTANCE_MULT/ADD_BAND_n``
  from ``LEVEL2_SURFACE_REFLECTANCE_PARAMETERS`` (never from the Level-1 group that uses the
  same key names). USGS L8-9 and L4-7 C2 L2 Science Product Guides; DOMAIN.md §1.5.
- Collection 2 (and Collection 1) Level-1: top-of-atmosphere reflectance
  ρ = (M·DN + A) / sin(sun elevation) from the Level-1 reflectance rescaling.
- Pre-collection Level-1 MTLs without reflectance rescaling: ρ = π·L·d² / (ESUN·sin θ),
  L = RADIANCE_MULT·DN + RADIANCE_ADD, with ESUN from Chander, Markham & Helder (2009) and
  d from the MTL or from the day of year.

DN 0 (and the file's own nodata value) is fill and becomes NaN; Landsat 7 scan-line gaps
after the SLC failure (2003-05-31) are fill too. Surface-temperature and thermal bands
are not read.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import tarfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import xarray as xr

from geo.errors import GeoWarning, InputNotFoundError, MetadataError, ProductError
from geo.io._raster import (
    DEFAULT_CHUNK,
    PreviewSource,
    check_same_grid,
    open_band,
    probe,
    scale_values,
)
from geo.io.readers.mtl import Mtl, parse_mtl
from geo.io.scene import Scene
from geo.sensors import (
    LANDSAT_C2_L2_REFLECTANCE_ADD,
    LANDSAT_C2_L2_REFLECTANCE_MULT,
    get_sensor,
)

__all__ = ["ESUN", "L1_GROUP_C2", "L2_GROUP", "earth_sun_distance", "open_landsat"]

logger = logging.getLogger(__name__)

L2_GROUP = "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS"
_CONTENTS = "PRODUCT_CONTENTS"
_IMAGE = "IMAGE_ATTRIBUTES"
_SENSOR_BY_SPACECRAFT = {
    "LANDSAT_4": "landsat_tm",
    "LANDSAT_5": "landsat_tm",
    "LANDSAT_7": "landsat_etm",
    "LANDSAT_8": "landsat_oli",
    "LANDSAT_9": "landsat_oli",
}
L1_GROUP_C2 = "LEVEL1_RADIOMETRIC_RESCALING"
_L1_GROUP_OLD = "RADIOMETRIC_RESCALING"  # Collection 1 and pre-collection MTLs
_OLD_CONTENTS = "PRODUCT_METADATA"
#: Exo-atmospheric solar irradiance (W m-2 um-1) by spacecraft and band, for the radiance
#: route only: Chander, Markham & Helder 2009, Remote Sens. Environ. 113:893-903, Table 4.
ESUN: dict[str, dict[str, float]] = {
    "LANDSAT_4": {"1": 1983.0, "2": 1795.0, "3": 1539.0, "4": 1028.0, "5": 219.8, "7": 83.49},
    "LANDSAT_5": {"1": 1983.0, "2": 1796.0, "3": 1536.0, "4": 1031.0, "5": 220.0, "7": 83.44},
    "LANDSAT_7": {"1": 1997.0, "2": 1812.0, "3": 1533.0, "4": 1039.0, "5": 230.8, "7": 84.90},
}
SLC_FAILURE = "2003-05-31"
_QA_KEYS = {
    "qa_pixel": "FILE_NAME_QUALITY_L1_PIXEL",
    "qa_radsat": "FILE_NAME_QUALITY_L1_RADIOMETRIC_SATURATION",
}


@dataclass(frozen=True)
class _Product:
    """Where a product's files are: the MTL text and a resolver from file name to GDAL path."""

    mtl_text: str
    mtl_source: str
    resolve: Callable[[str], str]
    files: tuple[str, ...]


def _locate(path: Path) -> _Product:
    if path.is_file() and path.name.lower().endswith(".tar"):
        return _locate_tar(path)
    folder = path if path.is_dir() else path.parent
    if path.is_dir():
        mtls = sorted(folder.glob("*_MTL.json")) or sorted(folder.glob("*_MTL.txt"))
        if not mtls:
            raise ProductError(
                f"{folder}: no *_MTL.txt or *_MTL.json file; a Landsat Collection 2 product "
                "folder holds one. Point --scene at the product folder USGS delivers."
            )
        if len(mtls) > 1:
            names = ", ".join(m.name for m in mtls)
            raise ProductError(f"{folder}: holds several products ({names}); give one MTL file.")
        mtl_path = mtls[0]
    else:
        mtl_path = path
    try:
        text = mtl_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputNotFoundError(f"{mtl_path}: cannot read the MTL file ({exc}).") from None

    def resolve(name: str) -> str:
        return str(folder / name)

    return _Product(text, str(mtl_path), resolve, (str(mtl_path),))


def _locate_tar(path: Path) -> _Product:
    try:
        with tarfile.open(path) as tar:
            members = {PurePosixPath(m.name).name: m for m in tar.getmembers() if m.isfile()}
            mtl_names = [n for n in members if n.endswith("_MTL.json")] or [
                n for n in members if n.endswith("_MTL.txt")
            ]
            if not mtl_names:
                raise ProductError(f"{path}: the archive holds no *_MTL.txt or *_MTL.json file.")
            handle = tar.extractfile(members[mtl_names[0]])
            text = handle.read().decode("utf-8", errors="replace") if handle else ""
    except (tarfile.TarError, OSError) as exc:
        raise ProductError(f"{path}: cannot read the tar archive ({exc}).") from None
    absolute = path.resolve()

    def resolve(name: str) -> str:
        if name not in members:
            raise InputNotFoundError(
                f"{path}: the archive has no member {name!r} named by the MTL."
            )
        return f"/vsitar/{absolute}/{members[name].name}"

    return _Product(text, f"{path}!{mtl_names[0]}", resolve, (str(path),))


#: What USGS writes for the reflectance rescaling of each group, quoted in messages: the
#: Collection 2 Level-2 values are fixed for every product (L8-9 and L4-7 C2 L2 Science
#: Product Guides); the Level-1 ones are those of every OLI/TM/ETM+ C1/C2 product.
_USUAL = {
    (L2_GROUP, "REFLECTANCE_MULT"): f"{LANDSAT_C2_L2_REFLECTANCE_MULT:g}",
    (L2_GROUP, "REFLECTANCE_ADD"): f"{LANDSAT_C2_L2_REFLECTANCE_ADD:g}",
    (L1_GROUP_C2, "REFLECTANCE_MULT"): "2e-05",
    (L1_GROUP_C2, "REFLECTANCE_ADD"): "-0.1",
    (_L1_GROUP_OLD, "REFLECTANCE_MULT"): "2e-05",
    (_L1_GROUP_OLD, "REFLECTANCE_ADD"): "-0.1",
}


def _number(mtl: Mtl, group: str, key: str, *, positive: bool = False) -> float:
    """Return a finite number from the MTL (positive for scale factors), else raise."""
    usual = _USUAL.get((group, key.rsplit("_BAND_", 1)[0]))
    return mtl.number(group, key, positive=positive, usual=usual)


def _check_l2_constants(mtl: Mtl, band: str, mult: float, add: float) -> None:
    """Warn when a Collection 2 Level-2 band is not scaled by USGS's fixed constants."""
    usual = (LANDSAT_C2_L2_REFLECTANCE_MULT, LANDSAT_C2_L2_REFLECTANCE_ADD)
    if math.isclose(mult, usual[0], rel_tol=1e-6) and math.isclose(add, usual[1], rel_tol=1e-6):
        return
    warnings.warn(
        f"{mtl.source}: band {band} has REFLECTANCE_MULT {mult:g} and REFLECTANCE_ADD {add:g} "
        f"in {L2_GROUP}, but USGS Collection 2 Level-2 products always use {usual[0]:g} and "
        f"{usual[1]:g}; reflectance is computed with the file's values. If the metadata file "
        "was not edited on purpose, download the product again.",
        GeoWarning,
        stacklevel=4,
    )


def earth_sun_distance(day_of_year: int) -> float:
    """Earth–Sun distance in astronomical units from the day of year.

    d = 1 − 0.01672·cos(0.9856°·(DOY − 4)) (the formula of the LP DAAC ASTER script,
    DOMAIN.md §1.5); within 0.0002 AU of the ephemeris.

    Examples
    --------
    >>> round(earth_sun_distance(4), 5), round(earth_sun_distance(186), 4)
    (0.98328, 1.0167)
    """
    return 1.0 - 0.01672 * math.cos(math.radians(0.9856 * (day_of_year - 4)))


@dataclass(frozen=True)
class _Route:
    """How one product's DN become reflectance."""

    name: str
    units: str
    contents_group: str


def _route(mtl: Mtl) -> _Route:
    """Decide the calibration route from the MTL's groups and processing level."""
    if mtl.has_group(_CONTENTS):
        level = str(mtl.get(_CONTENTS, "PROCESSING_LEVEL", "unknown"))
        if level.startswith("L2"):
            if not mtl.has_group(L2_GROUP):
                raise MetadataError(
                    f"{mtl.source}: PROCESSING_LEVEL is {level} but the MTL has no {L2_GROUP} "
                    "group; the metadata file is incomplete. Download the product again."
                )
            return _Route("c2_l2_surface_reflectance", "surface reflectance", _CONTENTS)
        if level.startswith("L1") and mtl.has_group(L1_GROUP_C2):
            return _Route("c2_l1_toa_reflectance", "TOA reflectance", _CONTENTS)
        raise MetadataError(
            f"{mtl.source}: processing level {level} with neither a {L2_GROUP} nor a "
            f"{L1_GROUP_C2} group; geo reads Collection 2 Level-2 (surface reflectance) and "
            "Level-1 (top-of-atmosphere) products. Order the Level-2 Science Product "
            "(L2SP/L2SR) or the Level-1 product for this scene."
        )
    if mtl.has_group(_OLD_CONTENTS) and mtl.has_group(_L1_GROUP_OLD):
        if "REFLECTANCE_MULT_BAND_1" in mtl.group(_L1_GROUP_OLD):
            return _Route("c1_l1_toa_reflectance", "TOA reflectance", _OLD_CONTENTS)
        return _Route("pre_collection_l1_radiance_esun", "TOA reflectance", _OLD_CONTENTS)
    raise MetadataError(
        f"{mtl.source}: not a Landsat MTL geo knows: it has groups {', '.join(mtl.groups)}."
    )


def _calibration(mtl: Mtl, route: _Route, band: str, spacecraft: str) -> dict:
    """Return ``{"mult", "add", ...inputs}`` with reflectance = DN × mult + add for one band."""
    if route.name == "c2_l2_surface_reflectance":
        mult = _number(mtl, L2_GROUP, f"REFLECTANCE_MULT_BAND_{band}", positive=True)
        add = _number(mtl, L2_GROUP, f"REFLECTANCE_ADD_BAND_{band}")
        _check_l2_constants(mtl, band, mult, add)
        return {"mult": mult, "add": add, "group": L2_GROUP}
    sin_elev = math.sin(math.radians(_number(mtl, _IMAGE, "SUN_ELEVATION")))
    if sin_elev <= 0.05:
        raise MetadataError(
            f"{mtl.source}: SUN_ELEVATION {mtl.get(_IMAGE, 'SUN_ELEVATION')} is too low for "
            "a reflectance conversion (night or twilight scene)."
        )
    if route.name in ("c2_l1_toa_reflectance", "c1_l1_toa_reflectance"):
        group = L1_GROUP_C2 if route.name.startswith("c2") else _L1_GROUP_OLD
        m = _number(mtl, group, f"REFLECTANCE_MULT_BAND_{band}", positive=True)
        a = _number(mtl, group, f"REFLECTANCE_ADD_BAND_{band}")
        return {
            "mult": m / sin_elev,
            "add": a / sin_elev,
            "group": group,
            "reflectance_mult": m,
            "reflectance_add": a,
            "sin_sun_elevation": sin_elev,
        }
    ml = _number(mtl, _L1_GROUP_OLD, f"RADIANCE_MULT_BAND_{band}", positive=True)
    al = _number(mtl, _L1_GROUP_OLD, f"RADIANCE_ADD_BAND_{band}")
    esun = ESUN.get(spacecraft, {}).get(band)
    if esun is None:
        raise MetadataError(
            f"{mtl.source}: no reflectance rescaling in the MTL and no solar irradiance (ESUN) "
            f"known for {spacecraft} band {band}; cannot compute reflectance."
        )
    d = mtl.number(_IMAGE, "EARTH_SUN_DISTANCE", positive=True, default=None)
    if d is not None and not 0.95 <= d <= 1.05:
        raise MetadataError(
            f"{mtl.source}: EARTH_SUN_DISTANCE (group {_IMAGE}) is {d}; the Earth-Sun distance "
            "is 0.983-1.017 AU. The metadata file is damaged; download the product again."
        )
    date = dt.date.fromisoformat(str(mtl.get(route.contents_group, "DATE_ACQUIRED")))
    d = d if d is not None else earth_sun_distance(date.timetuple().tm_yday)
    k = math.pi * d * d / (esun * sin_elev)
    return {
        "mult": ml * k,
        "add": al * k,
        "group": _L1_GROUP_OLD,
        "radiance_mult": ml,
        "radiance_add": al,
        "esun": esun,
        "earth_sun_distance": d,
        "sin_sun_elevation": sin_elev,
    }


def open_landsat(path: str | Path, *, chunk: int = DEFAULT_CHUNK) -> Scene:
    """Open a Landsat 4/5/7/8/9 product: Collection 2 Level-2 or Level-1, or older Level-1.

    Parameters
    ----------
    path : str or Path
        The product folder, its ``*_MTL.txt`` / ``*_MTL.json``, or the ``.tar`` archive.
    chunk : int
        Target chunk edge in pixels (snapped to the files' internal tiles).

    Returns
    -------
    Scene
        Reflectance ``(band, y, x)`` float32 with NaN for fill, bands by role in the
        sensor's order (OLI: ``coastal, blue, green, red, nir, swir1, swir2``; TM/ETM+:
        the same without ``coastal``); surface reflectance for Level-2, TOA reflectance
        for Level-1 (``attrs["units"]`` says which). QA layers ``qa_pixel`` and
        ``qa_radsat`` when the product has them.

    Raises
    ------
    MetadataError
        The MTL is incomplete for its processing level, or lacks a key.
    ProductError
        The spacecraft is not Landsat 4, 5, 7, 8 or 9 (MSS-only missions are not read).
    InputNotFoundError
        A band file named by the MTL is missing.
    """
    path = Path(path)
    product = _locate(path)
    mtl = parse_mtl(product.mtl_text, source=product.mtl_source)
    route = _route(mtl)
    contents = route.contents_group
    level = str(
        mtl.get(_CONTENTS, "PROCESSING_LEVEL", None)
        if contents == _CONTENTS
        else mtl.get(_OLD_CONTENTS, "DATA_TYPE", "L1")
    )
    spacecraft = str(mtl.get(_IMAGE if contents == _CONTENTS else _OLD_CONTENTS, "SPACECRAFT_ID"))
    if spacecraft not in _SENSOR_BY_SPACECRAFT:
        raise ProductError(
            f"{mtl.source}: SPACECRAFT_ID is {spacecraft!r}; geo reads Landsat 4, 5, 7, 8 and 9 "
            "(TM, ETM+, OLI) products."
        )
    sensor = get_sensor(_SENSOR_BY_SPACECRAFT[spacecraft])
    date = str(mtl.get(_IMAGE if contents == _CONTENTS else _OLD_CONTENTS, "DATE_ACQUIRED"))

    bands: dict[str, xr.DataArray] = {}
    grids: dict[str, xr.DataArray] = {}  # keyed by a label that names the file, for messages
    scaling: dict[str, dict] = {}
    previews: dict[str, PreviewSource] = {}
    files = list(product.files)
    for band in sensor.bands:
        name = str(mtl.get(contents, f"FILE_NAME_BAND_{band.number}"))
        source = product.resolve(name)
        calib = _calibration(mtl, route, band.number, spacecraft)
        label = f"band {band.number} ({band.role}) {name}"
        info = probe(source, label=label)
        dn = open_band(source, label=label, chunk=chunk)
        bands[band.role] = _dn_to_reflectance(dn, calib["mult"], calib["add"], info.nodata)
        grids[label] = dn
        scaling[band.role] = {"band": band.number, "file": name, **calib}
        previews[band.role] = PreviewSource(
            source, 1, calib["mult"], calib["add"], (0, info.nodata)
        )
        if not source.startswith("/vsi"):
            files.append(source)
    qa: dict[str, xr.DataArray] = {}
    for layer, key in _QA_KEYS.items():
        name = mtl.get(contents, key, None)
        if name is None:
            continue
        source = product.resolve(str(name))
        label = f"{layer} {name}"
        qa[layer] = open_band(source, label=label, chunk=chunk)
        grids[label] = qa[layer]
        if not source.startswith("/vsi"):
            files.append(source)
    if not qa:
        logger.warning(
            "%s: the product has no QA_PIXEL layer; only spectral masks apply", mtl.source
        )
    check_same_grid(grids, source=mtl.source)

    reflectance = xr.concat(list(bands.values()), dim="band", coords="minimal", compat="override")
    reflectance = reflectance.assign_coords(band=list(bands)).rename("reflectance")
    scene_id = str(
        mtl.get(_CONTENTS, "LANDSAT_PRODUCT_ID", None)
        or mtl.get("METADATA_FILE_INFO", "LANDSAT_SCENE_ID", None)
        or path.stem
    )
    reflectance.attrs = {
        "sensor": sensor.name,
        "platform": spacecraft,
        "scene_id": scene_id,
        "date": date,
        "processing_level": level,
        "units": f"{route.units} (unitless)",
    }
    reflectance = reflectance.rio.write_nodata(np.nan, encoded=False)
    metadata = {
        "product": "landsat",
        "calibration": route.name,
        "mtl": mtl.source,
        "scene_id": scene_id,
        "spacecraft": spacecraft,
        "sensor": sensor.name,
        "processing_level": level,
        "date_acquired": date,
        "scene_center_time": mtl.get(
            _IMAGE if contents == _CONTENTS else _OLD_CONTENTS, "SCENE_CENTER_TIME", None
        ),
        "sun_elevation": mtl.get(_IMAGE, "SUN_ELEVATION", None),
        "sun_azimuth": mtl.get(_IMAGE, "SUN_AZIMUTH", None),
        "cloud_cover": mtl.get(_IMAGE, "CLOUD_COVER", None),
        "cloud_cover_land": mtl.get(_IMAGE, "CLOUD_COVER_LAND", None),
        "fill_dn": 0,
        "slc_off": spacecraft == "LANDSAT_7" and date >= SLC_FAILURE,
        "bands": scaling,
        "qa_layers": sorted(qa),
        "qa_kind": "landsat_c2" if qa else None,
        "crs": str(reflectance.rio.crs),
        "shape": list(reflectance.shape[1:]),
        "transform": list(reflectance.rio.transform())[:6],
    }
    if route.name == "c2_l2_surface_reflectance":
        metadata["scaling_group"] = L2_GROUP
    return Scene(reflectance, qa, metadata, files, previews)


def _dn_to_reflectance(
    dn: xr.DataArray, mult: float, add: float, nodata: float | None = None
) -> xr.DataArray:
    """Scale DN to float32 reflectance; DN 0 (fill) and the file's nodata become NaN. Lazy."""
    return scale_values(dn, mult, add, nodata=(0, nodata))
