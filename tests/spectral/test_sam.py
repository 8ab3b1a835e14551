"""Tests of the Spectral Angle Mapper (``geo.spectral.sam``) and its packaged libraries."""

import dask.array as dsa
import numpy as np
import pytest

from geo.errors import BandError, InvalidParameterError
from geo.sensors import SENSORS
from geo.spectral.sam import GROUPS, load_library, sam_classify, spectral_angle
from geo.testing import make_raster

LIBRARY_SENSORS = ["aster", "landsat_etm", "landsat_oli", "landsat_tm", "sentinel2_msi"]
N = 30
#: Patch name -> (library record, fraction of it mixed with the soil background, rows, cols).
PATCHES = {
    "iron_oxide": ("hematite", 0.75, slice(2, 10), slice(2, 10)),
    "aloh_clay": ("kaolinite", 0.75, slice(2, 10), slice(18, 26)),
    "vegetation": ("green_vegetation", 0.9, slice(18, 26), slice(2, 10)),
}


def core(rows, cols):
    """Inner pixels of a patch (one-pixel rim left out)."""
    return slice(rows.start + 1, rows.stop - 1), slice(cols.start + 1, cols.stop - 1)


def group_names(result):
    codes = result.best_group.attrs["codes"]
    return np.vectorize(lambda c: codes.get(int(c), "nodata"))(result.best_group.values)


@pytest.fixture(scope="module")
def oli():
    return load_library("landsat_oli")


@pytest.fixture(scope="module")
def scene(oli):
    """Soil background with hematite-, kaolinite- and vegetation-rich patches, gain and noise."""
    bands = list(oli.columns[4:])
    spectra = oli.set_index("name")[bands]
    soil = spectra.loc["soil"].to_numpy()
    cube = np.tile(soil[:, None, None], (1, N, N))
    for name, fraction, rows, cols in PATCHES.values():
        mix = fraction * spectra.loc[name].to_numpy() + (1 - fraction) * soil
        cube[:, rows, cols] = mix[:, None, None]
    rng = np.random.default_rng(42)
    cube = cube * rng.uniform(0.6, 1.4, (1, N, N))  # illumination: SAM must ignore it
    cube = cube + rng.normal(0.0, 0.005, cube.shape)
    return make_raster(cube, bands=bands, attrs={"sensor": "landsat_oli"})


# ---------------------------------------------------------------------------------------------
# spectral_angle
# ---------------------------------------------------------------------------------------------


def test_angle_hand_values():
    cube = make_raster([[[1.0, 1.0, 0.0]], [[0.0, 1.0, 1.0]]], bands=["red", "nir"])
    out = spectral_angle(cube, {"red": 1.0, "nir": 1.0})
    np.testing.assert_allclose(out.values, [[np.pi / 4, 0.0, np.pi / 4]], atol=1e-6)
    out = spectral_angle(cube, {"red": 1.0, "nir": 0.0})
    np.testing.assert_allclose(out.values, [[0.0, np.pi / 4, np.pi / 2]], atol=1e-6)
    assert out.dtype == np.float32 and out.dims == ("y", "x")
    assert out.rio.crs == cube.rio.crs


@pytest.mark.parametrize("gain", [0.01, 0.3, 1.0, 3.7])
def test_angle_ignores_brightness(oli, gain):
    reference = oli.set_index("name").loc["goethite"].iloc[3:].astype(float)
    cube = make_raster(gain * reference.to_numpy()[:, None, None], bands=list(reference.index))
    assert float(spectral_angle(cube, reference)[0, 0]) == pytest.approx(0.0, abs=1e-6)


def test_angle_uses_only_reference_roles_in_its_order():
    cube = make_raster([[[5.0]], [[1.0]], [[1.0]]], bands=["blue", "red", "nir"])
    out = spectral_angle(cube, {"nir": 2.0, "red": 2.0})
    assert float(out[0, 0]) == pytest.approx(0.0, abs=1e-6)


def test_angle_nan_and_zero_pixels_are_nan():
    cube = make_raster([[[np.nan, 0.0, 0.2]], [[0.1, 0.0, 0.1]]], bands=["red", "nir"])
    out = spectral_angle(cube, {"red": 1.0, "nir": 1.0}).values
    assert np.isnan(out[0, :2]).all() and np.isfinite(out[0, 2])


def test_angle_is_lazy_on_dask_and_matches_numpy(scene, oli):
    reference = oli.set_index("name").loc["kaolinite"].iloc[3:].astype(float)
    lazy = spectral_angle(scene.chunk({"band": 2, "y": 7, "x": 11}), reference)
    assert isinstance(lazy.data, dsa.Array)
    np.testing.assert_allclose(lazy.values, spectral_angle(scene, reference).values, atol=1e-6)


def test_angle_errors():
    cube = make_raster([[[0.1]], [[0.2]]], bands=["red", "nir"])
    with pytest.raises(BandError, match="swir1, swir2"):
        spectral_angle(cube, {"red": 1.0, "swir1": 1.0, "swir2": 1.0})
    with pytest.raises(InvalidParameterError, match="not all zero"):
        spectral_angle(cube, {"red": 0.0, "nir": 0.0})
    with pytest.raises(InvalidParameterError, match="names no band"):
        spectral_angle(cube, {})
    with pytest.raises(BandError, match=r"\(band, y, x\)"):
        spectral_angle(cube.isel(band=0), {"red": 1.0})


# ---------------------------------------------------------------------------------------------
# Libraries
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sensor", LIBRARY_SENSORS)
def test_library_columns_follow_sensor_roles(sensor):
    table = load_library(sensor)
    roles = [role for role in SENSORS[sensor].roles if role != "cirrus"]
    assert list(table.columns) == ["name", "group", "record", "library", *roles]
    assert set(table["group"]) <= set(GROUPS) and len(table) >= 20


def test_load_library_filters_groups_and_validates():
    table = load_library("landsat_tm", groups=["soil", "water"])
    assert set(table["group"]) == {"soil", "water"}
    with pytest.raises(InvalidParameterError, match="'granite'"):
        load_library("landsat_tm", groups=["granite"])
    with pytest.raises(InvalidParameterError, match="Unknown sensor"):
        load_library("landsat_mss")
    table = load_library("aster")
    table.loc[0, "green"] = -1.0  # a copy: the cached table is unchanged
    assert load_library("aster").loc[0, "green"] >= 0


# ---------------------------------------------------------------------------------------------
# sam_classify
# ---------------------------------------------------------------------------------------------


def test_classify_synthetic_scene(scene, oli):
    result = sam_classify(scene, oli)
    names = group_names(result)
    for group, (_, _, rows, cols) in PATCHES.items():
        assert (names[core(rows, cols)] == group).mean() >= 0.8, group
    background = np.ones((N, N), bool)
    for _, _, rows, cols in PATCHES.values():
        background[rows, cols] = False
    assert np.isin(names[background], ["soil", "unclassified"]).mean() >= 0.95
    assert (names[background] == "soil").mean() >= 0.5


def test_classify_outputs_and_codes(scene, oli):
    result = sam_classify(scene, oli)
    assert result.best_group.dtype == np.uint8 and result.best_name.dtype == np.uint8
    assert result.angle.dtype == np.float32 and result.angle.dims == ("y", "x")
    assert result.best_group.attrs["codes"][0] == "unclassified"
    assert set(result.best_group.attrs["codes"].values()) == {"unclassified", *oli["group"]}
    # the best record's group is the best group
    groups = dict(zip(oli["name"], oli["group"], strict=True))
    name_codes = result.best_name.attrs["codes"]
    group_codes = result.best_group.attrs["codes"]
    for name_code, group_code in zip(
        result.best_name.values.ravel(), result.best_group.values.ravel(), strict=True
    ):
        name = name_codes[int(name_code)]
        assert group_codes[int(group_code)] == groups.get(name, "unclassified")
    rows, cols = core(*PATCHES["iron_oxide"][2:])
    assert set(np.vectorize(name_codes.get)(result.best_name.values[rows, cols]).ravel()) == {
        "hematite"
    }
    assert result.attrs["thresholds"] == dict.fromkeys(result.attrs["thresholds"], 0.10)
    assert result.angle.rio.crs == scene.rio.crs


def test_classify_is_lazy_and_matches_numpy(scene, oli):
    lazy = sam_classify(scene.chunk({"band": 3, "y": 8, "x": 16}), oli)
    assert all(isinstance(lazy[v].data, dsa.Array) for v in lazy.data_vars)
    eager = sam_classify(scene, oli)
    for variable in ("best_group", "best_name"):
        np.testing.assert_array_equal(lazy[variable].values, eager[variable].values)
    np.testing.assert_allclose(lazy.angle.values, eager.angle.values, atol=1e-6)


def test_per_group_thresholds(scene, oli):
    strict_vegetation = group_names(sam_classify(scene, oli, thresholds={"vegetation": 0.02}))
    for group, (_, _, rows, cols) in PATCHES.items():
        expected = "unclassified" if group == "vegetation" else group
        assert (strict_vegetation[core(rows, cols)] == expected).mean() >= 0.8, group
    iron_only = group_names(
        sam_classify(scene, oli, thresholds={"default": 0.01, "iron_oxide": 0.1})
    )
    assert (iron_only[core(*PATCHES["iron_oxide"][2:])] == "iron_oxide").mean() >= 0.8
    for group in ("aloh_clay", "vegetation"):
        assert (iron_only[core(*PATCHES[group][2:])] == "unclassified").all(), group


def test_groups_restrict_the_library(scene, oli):
    result = sam_classify(scene, "landsat_oli", groups=["iron_oxide", "soil"])
    assert set(result.best_group.attrs["codes"].values()) == {"unclassified", "iron_oxide", "soil"}
    names = group_names(result)
    assert not np.isin(names[core(*PATCHES["aloh_clay"][2:])], ["aloh_clay"]).any()


def test_classify_nodata(oli):
    bands = list(oli.columns[4:])
    kaolinite = oli.set_index("name").loc["kaolinite", bands].to_numpy(float)
    pixels = np.stack([kaolinite, kaolinite, np.zeros(7)], 1)[:, None, :]
    pixels[2, 0, 1] = np.nan
    result = sam_classify(make_raster(pixels, bands=bands), oli)
    np.testing.assert_array_equal(result.best_group.values[0, 1:], [255, 255])
    np.testing.assert_array_equal(result.best_name.values[0, 1:], [255, 255])
    assert np.isnan(result.angle.values[0, 1:]).all() and result.angle.values[0, 0] < 1e-3


def test_classify_uses_selected_bands_and_ignores_extra_ones(oli):
    bands = ["red", "nir", "swir1", "swir2"]
    values = oli.set_index("name").loc["calcite", bands].to_numpy(float)
    cube = make_raster(np.r_[values, 0.5][:, None, None], bands=[*bands, "cirrus"])
    result = sam_classify(cube, oli, bands=bands)
    assert result.attrs["bands"] == bands
    assert result.best_name.attrs["codes"][int(result.best_name[0, 0])] == "calcite"


def test_classify_errors(scene, oli):
    with pytest.raises(BandError, match="coastal, blue"):
        sam_classify(scene.sel(band=["green", "red", "nir", "swir1", "swir2"]), oli)
    with pytest.raises(BandError, match="cannot be used"):
        sam_classify(scene.assign_attrs(unusable_bands="swir2"), oli)
    with pytest.raises(InvalidParameterError, match="'sand_dune'"):
        sam_classify(scene, oli, thresholds={"sand_dune": 0.1})
    with pytest.raises(InvalidParameterError, match=r"\(0, π\]"):
        sam_classify(scene, oli, thresholds=-0.1)
    with pytest.raises(InvalidParameterError, match="'granite'"):
        sam_classify(scene, oli, groups=["granite"])
    with pytest.raises(InvalidParameterError, match="swir3"):
        sam_classify(scene, oli, bands=["red", "swir3"])
    with pytest.raises(InvalidParameterError, match="1-254 records"):
        sam_classify(scene, oli.iloc[:0])


def test_aster_separates_aloh_from_mgoh_carbonate():
    """Pure AlOH and MgOH/carbonate spectra at ASTER bands, 1 % noise, full library."""
    library = load_library("aster")
    bands = list(library.columns[4:])
    minerals = library[library["group"].isin(["aloh_clay", "mgoh_carbonate"])]
    rng = np.random.default_rng(7)
    spectra = np.repeat(minerals[bands].to_numpy(float), 40, axis=0)  # 40 pixels per mineral
    spectra *= 1 + rng.normal(0.0, 0.01, spectra.shape)
    result = sam_classify(make_raster(spectra.T[:, None, :], bands=bands), library)
    expected = np.repeat(minerals["group"].to_numpy(), 40)
    np.testing.assert_array_equal(group_names(result)[0], expected)
