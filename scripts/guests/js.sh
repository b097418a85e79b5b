#!/usr/bin/env bash
# Builds the JavaScript guests with jco's QuickJS backend (componentize-qjs,
# pinned with jco in examples/wasm/js-poller/package-lock.json):
# js-poller.wasm (world `poller`) and hostcheck-js.wasm (world `task`), into
# ${GUESTS_OUT:-target/guests}/. `--sync`: no component-model async ABI;
# `--stub-wasi`: no WASI imports (a WASI call would trap; these guests make none).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/guests/lib.sh
npm_tools

QJS=$JS_DIR/node_modules/.bin/componentize-qjs
# build JS WORLD OUT
build() {
    local tmp="$OUT/.$3.tmp"
    timed "$3" nice "$QJS" --wit wit --world "$2" --js "$1" --sync --stub-wasi -o "$tmp" >/dev/null
    mv "$tmp" "$OUT/$3"
    report "$OUT/$3"
}
build "$JS_DIR/poller.js" poller js-poller.wasm
build tests/guests/js/hostcheck.js task hostcheck-js.wasm
