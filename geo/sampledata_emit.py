"""A small EMIT-format sample granule built from the bundled USGS library spectra.

``geo sample-data`` writes it beside the Landsat sample (``sample_rasters/EMIT_L2A_RFL_...nc``
and its ``_MASK_`` granule, ``emit_licences.gpkg``, ``emit_truth.gpkg``): a swath of
:data:`SWATH` pixels (lines, samples) at 60 m, rotated :data:`ROTATION_DEG` against north as
EMIT's swaths are, orthorectified through a real geometry lookup table (GLT) onto a geographic
grid, with EMIT's 285 bands (381-2493 nm, approximated: :func:`geo.spectral.resample.band_set`).

What is planted (linear mixtures of library spectra over a synthetic bright sandy soil, with
a smooth illumination factor and noise at EMIT-like signal-to-noise ratios):

- a porphyry-style system: an advanced argillic core (alunite + kaolinite), a phyllic ring
  (white mica), a propylitic halo (chlorite + epidote + calcite);
- an argillic patch (kaolinite + montmorillonite) away from it;
- a hematite-stained sand with no SWIR alteration (a trap: iron ratios light it up, the
  mineral maps say "ferric iron only");
- a patch of green vegetation and a small cloud (flagged in the MASK granule).

The truth layer holds each planted polygon with its assemblage; two licences cover the
porphyry system and the stained sand. Everything is fixed by ``seed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
from shapely.geometry import Point, Polygon

from geo.errors import OutputExistsError

__all__ = ["EMIT_GRANULE", "SWATH", "make_emit_sample"]

#: The granule's name (EMIT L2A RFL naming: orbit time, version).
EMIT_GRANULE = "EMIT_L2A_RFL_001_20230601T082000_2315206_004"
SWATH = (84, 72)  # lines (downtrack), samples (crosstrack)
ROTATION_DEG = 14.0  # swath against north (EMIT flies on the ISS: inclined ground tracks)
PIXEL_DEG = 60.0 / 111_320.0  # about 60 m in latitude (the ortho grid's pixel, both axes)
CENTRE_LONLAT = (27.62, -21.38)  # beside the Landsat sample, eastern Botswana
ACQUIRED = "2023-06-01T08:20:00+0000"
SNR = (300.0, 150.0)  # VNIR, SWIR signal-to-noise (EMIT-like order of magnitude)

#: Planted circles in swath pixels: (line, sample, radius, {library record: fraction}),
#: with the assemblage they stand for.
_SYSTEM_CENTRE = (34.0, 28.0)
_PLANTS: tuple[tuple[str, float, float, float, float, dict[str, float]], ...] = (
    ("propylitic", 34.0, 28.0, 17.0, 11.0, {"chlorite_smr13": 0.35, "epidote_br93_33a": 0.2,
                                           "calcite_ws272": 0.1}),
    ("phyllic", 34.0, 28.0, 11.0, 5.5, {"muscovite_gds111": 0.6}),
    ("advanced_argillic", 34.0, 28.0, 5.5, 0.0, {"alunite_hs295": 0.45, "kaolinite_cm9": 0.25}),
    ("argillic", 66.0, 14.0, 6.0, 0.0, {"kaolinite_kga1": 0.4, "montmorillonite_swy1": 0.2}),
    ("ferric_iron", 64.0, 54.0, 7.0, 0.0, {"hematite_fe2602": 0.45}),
    ("vegetation", 10.0, 60.0, 5.0, 0.0, {"green_vegetation_gds91": 0.75}),
)  # fmt: skip
_CLOUD = (76.0, 62.0, 3.5)  # line, sample, radius


def _soil(wavelength: np.ndarray) -> np.ndarray:
    """Return a bright, featureless sandy soil: a rise from blue to 1.2 µm, then flat."""
    w = wavelength / 1000.0
    return (0.18 + 0.17 * np.clip((w - 0.4) / 0.8, 0, 1) - 0.02 * np.clip(w - 1.6, 0, 1)).astype(
        "float64"
    )


def _glt():
    """Ortho grid and its GLT for the rotated swath; returns (glt_x, glt_y, geotransform)."""
    lines, samples = SWATH
    theta = np.deg2rad(ROTATION_DEG)
    half = 0.5 * np.hypot(lines, samples) + 2
    n = int(np.ceil(2 * half))
    rows, cols = np.mgrid[0:n, 0:n].astype("float64")
    # ortho cell centre relative to the grid centre, in pixels (east, north)
    east = cols + 0.5 - n / 2
    north = n / 2 - (rows + 0.5)
    # swath axes: downtrack along the rotated "south" direction, crosstrack to the east
    sample = east * np.cos(theta) + north * np.sin(theta) + samples / 2
    line = east * np.sin(theta) - north * np.cos(theta) + lines / 2
    li, sa = np.floor(line).astype(int), np.floor(sample).astype(int)
    inside = (li >= 0) & (li < lines) & (sa >= 0) & (sa < samples)
    glt_x = np.where(inside, sa + 1, 0).astype("int32")  # 1-based, 0 = no data
    glt_y = np.where(inside, li + 1, 0).astype("int32")
    lon0 = CENTRE_LONLAT[0] - n / 2 * PIXEL_DEG / np.cos(np.deg2rad(CENTRE_LONLAT[1]))
    lat0 = CENTRE_LONLAT[1] + n / 2 * PIXEL_DEG
    dlon = PIXEL_DEG / np.cos(np.deg2rad(CENTRE_LONLAT[1]))  # square pixels on the ground
    geotransform = (lon0, dlon, 0.0, lat0, 0.0, -PIXEL_DEG)
    return glt_x, glt_y, geotransform


def _swath_lonlat(glt_x, glt_y, geotransform) -> tuple[np.ndarray, np.ndarray]:
    """Longitude, latitude of each swath pixel (centre of the ortho cell that shows it)."""
    lon = np.full(SWATH, np.nan)
    lat = np.full(SWATH, np.nan)
    r, c = np.nonzero(glt_x)
    lon[glt_y[r, c] - 1, glt_x[r, c] - 1] = geotransform[0] + (c + 0.5) * geotransform[1]
    lat[glt_y[r, c] - 1, glt_x[r, c] - 1] = geotransform[3] + (r + 0.5) * geotransform[5]
    return lon, lat


def make_emit_sample(out_dir: Path, *, seed: int = 20230601, overwrite: bool = False) -> dict:
    """Write the EMIT-format sample granule, its MASK granule, licences and truth.

    Parameters
    ----------
    out_dir : Path
        Folder to write into (created if needed).
    seed : int
        Seed of the noise and the illumination field.
    overwrite : bool
        Replace the sample's files if they exist.

    Returns
    -------
    dict
        ``granule`` (the RFL path), ``paths`` (name -> Path) and ``planted`` (truth rows).

    Raises
    ------
    OutputExistsError
        A sample file exists and ``overwrite`` is False.
    """
    from scipy import ndimage

    from geo.spectral.minerals import load_hyperspectral_library
    from geo.spectral.resample import band_set, convolve_to_bands
    from geo.testing import EMIT_MASK_BANDS, write_emit_granule

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rfl = out_dir / f"{EMIT_GRANULE}.nc"
    mask_path = out_dir / f"{EMIT_GRANULE.replace('_RFL_', '_MASK_')}.nc"
    licences_path = out_dir / "emit_licences.gpkg"
    truth_path = out_dir / "emit_truth.gpkg"
    paths = {"rfl": rfl, "mask": mask_path, "licences": licences_path, "truth": truth_path}
    existing = [p for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{existing[0]}: exists; pass --overwrite to replace the EMIT sample files."
        )
    rng = np.random.default_rng(seed)
    bands = band_set("emit")
    lib_wl, lib, _records = load_hyperspectral_library()
    lines, samples = SWATH
    li, sa = np.mgrid[0:lines, 0:samples].astype("float64") + 0.5
    fractions: dict[str, np.ndarray] = {}
    truth_rows: list[dict[str, Any]] = []
    for kind, cl, cs, outer, inner, parts in _PLANTS:
        d = np.hypot(li - cl, sa - cs)
        ring = (d <= outer) & (d >= inner)
        soft = np.clip((outer - d) / 1.5, 0, 1) * (np.clip((d - inner) / 1.5, 0, 1) if inner else 1)
        for record, share in parts.items():
            fractions[record] = np.maximum(fractions.get(record, 0.0), share * soft * ring)
        truth_rows.append({"kind": kind, "line": cl, "sample": cs, "outer": outer, "inner": inner})
    total = sum(fractions.values())
    scale = np.where(total > 0.95, 0.95 / np.maximum(total, 1e-9), 1.0)
    soil = convolve_to_bands(lib_wl, _soil(lib_wl), bands.wavelength, bands.fwhm)
    cube = np.repeat((1.0 - total * scale)[..., None], bands.wavelength.size, axis=2) * soil
    for record, frac in fractions.items():
        spectrum = convolve_to_bands(
            lib_wl, lib[record].to_numpy(float), bands.wavelength, bands.fwhm
        )
        cube += (frac * scale)[..., None] * np.nan_to_num(spectrum)[None, None, :]
    illumination = ndimage.gaussian_filter(rng.normal(size=SWATH), 8)
    illumination = 1.0 + 0.06 * illumination / max(np.abs(illumination).max(), 1e-9)
    cube *= illumination[..., None]
    snr = np.where(bands.wavelength < 1000, SNR[0], SNR[1])
    cube += rng.normal(size=cube.shape) * cube / snr
    cl, cs, cr = _CLOUD
    cloud = np.hypot(li - cl, sa - cs) <= cr
    cube[cloud] = 0.55 + 0.01 * rng.normal(size=(int(cloud.sum()), bands.wavelength.size))
    cube = np.round(cube.astype("float32"), 4)  # 1e-4 reflectance: below the noise
    mask = np.zeros((*SWATH, len(EMIT_MASK_BANDS)), dtype="float32")
    names = list(EMIT_MASK_BANDS)
    for name in ("Cloud flag", "Aggregate Flag"):
        if name in names:
            mask[..., names.index(name)] = cloud
    glt_x, glt_y, geotransform = _glt()
    write_emit_granule(
        rfl,
        cube,
        bands.wavelength.tolist(),
        bands.fwhm.tolist(),
        (glt_x, glt_y),
        geotransform,
        good=bands.good.astype(int).tolist(),
        mask=mask,
        mask_path=mask_path,
        attrs={"time_coverage_start": ACQUIRED, "title": "geo sample: EMIT-format granule"},
        compress=True,
    )
    lon, lat = _swath_lonlat(glt_x, glt_y, geotransform)
    _write_vectors(truth_rows, lon, lat, truth_path, licences_path)
    return {"granule": rfl, "paths": paths, "planted": len(truth_rows)}


def _at(lon: np.ndarray, lat: np.ndarray, line: float, sample: float) -> tuple[float, float]:
    i = int(np.clip(round(line - 0.5), 0, SWATH[0] - 1))
    j = int(np.clip(round(sample - 0.5), 0, SWATH[1] - 1))
    return float(lon[i, j]), float(lat[i, j])


def _write_vectors(rows, lon, lat, truth_path: Path, licences_path: Path) -> None:
    """Truth polygons (circles and rings, WGS 84 then UTM) and two licences, as GeoPackages."""
    from pyproj import CRS

    zone = int((CENTRE_LONLAT[0] + 180) // 6) + 1
    utm = CRS.from_epsg(32700 + zone if CENTRE_LONLAT[1] < 0 else 32600 + zone)
    geoms, kinds = [], []
    for row in rows:
        x, y = _at(lon, lat, row["line"], row["sample"])
        centre = gpd.GeoSeries([Point(x, y)], crs="EPSG:4326").to_crs(utm).iloc[0]
        shape = centre.buffer(row["outer"] * 60.0)
        if row["inner"]:
            shape = shape.difference(centre.buffer(row["inner"] * 60.0))
        geoms.append(shape)
        kinds.append(row["kind"])
    truth = gpd.GeoDataFrame({"assemblage": kinds}, geometry=geoms, crs=utm)
    truth.to_file(truth_path, layer="truth", driver="GPKG", engine="pyogrio")
    sys_x, sys_y = _at(lon, lat, *_SYSTEM_CENTRE)
    sand_x, sand_y = _at(lon, lat, 64.0, 54.0)
    boxes = []
    for x, y, half in ((sys_x, sys_y, 1500.0), (sand_x, sand_y, 900.0)):
        c = gpd.GeoSeries([Point(x, y)], crs="EPSG:4326").to_crs(utm).iloc[0]
        boxes.append(
            Polygon(
                [
                    (c.x - half, c.y - half),
                    (c.x + half, c.y - half),
                    (c.x + half, c.y + half),
                    (c.x - half, c.y + half),
                ]
            )
        )
    licences = gpd.GeoDataFrame(
        {
            "licence_no": ["PL 201/2022", "PL 202/2022"],
            "holder_name": ["Kalahari Copper (Pty) Ltd", "Ironsand Ventures"],
            "status": ["granted", "granted"],
            "expiry": ["2027-12-31", "2026-06-30"],
        },
        geometry=boxes,
        crs=utm,
    ).to_crs("EPSG:4326")
    licences.to_file(licences_path, layer="licences", driver="GPKG", engine="pyogrio")
