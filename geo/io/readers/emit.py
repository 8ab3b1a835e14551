"""EMIT L2A surface reflectance (RFL) and its MASK granule, orthorectified onto UTM.

Product layout (netCDF4 / HDF5, read with h5py)
-----------------------------------------------
Names as written by JPL's EMIT science data system (emit-sds/emit-utils,
``emit_utils/daac_converter.py``: ``add_glt``, ``makeGlobalAttr``) and read by NASA's
LP DAAC tutorials (nasa/EMIT-Data-Resources, ``python/modules/emit_tools.py``):

- ``reflectance(downtrack, crosstrack, bands)`` float32, ``_FillValue`` -9999 (read from the
  attribute, never assumed);
- ``sensor_band_parameters/wavelengths``, ``fwhm`` (nm) and ``good_wavelengths`` (1 = usable,
  0 = deep water-vapour bands);
- ``location/glt_x`` (sample = crosstrack) and ``location/glt_y`` (line = downtrack) on the
  orthorectified ``(ortho_y, ortho_x)`` grid: 1-based swath indices, 0 = no data, negative =
  a cell the GLT filled from its nearest swath pixel (its absolute value is used, as
  emit-utils ``apply_glt`` does);
- global attributes ``geotransform`` (GDAL order, no rotation, degrees) and ``spatial_ref``
  (WKT of WGS 84) of that ortho grid; ``time_coverage_start``.
- The MASK granule ``EMIT_L2A_MASK_<...>.nc`` (same name with ``_MASK_`` for ``_RFL_``):
  ``mask(downtrack, crosstrack, bands)`` whose bands ``sensor_band_parameters/mask_bands``
  name ``Cloud flag``, ``Cirrus flag``, ``Water flag``, ``Spacecraft Flag``, ``Dilated Cloud
  Flag``, ``AOD550``, ``H2O (g cm-2)``, ``Aggregate Flag``; the flags (0/1) become
  ``Scene.qa`` layers.

Orthorectification
------------------
The scene goes straight from the swath to the standard UTM zone of its centre (one
nearest-neighbour gather, not a geographic resampling followed by a reprojection): for each
output pixel centre, UTM -> longitude/latitude (pyproj) -> ortho cell (inverse geotransform,
floor) -> GLT -> swath ``(line, sample)``; outside the ortho grid or GLT 0 -> NaN. The output
extent covers the corners of every valid ortho cell, snapped outward to multiples of the
pixel size. Each dask block reads only the box of swath lines and samples its pixels use,
all bands at once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import dask.array as dsa
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from affine import Affine
from dask.base import tokenize
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError as ProjCRSError

from geo.errors import InputNotFoundError, InvalidParameterError, ProductError
from geo.io.readers._hyper import (
    HYPER_CHUNK,
    broadband_roles,
    broadband_weights,
    check_spectral_axis,
    spectral_coords,
    utm_epsg,
)
from geo.io.scene import Scene

__all__ = ["MASK_LAYERS", "EmitGrid", "is_emit", "is_emit_mask", "open_emit"]

#: EMIT mask band name (lower case, as in ``mask_bands``) -> ``Scene.qa`` layer name.
MASK_LAYERS: dict[str, str] = {
    "cloud flag": "cloud",
    "cirrus flag": "cirrus",
    "water flag": "water",
    "spacecraft flag": "spacecraft",
    "dilated cloud flag": "dilated_cloud",
    "aggregate flag": "aggregate",
}

_STAMP = re.compile(r"_(\d{8})T(\d{6})_")


def _h5py() -> Any:
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - a dependency of geo
        raise ProductError(
            "reading EMIT netCDF granules needs the h5py package: pip install h5py"
        ) from exc
    return h5py


def _members(path: Path) -> tuple[set[str], set[str]] | None:
    """Root datasets and groups of an HDF5 file, or None when it is not HDF5."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            return {k for k in f if isinstance(f[k], h5py.Dataset)}, {
                k for k in f if isinstance(f[k], h5py.Group)
            }
    except (OSError, ValueError):
        return None


def is_emit(path: str | Path) -> bool:
    """Tell an EMIT L2A RFL granule: a ``.nc`` with ``reflectance`` and ``sensor_band_parameters``."""
    path = Path(path)
    if not (path.is_file() and path.suffix.lower() == ".nc"):
        return False
    members = _members(path)
    return (
        members is not None
        and "reflectance" in members[0]
        and ("sensor_band_parameters" in members[1])
    )


def is_emit_mask(path: str | Path) -> bool:
    """Tell an EMIT L2A MASK granule: a ``.nc`` with ``mask`` and ``sensor_band_parameters``."""
    path = Path(path)
    if not (path.is_file() and path.suffix.lower() == ".nc"):
        return False
    members = _members(path)
    return members is not None and "mask" in members[0] and ("sensor_band_parameters" in members[1])


# --------------------------------------------------------------------------- the granule


@dataclass(frozen=True)
class _Granule:
    """What is read once from a granule: the swath shape, fill, band table, GLT, ortho grid."""

    path: str
    variable: str
    shape: tuple[int, int, int]  # lines, samples, bands
    fill: float
    band_names: list[str]
    wavelengths: np.ndarray | None
    fwhm: np.ndarray | None
    good: np.ndarray | None
    glt_line: np.ndarray  # (ortho_y, ortho_x) int32, 0-based swath line, -1 = no data
    glt_sample: np.ndarray
    geotransform: tuple[float, ...]
    crs_wkt: str
    attrs: dict[str, str] = field(default_factory=dict)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        return _text(value.reshape(-1)[0])
    return str(value)


def _shown(text: str, limit: int = 40) -> str:
    """Product text fit for a one-line message: control characters replaced, shortened."""
    clean = "".join(ch if ch.isprintable() else "?" for ch in text[: limit + 1])
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def _need(f: Any, name: str, source: str) -> Any:
    if name not in f:
        raise ProductError(
            f"{source}: not a complete EMIT L2A granule: the variable {name!r} is missing."
        )
    return f[name]


def _read_granule(path: Path, variable: str) -> _Granule:
    """Read and check everything but the cube itself (see the module docstring)."""
    h5py = _h5py()
    source = str(path)
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise ProductError(f"{source}: not a readable netCDF4/HDF5 file ({exc}).") from None
    with f:
        cube = _need(f, variable, source)
        if not isinstance(cube, h5py.Dataset) or cube.ndim != 3:
            raise ProductError(
                f"{source}: {variable!r} is not a (downtrack, crosstrack, bands) cube."
            )
        if "_FillValue" not in cube.attrs:
            raise ProductError(
                f"{source}: the {variable!r} variable has no _FillValue attribute; EMIT "
                "granules state their fill value (-9999)."
            )
        fill = float(np.asarray(cube.attrs["_FillValue"]).reshape(-1)[0])
        lines, samples, nbands = (int(n) for n in cube.shape)
        names: list[str] = []
        wavelengths = fwhm = good = None
        if variable == "reflectance":
            w = np.asarray(_need(f, "sensor_band_parameters/wavelengths", source)[()], "float64")
            fw = np.asarray(_need(f, "sensor_band_parameters/fwhm", source)[()], "float64")
            g = np.asarray(_need(f, "sensor_band_parameters/good_wavelengths", source)[()])
            check_spectral_axis(w, fw, g, source=f"{source}: sensor_band_parameters")
            if w.shape[0] != nbands:
                raise ProductError(
                    f"{source}: {w.shape[0]} wavelengths for {nbands} reflectance bands."
                )
            if not np.all(np.isin(g, (0, 1))):
                raise ProductError(f"{source}: good_wavelengths holds values other than 0/1.")
            wavelengths, fwhm, good = w, fw, g.astype(bool)
        else:
            raw = _need(f, "sensor_band_parameters/mask_bands", source)[()]
            names = [_text(n).strip() for n in np.asarray(raw).reshape(-1)]
            if len(names) != nbands:
                raise ProductError(f"{source}: {len(names)} mask_bands for {nbands} mask bands.")
        gx = np.asarray(_need(f, "location/glt_x", source)[()])
        gy = np.asarray(_need(f, "location/glt_y", source)[()])
        attrs = {k: _text(v) for k, v in f.attrs.items() if k != "geotransform"}
        for key in ("geotransform", "spatial_ref"):
            if key not in f.attrs:
                raise ProductError(
                    f"{source}: not a complete EMIT L2A granule: the global attribute {key!r} "
                    "is missing."
                )
        gt_raw = np.asarray(f.attrs["geotransform"], dtype="float64").reshape(-1)
    if gx.ndim != 2 or gx.shape != gy.shape:
        raise ProductError(f"{source}: location/glt_x and glt_y are not two grids of one shape.")
    if not (np.issubdtype(gx.dtype, np.number) and np.issubdtype(gy.dtype, np.number)):
        raise ProductError(f"{source}: location/glt_x or glt_y is not numeric.")
    gx = np.abs(np.nan_to_num(gx, nan=0)).astype("int64")
    gy = np.abs(np.nan_to_num(gy, nan=0)).astype("int64")
    if gx.max(initial=0) > samples or gy.max(initial=0) > lines:
        raise ProductError(
            f"{source}: the GLT points outside the swath ({int(gy.max())} lines / "
            f"{int(gx.max())} samples asked, {lines} x {samples} held)."
        )
    valid = (gx > 0) & (gy > 0)
    if not valid.any():
        raise ProductError(f"{source}: the GLT (location/glt_x, glt_y) has no valid cell.")
    glt_line = np.where(valid, gy - 1, -1).astype("int32")
    glt_sample = np.where(valid, gx - 1, -1).astype("int32")
    if gt_raw.shape != (6,) or not np.all(np.isfinite(gt_raw)):
        raise ProductError(f"{source}: the geotransform attribute is not six finite numbers.")
    gt = tuple(float(v) for v in gt_raw)
    if gt[2] != 0 or gt[4] != 0 or gt[1] <= 0 or gt[5] >= 0:
        raise ProductError(
            f"{source}: geotransform {gt} is not a north-up grid (rotation terms must be 0, "
            "pixel width positive, height negative)."
        )
    try:
        crs = CRS.from_wkt(attrs["spatial_ref"])
    except ProjCRSError:
        raise ProductError(f"{source}: the spatial_ref attribute is not a readable WKT.") from None
    if not crs.is_geographic:
        raise ProductError(
            f"{source}: spatial_ref is {crs.name!r}, not a geographic (longitude/latitude) CRS."
        )
    return _Granule(
        path=source,
        variable=variable,
        shape=(lines, samples, nbands),
        fill=fill,
        band_names=names,
        wavelengths=wavelengths,
        fwhm=fwhm,
        good=good,
        glt_line=glt_line,
        glt_sample=glt_sample,
        geotransform=gt,
        crs_wkt=crs.to_wkt(),
        attrs=attrs,
    )


# --------------------------------------------------------------------------- the UTM grid


@dataclass(frozen=True)
class EmitGrid:
    """The UTM output grid: EPSG, upper-left corner, pixel size, rows and columns."""

    epsg: int
    left: float
    top: float
    res: float
    rows: int
    cols: int

    @property
    def transform(self) -> Affine:
        """Affine transform of the grid (pixel corners)."""
        return Affine(self.res, 0.0, self.left, 0.0, -self.res, self.top)


def _ortho_corners(g: _Granule) -> tuple[np.ndarray, np.ndarray]:
    """Return the lon/lat of the outer corners of each row's and column's end cells.

    The first and last valid ortho cell of every row and of every column: parallels and
    meridians curve in UTM, so both are needed for the extent.
    """
    gt = g.geotransform
    valid = g.glt_line >= 0
    ny, nx = valid.shape
    rows = np.flatnonzero(valid.any(axis=1))
    first_col = np.argmax(valid, axis=1)[rows]
    last_col = nx - 1 - np.argmax(valid[:, ::-1], axis=1)[rows]
    cols = np.flatnonzero(valid.any(axis=0))
    first_row = np.argmax(valid, axis=0)[cols]
    last_row = ny - 1 - np.argmax(valid[::-1, :], axis=0)[cols]
    # corner (col, row) pairs: cell (r, c) spans columns c..c+1 and rows r..r+1
    corner_cols = [first_col, last_col + 1, first_col, last_col + 1, cols, cols + 1, cols, cols + 1]
    corner_rows = [rows, rows, rows + 1, rows + 1, first_row, first_row, last_row + 1, last_row + 1]
    c = np.concatenate(corner_cols).astype("float64")
    r = np.concatenate(corner_rows).astype("float64")
    return gt[0] + c * gt[1], gt[3] + r * gt[5]


def _utm_grid(g: _Granule, res: float) -> EmitGrid:
    lon, lat = _ortho_corners(g)
    centre_lon = (lon.min() + lon.max()) / 2.0
    centre_lat = (lat.min() + lat.max()) / 2.0
    epsg = utm_epsg(float(centre_lon), float(centre_lat))
    to_utm = Transformer.from_crs(CRS.from_wkt(g.crs_wkt), CRS.from_epsg(epsg), always_xy=True)
    x, y = to_utm.transform(lon, lat)
    left = math.floor(float(np.min(x)) / res) * res
    right = math.ceil(float(np.max(x)) / res) * res
    bottom = math.floor(float(np.min(y)) / res) * res
    top = math.ceil(float(np.max(y)) / res) * res
    return EmitGrid(epsg, left, top, res, round((top - bottom) / res), round((right - left) / res))


def swath_index(
    g: _Granule, grid: EmitGrid, rows: slice, cols: slice
) -> tuple[np.ndarray, np.ndarray]:
    """Swath ``(line, sample)`` (0-based; -1 = no data) of the UTM pixels ``rows x cols``."""
    r = np.arange(rows.start, rows.stop)
    c = np.arange(cols.start, cols.stop)
    xs = grid.left + (c + 0.5) * grid.res
    ys = grid.top - (r + 0.5) * grid.res
    x, y = np.meshgrid(xs, ys)
    to_geo = Transformer.from_crs(CRS.from_epsg(grid.epsg), CRS.from_wkt(g.crs_wkt), always_xy=True)
    lon, lat = to_geo.transform(x, y)
    gt = g.geotransform
    with np.errstate(invalid="ignore"):
        oc = np.floor((np.asarray(lon) - gt[0]) / gt[1])
        orow = np.floor((np.asarray(lat) - gt[3]) / gt[5])
    ny, nx = g.glt_line.shape
    inside = np.isfinite(oc) & np.isfinite(orow) & (oc >= 0) & (oc < nx) & (orow >= 0)
    inside &= orow < ny
    line = np.full(x.shape, -1, dtype="int64")
    sample = np.full(x.shape, -1, dtype="int64")
    ri, ci = orow[inside].astype("int64"), oc[inside].astype("int64")
    line[inside] = g.glt_line[ri, ci]
    sample[inside] = g.glt_sample[ri, ci]
    return line, sample


def read_box(path: str, variable: str, lines: slice, samples: slice) -> np.ndarray:
    """Read ``variable[lines, samples, :]`` (all bands) from the granule at ``path``."""
    h5py = _h5py()
    try:
        with h5py.File(path, "r") as f:
            return np.asarray(f[variable][lines, samples, :], dtype="float32")
    except (OSError, KeyError, ValueError) as exc:
        raise ProductError(
            f"{path}: could not read {variable} lines {lines.start}-{lines.stop - 1}, samples "
            f"{samples.start}-{samples.stop - 1} ({exc}); the file may be truncated."
        ) from None


class _Gather:
    """Array-like for :func:`dask.array.from_array`: UTM blocks gathered through the GLT.

    ``gather[bands, rows, cols]`` is the ``(bands, y, x)`` block, fill and no-data cells NaN.
    """

    ndim = 3
    dtype = np.dtype("float32")

    def __init__(self, granule: _Granule, grid: EmitGrid) -> None:
        self.granule = granule
        self.grid = grid
        self.shape = (granule.shape[2], grid.rows, grid.cols)

    def __getitem__(self, key: tuple[slice, slice, slice]) -> np.ndarray:
        bands, rows, cols = (slice(*k.indices(n)[:2]) for k, n in zip(key, self.shape, strict=True))
        g = self.granule
        line, sample = swath_index(g, self.grid, rows, cols)
        nb = bands.stop - bands.start
        out = np.full((nb, *line.shape), np.nan, dtype="float32")
        ok = line >= 0
        if not ok.any():
            return out
        l0, l1 = int(line[ok].min()), int(line[ok].max()) + 1
        s0, s1 = int(sample[ok].min()), int(sample[ok].max()) + 1
        box = read_box(g.path, g.variable, slice(l0, l1), slice(s0, s1))
        values = box[line[ok] - l0, sample[ok] - s0, bands]
        del box
        values[values == g.fill] = np.nan
        out[:, ok] = values.T
        return out


def _orthorectify(g: _Granule, grid: EmitGrid, chunk: int) -> dsa.Array:
    gather = _Gather(g, grid)
    stamp = Path(g.path).stat().st_mtime_ns
    return dsa.from_array(
        gather,
        chunks=(-1, chunk, chunk),
        lock=False,
        asarray=False,
        fancy=False,
        meta=np.empty((0, 0, 0), dtype="float32"),
        name=f"emit-{g.variable}-{tokenize(g.path, stamp, grid, chunk)}",
    )


# --------------------------------------------------------------------------- the scene


def _acquired(g: _Granule, path: Path) -> tuple[str, str | None]:
    """``(YYYY-MM-DD, start time or None)`` from time_coverage_start, else the file name."""
    start = g.attrs.get("time_coverage_start", "").strip()
    if start:
        try:
            when = datetime.fromisoformat(start.replace("Z", "+00:00"))
            return when.date().isoformat(), when.isoformat()
        except ValueError:
            pass
    m = _STAMP.search(path.name)
    if m:
        try:
            return datetime.strptime(m.group(1), "%Y%m%d").date().isoformat(), None
        except ValueError:
            pass
    raise ProductError(
        f"{path}: no acquisition date: the time_coverage_start attribute is missing or "
        f"unreadable ({_shown(start)!r}) and the file name has no _YYYYMMDDTHHMMSS_ stamp."
    )


def _mask_path(path: Path) -> Path | None:
    if "_RFL_" not in path.name:
        return None
    candidate = path.with_name(path.name.replace("_RFL_", "_MASK_", 1))
    return candidate if candidate.is_file() else None


def _mask_layers(
    path: Path, rfl: _Granule, grid: EmitGrid, chunk: int, spectra: xr.DataArray
) -> dict[str, xr.DataArray]:
    g = _read_granule(path, "mask")
    if g.shape[:2] != rfl.shape[:2]:
        raise ProductError(
            f"{path}: the mask granule's swath is {g.shape[0]} x {g.shape[1]} but the "
            f"reflectance's is {rfl.shape[0]} x {rfl.shape[1]}; not the matching granule."
        )
    wanted = {
        MASK_LAYERS[n.lower()]: i for i, n in enumerate(g.band_names) if n.lower() in MASK_LAYERS
    }
    if "cloud" not in wanted:
        raise ProductError(
            f"{path}: the mask granule has no 'Cloud flag' band (mask_bands: "
            f"{', '.join(_shown(n) for n in g.band_names[:10])})."
        )
    # the reflectance granule's GLT places the pixels: both granules share the swath
    g = _Granule(**{**g.__dict__, "glt_line": rfl.glt_line, "glt_sample": rfl.glt_sample})
    cube = _orthorectify(g, grid, chunk)
    coords = {"y": spectra["y"], "x": spectra["x"]}
    qa: dict[str, xr.DataArray] = {}
    for name, i in wanted.items():
        flag = (cube[i] == 1).astype("uint8")  # NaN (no data, fill) -> 0
        layer = xr.DataArray(flag, dims=("y", "x"), coords=coords, name=name)
        qa[name] = layer.rio.write_crs(spectra.rio.crs).rio.write_transform(grid.transform)
    return qa


def open_emit(
    path: str | Path,
    *,
    mask: str | Path | bool | None = None,
    resolution: float = 60.0,
    chunk: int = HYPER_CHUNK,
) -> Scene:
    """Open an EMIT L2A RFL granule on the UTM grid of its centre.

    Parameters
    ----------
    path : str or Path
        The ``EMIT_L2A_RFL_*.nc`` granule.
    mask : str, Path, bool or None
        The matching ``EMIT_L2A_MASK_*.nc``; None (default): use it when it sits beside the
        reflectance file under the same name with ``_MASK_``; False: no mask.
    resolution : float
        Output pixel size in metres (60 m: EMIT's sampling).
    chunk : int
        Spatial chunk edge in pixels; every chunk holds all bands.

    Returns
    -------
    Scene
        ``spectra``: ``(band, y, x)`` reflectance, NaN for fill and outside the swath;
        ``reflectance``: the Landsat 8 OLI roles simulated from it
        (:func:`geo.io.readers._hyper.broadband_roles`); ``qa``: the mask flags
        (``cloud``, ``cirrus``, ``water``, ``spacecraft``, ``dilated_cloud``,
        ``aggregate``; uint8 0/1) when a mask granule is found.

    Raises
    ------
    InputNotFoundError
        ``path`` (or a given ``mask``) does not exist.
    ProductError
        A variable or attribute is missing or inconsistent (the message names it).
    """
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{path}: EMIT granule not found.")
    if not (isinstance(resolution, int | float) and math.isfinite(resolution) and resolution > 0):
        raise InvalidParameterError(
            f"resolution must be a positive number of metres, got {resolution!r}."
        )
    if not (isinstance(chunk, int) and chunk >= 16):
        raise InvalidParameterError(
            f"chunk must be an integer of at least 16 pixels, got {chunk!r}."
        )
    if not is_emit(path):
        hint = (
            " It is an EMIT L2A MASK granule: open the matching _RFL_ granule (the mask is "
            "read beside it)."
            if is_emit_mask(path)
            else ""
        )
        raise ProductError(
            f"{path}: not an EMIT L2A reflectance granule (no 'reflectance' variable with a "
            f"'sensor_band_parameters' group).{hint}"
        )
    g = _read_granule(path, "reflectance")
    grid = _utm_grid(g, float(resolution))
    date, start = _acquired(g, path)
    scene_id = path.stem
    assert g.wavelengths is not None and g.fwhm is not None and g.good is not None
    spectra = xr.DataArray(
        _orthorectify(g, grid, chunk),
        dims=("band", "y", "x"),
        coords={
            **spectral_coords(g.wavelengths, g.fwhm, g.good),
            "y": grid.top - (np.arange(grid.rows) + 0.5) * grid.res,
            "x": grid.left + (np.arange(grid.cols) + 0.5) * grid.res,
        },
        name="spectra",
        attrs={
            "sensor": "emit",
            "scene_id": scene_id,
            "date": date,
            "wavelength_units": "nm",
            "platform": "ISS",
            "processing_level": "L2A",
            "units": "surface reflectance (unitless)",
        },
    )
    spectra = spectra.rio.write_crs(f"EPSG:{grid.epsg}").rio.write_transform(grid.transform)
    spectra = spectra.rio.write_nodata(np.nan, encoded=False)
    reflectance = broadband_roles(spectra)

    mask_file: Path | None
    if mask is None or mask is True:
        mask_file = _mask_path(path)
    elif mask is False:
        mask_file = None
    else:
        mask_file = Path(mask)
        if not mask_file.is_file():
            raise InputNotFoundError(f"{mask_file}: EMIT mask granule not found.")
    qa = {} if mask_file is None else _mask_layers(mask_file, g, grid, chunk, spectra)

    w = broadband_weights(g.wavelengths, g.fwhm, g.good)
    bands: dict[str, dict[str, Any]] = {}
    for k, role in enumerate(reflectance["band"].values):
        used = np.flatnonzero(w[k] > 0)
        bands[str(role)] = {
            "band": f"b{used[0] + 1:03d}-b{used[-1] + 1:03d}",
            "mult": 1.0,
            "add": 0.0,
            "resampling": f"mean of {used.size} EMIT bands (Gaussian overlap); GLT nearest",
        }
    zone = grid.epsg % 100
    hemisphere = "N" if grid.epsg < 32700 else "S"
    metadata: dict[str, Any] = {
        "product": "EMIT L2A RFL",
        "scene_id": scene_id,
        "sensor": "emit",
        "spacecraft": "ISS",
        "processing_level": "L2A",
        "date_acquired": date,
        "scene_center_time": start,
        "fill_value": g.fill,
        "swath_shape": list(g.shape),
        "band_count": g.shape[2],
        "wavelength_range_nm": [float(g.wavelengths[0]), float(g.wavelengths[-1])],
        "bad_band_count": int((~g.good).sum()),
        "bad_bands": [f"b{i + 1:03d}" for i in np.flatnonzero(~g.good)],
        "orthorectification": (
            f"GLT nearest neighbour to UTM zone {zone}{hemisphere} (EPSG:{grid.epsg}) at "
            f"{grid.res:g} m"
        ),
        "ortho_geotransform": list(g.geotransform),
        "resolution_m": grid.res,
        "broadband_of": "landsat_oli",
        "broadband_method": reflectance.attrs["broadband_method"],
        "bands": bands,
        "mask_file": None if mask_file is None else str(mask_file),
        "product_masks": sorted(qa),
        "qa_layers": sorted(qa),
        "qa_kind": "flag_layers" if qa else None,  # geo.spectral.masks.product_flags
        "qa_note": None if qa else "no EMIT L2A MASK granule beside the reflectance file",
        "crs": f"EPSG:{grid.epsg}",
        "shape": [grid.rows, grid.cols],
        "transform": list(grid.transform)[:6],
    }
    files = [str(path)] + ([] if mask_file is None else [str(mask_file)])
    return Scene(reflectance, qa, metadata, files, spectra=spectra)
