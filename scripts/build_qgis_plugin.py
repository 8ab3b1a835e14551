"""Build the QGIS plugin zip: ``python scripts/build_qgis_plugin.py OUT_DIR``.

Writes ``OUT_DIR/geo_targeting-<version>.zip`` with one top-level folder ``geo_targeting/``
(what QGIS's Plugins > Manage and Install Plugins > Install from ZIP expects): the plugin's
files from ``qgis_plugin/geo_targeting/`` (no ``__pycache__``, no compiled files) and the
repository's ``LICENSE``. The version is geo's (``geo/_version.py``); the build stops if
``metadata.txt`` says another. The zip is reproducible: entries sorted, fixed timestamps
and permissions, so the same sources give the same bytes.
"""

from __future__ import annotations

import argparse
import configparser
import re
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = ROOT / "qgis_plugin" / "geo_targeting"
NAME = "geo_targeting"
#: The timestamp of every entry (zip's earliest date): reproducible archives.
STAMP = (1980, 1, 1, 0, 0, 0)
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".pytest_cache"}
SKIP_SUFFIXES = {".pyc", ".pyo", ".orig", ".rej", ".swp"}


def geo_version() -> str:
    """Return geo's version from ``geo/_version.py`` (without importing geo)."""
    text = (ROOT / "geo" / "_version.py").read_text(encoding="utf-8")
    match = re.search(r'__version__\s*=\s*"([^"]+)"', text)
    if match is None:
        raise SystemExit("geo/_version.py: no __version__ found")
    return match.group(1)


def metadata_version() -> str:
    """Return the ``version`` of ``metadata.txt``."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(PLUGIN / "metadata.txt", encoding="utf-8")
    return parser["general"]["version"].strip()


def plugin_files() -> list[Path]:
    """Return the plugin's files to ship, sorted."""
    files = []
    for path in sorted(PLUGIN.rglob("*")):
        rel = path.relative_to(PLUGIN)
        if path.is_dir() or SKIP_PARTS & set(rel.parts) or path.suffix in SKIP_SUFFIXES:
            continue
        if any(part.startswith(".") for part in rel.parts):
            continue
        files.append(path)
    return files


def _add(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=STAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    info.create_system = 3  # unix: the permission bits above are read
    archive.writestr(info, data)


def build(out_dir: Path) -> Path:
    """Write the zip into ``out_dir``; return its path."""
    version = geo_version()
    stated = metadata_version()
    if stated != version:
        raise SystemExit(
            f"qgis_plugin/geo_targeting/metadata.txt says version={stated} but geo is "
            f"{version}: update metadata.txt (version and changelog)."
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{NAME}-{version}.zip"
    partial = target.with_suffix(".zip.partial")
    entries = {f"{NAME}/{p.relative_to(PLUGIN).as_posix()}": p.read_bytes() for p in plugin_files()}
    entries[f"{NAME}/LICENSE"] = (ROOT / "LICENSE").read_bytes()
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(entries):
            _add(archive, name, entries[name])
    partial.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    """Build the zip; print its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for geo_targeting-<version>.zip")
    args = parser.parse_args(argv)
    print(build(args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
