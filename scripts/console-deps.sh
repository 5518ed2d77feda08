#!/usr/bin/env bash
# Installs the web console's npm packages (console/package-lock.json, pinned) into
# console/node_modules, only when they are missing or older than the lock file. This is
# the build's one network step; CMake itself only runs node (docs/design.md "Console
# serving"). Playwright's browser download is skipped: the tests use Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/../console"
if [ -f node_modules/.package-lock.json ] &&
   [ ! node_modules/.package-lock.json -ot package-lock.json ]; then
    exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "console-deps: npm is missing: run scripts/install-deps.sh (or build with" \
         "-DIMGARC_CONSOLE=OFF)" >&2
    exit 1
fi
echo "console-deps: npm ci in console/"
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
