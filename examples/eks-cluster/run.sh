#!/usr/bin/env bash
# Runs the "Manage an Amazon EKS cluster" workflow offline against
# aslan-local-cloud: its EKS API creates the cluster (CREATING -> ACTIVE),
# whose endpoint and CA are the emulator's Kubernetes API; the pi Job runs
# as a local perl process; the engine authenticates with an EKS token signed
# with the same test credentials the emulator checks.
#
#   examples/eks-cluster/run.sh     (after cargo build --release --workspace --bins)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${ASLAN_BIN_DIR:-target/release}
work=$(mktemp -d)
export AWS_ACCESS_KEY_ID=AKIDEXAMPLEASLAN AWS_SECRET_ACCESS_KEY=example/secret/key AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
"$bin/aslan-local-cloud" --listen 127.0.0.1:0 --run-processes >"$work/cloud.json" 2>"$work/cloud.log" &
cloud=$!
trap 'kill $cloud 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do [ -s "$work/cloud.json" ] && break; sleep 0.05; done
AWS_ENDPOINT_URL_EKS=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["eks"]["endpoint"])' "$work/cloud.json")
export AWS_ENDPOINT_URL_EKS
"$bin/aslan" run examples/eks-cluster/manage-eks-cluster.asl.json
