"""The ingested scene: reflectance, QA layers, metadata and the files read (no reader here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from geo.io._raster import PreviewSource, read_preview

__all__ = ["Scene"]


@dataclass(frozen=True)
class Scene:
    """A scene ready for the spectral stages.

    Attributes
    ----------
    reflectance : xarray.DataArray
        ``(band, y, x)`` float32 reflectance, dask-backed, NaN where invalid (fill,
        nodata), ``band`` coordinate = roles (``coastal, blue, ..., swir2``), CRS and
        transform on ``.rio``; ``attrs`` hold ``sensor``, ``scene_id``, ``date``.
    qa : dict of str to xarray.DataArray
        Product quality layers on the same grid, raw integers (``qa_pixel``,
        ``qa_radsat`` for Landsat); empty when the product has none.
    metadata : dict
        Everything read from the product's metadata and applied (scale, offset per
        band, sun elevation, cloud cover...), recorded in the run manifest.
    files : list of str
        Every file read, for the manifest's checksums.
    previews : dict of str to PreviewSource
        Bands whose files can serve a decimated read of the whole scene (see
        :meth:`preview`); readers fill it where a band's file covers the grid exactly.
    spectra : xarray.DataArray or None
        Hyperspectral products only (EMIT, EnMAP, PRISMA): ``(band, y, x)`` float32
        reflectance, dask-backed with all bands of a spatial chunk in one chunk, NaN where
        invalid, on the same grid as :attr:`reflectance`; ``band`` = ``"b001"``... (product
        band numbers) with coordinates ``wavelength`` and ``fwhm`` (nm) and ``good`` (False
        for bad / water-vapour bands); attrs ``sensor``, ``scene_id``, ``date``,
        ``wavelength_units="nm"``. None for multispectral products.
    """

    reflectance: xr.DataArray
    qa: dict[str, xr.DataArray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    previews: dict[str, PreviewSource] = field(default_factory=dict)
    spectra: xr.DataArray | None = None

    def __repr__(self) -> str:
        """One line: scene id, sensor, date, bands, grid, CRS (the metadata stays in ``metadata``)."""
        r = self.reflectance
        roles = [str(b) for b in r["band"].values] if "band" in r.coords else []
        try:
            res = abs(float(r.rio.resolution()[0]))
            grid = f"{r.shape[-1]} x {r.shape[-2]} px at {res:g} m, {r.rio.crs}"
        except Exception:  # a hand-made cube without a transform
            grid = f"{r.shape[-1]} x {r.shape[-2]} px"
        return (
            f"<Scene {r.attrs.get('scene_id', '?')}: {r.attrs.get('sensor', '?')}, "
            f"{r.attrs.get('date', '?')}, {len(roles)} bands ({', '.join(roles)}), {grid}; "
            f"QA: {', '.join(self.qa) or 'none'}>"
        )

    def preview(self, roles: list[str], step: int) -> np.ndarray | None:
        """Reflectance of ``roles`` on a grid ``step`` times coarser, or None.

        Read through the band files' overviews (the full-resolution tiles are not
        decoded); the grid is ``ceil(rows / step) × ceil(cols / step)`` over the scene's
        extent, like ``reflectance[:, ::step, ::step]`` up to which pixel of each
        ``step × step`` cell is taken. None when a role has no preview source: take the
        slice of :attr:`reflectance` instead.
        """
        if not roles or any(role not in self.previews for role in roles):
            return None
        rows, cols = self.reflectance.shape[-2:]
        shape = (-(-rows // step), -(-cols // step))
        return read_preview([self.previews[role] for role in roles], shape)
