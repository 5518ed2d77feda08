#!/usr/bin/env bash
# The main job: installs what is missing, builds, and starts one imgarcd node with its
# data in ./data (override with IMGARC_DATA or any imgarcd flag, e.g. --listen).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
export IMGARC_DATA=${IMGARC_DATA:-$PWD/data}
echo "imgarc is built: the CLI is $PWD/build/imgarc (add $PWD/build to PATH)"
# The node prints its operator token only on the start that generates it.
echo "the operator token: IMGARC_TOKEN=\$(cat $IMGARC_DATA/bootstrap-token)"
# The web console is served by the node at its own URL (--listen, default 127.0.0.1:8080).
listen=127.0.0.1:8080
prev=""
for a in "$@"; do
    case "$a" in
        --listen=*) listen=${a#--listen=} ;;
        *) [ "$prev" = "--listen" ] && listen=$a ;;
    esac
    prev=$a
done
echo "the web console: open http://$listen/ in a browser (sign in with a user of a tenant)"
exec ./build/imgarcd "$@"
