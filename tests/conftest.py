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
