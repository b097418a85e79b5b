#!/usr/bin/env bash
# Runs job-with-poller.asl.json against aslan-local-cloud: the Job's wait is
# decided by the Rust poller (rust-poller), attached to the state by the
# engine configuration, and a Rust task guest (rust-task) summarises the
# Job's pods. Needs the guests built (scripts/guests.sh).
#
#   examples/wasm/run.sh        (after cargo build --release --workspace --bins)
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${ASLAN_BIN_DIR:-target/release}
guests=${GUESTS_OUT:-target/guests}
work=$(mktemp -d)
"$bin/aslan-local-cloud" --listen 127.0.0.1:0 >"$work/cloud.json" 2>"$work/cloud.log" &
cloud=$!
trap 'kill $cloud 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 200); do [ -s "$work/cloud.json" ] && break; sleep 0.05; done
python3 - "$work" "$PWD/$guests" <<'PY'
import json, sys
work, guests = sys.argv[1], sys.argv[2]
k = json.load(open(f"{work}/cloud.json"))["kubernetes"]
json.dump({"cluster": {"endpoint": k["endpoint"], "certificateAuthority": k["certificateAuthority"]}},
          open(f"{work}/input.json", "w"))
open(f"{work}/aslan.toml", "w").write(f'''
[clusters.MyCluster]
token = "{k["token"]}"

# The poller may read Jobs and pods in "default" on MyCluster, nothing else.
[modules.job-poller]
path = "{guests}/rust-poller.wasm"
[modules.job-poller.allow]
clusters = ["MyCluster"]
endpoints = ["{k["endpoint"]}"]
namespaces = ["default"]

[modules.pods-summary]
path = "{guests}/rust-task.wasm"
[modules.pods-summary.allow]
clusters = ["MyCluster"]
endpoints = ["{k["endpoint"]}"]
namespaces = ["default"]

[[pollers]]
state_machine = "job-with-poller"
state = "Run the Job"
module = "job-poller"
''')
PY
"$bin/aslan" run examples/wasm/job-with-poller.asl.json --config "$work/aslan.toml" --input-file "$work/input.json"
