"""Shared fixtures: the bundled sample, and reference data from ../shared when present."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_rasters"
PRODUCT_ID = "LC08_L2SR_171075_20230601_20230607_02_T1"
PIPELINE = ROOT / "pipelines" / "landsat_alteration.yaml"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def sample_product() -> Path:
    """The committed sample product folder (read-only: copy before changing it)."""
    path = SAMPLE / PRODUCT_ID
    assert path.is_dir(), "sample_rasters/ is missing; run `make sample-data`"
    return path


@pytest.fixture
def product_copy(tmp_path, sample_product) -> Path:
    """A writable copy of the sample product, for bad-input tests."""
    dst = tmp_path / PRODUCT_ID
    shutil.copytree(sample_product, dst)
    return dst


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real reference data in ../shared/data; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def prospect_run(tmp_path_factory):
    """One run of ``pipelines/landsat_prospectivity.yaml`` on the sample, shared read-only.

    Copy ``.out_dir`` before changing anything in it.
    """
    import warnings

    from geo.errors import GeoWarning
    from geo.pipeline.runner import run_pipeline
    from geo.pipeline.spec import load_spec

    pipeline = ROOT / "pipelines" / "landsat_prospectivity.yaml"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeoWarning)
        return run_pipeline(
            load_spec(pipeline),
            out=tmp_path_factory.mktemp("prospect_run") / "run",
            pipeline_file=pipeline,
        )


def without_exports(spec):
    """The same pipeline without the field exports (for tests that do not look at them)."""
    return spec.model_copy(update={"export": spec.export.model_copy(update={"formats": []})})
