"""``geo bundle``: an offline installer for a classroom (a USB stick of wheels and a script).

A trainer with internet once runs ``geo bundle --platform win_amd64 --python 3.12 usb/`` and
gets::

    usb/
      wheels/          geo-targets and every dependency, binary wheels for that platform
      install.bat      (Windows) or install.sh (Linux, macOS): venv + offline install + geo init
      README.txt       what to do on each laptop

On each laptop, with no network: run the install script. It creates a virtual environment
next to itself, installs from ``wheels/`` only (``pip install --no-index --find-links``) and
writes a working folder with ``geo init`` (pipelines, sample scene, notebooks).

The wheels come from pip's own resolver for the target platform (``pip download
--only-binary=:all: --platform ... --python-version ...``): nothing is compiled, nothing is
fetched at run time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from geo._version import __version__
from geo.errors import InvalidParameterError, OutputExistsError, ProductError

__all__ = ["PLATFORMS", "PYTHONS", "make_bundle", "pip_platform_args"]

DIST = "geo-targets"
#: Platforms a bundle is made for, and the wheel tags pip accepts for each (newest first).
PLATFORMS: dict[str, tuple[str, ...]] = {
    "win_amd64": ("win_amd64",),
    "macos_arm64": (
        "macosx_14_0_arm64",
        "macosx_13_0_arm64",
        "macosx_12_0_arm64",
        "macosx_11_0_arm64",
    ),
    "macos_x86_64": (
        "macosx_14_0_x86_64",
        "macosx_13_0_x86_64",
        "macosx_12_0_x86_64",
        "macosx_11_0_x86_64",
        "macosx_10_15_x86_64",
        "macosx_10_13_x86_64",
        "macosx_10_9_x86_64",
    ),
    "linux_x86_64": (
        "manylinux_2_28_x86_64",
        "manylinux_2_27_x86_64",
        "manylinux_2_24_x86_64",
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux_2_5_x86_64",
        "manylinux1_x86_64",
    ),
}
#: Python versions geo supports (and tests the resolution for).
PYTHONS = ("3.11", "3.12", "3.13")

_INSTALL_BAT = r"""@echo off
rem geo {version} offline install: a virtual environment beside this file, from wheels\ only.
setlocal
set HERE=%~dp0
where py >nul 2>nul && (set PY=py -{python}) || (set PY=python)
%PY% -m venv "%HERE%geo-env" || goto :fail
"%HERE%geo-env\Scripts\python.exe" -m pip install --no-index --find-links "%HERE%wheels" {dist} || goto :fail
"%HERE%geo-env\Scripts\geo.exe" init "%USERPROFILE%\geo-course" || goto :fail
echo.
echo geo is installed. Open a new Command Prompt and run:
echo   "%HERE%geo-env\Scripts\activate.bat"
echo   geo run "%USERPROFILE%\geo-course\pipelines\landsat_alteration.yaml"
exit /b 0
:fail
echo Installation failed: see the messages above. Python {python} (64-bit) must be installed.
exit /b 1
"""

_INSTALL_SH = """#!/bin/sh
# geo {version} offline install: a virtual environment beside this file, from wheels/ only.
set -e
HERE=$(cd "$(dirname "$0")" && pwd)
PY=$(command -v python{python} || command -v python3)
"$PY" -m venv "$HERE/geo-env"
"$HERE/geo-env/bin/python" -m pip install --no-index --find-links "$HERE/wheels" {dist}
"$HERE/geo-env/bin/geo" init "$HOME/geo-course"
echo
echo "geo is installed. Then:"
echo "  . '$HERE/geo-env/bin/activate'"
echo "  geo run ~/geo-course/pipelines/landsat_alteration.yaml"
"""

_README = """geo {version} offline installer for {platform}, Python {python}
============================================================

On each computer (no internet needed): {how}

This creates geo-env/ next to the script and a working folder geo-course/ in your home
folder with the pipelines, the sample scene and the training notebooks.

wheels/ holds geo-targets and every package it needs ({count} wheels), for {platform} and
Python {python} only.
"""


def pip_platform_args(platform: str, python: str) -> list[str]:
    """Return pip's options that resolve binary wheels for ``platform`` and ``python``.

    Examples
    --------
    >>> pip_platform_args("win_amd64", "3.12")
    ['--only-binary=:all:', '--platform', 'win_amd64', '--python-version', '3.12', '--implementation', 'cp', '--abi', 'cp312']

    Raises
    ------
    InvalidParameterError
        An unknown platform or Python version.
    """
    if platform not in PLATFORMS:
        raise InvalidParameterError(
            f"--platform {platform!r} is not one geo bundles for; choose one of "
            f"{', '.join(PLATFORMS)}."
        )
    if python not in PYTHONS:
        raise InvalidParameterError(
            f"--python {python!r} is not supported; geo runs on Python {', '.join(PYTHONS)}."
        )
    args = ["--only-binary=:all:"]
    for tag in PLATFORMS[platform]:
        args += ["--platform", tag]
    abi = "cp" + python.replace(".", "")
    return [*args, "--python-version", python, "--implementation", "cp", "--abi", abi]


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, check=False
    )


def _geo_wheel(folder: Path, wheel: str | Path | None) -> Path:
    """Put geo's own wheel in ``folder``: the one given, built from a checkout, or from PyPI."""
    if wheel is not None:
        wheel = Path(wheel)
        if not wheel.is_file() or not wheel.name.startswith("geo_targets-"):
            raise InvalidParameterError(f"{wheel}: not a geo-targets wheel (geo_targets-*.whl).")
        return Path(shutil.copy2(wheel, folder))
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "setup.py").is_file():
        done = _pip("wheel", "--no-deps", "-q", "-w", str(folder), str(checkout))
    else:
        done = _pip("download", "--no-deps", "-q", "-d", str(folder), f"{DIST}=={__version__}")
    found = sorted(folder.glob("geo_targets-*.whl"))
    if done.returncode != 0 or not found:
        raise ProductError(f"cannot get the geo-targets wheel: {_last_line(done)}")
    return found[-1]


def _last_line(done: subprocess.CompletedProcess) -> str:
    lines = [line for line in (done.stderr or done.stdout or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"pip exited with code {done.returncode}"


def make_bundle(
    out: str | Path, *, platform: str, python: str, wheel: str | Path | None = None
) -> Path:
    """Write an offline installer for ``platform`` and ``python`` into the new folder ``out``.

    Parameters
    ----------
    out : str or Path
        A new (or empty) folder.
    platform : str
        One of :data:`PLATFORMS` (``win_amd64``, ``macos_arm64``, ``macos_x86_64``,
        ``linux_x86_64``).
    python : str
        One of :data:`PYTHONS`.
    wheel : str or Path, optional
        geo's own wheel; by default built from this checkout, or downloaded from PyPI.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    InvalidParameterError
        Unknown platform or Python version.
    OutputExistsError
        ``out`` exists and is not empty.
    ProductError
        pip cannot find binary wheels of a dependency for the platform (the message names it).
    """
    args = pip_platform_args(platform, python)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputExistsError(f"{out}: exists and is not empty; choose a new folder.")
    staging = out.parent / f".{out.name}.bundle-{uuid.uuid4().hex[:8]}"
    wheels = staging / "wheels"
    wheels.mkdir(parents=True)
    try:
        own = _geo_wheel(wheels, wheel)
        done = _pip("download", "-q", "-d", str(wheels), *args, str(own))
        if done.returncode != 0:
            raise ProductError(
                f"cannot collect binary wheels for {platform}, Python {python}: {_last_line(done)}"
            )
        count = len(list(wheels.glob("*.whl")))
        fill = {"version": __version__, "python": python, "dist": DIST, "platform": platform}
        if platform == "win_amd64":
            (staging / "install.bat").write_text(
                _INSTALL_BAT.format(**fill).replace("\n", "\r\n"), encoding="ascii"
            )
        else:
            script = staging / "install.sh"
            script.write_text(_INSTALL_SH.format(**fill), encoding="utf-8")
            script.chmod(0o755)
        how = (
            f"install Python {python} (64-bit, from python.org; keep its installer on the "
            "stick too), then double-click install.bat (or run it in a Command Prompt)."
            if platform == "win_amd64"
            else f"with Python {python} installed, run: sh install.sh"
        )
        (staging / "README.txt").write_text(_README.format(count=count, how=how, **fill), "utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            out.rmdir()
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
