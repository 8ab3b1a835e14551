"""Tests of the shipped hyperspectral library and geo.spectral.minerals (the issue's catalogue).

Every library mineral, convolved to EMIT-, EnMAP- and PRISMA-like bands with noise at a
realistic signal-to-noise ratio, must be identified as itself and never as its look-alikes.
Re-deriving the library needs ``../shared/data`` and is skipped without it.
"""

import importlib.util
from pathlib import Path

import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geo.errors import GridMismatchError, InvalidParameterError
from geo.spectral.continuum import feature_maps
from geo.spectral.minerals import (
    ASSEMBLAGE_CLASSES,
    GROUP_MINERALS,
    MASKED,
    MineralMatcher,
    assemblage_legend,
    assemblage_map,
    identify_minerals,
    library_at_bands,
    load_hyperspectral_library,
    mineral_legend,
    white_mica_position,
)
from geo.spectral.resample import band_set

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"
SCRIPT = REPO / "scripts" / "derive_hyperspectral_library.py"
SENSORS = ("emit", "enmap", "prisma")
#: SNR (signal / noise standard deviation, per band, on the reflectance itself): the PRISMA
#: requirement (200 at 0.4-1.0 µm, 100 at 1.95-2.35 µm; ASI via eoPortal), below EnMAP's
#: (~500 VNIR, ~150 SWIR; Guanter et al. 2015) and EMIT's: the low end of the three.
SNR_VNIR, SNR_SWIR = 200.0, 100.0
DRAWS = 60
MINERAL_OF = {"illite": "white_mica"}


def _mineral(records: pd.DataFrame, key: str) -> str:
    mineral = records.set_index("key").loc[key, "mineral"]
    return MINERAL_OF.get(mineral, mineral)


@pytest.fixture(scope="module")
def library():
    return load_hyperspectral_library()


@pytest.fixture(scope="module")
def at_bands():
    """Band set, library at its bands (indexed by key) and both matchers, per sensor."""
    out = {}
    for sensor in SENSORS:
        bs = band_set(sensor)
        table = library_at_bands(bs.wavelength, bs.fwhm).set_index("name")
        matchers = {
            group: MineralMatcher(bs.wavelength, bs.fwhm, bs.good, group=group)
            for group in GROUP_MINERALS
        }
        out[sensor] = (bs, table.iloc[:, 3:].astype(float), matchers)
    return out


def _noisy(spectrum, wavelength, rng, draws=DRAWS):
    snr = np.where(wavelength < 1000.0, SNR_VNIR, SNR_SWIR)
    return spectrum + rng.normal(size=(draws, spectrum.size)) * spectrum / snr


def _names(matcher, pixels, **kwargs):
    names = np.array(["none", *matcher.minerals] + ["masked"] * 255)
    return names[matcher.match(pixels, **kwargs)[0]]


# --------------------------------------------------------------------------------------------
# the shipped tables


def test_library_tables(library):
    wavelength, spectra, records = library
    np.testing.assert_array_equal(wavelength, np.arange(400.0, 2501.0, 2.0))
    assert list(spectra.columns) == list(records["key"])
    required = {
        "kaolinite", "alunite", "pyrophyllite", "white_mica", "illite", "montmorillonite",
        "jarosite", "goethite", "hematite", "chlorite", "epidote", "calcite", "dolomite",
        "green_vegetation", "dry_vegetation",
    }  # fmt: skip
    assert required <= set(records["mineral"])
    assert set(records["sam_group"]) <= {"iron_oxide", "aloh_clay", "mgoh_carbonate", "vegetation"}
    values = spectra.to_numpy()
    assert np.nanmin(values) > 0 and np.nanmax(values) < 1.01
    swir_only = records["note"].str.contains("SWIR-only")
    for key, only in zip(records["key"], swir_only, strict=True):
        column = spectra[key].to_numpy()
        if only:  # Nicolet records: nothing below 1.3 µm
            assert np.all(np.isnan(column[wavelength < 1300]))
        else:
            assert np.all(np.isfinite(column[wavelength <= 2498])), key
    # Kaolinite CM9 Al-OH absorption (PROVENANCE: 0.26 at 2.20 µm against 0.78 at 1.6 µm)
    kaol = spectra["kaolinite_cm9"].to_numpy()
    assert kaol[wavelength == 2206][0] < 0.5 * kaol[wavelength == 1600][0]
    header = (REPO / "geo" / "data" / "library_usgs_hyperspectral.csv").read_text().splitlines()
    text = " ".join(line for line in header if line.startswith("#"))
    assert "Kokaly et al. 2017" in text and "Clark et al. 2007" in text
    assert "scripts/derive_hyperspectral_library.py" in text
    assert (REPO / "geo" / "data" / "library_usgs_hyperspectral.csv").stat().st_size < 1_000_000


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared/data (reference spectra)")
def test_rederived_library_equals_shipped(tmp_path):
    spec = importlib.util.spec_from_file_location("derive_hyperspectral_library", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--shared", str(SHARED), "--out", str(tmp_path)]) == 0
    for name in (module.SPECTRA_FILE, module.RECORDS_FILE):
        new = [ln for ln in (tmp_path / name).read_text().splitlines() if "Generated" not in ln]
        old = (REPO / "geo" / "data" / name).read_text().splitlines()
        assert new == [ln for ln in old if "Generated" not in ln]


def test_library_at_bands_is_a_sam_table():
    bs = band_set("emit")
    table = library_at_bands(bs.wavelength, bs.fwhm)
    assert list(table.columns[:4]) == ["name", "group", "record", "library"]
    assert list(table.columns[4:7]) == ["b001", "b002", "b003"]
    assert table.shape[1] == 4 + 285
    # SWIR-only records are NaN in the VNIR bands, full-range ones finite
    row = table.set_index("name")
    assert np.isnan(row.loc["alunite_na_gds84", "b050"])
    assert np.isfinite(row.loc["alunite_hs295", "b050"])
    with pytest.raises(InvalidParameterError, match="band_names"):
        library_at_bands(bs.wavelength, bs.fwhm, ["b1"])


# --------------------------------------------------------------------------------------------
# the catalogue: every mineral identified as itself at three sensors, with noise


@pytest.mark.parametrize("sensor", SENSORS)
@pytest.mark.parametrize("group", ["swir", "vnir"])
def test_each_library_mineral_identified_as_itself(sensor, group, at_bands, library):
    bs, table, matchers = at_bands[sensor]
    matcher = matchers[group]
    rng = np.random.default_rng(2024)
    assert not matcher.dropped or all(
        "SWIR-only" in library[2].set_index("key").loc[k, "note"] for k in matcher.dropped
    )
    checked = 0
    for key in matcher.candidates:
        mineral = _mineral(library[2], key)
        names = _names(matcher, _noisy(table.loc[key].to_numpy(), bs.wavelength, rng))
        share = np.mean(names == mineral)
        # illite is a white mica here; its 2.2 µm band alone is close to montmorillonite
        assert share >= (0.8 if key == "illite_imt1" else 0.95), (
            key,
            dict(zip(*np.unique(names, return_counts=True), strict=True)),
        )
        checked += 1
    assert checked == len(matcher.candidates) >= (20 if group == "swir" else 7)


LOOK_ALIKES = {
    "swir": [
        ("kaolinite", "alunite", "white_mica", "pyrophyllite"),
        ("chlorite", "calcite", "epidote", "dolomite"),
    ],
    "vnir": [("jarosite", "goethite", "hematite")],
}


@pytest.mark.parametrize("sensor", SENSORS)
@pytest.mark.parametrize("group", ["swir", "vnir"])
def test_look_alikes_never_confused(sensor, group, at_bands, library):
    """Kaolinite vs alunite vs white mica, chlorite vs calcite, jarosite vs goethite vs hematite."""
    bs, table, matchers = at_bands[sensor]
    matcher = matchers[group]
    rng = np.random.default_rng(7)
    for family in LOOK_ALIKES[group]:
        for key in matcher.candidates:
            mineral = _mineral(library[2], key)
            if mineral not in family:
                continue
            names = _names(matcher, _noisy(table.loc[key].to_numpy(), bs.wavelength, rng))
            others = set(family) - {mineral}
            assert not others & set(names), (key, sorted(set(names)))


@pytest.mark.parametrize("sensor", SENSORS)
def test_position_separates_white_micas(sensor, at_bands):
    """Al-OH position: high-Al muscovite < Cuprite low-Al mica < Fe-rich (phengitic) mica."""
    bs, table, _ = at_bands[sensor]
    keys = ["muscovite_gds113", "muscovite_cu93_1", "muscovite_gds116"]
    cube = xr.DataArray(
        table.loc[keys].to_numpy().T[:, None, :],
        dims=("band", "y", "x"),
        coords={"wavelength": ("band", bs.wavelength), "good": ("band", bs.good)},
    )
    pos = feature_maps(cube, ["aloh_22"])["pos_aloh_22"].values[0]
    assert 2193 < pos[0] < pos[1] < pos[2] < 2215


@pytest.mark.parametrize(
    ("group", "keys"),
    [
        ("swir", ["kaolinite_cm9", "kaolinite_kga1", "alunite_hs295", "alunite_na_gds84",
                  "jarosite_k_gds99", "jarosite_na_gds24", "chlorite_smr13", "clinochlore_gds158",
                  "epidote_br93_33a", "epidote_gds26", "muscovite_cu93_1", "muscovite_gds116"]),
        ("vnir", ["jarosite_k_gds99", "jarosite_na_gds24", "goethite_mpcma2b",
                  "goethite_ws222_film", "hematite_fe2602"]),
    ],
)  # fmt: skip
def test_held_out_samples_identified(group, keys, at_bands, library):
    """A sample left out of the library is still named from the other sample of its mineral."""
    bs, table, _ = at_bands["emit"]
    rng = np.random.default_rng(11)
    for key in keys:
        matcher = MineralMatcher(bs.wavelength, bs.fwhm, bs.good, group=group, exclude=[key])
        names = _names(matcher, _noisy(table.loc[key].to_numpy(), bs.wavelength, rng, 30))
        assert np.mean(names == _mineral(library[2], key)) >= 0.9, (key, set(names))


@pytest.mark.parametrize("sensor", SENSORS)
def test_mixtures_flat_and_nodata(sensor, at_bands):
    bs, table, matchers = at_bands[sensor]
    rng = np.random.default_rng(3)
    # 60 % mineral + 40 % quartz-like flat spectrum (reflectance 0.5): still named
    for group, key, mineral in [
        ("swir", "kaolinite_cm9", "kaolinite"),
        ("swir", "alunite_hs295", "alunite"),
        ("swir", "chlorite_smr13", "chlorite"),
        ("swir", "calcite_ws272", "calcite"),
        ("vnir", "hematite_gds27", "hematite"),
        ("vnir", "goethite_mpcma2b", "goethite"),
    ]:
        mix = 0.6 * table.loc[key].to_numpy() + 0.4 * 0.5
        names = _names(matchers[group], _noisy(mix, bs.wavelength, rng))
        assert np.mean(names == mineral) >= 0.95, (key, set(names))
    # a flat spectrum with noise is "none" in both groups; a NaN band used -> masked
    flat = _noisy(np.full(bs.wavelength.size, 0.4), bs.wavelength, rng, 200)
    for group in GROUP_MINERALS:
        assert np.all(matchers[group].match(flat)[0] == 0)
    exact = np.full(bs.wavelength.size, 0.4)
    assert matchers["swir"].match(exact)[0] == 0
    broken = table.loc["kaolinite_cm9"].to_numpy().copy()
    broken[np.argmin(abs(bs.wavelength - 2200))] = np.nan
    code, fit, depth = matchers["swir"].match(broken)
    assert code == MASKED and np.isnan(fit) and np.isnan(depth)


def test_floors_and_bad_parameters(at_bands):
    bs, table, matchers = at_bands["emit"]
    kaol = table.loc["kaolinite_cm9"].to_numpy()
    weak = 0.995 * 0.5 + 0.005 * kaol  # depth ~0.002: below the depth floor
    assert matchers["swir"].match(weak)[0] == 0
    assert matchers["swir"].match(weak, depth_floor=0.0)[0] == 1
    with pytest.raises(InvalidParameterError, match="fit_floor"):
        matchers["swir"].match(kaol, fit_floor=2.0)
    with pytest.raises(InvalidParameterError, match="bands on their last axis"):
        matchers["swir"].match(kaol[:10])
    with pytest.raises(InvalidParameterError, match="group"):
        MineralMatcher(bs.wavelength, bs.fwhm, bs.good, group="tir")
    # a product without the SWIR windows cannot map the SWIR group
    vnir_only = bs.wavelength < 1300
    with pytest.raises(InvalidParameterError, match="window"):
        MineralMatcher(bs.wavelength, bs.fwhm, vnir_only, group="swir")


# --------------------------------------------------------------------------------------------
# cube wrapper, legends, assemblages


def _scene(at_bands, keys, chunks=None):
    bs, table, _ = at_bands["emit"]
    values = np.stack([table.loc[k].to_numpy() for k in keys], axis=-1).reshape(285, 2, -1)
    values = values.astype("float32")
    values[:, 1, -1] = np.nan  # nodata pixel
    data = dsa.from_array(values, chunks=(-1, 1, chunks)) if chunks else values
    good = bs.good.copy()
    return xr.DataArray(
        data,
        dims=("band", "y", "x"),
        coords={
            "band": [f"b{i + 1:03d}" for i in range(285)],
            "wavelength": ("band", bs.wavelength),
            "fwhm": ("band", bs.fwhm),
            "good": ("band", good),
            "y": [1.5, 0.5],
            "x": np.arange(values.shape[2]) + 0.5,
        },
    )


SCENE_KEYS = [
    "kaolinite_cm9", "alunite_hs295", "muscovite_gds111", "chlorite_smr13",
    "hematite_gds27", "calcite_ws272", "goethite_ws222_film", "epidote_gds26",
]  # fmt: skip


def test_identify_minerals_on_a_cube(at_bands):
    lazy = identify_minerals(_scene(at_bands, SCENE_KEYS, chunks=2), "swir")
    assert isinstance(lazy["mineral"].data, dsa.Array)
    eager = identify_minerals(_scene(at_bands, SCENE_KEYS), "swir")
    np.testing.assert_array_equal(lazy["mineral"].values, eager["mineral"].values)
    codes = eager["mineral"].attrs["codes"]
    names = [[codes[int(c)] for c in row] for row in eager["mineral"].values]
    assert names == [
        ["kaolinite", "alunite", "white_mica", "chlorite"],
        ["none", "calcite", "none", "masked"],  # hematite and goethite: no SWIR feature
    ]
    assert eager["mineral"].dtype == np.uint8 and eager["mineral"].rio.nodata == 255
    assert eager["fit"].values[0, 0] == pytest.approx(1.0, abs=1e-4)
    assert np.isnan(eager["depth"].values[1, 3])
    vnir = identify_minerals(_scene(at_bands, SCENE_KEYS), "vnir")
    vcodes = vnir["mineral"].attrs["codes"]
    assert vcodes[int(vnir["mineral"].values[1, 0])] == "hematite"
    assert vcodes[int(vnir["mineral"].values[1, 2])] == "goethite"


def test_identify_minerals_mask_and_nan_in_unused_bands(at_bands):
    cube = _scene(at_bands, SCENE_KEYS)
    cube = cube.copy(data=cube.values.copy())
    cube.values[:5, 0, 0] = np.nan  # blue bands: not used by the SWIR group
    mask = xr.zeros_like(cube.isel(band=0, drop=True), dtype=bool)
    mask.values[0, 1] = True
    out = identify_minerals(cube, "swir", mask=mask)
    assert int(out["mineral"].values[0, 0]) == 1  # kaolinite still
    assert int(out["mineral"].values[0, 1]) == MASKED
    with pytest.raises(GridMismatchError):
        identify_minerals(cube, "swir", mask=mask.isel(x=slice(0, 2)))
    with pytest.raises(InvalidParameterError, match="fwhm"):
        identify_minerals(cube.drop_vars("fwhm"), "swir")


def test_legends():
    swir = mineral_legend("swir")
    assert list(swir.columns) == ["code", "mineral", "group"]
    assert swir["code"].iloc[0] == 0 and swir["code"].iloc[-1] == 255
    row = swir.set_index("mineral")
    assert row.loc["alunite", "group"] == "advanced_argillic"
    assert row.loc["white_mica", "group"] == "phyllic"
    assert row.loc["chlorite", "group"] == "propylitic"
    assert row.loc["kaolinite", "code"] == 1
    assert mineral_legend("vnir").set_index("mineral").loc["hematite", "group"] == "ferric_iron"
    assert list(assemblage_legend()["assemblage"][1:-1]) == list(ASSEMBLAGE_CLASSES)


def test_assemblage_map_by_hand():
    swir_codes = {m: i + 1 for i, m in enumerate(GROUP_MINERALS["swir"])}
    vnir_codes = {m: i + 1 for i, m in enumerate(GROUP_MINERALS["vnir"])}
    swir = xr.DataArray(
        np.array(
            [[swir_codes["alunite"], swir_codes["kaolinite"], swir_codes["white_mica"], 0, 255, 0]],
            dtype="uint8",
        ),
        dims=("y", "x"),
    )
    vnir = xr.DataArray(
        np.array([[vnir_codes["hematite"], 0, 0, vnir_codes["goethite"], 255, 255]], dtype="uint8"),
        dims=("y", "x"),
    )
    out = assemblage_map(swir, vnir)
    names = [out.attrs["codes"][int(c)] for c in out.values[0]]
    assert names == ["advanced_argillic", "argillic", "phyllic", "ferric_iron", "masked", "none"]
    only_swir = assemblage_map(swir)
    assert [only_swir.attrs["codes"][int(c)] for c in only_swir.values[0]][3:] == [
        "none",
        "masked",
        "none",
    ]
    with pytest.raises(GridMismatchError):
        assemblage_map(swir, vnir[:, :2])


def test_white_mica_position(at_bands):
    cube = _scene(at_bands, SCENE_KEYS)
    minerals = identify_minerals(cube, "swir")["mineral"]
    pos = feature_maps(cube, ["aloh_22"])["pos_aloh_22"]
    mica = white_mica_position(pos, minerals).values
    assert np.isfinite(mica[0, 2]) and 2210 < mica[0, 2] < 2225  # GDS111 (2.218 µm)
    assert np.isnan(mica[0, 0]) and np.isnan(mica[0, 1])
