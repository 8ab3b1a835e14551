#!/usr/bin/env bash
# Install Debian's chromium for the HTML report tests (headless page load + screenshot).
# Never fails the build: where it cannot be installed (not root, no apt, no network to the
# Debian mirrors) it says why, and those tests skip with that reason.
set -u
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "chromium not installed and cannot be (needs root and apt-get): the report's browser tests will skip" >&2
    exit 0
fi
echo "installing Debian's chromium for the report tests (once)..." >&2
log=$(mktemp)
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
    echo "chromium could not be installed (see $log): the report's browser tests will skip" >&2
fi
exit 0
