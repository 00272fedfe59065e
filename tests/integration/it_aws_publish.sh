#!/usr/bin/env bash
# Events to AWS: the real binary on real footage publishes through
# signature-checking proxies (AWS's own signer recomputes every signature and
# answers 403 on a mismatch) into kinesalite, s3rver and dynalite; the test
# reads everything back: every event in the stream (once or more, partition key
# = camera), its images in S3 byte-identical to what was produced, its item in
# DynamoDB. No secret appears in anything kvs-infer printed.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
# s3rver accepts only this key pair; the proxies check every signature with it.
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
KPORT=$(free_port); PPORT=$(free_port); METRICS_PORT=$(free_port)
SPORT=$(free_port); SPPORT=$(free_port); DPORT=$(free_port); DPPORT=$(free_port)
mkdir -p "$WORK/s3data"
standin kinesalite kinesis "$KPORT"
standin s3rver s3 "$SPORT" "$WORK/s3data" snapshots
standin dynalite dynamodb "$DPORT"
sigv4_proxy proxy "$PPORT" "$KPORT" "$AWS_SECRET_ACCESS_KEY"
sigv4_proxy proxy-s3 "$SPPORT" "$SPORT" "$AWS_SECRET_ACCESS_KEY"
sigv4_proxy proxy-ddb "$DPPORT" "$DPORT" "$AWS_SECRET_ACCESS_KEY"
wait_ready kinesalite s3rver dynalite proxy proxy-s3 proxy-ddb
EP="http://127.0.0.1:$PPORT"; S3EP="http://127.0.0.1:$SPPORT"; DDBEP="http://127.0.0.1:$DPPORT"
aws_call call "$EP" kinesis Kinesis_20131202.CreateStream '{"StreamName":"detections","ShardCount":2}' >/dev/null
aws_call call "$DDBEP" dynamodb DynamoDB_20120810.CreateTable \
  '{"TableName":"detections","AttributeDefinitions":[{"AttributeName":"event_id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"event_id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws:
  endpoints: {kinesis: "$EP", s3: "$S3EP", dynamodb: "$DDBEP"}
  s3_force_path_style: true
defaults:
  source: {mode: url, url: "$MEDIA", realtime: false}
  fps_limit: 2
  publishers: {kinesis_stream_name: detections, s3_bucket: snapshots, s3_prefix: kvs-infer/, s3_sse: AES256, dynamodb_table: detections, dynamodb_ttl_days: 30, local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - name: front
  - name: back
YAML
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?: $(tail -3 "$WORK/err")"
aws_call kinesis-dump "$EP" detections >"$WORK/stream.jsonl"
$CHECK delivered "$WORK/log" "$WORK/stream.jsonl" --same-as "$WORK/out/events.jsonl" --ids "$WORK/ids" \
  --s3list "$WORK/s3list" --bucket snapshots --prefix kvs-infer/ --images "$WORK/out"
aws_call s3-verify "$S3EP" snapshots "$WORK/s3list" || fail "S3 objects"
aws_call ddb-verify "$DDBEP" detections "$WORK/ids" "$WORK/out/events.jsonl" || fail "DynamoDB items"
for ep in "$EP" "$S3EP" "$DDBEP"; do
  stats=$(http_get "$ep/__proxy/stats")
  note "proxy $ep: $stats"
  $PY -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["checked"] > 0 and s["rejected"] == 0, s' "$stats"
done
! grep -rq "$AWS_SECRET_ACCESS_KEY" "$WORK/log" "$WORK/err" || fail "the secret appeared in the output"

# The same through a proxy that throttles 20% and fails 10% of the requests:
# everything still arrives, and the retries are counted.
FPORT=$(free_port)
sigv4_proxy proxy2 "$FPORT" "$KPORT" "$AWS_SECRET_ACCESS_KEY" --throttle 0.2 --errors 0.1 --seed 7
wait_ready proxy2
aws_call call "$EP" kinesis Kinesis_20131202.CreateStream '{"StreamName":"faulty","ShardCount":1}' >/dev/null
sed -e "s#kinesis: \"$EP\"#kinesis: \"http://127.0.0.1:$FPORT\"#" -e 's/kinesis_stream_name: detections/kinesis_stream_name: faulty/' \
  -e "s#$WORK/spool#$WORK/spool2#" -e "s#$WORK/out#$WORK/out2#" -e 's/fps_limit: 2/fps_limit: 1/' "$WORK/c.yaml" >"$WORK/c2.yaml"
run_bg "$WORK/c2.yaml" "$WORK/log2"
wait_for 240 bash -c "! kill -0 $KVS_PID 2>/dev/null" || fail "the faulty run did not finish"
wait "$KVS_PID" || fail "faulty run exit $?"
aws_call kinesis-dump "$EP" faulty >"$WORK/stream2.jsonl"
$CHECK delivered "$WORK/log2" "$WORK/stream2.jsonl"
stats=$(http_get "http://127.0.0.1:$FPORT/__proxy/stats")
note "faulty proxy: $stats"
$PY -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["throttled"] > 0 and s["failed"] > 0 and s["rejected"] == 0, s' "$stats"
echo PASS
