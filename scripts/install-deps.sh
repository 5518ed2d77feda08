#!/usr/bin/env bash
# Installs the Debian packages imgarc needs, only when something is missing.
# libraft comes from bookworm-backports (0.22.x); Debian 12's default 0.15.0 has a
# Raft safety bug (see docs/replication.md). The backports source is derived from the
# machine's own Debian apt entry, so no mirror host is written here.
set -euo pipefail

# --test also installs what the test suite needs (python3 for the integration tests,
# clang with its libFuzzer and sanitizer runtimes for the fuzz targets, and for the
# fault suite iproute2 (network namespaces), nftables (partitions) and libfaketime
# (clock jumps); systemd's systemd-analyze and prometheus's promtool for the checks of
# the unit, the alert rules and the metrics; lintian and adduser for the Debian
# package's test, which installs it; openssl makes the TLS tests' certificates).
WITH_TESTS=0
[ "${1:-}" = "--test" ] && WITH_TESTS=1

PKGS=(build-essential cmake pkg-config git help2man
      libuv1-dev librocksdb-dev libprotobuf-c-dev protobuf-c-compiler
      libsodium-dev libcurl4-openssl-dev libhttp-parser-dev libjansson-dev
      libcmocka-dev libxxhash-dev libqpdf-dev libxml2-dev libzip-dev libsystemd-dev libssl-dev
      curl)
RAFT_MIN=0.22.1
# Debian's 0.22.1 with deploy/libraft's two patches (a received batch freed twice when a
# follower's own I/O fails while it replaces conflicting entries): built from Debian's
# source package by deploy/libraft/build-patched-libraft.sh and held.
RAFT_PATCHED=0.22.1-1~bpo12+1imgarc1
if [ $WITH_TESTS -eq 1 ] && ! command -v python3 >/dev/null 2>&1; then
    PKGS+=(python3)
fi
if [ $WITH_TESTS -eq 1 ]; then
    PKGS+=(clang libclang-rt-14-dev iproute2 nftables faketime libfaketime systemd lintian adduser
           openssl)
fi
# The web console is built by node (console/build.mjs): Debian's nodejs and npm when
# there is no node yet (a node already installed, e.g. 20 from elsewhere, is kept). Its
# browser tests drive Debian's chromium; the CJK fonts keep Chinese text readable.
if ! command -v node >/dev/null 2>&1; then
    PKGS+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1 &&
     dpkg-query -W -f='${Status}' nodejs 2>/dev/null | grep -q "install ok installed"; then
    PKGS+=(npm) # Debian's nodejs comes without npm
fi
if [ $WITH_TESTS -eq 1 ]; then
    PKGS+=(chromium fonts-noto-cjk)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
raft_ok=0
if v=$(dpkg-query -W -f='${Version}' libraft-dev 2>/dev/null) && [ -n "$v" ] &&
   dpkg --compare-versions "$v" ge "$RAFT_MIN"; then
    raft_ok=1
fi

patched_ok=0
if [ "$(dpkg-query -W -f='${Version}' libraft0 2>/dev/null)" = "$RAFT_PATCHED" ] &&
   [ "$(dpkg-query -W -f='${Version}' libraft-dev 2>/dev/null)" = "$RAFT_PATCHED" ]; then
    patched_ok=1
    raft_ok=1
fi

# promtool (the tests check the alert rules and the metrics with it) comes in Debian's
# prometheus package, whose installation would also start a Prometheus server on a
# systemd host: only that one binary is taken from the package, into /usr/local/bin.
need_promtool=0
if [ $WITH_TESTS -eq 1 ] && ! command -v promtool >/dev/null 2>&1; then
    need_promtool=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $raft_ok -eq 1 ] && [ $patched_ok -eq 1 ] &&
   [ $need_promtool -eq 0 ]; then
    exit 0
fi

enable_backports() {
    if grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
        return 0
    fi
    local uri
    uri=$(bash "$(dirname "$0")/debian-mirror.sh") || {
        echo "install-deps: cannot derive bookworm-backports from the machine's apt entry" >&2
        exit 1
    }
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$uri" | $SUDO tee /etc/apt/sources.list.d/imgarc-backports.sources >/dev/null
}

enable_backports
$SUDO apt-get update -q
if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
if [ $raft_ok -eq 0 ]; then
    $SUDO apt-get install -y -q --no-install-recommends -t bookworm-backports libraft-dev
fi
if [ $need_promtool -eq 1 ]; then
    promtmp=$(mktemp -d)
    chmod 755 "$promtmp" # apt-get download runs as _apt
    (cd "$promtmp" && apt-get download -q prometheus)
    dpkg-deb --fsys-tarfile "$promtmp"/prometheus_*.deb |
        $SUDO tar -x -C /usr/local/bin --strip-components=3 ./usr/bin/promtool
    rm -rf "$promtmp"
    promtool --version >/dev/null
fi
if [ $patched_ok -eq 0 ]; then
    echo "install-deps: building libraft $RAFT_PATCHED (deploy/libraft/README.md)"
    $SUDO bash "$(dirname "$0")/../deploy/libraft/build-patched-libraft.sh" --install \
        /var/tmp/imgarc-libraft
fi
v=$(dpkg-query -W -f='${Version}' libraft-dev)
if ! dpkg --compare-versions "$v" ge "$RAFT_MIN"; then
    echo "install-deps: libraft-dev $v installed, $RAFT_MIN or newer required" >&2
    exit 1
fi
