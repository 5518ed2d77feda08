#!/usr/bin/env bash
# Builds the Debian package of imgarc (deploy/debian/, docs/operations.md "Installing
# from the package") from a release build in build-pkg/ (or $1): prints the .deb's path.
# Needs dpkg-dev (dpkg-shlibdeps works out the Depends); install-deps.sh installs it.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-pkg}
bash scripts/install-deps.sh
if ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
    echo "package.sh: dpkg-shlibdeps is missing: apt-get install dpkg-dev" >&2
    exit 1
fi
bash scripts/build.sh "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DIMGARC_SANITIZE=OFF
(cd "$dir" && cpack -G DEB -B package >/dev/null)
ls "$dir"/package/imgarc_*.deb
