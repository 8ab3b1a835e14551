"""geo: multispectral scenes to ranked, licence-aware drill targets.

The main entry points are importable from the top level (loaded on first use, so
``import geo`` stays light)::

    import geo
    scene = geo.open_scene("LC09_L2SP_.../")
    spec = geo.load_spec("pipelines/landsat_alteration.yaml")
    result = geo.run_pipeline(spec, out="out/run")
"""

import importlib
import logging

from geo._version import __version__

_EXPORTS = {
    "open_scene": "geo.io.readers",
    "Scene": "geo.io.scene",
    "stack_scenes": "geo.io.stack",
    "load_spec": "geo.pipeline.spec",
    "run_pipeline": "geo.pipeline.runner",
    "compute_indices": "geo.spectral.indices",
    "catalogue": "geo.spectral.indices",
    "build_mask": "geo.spectral.masks",
    "fit_threshold": "geo.spectral.anomaly",
    "crosta": "geo.spectral.pca",
    "sam_classify": "geo.spectral.sam",
    "extract_zones": "geo.targets.zones",
    "detection_scores": "geo.targets.evaluate",
}
__all__ = ["__version__", *sorted(_EXPORTS)]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str):
    """Import the public functions lazily (PEP 562)."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'geo' has no attribute {name!r}")
