"""Fixtures of the export tests."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def run_copy(prospect_run, tmp_path):
    """A writable copy of the shared sample prospectivity run (every field format written)."""
    dst = tmp_path / "run"
    shutil.copytree(prospect_run.out_dir, dst)
    return dst
