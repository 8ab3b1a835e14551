"""Tests of the committed OLI endmember tables and of ``scripts/derive_endmembers.py``.

The table tests and the synthetic-spectrum tests always run. Re-deriving the tables needs the
reference data in ``../shared/data`` next to the repository and is skipped without it.
"""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "derive_endmembers.py"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TABLES = {
    "landsat8_oli": REPO / "geo" / "data" / "endmembers_landsat8_oli.csv",
    "landsat9_oli2": REPO / "geo" / "data" / "endmembers_landsat9_oli2.csv",
}
BANDS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2"]
COLUMNS = ["name", "group", "record", "library", *BANDS]
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


@pytest.mark.parametrize("key", sorted(TABLES))
def test_header_cites_sources_and_script(key):
    header = [line for line in TABLES[key].read_text().splitlines() if line.startswith("#")]
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
    if key == "landsat8_oli":
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
    assert {Path(path).name for path in written} == {path.name for path in TABLES.values()}
    for path in TABLES.values():
        committed = pd.read_csv(path, comment="#")
        derived = pd.read_csv(tmp_path / path.name, comment="#")
        pd.testing.assert_frame_equal(derived.drop(columns=BANDS), committed.drop(columns=BANDS))
        np.testing.assert_allclose(
            derived[BANDS].to_numpy(), committed[BANDS].to_numpy(), rtol=0, atol=1e-5
        )
