#!/usr/bin/env bash
# Runs every example the way the README shows and checks its result.
set -euo pipefail
cd "$(dirname "$0")/.."
# target/release by default (as the README shows); scripts/test.sh runs the
# debug build it has already made (ASLAN_BIN_DIR=target/debug).
bin=${ASLAN_BIN_DIR:-target/release}
if [ "$bin" = target/release ]; then cargo build -q --release --workspace --bins; else cargo build -q --workspace --bins; fi
export ASLAN_BIN_DIR=$bin
aslan=$bin/aslan
fail() { echo "example failed: $*" >&2; exit 1; }

out=$($aslan run examples/hello-world.asl.json --input '{"people": ["Ada", "Grace", "Linus"]}')
echo "hello-world: $out"
[[ "$out" == *'"verdict":"What a crowd!"'* ]] || fail hello-world

out=$($aslan run examples/order-pipeline/order-pipeline.asl.json \
  --input-file examples/order-pipeline/input.json \
  --mock-config examples/order-pipeline/mock-config.json --test-case HappyPath)
echo "order-pipeline HappyPath: $out"
[[ "$out" == *'"tracking":"TRK-7"'* ]] || fail order-pipeline HappyPath

out=$($aslan run examples/jsonata/orders.asl.json --input-file examples/jsonata/input.json)
echo "jsonata orders: $out"
[[ "$out" == *'"grand":131.5'* && "$out" == *'"approval":"required"'* && "$out" == *'"total":49'* ]] || fail jsonata orders
out=$($aslan run examples/distributed-map/scores.asl.json --input-file examples/distributed-map/input.json)
echo "distributed-map scores: $out"
[[ "$out" == *'"graded":2'* && "$out" == *'"Error":"Scores.Negative"'* && "$out" == *'"scores":[70,77]'* ]] || fail distributed-map

set +e
out=$($aslan run examples/jsonata/orders.asl.json --input '{"currency": "EUR", "orders": [{"id": "B-1", "lines": []}]}')
rc=$?
set -e
echo "jsonata orders, nothing to bill (exit $rc): $out"
[ "$rc" = 1 ] && [[ "$out" == *'No order has a line to bill (1 orders)'* ]] || fail jsonata empty

set +e
out=$($aslan run examples/order-pipeline/order-pipeline.asl.json \
  --input-file examples/order-pipeline/input.json \
  --mock-config examples/order-pipeline/mock-config.json --test-case Declined)
rc=$?
$aslan validate examples/invalid.asl.json 2>/dev/null
vrc=$?
set -e
echo "order-pipeline Declined (exit $rc): $out"
[ "$rc" = 1 ] && [[ "$out" == *'Payments.Declined'* ]] || fail order-pipeline Declined
[ "$vrc" = 2 ] || fail "validate invalid.asl.json should exit 2, got $vrc"
# Embedding: the smallest durable program, run twice on one folder.
data=$(mktemp -d)
out=$($bin/embed-minimal "$data" Ada "" Linus 2>/dev/null)
echo "embed-minimal: $out"
[[ "$out" == '["Hello, Ada!",null,"Hello, Linus!"]' ]] || fail embed-minimal
held=$($bin/embed-minimal "$data" Grace 2>&1 >/dev/null | tail -1)
[[ "$held" == "2 executions of greeter in $data" ]] || fail "embed-minimal second run: $held"
rm -rf "$data"
# Embedding in a web service: orders over HTTP, progress as server-sent events.
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$bin/embed-axum "$data" "127.0.0.1:$port" 2>"$data.log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
url="http://127.0.0.1:$port/orders"
curl -sf -X POST "$url" -H 'content-type: application/json' \
  -d '{"id": "o-flaky-1", "items": [{"sku": "tea", "qty": 2}, {"sku": "cups", "qty": 4}]}' >/dev/null || fail "embed-axum POST"
events=$(curl -sfN --max-time 30 "$url/o-flaky-1/events") || fail "embed-axum events"
echo "embed-axum: $(grep -c '^event:' <<<"$events") events streamed for o-flaky-1"
[[ "$events" == *'event: TaskFailed'* && "$events" == *'event: ExecutionSucceeded'* ]] || fail "embed-axum stream: $events"
out=$(curl -sf "$url/o-flaky-1")
[[ "$out" == *'"status":"SUCCEEDED"'* && "$out" == *'"charged":30'* ]] || fail "embed-axum order: $out"
curl -sf -X POST "$url" -H 'content-type: application/json' -d '{"id": "o-2", "items": [{"sku": "tea", "qty": 50}]}' >/dev/null
curl -sfN --max-time 30 "$url/o-2/events" | grep -q '^event: ExecutionFailed' || fail "embed-axum rejected order"
out=$(curl -sf "$url/o-2")
[[ "$out" == *'"error":"OrderRejected"'* ]] || fail "embed-axum o-2: $out"
echo "embed-axum: o-flaky-1 SUCCEEDED after a retried payment, o-2 rejected"
kill -TERM $pid; wait $pid || fail "embed-axum did not stop cleanly"
trap - EXIT; rm -rf "$data" "$data.log"
out=$(examples/wasm/run.sh)
echo "wasm (poller + task guests): $out"
[[ "$out" == '{"Job":"example-job","Pods":1,"Phases":{"Succeeded":1}}' ]] || fail wasm
# The server example: aslan serve driven by boto3.
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
$aslan serve --data "$data" --listen "127.0.0.1:$port" --mock-config examples/order-pipeline/mock-config.json 2>"$data.log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
.venv/bin/python examples/serve/demo.py "http://127.0.0.1:$port" || fail serve/demo.py
$aslan executions --endpoint "http://127.0.0.1:$port" list order-pipeline || fail "aslan executions list"
kill -TERM $pid; wait $pid || fail "aslan serve did not stop cleanly"
trap - EXIT; rm -rf "$data" "$data.log"
# The Activity worker example: a boto3 worker and a callback approver.
data=$(mktemp -d)
$aslan serve --data "$data" --listen "127.0.0.1:$port" 2>"$data.log" &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data" "$data.log"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
timeout 60 .venv/bin/python examples/activity-worker/worker.py "http://127.0.0.1:$port" || fail activity-worker/worker.py
kill -TERM $pid; wait $pid || fail "aslan serve did not stop cleanly"
trap - EXIT; rm -rf "$data" "$data.log"
# AWS's EKS integration examples against the Kubernetes API emulator.
out=$(examples/kubernetes/run.sh) || fail "kubernetes/run.sh: $out"
echo "$out"
# The log parses as a JSON number, so (as AWS warns) only a double's digits remain.
grep -q '"logs":\[{"log":3.14159265358979' <<<"$out" || fail "kubernetes run-job-pi: no digits of pi"
grep -q '"pods":\["example-job-' <<<"$out" || fail "kubernetes list-pods"
grep -q '"StatusCode":202,"kind":"Job"' <<<"$out" || fail "kubernetes delete-job (202 Accepted: Foreground deletion)"
grep -q '"name":"aws-auth"' <<<"$out" || fail "kubernetes aws-auth"
# AWS's "Manage an Amazon EKS cluster" sample, offline.
out=$(examples/eks-cluster/run.sh) || fail "eks-cluster/run.sh: $out"
echo "eks-cluster: $out"
[ "$out" = '"pi as expected"' ] || fail "eks-cluster: $out"
# The same sample as a Rust code workflow with its own backoff poller.
out=$(examples/code-workflow/run.sh) || fail "code-workflow/run.sh: $out"
echo "code-workflow (manage-eks-cluster.wasm): $out"
[ "$out" = '"pi as expected"' ] || fail "code-workflow: $out"
echo "examples: 12 passed, 0 failed"
