"""The stage table: what a run does, in order, one small object per stage.

Each stage has a ``name`` (its key in ``timings_s``), ``enabled(ctx)`` and ``run(ctx)``
(see :mod:`geo.pipeline.stages.base`). :func:`geo.pipeline.runner.run_pipeline` is a loop
over :data:`STAGES`; ``geo rank`` (:func:`geo.pipeline.runner.rerank`) runs
:data:`RERANK_STAGES` on a finished run folder. Adding a method is one stage module, one
entry here and one section of the pipeline spec; the runner does not change.
"""

from __future__ import annotations

from geo.pipeline.stages.anomalies import AnomaliesStage
from geo.pipeline.stages.base import PixelStage, RunContext, Stage
from geo.pipeline.stages.classifier import ClassifierStage
from geo.pipeline.stages.export import ExportStage, FieldExportsStage
from geo.pipeline.stages.ingest import IngestStage
from geo.pipeline.stages.kmeans import KMeansStage
from geo.pipeline.stages.masks import MasksIndicesStage
from geo.pipeline.stages.minerals import MineralsStage
from geo.pipeline.stages.pca import CrostaStage, DirectedPcaStage
from geo.pipeline.stages.prospectivity import ProspectivityStage
from geo.pipeline.stages.sam import SamStage
from geo.pipeline.stages.targets import TargetsStage, rank_with_licences
from geo.pipeline.stages.zones import ZonesStage

__all__ = [
    "FIELD_EXPORTS",
    "RERANK_STAGES",
    "STAGES",
    "PixelStage",
    "RunContext",
    "Stage",
    "rank_with_licences",
]

#: The field formats, run last (also by ``geo rank`` once the new ranking is in place).
FIELD_EXPORTS = FieldExportsStage()

#: Every stage of ``geo run``, in order.
STAGES: tuple[Stage, ...] = (
    IngestStage(),
    MasksIndicesStage(),
    CrostaStage(),
    DirectedPcaStage(),
    KMeansStage(),
    SamStage(),
    MineralsStage(),
    ClassifierStage(),
    AnomaliesStage(),
    ZonesStage(),
    ProspectivityStage(),
    TargetsStage(),
    ExportStage(),
    FIELD_EXPORTS,
)

#: What ``geo rank`` re-runs on a run folder: the score from the run's rasters, the targets,
#: their files (the quicklook of the scene stays as it was).
RERANK_STAGES: tuple[Stage, ...] = (
    ProspectivityStage(),
    TargetsStage(),
    ExportStage(quicklook=False),
)
