#!/usr/bin/env bash
# The metrics listener cannot be used to take the process down (issue 9.5/9.6):
# 400 slow clients (a header line every 2 s) from one address keep at most a
# bounded number of descriptors, health probes from another address keep
# answering, the cameras keep running, and the open-file soft limit is raised
# to the hard one at start. A busy metrics port is fatal at start (exit 2).
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
# 1. Someone else holds the metrics port.
BUSY=$(free_port)
$PY -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.listen(); print("ready",flush=True); time.sleep(60)' "$BUSY" >"$WORK/busy.log" 2>&1 &
PIDS+=("$!")
wait_ready busy
cat >"$WORK/busy.yaml" <<YAML
metrics: {listen: "127.0.0.1:$BUSY"}
spool: {dir: "$WORK/busy-spool"}
cameras:
  - {name: cam, source: {mode: url, url: "$MEDIA"}, publishers: {local_dir: "$WORK/busy-out"},
     detectors: [{type: yolo, params: {model: "$MODEL"}}]}
YAML
rc=0; timeout 20 "$KVS_BIN" --config "$WORK/busy.yaml" >"$WORK/busy.out" 2>"$WORK/busy.err" || rc=$?
[ "$rc" = 2 ] || fail "a busy metrics port: exit $rc (expected 2)"
grep -q "metrics.listen" "$WORK/busy.err" || fail "no clear message on stderr: $(cat "$WORK/busy.err")"
note "busy port: exit 2, $(head -1 "$WORK/busy.err")"

# 2. Slow clients.
METRICS_PORT=$(free_port)
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
cameras:
  - name: cam
    source: {mode: url, url: "$MEDIA", loop: true}
    fps_limit: 2
    publishers: {local_dir: "$WORK/out"}
    detectors: [{type: yolo, params: {model: "$MODEL", classes: [person]}}]
YAML
(ulimit -Sn 256; exec "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/log.err") &
KVS_PID=$!; PIDS+=("$KVS_PID")
wait_for 20 http_get "http://127.0.0.1:$METRICS_PORT/healthz" || fail "no /healthz"
soft=$(awk '/Max open files/ {print $4}' /proc/$KVS_PID/limits)
hard=$(awk '/Max open files/ {print $5}' /proc/$KVS_PID/limits)
note "open-file limit: soft $soft, hard $hard (started with soft 256)"
[ "$soft" = "$hard" ] || fail "the soft open-file limit was not raised ($soft < $hard)"
$PY - "$METRICS_PORT" >"$WORK/slow.log" 2>&1 <<'PYEOF' &
import socket, sys, time
port, socks = int(sys.argv[1]), []
for i in range(400):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.bind(("127.0.0.2", 0)); s.connect(("127.0.0.1", port)); s.sendall(b"GET /metrics HTTP/1.1\r\n")
        socks.append(s)
    except OSError:
        s.close()
print("connected", len(socks), flush=True)
end = time.time() + 14
while time.time() < end:
    for s in list(socks):
        try: s.sendall(b"X-Slow: 1\r\n")
        except OSError: socks.remove(s)
    time.sleep(2)
print("still open", len(socks), flush=True)
PYEOF
SLOW=$!; PIDS+=("$SLOW")
wait_for 10 grep -q connected "$WORK/slow.log" || fail "the slow clients did not start"
max_fds=0; bad=0
for i in $(seq 1 10); do
  fds=$(ls /proc/$KVS_PID/fd | wc -l)
  [ "$fds" -gt "$max_fds" ] && max_fds=$fds
  t0=$(date +%s%N)
  http_get "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null || bad=$((bad + 1))
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$ms" -lt 2000 ] || bad=$((bad + 1))
  sleep 1
done
events_before=$(wc -l <"$WORK/out/events.jsonl" 2>/dev/null || echo 0)
wait "$SLOW" || true
note "slow clients: $(tr '\n' ' ' <"$WORK/slow.log"); kvs-infer used at most $max_fds descriptors; $bad failed probe(s)"
[ "$bad" = 0 ] || fail "$bad health probe(s) failed or were slow under 400 slow clients"
[ "$max_fds" -lt 200 ] || fail "HTTP clients took $max_fds descriptors"
kill -0 "$KVS_PID" || fail "kvs-infer died"
wait_for 20 bash -c "[ \$(wc -l <'$WORK/out/events.jsonl') -gt $events_before ]" || note "no new events in 20 s (person-free stretch?)"
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "exit code $?"
[ "$(wc -l <"$WORK/out/events.jsonl")" -ge 1 ] || fail "no events"
echo PASS
