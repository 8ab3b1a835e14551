"""EnMAP Level-2A surface reflectance (DLR): spectral image GeoTIFF + METADATA.XML.

Supported forms
---------------
The product folder, its ``*-METADATA.XML`` (DLR also writes ``*-METADATA.XML.XML``), its
``*-SPECTRAL_IMAGE.TIF`` / ``*-SPECTRAL_IMAGE_COG.TIF``, or a ``.ZIP`` holding these files
(read in place through GDAL's ``/vsizip/``; a ZIP that only holds another ZIP is refused:
extract the inner one). Product names follow DLR's pattern, e.g.
``ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302_20230628T165614Z``; L1B and L1C
(top-of-atmosphere radiance) are refused.

What is read (element names as read by the EnMAP-Box ``ImportEnmapL2AAlgorithm`` and DLR's
product format description EN-PCV-ICD-2009-2)
---------------------------------------------------------------------------------------
- ``specific/bandCharacterisation/bandID[@number]``: ``wavelengthCenterOfBand`` and
  ``FWHMOfBand`` (nm), ``GainOfBand`` and ``OffsetOfBand``: reflectance = DN x gain + offset,
  per band. A band without any of them refuses the product (MetadataError naming the key).
- ``product/bandStatistics/bandID``: a band with ``stdDeviation`` 0 and ``mean`` -1000000 is
  filled with no data in the product (the EnMAP-Box "exclude no data bands" rule) and is
  marked bad.
- ``specific/vnirProductQuality/expectedChannelsList`` and ``swirProductQuality/...``: which
  band numbers come from which detector, for the VNIR/SWIR overlap (~900-1000 nm): the SWIR
  detector wins (:data:`OVERLAP_RULE`, the EnMAP-Box default), so each wavelength appears once.
- ``base/temporalCoverage/startTime``: the acquisition time (else the date in the name).
- The spectral image's own no-data value (-32768 in DLR products) becomes NaN.
- Quality layers ``*-QL_QUALITY_CLOUD``, ``_CIRRUS``, ``_HAZE``, ``_SNOW``, ``_CLOUDSHADOW``
  (.TIF, 1 = flagged) become ``Scene.qa`` layers ``cloud``, ``cirrus``, ``haze``, ``snow``,
  ``cloud_shadow`` (uint8 0/1). ``QL_QUALITY_CLASSES`` and ``QL_PIXELMASK`` are not read.

Bad bands: EnMAP has no good-band flag; bands whose centre lies in the deep water-vapour
windows :data:`WATER_VAPOUR_WINDOWS_NM` and the product's no-data bands get ``good=False``.

Grid: kept as delivered when it is UTM (DLR's default); a product ordered in another map
projection (e.g. LAEA Europe) is refused with a message.
"""

from __future__ import annotations

import logging
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import rasterio
import xarray as xr
from dask.base import tokenize

from geo.errors import CRSError, InputNotFoundError, MetadataError, ProductError
from geo.io._raster import WindowReader, _stamp, check_same_grid, open_band, probe, scale_values
from geo.io.readers._hyper import broadband_roles, broadband_weights, first_date
from geo.io.scene import Scene
from geo.sensors import OLI_BANDS

__all__ = [
    "HYPER_CHUNK",
    "OVERLAP_RULE",
    "WATER_VAPOUR_WINDOWS_NM",
    "is_enmap",
    "open_enmap",
    "water_vapour_bad",
]

logger = logging.getLogger(__name__)

#: Deep atmospheric water-vapour absorptions (nm) where surface reflectance retrieved by any
#: atmospheric correction is noise: the 1.4 um and 1.9 um bands (EMIT's own
#: ``good_wavelengths`` is 0 over the same regions; EnMAP-Box and the HySpecNet-11k
#: benchmark drop EnMAP bands 127-141 and 161-167 for the same reason).
WATER_VAPOUR_WINDOWS_NM: tuple[tuple[float, float], ...] = ((1340.0, 1450.0), (1800.0, 1960.0))

#: How the VNIR/SWIR overlap (~900-1000 nm) is resolved, for both EnMAP and PRISMA.
OVERLAP_RULE = (
    "VNIR/SWIR overlap: SWIR detector kept, VNIR bands at or above the shortest SWIR band "
    "centre dropped (EnMAP-Box default 'SWIR only'; prismaread join_priority='SWIR')"
)

#: Default spatial chunk edge of hyperspectral cubes: every band of a chunk is read together,
#: so 224 bands x 256 x 256 float32 = 59 MB per chunk.
HYPER_CHUNK = 256

_NAME_LEVEL = re.compile(r"-_*(L1B|L1C|L2A)-", re.IGNORECASE)
_NAME_TIME = re.compile(r"_(\d{8})T\d{6}Z_")
_METADATA = re.compile(r"-METADATA\.XML(\.XML)?$", re.IGNORECASE)
_SPECTRAL = re.compile(r"-SPECTRAL_IMAGE(_COG)?\.TIFF?$", re.IGNORECASE)
_QUALITY = re.compile(
    r"-QL_QUALITY_(CLOUDSHADOW|CLOUD|CIRRUS|HAZE|SNOW)(_COG)?\.TIFF?$", re.IGNORECASE
)
#: Quality-layer file name -> Scene.qa layer name (HYPER.md mask names).
QA_LAYERS = {
    "CLOUD": "cloud",
    "CIRRUS": "cirrus",
    "HAZE": "haze",
    "SNOW": "snow",
    "CLOUDSHADOW": "cloud_shadow",
}
_NO_DATA_BAND_MEAN = -1_000_000.0


# --------------------------------------------------------------------------------------
# Shared with the PRISMA reader


def water_vapour_bad(wavelengths: np.ndarray) -> np.ndarray:
    """Return True for band centres inside :data:`WATER_VAPOUR_WINDOWS_NM`.

    Examples
    --------
    >>> water_vapour_bad(np.array([1000.0, 1400.0, 1900.0, 2200.0])).tolist()
    [False, True, True, False]
    """
    wl = np.asarray(wavelengths, dtype="float64")
    bad = np.zeros(wl.shape, dtype=bool)
    for low, high in WATER_VAPOUR_WINDOWS_NM:
        bad |= (wl >= low) & (wl <= high)
    return bad


def hyper_chunk(block: tuple[int, int], shape: tuple[int, int], target: int) -> int:
    """Spatial chunk edge: a multiple of the file's tile if tiled, else ``target``.

    Striped files (one or a few rows per block) are read by window at ``target``.

    Examples
    --------
    >>> hyper_chunk((256, 256), (1000, 1000), 256), hyper_chunk((1, 1000), (1000, 1000), 256)
    (256, 256)
    """
    rows, cols = block
    if rows >= 16 and cols < shape[1]:  # tiled
        step = max(rows, cols)
        return max(step, round(target / step) * step)
    return max(int(target), 1)


def require_utm(crs: Any, source: str) -> None:
    """Refuse a grid that is not on a WGS 84 UTM zone (EPSG 326xx / 327xx)."""
    epsg = crs.to_epsg() if crs is not None else None
    if epsg is None or not (32601 <= epsg <= 32660 or 32701 <= epsg <= 32760):
        raise CRSError(
            f"{source}: the product grid is in {crs}, not a WGS 84 UTM zone; geo keeps "
            "hyperspectral grids in UTM for metric areas. Order the product in UTM (the "
            "provider's default) or warp it to the scene's UTM zone first (gdalwarp -t_srs "
            "EPSG:326NN)."
        )


def finish_scene(
    spectra: xr.DataArray,
    qa: dict[str, xr.DataArray],
    metadata: dict[str, Any],
    files: list[str],
) -> Scene:
    """Add the broadband roles and the shared metadata, and build the :class:`Scene`."""
    reflectance = broadband_roles(spectra)
    reflectance.attrs.update(
        processing_level=metadata["processing_level"],
        units="surface reflectance (unitless), Landsat 8 OLI bands simulated",
        platform=metadata["platform"],
    )
    reflectance = reflectance.rio.write_nodata(np.nan, encoded=False)
    wl = spectra["wavelength"].values
    good = spectra["good"].values
    ids = [str(b) for b in spectra["band"].values]
    weights = broadband_weights(wl, spectra["fwhm"].values, good)
    weights = weights / weights.sum(axis=1, keepdims=True)  # each role: a weighted mean
    roles = [b.role for b in OLI_BANDS]
    roles_record = {}
    for role, row in zip(roles, weights, strict=True):
        used = [(i, float(w)) for i, w in zip(ids, row, strict=True) if w > 0]
        roles_record[role] = {
            "band": used[0][0] if len(used) == 1 else f"{len(used)} bands",
            "mult": 1.0,  # the roles are computed from reflectance (spectra), not from DN
            "add": 0.0,
            "resampling": "OLI band simulated: Gaussian-FWHM-weighted mean of "
            + ", ".join(f"{i} ({w:.2f})" for i, w in used),
        }
    metadata.update(
        {
            "bands": roles_record,
            "broadband_of": "landsat_oli",
            "qa_layers": sorted(qa),
            "product_masks": sorted(qa),
            "qa_kind": "flag_layers" if qa else None,  # geo.spectral.masks.product_flags
            "crs": str(spectra.rio.crs),
            "shape": list(spectra.shape[1:]),
            "transform": list(spectra.rio.transform())[:6],
        }
    )
    metadata["spectral"].update(
        {
            "bands": len(ids),
            "good_bands": int(good.sum()),
            "wavelength_range_nm": [float(wl.min()), float(wl.max())],
            "bad_bands": [i for i, g in zip(ids, good, strict=True) if not g],
            "water_vapour_windows_nm": [list(w) for w in WATER_VAPOUR_WINDOWS_NM],
        }
    )
    return Scene(reflectance, qa, metadata, files, spectra=spectra)


def spectra_array(
    data: da.Array,
    *,
    ids: list[str],
    wavelength: np.ndarray,
    fwhm: np.ndarray,
    good: np.ndarray,
    transform: Any,
    crs: Any,
    attrs: dict[str, Any],
) -> xr.DataArray:
    """Wrap a ``(band, y, x)`` float32 dask cube as the ``Scene.spectra`` DataArray."""
    _, ny, nx = data.shape
    coords = {
        "band": ids,
        "wavelength": ("band", np.asarray(wavelength, dtype="float64")),
        "fwhm": ("band", np.asarray(fwhm, dtype="float64")),
        "good": ("band", np.asarray(good, dtype=bool)),
        "y": transform.f + transform.e * (np.arange(ny) + 0.5),
        "x": transform.c + transform.a * (np.arange(nx) + 0.5),
    }
    spectra = xr.DataArray(data, dims=("band", "y", "x"), coords=coords, name="spectra")
    spectra.attrs = {**attrs, "wavelength_units": "nm"}
    spectra = spectra.rio.write_crs(crs).rio.write_transform(transform)
    return spectra.rio.write_nodata(np.nan, encoded=False)


def safe_xml(data: bytes, source: str) -> ET.Element:
    """Parse product XML; refuse DTDs (entity expansion) and malformed files in one line."""
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise MetadataError(
            f"{source}: the XML declares a DTD or entities, which DLR product metadata never "
            "does; refusing it (download the product again)."
        )
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise MetadataError(f"{source}: not a well-formed XML file ({exc}).") from None


# --------------------------------------------------------------------------------------
# Public API


def is_enmap(path: str | Path) -> bool:
    """Return True if ``path`` is named like an EnMAP product (or a folder holding one).

    Examples
    --------
    >>> is_enmap("ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302_20230628T165614Z-METADATA.XML")
    True
    >>> is_enmap("LC09_L2SP_171075_20230601_20230607_02_T1_MTL.txt")
    False
    """
    path = Path(path)
    name = path.name.upper()
    if name.startswith("ENMAP"):
        if _METADATA.search(name) or _SPECTRAL.search(name) or name.endswith(".ZIP"):
            return True
        if path.is_dir():
            return _has_metadata(path)
        return False
    if path.is_dir():
        return _has_metadata(path)
    return False


def _has_metadata(folder: Path) -> bool:
    try:
        return any(
            p.name.upper().startswith("ENMAP") and _METADATA.search(p.name)
            for p in folder.iterdir()
        )
    except OSError:
        return False


@dataclass
class _Layout:
    where: str
    product_id: str
    form: str
    xml: bytes
    xml_source: str
    spectral: str | None
    quality: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


def open_enmap(path: str | Path, *, chunk: int = HYPER_CHUNK) -> Scene:
    """Open an EnMAP L2A product as hyperspectral reflectance and simulated OLI roles.

    Parameters
    ----------
    path : str or Path
        The product folder, its ``*-METADATA.XML``, its spectral image, or its ``.ZIP``.
    chunk : int
        Target spatial chunk edge (all bands of a chunk are read together).

    Returns
    -------
    Scene
        ``spectra`` ``(band, y, x)`` float32 (``b001``... = product band numbers, ascending
        wavelength, VNIR bands of the detector overlap dropped), ``reflectance`` the OLI
        roles ``coastal .. swir2`` (see :mod:`geo.io.readers._hyper`), ``qa`` the quality
        layers found, ``metadata["spectral"]`` the scaling, bad bands and overlap record.

    Raises
    ------
    InputNotFoundError
        ``path`` does not exist.
    ProductError
        Not an EnMAP L2A product, the spectral image missing, a band count mismatch.
    MetadataError
        The XML lacks a wavelength, FWHM, gain or offset of a band, or holds a bad number.
    CRSError
        The grid is not UTM.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: EnMAP product not found.")
    layout = _locate(path)
    level = _NAME_LEVEL.search(layout.product_id)
    if level is None or level.group(1).upper() != "L2A":
        found = level.group(1).upper() if level else "no processing level in the name"
        raise ProductError(
            f"{layout.where}: {layout.product_id} is not an EnMAP L2A product ({found}); geo "
            "reads L2A surface reflectance. L1B/L1C hold top-of-atmosphere radiance: order "
            "the L2A product of the same datatake."
        )
    if layout.spectral is None:
        raise ProductError(
            f"{layout.where}: no *-SPECTRAL_IMAGE.TIF (or _COG.TIF) beside "
            f"{layout.xml_source}; the product is incomplete, download it again."
        )
    root = safe_xml(layout.xml, layout.xml_source)
    bands = _band_characterisation(root, layout.xml_source)
    info = probe(layout.spectral, label="the EnMAP spectral image")
    if info.count != len(bands):
        raise ProductError(
            f"{layout.spectral}: the spectral image has {info.count} bands but "
            f"{layout.xml_source} describes {len(bands)}; they must belong to one product."
        )
    if info.dtype not in ("int16", "uint16", "int32", "float32"):
        raise ProductError(f"{layout.spectral}: unexpected data type {info.dtype}.")
    numbers = np.array([b["number"] for b in bands])
    wl = np.array([b["wavelength"] for b in bands])
    fwhm = np.array([b["fwhm"] for b in bands])
    gains = np.array([b["gain"] for b in bands])
    offsets = np.array([b["offset"] for b in bands])

    empty = _no_data_bands(root, numbers)
    keep, overlap = _resolve_overlap(root, numbers, wl, layout.xml_source)
    keep = keep[np.argsort(wl[keep], kind="stable")]
    wv = water_vapour_bad(wl)
    good = ~(wv | empty)

    with rasterio.open(layout.spectral) as src:
        crs, transform = src.crs, src.transform
        block = src.block_shapes[0]
        shape = (src.height, src.width)
    require_utm(crs, layout.spectral)
    if transform.b != 0 or transform.d != 0:
        raise ProductError(f"{layout.spectral}: rotated pixel grid {tuple(transform)[:6]}.")
    edge = hyper_chunk(block, shape, chunk)
    reader = WindowReader(layout.spectral, "EnMAP spectral image", (info.count, *shape), info.dtype)
    token = tokenize(layout.spectral, _stamp(layout.spectral), shape, edge)
    raw = da.from_array(
        reader,
        chunks=(info.count, edge, edge),
        name=f"enmap-{token}",
        meta=np.empty((0, 0, 0), dtype=info.dtype),
    )
    raw_da = xr.DataArray(raw[keep], dims=("band", "y", "x"))
    scaled = scale_values(raw_da, gains[keep].tolist(), offsets[keep].tolist(), (info.nodata,))

    acquired, date_source = _acquisition_date(root, layout)
    ids = [f"b{int(n):03d}" for n in numbers[keep]]
    attrs = {"sensor": "enmap", "scene_id": layout.product_id, "date": acquired.isoformat()}
    spectra = spectra_array(
        scaled.data,
        ids=ids,
        wavelength=wl[keep],
        fwhm=fwhm[keep],
        good=good[keep],
        transform=transform,
        crs=crs,
        attrs=attrs,
    )
    qa = _quality_layers(layout, spectra, edge)
    metadata: dict[str, Any] = {
        "product": "enmap_l2a",
        "form": layout.form,
        "scene_id": layout.product_id,
        "sensor": "enmap",
        "platform": "EnMAP",
        "processing_level": "L2A",
        "date_acquired": acquired.isoformat(),
        "date_source": date_source,
        "metadata_file": layout.xml_source,
        "spectral_image": layout.spectral,
        "nodata": None if info.nodata is None else float(info.nodata),
        "spectral": {
            "scaling": "per band: reflectance = DN x GainOfBand + OffsetOfBand",
            "gain": {f"b{int(n):03d}": float(g) for n, g in zip(numbers, gains, strict=True)},
            "offset": {f"b{int(n):03d}": float(o) for n, o in zip(numbers, offsets, strict=True)},
            "overlap": overlap,
            "no_data_bands": [f"b{int(n):03d}" for n in numbers[empty]],
            "water_vapour_bands": [f"b{int(n):03d}" for n in numbers[wv]],
        },
    }
    return finish_scene(spectra, qa, metadata, layout.files)


# --------------------------------------------------------------------------------------
# Layout


def _locate(path: Path) -> _Layout:
    if path.is_file() and path.name.upper().endswith(".ZIP"):
        return _zip_layout(path)
    if path.is_dir():
        folder, names = path, sorted(p.name for p in path.iterdir())
        metas = [n for n in names if _METADATA.search(n) and n.upper().startswith("ENMAP")]
        if not metas:
            raise ProductError(
                f"{path}: no ENMAP*-METADATA.XML in this folder; give the EnMAP product "
                "folder (the one holding METADATA.XML and SPECTRAL_IMAGE.TIF)."
            )
        meta = _one_metadata(metas, str(path))
    elif _METADATA.search(path.name):
        folder, names, meta = path.parent, sorted(p.name for p in path.parent.iterdir()), path.name
    elif _SPECTRAL.search(path.name):
        folder = path.parent
        names = sorted(p.name for p in folder.iterdir())
        prefix = _SPECTRAL.sub("", path.name)
        metas = [n for n in names if _METADATA.search(n) and _METADATA.sub("", n) == prefix]
        if not metas:
            raise ProductError(
                f"{path}: no {prefix}-METADATA.XML beside the spectral image; EnMAP band "
                "wavelengths and scaling are only in that file."
            )
        meta = metas[0]
    else:
        raise ProductError(f"{path}: not an EnMAP product file.")
    prefix = _METADATA.sub("", meta)
    files = [str(folder / meta)]
    spectral, quality = _siblings(names, prefix, lambda n: str(folder / n))
    files += [p for p in [spectral, *quality.values()] if p is not None]
    return _Layout(
        where=str(path),
        product_id=prefix,
        form="folder",
        xml=(folder / meta).read_bytes(),
        xml_source=str(folder / meta),
        spectral=spectral,
        quality=quality,
        files=files,
    )


def _one_metadata(metas: list[str], where: str) -> str:
    prefixes = sorted({_METADATA.sub("", n) for n in metas})
    if len(prefixes) > 1:
        raise ProductError(
            f"{where}: holds {len(prefixes)} EnMAP products ({', '.join(prefixes[:3])}...); "
            "give one product folder or its METADATA.XML."
        )
    return metas[0]


def _siblings(names: list[str], prefix: str, to_path) -> tuple[str | None, dict[str, str]]:
    spectral = None
    quality: dict[str, str] = {}
    for name in names:
        base = name.rsplit("/", 1)[-1]
        if not base.startswith(prefix):
            continue
        if _SPECTRAL.search(base):
            spectral = to_path(name)
        match = _QUALITY.search(base)
        if match is not None:
            quality[QA_LAYERS[match.group(1).upper()]] = to_path(name)
    return spectral, quality


def _zip_layout(path: Path) -> _Layout:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            metas = [
                n
                for n in names
                if _METADATA.search(n) and n.rsplit("/", 1)[-1].upper().startswith("ENMAP")
            ]
            if not metas:
                inner = [n for n in names if n.upper().endswith(".ZIP")]
                hint = (
                    f" It holds {len(inner)} ZIP file(s): extract the inner product ZIP and "
                    "give that."
                    if inner
                    else ""
                )
                raise ProductError(f"{path}: no ENMAP*-METADATA.XML in this ZIP.{hint}")
            meta = _one_metadata(metas, str(path))
            xml = archive.read(meta)
    except zipfile.BadZipFile as exc:
        raise ProductError(f"{path}: not a readable ZIP archive ({exc}).") from None
    prefix = _METADATA.sub("", meta.rsplit("/", 1)[-1])
    base = f"/vsizip/{path.resolve().as_posix()}/"
    spectral, quality = _siblings(names, prefix, lambda n: base + n)
    return _Layout(
        where=str(path),
        product_id=prefix,
        form="zip",
        xml=xml,
        xml_source=f"{path}:{meta}",
        spectral=spectral,
        quality=quality,
        files=[str(path)],
    )


# --------------------------------------------------------------------------------------
# METADATA.XML


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _child_text(element: ET.Element, name: str) -> str | None:
    child = _child(element, name)
    return None if child is None else child.text


def _find(root: ET.Element, path: str) -> ET.Element | None:
    """First element down ``a/b/c`` (namespace-free local names), searching from any depth."""
    first, *rest = path.split("/")
    for start in (e for e in root.iter() if _local(e.tag) == first):
        node: ET.Element | None = start
        for name in rest:
            node = _child(node, name) if node is not None else None
        if node is not None:
            return node
    return None


def _number(text: str | None, key: str, source: str, *, positive: bool = False) -> float:
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        value = math.nan
    if text is None:
        raise MetadataError(
            f"{source}: no {key}; EnMAP wavelengths and reflectance scaling are read from "
            "the product, never assumed. The file is incomplete: download the product again."
        )
    if not math.isfinite(value) or (positive and value <= 0):
        expected = "a finite, positive number" if positive else "a finite number"
        raise MetadataError(
            f"{source}: {key} is {text.strip()[:40]!r}; expected {expected}. The file is "
            "damaged: download the product again."
        )
    return value


def _band_characterisation(root: ET.Element, source: str) -> list[dict[str, float]]:
    node = _find(root, "bandCharacterisation")
    if node is None:
        raise MetadataError(
            f"{source}: no specific/bandCharacterisation; EnMAP wavelengths and reflectance "
            "scaling are read from it, never assumed. Download the product again."
        )
    bands = []
    for element in (c for c in node if _local(c.tag) == "bandID"):
        number_text = element.get("number")
        if number_text is None or not number_text.strip().isdigit():
            raise MetadataError(
                f"{source}: a bandCharacterisation/bandID has number {number_text!r}; "
                "expected the band number (1, 2, ...)."
            )
        number = int(number_text)
        key = f"specific/bandCharacterisation/bandID[@number={number}]"
        values = {"number": float(number)}
        for field_name, tag, positive in (
            ("wavelength", "wavelengthCenterOfBand", True),
            ("fwhm", "FWHMOfBand", True),
            ("gain", "GainOfBand", True),
            ("offset", "OffsetOfBand", False),
        ):
            child = _child(element, tag)
            text = child.text if child is not None else None
            values[field_name] = _number(text, f"{key}/{tag}", source, positive=positive)
        bands.append(values)
    if not bands:
        raise MetadataError(f"{source}: bandCharacterisation lists no bandID.")
    bands.sort(key=lambda b: b["number"])
    numbers = [int(b["number"]) for b in bands]
    if numbers != list(range(1, len(bands) + 1)):
        raise MetadataError(
            f"{source}: bandCharacterisation numbers bands {numbers[:5]}...; expected 1..N "
            "without gaps or repeats."
        )
    return bands


def _no_data_bands(root: ET.Element, numbers: np.ndarray) -> np.ndarray:
    empty = np.zeros(numbers.shape, dtype=bool)
    node = _find(root, "bandStatistics")
    if node is None:
        return empty
    for element in (c for c in node if _local(c.tag) == "bandID"):
        try:
            number = int(element.get("number", ""))
            mean = float(_child_text(element, "mean") or "nan")
            std = float(_child_text(element, "stdDeviation") or "nan")
        except ValueError:
            continue
        if 1 <= number <= len(empty) and std == 0 and mean == _NO_DATA_BAND_MEAN:
            empty[number - 1] = True
    return empty


def _channels(root: ET.Element, detector: str, source: str, n: int) -> list[int] | None:
    node = _find(root, f"{detector}ProductQuality/expectedChannelsList")
    if node is None or not (node.text or "").strip():
        return None
    try:
        channels = [int(t) for t in node.text.replace(",", " ").split()]  # type: ignore[union-attr]
    except ValueError:
        raise MetadataError(
            f"{source}: {detector}ProductQuality/expectedChannelsList is not a list of band "
            "numbers."
        ) from None
    if any(not 1 <= c <= n for c in channels):
        raise MetadataError(
            f"{source}: {detector}ProductQuality/expectedChannelsList names bands outside 1-{n}."
        )
    return channels


def _resolve_overlap(
    root: ET.Element, numbers: np.ndarray, wl: np.ndarray, source: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Return the indices (0-based) of the bands kept and the overlap record."""
    n = len(numbers)
    vnir = _channels(root, "vnir", source, n)
    swir = _channels(root, "swir", source, n)
    if vnir is None or swir is None:
        logger.warning(
            "%s: no vnir/swirProductQuality expectedChannelsList; the VNIR/SWIR overlap "
            "bands are all kept.",
            source,
        )
        record: dict[str, Any] = {
            "rule": "not resolved: the detector band lists are missing",
            "dropped": [],
        }
        return np.arange(n), record
    shortest_swir = min(wl[c - 1] for c in swir)
    dropped = [c for c in vnir if wl[c - 1] >= shortest_swir]
    keep = np.array([i for i in range(n) if (i + 1) not in set(dropped)])
    record = {
        "rule": OVERLAP_RULE,
        "shortest_swir_nm": float(shortest_swir),
        "dropped": [f"b{c:03d}" for c in dropped],
    }
    return keep, record


def _acquisition_date(root: ET.Element, layout: _Layout) -> tuple[date, str]:
    node = _find(root, "temporalCoverage/startTime")
    stamp = _NAME_TIME.search(layout.product_id)
    found = first_date(
        [
            (node.text if node is not None else None, "base/temporalCoverage/startTime"),
            (stamp.group(1) if stamp else None, "product name"),
        ]
    )
    if found is not None:
        return found
    raise MetadataError(
        f"{layout.xml_source}: no acquisition date (base/temporalCoverage/startTime, nor a "
        "YYYYMMDDThhmmssZ stamp in the product name)."
    )


def _quality_layers(layout: _Layout, spectra: xr.DataArray, edge: int) -> dict[str, xr.DataArray]:
    qa: dict[str, xr.DataArray] = {}
    for name, gdal_path in sorted(layout.quality.items()):
        label = f"EnMAP quality layer {name}"
        raw = open_band(gdal_path, label=label, chunk=edge)
        check_same_grid({"spectral image": spectra.isel(band=0), label: raw}, source=layout.where)
        flagged = (raw == 1).astype("uint8")
        flagged = flagged.chunk({"y": spectra.data.chunks[1], "x": spectra.data.chunks[2]})
        flagged = flagged.assign_coords(y=spectra["y"], x=spectra["x"]).rename(name)
        flagged.attrs = {"source": gdal_path, "meaning": "1 = flagged by the product"}
        qa[name] = flagged
    return qa
