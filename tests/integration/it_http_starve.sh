#!/usr/bin/env bash
# Health probes stay answered whatever the page's clients do (issue 26.1 and
# 26.2): while three events queries that match nothing run over 100k events,
# and while 16 connections from each of 127.0.0.1-.9 send their requests one
# byte a second (enough to fill the connection cap if every byte bought more
# time), /healthz from 127.0.0.10 answers within a Kubernetes probe's 1 s.
# Also: a 600-byte token is compared whole (26.5: its first 511 bytes were
# let in), and a disabled detector does not shift the later ones in the API
# (24: the enabled ones were indexed by config position).
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
METRICS_PORT=$(free_port)
BASE="http://127.0.0.1:$METRICS_PORT"
mkdir -p "$WORK/out"
$PY - "$WORK/out/events.jsonl" <<'PYEOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(100000):
        f.write(json.dumps({"schema_version": 1, "event_id": f"01900000-0000-7000-8000-{i:012x}",
                            "camera_name": f"cam{i % 16}", "detector": "yolo", "label": "person",
                            "confidence": 0.9, "track_id": i, "detected_at": "2026-01-01T00:00:00.000Z",
                            "box": {"x1": 1.5, "y1": 2.5, "x2": 30.25, "y2": 60.75},
                            "snapshot": f"cam{i % 16}/2026/01/01/x/frame.jpg", "crops": []}) + "\n")
PYEOF
TOKEN=$(head -c 450 /dev/urandom | base64 -w0)
[ ${#TOKEN} = 600 ] || fail "token of ${#TOKEN} bytes"
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
ui: {token: "$TOKEN"}
cameras:
  - name: cam
    source: {mode: url, url: "rtsp://127.0.0.1:1/none"}
    publishers: {local_dir: "$WORK/out"}
    detectors:
      - {type: yolo, enabled: false, confidence_threshold: 0.9, params: {model: "$MODEL"}}
      - {type: yolo, confidence_threshold: 0.3, params: {model: "$MODEL", classes: [person]}}
YAML
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 20 http_get "$BASE/healthz" || fail "no /healthz"

# probe ADDR: /healthz from ADDR within 1 s; prints the time it took (ms).
probe() {
  local t
  t=$(curl -s -o /dev/null -m 1 --interface "$1" -w '%{http_code} %{time_total}' "$BASE/healthz") || true
  [ "${t%% *}" = 200 ] || { echo fail; return; }
  $PY -c "print(int(float('${t#* }') * 1000))"
}

code() { curl -s -o "$WORK/body" -w '%{http_code}' -H "Authorization: Bearer $1" "$BASE$2"; }
[ "$(code "$TOKEN" /api/v1/cameras)" = 200 ] || fail "the whole token refused"
[ "$(code "${TOKEN:0:511}" /api/v1/cameras)" = 401 ] || fail "the token's first 511 bytes let in"
[ "$(code "${TOKEN}x" /api/v1/cameras)" = 401 ] || fail "the token and more let in"
has_camera() { code "$TOKEN" /api/v1/cameras >/dev/null && grep -q '"detectors"' "$WORK/body"; }
wait_for 20 has_camera || fail "no camera in the API: $(cat "$WORK/body")"
dets=$($PY -c "import json; d = json.load(open('$WORK/body'))['cameras'][0]['detectors']
print([(x['enabled'], x['open'], x['threshold']) for x in d])")
[ "$dets" = "[(False, False, None), (True, True, 0.3)]" ] ||
  [ "$dets" = "[(False, False, None), (True, True, 0.30000001192092896)]" ] || fail "detectors: $dets"
note "600-byte token: whole 200, first 511 bytes 401; detectors $dets"

# 1. Slow queries.
Q=()
for i in 1 2 3; do
  curl -s -o /dev/null -m 60 -H "Authorization: Bearer $TOKEN" "$BASE/api/v1/events?camera=nope&limit=10" &
  Q+=("$!")
done
sleep 0.3
slow=""
for i in 1 2 3 4; do slow+="$(probe 127.0.0.10) "; sleep 0.2; done
wait "${Q[@]}" || true
note "/healthz (ms) while three events queries ran: $slow"
case "$slow" in *fail*) fail "/healthz failed while events queries ran: $slow" ;; esac

# 2. Slow clients from nine addresses.
$PY - "$METRICS_PORT" >"$WORK/slow.log" 2>&1 <<'PYEOF' &
import socket, sys, time
port, socks = int(sys.argv[1]), []
for a in range(1, 10):
    for _ in range(16):
        s = socket.socket()
        s.settimeout(1)
        try:
            s.bind((f"127.0.0.{a}", 0)); s.connect(("127.0.0.1", port)); socks.append(s)
        except OSError:
            s.close()
print("connected", len(socks), flush=True)
req, sent, end = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 0, time.time() + 16
while time.time() < end:
    for i, s in enumerate(socks):
        if s is None: continue
        try: s.sendall(req[sent % len(req):sent % len(req) + 1])
        except OSError:  # closed by the server: come back at once, as an attacker would
            s.close(); s = socket.socket(); s.settimeout(1)
            try: s.bind((f"127.0.0.{i // 16 + 1}", 0)); s.connect(("127.0.0.1", port)); socks[i] = s
            except OSError: s.close(); socks[i] = None
    sent += 1
    time.sleep(1)
print("open at the end", sum(s is not None for s in socks), flush=True)
PYEOF
SLOW=$!; PIDS+=("$SLOW")
wait_for 10 grep -q connected "$WORK/slow.log" || fail "the slow clients did not start"
sleep 3
starved=""
for i in 1 2 3 4 5 6; do starved+="$(probe 127.0.0.10) "; sleep 1.5; done
wait "$SLOW" || true
note "slow clients: $(tr '\n' ' ' <"$WORK/slow.log"); /healthz (ms) meanwhile: $starved"
case "$starved" in *fail*) fail "/healthz starved by slow clients: $starved" ;; esac
kill -0 "$KVS_PID" || fail "kvs-infer died"
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "exit code $?"
echo PASS
