"""geo: multispectral scenes to ranked, licence-aware drill targets.

The user-facing API is importable from the top level (each name is loaded on first use, so
``import geo`` stays light); every step takes what the previous one returned::

    import geo

    scene = geo.open_scene("sample_rasters/LC08_L2SR_171075_20230601_20230607_02_T1")
    indices = geo.compute_indices(scene, ["iron_oxide", "clay_hydroxyl"])
    reasons = geo.compute_masks(scene)                    # 0 = valid, a bit per mask rule
    cut = geo.threshold(indices, reasons, name="iron_oxide", k=3)
    zones = geo.extract_zones(indices.sel(index="iron_oxide") >= cut.cutoff, kind="iron_oxide")
    result = geo.run_pipeline("pipelines/landsat_alteration.yaml", out="out/run")

``dir(geo)`` lists the API; ``help(geo.compute_indices)`` documents each function.
"""

import importlib
import logging

from geo._version import __version__

_EXPORTS = {
    "open_scene": "geo.io.readers",
    "Scene": "geo.io.scene",
    "stack_scenes": "geo.io.stack",
    "read_licences": "geo.io.vector",
    "load_spec": "geo.pipeline.spec",
    "run_pipeline": "geo.pipeline.runner",
    "rerank": "geo.pipeline.runner",
    "run_batch": "geo.pipeline.batch",
    "compute_indices": "geo.spectral.indices",
    "catalogue": "geo.spectral.indices",
    "compute_masks": "geo.spectral.masks",
    "build_mask": "geo.spectral.masks",
    "threshold": "geo.spectral.anomaly",
    "fit_threshold": "geo.spectral.anomaly",
    "crosta": "geo.spectral.pca",
    "sam_classify": "geo.spectral.sam",
    "extract_zones": "geo.targets.zones",
    "rank_targets": "geo.targets.ranking",
    "detection_scores": "geo.targets.evaluate",
    "export_run": "geo.pipeline.export",
    "init_workspace": "geo.workspace",
}
__all__ = ["__version__", *sorted(_EXPORTS)]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str):
    """Import the public functions lazily (PEP 562)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'geo' has no attribute {name!r}")


def __dir__() -> list[str]:
    """Return the API (``__all__``) and the subpackages, not the module's own plumbing."""
    return sorted(
        {*__all__, "classify", "export", "io", "pipeline", "prospectivity", "spectral", "targets"}
    )
