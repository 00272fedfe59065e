#!/usr/bin/env bash
# Events to Kinesis Data Streams: the real binary on real footage publishes
# through the signature-checking proxy (AWS's own signer recomputes every
# signature and answers 403 on a mismatch) into kinesalite; the test reads the
# stream back and finds every event (exactly once or more, none missing,
# partition key = camera). No secret appears in anything kvs-infer printed.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
NODE_DIR="$KVS_SOURCE_DIR/tests/standins"
[ -d "$NODE_DIR/node_modules/kinesalite" ] || skip "stand-ins not installed: run scripts/setup.sh"
export AWS_ACCESS_KEY_ID=AKIDKVSINFERTEST AWS_SECRET_ACCESS_KEY=kvs-infer-test-secret-d41d8cd98f00b204
unset AWS_SESSION_TOKEN AWS_PROFILE
KPORT=$(free_port); PPORT=$(free_port); METRICS_PORT=$(free_port)
node "$NODE_DIR/serve.js" kinesis "$KPORT" >"$WORK/kinesalite.log" 2>&1 &
PIDS+=($!)
node "$NODE_DIR/sigv4_proxy.js" --port "$PPORT" --target "$KPORT" --secret "$AWS_SECRET_ACCESS_KEY" >"$WORK/proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=($PROXY_PID)
wait_for 20 grep -q ready "$WORK/kinesalite.log" || fail "kinesalite did not start"
wait_for 20 grep -q ready "$WORK/proxy.log" || fail "proxy did not start"
EP="http://127.0.0.1:$PPORT"
node "$NODE_DIR/aws_call.js" call "$EP" kinesis Kinesis_20131202.CreateStream '{"StreamName":"detections","ShardCount":2}' >/dev/null
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws:
  endpoints: {kinesis: "$EP"}
defaults:
  source: {mode: url, url: "$MEDIA", realtime: false}
  fps_limit: 2
  publishers: {kinesis_stream_name: detections, local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - name: front
  - name: back
YAML
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?: $(tail -3 "$WORK/err")"
node "$NODE_DIR/aws_call.js" kinesis-dump "$EP" detections >"$WORK/stream.jsonl"
$PY - "$WORK/log" "$WORK/stream.jsonl" "$WORK/out/events.jsonl" <<'PYEOF'
import json, sys
produced = [json.loads(l)["event_id"] for l in open(sys.argv[1]) if '"msg":"event: ' in l]
recs = [json.loads(l) for l in open(sys.argv[2])]
got = {}
for r in recs:
    e = json.loads(r["data"])
    assert r["partition_key"] == e["camera_name"], r
    got[e["event_id"]] = e
missing = set(produced) - set(got)
assert produced and not missing, f"{len(missing)} of {len(produced)} events missing from Kinesis"
local = {json.loads(l)["event_id"]: json.loads(l) for l in open(sys.argv[3])}
assert all(got[i] == local[i] for i in produced), "Kinesis and the local sink disagree"
print(f"{len(produced)} events produced, {len(recs)} records in Kinesis, none missing")
PYEOF
stats=$(http_get "$EP/__proxy/stats")
note "proxy: $stats"
$PY -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["checked"] > 0 and s["rejected"] == 0, s' "$stats"
! grep -rq "$AWS_SECRET_ACCESS_KEY" "$WORK/log" "$WORK/err" || fail "the secret appeared in the output"

# The same through a proxy that throttles 20% and fails 10% of the requests:
# everything still arrives, and the retries are counted.
FPORT=$(free_port)
node "$NODE_DIR/sigv4_proxy.js" --port "$FPORT" --target "$KPORT" --secret "$AWS_SECRET_ACCESS_KEY" \
  --throttle 0.2 --errors 0.1 --seed 7 >"$WORK/proxy2.log" 2>&1 &
PIDS+=($!)
wait_for 20 grep -q ready "$WORK/proxy2.log" || fail "faulty proxy did not start"
node "$NODE_DIR/aws_call.js" call "$EP" kinesis Kinesis_20131202.CreateStream '{"StreamName":"faulty","ShardCount":1}' >/dev/null
sed -e "s#$EP#http://127.0.0.1:$FPORT#" -e 's/kinesis_stream_name: detections/kinesis_stream_name: faulty/' \
  -e "s#$WORK/spool#$WORK/spool2#" -e "s#$WORK/out#$WORK/out2#" -e 's/fps_limit: 2/fps_limit: 1/' "$WORK/c.yaml" >"$WORK/c2.yaml"
run_bg "$WORK/c2.yaml" "$WORK/log2"
wait_for 240 bash -c "! kill -0 $KVS_PID 2>/dev/null" || fail "the faulty run did not finish"
wait "$KVS_PID" || fail "faulty run exit $?"
node "$NODE_DIR/aws_call.js" kinesis-dump "$EP" faulty >"$WORK/stream2.jsonl"
$PY - "$WORK/log2" "$WORK/stream2.jsonl" <<'PYEOF'
import json, sys
produced = [json.loads(l)["event_id"] for l in open(sys.argv[1]) if '"msg":"event: ' in l]
got = {json.loads(json.loads(l)["data"])["event_id"] for l in open(sys.argv[2])}
missing = set(produced) - got
assert produced and not missing, f"{len(missing)} of {len(produced)} events lost to injected faults"
print(f"with faults: all {len(produced)} events arrived")
PYEOF
stats=$(http_get "http://127.0.0.1:$FPORT/__proxy/stats")
note "faulty proxy: $stats"
$PY -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["throttled"] > 0 and s["failed"] > 0 and s["rejected"] == 0, s' "$stats"
echo PASS
