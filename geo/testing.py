"""Tiny rasters, scenes and licence layers for tests, doctests and notebooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import geopandas as gpd
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from shapely.geometry import box

__all__ = [
    "EMIT_MASK_BANDS",
    "make_licences",
    "make_raster",
    "write_emit_granule",
    "write_enmap_product",
    "write_prisma_product",
]


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
    compress: bool = False,
) -> None:
    import h5netcdf

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
                **(
                    {"compression": "gzip", "compression_opts": 6, "shuffle": True}
                    if compress
                    else {}
                ),
            )
            for start in range(0, lines, 64):
                var[start : start + 64] = np.asarray(cube[start : start + 64], dtype="float32")
        params = f.create_group("sensor_band_parameters")
        for name, values in band_params.items():
            if f"sensor_band_parameters/{name}" in omit:
                continue
            values = np.asarray(values)
            if values.dtype.kind in "UO":
                import h5py

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
    compress: bool = False,
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
    compress : bool
        Store the cube with gzip and byte shuffling (HDF5 filters every netCDF reader
        has; the bundled sample uses it to stay small).

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
        compress,
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
            compress,
        )
    return path


# --------------------------------------------------------------------------------------
# EnMAP L2A products (helper ENPR): the file set and METADATA.XML elements geo reads

ENMAP_TEST_ID = "ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302_20230628T165614Z"


def write_enmap_product(
    folder: str | Path,
    dn: np.ndarray,
    wavelengths: Sequence[float],
    fwhm: Sequence[float],
    *,
    gains: Sequence[float] | None = None,
    offsets: Sequence[float] | None = None,
    vnir_channels: Sequence[int] | None = None,
    swir_channels: Sequence[int] | None = None,
    no_data_bands: Sequence[int] = (),
    quality: Mapping[str, np.ndarray] | None = None,
    product_id: str = ENMAP_TEST_ID,
    start_time: str | None = "2022-07-24T10:45:26.000Z",
    crs: str = "EPSG:32633",
    origin: tuple[float, float] = (360_000.0, 5_810_010.0),
    res: float = 30.0,
    nodata: int | None = -32768,
    omit: Sequence[str] = (),
) -> Path:
    """Write a tiny EnMAP L2A product folder: METADATA.XML, SPECTRAL_IMAGE.TIF, QL layers.

    Parameters
    ----------
    folder : str or Path
        Created if missing; the product's files are written inside it.
    dn : numpy.ndarray
        ``(band, y, x)`` int16 DN in product band order.
    wavelengths, fwhm : sequence of float
        Per band, nm (``wavelengthCenterOfBand``, ``FWHMOfBand``).
    gains, offsets : sequence of float, optional
        ``GainOfBand`` / ``OffsetOfBand`` (default 1e-4 and 0).
    vnir_channels, swir_channels : sequence of int, optional
        1-based band numbers of each detector (``expectedChannelsList``); omitted if None.
    no_data_bands : sequence of int
        Band numbers whose ``bandStatistics`` say "filled with no data".
    quality : mapping of str to numpy.ndarray, optional
        ``{"CLOUD": array, "CIRRUS": ..., "HAZE", "SNOW", "CLOUDSHADOW"}`` uint8 layers.
    omit : sequence of str
        XML element names to leave out of every band (to test refusals), e.g. ``GainOfBand``.

    Returns
    -------
    Path
        The product folder.
    """
    import rasterio

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dn = np.asarray(dn)
    n = dn.shape[0]
    gains = [1e-4] * n if gains is None else list(gains)
    offsets = [0.0] * n if offsets is None else list(offsets)
    rows = []
    for i in range(n):
        fields = {
            "wavelengthCenterOfBand": wavelengths[i],
            "FWHMOfBand": fwhm[i],
            "GainOfBand": gains[i],
            "OffsetOfBand": offsets[i],
        }
        inner = "".join(f"<{k}>{v!r}</{k}>" for k, v in fields.items() if k not in omit)
        rows.append(f'      <bandID number="{i + 1}">{inner}</bandID>')
    stats = "".join(
        f'<bandID number="{b}"><mean>-1000000</mean><stdDeviation>0</stdDeviation></bandID>'
        for b in no_data_bands
    )
    quality_xml = ""
    for det, channels in (("vnir", vnir_channels), ("swir", swir_channels)):
        if channels is not None:
            listed = ",".join(str(c) for c in channels)
            quality_xml += (
                f"<{det}ProductQuality><expectedChannelsList>{listed}</expectedChannelsList>"
                f"</{det}ProductQuality>"
            )
    start = (
        f"<temporalCoverage><startTime>{escape(start_time)}</startTime></temporalCoverage>"
        if start_time
        else ""
    )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<level_X>\n'
        f"  <metadata><name>{escape(product_id)}</name></metadata>\n"
        f"  <base>{start}</base>\n"
        f"  <specific>{quality_xml}\n    <bandCharacterisation>\n"
        + "\n".join(rows)
        + "\n    </bandCharacterisation>\n  </specific>\n"
        f"  <product><bandStatistics>{stats}</bandStatistics></product>\n</level_X>\n"
    )
    (folder / f"{product_id}-METADATA.XML").write_text(xml, encoding="utf-8")
    transform = Affine(res, 0.0, origin[0], 0.0, -res, origin[1])
    profile = {
        "driver": "GTiff",
        "height": dn.shape[1],
        "width": dn.shape[2],
        "crs": crs,
        "transform": transform,
    }
    spectral = folder / f"{product_id}-SPECTRAL_IMAGE.TIF"
    with rasterio.open(
        spectral, "w", count=n, dtype="int16", nodata=nodata, interleave="band", **profile
    ) as dst:
        dst.write(dn.astype("int16"))
    for name, layer in (quality or {}).items():
        target = folder / f"{product_id}-QL_QUALITY_{name.upper()}.TIF"
        with rasterio.open(target, "w", count=1, dtype="uint8", **profile) as dst:
            dst.write(np.asarray(layer, dtype="uint8")[None])
    return folder


# --------------------------------------------------------------------------------------
# PRISMA L2D products (helper ENPR): the HDF-EOS5 datasets and global attributes geo reads

PRISMA_TEST_NAME = "PRS_L2D_STD_20200524103704_20200524103708_0001.he5"


def write_prisma_product(
    path: str | Path,
    vnir_dn: np.ndarray,
    swir_dn: np.ndarray,
    cw_vnir: Sequence[float],
    fwhm_vnir: Sequence[float],
    cw_swir: Sequence[float],
    fwhm_swir: Sequence[float],
    *,
    flags_vnir: Sequence[int] | None = None,
    flags_swir: Sequence[int] | None = None,
    scale: Mapping[str, float] | None = None,
    epsg: int = 32632,
    ul_centre: tuple[float, float] = (500_015.0, 4_999_985.0),
    masks: Mapping[str, np.ndarray] | None = None,
    processing_level: str = "2D",
    start_time: str = "2020-05-24T10:37:04.000",
    omit: Sequence[str] = (),
) -> Path:
    """Write a tiny PRISMA L2D ``.he5`` with the product's group, dataset and attribute names.

    Parameters
    ----------
    path : str or Path
        Output file; name it ``PRS_L2D_STD_<start>_<stop>_0001.he5`` for detection.
    vnir_dn, swir_dn : numpy.ndarray
        uint16 cubes ``(lines, bands, samples)`` in the product's band order (descending
        wavelength), as stored in ``PRS_L2D_HCO/Data Fields/VNIR_Cube`` / ``SWIR_Cube``.
    cw_vnir, fwhm_vnir, cw_swir, fwhm_swir : sequence of float
        ``List_Cw_*`` / ``List_Fwhm_*`` per cube band (0 for unused bands).
    flags_vnir, flags_swir : sequence of int, optional
        ``List_Cw_*_Flags`` (default: 1 where the centre is non-zero).
    scale : mapping, optional
        ``L2ScaleVnirMin``, ``L2ScaleVnirMax``, ``L2ScaleSwirMin``, ``L2ScaleSwirMax``
        (default 0 and 1).
    ul_centre : tuple of float
        ``Product_ULcorner_easting`` / ``_northing``: centre of the upper-left pixel.
    masks : mapping of str to numpy.ndarray, optional
        ``{"Cloud_Mask": array, "LandCover_Mask": ..., "SunGlint_Mask": ...}`` (lines, samples).
    omit : sequence of str
        Global attributes to leave out (to test refusals).

    Returns
    -------
    Path
    """
    import h5py

    path = Path(path)
    lines, _, samples = np.shape(vnir_dn)
    levels = {
        "L2ScaleVnirMin": 0.0,
        "L2ScaleVnirMax": 1.0,
        "L2ScaleSwirMin": 0.0,
        "L2ScaleSwirMax": 1.0,
        **(scale or {}),
    }
    ul_e, ul_n = ul_centre
    attrs: dict[str, Any] = {
        "Processing_Level": processing_level,
        "Product_StartTime": start_time,
        "List_Cw_Vnir": np.asarray(cw_vnir, dtype="float32"),
        "List_Fwhm_Vnir": np.asarray(fwhm_vnir, dtype="float32"),
        "List_Cw_Swir": np.asarray(cw_swir, dtype="float32"),
        "List_Fwhm_Swir": np.asarray(fwhm_swir, dtype="float32"),
        "List_Cw_Vnir_Flags": np.asarray(
            flags_vnir if flags_vnir is not None else np.asarray(cw_vnir) > 0, dtype="uint8"
        ),
        "List_Cw_Swir_Flags": np.asarray(
            flags_swir if flags_swir is not None else np.asarray(cw_swir) > 0, dtype="uint8"
        ),
        **{k: np.float32(v) for k, v in levels.items()},
        "Epsg_Code": np.int32(epsg),
        "Product_ULcorner_easting": np.float32(ul_e),
        "Product_ULcorner_northing": np.float32(ul_n),
        "Product_LRcorner_easting": np.float32(ul_e + 30.0 * (samples - 1)),
        "Product_LRcorner_northing": np.float32(ul_n - 30.0 * (lines - 1)),
    }
    with h5py.File(path, "w") as f:
        for key, value in attrs.items():
            if key not in omit:
                f.attrs[key] = value
        fields = f.create_group("HDFEOS/SWATHS/PRS_L2D_HCO/Data Fields")
        fields.create_dataset("VNIR_Cube", data=np.asarray(vnir_dn, dtype="uint16"))
        fields.create_dataset("SWIR_Cube", data=np.asarray(swir_dn, dtype="uint16"))
        for name, layer in (masks or {}).items():
            fields.create_dataset(name, data=np.asarray(layer, dtype="uint8"))
        geo = f.create_group("HDFEOS/SWATHS/PRS_L2D_HCO/Geolocation Fields")
        geo.create_dataset("Latitude", data=np.zeros((lines, samples), dtype="float32"))
        geo.create_dataset("Longitude", data=np.zeros((lines, samples), dtype="float32"))
    return path
