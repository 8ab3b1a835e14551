"""From anomaly rasters to ranked, licence-aware targets: zones, scores, licences, ranking."""

import importlib

_EXPORTS = {
    "extract_zones": "zones",
    "merge_zones": "rank",
    "score_targets": "rank",
    "ScoreConfig": "rank",
    "rank_targets": "ranking",
    "rank_with_licences": "ranking",
    "assign_licences": "licences",
    "summarise_licences": "licences",
    "licence_context": "licences",
    "TARGET_COLUMNS": "columns",
    "detection_scores": "evaluate",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import on first use (PEP 562): the package imports nothing until a name is used."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"geo.targets.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'geo.targets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
