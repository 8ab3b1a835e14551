"""The Processing algorithms of the ``geo`` provider: each one runs a geo command.

=================  ============================  ==========================================
id                 name                          geo command
=================  ============================  ==========================================
geo:runpipeline    Run pipeline                  ``geo run PIPELINE --scene ... --out ...``
geo:rerank         Re-rank a run                 ``geo rank RUN_DIR --weights ... --method``
geo:exportfield    Export for the field          ``geo export RUN_DIR --to ... --start ...``
geo:sceneinfo      Scene info                    ``geo info SCENE``
geo:batch          Batch over scenes             ``geo batch PIPELINE SCENES... --out ...``
=================  ============================  ==========================================

geo runs as a child process (:mod:`.geo_process`); its progress lines move the Processing
progress bar, its stage names and warnings go to the log, Cancel makes it stop at its next
progress point (nothing half-written is left) and a failure raises a
``QgsProcessingException`` carrying geo's own one-line message, the one the command line
prints. Layers chosen in the dialog (a project layer, a file, selected features only) are
written to a GeoPackage in the Processing temporary folder and passed to geo by path.
"""

from __future__ import annotations

import os
import re
import uuid

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeatureRequest,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingOutputFolder,
    QgsProcessingOutputHtml,
    QgsProcessingOutputString,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterPoint,
    QgsProcessingParameterString,
    QgsProcessingUtils,
    QgsVectorFileWriter,
)

from . import settings
from .geo_process import GeoCancelled, GeoNotFound, GeoProcessError, run_geo

#: geo's shipped pipelines (``geo pipelines --json``; a test keeps this list equal to it).
SHIPPED_PIPELINES = (
    "hyperspectral_minerals",
    "landsat_alteration",
    "landsat_methods",
    "landsat_prospectivity",
    "sentinel2_alteration",
)
#: geo's export formats (``geo export --to``), ``all`` first.
EXPORT_FORMATS = (
    "all",
    "qgis",
    "kml",
    "kmz",
    "gpx",
    "geojson",
    "shp",
    "csv",
    "html",
    "pdf",
    "qfield",
    "geopdf",
)
#: Prospectivity methods of ``geo rank --method``; the first entry keeps the run's own.
METHODS = (
    "(the run's own)",
    "weighted",
    "fuzzy_gamma",
    "fuzzy_and",
    "fuzzy_or",
    "fuzzy_product",
    "fuzzy_sum",
    "wofe",
    "logistic",
    "random_forest",
)
#: Licence fields of geo, and the parameter naming each one's column.
LICENCE_FIELDS = (
    ("licence_id", "LICENCE_ID_FIELD", "Licence id field"),
    ("holder", "HOLDER_FIELD", "Holder field"),
    ("status", "STATUS_FIELD", "Status field"),
    ("expiry", "EXPIRY_FIELD", "Expiry date field"),
)


class GeoAlgorithm(QgsProcessingAlgorithm):
    """What every geo algorithm shares: running geo, layers to files, results to load."""

    def __init__(self) -> None:
        super().__init__()
        self._load: str | None = None  # run folder to load in postProcessAlgorithm

    def createInstance(self):
        """Return a new instance (Processing runs each execution on its own copy)."""
        return type(self)()

    def group(self) -> str:
        """Return the toolbox group (none: the algorithms sit under the provider)."""
        return ""

    def groupId(self) -> str:
        """Return the toolbox group id."""
        return ""

    def icon(self):
        """Return geo's icon."""
        return settings.icon()

    def helpUrl(self) -> str:
        """Return the documentation page."""
        return "https://pypi.org/project/geo-targets/"

    # -- running geo ------------------------------------------------------------------------

    def run_geo(self, args, feedback, *, allow_partial: bool = False):
        """Run geo with ``args``, wired to ``feedback``; return its GeoResult.

        Raises
        ------
        QgsProcessingException
            With geo's one-line message when geo fails, cannot be found or is cancelled.
        """
        try:
            found = settings.locate()
        except GeoNotFound as exc:
            raise QgsProcessingException(str(exc)) from exc
        feedback.pushCommandInfo("geo: " + " ".join(_quote(a) for a in args))
        feedback.pushDebugInfo(f"running {found['how']}")
        try:
            result = run_geo(
                args,
                found=found,
                progress=feedback.setProgress,
                info=feedback.pushInfo,
                warning=lambda text: _warn(feedback, text),
                cancelled=feedback.isCanceled,
            )
        except (GeoProcessError, GeoNotFound, GeoCancelled) as exc:
            raise QgsProcessingException(str(exc)) from exc
        if result.returncode != 0 and not allow_partial:
            raise QgsProcessingException(f"geo exited with code {result.returncode}")
        if result.stdout.strip():
            feedback.pushConsoleInfo(result.stdout.rstrip())
        return result

    # -- inputs -----------------------------------------------------------------------------

    def add_layer_parameters(self, with_vectors: bool = True) -> None:
        """Add the licence layer, its four field widgets and (optionally) occurrences/structures."""
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                "LICENCES",
                "Licence layer (default: the pipeline's)",
                [QgsProcessing.TypeVectorPolygon],
                optional=True,
            )
        )
        for _key, param, label in LICENCE_FIELDS:
            self.addParameter(
                QgsProcessingParameterField(
                    param, label, parentLayerParameterName="LICENCES", optional=True
                )
            )
        if with_vectors:
            self.addParameter(
                QgsProcessingParameterFeatureSource(
                    "OCCURRENCES",
                    "Known occurrences (points; default: the pipeline's)",
                    [QgsProcessing.TypeVectorPoint],
                    optional=True,
                )
            )
            self.addParameter(
                QgsProcessingParameterFeatureSource(
                    "STRUCTURES",
                    "Faults and contacts (lines; default: the pipeline's)",
                    [QgsProcessing.TypeVectorLine],
                    optional=True,
                )
            )

    def layer_arguments(self, parameters, context, feedback, with_vectors: bool = True) -> list:
        """Return geo's ``--licences --licence-fields --occurrences --structures`` options."""
        args: list = []
        licences = self.layer_file(parameters, "LICENCES", "licences", context, feedback)
        fields = []
        for key, param, _label in LICENCE_FIELDS:
            column = (
                self.parameterAsString(parameters, param, context) if param in parameters else ""
            )
            if column:
                fields.append(f"{key}={column}")
        if licences:
            args += ["--licences", licences]
        if fields:
            args += ["--licence-fields", ",".join(fields)]
        if with_vectors:
            for param, option, name in (
                ("OCCURRENCES", "--occurrences", "occurrences"),
                ("STRUCTURES", "--structures", "structures"),
            ):
                path = self.layer_file(parameters, param, name, context, feedback)
                if path:
                    args += [option, path]
        return args

    def layer_file(self, parameters, name: str, layer_name: str, context, feedback) -> str:
        """Write the layer chosen for ``name`` to a temporary GeoPackage; return its path.

        Returns '' when the parameter is not set. Selected-features-only and feature filters
        chosen in the dialog are honoured: geo reads exactly what Processing hands over.
        """
        if parameters.get(name) is None:
            return ""
        source = self.parameterAsSource(parameters, name, context)
        if source is None:
            return ""
        folder = os.path.join(QgsProcessingUtils.tempFolder(), "geo_" + uuid.uuid4().hex)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, layer_name + ".gpkg")
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        options.layerName = layer_name
        options.fileEncoding = "UTF-8"
        # a column named "fid" in the source stays an ordinary column
        options.layerOptions = ["FID=geo_qgis_fid"]
        writer = QgsVectorFileWriter.create(
            path,
            source.fields(),
            source.wkbType(),
            source.sourceCrs(),
            context.transformContext(),
            options,
        )
        if writer.hasError() != QgsVectorFileWriter.NoError:
            raise QgsProcessingException(f"{name}: cannot write {path}: {writer.errorMessage()}")
        for feature in source.getFeatures(QgsFeatureRequest()):
            if feedback.isCanceled():
                break
            writer.addFeature(feature)
        del writer  # closes the file
        if feedback.isCanceled():
            raise QgsProcessingException("geo: cancelled (before geo started)")
        return path

    def pipeline_argument(self, parameters, context) -> str:
        """Return the pipeline file if one is given, else the chosen shipped pipeline's name."""
        path = self.parameterAsFile(parameters, "PIPELINE_FILE", context)
        if path:
            return path
        name = self.parameterAsEnumString(parameters, "PIPELINE", context)
        if name not in SHIPPED_PIPELINES:  # checked by Processing too; never a path
            raise QgsProcessingException(
                f"PIPELINE: {name!r} is not a shipped pipeline ({', '.join(SHIPPED_PIPELINES)})."
            )
        return name

    def add_pipeline_parameters(self) -> None:
        """Add the shipped-pipeline drop-down and the pipeline file that wins over it."""
        self.addParameter(
            QgsProcessingParameterEnum(
                "PIPELINE",
                "Shipped pipeline",
                options=list(SHIPPED_PIPELINES),
                defaultValue="landsat_alteration",
                usesStaticStrings=True,  # PIPELINE=landsat_alteration in qgis_process and models
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                "PIPELINE_FILE",
                "Pipeline file (wins over the shipped pipeline)",
                extension="yaml",
                optional=True,
            )
        )

    def postProcessAlgorithm(self, context, feedback):
        """Load the run into the project (main thread) when the algorithm asked for it."""
        if self._load:
            from .results import load_run

            project = context.project() or None
            group = load_run(self._load, project)
            feedback.pushInfo(
                f"loaded {len(group.findLayerIds())} layers in group {group.name()!r}"
            )
        return {}


def _warn(feedback, text: str) -> None:
    if hasattr(feedback, "pushWarning"):  # QGIS >= 3.16.2
        feedback.pushWarning(text)
    else:  # pragma: no cover
        feedback.reportError(text, False)


def _quote(text) -> str:
    text = str(text)
    return text if re.fullmatch(r"[\w./:=,@+-]+", text) else '"' + text.replace('"', '\\"') + '"'


def _scene_argument(alg, parameters, context) -> str:
    scene = alg.parameterAsFile(parameters, "SCENE", context)
    folder = alg.parameterAsFile(parameters, "SCENE_FOLDER", context)
    if scene and folder:
        raise QgsProcessingException(
            "SCENE and SCENE_FOLDER are both set: give the product as a file (MTL, zip, tar, "
            "STAC item, GeoTIFF) or as a folder (Landsat folder, .SAFE), not both."
        )
    return scene or folder


def _add_scene_parameters(alg, optional: bool) -> None:
    alg.addParameter(
        QgsProcessingParameterFile(
            "SCENE",
            "Scene file (MTL, .tar, Sentinel-2 .zip, STAC item .json, GeoTIFF, EMIT .nc, "
            "PRISMA .he5, EnMAP .ZIP)",
            behavior=QgsProcessingParameterFile.File,
            optional=True,
        )
    )
    alg.addParameter(
        QgsProcessingParameterFile(
            "SCENE_FOLDER",
            "…or scene folder (Landsat product folder, Sentinel-2 .SAFE, EnMAP L2A folder)"
            + (" (default: the pipeline's scene)" if optional else ""),
            behavior=QgsProcessingParameterFile.Folder,
            optional=True,
        )
    )


class RunPipeline(GeoAlgorithm):
    """``geo run``: a pipeline on a scene, results loaded into the project."""

    def name(self) -> str:
        """Return the id."""
        return "runpipeline"

    def displayName(self) -> str:
        """Return the name shown in the toolbox."""
        return "Run pipeline"

    def shortHelpString(self) -> str:
        """Return the dialog's help."""
        return (
            "Runs a geo pipeline on a satellite scene: masks, alteration indices and anomalies, "
            "zones, ranked licence-aware targets, and (unless unchecked) the field files: "
            "report, GPX, KML, QField project. The run's layers are loaded styled into the "
            "project under a group named after the output folder.\n\n"
            "Pipeline: a shipped pipeline, or your own pipeline file (which wins). Scene, "
            "licences, occurrences and structures default to the pipeline's own. Licence "
            "fields say which columns of your licence layer hold the licence number, holder, "
            "status and expiry date.\n\nThe equivalent command: geo run PIPELINE --scene ... "
            "--licences ... --licence-fields licence_id=COL,... --out FOLDER"
        )

    def initAlgorithm(self, config=None):
        """Declare the parameters and outputs."""
        self.add_pipeline_parameters()
        _add_scene_parameters(self, optional=True)
        self.add_layer_parameters()
        self.addParameter(
            QgsProcessingParameterBoolean(
                "FIELD_EXPORTS", "Write the field files (report, GPX, KML, QField...)", True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "FIELD_TOP",
                "Targets in the field files (default: the pipeline's field.top)",
                QgsProcessingParameterNumber.Integer,
                optional=True,
                minValue=1,
                maxValue=2000,
            )
        )
        self.addParameter(
            QgsProcessingParameterPoint(
                "START", "GPX route start (camp, airstrip; pick on the map)", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean("OVERWRITE", "Replace an existing run folder", False)
        )
        self.addParameter(
            QgsProcessingParameterBoolean("LOAD", "Load the results into the project", True)
        )
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Run folder"))
        self.addOutput(QgsProcessingOutputVectorLayer("TARGETS", "Targets"))
        self.addOutput(QgsProcessingOutputHtml("REPORT", "Report"))
        self.addOutput(QgsProcessingOutputFolder("RUN_FOLDER", "Run folder"))

    def processAlgorithm(self, parameters, context, feedback):
        """Run ``geo run`` and return the run's outputs."""
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        exports = self.parameterAsBoolean(parameters, "FIELD_EXPORTS", context)
        args = ["run", self.pipeline_argument(parameters, context)]
        scene = _scene_argument(self, parameters, context)
        if scene:
            args += ["--scene", scene]
        args += self.layer_arguments(parameters, context, feedback)
        args += _field_arguments(self, parameters, context)
        if self.parameterAsBoolean(parameters, "OVERWRITE", context):
            args.append("--overwrite")
        if not exports:
            args.append("--no-export")
        args += ["--out", out]
        self.run_geo(args, feedback)
        if not exports:  # the QGIS styles only (seconds): layers load styled
            self.run_geo(["export", out, "--to", "qgis"], feedback)
        if self.parameterAsBoolean(parameters, "LOAD", context):
            self._load = out
        return _run_outputs(out)


def _field_arguments(alg, parameters, context) -> list:
    args = []
    if parameters.get("FIELD_TOP") is not None:
        args += ["--field-top", str(alg.parameterAsInt(parameters, "FIELD_TOP", context))]
    if parameters.get("START") not in (None, ""):
        point = alg.parameterAsPoint(
            parameters, "START", context, QgsCoordinateReferenceSystem("EPSG:4326")
        )
        args += ["--start", f"{point.x():.7f},{point.y():.7f}"]
    return args


def _run_outputs(out: str) -> dict:
    report = os.path.join(out, "report.html")
    return {
        "OUTPUT": out,
        "RUN_FOLDER": out,
        "TARGETS": os.path.join(out, "targets.gpkg") + "|layername=targets",
        "REPORT": report if os.path.isfile(report) else None,
    }


class RerankRun(GeoAlgorithm):
    """``geo rank``: new weights, method or licences for an existing run."""

    def name(self) -> str:
        """Return the id."""
        return "rerank"

    def displayName(self) -> str:
        """Return the name shown in the toolbox."""
        return "Re-rank a run"

    def shortHelpString(self) -> str:
        """Return the dialog's help."""
        return (
            "Re-ranks the targets of a run folder with new weights (name=weight,... e.g. "
            "iron=2,clay=1,faults=1 for a prospectivity pipeline, or iron_intensity, "
            "clay_intensity, coincidence, area for the target score), a new prospectivity "
            "method, a new pipeline's scoring sections or a new licence layer. The alteration "
            "rasters are reused; the run folder is updated in place and reloaded.\n\n"
            "The equivalent command: geo rank RUN_DIR --weights ... --method ..."
        )

    def initAlgorithm(self, config=None):
        """Declare the parameters and outputs."""
        self.addParameter(
            QgsProcessingParameterFile(
                "RUN", "Run folder", behavior=QgsProcessingParameterFile.Folder
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                "PIPELINE_FILE",
                "Pipeline file with the new scoring sections (optional)",
                extension="yaml",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterString("WEIGHTS", "New weights (name=weight,...)", optional=True)
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "METHOD", "Prospectivity method", list(METHODS), defaultValue=0
            )
        )
        self.add_layer_parameters(with_vectors=False)
        self.addParameter(
            QgsProcessingParameterBoolean("LOAD", "Load the re-ranked run into the project", True)
        )
        self.addOutput(QgsProcessingOutputVectorLayer("TARGETS", "Targets"))
        self.addOutput(QgsProcessingOutputFolder("RUN_FOLDER", "Run folder"))

    def processAlgorithm(self, parameters, context, feedback):
        """Run ``geo rank`` (then refresh the QGIS styles) and return the run's outputs."""
        run = self.parameterAsFile(parameters, "RUN", context)
        args = ["rank", run]
        pipeline = self.parameterAsFile(parameters, "PIPELINE_FILE", context)
        if pipeline:
            args += ["--pipeline", pipeline]
        weights = self.parameterAsString(parameters, "WEIGHTS", context).strip()
        if weights:
            args += ["--weights", weights]
        method = self.parameterAsEnum(parameters, "METHOD", context)
        if method > 0:
            args += ["--method", METHODS[method]]
        args += self.layer_arguments(parameters, context, feedback, with_vectors=False)
        self.run_geo(args, feedback)
        self.run_geo(["export", run, "--to", "qgis"], feedback)  # styles for the new ranks
        if self.parameterAsBoolean(parameters, "LOAD", context):
            self._load = run
        return {
            "RUN_FOLDER": run,
            "TARGETS": os.path.join(run, "targets.gpkg") + "|layername=targets",
        }


class ExportForField(GeoAlgorithm):
    """``geo export``: field formats for a run folder."""

    def name(self) -> str:
        """Return the id."""
        return "exportfield"

    def displayName(self) -> str:
        """Return the name shown in the toolbox."""
        return "Export for the field"

    def shortHelpString(self) -> str:
        """Return the dialog's help."""
        return (
            "Writes the field files of a run folder: GPX waypoints and a route from the start "
            "point (pick it on the map: camp, airstrip), KML/KMZ for Google Earth, a QField "
            "project, a GeoPDF for Avenza, GeoJSON, Shapefiles, a field CSV and the offline "
            "HTML and PDF reports, for the best N targets.\n\nThe equivalent command: "
            "geo export RUN_DIR --to gpx,kml --field-top 20 --start LON,LAT"
        )

    def initAlgorithm(self, config=None):
        """Declare the parameters and outputs."""
        self.addParameter(
            QgsProcessingParameterFile(
                "RUN", "Run folder", behavior=QgsProcessingParameterFile.Folder
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "FORMATS",
                "Formats",
                list(EXPORT_FORMATS),
                allowMultiple=True,
                defaultValue=[0],
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "FIELD_TOP",
                "Targets in the field files (default: the run's field.top)",
                QgsProcessingParameterNumber.Integer,
                optional=True,
                minValue=1,
                maxValue=2000,
            )
        )
        self.addParameter(
            QgsProcessingParameterPoint(
                "START", "GPX route start (camp, airstrip; pick on the map)", optional=True
            )
        )
        self.addOutput(QgsProcessingOutputHtml("REPORT", "Report"))
        self.addOutput(QgsProcessingOutputFolder("EXPORTS", "Exports folder"))

    def processAlgorithm(self, parameters, context, feedback):
        """Run ``geo export``."""
        run = self.parameterAsFile(parameters, "RUN", context)
        chosen = self.parameterAsEnums(parameters, "FORMATS", context) or [0]
        formats = "all" if 0 in chosen else ",".join(EXPORT_FORMATS[i] for i in sorted(chosen))
        args = ["export", run, "--to", formats, *_field_arguments(self, parameters, context)]
        self.run_geo(args, feedback)
        report = os.path.join(run, "report.html")
        return {
            "REPORT": report if os.path.isfile(report) else None,
            "EXPORTS": os.path.join(run, "exports"),
        }


class SceneInfo(GeoAlgorithm):
    """``geo info``: what geo sees in a scene."""

    def name(self) -> str:
        """Return the id."""
        return "sceneinfo"

    def displayName(self) -> str:
        """Return the name shown in the toolbox."""
        return "Scene info"

    def shortHelpString(self) -> str:
        """Return the dialog's help."""
        return (
            "Says what geo detects in a scene product: sensor, date, grid and CRS, bands and "
            "their roles, the scaling to reflectance and the valid fraction. Give the product "
            "as a file (MTL, .tar, Sentinel-2 .zip, STAC item, GeoTIFF) or a folder (Landsat "
            "product folder, .SAFE).\n\nThe equivalent command: geo info SCENE"
        )

    def initAlgorithm(self, config=None):
        """Declare the parameters and outputs."""
        _add_scene_parameters(self, optional=False)
        self.addOutput(QgsProcessingOutputString("INFO", "Scene information"))

    def processAlgorithm(self, parameters, context, feedback):
        """Run ``geo info`` and return its text."""
        scene = _scene_argument(self, parameters, context)
        if not scene:
            raise QgsProcessingException(
                "SCENE: choose the scene product, as a file (SCENE) or a folder (SCENE_FOLDER)."
            )
        result = self.run_geo(["info", scene], feedback)
        return {"INFO": result.stdout.strip()}


class BatchScenes(GeoAlgorithm):
    """``geo batch``: one pipeline over many scenes on Dask."""

    def name(self) -> str:
        """Return the id."""
        return "batch"

    def displayName(self) -> str:
        """Return the name shown in the toolbox."""
        return "Batch over scenes"

    def shortHelpString(self) -> str:
        """Return the dialog's help."""
        return (
            "Runs one pipeline on many scenes with Dask (local worker processes, or a running "
            "cluster's scheduler address tcp://host:port) and merges the targets. Scenes: one "
            "path per line (paste them, or use a text file listing them, one per line). A "
            "rerun skips the scenes already done; failed scenes are listed in batch.json and "
            "reported as warnings.\n\nThe equivalent command: geo batch PIPELINE SCENES... "
            "--out FOLDER"
        )

    def initAlgorithm(self, config=None):
        """Declare the parameters and outputs."""
        self.add_pipeline_parameters()
        self.addParameter(
            QgsProcessingParameterString(
                "SCENES", "Scenes (one path per line)", multiLine=True, optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterFile(
                "SCENE_LIST",
                "…or a text file listing the scenes (one path per line)",
                extension="txt",
                optional=True,
            )
        )
        self.add_layer_parameters(with_vectors=False)
        self.addParameter(
            QgsProcessingParameterString(
                "SCHEDULER", "Dask scheduler address (default: local workers)", optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterNumber(
                "WORKERS",
                "Local worker processes (default: one per CPU)",
                QgsProcessingParameterNumber.Integer,
                optional=True,
                minValue=1,
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                "EXPORTS", "Also write the field files in every scene folder", False
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean("LOAD", "Load the merged results into the project", True)
        )
        self.addParameter(QgsProcessingParameterFolderDestination("OUTPUT", "Batch folder"))
        self.addOutput(QgsProcessingOutputFolder("RUN_FOLDER", "Batch folder"))

    def processAlgorithm(self, parameters, context, feedback):
        """Run ``geo batch``."""
        scenes = scene_list(
            self.parameterAsString(parameters, "SCENES", context),
            self.parameterAsFile(parameters, "SCENE_LIST", context),
        )
        out = self.parameterAsFileOutput(parameters, "OUTPUT", context)
        args = ["batch", self.pipeline_argument(parameters, context), *scenes, "--out", out]
        args += self.layer_arguments(parameters, context, feedback, with_vectors=False)
        scheduler = self.parameterAsString(parameters, "SCHEDULER", context).strip()
        if scheduler:
            args += ["--scheduler", scheduler]
        if parameters.get("WORKERS") is not None:
            args += ["--workers", str(self.parameterAsInt(parameters, "WORKERS", context))]
        if self.parameterAsBoolean(parameters, "EXPORTS", context):
            args.append("--exports")
        result = self.run_geo(args, feedback, allow_partial=True)
        if result.returncode == 1:
            _warn(feedback, f"some scenes failed: see {os.path.join(out, 'batch.json')}")
        if self.parameterAsBoolean(parameters, "LOAD", context):
            self._load = out
        return {"OUTPUT": out, "RUN_FOLDER": out}


def scene_list(text: str, list_file: str) -> list:
    """Return the scenes of the multi-line text and the list file (one path a line).

    Blank lines and lines starting with ``#`` are skipped; ``;`` also separates paths in
    the text (a one-line field in the modeler); surrounding quotes (Windows' "Copy as
    path") are removed.
    """
    lines = re.split(r"[\r\n;]+", text or "")
    if list_file:
        try:
            with open(list_file, encoding="utf-8-sig") as handle:
                lines += handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise QgsProcessingException(f"SCENE_LIST: cannot read {list_file}: {exc}") from exc
    scenes = []
    for line in lines:
        path = line.strip().strip('"').strip("'").strip()
        if path and not path.startswith("#"):
            scenes.append(path)
    if not scenes:
        raise QgsProcessingException(
            "SCENES: no scene given; paste one scene path per line or choose a text file "
            "listing them (SCENE_LIST)."
        )
    return scenes


ALGORITHMS = (RunPipeline, RerankRun, ExportForField, SceneInfo, BatchScenes)

__all__ = [
    "ALGORITHMS",
    "EXPORT_FORMATS",
    "SHIPPED_PIPELINES",
    "BatchScenes",
    "ExportForField",
    "RerankRun",
    "RunPipeline",
    "SceneInfo",
]
