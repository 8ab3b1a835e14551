"""Drive the geo_targeting plugin in real QGIS (Debian's python3-qgis), headless.

Run by tests/qgis_plugin/test_plugin_qgis.py with /usr/bin/python3 and
QT_QPA_PLATFORM=offscreen, never imported by the test suite:

    python3 scripts/qgis_plugin_check.py PLUGIN_DIR SAMPLE_DIR WORK_DIR

PLUGIN_DIR holds the ``geo_targeting`` package; geo is the program named by the environment
variable GEO_QGIS_EXECUTABLE. Prints one JSON object a line, each with a "check" key:
``provider`` (ids of the provider's algorithms), ``run`` (processing.run("geo:runpipeline")
on the sample: outputs, progress, the layer-tree group), ``bad`` (a scene folder that is
not a product: the exception's text), ``cancel`` (Cancel after the first stage: the
exception's text, whether the output folder exists).
"""

import json
import os
import shutil
import sys
import time
import traceback

from qgis.core import (
    QgsApplication,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)

plugin_dir, sample, work = sys.argv[1:4]
sys.path.insert(0, plugin_dir)

app = QgsApplication([], True)  # GUI on (offscreen): the options page is a widget
app.initQgis()
sys.path.append(os.path.join(QgsApplication.pkgDataPath(), "python", "plugins"))
from processing.core.Processing import Processing  # noqa: E402

Processing.initialize()
import geo_targeting  # noqa: E402
import processing  # noqa: E402


def emit(check, **fields):
    print(json.dumps({"check": check, **fields}), flush=True)


class Feedback(QgsProcessingFeedback):
    """Records progress and messages; cancels once ``cancel_after`` appears in a message."""

    def __init__(self, cancel_after=None):
        super().__init__()
        self.cancel_after = cancel_after
        self.infos = []
        self.warnings = []
        self.percents = []
        self.progressChanged.connect(self.percents.append)

    def pushInfo(self, info):
        self.infos.append(info)
        if self.cancel_after and self.cancel_after in info:
            self.cancel()
        super().pushInfo(info)

    def pushWarning(self, warning):
        self.warnings.append(warning)
        super().pushWarning(warning)


plugin = geo_targeting.classFactory(None)
plugin.initProcessing()
registry = QgsApplication.processingRegistry()
provider = registry.providerById("geo")
emit(
    "provider",
    loaded=provider is not None,
    name=provider.name() if provider else None,
    algorithms=sorted(a.id() for a in provider.algorithms()) if provider else [],
    names={a.id(): a.displayName() for a in provider.algorithms()} if provider else {},
    parameters={a.id(): [p.name() for p in a.parameterDefinitions()] for a in provider.algorithms()}
    if provider
    else {},
)

licences = os.path.join(sample, "licences.gpkg") + "|layername=licences"
product = os.path.join(sample, "LC08_L2SR_171075_20230601_20230607_02_T1")
base = {
    "PIPELINE": "landsat_alteration",
    "SCENE_FOLDER": product,
    "LICENCES": licences,
    "LICENCE_ID_FIELD": "licence_no",
    "HOLDER_FIELD": "holder_name",
    "STATUS_FIELD": "status",
    "EXPIRY_FIELD": "expiry",
    "FIELD_TOP": 3,
}

# the run: outputs, progress, the group in the project
out = os.path.join(work, "qgis_run")
feedback = Feedback()
started = time.monotonic()
try:
    results = processing.run("geo:runpipeline", {**base, "OUTPUT": out}, feedback=feedback)
    error = None
except Exception as exc:
    results, error = {}, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"
seconds = time.monotonic() - started
project = QgsProject.instance()
group = project.layerTreeRoot().findGroup("qgis_run")
layers = []
if group is not None:
    for node in group.findLayers():
        layer = node.layer()
        entry = {
            "name": layer.name(),
            "valid": layer.isValid(),
            "kind": "vector" if isinstance(layer, QgsVectorLayer) else "raster",
            "renderer": layer.renderer().type() if layer.renderer() else None,
            "visible": node.itemVisibilityChecked(),
            "parent": node.parent().name(),
            "source": layer.source(),
        }
        if isinstance(layer, QgsVectorLayer):
            entry["features"] = layer.featureCount()
            entry["labels"] = layer.labelsEnabled()
        layers.append(entry)
emit(
    "run",
    error=error,
    seconds=seconds,
    results={k: v for k, v in results.items()},
    percents=feedback.percents,
    infos=feedback.infos,
    warnings=feedback.warnings,
    group=group.name() if group is not None else None,
    group_index=project.layerTreeRoot().children().index(group) if group is not None else None,
    layers=layers,
    out_exists=os.path.isdir(out),
)

if os.path.isfile(os.path.join(out, "targets.csv")):  # kept: the re-rank below rewrites it
    shutil.copyfile(os.path.join(out, "targets.csv"), os.path.join(work, "qgis_run_targets.csv"))

# a bad input: a folder that is not a scene product
bad_out = os.path.join(work, "bad_run")
try:
    processing.run(
        "geo:runpipeline",
        {**base, "SCENE_FOLDER": sample, "OUTPUT": bad_out},
        feedback=Feedback(),
    )
    emit("bad", raised=None, type=None, out_exists=os.path.exists(bad_out))
except QgsProcessingException as exc:
    emit("bad", raised=str(exc), type=type(exc).__name__, out_exists=os.path.exists(bad_out))

# cancel after the first stage ends
cancel_out = os.path.join(work, "cancelled_run")
feedback = Feedback(cancel_after="ingest done")
started = time.monotonic()
try:
    processing.run("geo:runpipeline", {**base, "OUTPUT": cancel_out}, feedback=feedback)
    emit("cancel", raised=None, out_exists=os.path.exists(cancel_out))
except QgsProcessingException as exc:
    emit(
        "cancel",
        raised=str(exc),
        seconds=time.monotonic() - started,
        out_exists=os.path.exists(cancel_out),
        siblings=sorted(os.listdir(work)),
        infos=feedback.infos,
    )

# re-rank the run: only the iron intensity counts, so each score is the iron intensity
feedback = Feedback()
started = time.monotonic()
try:
    results = processing.run(
        "geo:rerank",
        {"RUN": out, "WEIGHTS": "iron_intensity=1,clay_intensity=0,coincidence=0,area=0"},
        feedback=feedback,
    )
    error = None
except Exception as exc:
    results, error = {}, f"{type(exc).__name__}: {exc}"
groups = [g.name() for g in project.layerTreeRoot().children() if g.name() == "qgis_run"]
targets = [
    n.layer()
    for n in project.layerTreeRoot().findGroup("qgis_run").findLayers()
    if n.layer().name() == "targets"
]
emit(
    "rerank",
    error=error,
    seconds=time.monotonic() - started,
    results=results,
    groups=groups,
    renderer=targets[0].renderer().type() if targets else None,
    rows=[
        {
            "target_id": f["target_id"],
            "rank": f["rank"],
            "score": f["score"],
            "iron_intensity": f["iron_intensity"],
        }
        for f in targets[0].getFeatures()
    ]
    if targets
    else [],
)

# export for the field: GPX and GeoJSON, the route starting at a point picked in UTM 35S
started = time.monotonic()
try:
    results = processing.run(
        "geo:exportfield",
        {"RUN": out, "FORMATS": [4, 5], "FIELD_TOP": 2, "START": "549000,-2378000 [EPSG:32635]"},
        feedback=Feedback(),
    )
    error = None
except Exception as exc:
    results, error = {}, f"{type(exc).__name__}: {exc}"
emit(
    "export",
    error=error,
    seconds=time.monotonic() - started,
    results=results,
    files=sorted(os.listdir(os.path.join(out, "exports")))
    if os.path.isdir(os.path.join(out, "exports"))
    else [],
)

# scene info
started = time.monotonic()
try:
    results = processing.run("geo:sceneinfo", {"SCENE_FOLDER": product}, feedback=Feedback())
    error = None
except Exception as exc:
    results, error = {}, f"{type(exc).__name__}: {exc}"
emit("info", error=error, seconds=time.monotonic() - started, results=results)

# a batch of one scene on one local worker
batch_out = os.path.join(work, "batch_run")
started = time.monotonic()
feedback = Feedback()
try:
    results = processing.run(
        "geo:batch",
        {
            "PIPELINE": "landsat_alteration",
            "SCENES": f'"{product}"\n\n# a comment\n',
            "WORKERS": 1,
            "OUTPUT": batch_out,
        },
        feedback=feedback,
    )
    error = None
except Exception as exc:
    results, error = {}, f"{type(exc).__name__}: {exc}"
group = project.layerTreeRoot().findGroup("batch_run")
emit(
    "batch",
    error=error,
    seconds=time.monotonic() - started,
    results=results,
    percents=feedback.percents,
    infos=feedback.infos,
    layers=[
        {
            "name": n.layer().name(),
            "valid": n.layer().isValid(),
            "features": n.layer().featureCount(),
        }
        for n in group.findLayers()
    ]
    if group is not None
    else [],
)

# the options page's Test button, with the configured program and with a wrong one
from geo_targeting import settings  # noqa: E402

page = settings.GeoOptionsPage()
good = page.run_test()
override = os.environ.pop("GEO_QGIS_EXECUTABLE")
page.mode.setCurrentIndex(page.mode.findData("executable"))
page.path.setText(os.path.join(work, "no_such_venv"))
bad = page.run_test()
page.path.setText(override)
page.apply()
saved = (settings.mode(), settings.executable())
configured = settings.test_text(settings.mode(), settings.executable())
os.environ["GEO_QGIS_EXECUTABLE"] = override
emit(
    "settings",
    good=good,
    bad=bad,
    saved=list(saved),
    configured=configured,
    label=page.result.text(),
)

sys.stdout.flush()
os._exit(0)  # exitQgis() can crash on some builds while layers are alive
