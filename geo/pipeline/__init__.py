"""Pipeline files (spec), the stage table, the runner, batches on Dask and the field exports."""

import importlib

_EXPORTS = {
    "load_spec": "spec",
    "PipelineSpec": "spec",
    "run_pipeline": "runner",
    "rerank": "runner",
    "RunResult": "runner",
    "run_batch": "batch",
    "export_run": "export",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    """Import on first use (PEP 562): the package imports nothing until a name is used."""
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"geo.pipeline.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'geo.pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
