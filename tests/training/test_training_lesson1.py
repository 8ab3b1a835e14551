"""Lesson 1 checks: a right answer passes; the usual mistakes fail with a useful message."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from geo.training import CheckFailed, lesson1


@pytest.fixture(scope="module")
def dn():
    scene = lesson1._sample_scene()
    with rasterio.open(lesson1.scene_path() / scene.metadata["bands"]["red"]["file"]) as src:
        return src.read(1).astype("float64")


@pytest.fixture(scope="module")
def qa():
    return lesson1._sample_scene().qa["qa_pixel"].values


def test_reflectance_right(dn, capsys):
    assert lesson1.check_reflectance(np.where(dn == 0, np.nan, dn * 2.75e-5 - 0.2), band="red")
    assert "✔" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda dn: None, "no answer yet"),
        (lambda dn: np.where(dn == 0, np.nan, dn * 2.75e-5), "offset"),
        (lambda dn: np.where(dn == 0, np.nan, dn * 2.75e-5 + 0.2), "wrong sign"),
        (lambda dn: np.where(dn == 0, np.nan, dn * 2e-5 - 0.1), "Level-1"),
        (lambda dn: np.where(dn == 0, np.nan, dn), "raw DN"),
        (lambda dn: dn * 2.75e-5 - 0.2, "must be NaN"),
        (lambda dn: (dn * 2.75e-5 - 0.2)[:10], "shape"),
    ],
    ids=["none", "no-offset", "offset-sign", "level1", "dn", "fill-not-nan", "shape"],
)
def test_reflectance_mistakes(dn, make, message):
    with pytest.raises(CheckFailed, match=message):
        lesson1.check_reflectance(make(dn), band="red")


def test_reflectance_wrong_band(dn):
    nir = lesson1._sample_scene().reflectance.sel(band="nir").values
    with pytest.raises(CheckFailed, match="nir band"):
        lesson1.check_reflectance(nir, band="red")


def test_cloud_mask_right(qa, capsys):
    assert lesson1.check_cloud_mask((qa & (1 << 3)) != 0)
    assert "cloud pixels" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda qa: (qa & (1 << 4)) != 0, "bit 4 \\(cloud shadow\\)"),
        (lambda qa: (qa & (1 << 1)) != 0, "bit 1 \\(dilated cloud\\)"),
        (lambda qa: (qa & 3) != 0, "bit's \\*number\\*"),
        (lambda qa: qa == 8, "compares the whole"),
        (lambda qa: (qa & 8) == 0, "inverted"),
        (lambda qa: qa & 8, "True/False"),
        (lambda qa: np.full(qa.shape, np.nan), "NaN"),
    ],
    ids=["shadow-bit", "dilated-bit", "bit-number", "equality", "inverted", "not-bool", "nan"],
)
def test_cloud_mask_mistakes(qa, make, message):
    with pytest.raises(CheckFailed, match=message):
        lesson1.check_cloud_mask(make(qa))


def test_false_colour():
    assert lesson1.check_false_colour(["swir2", "nir", "red"])
    assert lesson1.check_false_colour(["7", "5", "4"])  # OLI band numbers are fine too
    with pytest.raises(CheckFailed, match="wrong order"):
        lesson1.check_false_colour(["red", "nir", "swir2"])
    with pytest.raises(CheckFailed, match="true colour"):
        lesson1.check_false_colour(["red", "green", "blue"])
    with pytest.raises(CheckFailed, match="not band roles"):
        lesson1.check_false_colour(["swir3", "nir", "red"])
    with pytest.raises(CheckFailed, match="list of three"):
        lesson1.check_false_colour("swir2")


def test_helpers_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from geo.spectral.masks import MaskConfig, build_mask

    scene = lesson1._sample_scene()
    fig, axes = plt.subplots(1, 3)
    lesson1.plot_composite(scene.reflectance, ["swir2", "nir", "red"], ax=axes[0])
    lesson1.plot_mask_reasons(build_mask(scene.reflectance, config=MaskConfig()), ax=axes[1])
    lesson1.plot_spectra(lesson1.library_spectra(["hematite", "kaolinite"]), ax=axes[2])
    assert axes[0].get_legend().get_texts()[0].get_text().startswith("R = swir2")
    assert any("kept" in t.get_text() for t in axes[1].get_legend().get_texts())
    with pytest.raises(ValueError, match="three band roles"):
        lesson1.plot_composite(scene.reflectance, ["swir3", "nir", "red"], ax=axes[0])
    plt.close(fig)


def test_check_messages_hold_no_markdown_markup():
    """Messages print as plain text in a notebook: no **bold** or __bold__ markup in them."""
    import ast
    import re
    from pathlib import Path

    import geo.training

    bold = re.compile(r"(\*\*|__)\S[^*_]*\S\1")
    found = []
    for path in Path(geo.training.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if bold.search(node.value) and "**kwargs" not in node.value:
                    found.append(f"{path.name}: {node.value[:60]!r}")
    assert not found, found
