"""Packages for offline mapping apps: a QField project (opened in real QGIS) and a GeoPDF.

QGIS (Debian's python3-qgis) and GDAL's command-line tools (Debian's gdal-bin, whose GDAL
reads PDF) are what a field team's own tools would use to open these files; where they are
not installed the tests say so and skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import geopandas as gpd
import pytest
from rasterio.transform import Affine

from geo.export.geopdf import geopdf_extent, write_geopdf
from geo.export.qfield import PROJECT_NAME, write_qfield_project

pytestmark = pytest.mark.slow
SYSTEM_PYTHON = Path("/usr/bin/python3")

_QGIS_CHECK = textwrap.dedent(
    """
    import json, sys
    from qgis.core import QgsApplication, QgsProject
    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()
    report = {"read": project.read(sys.argv[1]), "crs": project.crs().authid(), "layers": {}}
    for layer in project.mapLayers().values():
        entry = {"valid": layer.isValid(), "source": layer.source()}
        renderer = getattr(layer, "renderer", lambda: None)()
        entry["renderer"] = renderer.type() if renderer is not None else None
        if hasattr(layer, "featureCount"):
            entry["features"] = layer.featureCount()
            entry["labels"] = layer.labelsEnabled()
        report["layers"][layer.name()] = entry
    print(json.dumps(report))
    app.exitQgis()
    """
)


def _qgis() -> None:
    if (
        not SYSTEM_PYTHON.exists()
        or subprocess.run(
            [str(SYSTEM_PYTHON), "-c", "import qgis.core"], capture_output=True, timeout=60
        ).returncode
    ):
        pytest.skip("QGIS is not installed (apt-get install python3-qgis qgis-providers)")


def test_qfield_project_opens_in_qgis_with_every_layer_valid_and_styled(prospect_run, tmp_path):
    _qgis()
    run = tmp_path / "run"
    shutil.copytree(prospect_run.out_dir, run)
    project = write_qfield_project(run, title="sample <&> run")
    folder = project.parent
    assert project.name == PROJECT_NAME
    assert sorted(p.name for p in folder.iterdir()) == ["basemap.tif", PROJECT_NAME, "targets.gpkg"]
    # the package is copied to a phone: it must not depend on where it was written
    moved = tmp_path / "phone" / "qfield"
    shutil.copytree(folder, moved)
    shutil.rmtree(run)
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", _QGIS_CHECK, str(moved / PROJECT_NAME)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["read"] and report["crs"] == "EPSG:32635"
    layers = report["layers"]
    assert set(layers) == {
        "Targets", "Alteration zones", "Known occurrences", "Faults and structures",
        "Licences", "Scene (true colour)",
    }  # fmt: skip
    assert all(entry["valid"] for entry in layers.values()), layers
    assert all(entry["source"].startswith(str(moved)) for entry in layers.values())
    assert layers["Targets"]["features"] == len(prospect_run.targets)
    assert layers["Targets"]["renderer"] == "graduatedSymbol" and layers["Targets"]["labels"]
    assert layers["Alteration zones"]["renderer"] == "categorizedSymbol"
    assert layers["Scene (true colour)"]["renderer"] == "multibandcolor"


def _gdalinfo(path: Path) -> dict:
    if shutil.which("gdalinfo") is None:
        pytest.skip("gdalinfo (Debian's gdal-bin, which reads PDF) is not installed")
    done = subprocess.run(
        ["gdalinfo", "-json", str(path)], capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        pytest.skip(f"this gdalinfo cannot read PDF: {done.stderr.strip()[:200]}")
    return json.loads(done.stdout)


def test_geopdf_places_every_target_within_a_pixel(prospect_run, tmp_path):
    run = prospect_run.out_dir
    targets = gpd.read_file(run / "targets.gpkg", layer="targets").head(5)
    licences = gpd.read_file(run / "targets.gpkg", layer="licences")
    pdf = write_geopdf(
        tmp_path / "map.pdf", targets, licences=licences,
        basemap=run / "rasters" / "true_colour.tif", title="block",
    )  # fmt: skip
    assert pdf.read_bytes()[:5] == b"%PDF-"
    info = _gdalinfo(pdf)
    assert info["stac"]["proj:epsg"] == targets.crs.to_epsg()
    read_back = Affine.from_gdal(*info["geoTransform"])
    width, height = info["size"]
    minx, miny, maxx, maxy = geopdf_extent(targets, licences)
    assert (maxx - minx) / width == pytest.approx(read_back.a, rel=1e-6)
    for x, y in zip(targets["easting"], targets["northing"], strict=True):
        col, row = ~read_back * (x, y)
        expected_col = (x - minx) / (maxx - minx) * width
        expected_row = (maxy - y) / (maxy - miny) * height
        assert abs(col - expected_col) <= 1 and abs(row - expected_row) <= 1
        assert 0 <= col < width and 0 <= row < height


def test_geopdf_lays_the_vectors_over_the_basemap_pixel_for_pixel(tmp_path):
    """A flat basemap keeps its colour away from the vectors; nodata is the white page."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import box

    from geo.export import geopdf

    crs = "EPSG:32735"
    basemap = tmp_path / "true_colour.tif"
    rgb = np.zeros((3, 200, 200), dtype="uint8")
    rgb[0], rgb[1], rgb[2] = 40, 120, 200
    rgb[:, :, :40] = 0  # the western fifth has no data
    with rasterio.open(
        basemap, "w", driver="GTiff", width=200, height=200, count=3, dtype="uint8",
        crs=crs, transform=from_origin(500_000, 7_000_000, 30, 30),
    ) as dst:  # fmt: skip
        dst.write(rgb)
    target = box(502_800, 6_996_800, 503_200, 6_997_200)
    targets = gpd.GeoDataFrame(
        {"target_id": ["T1"], "rank": [1], "score": [0.9], "licence_id": [None],
         "easting": [503_000.0], "northing": [6_997_000.0]},
        geometry=[target], crs=crs,
    )  # fmt: skip
    bounds = (500_000, 6_994_000, 506_000, 7_000_000)  # the basemap's extent
    page, (height, width) = geopdf._picture(targets, None, basemap, bounds)
    assert page.shape == (3, height, width) and page.dtype == np.uint8
    # far from the target: exactly the basemap, and white where it has no data
    assert tuple(page[:, height // 2, int(width * 0.9)]) == (40, 120, 200)
    assert tuple(page[:, height // 2, int(width * 0.1)]) == (255, 255, 255)
    # the outline is drawn over it: pixels of the target colour near its edge
    col = round((502_800 - 500_000) / 6000 * width)
    row = round((7_000_000 - 6_997_000) / 6000 * height)
    strip = page[:, row, col - 3 : col + 4].T.astype(int)
    assert (np.abs(strip - np.array(geopdf._TARGET)).sum(axis=1) < 60).any()
