#!/usr/bin/env bash
# A kill -9 during a post-roll (docs/publishing.md "Clips", "A crash"): the
# pending clips' packets were only in memory, but each event that named one
# left an entry in {spool.dir}/clips-pending, and the next start sends the
# clip_ready record its consumer waits for. A file camera's says `lost` with
# the reason; a KVS camera's (stored clips, not from: kvs) names the range of
# its stream's archive instead (`archived`, as clip.from kvs would). Checked
# in the local sink, on Kinesis (kinesalite) and in the DynamoDB items
# (dynalite); the journal is empty afterwards.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
KPORT=$(free_port); DPORT=$(free_port); EPORT=$(free_port)
standin kinesalite kinesis "$KPORT"
standin dynalite dynamodb "$DPORT"
kvs_emulator emulator "$EPORT" s1
wait_ready kinesalite dynalite emulator
KEP="http://127.0.0.1:$KPORT"; DEP="http://127.0.0.1:$DPORT"
aws_call call "$KEP" kinesis Kinesis_20131202.CreateStream '{"StreamName":"ev","ShardCount":1}' >/dev/null
aws_call call "$DEP" dynamodb DynamoDB_20120810.CreateTable \
  '{"TableName":"events","AttributeDefinitions":[{"AttributeName":"event_id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"event_id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null
sleep 1 # kinesalite's CreateStream takes effect after a short delay
config() { # $1: file, $2: detectors' threshold
  cat >"$1" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
aws: {endpoints: {kinesis: "$KEP", dynamodb: "$DEP", kinesisvideo: "http://127.0.0.1:$EPORT"}}
defaults:
  fps_limit: 1
  clip: {pre_seconds: 2, post_seconds: 60}
  publishers: {kinesis_stream_name: ev, dynamodb_table: events, local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: $2, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - name: file
    source: {mode: url, url: "$MEDIA", realtime: true, loop: true}
  - name: kvs
    stream_name: s1
    source: {mode: getmedia}
YAML
}
config "$WORK/c1.yaml" 0.5
run_bg "$WORK/c1.yaml" "$WORK/log1"
# Both cameras have published an event whose clip waits for its 60 s post-roll.
both_pending() {
  $PY - "$WORK/out/events.jsonl" <<'PYEOF'
import json, sys
cams = {json.loads(l)["camera_name"] for l in open(sys.argv[1])
        if json.loads(l)["event_type"] == "object" and json.loads(l)["clip"]["status"] == "pending"}
sys.exit(0 if cams >= {"file", "kvs"} else 1)
PYEOF
}
pending_or_gone() { both_pending || ! kill -0 "$KVS_PID"; }
wait_for 50 pending_or_gone; both_pending || fail "no pending clip on both cameras: $(tail -5 "$WORK/log1.err")"
kill -KILL "$KVS_PID"; wait "$KVS_PID" 2>/dev/null || true
ls "$WORK/spool/clips-pending"/*.json >/dev/null 2>&1 || fail "no journal entry left by the killed process"
cp "$WORK/out/events.jsonl" "$WORK/before.jsonl"

# The restart sees nothing new (threshold 0.999) and resolves every entry.
config "$WORK/c2.yaml" 0.999
run_bg "$WORK/c2.yaml" "$WORK/log2"
resolved() { [ -z "$(ls -A "$WORK/spool/clips-pending")" ] && grep -q clip_ready "$WORK/out/events.jsonl"; }
wait_for 60 resolved || fail "the journal was not resolved: $(ls "$WORK/spool/clips-pending"); $(tail -5 "$WORK/log2.err")"
grep -q 'clip(s) were pending when an earlier run stopped' "$WORK/log2" "$WORK/log2.err" || fail "the resolution is not logged"
sleep 3 # Kinesis and DynamoDB deliver from the spool
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "second run: exit $?: $(tail -3 "$WORK/log2.err")"
aws_call kinesis-dump "$KEP" ev >"$WORK/stream.jsonl"
aws_call call "$DEP" dynamodb DynamoDB_20120810.Scan '{"TableName":"events"}' >"$WORK/items.json"
$PY - "$WORK/out/events.jsonl" "$WORK/stream.jsonl" "$WORK/items.json" <<'PYEOF' || fail "the pending clips' records"
import json, sys
from datetime import datetime
local = [json.loads(l) for l in open(sys.argv[1])]
kin = [json.loads(json.loads(l)["data"]) for l in open(sys.argv[2]) if l.strip()]
items = {i["event_id"]["S"]: i for i in json.load(open(sys.argv[3]))["Items"]}
pending = {e["event_id"]: e for e in local if e["event_type"] == "object" and e["clip"]["status"] == "pending"}
assert pending
def ts(s): return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
for where, records in (("local", local), ("kinesis", kin)):
    ready = [r for r in records if r["event_type"] == "clip_ready"]
    assert sorted(r["event_id"] for r in ready) == sorted(pending), (where, ready, list(pending))
    for r in ready:
        c, ev = r["clip"], pending[r["event_id"]]
        assert c["reason"] == "the process stopped before the post-roll ended", (where, c)
        if r["camera_name"] == "file":
            assert c["status"] == "lost", (where, c)
        else:  # the archive holds the range asked for: 2 s before the frame, 60 s after
            assert c["status"] == "archived", (where, c)
            k, at = c["kvs"], ts(ev["frame"]["producer_timestamp"])
            assert k["stream"] == "s1" and abs(k["start"] - (at - 2)) < 0.01 and abs(k["end"] - (at + 60)) < 0.01, (c, at)
            assert "path" not in c and "key" not in c, c
        assert items[r["event_id"]]["clip"]["M"]["status"]["S"] == c["status"], items[r["event_id"]]
print(f"{len(pending)} pending clip(s) resolved: " + ", ".join(sorted({e['camera_name'] for e in pending.values()})))
PYEOF
echo PASS
