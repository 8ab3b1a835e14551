"""A QField package: a QGIS project with the run's layers, styled, ready to copy to a phone.

QField (the QGIS app for phones and tablets) opens a QGIS project file and shows its layers
offline. :func:`write_qfield_project` writes ``exports/qfield/``::

    geo_targets.qgs      the project: targets on top, zones, occurrences, faults, licences,
                         the scene as the basemap; paths relative to the project
    targets.gpkg         the run's layers (every target), with their default QGIS styles
    basemap.tif          the true-colour scene as a JPEG-compressed Cloud-Optimized GeoTIFF

Copy the folder to the phone (QField's "Open local file" or QFieldSync's folder) and open
``geo_targets.qgs``. The styles are the ones ``geo export --to qgis`` stores in the
GeoPackage (:mod:`geo.export.qgis`), embedded in the project as QGIS itself would write them.
Nothing needs QGIS to be installed where geo runs; the test suite opens the project in QGIS.
"""

from __future__ import annotations

import shutil
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pyogrio
import rasterio
import rasterio.shutil
from pyproj import CRS

from geo._text import xml_chars
from geo.errors import InputNotFoundError
from geo.export._common import atomic_path
from geo.export.qgis import (
    licence_style_qml,
    occurrence_style_qml,
    raster_style_qml,
    structure_style_qml,
    style_run_geopackage,
    target_style_qml,
    zone_style_qml,
)

__all__ = ["PROJECT_NAME", "write_qfield_project"]

#: File name of the project in the package folder.
PROJECT_NAME = "geo_targets.qgs"
#: QGIS version the project says it was written for (3.22 LTR reads it; later versions too).
QGIS_VERSION = "3.22.16-Białowieża"
#: Layers of the package, top of the layer tree first: (layer, title).
_VECTOR_LAYERS = (
    ("targets", "Targets"),
    ("zones", "Alteration zones"),
    ("occurrences", "Known occurrences"),
    ("structures", "Faults and structures"),
    ("licences", "Licences"),
)
_GEOMETRY = {"targets": "Polygon", "zones": "Polygon", "licences": "Polygon"}


def _layer_id(name: str, run: str) -> str:
    return f"{name}_{uuid.uuid5(uuid.NAMESPACE_URL, f'geo-qfield:{run}:{name}').hex}"


def _srs(parent: ET.Element, crs: CRS) -> None:
    sys_ = ET.SubElement(parent, "spatialrefsys")
    ET.SubElement(sys_, "wkt").text = crs.to_wkt()
    epsg = crs.to_epsg()
    ET.SubElement(sys_, "srid").text = str(epsg or 0)
    ET.SubElement(sys_, "authid").text = f"EPSG:{epsg}" if epsg else ""
    ET.SubElement(sys_, "description").text = crs.name
    ET.SubElement(sys_, "geographicflag").text = "true" if crs.is_geographic else "false"


def _style_children(qml: str | None) -> list[ET.Element]:
    """Return the style elements of a QML document (renderer, labels...) to embed in a layer."""
    if qml is None:
        return []
    root = ET.fromstring(qml.split("\n", 1)[1] if qml.startswith("<!DOCTYPE") else qml)
    return list(root)


def _vector_qml(name: str, gpkg: Path) -> str:
    if name == "targets":
        ranks = pyogrio.read_dataframe(gpkg, layer="targets", columns=["rank"], read_geometry=False)
        return target_style_qml(int(ranks["rank"].max()) if len(ranks) else 1)
    if name == "zones":
        kinds = pyogrio.read_dataframe(gpkg, layer="zones", columns=["kind"], read_geometry=False)
        return zone_style_qml(sorted({str(k) for k in kinds["kind"].dropna()}))
    return {
        "licences": licence_style_qml,
        "occurrences": occurrence_style_qml,
        "structures": structure_style_qml,
    }[name]()


def _map_layer(
    parent: ET.Element, *, kind: str, layer_id: str, source: str, title: str, crs: CRS,
    provider: str, style: list[ET.Element], geometry: str | None = None,
) -> None:  # fmt: skip
    attrs = {"type": kind, "hasScaleBasedVisibilityFlag": "0", "autoRefreshEnabled": "0"}
    if geometry is not None:
        attrs["geometry"] = geometry
    layer = ET.SubElement(parent, "maplayer", attrs)
    ET.SubElement(layer, "id").text = layer_id
    ET.SubElement(layer, "datasource").text = source
    ET.SubElement(layer, "layername").text = xml_chars(title)
    _srs(ET.SubElement(layer, "srs"), crs)
    ET.SubElement(
        layer, "provider", {"encoding": "UTF-8"} if kind == "vector" else {}
    ).text = provider
    layer.extend(style)


def _basemap(source: Path, target: Path) -> bool:
    """Copy the true-colour scene as a small JPEG COG; False when the run has none."""
    if not source.is_file():
        return False
    with atomic_path(target) as tmp:
        rasterio.shutil.copy(
            source, tmp, driver="COG", COMPRESS="JPEG", QUALITY=85, OVERVIEW_RESAMPLING="AVERAGE"
        )
    return True


def write_qfield_project(run_dir: str | Path, *, title: str = "geo targets") -> Path:
    """Write ``exports/qfield/`` for the run in ``run_dir``; return the project file.

    Raises
    ------
    InputNotFoundError
        ``run_dir`` has no ``targets.gpkg``.
    """
    run_dir = Path(run_dir)
    source = run_dir / "targets.gpkg"
    if not source.is_file():
        raise InputNotFoundError(f"{run_dir}: no targets.gpkg; give the folder `geo run` wrote.")
    folder = run_dir / "exports" / "qfield"
    folder.mkdir(parents=True, exist_ok=True)
    gpkg = folder / "targets.gpkg"
    with atomic_path(gpkg) as tmp:
        shutil.copyfile(source, tmp)
        style_run_geopackage(tmp)  # the default styles, also for QGIS opening the file alone
    has_basemap = _basemap(run_dir / "rasters" / "true_colour.tif", folder / "basemap.tif")
    present = {str(n) for n in pyogrio.list_layers(gpkg)[:, 0]}
    crs = CRS.from_user_input(pyogrio.read_info(gpkg, layer="targets")["crs"])

    root = ET.Element("qgis", {"projectname": xml_chars(title), "version": QGIS_VERSION})
    ET.SubElement(root, "homePath", {"path": ""})
    ET.SubElement(root, "title").text = xml_chars(title)
    _srs(ET.SubElement(root, "projectCrs"), crs)
    tree = ET.SubElement(root, "layer-tree-group")
    ET.SubElement(tree, "customproperties")
    layers = ET.SubElement(root, "projectlayers")
    order = [name for name, _ in _VECTOR_LAYERS if name in present]
    for name, label in _VECTOR_LAYERS:
        if name not in present:
            continue
        layer_id, source_text = (
            _layer_id(name, str(run_dir.name)),
            f"./targets.gpkg|layername={name}",
        )
        ET.SubElement(tree, "layer-tree-layer", {
            "id": layer_id, "name": label, "source": source_text, "providerKey": "ogr",
            "checked": "Qt::Checked", "expanded": "0",
        })  # fmt: skip
        _map_layer(
            layers, kind="vector", layer_id=layer_id, source=source_text, title=label, crs=crs,
            provider="ogr", style=_style_children(_vector_qml(name, gpkg)),
            geometry=_GEOMETRY.get(name, "Point" if name == "occurrences" else "Line"),
        )  # fmt: skip
    if has_basemap:
        layer_id = _layer_id("basemap", str(run_dir.name))
        with rasterio.open(folder / "basemap.tif") as src:
            raster_crs = CRS.from_user_input(src.crs.to_wkt())
        ET.SubElement(tree, "layer-tree-layer", {
            "id": layer_id, "name": "Scene (true colour)", "source": "./basemap.tif",
            "providerKey": "gdal", "checked": "Qt::Checked", "expanded": "0",
        })  # fmt: skip
        _map_layer(
            layers, kind="raster", layer_id=layer_id, source="./basemap.tif",
            title="Scene (true colour)", crs=raster_crs, provider="gdal",
            style=_style_children(raster_style_qml("true_colour")),
        )  # fmt: skip
        order.append("basemap")
    properties = ET.SubElement(root, "properties")
    paths = ET.SubElement(properties, "Paths")
    ET.SubElement(paths, "Absolute", {"type": "bool"}).text = "false"  # relative: copy anywhere
    srs = ET.SubElement(properties, "SpatialRefSys")
    ET.SubElement(srs, "ProjectionsEnabled", {"type": "int"}).text = "1"
    ET.indent(root, space="  ")
    text = "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n" + ET.tostring(
        root, encoding="unicode"
    )
    project = folder / PROJECT_NAME
    with atomic_path(project) as tmp:
        tmp.write_text(text + "\n", encoding="utf-8")
    return project
