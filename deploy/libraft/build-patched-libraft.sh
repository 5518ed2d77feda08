#!/usr/bin/env bash
# Builds Debian's libraft 0.22.1 (bookworm-backports) with the patches of this folder
# and, with --install, installs the resulting libraft0 and libraft-dev.
#
#   bash deploy/libraft/build-patched-libraft.sh [--install] [--check] [OUTDIR]
#
# OUTDIR (default: ./libraft-build) receives the source, the build log and the .debs.
# After the build, check_conflict_faults.c (this folder) runs against the new library
# and must pass; it also runs against the installed one, for comparison.
# The source is fetched with apt-get source through a private apt configuration (the
# machine's sources.list is not touched): bookworm-backports' raft 0.22.1-1~bpo12+1,
# the exact source of the installed binary. When a mirror does not serve that .dsc,
# trixie's raft 0.22.1-1 is used instead: the same upstream tarball (its SHA-256 is
# checked below) and the same debian/ but for the backport's changelog entry.
# The package is versioned 0.22.1-1~bpo12+1imgarcN: above the backport it replaces,
# below any later Debian upload. Build dependencies are installed with
# apt-get build-dep (root). --check runs upstream's test suite during the build
# (several minutes); without it DEB_BUILD_OPTIONS=nocheck.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
install=0
check=0
out=
for arg in "$@"; do
    case "$arg" in
        --install) install=1 ;;
        --check) check=1 ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        -*) echo "unknown option: $arg (see --help)" >&2; exit 2 ;;
        *) out=$arg ;;
    esac
done
out=$(realpath -m "${out:-libraft-build}")

BPO_VERSION=0.22.1-1~bpo12+1
TRIXIE_VERSION=0.22.1-1
ORIG_SHA256=7e45b6f24f3671c9bfd5b146814493f87cb2e560712bd469c1f5969a4b94291a
OUR_VERSION=${BPO_VERSION}imgarc1
MIRROR=${IMGARC_DEBIAN_MIRROR:-$(bash "$here/../../scripts/debian-mirror.sh")}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() { echo "build-patched-libraft: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root: apt-get build-dep and the install need it"
[ -r "$KEYRING" ] || die "$KEYRING missing: install debian-archive-keyring"

rm -rf "$out"
mkdir -p "$out/apt/lists/partial" "$out/apt/cache/archives/partial" "$out/src"
cat > "$out/apt/sources.list" <<EOF
deb-src [signed-by=$KEYRING] $MIRROR bookworm-backports main
deb-src [signed-by=$KEYRING] $MIRROR trixie main
EOF
apt_private=(-o "Dir::Etc::SourceList=$out/apt/sources.list"
             -o "Dir::Etc::SourceParts=/nonexistent"
             -o "Dir::State::Lists=$out/apt/lists"
             -o "Dir::Cache=$out/apt/cache")

echo "== fetching the source of raft $BPO_VERSION"
apt-get "${apt_private[@]}" -q update >/dev/null
cd "$out/src"
if apt-get "${apt_private[@]}" -q source "raft=$BPO_VERSION" >"$out/source.log" 2>&1; then
    from=$BPO_VERSION
else
    echo "   the mirror has no $BPO_VERSION source package (see $out/source.log);"
    echo "   using trixie's $TRIXIE_VERSION: same upstream tarball, checked below"
    rm -rf "$out/src" && mkdir -p "$out/src" && cd "$out/src"
    apt-get "${apt_private[@]}" -q source "raft=$TRIXIE_VERSION" >>"$out/source.log" 2>&1 ||
        die "apt-get source raft failed: $out/source.log"
    from=$TRIXIE_VERSION
fi
echo "$ORIG_SHA256  raft_0.22.1.orig.tar.gz" | sha256sum -c --quiet ||
    die "raft_0.22.1.orig.tar.gz is not the tarball Debian's 0.22.1 was built from"
src=$out/src/raft-0.22.1
[ -d "$src/debian" ] || die "no $src/debian after apt-get source"

echo "== patching ($from -> $OUR_VERSION)"
mkdir -p "$src/debian/patches"
touch "$src/debian/patches/series"
for p in "$here"/*.patch; do
    cp "$p" "$src/debian/patches/"
    basename "$p" >> "$src/debian/patches/series"
    (cd "$src" && patch -p1 --dry-run -s < "$p" >/dev/null) ||
        die "$(basename "$p") does not apply to raft $from"
done
# dpkg-buildpackage (dpkg-source --before-build) applies the series.
{
    echo "raft ($OUR_VERSION) bookworm-backports; urgency=medium"
    echo
    echo "  * Rebuild of $from for imgarc with:"
    for p in "$here"/*.patch; do echo "    - $(basename "$p")"; done
    echo
    echo " -- imgarc <imgarc@localhost>  $(date -R)"
    echo
    cat "$src/debian/changelog"
} > "$src/debian/changelog.new"
mv "$src/debian/changelog.new" "$src/debian/changelog"

echo "== installing the build dependencies"
DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends build-dep "$src" \
    >"$out/build-dep.log" 2>&1 || die "apt-get build-dep failed: $out/build-dep.log"

echo "== building (log: $out/build.log)"
opts="parallel=${IMGARC_BUILD_JOBS:-2}"
[ "$check" = 1 ] || opts="$opts nocheck"
# The system python3 (with sphinx for the docs), not one a pyenv put first in PATH.
(cd "$src" && env PATH=/usr/sbin:/usr/bin:/sbin:/bin DEB_BUILD_OPTIONS="$opts" \
    dpkg-buildpackage -b -uc -us) >"$out/build.log" 2>&1 ||
    die "dpkg-buildpackage failed: tail $out/build.log"
debs=("$out/src/libraft0_${OUR_VERSION}_"*.deb "$out/src/libraft-dev_${OUR_VERSION}_"*.deb)
for d in "${debs[@]}"; do [ -f "$d" ] || die "expected $d after the build"; done
cp "${debs[@]}" "$out/"
echo "   built: $(cd "$out" && ls ./*.deb | tr '\n' ' ')"

echo "== checking: a follower replacing conflicting entries meets a failing I/O call"
lib=$out/lib && rm -rf "$lib" && mkdir -p "$lib"
for d in "${debs[@]}"; do dpkg-deb -x "$d" "$lib"; done
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
sanitize=-fsanitize=address
echo 'int main(void){return 0;}' | gcc -x c $sanitize -o /dev/null - 2>/dev/null || sanitize=
gcc -std=c11 -D_GNU_SOURCE -g -O1 $sanitize -I"$lib/usr/include" -o "$out/check" \
    "$here/check_conflict_faults.c" -L"$lib/usr/lib/$multiarch" -lraft ||
    die "check_conflict_faults.c does not build"
if ASAN_OPTIONS=detect_leaks=0 LD_LIBRARY_PATH="$lib/usr/lib/$multiarch" "$out/check" \
        >"$out/check-patched.log" 2>&1; then
    echo "   patched: $(tail -1 "$out/check-patched.log") (log: $out/check-patched.log)"
else
    die "the patched library fails the check: $out/check-patched.log"
fi
# The library installed now, for comparison (Debian's 0.22.1 fails it).
ASAN_OPTIONS=detect_leaks=0 "$out/check" >"$out/check-installed.log" 2>&1 || true
echo "   installed $(dpkg-query -W -f '${Version}' libraft0 2>/dev/null || echo '(none)'):" \
     "$(tail -1 "$out/check-installed.log") (log: $out/check-installed.log)"

if [ "$install" = 1 ]; then
    echo "== installing"
    DEBIAN_FRONTEND=noninteractive apt-get -q -y install "${debs[@]}" >"$out/install.log" 2>&1 ||
        die "apt-get install failed: $out/install.log"
    # Keep apt from replacing it with Debian's unpatched build of the same upstream.
    apt-mark hold libraft0 libraft-dev >/dev/null
    dpkg-query -W libraft0 libraft-dev
fi
