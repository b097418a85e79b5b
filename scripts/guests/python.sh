#!/usr/bin/env bash
# Builds the Python guests with componentize-py (pinned in
# examples/wasm/python-poller/requirements.txt, installed into a venv under
# target/guest-tools/): python-poller.wasm (world `poller`) and
# hostcheck-python.wasm (world `task`), and flow-python.wasm (world
# `workflow`, with guest-sdk/python/aslan_workflow.py), into
# ${GUESTS_OUT:-target/guests}/.
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

# build APP DIR WORLD OUT: componentizes module APP of DIR against WORLD.
build() {
    local tmp="$OUT/.$4.tmp"
    timed "$4" nice "$PY" -q -d wit -w "$3" componentize "$1" -p "$2" "${STUB[@]}" -o "$tmp"
    mv "$tmp" "$OUT/$4"
    report "$OUT/$4"
}
build app examples/wasm/python-poller poller python-poller.wasm
build hostcheck tests/guests/python task hostcheck-python.wasm
# The code workflow uses the Python SDK (guest-sdk/python) and no WASI.
timed flow-python.wasm nice "$PY" -q -d wit -w workflow componentize flow -p tests/guests/python -p guest-sdk/python --stub-wasi -o "$OUT/.flow-python.wasm.tmp"
mv "$OUT/.flow-python.wasm.tmp" "$OUT/flow-python.wasm"
report "$OUT/flow-python.wasm"
