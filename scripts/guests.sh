#!/usr/bin/env bash
# Builds every WebAssembly guest into ${GUESTS_OUT:-target/guests}/ with the
# per-language scripts, in order: scripts/guests/rust.sh, c.sh, js.sh and
# python.sh (each installs the toolchain it needs; see them). Then checks the
# built components with `node tests/guests/run-cases.mjs --all` (the pollers'
# decisions and host calls, the noop poller, the host checks), and prints how
# long each step and the whole took.
#
#   CARGO_BUILD_JOBS  as usual (CARGO_BUILD_JOBS=1 on a busy 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/.."

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

START=$(now)
TIMES=()
# step NAME CMD...: runs CMD and records how long it took.
step() {
    local name=$1 start
    shift
    printf '== guests: %s\n' "$name" >&2
    start=$(now)
    "$@"
    TIMES+=("$(printf '%-10s %7ss' "$name" "$(since "$start")")")
}

step rust scripts/guests/rust.sh
step c scripts/guests/c.sh
step js scripts/guests/js.sh
step python scripts/guests/python.sh
step run-cases node tests/guests/run-cases.mjs --all

for t in "${TIMES[@]}"; do printf 'guests: %s\n' "$t"; done
printf 'guests: total %s s\n' "$(since "$START")"
