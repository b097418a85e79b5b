#!/usr/bin/env bash
# Builds the C guests with Debian's clang-19 and wasi-libc (wasm32-wasi,
# reactor) and `wit-bindgen c` (wit-bindgen-cli 0.63.0, cargo-installed if
# missing): c-poller.wasm (world `poller`) and hostcheck-c.wasm (world
# `task`), into ${GUESTS_OUT:-target/guests}/. The core modules use no libc
# I/O, so they import no WASI and become components without an adapter
# (`jco new`, from examples/wasm/js-poller's node_modules).
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/guests/lib.sh

WIT_BINDGEN_VERSION=0.63.0
apt_install clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32
export PATH="$HOME/.cargo/bin:$PATH"
if [ "$(wit-bindgen --version 2>/dev/null)" != "wit-bindgen-cli $WIT_BINDGEN_VERSION" ]; then
    CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} nice cargo install --locked wit-bindgen-cli \
        --version "$WIT_BINDGEN_VERSION" --no-default-features --features c
fi
npm_tools

SRC=examples/wasm/c-poller
CFLAGS=(--target=wasm32-wasi -O2 -mexec-model=reactor -s -std=c11 -Wall -Wextra -Werror
        -Wno-unused-parameter -Wno-missing-field-initializers)

# build WORLD OUT SOURCE...
build() {
    local world=$1 out=$2 gen="$TOOLS/c-gen/$1"
    shift 2
    local start end
    start=$(date +%s.%N)
    rm -rf "$gen"
    local log
    log=$(wit-bindgen c wit --world "$world" --out-dir "$gen" 2>&1) || { echo "$log" >&2; return 1; }
    nice clang-19 "${CFLAGS[@]}" -I"$gen" -I"$SRC" -o "$gen/core.wasm" \
        "$@" "$SRC/json.c" "$gen/$world.c" "$gen/${world}_component_type.o"
    local adapt=()
    # stdio (printf and friends) would make the core import WASI preview 1.
    if grep -q wasi_snapshot_preview1 "$gen/core.wasm"; then adapt=(--wasi-reactor); fi
    nice "$JCO" new "$gen/core.wasm" "${adapt[@]}" -o "$OUT/.$out.tmp" >/dev/null
    mv "$OUT/.$out.tmp" "$OUT/$out"
    end=$(date +%s.%N)
    LAST_SECONDS=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
    report "$OUT/$out"
}
build poller c-poller.wasm "$SRC/poller.c"
build task hostcheck-c.wasm tests/guests/c/hostcheck.c
