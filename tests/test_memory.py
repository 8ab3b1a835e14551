"""Freed heap pages go back to the OS between stages (glibc malloc_trim)."""

import platform

import numpy as np
import pytest

from geo._memory import release_memory


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_freed_heap_pages_are_returned():
    # chunk-sized temporaries below glibc's mmap threshold live in the heap after free()
    blocks = [np.ones(12_000, dtype="float64") for _ in range(2000)]  # ~190 MB in 96 kB pieces
    del blocks
    assert release_memory() is True
