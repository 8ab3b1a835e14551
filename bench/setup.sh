#!/usr/bin/env bash
# Set up the benchmark environment; safe to run again (it only does what is missing).
#   - Debian: GNU time (for /usr/bin/time -v), gdal-bin + python3-gdal (gdal_calc.py, run
#     with /usr/bin/python3; peer d is skipped without it). Needs root for apt.
#   - the peers' virtual environment OUTSIDE the repo (default $HOME/.cache/geo-bench/venv)
#     with the pinned packages of requirements-lock.txt (pyspatialml 0.22.1 needs numpy<2,
#     which is why the peers do not share geo's venv).
#   - geo's own venv (<repo>/.venv) is the project's; set it up as the project README says.
# Vendored from the course's shared peer harness; made idempotent here (see PROVENANCE.md).
# usage: bash bench/setup.sh            (VENV=/path/to/venv PYTHON=python3.11 to change)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VENV=${VENV:-$HOME/.cache/geo-bench/venv}
PYTHON=${PYTHON:-python3.11}
APT_PACKAGES=(time gdal-bin python3-gdal)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "== apt-get install ${missing[*]}"
        apt-get update
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" \
            || DEBIAN_FRONTEND=noninteractive apt-get install -y time \
            || echo "apt-get failed: install GNU time yourself; peer d (gdal_calc) will be skipped"
    else
        echo "missing Debian packages ${missing[*]} (need root and apt-get): install them;" \
             "without gdal-bin/python3-gdal peer d (gdal_calc) is skipped"
    fi
else
    echo "== apt packages present: ${APT_PACKAGES[*]}"
fi

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import sys" 2>/dev/null; then
    echo "== creating $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --upgrade pip
fi
if ! dry=$("$VENV/bin/pip" install --dry-run -r "$HERE/requirements-lock.txt" 2>&1) \
        || grep -q "Would install" <<<"$dry"; then
    echo "== installing the pinned packages into $VENV"
    "$VENV/bin/pip" install -r "$HERE/requirements-lock.txt"
else
    echo "== $VENV already holds the pinned packages"
fi
"$VENV/bin/python" -c "import rasterio, numexpr, rioxarray, dask, distributed, sklearn, pyspatialml, psutil, geopandas, pyproj; print('venv ok:', rasterio.__version__, 'GDAL', rasterio.__gdal_version__)"
