"""Tiny rasters, scenes and licence layers for tests, doctests and notebooks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from shapely.geometry import box

__all__ = ["EMIT_MASK_BANDS", "make_licences", "make_raster", "write_emit_granule"]


def make_raster(
    data,
    *,
    bands: Sequence[str] | None = None,
    crs: str | None = "EPSG:32635",
    res: float = 30.0,
    origin: tuple[float, float] = (500_000.0, -2_380_000.0),
    attrs: dict | None = None,
    name: str = "reflectance",
) -> xr.DataArray:
    """Build a georeferenced float32 DataArray from literal values.

    Parameters
    ----------
    data : array-like
        2-D ``(y, x)`` or 3-D ``(band, y, x)`` values.
    bands : sequence of str, optional
        Band coordinate (roles) for 3-D data.
    crs : str or None
        CRS to write; None leaves the array without CRS (to test that error).
    res : float
        Pixel size in CRS units.
    origin : tuple of float
        Upper-left corner ``(x, y)``.
    attrs : dict, optional
        Attributes to set (``sensor``, ``scene_id``...).
    name : str
        Array name.

    Examples
    --------
    >>> r = make_raster([[1, 2], [3, 4]])
    >>> r.dims, float(r.x[0]), r.rio.resolution()
    (('y', 'x'), 500015.0, (30.0, -30.0))
    """
    values = np.asarray(data, dtype="float32")
    ny, nx = values.shape[-2:]
    coords: dict[str, np.ndarray | list[Any]] = {
        "x": origin[0] + res * (np.arange(nx) + 0.5),
        "y": origin[1] - res * (np.arange(ny) + 0.5),
    }
    dims: tuple[str, ...] = ("y", "x")
    if values.ndim == 3:
        dims = ("band", "y", "x")
        coords["band"] = list(bands) if bands is not None else list(range(1, values.shape[0] + 1))
    da = xr.DataArray(values, dims=dims, coords=coords, name=name, attrs=dict(attrs or {}))
    if crs is not None:
        da = da.rio.write_crs(crs)
    return da.rio.write_transform(Affine(res, 0.0, origin[0], 0.0, -res, origin[1]))


def make_licences(
    boxes: dict[str, tuple[float, float, float, float]],
    *,
    crs: str | None = "EPSG:32635",
    holder: str = "Test Holder",
    status: str = "granted",
) -> gpd.GeoDataFrame:
    """Build a licence layer from ``{licence_id: (minx, miny, maxx, maxy)}``.

    Examples
    --------
    >>> make_licences({"L1": (0, 0, 10, 10)}).area.tolist()
    [100.0]
    """
    return gpd.GeoDataFrame(
        {
            "licence_id": list(boxes),
            "holder": [holder] * len(boxes),
            "status": [status] * len(boxes),
        },
        geometry=[box(*b) for b in boxes.values()],
        crs=crs,
    )


# ----------------------------------------------------------------------------------------
# EMIT L2A (issue 22, helper EMIT): tiny RFL / MASK granules with the real group, variable and
# attribute names (emit-sds/emit-utils daac_converter; nasa/EMIT-Data-Resources emit_tools).
# ----------------------------------------------------------------------------------------

#: The band names of the EMIT L2A MASK granule's ``sensor_band_parameters/mask_bands``.
EMIT_MASK_BANDS: tuple[str, ...] = (
    "Cloud flag",
    "Cirrus flag",
    "Water flag",
    "Spacecraft Flag",
    "Dilated Cloud Flag",
    "AOD550",
    "H2O (g cm-2)",
    "Aggregate Flag",
)

_WGS84_WKT = (
    'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,'
    'AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,'
    'AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],'
    'AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]'
)


def _emit_file(
    path: Any,
    variable: str,
    cube: Any,
    band_params: dict[str, Any],
    glt_x: np.ndarray,
    glt_y: np.ndarray,
    geotransform: Sequence[float],
    fill_value: float,
    omit: Sequence[str],
    attrs: dict[str, Any],
) -> None:
    import h5netcdf  # type: ignore[import-untyped]

    lines, samples, nbands = (int(n) for n in cube.shape)
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {"downtrack": lines, "crosstrack": samples, "bands": nbands}
        f.dimensions["ortho_y"], f.dimensions["ortho_x"] = glt_x.shape
        globals_ = {
            "title": f"EMIT L2A {variable}, synthetic (geo.testing)",
            "instrument": "EMIT",
            "platform": "ISS",
            "time_coverage_start": "2023-03-16T04:51:33+0000",
            "spatial_ref": _WGS84_WKT,
            "geotransform": np.asarray(geotransform, dtype="float64"),
            **attrs,
        }
        for key, value in globals_.items():
            if key not in omit:
                f.attrs[key] = value
        if variable not in omit:
            var = f.create_variable(
                variable,
                ("downtrack", "crosstrack", "bands"),
                dtype="float32",
                chunks=(min(lines, 64), min(samples, 64), nbands),
                **({} if "_FillValue" in omit else {"fillvalue": np.float32(fill_value)}),
            )
            for start in range(0, lines, 64):
                var[start : start + 64] = np.asarray(cube[start : start + 64], dtype="float32")
        params = f.create_group("sensor_band_parameters")
        for name, values in band_params.items():
            if f"sensor_band_parameters/{name}" in omit:
                continue
            values = np.asarray(values)
            if values.dtype.kind in "UO":
                import h5py  # type: ignore[import-untyped]

                v = params.create_variable(name, ("bands",), dtype=h5py.string_dtype())
                v[:] = values.astype(object)
            else:
                params.create_variable(name, ("bands",), data=values)
        loc = f.create_group("location")
        for name, values in (("glt_x", glt_x), ("glt_y", glt_y)):
            if f"location/{name}" not in omit:
                loc.create_variable(name, ("ortho_y", "ortho_x"), data=values.astype("int32"))


def write_emit_granule(
    path: Any,
    spectra_cube: Any,
    wavelengths: Sequence[float],
    fwhm: Sequence[float],
    glt: Any,
    geotransform: Sequence[float],
    *,
    good: Sequence[int] | None = None,
    mask: Any = None,
    mask_path: Any = None,
    fill_value: float = -9999.0,
    omit: Sequence[str] = (),
    attrs: dict[str, Any] | None = None,
) -> Any:
    """Write an EMIT L2A RFL granule (and optionally its MASK granule) as netCDF4.

    Parameters
    ----------
    path : str or Path
        The ``EMIT_L2A_RFL_<...>.nc`` file to write.
    spectra_cube : array-like
        ``(downtrack, crosstrack, bands)`` reflectance (fill values included as they are);
        anything sliceable along its first axis (a numpy or dask array), written 64 lines
        at a time.
    wavelengths, fwhm : sequence of float
        Band centres and FWHM (nm): ``sensor_band_parameters/wavelengths``, ``fwhm``.
    glt : array-like or tuple
        ``(ortho_y, ortho_x, 2)`` with ``[..., 0]`` = ``glt_x`` (1-based sample) and
        ``[..., 1]`` = ``glt_y`` (1-based line), 0 = no data; or the pair ``(glt_x, glt_y)``.
    geotransform : sequence of 6 float
        GDAL geotransform of the ortho grid (degrees, WGS 84).
    good : sequence of int, optional
        ``good_wavelengths`` (1 good, 0 bad); all good by default.
    mask : array-like, optional
        ``(downtrack, crosstrack, 8)`` values of the MASK granule, bands in the order of
        :data:`EMIT_MASK_BANDS`; written to ``mask_path`` (default: ``path`` with ``_MASK_``
        for ``_RFL_``).
    fill_value : float
        The ``_FillValue`` attribute of ``reflectance`` / ``mask``.
    omit : sequence of str
        Names to leave out (``"reflectance"``, ``"_FillValue"``, ``"geotransform"``,
        ``"spatial_ref"``, ``"sensor_band_parameters/fwhm"``, ``"location/glt_x"``...), to
        test the refusals.
    attrs : dict, optional
        Extra or replacement global attributes.

    Returns
    -------
    Path
        The RFL file (the MASK file is beside it when ``mask`` is given).
    """
    from pathlib import Path

    path = Path(path)
    if isinstance(glt, tuple):
        glt_x, glt_y = (np.asarray(a) for a in glt)
    else:
        arr = np.asarray(glt)
        glt_x, glt_y = arr[..., 0], arr[..., 1]
    nb = int(spectra_cube.shape[2])
    params = {
        "wavelengths": np.asarray(wavelengths, dtype="float32"),
        "fwhm": np.asarray(fwhm, dtype="float32"),
        "good_wavelengths": np.asarray(good if good is not None else np.ones(nb), dtype="int8"),
    }
    _emit_file(
        path,
        "reflectance",
        spectra_cube,
        params,
        glt_x,
        glt_y,
        geotransform,
        fill_value,
        omit,
        dict(attrs or {}),
    )
    if mask is not None:
        mask = np.asarray(mask, dtype="float32")
        target = (
            Path(mask_path)
            if mask_path
            else path.with_name(path.name.replace("_RFL_", "_MASK_", 1))
        )
        if target == path:
            raise ValueError("mask_path is needed when the RFL name has no _RFL_ part.")
        _emit_file(
            target,
            "mask",
            mask,
            {"mask_bands": np.asarray(EMIT_MASK_BANDS[: mask.shape[2]])},
            glt_x,
            glt_y,
            geotransform,
            fill_value,
            (),
            dict(attrs or {}),
        )
    return path
