"""Scene readers, one module per product family, and the probe-and-open registry.

:func:`open_scene` looks at a path and hands it to the reader of its product family:

=========  =============================================================================
module     products
=========  =============================================================================
landsat    Landsat 4-9 Collection 2 Level-2 / Level-1 and older Level-1 (folder, MTL, .tar)
sentinel2  Sentinel-2 L2A / L1C (.SAFE folder, MTD XML, ESA .zip)
aster      ASTER L1T and AST_07XT (HDF-EOS, GeoTIFF sets, LP DAAC .zip)
emit       EMIT L2A RFL netCDF4 (+ the L2A MASK granule beside it), GLT-orthorectified to UTM
enmap      EnMAP L2A (product folder, METADATA.XML, spectral image, DLR .ZIP)
prisma     PRISMA L2D (``PRS_L2D_STD_*.he5``, HDF-EOS5)
stac       STAC Items whose assets are local files
geotiff    one file per band (``bands.yaml`` sidecar or ``bands``) and multi-band GeoTIFFs
=========  =============================================================================

Every reader returns a :class:`geo.io.scene.Scene`; none imports this module back.
"""

from __future__ import annotations

import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geo.errors import InputNotFoundError, ProductError
from geo.io.readers import aster, emit, enmap, geotiff, landsat, prisma, sentinel2, stac
from geo.io.scene import Scene

__all__ = ["open_scene"]


def _describe_folder(path: Path) -> str:
    names = sorted(p.name for p in path.iterdir())
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    return f"it holds {len(names)} entries ({shown})" if names else "it is empty"


def open_scene(
    path: str | Path,
    *,
    roles: list[str] | None = None,
    bands: Mapping[str, str | Path] | None = None,
    sensor: str | None = None,
    scale: float | None = None,
    offset: float | None = None,
    resolution: float | None = None,
    chunk: int | None = None,
) -> Scene:
    """Open a scene product and return reflectance with its QA layers and metadata.

    Detects the kind of product from ``path``:

    - a Landsat 4–9 product (Collection 2 Level-2 or Level-1, or an older Level-1): its
      folder, its ``*_MTL.txt`` / ``*_MTL.json``, or the ``.tar`` USGS delivers (read in place);
    - a Sentinel-2 L2A or L1C product: the ``.SAFE`` folder, its ``MTD_MSIL*.xml``, or the
      ``.zip`` ESA delivers (read in place), resampled to ``resolution`` (default 20 m);
    - an ASTER L1T or AST_07XT product (see :mod:`geo.io.readers.aster` for the forms read);
    - an EMIT L2A reflectance granule (``.nc`` with a ``reflectance`` variable and a
      ``sensor_band_parameters`` group), put on the UTM zone of its centre at ``resolution``
      (default 60 m), its MASK granule read when it sits beside it; ``Scene.spectra`` holds
      the cube and ``Scene.reflectance`` the Landsat 8 OLI roles simulated from it;
    - an EnMAP L2A product: its folder, ``*-METADATA.XML``, spectral image or ``.ZIP``
      (hyperspectral: ``Scene.spectra`` plus simulated OLI roles, see
      :mod:`geo.io.readers.enmap`);
    - a PRISMA L2D ``PRS_L2D_*.he5`` file (see :mod:`geo.io.readers.prisma`);
    - a STAC Item JSON whose assets are local files (``resolution`` needed when bands differ);
    - one file per band: a folder with a ``bands.yaml`` sidecar, or ``bands`` given;
    - a plain multi-band GeoTIFF, with band roles from its band descriptions or ``roles``.

    Parameters
    ----------
    path : str or Path
        The product.
    roles : list of str, optional
        Band roles of a multi-band GeoTIFF, in band order (overrides band descriptions).
    bands : mapping of str to path, optional
        One file per role; relative names are resolved against ``path`` (a folder).
    sensor : str, optional
        Sensor name recorded for plain GeoTIFFs and band files.
    resolution : float, optional
        Pixel size in metres of the analysis grid for products whose bands come at several
        resolutions (Sentinel-2, ASTER, STAC items); each reader documents its default.
    scale, offset : float, optional
        Reflectance = DN × scale + offset for plain GeoTIFFs (overrides the file's own).
    chunk : int, optional
        Target chunk edge in pixels.

    Raises
    ------
    InputNotFoundError
        ``path`` does not exist.
    ProductError
        ``path`` exists but is not a product geo can read; the message says what was seen.
    """
    path = Path(path)
    if not path.exists():
        raise InputNotFoundError(f"{path}: scene not found.")
    kwargs: dict[str, Any] = {} if chunk is None else {"chunk": chunk}
    plain = {"sensor": sensor, "scale": scale, "offset": offset, **kwargs}
    name = path.name.lower()
    multi = kwargs if resolution is None else {**kwargs, "resolution": resolution}
    if bands:
        base = path if path.is_dir() else path.parent
        files = {role: base / f for role, f in bands.items()}
        return geotiff.open_band_files(files, scene_id=path.stem, **plain)
    if sentinel2.is_sentinel2(path):
        return sentinel2.open_sentinel2(path, **multi)
    if aster.is_aster(path):
        return aster.open_aster(path, **multi)
    if name.endswith(".nc"):
        return emit.open_emit(path, **multi)
    if enmap.is_enmap(path):
        return enmap.open_enmap(path, **kwargs)
    if prisma.is_prisma(path):
        return prisma.open_prisma(path, **kwargs)
    if path.is_dir():
        if any(path.glob("*_MTL.txt")) or any(path.glob("*_MTL.json")):
            return landsat.open_landsat(path, **kwargs)
        if (path / geotiff.SIDECAR).is_file():
            side = geotiff.read_sidecar(path / geotiff.SIDECAR)
            return geotiff.open_band_files(
                side["bands"],
                sensor=sensor or side.get("sensor"),
                scale=scale if scale is not None else side.get("scale"),
                offset=offset if offset is not None else side.get("offset"),
                scene_id=side.get("scene_id", path.name),
                **kwargs,
            )
        raise ProductError(
            f"{path}: not a product folder geo recognises: {_describe_folder(path)}. Expected a "
            f"Landsat product (an *_MTL.txt or *_MTL.json), or single-band files described by "
            f"a {geotiff.SIDECAR} sidecar (bands: {{red: B4.tif, ...}})."
        )
    if name.endswith(("_mtl.txt", "_mtl.json")):
        return landsat.open_landsat(path, **kwargs)
    if name.endswith(".tar"):
        if not tarfile.is_tarfile(path):
            raise ProductError(f"{path}: not a readable tar archive (truncated download?).")
        return landsat.open_landsat(path, **kwargs)
    if name.endswith(".json") and stac.is_stac_item(path):
        return stac.open_stac_item(path, resolution=resolution, **kwargs)
    if name.endswith((".tif", ".tiff")):
        return geotiff.open_geotiff(path, roles=roles, **plain)
    raise ProductError(
        f"{path}: not a recognised scene (a {path.suffix or 'suffix-less'} file). Expected a "
        "Landsat folder, MTL or .tar, a Sentinel-2 .SAFE folder or .zip, an ASTER product, an "
        "EMIT L2A RFL .nc granule, an EnMAP L2A product, a PRISMA L2D .he5 file, a STAC Item .json, a folder of band files with a bands.yaml sidecar, or a multi-band "
        "GeoTIFF (.tif)."
    )
