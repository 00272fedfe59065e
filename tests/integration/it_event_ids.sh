#!/usr/bin/env bash
# Event ids through a takeover (issue 28): a worker is killed (kill -9) and
# its lease's checkpoint put back to the fragment it started at, as if its
# renewals had stopped long before; the new owner replays everything the dead
# one analysed and re-raises its events with the same ids (derived from the
# stream, docs/cluster.md "Event ids"), and the DynamoDB table keeps one item
# per event (conditional put). Real parts: the KVS emulator, dynalite behind
# the signature-checking proxy, real footage. BFRAMES=N: the footage encoded
# with N B-frames (it_event_ids_bframes.sh): packets come in decode order, and
# each picture's producer time is its packet's moved by the picture's own
# pts; the frames each worker analysed must follow the stream's timeline
# (producer time rising with pts, one for one) either way.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
need_standins
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
EPORT=$(free_port); DPORT=$(free_port); PPORT=$(free_port)
kvs_emulator emulator "$EPORT" s1 --history-s 120 --bframes "${BFRAMES:-0}"
standin dynalite dynamodb "$DPORT"
sigv4_proxy proxy "$PPORT" "$DPORT" "$AWS_SECRET_ACCESS_KEY"
wait_ready emulator dynalite proxy
DDB="http://127.0.0.1:$PPORT"
aws_call call "$DDB" dynamodb DynamoDB_20120810.CreateTable \
  '{"TableName":"events","AttributeDefinitions":[{"AttributeName":"event_id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"event_id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null

declare -A WPID
worker() { # NAME: a config and a running process, its own local_dir
  cat >"$WORK/$1.yaml" <<YAML
aws_region: us-east-1
spool: {dir: "$WORK/spool-$1"}
workers: 1
cluster: {lease_table: leases, worker_id: "$1", lease_seconds: 4}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$EPORT", dynamodb: "$DDB"}}
defaults:
  fps_limit: 1
  publishers: {local_dir: "$WORK/out-$1", dynamodb_table: events}
  detectors: [{type: yolo, confidence_threshold: 0.4, params: {model: "$MODEL", classes: [person, car]}}]
cameras:
  - {name: c1, stream_name: s1, source: {mode: hls}}
YAML
  "$KVS_BIN" --config "$WORK/$1.yaml" --log-level debug >"$WORK/$1.log" 2>"$WORK/$1.err" &
  WPID[$1]=$!
  PIDS+=("${WPID[$1]}")
}
count() { [ -f "$WORK/out-$1/events.jsonl" ] && wc -l <"$WORK/out-$1/events.jsonl" || echo 0; }
ddb_items() {
  aws_call call "$DDB" dynamodb DynamoDB_20120810.Scan '{"TableName":"events","Select":"COUNT"}' |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["Count"])'
}
at_least() { [ "$("$1" "${@:3}")" -ge "$2" ]; } # FUNC N [ARGS]: FUNC's answer is N or more
emu() { http_get "http://127.0.0.1:$EPORT/_emulator/$1"; }
lease() { # the lease item of c1, as JSON
  aws_call call "$DDB" dynamodb DynamoDB_20120810.GetItem \
    '{"TableName":"leases","Key":{"camera":{"S":"c1"}},"ConsistentRead":true}'
}

worker w1
wait_for 90 at_least count 6 w1 || fail "w1 raised $(count w1) events in 90 s: $(tail -3 "$WORK/w1.err")"
sleep 3 # what it raised lately reaches the table too
wait_for 30 at_least ddb_items "$(count w1)" || fail "w1's events did not reach DynamoDB: $(ddb_items)"
kill -9 "${WPID[w1]}"; wait "${WPID[w1]}" 2>/dev/null || true
W1_EVENTS=$(count w1)

# The checkpoint goes back to the first fragment w1 was served.
FIRST=$($PY - "$(emu 'served?stream=s1')" "$(emu 'fragments?stream=s1')" <<'PYEOF'
import json, sys
first = min(json.loads(sys.argv[1])["indices"])
frag = next(f for f in json.loads(sys.argv[2]) if f["index"] == first)
print(frag["number"], frag["producer"])
PYEOF
) || fail "no first fragment: $(emu 'fragments?stream=s1' | head -c 300)"
read -r FRAG START_MS <<<"$FIRST"
aws_call call "$DDB" dynamodb DynamoDB_20120810.UpdateItem \
  "{\"TableName\":\"leases\",\"Key\":{\"camera\":{\"S\":\"c1\"}},\"UpdateExpression\":\"SET #f = :f, start_ms = :t\",\"ExpressionAttributeNames\":{\"#f\":\"fragment\"},\"ExpressionAttributeValues\":{\":f\":{\"S\":\"$FRAG\"},\":t\":{\"N\":\"$START_MS\"}}}" >/dev/null
note "w1 raised $W1_EVENTS events; checkpoint put back to $FRAG ($START_MS)"

# w2 takes the lease after lease_seconds and replays from there until it is
# past the last frame w1 raised an event on.
worker w2
LAST_W1=$($PY -c '
import datetime, json, sys
ts = [json.loads(l)["frame"]["producer_timestamp"] for l in open(sys.argv[1])]
print(max(int(datetime.datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000) for t in ts))
' "$WORK/out-w1/events.jsonl")
past() { lease | $PY -c 'import json,sys; it=json.load(sys.stdin)["Item"]; sys.exit(0 if it["owner"]["S"] == "w2" and int(it.get("start_ms", {"N": "0"})["N"]) > int(sys.argv[1]) + 4000 else 1)' "$LAST_W1"; }
wait_for 180 past || fail "w2 did not replay past w1's last event: $(lease | head -c 400)"
grep -q "resuming at the checkpoint" "$WORK/w2.log" "$WORK/w2.err" || fail "w2 did not resume at the checkpoint"
sleep 3
W2_EVENTS=$(count w2)

# Every event of w1 re-raised by w2 carries the same id: w2's events on w1's
# frames (same frame, label, box cell, kind) have w1's ids, and most of w1's
# events are among them (both trackers started on the same frame).
$PY - "$WORK/out-w1/events.jsonl" "$WORK/out-w2/events.jsonl" "$LAST_W1" <<'PYEOF' || fail "event ids differ across the takeover"
import json, sys
def load(p):
    return [json.loads(l) for l in open(p)]
def key(e):
    b, f = e["bbox"], e["frame"]
    cell = (int((b["x"] + b["width"] / 2) / b["frame_width"] * 16), int((b["y"] + b["height"] / 2) / b["frame_height"] * 16))
    return (e["event_type"], e["label"], f["producer_timestamp"], cell)
w1, w2 = load(sys.argv[1]), load(sys.argv[2])
ids1, ids2 = {e["event_id"] for e in w1}, {e["event_id"] for e in w2}
by_key2 = {key(e): e["event_id"] for e in w2}
same = [e for e in w1 if e["event_id"] in ids2]
other = [e for e in w1 if key(e) in by_key2 and by_key2[key(e)] != e["event_id"]]
print(f"w1 {len(w1)} events, w2 {len(w2)}, re-raised with the same id {len(same)}, same frame and object but another id {len(other)}", file=sys.stderr)
if len(ids1) != len(w1) or len(ids2) != len(w2): sys.exit("an id was given twice by one worker")
if other: sys.exit(f"re-raised with another id: {[e['event_id'] for e in other]}")
if len(same) * 10 < len(w1) * 8: sys.exit(f"only {len(same)} of w1's {len(w1)} events re-raised with their ids")
PYEOF

# The frames each worker analysed, in order: producer times rise, and
# between frames of one connection (pts rising by under 5 s) by exactly what
# pts does. A picture given its packet's producer time (B-frames decode
# out of order) breaks it.
for w in w1 w2; do
  $PY - "$WORK/$w.log" "$w" <<'PYEOF' || fail "$w's frames do not follow the stream's timeline"
import json, re, sys
frames = []
for line in open(sys.argv[1]):
    if "analysing frame" not in line: continue
    m = re.search(r"pts (-?\d+) ms, producer (-?\d+) ms", json.loads(line)["msg"])
    frames.append((int(m.group(1)), int(m.group(2))))
if len(frames) < 5: sys.exit(f"{sys.argv[2]}: only {len(frames)} frames logged")
bad = [(a, b) for a, b in zip(frames, frames[1:])
       if b[1] <= a[1] or (0 < b[0] - a[0] < 5000 and abs((b[1] - a[1]) - (b[0] - a[0])) > 1)]
print(f"{sys.argv[2]}: {len(frames)} frames analysed, {len(bad)} off the timeline", file=sys.stderr)
if bad: sys.exit(f"off the timeline (pts, producer): {bad[:5]}")
PYEOF
done

# One DynamoDB item per event: every event either raised is there, and no two
# items are one event (the same frame, object and kind under two ids). w2 is
# stopped first (SIGTERM drains its spool), so that the events compared are
# the ones it has delivered, not ones raised after the count was taken.
kill -TERM "${WPID[w2]}"
wait "${WPID[w2]}" || fail "w2 exited $? after SIGTERM: $(tail -3 "$WORK/w2.err")"
wait_for 30 at_least ddb_items "$(cat "$WORK"/out-w[12]/events.jsonl | $PY -c 'import json,sys; print(len({json.loads(l)["event_id"] for l in sys.stdin}))')" ||
  fail "DynamoDB has $(ddb_items) items"
ITEMS=$($PY - "$NODE_DIR/aws_call.js" "$DDB" "$WORK"/out-w[12]/events.jsonl <<'PYEOF'
import json, subprocess, sys
def plain(a):
    (t, v), = a.items()
    return {"M": lambda: {k: plain(x) for k, x in v.items()}, "L": lambda: [plain(x) for x in v],
            "N": lambda: float(v), "NULL": lambda: None}.get(t, lambda: v)()
items, start = [], None
while True:
    req = {"TableName": "events", **({"ExclusiveStartKey": start} if start else {})}
    out = json.loads(subprocess.check_output(["node", sys.argv[1], "call", sys.argv[2], "dynamodb",
                                              "DynamoDB_20120810.Scan", json.dumps(req)]))
    items += [{k: plain(v) for k, v in it.items()} for it in out["Items"]]
    start = out.get("LastEvaluatedKey")
    if not start: break
def key(e):
    b = e["bbox"]
    cell = (int((b["x"] + b["width"] / 2) / b["frame_width"] * 16), int((b["y"] + b["height"] / 2) / b["frame_height"] * 16))
    return (e["event_type"], e["label"], e["frame"]["producer_timestamp"], cell)
ids = {e["event_id"] for e in items}
raised = {json.loads(l)["event_id"] for p in sys.argv[3:] for l in open(p)}
if raised - ids: sys.exit(f"events missing from DynamoDB: {sorted(raised - ids)}")
seen = {}
for e in items:
    if key(e) in seen: sys.exit(f"one event, two items: {seen[key(e)]} and {e['event_id']} {key(e)}")
    seen[key(e)] = e["event_id"]
print(len(items))
PYEOF
) || fail "DynamoDB does not hold one item per event"
CATCH=$(grep -ho 'caught up after the takeover[^"]*\|not gaining on the stream[^"]*' "$WORK/w2.log" "$WORK/w2.err" | head -1 || true)
echo "event ids: w1 $W1_EVENTS events, w2 $W2_EVENTS, DynamoDB $ITEMS items; w2: ${CATCH:-no catch-up end logged}"
