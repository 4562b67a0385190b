#!/usr/bin/env bash
# Interop: real Kafka clients (kafka-python, librdkafka through confluent-kafka, and kafkajs
# when node is present) against the kafka_broker example on an ephemeral loopback port.
# Installs the clients from the package registries on first use (a venv and node_modules under
# target/), runs every scenario with a hard time limit, and fails if any scenario fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-240}

cargo build --release --features kafka-wire --example kafka_broker

VENV=$TARGET/interop-venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import kafka, confluent_kafka' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check kafka-python==3.0.12 confluent-kafka==2.16.1
fi
KAFKAJS_DIR=""
if command -v node >/dev/null && command -v npm >/dev/null; then
  KAFKAJS_DIR=$TARGET/interop-node
  if [ ! -d "$KAFKAJS_DIR/node_modules/kafkajs" ]; then
    mkdir -p "$KAFKAJS_DIR"
    (cd "$KAFKAJS_DIR" && npm install --silent --no-audit --no-fund kafkajs@2.2.4)
  fi
fi
export KAFKAJS_DIR

LOG=$(mktemp)
"$TARGET/release/examples/kafka_broker" --port 0 --partitions 6 --initial-rebalance-delay-ms 0 --verbose >"$LOG" 2>&1 &
BROKER=$!
trap 'kill "$BROKER" 2>/dev/null || true; wait "$BROKER" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
  grep -q '^listening on ' "$LOG" && break
  sleep 0.1
done
BOOTSTRAP=$(sed -n 's/^listening on //p' "$LOG" | head -n 1)
[ -n "$BOOTSTRAP" ] || { echo "the broker did not start"; cat "$LOG"; exit 1; }
export BOOTSTRAP
echo "broker listening on $BOOTSTRAP"

passed=0
failed=0
for scenario in s1_groups s2_kill s3_static_cooperative s4_offsets; do
  echo "== $scenario"
  if timeout --kill-after=10 "$SCENARIO_TIMEOUT" "$VENV/bin/python" "tests/interop/$scenario.py"; then
    passed=$((passed + 1))
  else
    echo "FAILED: $scenario"
    failed=$((failed + 1))
  fi
  kill -0 "$BROKER" 2>/dev/null || { echo "the broker died"; cat "$LOG"; exit 1; }
done
if [ "$failed" -ne 0 ]; then
  echo "-- the broker's log (connections it closed, and why):"
  cat "$LOG"
fi
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
