#!/usr/bin/env bash
# Builds the Python package (python/: PyO3, built by maturin) into a wheel
# in target/wheels, installs it into .venv and runs its pytest suite
# (python/tests). Installs maturin and pytest into .venv when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -c 'import pytest' 2>/dev/null || .venv/bin/pip install -q pytest
[ -x .venv/bin/maturin ] || .venv/bin/pip install -q 'maturin>=1.9,<2'
rm -f target/wheels/aslan-*.whl
# Its own target folder: the package is its own workspace, with its own
# features (the engine without server, CLI or integrations).
CARGO_TARGET_DIR=target/python .venv/bin/maturin build --locked -m python/Cargo.toml -o target/wheels
.venv/bin/pip install -q --force-reinstall --no-deps target/wheels/aslan-*.whl
(cd python && ../.venv/bin/python -m pytest -q -p no:cacheprovider tests)
