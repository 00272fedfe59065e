#!/usr/bin/env bash
# A spool left by the previous binary (record format v2, tests/fixtures/
# spool-v2) is delivered by this one: its four events reach every publisher
# their camera had then — the local folder, Kinesis, S3 (same keys under the
# old prefix, byte-identical images) and DynamoDB (typed items with the TTL) —
# although the publishers now read their own settings and the record stores
# them opaquely.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
FIX="$KVS_SOURCE_DIR/tests/fixtures/spool-v2"
KPORT=$(free_port); SPORT=$(free_port); DPORT=$(free_port); METRICS_PORT=$(free_port)
mkdir -p "$WORK/s3data" "$WORK/spool"
standin kinesalite kinesis "$KPORT"
standin s3rver s3 "$SPORT" "$WORK/s3data" legacy-bucket
standin dynalite dynamodb "$DPORT"
wait_ready kinesalite s3rver dynalite
EP="http://127.0.0.1:$KPORT"; S3EP="http://127.0.0.1:$SPORT"; DDBEP="http://127.0.0.1:$DPORT"
aws_call call "$EP" kinesis Kinesis_20131202.CreateStream '{"StreamName":"legacy-events","ShardCount":1}' >/dev/null
aws_call call "$DDBEP" dynamodb DynamoDB_20120810.CreateTable \
  '{"TableName":"legacy-table","AttributeDefinitions":[{"AttributeName":"event_id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"event_id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null
cp "$FIX"/spool/* "$WORK/spool/"
# Today's config has another camera and no publisher of the old ones: what
# the old events need is in their records. Their local_dir was relative.
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws:
  endpoints: {kinesis: "$EP", s3: "$S3EP", dynamodb: "$DDBEP"}
  s3_force_path_style: true
cameras:
  - name: quiet
    source: {mode: url, url: "$MEDIA", realtime: false}
    fps_limit: 0.5
    detectors: [{type: yolo, params: {model: "$MODEL", classes: [toothbrush]}}]
    publishers: {local_dir: "$WORK/today"}
YAML
(cd "$WORK" && timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err") ||
  fail "exit $?: $(tail -3 "$WORK/err")"
grep -q '4 event(s) from an earlier run to deliver' "$WORK/log" || fail "the old spool was not replayed: $(grep -m1 spool "$WORK/log")"
! grep -q 'unreadable' "$WORK/log" || fail "$(grep -m1 unreadable "$WORK/log")"
$CHECK delivered "$FIX/produced.log" "$WORK/legacy-out/events.jsonl"
grep '"camera_name":"front"' "$FIX/produced.log" >"$WORK/front.log"
aws_call kinesis-dump "$EP" legacy-events >"$WORK/stream.jsonl"
$CHECK delivered "$WORK/front.log" "$WORK/stream.jsonl" --same-as "$WORK/legacy-out/events.jsonl" \
  --ids "$WORK/ids" --s3list "$WORK/s3list" --bucket legacy-bucket --prefix old/ --images "$WORK/legacy-out"
[ "$(wc -l <"$WORK/stream.jsonl")" -eq 2 ] || fail "Kinesis holds $(wc -l <"$WORK/stream.jsonl") records, not front's 2"
aws_call s3-verify "$S3EP" legacy-bucket "$WORK/s3list" || fail "S3 objects"
aws_call ddb-verify "$DDBEP" legacy-table "$WORK/ids" "$WORK/legacy-out/events.jsonl" || fail "DynamoDB items"
$PY - "$WORK/stream.jsonl" <<'PYEOF' || fail "yard's events went to Kinesis"
import json, sys
assert all(json.loads(l)["partition_key"] == "front" for l in open(sys.argv[1]))
PYEOF
[ ! -s "$WORK/today/events.jsonl" ] || fail "old events went to today's folder"
echo PASS
