"""Lesson 3 checks: a right answer passes, the usual mistakes fail with a message that names them."""

from __future__ import annotations

import numpy as np
import pytest

from geo.spectral.pca import fit_pca
from geo.spectral.sam import load_library
from geo.training import CheckFailed, lesson2, lesson3

H = ["blue", "nir", "swir1", "swir2"]
ROW, COL = 451, 419


@pytest.fixture(scope="module")
def sample():
    return lesson2.load_sample()


@pytest.fixture(scope="module")
def pca(sample):
    return fit_pca(sample.reflectance, H, valid=sample.valid)


@pytest.fixture(scope="module")
def library():
    lib = load_library("landsat_oli").set_index("name")
    return lib, [c for c in lib.columns if c not in ("group", "record", "library")]


def test_hydroxyl_pca(sample, pca):
    assert lesson3.check_hydroxyl_pca(pca)
    cases = [
        (fit_pca(sample.reflectance, H), "pass valid=valid"),
        (
            fit_pca(sample.reflectance, ["blue", "red", "swir1", "swir2"], valid=sample.valid),
            "one visible band",
        ),
        (
            fit_pca(sample.reflectance, ["blue", "green", "red", "nir"], valid=sample.valid),
            "2.2 µm",
        ),
        (fit_pca(sample.reflectance, H, valid=sample.valid, standardize=True), "covariance"),
        (None, "no answer yet"),
        ("PCA", "fit_pca"),
    ]
    for answer, expected in cases:
        with pytest.raises(CheckFailed, match="hydroxyl PCA") as err:
            lesson3.check_hydroxyl_pca(answer)
        assert expected in str(err.value)


def test_hydroxyl_component(pca):
    h = lesson3.expected_crosta("hydroxyl")
    assert np.allclose(h.pca.eigenvectors, pca.eigenvectors)  # the learner's PCA is geo's
    assert lesson3.check_hydroxyl_component(h.component, h.sign)
    assert lesson3.check_hydroxyl_component(f"PC{h.component}", h.sign)
    others = [j for j in range(2, 5) if j != h.component]
    cases = [
        ((1, 1), "albedo"),
        ((h.component, -h.sign), "come out dark"),
        ((None, 1), "no answer yet"),
        ((5, 1), "PC1 to PC4"),
        ((h.component, 2), "+1 or -1"),
    ]
    vec = pca.eigenvectors
    for j in others:
        same = vec[2, j - 1] * vec[3, j - 1] > 0
        cases.append(((j, 1), "same sign" if same else "contrasts them more"))
    for answer, expected in cases:
        with pytest.raises(CheckFailed, match="hydroxyl component") as err:
            lesson3.check_hydroxyl_component(*answer)
        assert expected in str(err.value), (answer, str(err.value))


def test_crosta_image(sample, pca):
    h = lesson3.expected_crosta("hydroxyl")
    weights = h.sign * pca.eigenvectors[:, h.component - 1]
    cube = sample.reflectance.sel(band=list(pca.roles)).values
    scores = np.tensordot(weights, cube - pca.mean[:, None, None], axes=1)
    valid = sample.valid.values
    assert lesson3.check_crosta_image(np.where(valid, scores, np.nan))
    other = 3 if h.component != 3 else 2
    cases = [
        (np.where(valid, -scores, np.nan), "sign is flipped"),
        (np.where(valid, np.tensordot(weights, cube, axes=1), np.nan), "means were not subtracted"),
        (scores, "masked ones hold values"),
        (
            np.where(
                valid,
                np.tensordot(
                    pca.eigenvectors[:, other - 1], cube - pca.mean[:, None, None], axes=1
                ),
                np.nan,
            ),
            f"this is PC{other}",
        ),
        (None, "no answer yet"),
    ]
    for answer, expected in cases:
        with pytest.raises(CheckFailed, match="hydroxyl Crosta image") as err:
            lesson3.check_crosta_image(answer)
        assert expected in str(err.value)


def test_pixel_angle(sample, library):
    lib, bands = library
    pixel = sample.reflectance.sel(band=bands)[:, ROW, COL].values.astype(float)
    ref = lib.loc["kaolinite_kga1", bands].to_numpy(float)
    cosine = pixel @ ref / (np.linalg.norm(pixel) * np.linalg.norm(ref))
    angle = np.arccos(cosine)
    assert angle < 0.05  # the planted argillic zone is kaolinite-like
    assert lesson3.check_pixel_angle(angle, ROW, COL, "kaolinite_kga1")
    swapped = sample.reflectance.sel(band=bands)[:, COL, ROW].values.astype(float)
    kaolinite = lib.loc["kaolinite", bands].to_numpy(float)
    with np.errstate(invalid="ignore"):
        nan_angle = np.arccos(pixel @ ref)  # arccos of a plain dot product > 1
    cases = [
        (np.degrees(angle), "degrees"),
        (cosine, "cosine"),
        (pixel @ ref, "dot product"),
        (nan_angle, "NaN"),
        (
            np.arccos(pixel[1:] @ ref[1:] / (np.linalg.norm(pixel[1:]) * np.linalg.norm(ref[1:]))),
            "coastal",
        ),
        (
            np.arccos(pixel @ kaolinite / (np.linalg.norm(pixel) * np.linalg.norm(kaolinite))),
            "'kaolinite'",
        ),
        (np.arccos(swapped @ ref / (np.linalg.norm(swapped) * np.linalg.norm(ref))), "swapped"),
        (None, "no answer yet"),
    ]
    for answer, expected in cases:
        with (
            np.errstate(invalid="ignore"),
            pytest.raises(CheckFailed, match="spectral angle") as err,
        ):
            lesson3.check_pixel_angle(answer, ROW, COL, "kaolinite_kga1")
        assert expected in str(err.value), (answer, str(err.value))


def test_angle_map(sample, library):
    lib, bands = library
    ref = lib.loc["kaolinite_kga1", bands].to_numpy(float)
    cube = sample.reflectance.sel(band=bands).values  # float32, as a learner would have it
    with np.errstate(invalid="ignore", divide="ignore"):
        angles = np.arccos(
            np.clip(
                np.tensordot(ref, cube, axes=1)
                / (np.linalg.norm(cube, axis=0) * np.linalg.norm(ref)),
                -1,
                1,
            )
        )
    valid = sample.valid.values
    assert lesson3.check_angle_map(np.where(valid, angles, np.nan), "kaolinite_kga1")
    for answer, expected in [
        (angles, "masked pixels hold angles"),
        (np.degrees(np.where(valid, angles, np.nan)), "degrees"),
        (None, "no answer yet"),
    ]:
        with pytest.raises(CheckFailed, match="spectral angle map") as err:
            lesson3.check_angle_map(answer, "kaolinite_kga1")
        assert expected in str(err.value)


def test_closest_records_and_categories(sample):
    table = lesson3.closest_records(sample.reflectance, {"argillic": (ROW, COL)})
    assert table.loc["argillic", "1st"].startswith("kaolinite_kga1 (aloh_clay)")
    cats = lesson3.sam_categories(
        {0: "unclassified", 2: "aloh_clay", 4: "vegetation"}, present=[0, 2, 255]
    )
    assert cats == {0: ("unclassified", "#f0e6d2"), 2: ("aloh clay", "#2166ac")}
