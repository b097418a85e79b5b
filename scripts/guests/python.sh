#!/usr/bin/env bash
# Builds the Python guests with componentize-py (pinned in
# examples/wasm/python-poller/requirements.txt, installed into a venv under
# target/guest-tools/): python-poller.wasm (world `poller`) and
# hostcheck-python.wasm (world `task`), into ${GUESTS_OUT:-target/guests}/.
# WASI is stubbed (`--stub-wasi`: a WASI call traps; these guests make none),
# so the components import only aslan:host. PYTHON_GUEST_WASI=1 keeps
# componentize-py's WASI p2 imports instead, so that an uncaught exception's
# traceback reaches stderr (the host's log) before the trap.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/guests/lib.sh

REQ=examples/wasm/python-poller/requirements.txt
VENV=$TOOLS/py
if ! [ -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" 2>/dev/null || { apt_install python3-venv; rm -rf "$VENV"; python3 -m venv "$VENV"; }
fi
if ! cmp -s "$REQ" "$VENV/requirements.txt"; then
    nice "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQ"
    cp "$REQ" "$VENV/requirements.txt"
fi
PY=$VENV/bin/componentize-py
STUB=(--stub-wasi)
[ "${PYTHON_GUEST_WASI:-0}" = 1 ] && STUB=()

# componentize-py cannot export a world function named `poll` (its core
# export collides with wasi-libc's `poll` when it links its libraries), so
# the poller is built against a copy of wit/ whose export is `aslan-poll`,
# and the component's export is renamed back to `poll` afterwards.
SHIM=$TOOLS/py-wit
rm -rf "$SHIM"
mkdir -p "$SHIM"
cp wit/*.wit "$SHIM/"
POLL_EXPORT=poll
if grep -q '^ *export poll: func' "$SHIM/worlds.wit"; then
    sed -i 's/^\( *\)export poll: func/\1export aslan-poll: func/' "$SHIM/worlds.wit"
    POLL_EXPORT=aslan-poll
fi

# build APP DIR WIT WORLD OUT [EXPORT]: componentizes module APP of DIR
# against WORLD, renaming the export EXPORT (if given) to `poll`.
build() {
    local tmp="$OUT/.$5.tmp"
    timed "$5" nice "$PY" -q -d "$3" -w "$4" componentize "$1" -p "$2" "${STUB[@]}" -o "$tmp"
    if [ -n "${6:-}" ] && [ "$6" != poll ]; then
        python3 scripts/guests/rename-export.py "$tmp" "$6" poll "$tmp"
    fi
    mv "$tmp" "$OUT/$5"
    report "$OUT/$5"
}
build app examples/wasm/python-poller "$SHIM" poller python-poller.wasm "$POLL_EXPORT"
build hostcheck tests/guests/python wit task hostcheck-python.wasm
