#!/usr/bin/env bash
# Installs what the tests need (idempotently) and runs every test:
# the WebAssembly guests, unit and end-to-end tests, the differential test against
# aws-local-stepfunctions, the API tests (boto3, aws CLI, crash test), the
# examples, clippy, rustfmt, the benchmarks in quick mode and the fuzz
# targets for a while each.
#
#   scripts/test.sh              everything (FUZZ_SECONDS=60 per target)
#   FUZZ_SECONDS=0 scripts/test.sh   skip fuzzing
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"

log() { printf '\n== %s (%s free)\n' "$*" "$(df -h --output=avail . | tail -n 1 | tr -d ' ')" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- tools -------------------------------------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing Node.js and npm (apt)"
  as_root apt-get update -qq
  as_root apt-get install -y -qq nodejs npm
fi
if [ ! -d tests/peer/node_modules/aws-local-stepfunctions ]; then
  log "installing the peer, aws-local-stepfunctions (npm)"
  (cd tests/peer && npm ci --no-audit --no-fund --loglevel=error)
fi
if ! command -v strace >/dev/null; then
  log "installing strace (apt): the fsync test traces the server's system calls"
  as_root apt-get update -qq
  as_root apt-get install -y -qq strace
fi
if ! command -v chromium >/dev/null; then
  log "installing Chromium (apt): the web console's tests drive it headless through Playwright"
  as_root apt-get update -qq
  as_root apt-get install -y -qq chromium
fi
if ! perl -Mbignum=bpi -e 'exit(length(bpi(2000)) > 2000 ? 0 : 1)' 2>/dev/null; then
  # Debian 12's bundled Math::BigInt (1.999830) dies in bpi(2000), AWS's
  # example Job (examples/kubernetes, run as a local process by
  # aslan-local-cloud): check the call itself, not a version number.
  log "installing a newer Math::BigInt for perl (apt: libmath-bigint-perl)"
  as_root apt-get update -qq
  as_root apt-get install -y -qq libmath-bigint-perl
fi
rustup component add clippy rustfmt >/dev/null 2>&1 || true
if [ ! -x .venv/bin/python ]; then
  log "creating the Python environment for the API tests (.venv)"
  python3 -m venv .venv || { as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv && python3 -m venv .venv; }
fi
if ! .venv/bin/python -c 'import boto3, pytest, awscli, moto.server, playwright.sync_api' 2>/dev/null; then
  log "installing boto3, pytest, the aws CLI, moto's server and Playwright (pip)"
  .venv/bin/pip install -q -r tests/api/requirements.txt
fi

log "WebAssembly guests (Rust, C, JavaScript, Python) from source into target/guests"
# Installs its toolchains (rustup targets, clang-19 and wit-bindgen-cli,
# jco from npm, componentize-py from PyPI) when missing.
scripts/guests.sh

# --- checks ------------------------------------------------------------------
log "rustfmt"
cargo fmt --all -- --check
log "clippy"
cargo clippy --workspace --all-targets -- -D warnings

log "tests"
# The web console's history model (plain ES modules; the browser tests
# come with the API tests below).
node --test engine/console/test/
cargo test --workspace --all-targets
cargo test -p aslan --doc

log "cargo features: each set builds clippy-clean; the minimal one (the embedding engine alone) passes its tests"
for features in "" server cli kubernetes eks s3 wasm; do
  cargo clippy -q -p aslan --no-default-features --features "$features" --all-targets -- -D warnings
done
cargo test -q -p aslan --no-default-features --lib --tests

log "API tests against aslan serve (boto3, aws CLI, kill -9 crash test, Kubernetes emulator, the web console in Chromium)"
# One profile for tests, examples and benchmarks: the debug binaries that
# `cargo test --workspace --all-targets` just built (a release build of
# kube, aws-sdk-eks and the rest would add several minutes).
cargo build -q --workspace --bins
(cd tests/api && PATH="$PWD/../../.venv/bin:$PATH" ASLAN_BIN="$PWD/../../target/debug/aslan" ../../.venv/bin/pytest -q -p no:cacheprovider)

log "Python package (PyO3 + maturin): a wheel into target/wheels, installed into .venv, pytest"
cargo fmt --manifest-path python/Cargo.toml -- --check
CARGO_TARGET_DIR=target/python cargo clippy -q --locked --manifest-path python/Cargo.toml -- -D warnings
scripts/python.sh

log "local cloud emulator with real clients (kubectl, Python kubernetes client)"
local-cloud/tests/check_clients.sh

log "examples"
ASLAN_BIN_DIR=target/debug scripts/examples.sh

log "benchmarks (quick mode: they must run; figures come from cargo bench)"
cargo test -q -p aslan --bench core --bench durable --bench distributed --bench kubernetes --bench wasm --bench workflow

if [ "$FUZZ_SECONDS" != 0 ]; then
  log "fuzzing each target for ${FUZZ_SECONDS}s"
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi
log "all tests passed"
