#!/usr/bin/env bash
# The operator page and its API (issue 14), on a real run of two cameras on
# real footage: the API with curl (cameras, snapshots, events with paging
# and images, the redacted config, the token rules, hostile ids, paths and
# sizes, slow and many clients), then the page in Debian's chromium driven by
# playwright-core (tests/integration/ui_browser.js): the wall's images
# change, the detail view opens with the zones drawn exactly over the picture,
# the ROI editor shows a camera's zones and four clicks in it give matching
# YAML, the events list shows thumbnails that open the snapshot, and Back
# closes it (issue 24). Screenshots are kept in the build folder
# (ui-screenshots/).
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
[ -x /usr/bin/chromium ] || need "chromium is not installed (scripts/setup.sh installs it)"
[ -d "$NODE_DIR/node_modules/playwright-core" ] || need "playwright-core is not installed (scripts/setup.sh)"
TOKEN="op-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
METRICS_PORT=$(free_port)
BASE="http://127.0.0.1:$METRICS_PORT"
SHOTS="${KVS_BUILD_DIR:-$WORK}/ui-screenshots"
rm -rf "$SHOTS" && mkdir -p "$SHOTS" "$WORK/out"

# An archive of 300 older events from a camera no longer configured, and
# two whose image paths point outside the output folder.
$PY - "$WORK/out/events.jsonl" "$WORK" <<'PYEOF'
import json, sys
out, work = sys.argv[1], sys.argv[2]
open(f"{work}/secret.jpg", "w").write("not for the page")
with open(out, "w") as f:
    for i in range(300):
        f.write(json.dumps({"schema_version": 1, "event_id": f"00000000-0000-7000-8000-{i:012x}",
                            "camera_name": "archive", "detector": "yolo", "label": "person",
                            "confidence": 0.9, "track_id": i, "detected_at": "2026-01-01T00:00:00.000Z",
                            "snapshot": None, "crops": []}) + "\n")
    for n, p in (("a", "/etc/passwd"), ("b", f"{work}/out/../secret.jpg")):
        f.write(json.dumps({"schema_version": 1, "event_id": f"00000000-0000-7000-9000-00000000000{n}",
                            "camera_name": "archive", "detector": "yolo", "label": "hostile",
                            "confidence": 0.5, "track_id": 0, "detected_at": "2026-01-01T00:00:00.000Z",
                            "snapshot": p, "crops": [p]}) + "\n")
    for n, plate in enumerate(("AB 123", "ab129", "ZZ1")):  # for the page's plate filter
        f.write(json.dumps({"schema_version": 1, "event_id": f"00000000-0000-7000-a000-00000000000{n}",
                            "camera_name": "archive", "detector": "alpr", "label": "plate",
                            "confidence": 0.8, "track_id": 0, "detected_at": "2026-01-01T00:00:00.000Z",
                            "snapshot": None, "crops": [], "plate": {"text": plate}}) + "\n")
    # The newest line of all, hostile (issue 26.11): the page must still list the others.
    f.write('{"event_id": "ffffffff-ffff-7fff-bfff-ffffffffffff", "camera_name": "evil", '
            '"label": {"toString": 0, "valueOf": 0}, "confidence": "high", "detected_at": {}, '
            '"plate": {"text": {"toString": 0}}, "crops": [{}], "track_id": []}\n')
PYEOF
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
ui: {token: "$TOKEN"}
defaults:
  fps_limit: 2
  source: {mode: url, url: "$MEDIA", loop: true}
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - name: front door
    roi: [{name: driveway, polygon: [[0, 0.3], [1, 0.3], [1, 1], [0, 1]]}]
  - name: yard
    source: {mode: url, url: "rtsp://viewer:hunter2@127.0.0.1:1/none"}
  - name: lobby
YAML
"$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" &
KVS_PID=$!; PIDS+=("$KVS_PID")
AUTH=(-H "Authorization: Bearer $TOKEN")
# get PATH [curl args...]: prints the status; the body is in $WORK/body.
get() { local p=$1; shift; curl -s --path-as-is -o "$WORK/body" -w '%{http_code}' "$@" "$BASE$p"; }
expect() { # expect STATUS PATH [curl args...]
  local want=$1 p=$2; shift 2
  local got; got=$(get "$p" "$@")
  [ "$got" = "$want" ] || fail "GET $p: $got, expected $want: $(head -c 300 "$WORK/body")"
}
json() { $PY -c "import json,sys; d=json.load(open('$WORK/body')); print($1)"; }
listening() { [ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/healthz")" = 200 ]; }
wait_for 30 listening || fail "no listener"

# ---- the token rules; /metrics, /healthz and /readyz stay open ----
expect 200 /metrics
expect 200 /healthz
expect 401 /api/v1/cameras
grep -q '"error"' "$WORK/body" || fail "401 without a JSON error"
[ "$(curl -s -D - -o /dev/null "$BASE/" | grep -ci '^WWW-Authenticate: Basic')" = 1 ] || fail "no WWW-Authenticate on 401"
expect 401 /api/v1/cameras -H "Authorization: Bearer wrong-$TOKEN"
expect 401 / -u "operator:nope"
expect 200 / -u "operator:$TOKEN"
expect 200 /api/v1/cameras "${AUTH[@]}"
note "token: 401 without or wrong, 200 with (Bearer and basic), /metrics open"

# ---- cameras ----
two_running() {
  get /api/v1/cameras "${AUTH[@]}" >/dev/null
  [ "$(json "sum(c['state'] == 'running' and c['analysed'] > 4 for c in d['cameras'])")" = 2 ]
}
wait_for 40 two_running || fail "two cameras should be running: $(head -c 600 "$WORK/body")"
expect 200 /api/v1/cameras "${AUTH[@]}"
[ "$(json "sorted(c['name'] for c in d['cameras'])")" = "['front door', 'lobby', 'yard']" ] || fail "cameras: $(head -c 300 "$WORK/body")"
[ "$(json "[c for c in d['cameras'] if c['name'] == 'front door'][0]['roi'][0]['name']")" = driveway ] || fail "zones missing"
[ "$(json "[c for c in d['cameras'] if c['name'] == 'yard'][0]['state']")" != running ] || fail "the dead RTSP camera runs?"
expect 503 "/api/v1/cameras/front%20door/snapshot.jpg" "${AUTH[@]}" # first ask: nothing kept yet (nobody watched)
sleep 1.5
expect 200 "/api/v1/cameras/front%20door/snapshot.jpg" "${AUTH[@]}"
[ "$(head -c 3 "$WORK/body" | od -An -tx1 | tr -d ' ')" = ffd8ff ] || fail "the snapshot is not a JPEG"
expect 404 "/api/v1/cameras/nobody/snapshot.jpg" "${AUTH[@]}"
grep -q '"error"' "$WORK/body" || fail "404 without a JSON error"
expect 404 "/api/v1/cameras/..%2F..%2Fetc%2Fpasswd/snapshot.jpg" "${AUTH[@]}"
expect 404 "/../../etc/passwd" "${AUTH[@]}"
expect 404 "/api/v1/../../../etc/passwd" "${AUTH[@]}"
expect 404 "/api/v2/cameras" "${AUTH[@]}"

# ---- events: newest first, paged, capped; images only from inside the output folder ----
has_event() { get "/api/v1/events?camera=front%20door&limit=1" "${AUTH[@]}" >/dev/null && grep -q event_id "$WORK/body"; }
wait_for 30 has_event || fail "no event from front door"
expect 200 "/api/v1/events?camera=archive&limit=100000" "${AUTH[@]}"
[ "$(json "len(d['events'])")" = 200 ] || fail "limit not capped at 200: $(json "len(d['events'])")"
[ "$(json "d['events'][0]['label']")" = plate ] || fail "not newest first"
NEXT=$(json "d['next_before']")
expect 200 "/api/v1/events?camera=archive&limit=200&before=$NEXT" "${AUTH[@]}"
[ "$(json "len(d['events'])")" = 105 ] && [ "$(json "d['next_before']")" = None ] || fail "second page: $(json "len(d['events'])")"
[ "$(json "d['events'][-1]['event_id']")" = 00000000-0000-7000-8000-000000000000 ] || fail "the oldest event is not last"
expect 200 "/api/v1/events?camera=evil" "${AUTH[@]}"
[ "$(json "'label' in d['events'][0] or 'confidence' in d['events'][0]")" = False ] || fail "wrong-typed fields kept: $(cat "$WORK/body")"
expect 200 "/api/v1/events?plate=ab12&camera=archive" "${AUTH[@]}"
[ "$(json "sorted(e['plate']['text'] for e in d['events'])")" = "['AB 123', 'ab129']" ] || fail "plate prefix: $(head -c 300 "$WORK/body")"
expect 200 "/api/v1/events?plate=AB124&fuzzy=1" "${AUTH[@]}"
[ "$(json "sorted(e['plate']['text'] for e in d['events'])")" = "['AB 123', 'ab129']" ] || fail "plate fuzzy: $(head -c 300 "$WORK/body")"
expect 200 "/api/v1/events?camera=archive&until=2026-01-01T00:00:00Z&limit=200" "${AUTH[@]}"
[ "$(json "len(d['events'])")" = 200 ] || fail "until: $(json "len(d['events'])")"
expect 200 "/api/v1/events?camera=archive&since=2026-01-01T00:00:00.001Z" "${AUTH[@]}"
[ "$(json "len(d['events'])")" = 0 ] || fail "since: $(json "len(d['events'])")"
expect 400 "/api/v1/events?since=yesterday" "${AUTH[@]}"
[ -s "$WORK/out/events.db" ] || fail "no event index beside events.jsonl"
expect 200 "/api/v1/events?label=person&limit=5" "${AUTH[@]}"
[ "$(json "all(e['label'] == 'person' for e in d['events']) and len(d['events']) == 5")" = True ] || fail "label filter"
ID=$(json "[e for e in d['events'] if e['camera_name'] == 'front door'][0]['event_id']")
expect 200 "/api/v1/events/$ID" "${AUTH[@]}"
[ "$(json "d['event_id']")" = "$ID" ] || fail "event by id"
expect 200 "/api/v1/events/$ID/snapshot.jpg" "${AUTH[@]}"
expect 200 "/api/v1/events/$ID/crop-0.jpg" "${AUTH[@]}"
expect 404 "/api/v1/events/$ID/crop-9.jpg" "${AUTH[@]}"
expect 404 "/api/v1/events/$ID/..%2F..%2Fsecret.jpg" "${AUTH[@]}"
expect 404 "/api/v1/events/01a2315e-fea2-7003-af32-000000000000" "${AUTH[@]}"
expect 404 "/api/v1/events/not-an-id" "${AUTH[@]}"
expect 404 "/api/v1/events/..%2F..%2Fetc%2Fpasswd" "${AUTH[@]}"
expect 400 "/api/v1/events?before=../../x" "${AUTH[@]}"
expect 400 "/api/v1/events?limit=lots" "${AUTH[@]}"
expect 403 "/api/v1/events/00000000-0000-7000-9000-00000000000a/snapshot.jpg" "${AUTH[@]}"
expect 403 "/api/v1/events/00000000-0000-7000-9000-00000000000b/crop-0.jpg" "${AUTH[@]}"
grep -q "outside the output folder" "$WORK/body" || fail "traversal not explained: $(cat "$WORK/body")"
note "events: capped at 200, paged, filtered; images outside the output folder refused"

# ---- the config, redacted ----
expect 200 /api/v1/config "${AUTH[@]}"
! grep -q "$TOKEN" "$WORK/body" || fail "the token is in /api/v1/config"
! grep -q hunter2 "$WORK/body" || fail "the RTSP password is in /api/v1/config"
grep -q 'rtsp://viewer:<redacted>@127.0.0.1' "$WORK/body" || fail "config: $(head -c 400 "$WORK/body")"

# ---- slow and many clients: bounded, the pipeline unaffected ----
# (/metrics itself is refused while one address holds its 16 connections:
# the counts are read before and after.)
analysed() { metric 'kvs_infer_frames_processed_total{camera="front door"}'; }
A0=$(analysed); T0=$(date +%s.%N); sleep 5; A1=$(analysed); T1=$(date +%s.%N)
$PY - "$METRICS_PORT" <<'PYEOF' &
import socket, sys, time
held = []
for _ in range(40):  # stalled browsers: half a request each, never finished
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /api/v1/cameras HTTP/1.1\r\nHost: x\r\n")
    held.append(s)
time.sleep(6)
PYEOF
STALL=$!
seq 1 300 | xargs -P 150 -I{} curl -s -o /dev/null -m 10 -H "Authorization: Bearer $TOKEN" \
  "$BASE/api/v1/cameras/front%20door/snapshot.jpg" &
STORM=$!
wait "$STORM" || true; wait "$STALL" || true
A2=$(analysed); T2=$(date +%s.%N)
rates=$($PY -c "print('%.2f %.2f' % (($A1 - $A0) / ($T1 - $T0), ($A2 - $A1) / ($T2 - $T1)))")
note "analysed frames/s: ${rates% *} before, ${rates#* } with 40 stalled and 150 concurrent clients"
$PY -c "import sys; b, d = map(float, '$rates'.split()); sys.exit(0 if d >= 0.8 * b else 1)" ||
  fail "the pipeline slowed under page clients ($rates)"
expect 200 /healthz

# ---- the page in a real browser ----
node "$KVS_SOURCE_DIR/tests/integration/ui_browser.js" "$BASE" "$TOKEN" "$SHOTS" "front door" lobby ||
  fail "browser test (screenshots in $SHOTS)"
bytes=0; for p in / /app.js /style.css; do get "$p" "${AUTH[@]}" >/dev/null; bytes=$((bytes + $(stat -c %s "$WORK/body"))); done
note "page weight: $bytes bytes (HTML, JS, CSS); screenshots: $(ls "$SHOTS" | tr '\n' ' ')"
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "kvs-infer exited $?"

# ---- reachable beyond loopback and no token: 403 with how to fix it ----
PORT2=$(free_port)
sed -e "s/127.0.0.1:$METRICS_PORT/0.0.0.0:$PORT2/" -e '/^ui:/d' "$WORK/c.yaml" >"$WORK/open.yaml"
"$KVS_BIN" --config "$WORK/open.yaml" >"$WORK/log2" 2>"$WORK/err2" &
P2=$!; PIDS+=("$P2")
BASE="http://127.0.0.1:$PORT2"
wait_for 30 listening || fail "no listener on 0.0.0.0"
expect 403 /api/v1/cameras
grep -q "KVS_UI_TOKEN" "$WORK/body" || fail "403 does not say how to set a token: $(cat "$WORK/body")"
expect 403 /
expect 200 /metrics
kill -TERM "$P2"; wait "$P2" || fail "kvs-infer exited $?"
echo PASS
