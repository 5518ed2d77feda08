#!/usr/bin/env bash
# Configures and builds imgarc into build/ (or $1), with extra CMake args after it;
# first fetches the web console's npm packages when they are missing (console-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
# The console's npm packages, unless this build leaves the console out (the fuzz build
# does by default).
case " $* " in
    *" -DIMGARC_CONSOLE=OFF "*|*" -DIMGARC_CONSOLE:BOOL=OFF "*|*" -DIMGARC_FUZZ=ON "*) ;;
    *) bash scripts/console-deps.sh ;;
esac
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
