#!/usr/bin/env bash
# Sustained events/s through the spool and Kinesis PutRecords into kinesalite,
# then SNS Publish and EventBridge PutEvents into their stand-in with 64
# cameras' worth of events (KVS_BENCH_PUBLISHERS picks: kinesis sns eventbridge).
#   usage: scripts/bench-publish.sh [path/to/kvs-bench-publish]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bench/kvs-bench-publish}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port); aport=$(free_port)
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
wait_ready() { for _ in $(seq 50); do grep -q ready "$1" && return 0; sleep 0.2; done; echo "$1: not ready" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret
topic=arn:aws:sns:us-east-1:123456789012:bench
for pub in ${KVS_BENCH_PUBLISHERS:-kinesis sns eventbridge}; do
  case $pub in
  kinesis)
    node tests/standins/serve.js kinesis "$port" >"$work/kinesis.log" 2>&1 &
    pids+=($!)
    wait_ready "$work/kinesis.log"
    node tests/standins/aws_call.js call "http://127.0.0.1:$port" kinesis Kinesis_20131202.CreateStream \
      '{"StreamName":"bench","ShardCount":4}' >/dev/null
    for fs in batch always; do
      "$bin" --endpoint "http://127.0.0.1:$port" --stream bench --events "${KVS_BENCH_EVENTS:-5000}" \
        --cameras 50 --fsync "$fs"
    done ;;
  sns|eventbridge)
    if [ ! -f "$work/alerts.log" ]; then
      node tests/standins/alerts_standin.js --port "$aport" --record "$work/requests.jsonl" \
        --topics "$topic" --buses bench >"$work/alerts.log" 2>&1 &
      pids+=($!)
      wait_ready "$work/alerts.log"
    fi
    target=$([ "$pub" = sns ] && echo "$topic" || echo bench)
    "$bin" --publisher "$pub" --endpoint "http://127.0.0.1:$aport" --stream "$target" \
      --events "${KVS_BENCH_EVENTS:-5000}" --cameras 64 --fsync batch ;;
  esac
done
