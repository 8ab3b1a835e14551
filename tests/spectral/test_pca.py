from importlib.resources import files

import dask.array as dsa
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from geo.errors import BandError, GridMismatchError, InvalidParameterError
from geo.spectral.pca import (
    CROSTA_SUBSETS,
    _select_component,
    crosta,
    crosta_composite,
    directed_pca,
    fit_pca,
    streaming_covariance,
)
from geo.testing import make_raster

ROLES = ["blue", "green", "red", "nir", "swir1", "swir2"]
IRON = (slice(20, 40), slice(20, 50))
CLAY = (slice(70, 90), slice(90, 120))


def endmembers() -> pd.DataFrame:
    path = files("geo") / "data" / "endmembers_landsat8_oli.csv"
    return pd.read_csv(path, comment="#").set_index("name")[ROLES]


def synthetic_scene(seed=0, shape=(120, 150), chunks=(40, 50)) -> xr.DataArray:
    """Soil/sand/dry-grass background, an iron-stained patch and a separate clay patch.

    Iron: 35% of hematite- and goethite-stained quartz (USGS GDS76, GDS240); clay: 30% of
    kaolinite + alunite. Tuned, not arbitrary: with the coarse pure hematite/goethite rows,
    or clay at 45%, the textbook selection rule picks a component that misses the iron patch
    (see the report on this module).
    """
    rng = np.random.default_rng(seed)
    em = endmembers()
    ny, nx = shape
    background = em.loc[["playa_soil", "sand", "soil", "dry_vegetation"]].to_numpy()
    spectra = rng.dirichlet([2.0] * 4, size=(ny, nx)) @ background  # (y, x, band)
    iron = em.loc[["quartz_hematite_2pct", "quartz_goethite_2pct"]].mean().to_numpy()
    clay = em.loc[["kaolinite", "alunite"]].mean().to_numpy()
    spectra[IRON] = 0.65 * spectra[IRON] + 0.35 * iron
    spectra[CLAY] = 0.7 * spectra[CLAY] + 0.3 * clay
    illumination = rng.uniform(0.7, 1.3, size=(ny, nx, 1))  # topographic shading: PC1
    cube = spectra * illumination + rng.normal(0, 0.005, size=spectra.shape)
    cube = make_raster(cube.transpose(2, 0, 1), bands=ROLES, attrs={"sensor": "landsat_oli"})
    return cube.chunk({"band": -1, "y": chunks[0], "x": chunks[1]})


@pytest.fixture(scope="module")
def scene() -> xr.DataArray:
    return synthetic_scene()


def patch_z(result) -> tuple[float, float, float]:
    z = result.zscore().values
    rest = np.ones(z.shape, bool)
    rest[IRON] = rest[CLAY] = False
    return float(np.nanmean(z[IRON])), float(np.nanmean(z[CLAY])), float(np.nanmean(z[rest]))


# (1) streaming covariance ------------------------------------------------------------------


def test_streaming_covariance_matches_numpy_with_holes_and_small_chunks():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(3, 90, 110)) * [[[1.0]], [[5.0]], [[0.1]]] + [[[0.3]], [[100]], [[0]]]
    values[1] += 2 * values[0]  # correlated bands
    values[0, 10:30, 5:40] = np.nan
    values[2, 50:55, :] = np.nan
    cube = make_raster(values, bands=["red", "nir", "swir1"]).chunk({"y": 32, "x": 27})
    valid = xr.DataArray(
        np.ones((90, 110), bool), dims=("y", "x"), coords={"y": cube.y, "x": cube.x}
    )
    valid[80:, 60:] = False
    assert len(cube.chunks[1]) > 1 and len(cube.chunks[2]) > 1

    mean, cov, n = streaming_covariance(cube, ["swir1", "red", "nir"], valid)

    v32 = values.astype("float32").astype("float64")[[2, 0, 1]]
    keep = np.isfinite(v32).all(axis=0) & valid.values
    ref = v32[:, keep]
    assert n == keep.sum()
    np.testing.assert_allclose(mean, ref.mean(axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cov, np.cov(ref), rtol=1e-10)


def test_streaming_covariance_is_lazy_until_called(scene):
    assert isinstance(scene.data, dsa.Array)
    _, cov, n = streaming_covariance(scene, ["blue", "red"])
    assert cov.shape == (2, 2) and n == scene.sizes["y"] * scene.sizes["x"]


# (2) Crosta on a synthetic endmember scene --------------------------------------------------


def test_iron_oxide_image_is_bright_on_iron_not_on_clay(scene):
    f = crosta(scene, "iron_oxide")
    z_iron, z_clay, z_rest = patch_z(f)
    assert f.component != 1
    assert z_iron > 1.5
    assert z_clay < 0.5
    assert abs(z_rest) < 0.5
    assert f.loadings["red"] > 0 > f.loadings["blue"]


def test_hydroxyl_image_is_bright_on_clay(scene):
    h = crosta(scene, "hydroxyl")
    z_iron, z_clay, _ = patch_z(h)
    assert h.component != 1
    assert z_clay > 1.3
    assert z_clay > z_iron + 1.0
    assert h.loadings["swir1"] > 0 > h.loadings["swir2"]


def test_image_is_lazy_float32_on_input_grid_with_nan_holes():
    cube = synthetic_scene(seed=1)
    cube = cube.where(~((cube.y == cube.y[5]) & (cube.band == "nir")))  # one NaN row in nir
    valid = xr.ones_like(cube.isel(band=0, drop=True), dtype=bool)
    valid[:, :3] = False
    f = crosta(cube, "iron_oxide", valid=valid)
    assert isinstance(f.image.data, dsa.Array)
    assert f.image.dims == ("y", "x") and f.image.dtype == np.float32
    assert f.image.rio.crs == cube.rio.crs
    assert f.image.rio.transform() == cube.rio.transform()
    img = f.image.values
    assert np.isnan(img[5]).all() and np.isnan(img[:, :3]).all()
    assert np.isfinite(img[6:, 3:]).all()
    assert f.pca.n_pixels == (120 - 1) * (150 - 3)


def test_solver_sign_convention_cannot_change_the_outcome(scene):
    f = crosta(scene, "iron_oxide")
    sub = CROSTA_SUBSETS["landsat_oli"]["iron_oxide"]
    vectors = f.pca.eigenvectors
    for flips in ([-1, 1, 1, 1], [1, -1, -1, 1], [-1, -1, -1, -1], [1, 1, 1, -1]):
        flipped = vectors * np.array(flips)
        j, sign = _select_component(flipped, sub.roles, sub.absorption, sub.reflectance)
        assert j + 1 == f.component
        np.testing.assert_allclose(sign * flipped[:, j], f.sign * vectors[:, j])


def test_brightness_is_invariant_to_reflectance_scaling(scene):
    z = crosta(scene, "iron_oxide").zscore().values
    z_dn = crosta(scene * 10_000 + 500, "iron_oxide").zscore().values
    np.testing.assert_allclose(z_dn, z, atol=1e-3)


def test_pc1_is_never_selected_and_no_candidate_raises():
    roles = ("blue", "red", "nir", "swir1")
    # PC1 alone has opposite signs on blue/red; PC2..PC4 have zero or same-sign loadings.
    vectors = np.array(
        [[0.7, 0.1, 0.0, 0.0], [-0.7, 0.1, 0.0, 0.0], [0.1, 0.5, 1.0, 0.0], [0.1, 0.5, 0.0, 1.0]]
    )
    with pytest.raises(InvalidParameterError, match=r"PC1: blue=\+0.700 red=-0.700"):
        _select_component(vectors, roles, "blue", "red")
    vectors[0, 3], vectors[1, 3] = 0.2, -0.3
    assert _select_component(vectors, roles, "blue", "red") == (3, -1)


# (3) tables and composite --------------------------------------------------------------------


def test_loadings_table_shape_and_labels(scene):
    h = crosta(scene, "hydroxyl")
    table = h.pca.loadings_table()
    assert table.shape == (4, 4)
    assert list(table.index) == ["blue", "nir", "swir1", "swir2"]
    assert list(table.columns) == ["PC1", "PC2", "PC3", "PC4"]
    np.testing.assert_allclose(table.to_numpy().T @ table.to_numpy(), np.eye(4), atol=1e-10)
    assert h.pca.eigenvalues.tolist() == sorted(h.pca.eigenvalues, reverse=True)
    assert h.pca.explained_variance_ratio.sum() == pytest.approx(1.0)
    assert list(h.loadings_table().columns)[-1] == "selected"


def test_standardized_pca_uses_correlation(scene):
    p = fit_pca(scene, ["red", "nir", "swir1"], standardize=True)
    assert p.standardized and p.eigenvalues.sum() == pytest.approx(3.0)


def test_composite_bands_and_values(scene):
    h, f = crosta(scene, "hydroxyl"), crosta(scene, "iron_oxide")
    comp = crosta_composite(h, f)
    assert comp.dims == ("band", "y", "x") and list(comp.band.values) == ["H", "H+F", "F"]
    assert comp.dtype == np.float32 and comp.rio.crs == scene.rio.crs
    v = comp.values
    np.testing.assert_allclose(v[1], v[0] + v[2], atol=1e-5)
    np.testing.assert_allclose(v[2], f.zscore().values, atol=1e-6)


def test_directed_pca_removes_shared_vegetation_signal():
    rng = np.random.default_rng(7)
    shape = (60, 80)
    mineral = rng.normal(size=shape)
    vegetation = rng.normal(size=shape) * 2
    ratio_a = make_raster(1.2 + 0.05 * mineral + 0.1 * vegetation + rng.normal(0, 0.01, shape))
    ratio_b = make_raster(2.0 + 0.2 * vegetation + rng.normal(0, 0.01, shape))
    d = directed_pca(ratio_a, ratio_b)
    assert d.loadings["mineral"] > 0 > d.loadings["vegetation"]
    img = d.image.values.ravel()
    r_directed = np.corrcoef(img, mineral.ravel())[0, 1]
    r_raw = np.corrcoef(ratio_a.values.ravel(), mineral.ravel())[0, 1]
    assert r_directed > 0.8 > r_raw


# (4) errors ----------------------------------------------------------------------------------


def test_missing_roles_are_named(scene):
    with pytest.raises(BandError, match=r"swir2.*has blue, green, red, nir, swir1"):
        crosta(scene.sel(band=ROLES[:-1]), "hydroxyl")


def test_unknown_target_and_sensor(scene):
    with pytest.raises(InvalidParameterError, match=r"'target'.*'sericite'"):
        crosta(scene, "sericite")
    with pytest.raises(InvalidParameterError, match=r"'sensor'.*'modis'"):
        crosta(scene, "hydroxyl", sensor="modis")
    scene_no_attrs = scene.copy()
    scene_no_attrs.attrs = {}
    with pytest.raises(InvalidParameterError, match="Pass sensor="):
        crosta(scene_no_attrs, "hydroxyl")


def test_too_few_valid_pixels(scene):
    valid = xr.zeros_like(scene.isel(band=0, drop=True), dtype=bool)
    valid[:9, :10] = True
    with pytest.raises(InvalidParameterError, match=r"Only 90 pixels.*at least 100"):
        crosta(scene, "iron_oxide", valid=valid)


def test_grid_mismatch(scene):
    a = make_raster(np.ones((10, 12)))
    with pytest.raises(GridMismatchError, match="'ratio_a' and 'ratio_b'"):
        directed_pca(a, make_raster(np.ones((10, 11))))
    with pytest.raises(GridMismatchError, match="'cube' and 'valid'"):
        streaming_covariance(scene, ["red"], a.astype(bool))
