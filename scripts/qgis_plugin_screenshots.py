"""Screenshots of the geo plugin in QGIS for docs/guide/qgis.md, made headless.

    GEO_QGIS_EXECUTABLE=/path/to/geo QT_QPA_PLATFORM=offscreen \
        /usr/bin/python3 scripts/qgis_plugin_screenshots.py docs/assets/qgis

Needs Debian's python3-qgis (or any QGIS Python) and a geo program (GEO_QGIS_EXECUTABLE, or
the plugin's settings). Writes, into the folder given:

- ``runpipeline_dialog.png``: the Processing dialog of Run pipeline, with the sample's
  licence layer chosen and its fields picked;
- ``run_map.png``: the sample run loaded by the plugin, drawn as QGIS draws the group
  (targets labelled by rank, zones, licences, anomaly rasters over the true colour);
- ``layers_panel.png``: the run's group in a layer tree view;
- ``options_page.png``: Settings > Options > geo after pressing Test.

The PNGs are written with a reduced palette (small files for the documentation).
"""

import os
import sys
import tempfile

from qgis.core import (
    QgsApplication,
    QgsLayerTreeModel,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsProject,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out_dir = os.path.abspath(sys.argv[1])
os.makedirs(out_dir, exist_ok=True)
sys.path.insert(0, os.path.join(ROOT, "qgis_plugin"))

app = QgsApplication([], True)
app.initQgis()
sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
from processing.core.Processing import Processing  # noqa: E402

Processing.initialize()
import geo_targeting  # noqa: E402
import processing  # noqa: E402
from geo_targeting import settings  # noqa: E402

plugin = geo_targeting.classFactory(None)
plugin.initProcessing()
sample = os.path.join(ROOT, "sample_rasters")
product = os.path.join(sample, "LC08_L2SR_171075_20230601_20230607_02_T1")
project = QgsProject.instance()


def save(image: QImage, name: str) -> None:
    """Save ``image`` as an 8-bit palette PNG (small, sharp for screenshots and maps)."""
    small = image.convertToFormat(QImage.Format_Indexed8)
    path = os.path.join(out_dir, name)
    small.save(path, "PNG")
    print(path, os.path.getsize(path))


# the dialog: the licence layer from the project, its fields chosen in the widgets
licences = QgsVectorLayer(
    os.path.join(sample, "licences.gpkg") + "|layername=licences", "licences (cadastre)", "ogr"
)
project.addMapLayer(licences)
from processing.gui.AlgorithmDialog import AlgorithmDialog  # noqa: E402

alg = QgsApplication.processingRegistry().createAlgorithmById("geo:runpipeline")
dialog = AlgorithmDialog(alg)
dialog.resize(980, 760)
values = {
    "PIPELINE": "landsat_alteration",
    "SCENE_FOLDER": product,
    "LICENCES": licences.id(),
    "LICENCE_ID_FIELD": "licence_no",
    "HOLDER_FIELD": "holder_name",
    "STATUS_FIELD": "status",
    "EXPIRY_FIELD": "expiry",
    "FIELD_TOP": 20,
    "OUTPUT": os.path.join("C:/geo/runs", "block7_2023-06"),
}
panel = dialog.mainWidget()
if hasattr(panel, "setParameters"):
    panel.setParameters(values)
dialog.show()
for _ in range(20):
    app.processEvents()
save(dialog.grab().toImage(), "runpipeline_dialog.png")
dialog.hide()
project.removeMapLayer(licences.id())

# a run through the plugin, loaded as a user sees it
work = tempfile.mkdtemp(prefix="geo_qgis_shots_")
run = os.path.join(work, "block7_2023-06")
processing.run(
    "geo:runpipeline",
    {
        **{k: v for k, v in values.items() if k not in ("LICENCES", "OUTPUT")},
        "LICENCES": os.path.join(sample, "licences.gpkg") + "|layername=licences",
        "FIELD_TOP": 5,
        "OUTPUT": run,
    },
)
group = project.layerTreeRoot().findGroup("block7_2023-06")
shown = [n.layer() for n in group.findLayers() if n.isVisible()]
settings_ = QgsMapSettings()
settings_.setLayers(shown)
settings_.setDestinationCrs(shown[0].crs())
extent = next(lyr for lyr in shown if lyr.name() == "true_colour").extent()
settings_.setExtent(extent)
settings_.setOutputSize(QSize(760, 760))
settings_.setBackgroundColor(QColor(40, 40, 40))
job = QgsMapRendererParallelJob(settings_)
job.start()
job.waitForFinished()
save(job.renderedImage(), "run_map.png")

from qgis.gui import QgsLayerTreeView  # noqa: E402

view = QgsLayerTreeView()
model = QgsLayerTreeModel(project.layerTreeRoot())  # kept: the view does not own it
view.setModel(model)
view.expandAll()
view.resize(320, 560)
view.show()
for _ in range(20):
    app.processEvents()
save(view.grab().toImage(), "layers_panel.png")

# the page as a user fills it: a virtualenv folder (GEO_QGIS_EXECUTABLE, if it names one)
configured = os.environ.pop("GEO_QGIS_EXECUTABLE", "")
page = settings.GeoOptionsPage()
page.resize(760, 300)
page.mode.setCurrentIndex(page.mode.findData("executable"))
page.path.setText(configured)
page.show()
page.run_test()
for _ in range(20):
    app.processEvents()
save(page.grab().toImage(), "options_page.png")

sys.stdout.flush()
os._exit(0)  # exitQgis() can crash on some builds while layers are alive
