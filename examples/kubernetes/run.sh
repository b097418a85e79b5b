#!/usr/bin/env bash
# Runs AWS's EKS integration examples against aslan-local-cloud, the local
# Kubernetes API emulator: the pi Job (eks:runJob.sync with logs, run as a
# real local perl process), then eks:call listing its pods, deleting it with
# propagationPolicy Foreground, and creating the aws-auth ConfigMap.
#
#   examples/kubernetes/run.sh        (after cargo build --release --workspace --bins)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${ASLAN_BIN_DIR:-target/release}
work=$(mktemp -d)
"$bin/aslan-local-cloud" --listen 127.0.0.1:0 --run-processes >"$work/cloud.json" 2>"$work/cloud.log" &
cloud=$!
trap 'kill $cloud 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do [ -s "$work/cloud.json" ] && break; sleep 0.05; done
# The emulator's one JSON line gives the endpoint, CA and a bearer token;
# the token goes into the engine configuration for ClusterName MyCluster.
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
k = json.load(open(f"{work}/cloud.json"))["kubernetes"]
json.dump({"cluster": {"endpoint": k["endpoint"], "certificateAuthority": k["certificateAuthority"]}}, open(f"{work}/input.json", "w"))
open(f"{work}/aslan.toml", "w").write(f'[clusters.MyCluster]\ntoken = "{k["token"]}"\n')
PY
for example in run-job-pi list-pods delete-job aws-auth; do
  echo "== $example"
  "$bin/aslan" run "examples/kubernetes/$example.asl.json" --config "$work/aslan.toml" --input-file "$work/input.json"
done
