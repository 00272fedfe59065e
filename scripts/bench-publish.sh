#!/usr/bin/env bash
# Sustained events/s through the spool and Kinesis PutRecords into kinesalite.
#   usage: scripts/bench-publish.sh [path/to/kvs-bench-publish]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bench/kvs-bench-publish}
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
node tests/standins/serve.js kinesis "$port" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do grep -q ready "$log" && break; sleep 0.2; done
export AWS_ACCESS_KEY_ID=AKIDBENCH AWS_SECRET_ACCESS_KEY=bench-secret
node tests/standins/aws_call.js call "http://127.0.0.1:$port" kinesis Kinesis_20131202.CreateStream \
  '{"StreamName":"bench","ShardCount":4}' >/dev/null
for fs in batch always; do
  "$bin" --endpoint "http://127.0.0.1:$port" --stream bench --events "${KVS_BENCH_EVENTS:-5000}" \
    --cameras 50 --fsync "$fs"
done
