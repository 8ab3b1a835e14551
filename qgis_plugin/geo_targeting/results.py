"""Load a geo run folder into a QGIS project: one layer-tree group named after the run.

The group holds the vector layers of ``targets.gpkg`` (targets, zones, occurrences,
structures, licences: each with the style geo stored in the GeoPackage's ``layer_styles``
table, applied by ``loadDefaultStyle``) and a ``rasters`` sub-group with every GeoTIFF of
``rasters/`` that has its ``.qml`` style beside it (prospectivity and anomaly maps shown,
the others loaded but hidden). A group of the same name is replaced, so a re-run or a
re-rank shows the new results in place of the old.
"""

from __future__ import annotations

import os

from qgis.core import QgsLayerTreeGroup, QgsProject, QgsRasterLayer, QgsVectorLayer

#: Vector layers in the order they are drawn (first on top).
VECTOR_LAYERS = ("targets", "zones", "occurrences", "structures", "licences")
#: Rasters shown when loaded (name patterns); the others are loaded unchecked.
VISIBLE_RASTERS = ("prospectivity", "_anomaly", "true_colour")


def _raster_order(name: str) -> tuple:
    if name == "prospectivity":
        return (0, name)
    if name.endswith("_anomaly"):
        return (1, name)
    if name == "true_colour":
        return (9, name)
    return (5, name)


def run_layers(run_dir: str) -> tuple:
    """Open a run's layers, styled: ``(vectors, rasters)``, lists of valid layers.

    Layers missing from the run (no occurrences given, no prospectivity) are skipped; a
    layer whose file is there but does not open is skipped too, so a damaged file never
    stops the others from loading.
    """
    gpkg = os.path.join(run_dir, "targets.gpkg")
    vectors = []
    if os.path.isfile(gpkg):
        for name in VECTOR_LAYERS:
            layer = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
            if not layer.isValid():
                continue
            layer.loadDefaultStyle()
            vectors.append(layer)
    rasters = []
    folder = os.path.join(run_dir, "rasters")
    if os.path.isdir(folder):
        names = sorted(
            f[: -len(".tif")]
            for f in os.listdir(folder)
            if f.endswith(".tif")
            and os.path.isfile(os.path.join(folder, f[: -len(".tif")] + ".qml"))
        )
        for name in sorted(names, key=_raster_order):
            layer = QgsRasterLayer(os.path.join(folder, name + ".tif"), name)
            if not layer.isValid():
                continue
            layer.loadDefaultStyle()  # the .qml beside the file
            rasters.append(layer)
    return vectors, rasters


def load_run(run_dir: str, project: QgsProject | None = None, name: str | None = None):
    """Load ``run_dir`` into ``project`` under one group; return the group.

    Parameters
    ----------
    run_dir : str
        A geo run folder (``targets.gpkg``, ``rasters/``).
    project : QgsProject, optional
        Default ``QgsProject.instance()``.
    name : str, optional
        The group's name (default: the run folder's name).

    Returns
    -------
    QgsLayerTreeGroup
        The new group, at the top of the layer tree.
    """
    project = project if project is not None else QgsProject.instance()
    run_dir = os.path.normpath(run_dir)
    name = name or os.path.basename(run_dir) or run_dir
    root = project.layerTreeRoot()
    for old in [g for g in root.children() if isinstance(g, QgsLayerTreeGroup)]:
        if old.name() == name:
            ids = old.findLayerIds()
            root.removeChildNode(old)
            project.removeMapLayers(ids)
    vectors, rasters = run_layers(run_dir)
    group = root.insertGroup(0, name)
    for layer in vectors:
        project.addMapLayer(layer, False)
        group.addLayer(layer)
    if rasters:
        sub = group.addGroup("rasters")
        for layer in rasters:
            project.addMapLayer(layer, False)
            node = sub.addLayer(layer)
            shown = any(
                layer.name() == key or (key.startswith("_") and layer.name().endswith(key))
                for key in VISIBLE_RASTERS
            )
            node.setItemVisibilityChecked(shown)
    return group
