"""Per-pixel science: the index catalogue, masks, anomaly thresholds, PCA/Crosta, SAM, band math."""

import importlib

_EXPORTS = {
    "compute_indices": "indices",
    "catalogue": "indices",
    "get_index": "indices",
    "index_names": "indices",
    "build_mask": "masks",
    "compute_masks": "masks",
    "mask_fractions": "masks",
    "MaskConfig": "masks",
    "MASK_RULES": "masks",
    "fit_threshold": "anomaly",
    "threshold": "anomaly",
    "anomaly_z": "anomaly",
    "Threshold": "anomaly",
    "crosta": "pca",
    "directed_pca": "pca",
    "sam_classify": "sam",
    "parse_expression": "expression",
    "feature_maps": "continuum",
    "identify_minerals": "minerals",
    "assemblage_map": "minerals",
    "mineral_legend": "minerals",
    "fit_mnf": "mnf",
    "matched_filter": "sam",
    "convolve_to_bands": "resample",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import on first use (PEP 562): the package imports nothing until a name is used."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"geo.spectral.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'geo.spectral' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
