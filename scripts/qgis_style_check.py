"""Open a run's GeoPackage and rasters in real QGIS (system python3-qgis) and report styles.

Run by tests/export/test_export_qgis_real.py (or by hand: `QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/qgis_style_check.py RUN_DIR OUT.png`) with Debian's /usr/bin/python3 (python3-qgis), never
imported by the test suite itself. Prints one JSON line per layer and renders a PNG.
"""

import json
import os
import sys

from qgis.core import (
    QgsApplication,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

app = QgsApplication([], False)
app.initQgis()
run = sys.argv[1]
layers = []
for name in ("targets", "zones", "licences", "occurrences", "structures"):
    lyr = QgsVectorLayer(f"{run}/targets.gpkg|layername={name}", name, "ogr")
    msg, ok = lyr.loadDefaultStyle()
    r = lyr.renderer()
    print(
        json.dumps(
            {
                "layer": name,
                "valid": lyr.isValid(),
                "features": lyr.featureCount(),
                "style": ok,
                "renderer": r.type() if r else None,
                "labels": lyr.labelsEnabled(),
            }
        )
    )
    layers.append(lyr)
for rname in (
    "true_colour",
    "prospectivity",
    "iron_oxide_anomaly",
    "membership_faults",
    "iron_oxide_z",
):
    rl = QgsRasterLayer(f"{run}/rasters/{rname}.tif", rname)
    msg, ok = rl.loadDefaultStyle()
    print(
        json.dumps(
            {"layer": rname, "valid": rl.isValid(), "style": ok, "renderer": rl.renderer().type()}
        )
    )
    if rname in ("true_colour",):
        layers.append(rl)
ms = QgsMapSettings()
ms.setLayers(layers)
ms.setExtent(layers[-1].extent())
ms.setOutputSize(QSize(900, 900))
ms.setBackgroundColor(QColor(40, 40, 40))
ms.setDestinationCrs(layers[0].crs())
job = QgsMapRendererParallelJob(ms)
job.start()
job.waitForFinished()
job.renderedImage().save(sys.argv[2])
sys.stdout.flush()
# exitQgis() crashes on some builds while layers are alive; the work is done and flushed
os._exit(0)
