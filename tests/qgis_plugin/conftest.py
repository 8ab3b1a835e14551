"""What the QGIS tests share: the plugin installed from its zip, and this checkout's geo."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def install_plugin(tmp: Path) -> Path:
    """Build the plugin zip and extract it into ``tmp/plugins``, as a user installs it."""
    built = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_qgis_plugin.py"), str(tmp / "dist")],
        capture_output=True,
        text=True,
        check=True,
    )
    plugins = tmp / "plugins"
    with zipfile.ZipFile(built.stdout.strip()) as archive:
        archive.extractall(plugins)
    return plugins


def geo_program(tmp: Path) -> Path:
    """This checkout's geo as a program in ``tmp`` (a virtualenv's ``bin/geo`` does the same)."""
    program = tmp / "geo"
    program.write_text(
        f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" -m geo "$@"\n', encoding="utf-8"
    )
    program.chmod(0o755)
    return program
