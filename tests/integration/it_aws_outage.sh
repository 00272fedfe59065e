#!/usr/bin/env bash
# A stand-in stopped for 30 s in the middle of a run: s3rver goes down (and
# with it every event, since an event naming images waits for their upload).
# Events keep being produced into the spool (its depth and the retries show in
# /metrics, /readyz turns false once a publisher has failed for 30 s), nothing
# is lost, and the backlog drains once s3rver is back on the same data.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
NODE_DIR="$KVS_SOURCE_DIR/tests/standins"
[ -d "$NODE_DIR/node_modules/kinesalite" ] || skip "stand-ins not installed: run scripts/setup.sh"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
KPORT=$(free_port); PPORT=$(free_port); METRICS_PORT=$(free_port); SPORT=$(free_port); SPPORT=$(free_port)
mkdir -p "$WORK/s3data"
node "$NODE_DIR/serve.js" kinesis "$KPORT" >"$WORK/kinesalite.log" 2>&1 &
PIDS+=($!)
start_s3() {
  node "$NODE_DIR/serve.js" s3 "$SPORT" "$WORK/s3data" snaps >>"$WORK/s3rver.log" 2>&1 &
  S3_PID=$!
  PIDS+=($S3_PID)
}
start_s3
node "$NODE_DIR/sigv4_proxy.js" --port "$PPORT" --target "$KPORT" --secret "$AWS_SECRET_ACCESS_KEY" >"$WORK/proxy.log" 2>&1 &
PIDS+=($!)
node "$NODE_DIR/sigv4_proxy.js" --port "$SPPORT" --target "$SPORT" --secret "$AWS_SECRET_ACCESS_KEY" >"$WORK/proxy-s3.log" 2>&1 &
PIDS+=($!)
for f in kinesalite s3rver proxy proxy-s3; do wait_for 20 grep -q ready "$WORK/$f.log" || fail "$f did not start"; done
EP="http://127.0.0.1:$PPORT"; S3EP="http://127.0.0.1:$SPPORT"
node "$NODE_DIR/aws_call.js" call "$EP" kinesis Kinesis_20131202.CreateStream '{"StreamName":"ev","ShardCount":1}' >/dev/null
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws: {endpoints: {kinesis: "$EP", s3: "$S3EP"}, s3_force_path_style: true}
cameras:
  - name: cam
    source: {mode: url, url: "$MEDIA", loop: true}
    fps_limit: 2
    publishers: {kinesis_stream_name: ev, s3_bucket: snaps, local_dir: "$WORK/out"}
    detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
YAML
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 30 bash -c "[ \$(grep -c '\"msg\":\"event: ' '$WORK/log') -ge 3 ]" || fail "no events"
kill "$S3_PID"; wait "$S3_PID" 2>/dev/null || true
note "s3rver stopped for 30 s"
sleep 31
depth=$(metric 'kvs_infer_spool_records')
retries=$(metric 'kvs_infer_publisher_retries_total{publisher="s3"')
note "after 30 s down: spool depth $depth, retries $retries"
[ "$depth" -ge 1 ] || fail "the spool should hold the backlog"
[ "$retries" -ge 1 ] || fail "retries not counted"
# Readiness turns false once the publisher has failed for 30 s (counted from its
# first failed attempt, which waits for the first event after the cut).
not_ready() { ! http_get "http://127.0.0.1:$METRICS_PORT/readyz" >"$WORK/ready"; }
wait_for 30 not_ready || fail "/readyz should be 503 while the publisher fails"
note "readyz: $(cat "$WORK/ready")"
start_s3
wait_for 20 bash -c "[ \$(grep -c ready '$WORK/s3rver.log') -ge 2 ]" || fail "s3rver did not come back"
wait_for 90 bash -c "METRICS_PORT=$METRICS_PORT; . '$(dirname "$0")/lib.sh' >/dev/null; [ \$(metric 'kvs_infer_spool_records') = 0 ]" || fail "the backlog did not drain"
wait_for 30 http_get "http://127.0.0.1:$METRICS_PORT/readyz" || fail "never ready again"
kill -TERM "$KVS_PID"
wait "$KVS_PID" || fail "exit $?"
node "$NODE_DIR/aws_call.js" kinesis-dump "$EP" ev >"$WORK/stream.jsonl"
$PY - "$WORK/log" "$WORK/stream.jsonl" "$WORK" <<'PYEOF'
import json, sys
produced = [json.loads(l)["event_id"] for l in open(sys.argv[1]) if '"msg":"event: ' in l]
events = {}
for l in open(sys.argv[2]):
    e = json.loads(json.loads(l)["data"])
    events[e["event_id"]] = e
missing = set(produced) - set(events)
assert not missing, f"{len(missing)} of {len(produced)} events lost in the outage"
with open(sys.argv[3] + "/s3list", "w") as f:
    for i in produced:
        for ref in [events[i]["snapshot"]] + events[i]["crops"]:
            key = ref[len("s3://snaps/"):]
            f.write(f"{key}\t{sys.argv[3]}/out/{key}\n")
print(f"all {len(produced)} events arrived after a 30 s outage")
PYEOF
node "$NODE_DIR/aws_call.js" s3-verify "$S3EP" snaps "$WORK/s3list" || fail "S3 objects after the outage"
echo PASS
