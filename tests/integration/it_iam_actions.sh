#!/usr/bin/env bash
# Least privilege, from what the binary really sends: one run of kvs-infer
# that uses every AWS path it has (KVS through HLS, HLS from the earliest
# fragment and GetMedia, the lease
# table of a cluster, Kinesis, S3 with SSE-KMS, DynamoDB, SNS with a
# presigned snapshot link, EventBridge) against the stand-ins, behind the
# signature-checking proxies and the KVS emulator, which record the IAM
# action of every correctly signed request ($KVS_ACTIONS_RECORD). The
# presigned link is opened too (kvs-infer's signature, its permission).
# check_iam.py then holds the documented and shipped policies (docs,
# deploy/iam, the CloudFormation task role, every action named in README,
# docs and deploy) to that set: nothing missing, nothing extra. Last, a
# policy with one action removed, one with an action added and a task role
# without one must fail.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
need_standins
$PY -c 'import yaml' 2>/dev/null || need "python3-yaml is missing"
# s3rver accepts only this key pair; the proxies and the emulator check every signature with it.
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
export KVS_ACTIONS_RECORD="$WORK/actions.jsonl"
: >"$KVS_ACTIONS_RECORD"
TOPIC=arn:aws:sns:us-east-1:123456789012:alerts
KEY=arn:aws:kms:us-east-1:123456789012:key/0b7e6c1e-7c4f-4a34-9e0a-000000000001
EPORT=$(free_port); KPORT=$(free_port); KPPORT=$(free_port); SPORT=$(free_port); SPPORT=$(free_port)
DPORT=$(free_port); DPPORT=$(free_port); APORT=$(free_port); APPORT=$(free_port); METRICS_PORT=$(free_port)
mkdir -p "$WORK/s3data"
kvs_emulator emulator "$EPORT" s1,s2 --history-s 30
standin kinesalite kinesis "$KPORT"
standin s3rver s3 "$SPORT" "$WORK/s3data" snapshots
standin dynalite dynamodb "$DPORT"
alerts_standin alerts "$APORT" "$WORK/requests.jsonl" --topics "$TOPIC" --buses alerts
sigv4_proxy proxy-k "$KPPORT" "$KPORT" "$AWS_SECRET_ACCESS_KEY"
sigv4_proxy proxy-s3 "$SPPORT" "$SPORT" "$AWS_SECRET_ACCESS_KEY"
sigv4_proxy proxy-ddb "$DPPORT" "$DPORT" "$AWS_SECRET_ACCESS_KEY"
sigv4_proxy proxy-alerts "$APPORT" "$APORT" "$AWS_SECRET_ACCESS_KEY"
wait_ready emulator kinesalite s3rver dynalite alerts proxy-k proxy-s3 proxy-ddb proxy-alerts
# The test's own set-up goes to the stand-ins directly: only kvs-infer's calls are recorded.
# (The lease table is left for kvs-infer to create, as it does when it is missing.)
aws_call call "http://127.0.0.1:$KPORT" kinesis Kinesis_20131202.CreateStream '{"StreamName":"detections","ShardCount":1}' >/dev/null
aws_call call "http://127.0.0.1:$DPORT" dynamodb DynamoDB_20120810.CreateTable \
  '{"TableName":"detections","AttributeDefinitions":[{"AttributeName":"event_id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"event_id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null
P="http://127.0.0.1"
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
ui: {token: "iam-actions-$$"}
spool: {dir: "$WORK/spool"}
cluster: {lease_table: leases, worker_id: w1, lease_seconds: 4}
aws:
  endpoints: {kinesisvideo: "$P:$EPORT", kinesis: "$P:$KPPORT", s3: "$P:$SPPORT", dynamodb: "$P:$DPPORT", sns: "$P:$APPORT", events: "$P:$APPORT"}
  s3_force_path_style: true
defaults:
  fps_limit: 1
  clip: {pre_seconds: 1, post_seconds: 1} # clip.mp4 to S3, the clip_ready update to DynamoDB
  publishers:
    kinesis_stream_name: detections
    s3_bucket: snapshots
    s3_prefix: kvs-infer/
    s3_sse: aws:kms
    s3_kms_key_id: "$KEY"
    dynamodb_table: detections
    sns: {topic_arn: "$TOPIC", link_seconds: 600}
    eventbridge: {bus: alerts}
    local_dir: "$WORK/out"
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - {name: hls, stream_name: s1, source: {mode: hls}}
  - {name: gm, stream_name: s2, source: {mode: getmedia}}
  - {name: oldest, stream_name: s1, source: {mode: hls, start: earliest}}
  - {name: archive, stream_name: s2, source: {mode: getmedia}, clip: {from: kvs, pre_seconds: 1, post_seconds: 1}}
YAML
run_bg "$WORK/c.yaml" "$WORK/log"
# Both cameras produced events and an alert went out; SIGTERM then drains the spool.
wait_for 120 bash -c "grep -q '\"camera_name\":\"hls\"' '$WORK/out/events.jsonl' && grep -q '\"camera_name\":\"gm\"' '$WORK/out/events.jsonl' && grep -q Publish '$WORK/requests.jsonl'" ||
  fail "no events from both cameras: $(tail -3 "$WORK/log.err")"
# An archived clip played through the page's API: GetClip and an HLS session on the archive.
ARCH_ID=$(grep -m1 '"camera_name":"archive"' "$WORK/out/events.jsonl" 2>/dev/null |
  $PY -c 'import json,sys; print(json.loads(sys.stdin.readline())["event_id"])' 2>/dev/null || true)
if [ -z "$ARCH_ID" ]; then
  wait_for 60 grep -q '"camera_name":"archive"' "$WORK/out/events.jsonl" || fail "no event from the archive camera"
  ARCH_ID=$(grep -m1 '"camera_name":"archive"' "$WORK/out/events.jsonl" | $PY -c 'import json,sys; print(json.loads(sys.stdin.readline())["event_id"])')
fi
ARCH_API="http://127.0.0.1:$METRICS_PORT/api/v1/events/$ARCH_ID"
got_clip() { curl -sf -H "Authorization: Bearer iam-actions-$$" -o "$WORK/archive.mp4" "$ARCH_API/clip.mp4"; }
wait_for 30 got_clip || fail "the archived clip: $(curl -s -H "Authorization: Bearer iam-actions-$$" "$ARCH_API/clip.mp4" | head -c 300)"
curl -sf -H "Authorization: Bearer iam-actions-$$" "$ARCH_API/clip-hls" >/dev/null || fail "the archived clip's HLS link"
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "exit $? after SIGTERM: $(tail -3 "$WORK/log.err")"
# The snapshot link of an alert, opened as its reader would (through the proxy).
$PY - "$WORK/requests.jsonl" <<'PYEOF' || fail "the snapshot link"
import json, sys, urllib.parse, urllib.request
for line in open(sys.argv[1]):
    form = dict(urllib.parse.parse_qsl(json.loads(line)["body"]))
    links = [l.split(": ", 1)[1] for l in form.get("Message", "").split("\n") if l.startswith("Snapshot (link valid")]
    if links:
        with urllib.request.urlopen(links[0], timeout=10) as r:
            assert r.read()[:2] == b"\xff\xd8", "not a JPEG"
        sys.exit(0)
sys.exit("no alert carried a snapshot link")
PYEOF
for ep in "$P:$KPPORT" "$P:$SPPORT" "$P:$DPPORT" "$P:$APPORT"; do
  stats=$(http_get "$ep/__proxy/stats")
  $PY -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["checked"] > 0 and s["rejected"] == 0, s' "$stats" || fail "proxy $ep: $stats"
done
$PY "$KVS_SOURCE_DIR/tests/integration/check_iam.py" "$KVS_ACTIONS_RECORD" "$KVS_SOURCE_DIR" || fail "IAM policies"

# The check can fail: the shipped policy less one action, and plus one.
$PY - "$KVS_SOURCE_DIR/deploy/iam/kvs-infer-policy.json" "$WORK" <<'PYEOF'
import copy, json, sys
p = json.load(open(sys.argv[1]))
less = copy.deepcopy(p)
st = next(s for s in less["Statement"] if "kinesis:PutRecords" in s["Action"])
st["Action"].remove("kinesis:PutRecords")
if not st["Action"]:
    less["Statement"].remove(st)
json.dump(less, open(sys.argv[2] + "/less.json", "w"))
more = copy.deepcopy(p)
next(s for s in more["Statement"] if "dynamodb:PutItem" in s["Action"])["Action"].append("dynamodb:DeleteItem")
json.dump(more, open(sys.argv[2] + "/more.json", "w"))
PYEOF
for bad in less more; do
  if $PY "$KVS_SOURCE_DIR/tests/integration/check_iam.py" "$KVS_ACTIONS_RECORD" "$KVS_SOURCE_DIR" \
       --policy "$WORK/$bad.json" 2>"$WORK/$bad.err"; then
    fail "a policy with $bad actions passed the check"
  fi
  note "$bad: $(tail -1 "$WORK/$bad.err")"
done
# The CloudFormation task role without PutRecords.
grep -v '^ *Action: \[kinesis:PutRecords\]$' "$KVS_SOURCE_DIR/deploy/cloudformation/kvs-infer.yaml" \
  | sed 's/^\( *\)Sid: PutEvents$/\1Sid: PutEvents\n\1Action: []/' >"$WORK/less.yaml"
if $PY "$KVS_SOURCE_DIR/tests/integration/check_iam.py" "$KVS_ACTIONS_RECORD" "$KVS_SOURCE_DIR" \
     --template "$WORK/less.yaml" 2>"$WORK/less-cfn.err"; then
  fail "a task role without kinesis:PutRecords passed the check"
fi
note "template less: $(tail -1 "$WORK/less-cfn.err")"
grep -q "lacks \['kinesis:PutRecords'\]" "$WORK/less-cfn.err" || fail "CloudFormation: $(cat "$WORK/less-cfn.err")"
grep -q "missing \['kinesis:PutRecords'\]" "$WORK/less.err" || fail "the removed action was not named: $(cat "$WORK/less.err")"
grep -q "never needed: \['dynamodb:DeleteItem'\]" "$WORK/more.err" || fail "the added action was not named: $(cat "$WORK/more.err")"
echo PASS
