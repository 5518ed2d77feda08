#!/usr/bin/env bash
# The whole test suite: installs what is missing, then builds and runs every test (unit,
# integration, cluster, and the fault suite's CI profile, which needs root: it creates
# network namespaces; docs/fault-testing.md) twice: a normal build, and one under
# AddressSanitizer + UndefinedBehaviorSanitizer;
# then builds the libFuzzer targets with clang and runs each for a bounded time from its
# seed corpus (IMGARC_FUZZ_SECONDS, default 20; docs/fuzzing.md). A crash fails it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
# The console's browser tests run Playwright, which needs node 20 or newer.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
    echo "test.sh: node $(node --version 2>/dev/null || echo missing) is too old: the" \
         "console's Playwright tests need node 20 or newer (install it, then rerun)" >&2
    exit 1
fi
jobs=$(nproc)

echo "== build and test (RelWithDebInfo)"
bash scripts/build.sh build
(cd build && ctest --output-on-failure -j"$jobs")

echo "== build and test (ASan + UBSan)"
bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DIMGARC_SANITIZE=ON
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Sanitizer builds run two to three times slower: the cluster tests' waits for a state
# to settle (never their assertions) are doubled.
export IMGARC_TEST_SLOW=1
(cd build-asan && ctest --output-on-failure -j"$jobs")

echo "== fuzz targets (clang, libFuzzer + ASan + UBSan)"
CC=clang bash scripts/build.sh build-fuzz -DIMGARC_FUZZ=ON \
    -DIMGARC_FUZZ_SECONDS="${IMGARC_FUZZ_SECONDS:-20}"
(cd build-fuzz && ctest --output-on-failure -j"$jobs" -L fuzz)
