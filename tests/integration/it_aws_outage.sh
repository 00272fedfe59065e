#!/usr/bin/env bash
# A stand-in stopped for 30 s in the middle of a run: s3rver goes down (and
# with it every event, since an event naming images waits for their upload).
# Events keep being produced into the spool (its depth and the retries show in
# /metrics, /readyz turns false once a publisher has failed for 30 s), nothing
# is lost, and the backlog drains once s3rver is back on the same data.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
KPORT=$(free_port); PPORT=$(free_port); METRICS_PORT=$(free_port); SPORT=$(free_port); SPPORT=$(free_port)
mkdir -p "$WORK/s3data"
standin kinesalite kinesis "$KPORT"
start_s3() {
  standin s3rver s3 "$SPORT" "$WORK/s3data" snaps
  S3_PID=$LAST_PID
}
start_s3
sigv4_proxy proxy "$PPORT" "$KPORT" "$AWS_SECRET_ACCESS_KEY"
sigv4_proxy proxy-s3 "$SPPORT" "$SPORT" "$AWS_SECRET_ACCESS_KEY"
wait_ready kinesalite s3rver proxy proxy-s3
EP="http://127.0.0.1:$PPORT"; S3EP="http://127.0.0.1:$SPPORT"
aws_call call "$EP" kinesis Kinesis_20131202.CreateStream '{"StreamName":"ev","ShardCount":1}' >/dev/null
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
wait_for 60 bash -c "[ \$(grep -c ready '$WORK/s3rver.log') -ge 2 ]" || fail "s3rver did not come back: $(tail -3 "$WORK/s3rver.log")"
wait_for 90 bash -c "METRICS_PORT=$METRICS_PORT; . '$(dirname "$0")/lib.sh' >/dev/null; [ \$(metric 'kvs_infer_spool_records') = 0 ]" || fail "the backlog did not drain"
wait_for 30 http_get "http://127.0.0.1:$METRICS_PORT/readyz" || fail "never ready again"
kill -TERM "$KVS_PID"
wait "$KVS_PID" || fail "exit $?"
aws_call kinesis-dump "$EP" ev >"$WORK/stream.jsonl"
$CHECK delivered "$WORK/log" "$WORK/stream.jsonl" --s3list "$WORK/s3list" --bucket snaps --images "$WORK/out"
aws_call s3-verify "$S3EP" snaps "$WORK/s3list" || fail "S3 objects after the outage"
echo PASS
