#!/usr/bin/env bash
# Runs the code workflow "Manage an Amazon EKS cluster" (src/lib.rs)
# offline against aslan-local-cloud, as examples/eks-cluster/run.sh runs
# the ASL sample: the emulator's EKS API creates the cluster and the node
# group, whose endpoint is the emulator's Kubernetes API; the pi Job runs
# as a local perl process. The module's allowlist names the emulator's
# endpoint, so the configuration is written once it has started.
#
#   cargo build --release --workspace --bins && scripts/guests.sh && examples/code-workflow/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${ASLAN_BIN_DIR:-target/release}
wasm=${GUESTS_OUT:-target/guests}/manage-eks-cluster.wasm
[ -f "$wasm" ] || { echo "$wasm is missing: build the guests with scripts/guests.sh" >&2; exit 1; }
work=$(mktemp -d)
export AWS_ACCESS_KEY_ID=AKIDEXAMPLEASLAN AWS_SECRET_ACCESS_KEY=example/secret/key AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
"$bin/aslan-local-cloud" --listen 127.0.0.1:0 --run-processes >"$work/cloud.json" 2>"$work/cloud.log" &
cloud=$!
trap 'kill $cloud 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do [ -s "$work/cloud.json" ] && break; sleep 0.05; done
read -r AWS_ENDPOINT_URL_EKS endpoint < <(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["eks"]["endpoint"], d["kubernetes"]["endpoint"])' "$work/cloud.json")
export AWS_ENDPOINT_URL_EKS
cat >"$work/aslan.toml" <<TOML
[modules.manage-eks-cluster.allow]
clusters = ["ExampleCluster"]
endpoints = ["$endpoint"]
namespaces = ["default"]
methods = ["GET", "POST", "DELETE"]
eks = ["create-cluster", "describe-cluster", "delete-cluster", "create-nodegroup", "describe-nodegroup", "delete-nodegroup"]
TOML
"$bin/aslan" run "$wasm" --config "$work/aslan.toml"
