#!/usr/bin/env bash
# Alerts: the webhook and MQTT publishers' throughput with 64 cameras'
# events (a local signature-checking receiver, a local mosquitto) and CPU per
# alert; then, with the kvs-infer binary given, the alert latency from a
# frame's producer timestamp on the KVS emulator to the receiver and the
# subscriber (bench/bench_alerts.py).
#   usage: scripts/bench-alerts.sh [kvs-bench-alerts] [kvs-infer]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bench/kvs-bench-alerts}
kvs=${2:-}
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
hport=$(free_port); mport=$(free_port)
/usr/bin/python3 tests/integration/webhook_receiver.py --port "$hport" --secret bench-secret \
  --out /dev/null --max-seconds 1200 >"$work/hook.log" 2>&1 &
pids+=($!)
printf 'listener %s 127.0.0.1\nallow_anonymous true\nuser %s\n' "$mport" "$(id -un)" >"$work/mq.conf"
"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$work/mq.conf" >"$work/mq.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do grep -q ready "$work/hook.log" && break; sleep 0.2; done
sleep 1
n=${KVS_BENCH_EVENTS:-5000}
"$bin" --publisher webhook --url "http://127.0.0.1:$hport/hook" --events "$n" --cameras 64
"$bin" --publisher mqtt --url "mqtt://127.0.0.1:$mport" --events "$n" --cameras 64
"$bin" --publisher mqtt --url "mqtt://127.0.0.1:$mport" --events "$n" --cameras 64 --snapshot
[ -n "$kvs" ] && /usr/bin/python3 bench/bench_alerts.py "$kvs"
exit 0
