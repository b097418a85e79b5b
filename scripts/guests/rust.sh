#!/usr/bin/env bash
# Builds the Rust WebAssembly guests (components of aslan:host@0.1.0) and
# copies them to ${GUESTS_OUT:-target/guests}/:
#
#   rust-poller.wasm    examples/wasm/rust-poller      world poller wasm32-wasip2
#   rust-task.wasm      examples/wasm/rust-task        world task   wasm32-wasip2
#   hostcheck-rust.wasm tests/guests/rust/hostcheck    world task   wasm32-wasip2
#   spin.wasm           tests/guests/rust/spin         world task   wasm32-wasip2
#   membomb.wasm        tests/guests/rust/membomb      world task   wasm32-wasip2
#   trap.wasm           tests/guests/rust/trap         world task   wasm32-wasip2
#   echo.wasm           tests/guests/rust/echo         world task   wasm32-unknown-unknown (no WASI)
#   noop-poller.wasm    tests/guests/rust/noop-poller  world poller wasm32-unknown-unknown (no WASI)
#   manage-eks-cluster.wasm examples/code-workflow     world workflow wasm32-wasip2
#   flow.wasm           tests/guests/rust/flow         world workflow wasm32-wasip2
#   flow-diverged.wasm  tests/guests/rust/flow-diverged world workflow wasm32-wasip2
#
# Idempotent; run from anywhere (it works from the repository's root).
# wasm32-wasip2 builds are components straight out of cargo (rustup's
# wasm-component-ld); wasm32-unknown-unknown builds are core modules that
# scripts/guests/componentize (the wit-component crate, no wasm-tools
# install) turns into components. Every output's world is then checked:
# its export, and imports only of aslan:host (and WASI, except echo and
# noop-poller).
#
# Needs rustup's wasm32-wasip2 and wasm32-unknown-unknown targets; when
# `rustup target add` fails, it falls back to Debian's Rust toolchain with
# build-std (docs: /work/shared/guest-toolchains.md, recipe A) and builds
# every guest for wasm32-unknown-unknown (no WASI imports at all).
#
#   GUESTS_OUT        where the components go (default target/guests)
#   GUEST_TARGET_DIR  cargo's target directory (default target/guest-build)
#   CARGO_BUILD_JOBS  as usual (CARGO_BUILD_JOBS=1 on a busy 2-core machine)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

GUESTS_OUT="${GUESTS_OUT:-target/guests}"
GUEST_TARGET_DIR="${GUEST_TARGET_DIR:-target/guest-build}"
case "$GUEST_TARGET_DIR" in /*) ;; *) GUEST_TARGET_DIR="$ROOT/$GUEST_TARGET_DIR" ;; esac
export CARGO_TARGET_DIR="$GUEST_TARGET_DIR"

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'scripts/guests/rust.sh: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- toolchain -----------------------------------------------------------------
CARGO=(cargo)
BUILD_STD=()
WASIP2=wasm32-wasip2
if command -v rustup >/dev/null && rustup target add wasm32-wasip2 wasm32-unknown-unknown >&2; then
  :
else
  log "rustup cannot add the wasm targets: falling back to Debian's Rust with build-std, wasm32-unknown-unknown only"
  if [ ! -x /usr/bin/cargo ] || [ ! -d /usr/lib/rustlib/src/rust/library ] || ! command -v wasm-ld-19 >/dev/null; then
    as_root apt-get update -qq
    as_root apt-get install -y -qq rustc-web cargo-web rust-web-src lld-19 ||
      die "neither rustup's wasm targets nor Debian's rustc-web/rust-web-src/lld-19 could be installed"
  fi
  export PATH="/usr/bin:$PATH" RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-19
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='-C linker-flavor=wasm-ld'
  CARGO=(/usr/bin/cargo)
  BUILD_STD=(-Zbuild-std=std,panic_abort)
  WASIP2=wasm32-unknown-unknown
fi

# --- the componentize helper (a host tool) --------------------------------------
log "building scripts/guests/componentize (wit-component)"
"${CARGO[@]}" build --locked --quiet --manifest-path scripts/guests/componentize/Cargo.toml
COMPONENTIZE="$CARGO_TARGET_DIR/debug/aslan-componentize"

# --- the guests -------------------------------------------------------------------
# build TARGET MANIFEST [cargo args...]
build() {
  local target="$1" manifest="$2"
  shift 2
  log "building $(dirname "$manifest") for $target"
  "${CARGO[@]}" build --locked --release --target "$target" "${BUILD_STD[@]}" --manifest-path "$manifest" "$@"
}

build "$WASIP2" examples/wasm/rust-poller/Cargo.toml
build "$WASIP2" examples/wasm/rust-task/Cargo.toml
build "$WASIP2" examples/code-workflow/Cargo.toml
build "$WASIP2" tests/guests/rust/Cargo.toml --workspace --exclude echo --exclude noop-poller
build wasm32-unknown-unknown tests/guests/rust/Cargo.toml -p echo -p noop-poller

# --- components -------------------------------------------------------------------
mkdir -p "$GUESTS_OUT"

# component CRATE TARGET OUTPUT: copies (wasip2) or componentizes (a core module).
component() {
  local crate="$1" target="$2" out="$GUESTS_OUT/$3"
  local built="$CARGO_TARGET_DIR/$target/release/$crate.wasm"
  [ -f "$built" ] || die "$built was not built"
  if [ "$target" = wasm32-wasip2 ]; then
    cp "$built" "$out.tmp"
  else
    "$COMPONENTIZE" new "$built" "$out.tmp"
  fi
  mv "$out.tmp" "$out"
}

component rust_poller "$WASIP2" rust-poller.wasm
component rust_task "$WASIP2" rust-task.wasm
component hostcheck "$WASIP2" hostcheck-rust.wasm
component spin "$WASIP2" spin.wasm
component membomb "$WASIP2" membomb.wasm
component trap "$WASIP2" trap.wasm
component echo wasm32-unknown-unknown echo.wasm
component noop_poller wasm32-unknown-unknown noop-poller.wasm
component manage_eks_cluster "$WASIP2" manage-eks-cluster.wasm
component flow "$WASIP2" flow.wasm
component flow_diverged "$WASIP2" flow-diverged.wasm

# --- check each component's world ---------------------------------------------------
# check OUTPUT EXPORT WASI(yes|no): the one export, and imports only of
# aslan:host interfaces, the types they share (names without ':') and, if
# allowed, WASI.
check() {
  local file="$GUESTS_OUT/$1" export="$2" wasi="$3" world bad
  world="$("$COMPONENTIZE" world "$file")" || die "$file: not a component"
  [ "$(grep '^export ' <<<"$world")" = "export $export" ] ||
    die "$file: expected the single export $export, found: $(grep '^export ' <<<"$world" | tr '\n' ' ')"
  bad="$(grep '^import ' <<<"$world" | grep -v -e '^import aslan:host/' -e '^import [^:]*$' |
    { if [ "$wasi" = yes ]; then grep -v '^import wasi:'; else cat; fi; } || true)"
  [ -z "$bad" ] || die "$file: unexpected imports: $(tr '\n' ' ' <<<"$bad")"
}

check rust-poller.wasm decide yes
check rust-task.wasm run yes
check hostcheck-rust.wasm run yes
check spin.wasm run yes
check membomb.wasm run yes
check trap.wasm run yes
check echo.wasm run no
check noop-poller.wasm decide no
check manage-eks-cluster.wasm aslan:host/entry@0.1.0 yes
check flow.wasm aslan:host/entry@0.1.0 yes
check flow-diverged.wasm aslan:host/entry@0.1.0 yes

for f in rust-poller rust-task hostcheck-rust spin membomb trap echo noop-poller manage-eks-cluster flow flow-diverged; do
  printf '%-22s %8d bytes\n' "$f.wasm" "$(stat -c %s "$GUESTS_OUT/$f.wasm")"
done
