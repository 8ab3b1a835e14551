"""Lesson 7 checks: each accepts the right answer, and names the usual mistakes."""

from __future__ import annotations

import numpy as np
import pytest

from geo.spectral.continuum import feature_parameters, upper_hull
from geo.training import CheckFailed, lesson7
from geo.training.notebooks import NOTEBOOK_DIR


@pytest.fixture(scope="module")
def sample():
    return lesson7.load_sample()


@pytest.fixture(scope="module")
def pixel():
    return lesson7.example_pixel("phyllic", "white_mica")


@pytest.fixture(scope="module")
def window(pixel):
    wl, r = lesson7.window_spectrum(pixel)
    return wl, r, upper_hull(wl, r)


def test_bad_bands(sample):
    good = sample.spectra["good"].values
    n_bad = int((~good).sum())
    assert 0 < n_bad < good.size  # the sample flags the water-vapour bands
    bad_wl = sample.spectra["wavelength"].values[~good]
    assert ((bad_wl > 1300) & (bad_wl < 1500)).any() and ((bad_wl > 1780) & (bad_wl < 2000)).any()
    assert lesson7.check_bad_bands(n_bad)
    assert lesson7.check_bad_bands(list(sample.spectra["band"].values[~good]))
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson7.check_bad_bands(None)
    with pytest.raises(CheckFailed, match="number of good bands"):
        lesson7.check_bad_bands(int(good.sum()))
    with pytest.raises(CheckFailed, match="every band"):
        lesson7.check_bad_bands(good.size)
    with pytest.raises(CheckFailed, match="too low"):
        lesson7.check_bad_bands(n_bad - 3)


def test_example_pixel_is_a_mica_in_the_ring(sample, pixel):
    ring = sample.truth.geometry[sample.truth["assemblage"] == "phyllic"].iloc[0]
    from shapely.geometry import Point

    assert ring.contains(Point(float(pixel.x), float(pixel.y)))
    assert pixel.sizes == {"band": sample.spectra.sizes["band"]}


def test_continuum_removed(pixel, window):
    wl, r, hull = window
    assert wl.min() >= lesson7.WINDOW[0] and wl.max() <= lesson7.WINDOW[1]
    cr = r / hull
    assert np.isclose(cr.max(), 1.0) and cr.min() < 0.95  # shoulders at 1, an absorption
    assert lesson7.check_continuum_removed(cr, pixel)
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson7.check_continuum_removed(None, pixel)
    with pytest.raises(CheckFailed, match="subtracted"):
        lesson7.check_continuum_removed(r - hull, pixel)
    with pytest.raises(CheckFailed, match="upside down"):
        lesson7.check_continuum_removed(hull / r, pixel)
    with pytest.raises(CheckFailed, match="continuum \\(the hull\\) itself"):
        lesson7.check_continuum_removed(hull, pixel)
    good = pixel["good"].values
    full_wl, full_r = pixel["wavelength"].values[good], pixel.values[good].astype(float)
    inside = (full_wl >= lesson7.WINDOW[0]) & (full_wl <= lesson7.WINDOW[1])
    with pytest.raises(CheckFailed, match="whole spectrum"):
        lesson7.check_continuum_removed(r / upper_hull(full_wl, full_r)[inside], pixel)
    with pytest.raises(CheckFailed, match="good bands inside the window"):
        lesson7.check_continuum_removed(cr[1:], pixel)


def test_band_depth(pixel, window):
    wl, r, hull = window
    cr = r / hull
    depth = 1 - cr.min()
    assert np.isclose(depth, feature_parameters(wl, r)["depth"])
    assert lesson7.check_band_depth(depth, pixel)
    with pytest.raises(CheckFailed, match="1 minus it"):
        lesson7.check_band_depth(cr.min(), pixel)
    with pytest.raises(CheckFailed, match="percentage"):
        lesson7.check_band_depth(100 * depth, pixel)
    i = int(np.argmin(cr))
    with pytest.raises(CheckFailed, match="reflectance units"):
        lesson7.check_band_depth(hull[i] - r[i], pixel)
    with pytest.raises(CheckFailed, match="too high"):
        lesson7.check_band_depth(depth + 0.05, pixel)


def _vertex(wl, cr, log=True):
    i = int(np.argmin(cr))
    x0, x1, x2 = wl[i - 1 : i + 2]
    f0, f1, f2 = np.log(1 - cr[i - 1 : i + 2]) if log else 1 - cr[i - 1 : i + 2]
    d01, d12 = (f1 - f0) / (x1 - x0), (f2 - f1) / (x2 - x1)
    a = (d12 - d01) / (x2 - x0)
    return (x0 + x1) / 2 - d01 / (2 * a)


def test_feature_position(pixel, window):
    wl, r, hull = window
    cr = r / hull
    position = _vertex(wl, cr)
    assert np.isclose(position, feature_parameters(wl, r)["position"])
    assert lesson7.check_feature_position(position, pixel)
    assert lesson7.check_feature_position(_vertex(wl, cr, log=False), pixel)  # parabola on CR
    lowest = wl[int(np.argmin(cr))]
    assert abs(lowest - position) > 0.5  # the refinement matters on this pixel
    with pytest.raises(CheckFailed, match="centre of the lowest band"):
        lesson7.check_feature_position(lowest, pixel)
    with pytest.raises(CheckFailed, match="micrometres"):
        lesson7.check_feature_position(position / 1000, pixel)
    with pytest.raises(CheckFailed, match="band index"):
        lesson7.check_feature_position(int(np.argmin(cr)), pixel)
    with pytest.raises(CheckFailed, match="outside the lowest band"):
        lesson7.check_feature_position(position + 20, pixel)
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson7.check_feature_position(None, pixel)


def test_mystery_minerals():
    mystery = lesson7.mystery_pixels()
    assert list(mystery["label"].values) == ["A", "B", "C"]
    right = {"A": "white mica", "B": "alunite", "C": "kaolinite"}
    assert lesson7.check_mystery_minerals(right)
    assert lesson7.check_mystery_minerals({"a": "Muscovite", "b": "ALUNITE", "c": "kaolinite"})
    with pytest.raises(CheckFailed, match=r"B is not kaolinite: alunite has its 1\.76"):
        lesson7.check_mystery_minerals({"A": "white mica", "B": "kaolinite", "C": "alunite"})
    with pytest.raises(CheckFailed, match="A is not kaolinite: white mica has one single"):
        lesson7.check_mystery_minerals({"A": "kaolinite", "B": "alunite", "C": "white mica"})
    with pytest.raises(CheckFailed, match="no name for C"):
        lesson7.check_mystery_minerals({"A": "white mica", "B": "alunite"})
    with pytest.raises(CheckFailed, match="give a dict"):
        lesson7.check_mystery_minerals("alunite")


def _codes_in(sample, ds, assemblage):
    geometry = sample.truth.geometry[sample.truth["assemblage"] == assemblage].iloc[0]
    codes = ds["mineral"].values[lesson7.polygon_mask(geometry, ds["mineral"]).values]
    return codes[codes != 255]


def test_polygon_share(sample):
    swir, vnir = lesson7.mineral_maps()
    codes = _codes_in(sample, swir, "phyllic")
    codes_of = {name: code for code, name in swir["mineral"].attrs["codes"].items()}
    mica = codes_of["white_mica"]
    share = float((codes == mica).mean())
    assert 0.6 <= share < 1.0  # found, with misses at the edges
    assert lesson7.check_polygon_share(share, "phyllic")
    with pytest.raises(CheckFailed, match="percentage"):
        lesson7.check_polygon_share(100 * share, "phyllic")
    with pytest.raises(CheckFailed, match="'none' pixels were left out"):
        lesson7.check_polygon_share(float((codes == mica).sum() / (codes != 0).sum()), "phyllic")
    with pytest.raises(CheckFailed, match="number of pixels"):
        lesson7.check_polygon_share(int((codes == mica).sum()), "phyllic")
    scene = swir["mineral"].values
    with pytest.raises(CheckFailed, match="whole scene"):
        lesson7.check_polygon_share(float((scene[scene != 255] == mica).mean()), "phyllic")
    # the table agrees with the hand count, and the sand is hematite on the VNIR map
    table = lesson7.truth_table(swir, vnir, sample.truth)
    assert np.isclose(table.loc["phyllic", "correct"], share)
    assert table.loc["ferric_iron", "most_common"] == "hematite"
    assert (table["correct"] >= 0.5).all()


def test_assemblage_of_sand():
    assert lesson7.check_assemblage_of_sand("ferric_iron")
    assert lesson7.check_assemblage_of_sand("ferric iron")
    with pytest.raises(CheckFailed, match="SWIR map says"):
        lesson7.check_assemblage_of_sand("none")
    with pytest.raises(CheckFailed, match="expected ferric_iron"):
        lesson7.check_assemblage_of_sand("advanced_argillic")
    with pytest.raises(CheckFailed, match="no answer yet"):
        lesson7.check_assemblage_of_sand(None)


def test_iron_only_ceiling():
    from geo.pipeline.spec import load_spec

    spec = load_spec(NOTEBOOK_DIR.parent / "pipelines" / lesson7.PIPELINE)
    weights = {n: spec.prospectivity.weights.get(n, 1.0) for n in spec.evidence}
    ceiling = weights["ferric_iron"] / sum(weights.values())
    assert ceiling < 0.1  # the course's pipeline keeps iron alone low
    assert lesson7.check_iron_only_ceiling(ceiling, spec)
    with pytest.raises(CheckFailed, match="weight itself"):
        lesson7.check_iron_only_ceiling(weights["ferric_iron"], spec)
    with pytest.raises(CheckFailed, match="equal weights"):
        lesson7.check_iron_only_ceiling(1 / len(weights), spec)
    with pytest.raises(CheckFailed, match="not the largest"):
        lesson7.check_iron_only_ceiling(weights["ferric_iron"] / max(weights.values()), spec)
    # another weighting gives another answer: the check reads the spec, not a constant
    other = spec.model_copy(
        update={
            "prospectivity": spec.prospectivity.model_copy(update={"weights": {"ferric_iron": 1.0}})
        }
    )
    with pytest.raises(CheckFailed):
        lesson7.check_iron_only_ceiling(ceiling, other)
    assert lesson7.check_iron_only_ceiling(1 / len(weights), other)  # all weights now 1


def test_plot_mineral_map(sample):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    swir, _ = lesson7.mineral_maps()
    ax = lesson7.plot_mineral_map(swir["mineral"], truth=sample.truth, title="SWIR")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"none", "alunite", "white_mica", "chlorite"} <= set(labels)
    assert "masked" not in labels
    plt.close(ax.figure)
