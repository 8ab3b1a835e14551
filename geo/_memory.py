"""Give memory that Python and numpy freed back to the operating system.

glibc keeps freed blocks below its mmap threshold in the heap of the thread that allocated
them; after a stage that ran many chunk-sized temporaries on several threads (dask), the
process can hold hundreds of MB it no longer uses, which then adds to the next stage's peak.
``malloc_trim(0)`` returns the free pages. The same remedy is documented by Dask
distributed ("Memory not released back to the OS", worker memory management docs).
Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

__all__ = ["peak_rss_mb", "release_memory"]


@functools.cache
def _trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # musl or another libc: nothing to do
        return None


def release_memory() -> bool:
    """Return freed heap pages to the OS (glibc); True if anything was released."""
    trim = _trim()
    return bool(trim(0)) if trim is not None else False


def peak_rss_mb() -> float | None:
    """Return the process's peak resident memory in MiB (None where it cannot be read).

    ``resource`` exists only on POSIX (``ru_maxrss`` is KiB on Linux, bytes on macOS);
    on Windows psutil reports the peak working set.
    """
    if sys.platform == "win32":
        try:
            import psutil

            return round(psutil.Process().memory_info().peak_wset / 2**20, 1)
        except (ImportError, AttributeError, OSError):
            return None
    try:
        import resource
    except ImportError:  # neither Windows nor POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 1024), 1)
