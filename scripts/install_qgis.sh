#!/usr/bin/env bash
# Install Debian's QGIS Python bindings (python3-qgis) and qgis_process (package qgis) for the
# QGIS tests: the GeoPackage styles, the raster .qml files and the QField project are opened
# in real QGIS, and the geo Processing plugin runs in it (also through qgis_process).
# Never fails the build: where it cannot be installed (not root, no apt, no network to the
# Debian mirrors) it says why, and those tests skip with that reason.
set -u
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import qgis.core" >/dev/null 2>&1 \
    && command -v qgis_process >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "python3-qgis not installed and cannot be (needs root and apt-get): the QGIS tests will skip" >&2
    exit 0
fi
echo "installing Debian's python3-qgis for the QGIS tests (once)..." >&2
log=$(mktemp)
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-qgis qgis; } >"$log" 2>&1; then
    echo "python3-qgis / qgis could not be installed (see $log): the QGIS tests will skip" >&2
fi
exit 0
