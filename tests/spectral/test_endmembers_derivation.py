"""Tests of the committed endmember and spectral-library tables and of ``scripts/derive_endmembers.py``.

The table tests and the synthetic-spectrum tests always run. Re-deriving the tables needs the
reference data in ``../shared/data`` next to the repository and is skipped without it.
"""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "derive_endmembers.py"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
TABLES = {
    "landsat8_oli": REPO / "geo" / "data" / "endmembers_landsat8_oli.csv",
    "landsat9_oli2": REPO / "geo" / "data" / "endmembers_landsat9_oli2.csv",
}
LIBRARIES = {
    sensor: REPO / "geo" / "data" / f"library_{sensor}.csv"
    for sensor in ("aster", "landsat_etm", "landsat_oli", "landsat_tm", "sentinel2_msi")
}
BANDS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
LABELS = ["name", "group", "record", "library"]
COLUMNS = [*LABELS, *BANDS]
GROUPS = {"iron_oxide", "aloh_clay", "mgoh_carbonate", "vegetation", "soil", "water", "snow"}
REQUIRED = {
    "hematite": "iron_oxide",
    "goethite": "iron_oxide",
    "jarosite": "iron_oxide",
    "quartz_hematite_2pct": "iron_oxide",
    "quartz_goethite_2pct": "iron_oxide",
    "kaolinite": "aloh_clay",
    "alunite": "aloh_clay",
    "muscovite": "aloh_clay",
    "montmorillonite": "aloh_clay",
    "chlorite": "mgoh_carbonate",
    "epidote": "mgoh_carbonate",
    "calcite": "mgoh_carbonate",
    "dolomite": "mgoh_carbonate",
    "green_vegetation": "vegetation",
    "dry_vegetation": "vegetation",
    "playa_soil": "soil",
    "desert_varnish": "soil",
    "sand": "soil",
    "soil": "soil",
    "seawater": "water",
    "snow": "snow",
}
FERRIC = ["hematite", "goethite", "jarosite"]
ALOH = ["kaolinite", "alunite", "muscovite"]


def load_script():
    spec = importlib.util.spec_from_file_location("derive_endmembers", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture(params=sorted(TABLES))
def table(request):
    return pd.read_csv(TABLES[request.param], comment="#")


@pytest.fixture(params=sorted(TABLES))
def bands(request):
    return pd.read_csv(TABLES[request.param], comment="#").set_index("name")[BANDS]


# ---------------------------------------------------------------------------------------------
# (a) The committed tables
# ---------------------------------------------------------------------------------------------


def test_columns_are_exact(table):
    assert list(table.columns) == COLUMNS


@pytest.mark.parametrize("key", sorted({**TABLES, **LIBRARIES}))
def test_header_cites_sources_and_script(key):
    path = {**TABLES, **LIBRARIES}[key]
    header = [line for line in path.read_text().splitlines() if line.startswith("#")]
    text = "\n".join(header)
    for needle in (
        "Kokaly et al. 2017",
        "doi:10.5066/F7RR1WDJ",
        "CC0",
        "Clark et al. 2007",
        "Digital Data Series 231",
        "pyrsr",
        "earthlib",
        "scripts/derive_endmembers.py",
    ):
        assert needle in text, needle
    assert re.search(r"on \d{4}-\d{2}-\d{2}", text)
    if key in ("landsat8_oli", "landsat_oli"):
        assert "Barsi et al. 2014" in text and "Ball_BA_RSR.v1.2" in text


def test_labels(table):
    assert table["name"].is_unique
    assert table["name"].str.fullmatch(r"[a-z][a-z0-9_]*").all()
    assert set(table["group"]) <= GROUPS
    assert set(table["library"]) <= {"splib06", "splib07", "earthlib"}
    assert (table["record"].str.len() > 0).all()
    groups = table.set_index("name")["group"]
    for name, group in REQUIRED.items():
        assert groups.get(name) == group, name


def test_rows_are_sorted(table):
    order = table.sort_values(["group", "name"], ignore_index=True)
    pd.testing.assert_frame_equal(table, order)


def test_values_are_reflectances(bands):
    values = bands.to_numpy()
    assert np.isfinite(values).all()
    assert values.min() >= 0.0 and values.max() <= 1.2


def test_ferric_minerals_redder_than_kaolinite_and_green_vegetation(bands):
    red_blue = bands["red"] / bands["blue"]
    assert red_blue["hematite"] > 2 * red_blue["kaolinite"]
    for name in FERRIC:
        for reference in ("kaolinite", "green_vegetation"):
            assert red_blue[name] > 1.5 * red_blue[reference], (name, reference)


def test_aloh_minerals_have_higher_swir_ratio_than_hematite(bands):
    swir_ratio = bands["swir1"] / bands["swir2"]
    for name in ALOH:
        assert swir_ratio[name] > swir_ratio["hematite"], name


def test_aloh_minerals_brighter_in_swir_than_vegetation(bands):
    for name in ALOH:
        for reference in ("green_vegetation", "dry_vegetation"):
            for band in ("swir1", "swir2"):
                assert bands.loc[name, band] > bands.loc[reference, band], (name, reference, band)


def test_green_vegetation_red_edge(bands):
    assert bands.loc["green_vegetation", "nir"] > 3 * bands.loc["green_vegetation", "red"]


def test_water_dark_in_swir(bands):
    assert bands.loc["seawater", "swir1"] < bands.loc["seawater", "green"]


def test_landsat8_and_landsat9_agree_closely():
    l8, l9 = (pd.read_csv(TABLES[key], comment="#") for key in sorted(TABLES))
    pd.testing.assert_frame_equal(l8.drop(columns=BANDS), l9.drop(columns=BANDS))
    assert np.abs(l8[BANDS].to_numpy() - l9[BANDS].to_numpy()).max() < 0.01


# ---------------------------------------------------------------------------------------------
# (a') The committed spectral-library tables (used by geo.spectral.sam)
# ---------------------------------------------------------------------------------------------


def read_library(sensor):
    return pd.read_csv(LIBRARIES[sensor], comment="#")


def dropped_names(sensor):
    """Record names listed as dropped in a library header."""
    text = LIBRARIES[sensor].read_text()
    line = re.search(r"^# Records dropped for lack of coverage: (.*)\.$", text, re.MULTILINE)
    assert line, "header lacks the dropped-records line"
    return set() if line[1] == "none" else set(re.findall(r"(\w+) \(band \w+: no data at", line[1]))


@pytest.mark.parametrize("sensor", sorted(LIBRARIES))
def test_library_columns_follow_sensor_roles(sensor):
    from geo.sensors import SENSORS

    roles = [role for role in SENSORS[sensor].roles if role != "cirrus"]
    assert list(read_library(sensor).columns) == [*LABELS, *roles]


@pytest.mark.parametrize("sensor", sorted(LIBRARIES))
def test_library_rows_are_the_endmember_rows_minus_the_listed_drops(sensor):
    library = read_library(sensor)
    endmembers = pd.read_csv(TABLES["landsat8_oli"], comment="#")
    kept = endmembers[~endmembers["name"].isin(dropped_names(sensor))].reset_index(drop=True)
    pd.testing.assert_frame_equal(library[LABELS], kept[LABELS])
    values = library.drop(columns=LABELS).to_numpy()
    assert np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= 1.2


def test_library_drops_are_the_expected_coverage_gaps():
    # earthlib spectra end at 2.45 µm (ASTER band 9 reaches beyond) and have a gap at
    # 1.79-1.85 µm inside the TM band 5 response; the other sensors keep every record.
    assert dropped_names("aster") == {"sand", "soil"}
    assert dropped_names("landsat_tm") == {"sand", "soil"}
    for sensor in ("landsat_etm", "landsat_oli", "sentinel2_msi"):
        assert dropped_names(sensor) == set(), sensor


def test_oli_library_equals_landsat8_endmember_table():
    library = read_library("landsat_oli")
    pd.testing.assert_frame_equal(library, pd.read_csv(TABLES["landsat8_oli"], comment="#"))


def test_aster_kaolinite_has_its_aloh_doublet():
    # Kaolinite absorbs at 2.165 and 2.206 µm (doublet): ASTER bands 5 and 6 are both deep
    # relative to the shoulders at band 4 (1.65 µm) and band 7 (2.26 µm). Single-feature Al-OH
    # minerals (muscovite, montmorillonite) absorb in band 6 only, so band 5 stays bright.
    values = read_library("aster").set_index("name")
    kaolinite = values.loc["kaolinite"]
    for band in ("swir2165", "swir2205"):
        assert kaolinite[band] < 0.9 * kaolinite["swir2260"], band
        assert kaolinite[band] < 0.5 * kaolinite["swir1"], band
    assert kaolinite["swir2165"] / kaolinite["swir2205"] < 1.05
    for name in ("muscovite", "montmorillonite"):
        assert values.loc[name, "swir2165"] / values.loc[name, "swir2205"] > 1.1, name


def test_aster_carbonates_absorb_in_band_8():
    # CO3 absorption at 2.33-2.34 µm (calcite) and ~2.32 µm (dolomite): band 8 lies below both
    # neighbours; GA carbonate index (7+9)/8 (Kalinowski & Oliver 2004).
    values = read_library("aster").set_index("name")
    for name in ("calcite", "dolomite"):
        row = values.loc[name]
        assert row["swir2330"] < min(row["swir2260"], row["swir2395"]), name
    calcite = values.loc["calcite"]
    assert calcite["swir2330"] < 0.92 * (calcite["swir2260"] + calcite["swir2395"]) / 2


@pytest.mark.parametrize("sensor", ["landsat_tm", "landsat_etm", "sentinel2_msi"])
def test_broadband_libraries_keep_the_oli_orderings(sensor):
    values = read_library(sensor).set_index("name")
    red_blue = values["red"] / values["blue"]
    for name in FERRIC:
        assert red_blue[name] > 1.5 * red_blue["kaolinite"], name
    for name in ALOH:
        assert values.loc[name, "swir1"] / values.loc[name, "swir2"] > 1.1, name
    assert values.loc["green_vegetation", "nir"] > 3 * values.loc["green_vegetation", "red"]


# ---------------------------------------------------------------------------------------------
# The convolution on synthetic spectra (no reference data needed)
# ---------------------------------------------------------------------------------------------


def gaussian_srf(centre=0.65, sigma=0.01):
    wavelength = np.round(np.arange(centre - 0.05, centre + 0.0505, 0.001), 6)
    return wavelength, np.exp(-0.5 * ((wavelength - centre) / sigma) ** 2)


def test_band_average_of_linear_spectrum_is_value_at_centre(script):
    wavelength = np.linspace(0.35, 2.5, 2151)
    spectrum = script.Spectrum("linear", wavelength, 0.1 + 0.2 * wavelength)
    value = script.band_average(spectrum, *gaussian_srf(), "red")
    assert value == pytest.approx(0.1 + 0.2 * 0.65, abs=1e-9)


def test_band_average_refuses_partial_coverage(script):
    wavelength = np.linspace(0.655, 2.5, 500)
    spectrum = script.Spectrum("starts in band", wavelength, np.full_like(wavelength, 0.5))
    with pytest.raises(script.CoverageError, match=r"starts in band.*band red"):
        script.band_average(spectrum, *gaussian_srf(), "red")


def test_band_average_refuses_missing_values_inside_band(script):
    wavelength = np.linspace(0.35, 2.5, 2151)
    reflectance = np.full_like(wavelength, 0.5)
    reflectance[(wavelength > 0.645) & (wavelength < 0.670)] = np.nan
    spectrum = script.Spectrum("deleted channels", wavelength, reflectance)
    with pytest.raises(script.CoverageError):
        script.band_average(spectrum, *gaussian_srf(), "red")


def test_band_average_ignores_uncovered_negligible_tail(script):
    srf_wavelength, response = gaussian_srf()
    wavelength = np.linspace(0.615, 2.5, 2000)  # misses the tail below 1e-3 of the peak
    spectrum = script.Spectrum("tail missing", wavelength, np.full_like(wavelength, 0.3))
    assert script.band_average(spectrum, srf_wavelength, response, "red") == pytest.approx(0.3)


def test_interpolation_does_not_bridge_wide_gaps(script):
    spectrum = script.Spectrum("gappy", np.array([0.60, 0.61, 0.70, 0.71]), np.ones(4))
    values = script.interpolate_no_extrapolation(spectrum, np.array([0.59, 0.605, 0.65, 0.705]))
    assert np.isnan(values[[0, 2]]).all()
    np.testing.assert_allclose(values[[1, 3]], 1.0)


def test_srf_reader_converts_nanometres(script, tmp_path):
    path = tmp_path / "band_1"
    path.write_text("3 B1\n640 0.5\n650 1.0\n660 -0.001\n")
    wavelength, response = script.read_srf(path, "nm")
    np.testing.assert_allclose(wavelength, [0.64, 0.65, 0.66])
    np.testing.assert_allclose(response, [0.5, 1.0, 0.0])
    with pytest.raises(ValueError, match="unit"):
        script.read_srf(path, "um")


# ---------------------------------------------------------------------------------------------
# (b) Re-derivation from the reference data
# ---------------------------------------------------------------------------------------------


def test_rederivation_matches_committed_tables(script, tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"reference data not available at {SHARED} (only needed to re-derive)")
    written = script.derive(SHARED, tmp_path)
    paths = [*TABLES.values(), *LIBRARIES.values()]
    assert {Path(path).name for path in written} == {path.name for path in paths}
    for path in paths:
        committed = pd.read_csv(path, comment="#")
        derived = pd.read_csv(tmp_path / path.name, comment="#")
        pd.testing.assert_frame_equal(derived[LABELS], committed[LABELS])
        np.testing.assert_allclose(
            derived.drop(columns=LABELS).to_numpy(),
            committed.drop(columns=LABELS).to_numpy(),
            rtol=0,
            atol=1e-5,
        )
        headers = [
            [
                line
                for line in table.read_text().splitlines()
                if line.startswith("#") and "Generated by" not in line
            ]
            for table in (path, tmp_path / path.name)
        ]
        assert headers[0] == headers[1], path.name
