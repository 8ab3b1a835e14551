"""Keep libtiff's own error printing out of the terminal (the command line only).

GDAL reports TIFF problems through its own error handler, which rasterio turns into Python
exceptions. A few messages bypass it: GDAL's file callbacks (``_tiffWriteProc``,
``_tiffSeekProc``) call libtiff's *global* error handler, whose default prints to stderr.
On a full disk that is one line per tile write, ~100 lines before geo's own one-line error.
The failure itself still reaches geo (the write fails and GDAL raises), so the command line
sets libtiff's global handlers to none. Best effort: where the library cannot be found the
messages simply stay.
"""

from __future__ import annotations

import ctypes
import functools
import sys
from pathlib import Path

__all__ = ["silence_libtiff"]


def _candidates() -> list[str]:
    """Paths of the libtiff the rasterio wheel loaded (or bundles)."""
    found: list[str] = []
    maps = Path("/proc/self/maps")
    if maps.is_file():  # Linux: what is loaded now
        try:
            for line in maps.read_text().splitlines():
                path = line.split()[-1] if line.split() else ""
                if "libtiff" in Path(path).name and path not in found:
                    found.append(path)
        except OSError:
            pass
    try:
        import rasterio

        root = Path(rasterio.__file__).parent
        for folder in (root.parent / "rasterio.libs", root / ".dylibs", root):
            for pattern in ("libtiff*.so*", "libtiff*.dylib", "*tiff*.dll"):
                found += [str(p) for p in sorted(folder.glob(pattern)) if str(p) not in found]
    except ImportError:  # pragma: no cover - rasterio is a dependency
        pass
    return found


@functools.cache
def silence_libtiff() -> bool:
    """Set the global error and warning handlers of every libtiff loaded to none.

    (pyproj and rasterio wheels each bundle one.) Returns True when any was found.
    """
    done = False
    for path in _candidates():
        try:
            if sys.platform == "win32":
                lib: ctypes.CDLL = ctypes.WinDLL(path)
            else:
                lib = ctypes.CDLL(path)
            for name in ("TIFFSetErrorHandler", "TIFFSetWarningHandler"):
                setter = getattr(lib, name)
                setter.restype = ctypes.c_void_p
                setter.argtypes = [ctypes.c_void_p]
                setter(None)
            done = True
        except (OSError, AttributeError):
            continue
    return done
