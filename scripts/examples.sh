#!/usr/bin/env bash
# Runs every example the way the README shows and checks its result.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p aslan
aslan=target/release/aslan
fail() { echo "example failed: $*" >&2; exit 1; }

out=$($aslan run examples/hello-world.asl.json --input '{"people": ["Ada", "Grace", "Linus"]}')
echo "hello-world: $out"
[[ "$out" == *'"verdict":"What a crowd!"'* ]] || fail hello-world

out=$($aslan run examples/order-pipeline/order-pipeline.asl.json \
  --input-file examples/order-pipeline/input.json \
  --mock-config examples/order-pipeline/mock-config.json --test-case HappyPath)
echo "order-pipeline HappyPath: $out"
[[ "$out" == *'"tracking":"TRK-7"'* ]] || fail order-pipeline HappyPath

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
echo "examples: 4 passed, 0 failed"
