#!/usr/bin/env bash
# Prints the URI of this machine's Debian bookworm apt entry, so that the scripts that
# need another suite (bookworm-backports, a source package) use the same mirror the
# machine does and no host is written in the repository.
set -euo pipefail
uri=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # First URIs line of a stanza that lists the plain "bookworm" suite.
    uri=$(awk '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) if($i=="bookworm"){print u; exit}}' \
          /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$uri" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk '$1=="deb" && $3=="bookworm"{print $2; exit}' /etc/apt/sources.list)
fi
if [ -z "$uri" ]; then
    echo "cannot find the Debian bookworm apt entry of this machine" >&2
    exit 1
fi
echo "$uri"
