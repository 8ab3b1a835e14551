"""Freed heap pages go back to the OS between stages (glibc malloc_trim); GDAL's cache cap."""

import platform
from pathlib import Path

import numpy as np
import pytest
from rasterio._env import get_gdal_config

from geo._memory import release_memory
from geo.pipeline.runner import gdal_env
from geo.pipeline.spec import Processing, load_spec

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_pages_are_returned():
    # chunk-sized temporaries below glibc's mmap threshold live in the heap after free()
    blocks = [np.ones(12_000, dtype="float64") for _ in range(2000)]  # ~190 MB in 96 kB pieces
    del blocks
    assert release_memory() is True


def test_run_sets_the_gdal_cache_in_megabytes():
    """rasterio hands an integer GDAL_CACHEMAX to GDAL as bytes: 32 must become 32 MiB."""
    spec = load_spec(PIPELINES / "landsat_alteration.yaml")
    spec = spec.model_copy(update={"processing": Processing(gdal_cache_mb=48)})
    with gdal_env(spec):
        assert int(get_gdal_config("GDAL_CACHEMAX")) == 48 * 1024 * 1024
