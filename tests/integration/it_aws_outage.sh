#!/usr/bin/env bash
# Kinesis unreachable for 30 s in the middle of a run: events keep being
# produced into the spool (its depth and the retries show in /metrics, and
# /readyz turns false once the publisher has failed for 30 s), nothing is
# lost, and the backlog drains once the service is back.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
NODE_DIR="$KVS_SOURCE_DIR/tests/standins"
[ -d "$NODE_DIR/node_modules/kinesalite" ] || skip "stand-ins not installed: run scripts/setup.sh"
export AWS_ACCESS_KEY_ID=AKIDOUTAGETEST AWS_SECRET_ACCESS_KEY=outage-test-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
KPORT=$(free_port); PPORT=$(free_port); METRICS_PORT=$(free_port)
node "$NODE_DIR/serve.js" kinesis "$KPORT" >"$WORK/kinesalite.log" 2>&1 &
PIDS+=($!)
start_proxy() {
  node "$NODE_DIR/sigv4_proxy.js" --port "$PPORT" --target "$KPORT" --secret "$AWS_SECRET_ACCESS_KEY" >>"$WORK/proxy.log" 2>&1 &
  PROXY_PID=$!
  PIDS+=($PROXY_PID)
}
start_proxy
wait_for 20 grep -q '"kind":"kinesis"' "$WORK/kinesalite.log" || fail "kinesalite did not start"
wait_for 20 grep -q ready "$WORK/proxy.log" || fail "proxy did not start"
EP="http://127.0.0.1:$PPORT"
node "$NODE_DIR/aws_call.js" call "$EP" kinesis Kinesis_20131202.CreateStream '{"StreamName":"ev","ShardCount":1}' >/dev/null
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws: {endpoints: {kinesis: "$EP"}}
cameras:
  - name: cam
    source: {mode: url, url: "$MEDIA", loop: true}
    fps_limit: 2
    publishers: {kinesis_stream_name: ev}
    detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
YAML
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 30 bash -c "[ \$(grep -c '\"msg\":\"event: ' '$WORK/log') -ge 3 ]" || fail "no events"
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
note "Kinesis unreachable from now for 30 s"
sleep 31
depth=$(metric 'kvs_infer_spool_records')
retries=$(metric 'kvs_infer_publisher_retries_total{publisher="kinesis"')
note "after 30 s down: spool depth $depth, retries $retries"
[ "$depth" -ge 1 ] || fail "the spool should hold the backlog"
[ "$retries" -ge 1 ] || fail "retries not counted"
# Readiness turns false once the publisher has failed for 30 s (counted from its
# first failed attempt, which waits for the first event after the cut).
not_ready() { ! http_get "http://127.0.0.1:$METRICS_PORT/readyz" >"$WORK/ready"; }
wait_for 30 not_ready || fail "/readyz should be 503 while the publisher fails"
note "readyz: $(cat "$WORK/ready")"
start_proxy
wait_for 20 bash -c "[ \$(grep -c ready '$WORK/proxy.log') -ge 2 ]" || fail "the proxy did not come back"
wait_for 90 bash -c "METRICS_PORT=$METRICS_PORT; . '$(dirname "$0")/lib.sh' >/dev/null; [ \$(metric 'kvs_infer_spool_records') = 0 ]" || fail "the backlog did not drain"
wait_for 30 http_get "http://127.0.0.1:$METRICS_PORT/readyz" || fail "never ready again"
kill -TERM "$KVS_PID"
wait "$KVS_PID" || fail "exit $?"
node "$NODE_DIR/aws_call.js" kinesis-dump "$EP" ev >"$WORK/stream.jsonl"
$PY - "$WORK/log" "$WORK/stream.jsonl" <<'PYEOF'
import json, sys
produced = [json.loads(l)["event_id"] for l in open(sys.argv[1]) if '"msg":"event: ' in l]
got = {json.loads(json.loads(l)["data"])["event_id"] for l in open(sys.argv[2])}
missing = set(produced) - got
assert not missing, f"{len(missing)} of {len(produced)} events lost in the outage"
print(f"all {len(produced)} events arrived after a 30 s outage")
PYEOF
echo PASS
