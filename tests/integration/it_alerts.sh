#!/usr/bin/env bash
# Alerts to SNS and EventBridge: the real binary on real footage publishes
# through the signature-checking proxy (AWS's own signer) into the
# SNS/EventBridge stand-in, under faults: the proxy throttles and fails a
# share of the calls, the stand-in has a 5xx outage and fails a share of the
# PutEvents entries. Every produced event must arrive (SNS FIFO: once, by
# deduplication id; EventBridge: each entry accepted once, failed ones resent
# alone), every request must equal botocore's serialisation of the same call,
# and the presigned snapshot link in each SNS message must open the snapshot
# (the proxy re-checks the presigned signature, s3rver serves the bytes).
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
$PY -c 'import botocore' 2>/dev/null || skip "python3-botocore is missing: run scripts/setup.sh"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
TOPIC=arn:aws:sns:us-east-1:123456789012:alerts.fifo
SPORT=$(free_port); SPPORT=$(free_port); APORT=$(free_port); APPORT=$(free_port); METRICS_PORT=$(free_port)
mkdir -p "$WORK/s3data"
standin s3rver s3 "$SPORT" "$WORK/s3data" snapshots
sigv4_proxy proxy-s3 "$SPPORT" "$SPORT" "$AWS_SECRET_ACCESS_KEY"
alerts_standin alerts "$APORT" "$WORK/requests.jsonl" --topics "$TOPIC" --buses alerts \
  --partial 0.25 --storm-at 6 --storm-len 8 --seed 3
sigv4_proxy proxy-alerts "$APPORT" "$APORT" "$AWS_SECRET_ACCESS_KEY" --throttle 0.15 --errors 0.1 --seed 5
wait_ready s3rver proxy-s3 alerts proxy-alerts
S3EP="http://127.0.0.1:$SPPORT"; AEP="http://127.0.0.1:$APPORT"
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws:
  endpoints: {s3: "$S3EP", sns: "$AEP", events: "$AEP"}
  s3_force_path_style: true
defaults:
  source: {mode: url, url: "$MEDIA", realtime: false}
  fps_limit: 0.5
  publishers:
    s3_bucket: snapshots
    s3_prefix: kvs-infer/
    local_dir: "$WORK/out"
    sns: {topic_arn: "$TOPIC", link_seconds: 3600}
    eventbridge: {bus: alerts}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras: [{name: front}, {name: back}, {name: yard}, {name: gate}]
YAML
"$KVS_BIN" --config "$WORK/c.yaml" --validate >/dev/null || fail "the config does not validate"
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?: $(tail -3 "$WORK/err")"
# Failed entries back off per camera, so a few may still be in the spool when
# the drain ends: a restart on the same spool (detecting nothing new) sends them.
sed -e 's/confidence_threshold: 0.5/confidence_threshold: 0.999/' "$WORK/c.yaml" >"$WORK/c2.yaml"
note "left in the spool after the first run: $(grep -o '[0-9]* event(s) not yet delivered' "$WORK/log" || echo none)"
RESTART_AT=$(wc -l <"$WORK/requests.jsonl")
timeout 300 "$KVS_BIN" --config "$WORK/c2.yaml" >"$WORK/log2" 2>"$WORK/err2" || fail "restart exit $?: $(tail -3 "$WORK/err2")"
! grep -q 'not yet delivered stay in the spool' "$WORK/log2" || fail "events still undelivered after the restart"
cat "$WORK/log2" >>"$WORK/log"
$PY "$KVS_SOURCE_DIR/tests/integration/check_alerts.py" sns "$WORK/requests.jsonl" "$WORK/log" \
  "$WORK/out/events.jsonl" --topic "$TOPIC" --links "$WORK/links" || fail "SNS"
$PY "$KVS_SOURCE_DIR/tests/integration/check_alerts.py" eventbridge "$WORK/requests.jsonl" "$WORK/log" \
  "$WORK/out/events.jsonl" --bus alerts --restart-at "$RESTART_AT" || fail "EventBridge"
# The faults happened: throttling and 5xx at the proxy, the outage and
# failed entries at the stand-in.
stats=$(http_get "$AEP/__proxy/stats")
note "alerts proxy: $stats"
$PY -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["throttled"] > 0 and s["failed"] > 0 and s["rejected"] == 0, s' "$stats"
$PY - "$WORK/requests.jsonl" <<'PYEOF' || fail "the stand-in's faults did not happen"
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
storm = sum(r["outcome"] in ("InternalError", "InternalFailure", "ServiceUnavailable") for r in recs)
partial = sum(not ok for r in recs for ok in r.get("accepted", []))
print(f"-- stand-in: {len(recs)} requests, {storm} in the outage, {partial} entries failed", file=sys.stderr)
assert storm == 8 and partial > 0
PYEOF
# Each link opens its snapshot: byte-identical to what the local sink kept.
$PY - "$WORK/links" "$WORK/out" <<'PYEOF' || fail "presigned links"
import sys, urllib.request, urllib.error
links = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
assert links, "no links"
for url, ref in links:
    with urllib.request.urlopen(url, timeout=10) as r:
        got = r.read()
    key = ref.split("/", 3)[3][len("kvs-infer/"):]
    if got != open(f"{sys.argv[2]}/{key}", "rb").read():
        sys.exit(f"{url}: not the snapshot {ref}")
url = links[0][0]
bad = url[:-1] + ("0" if url[-1] != "0" else "1")
try:
    urllib.request.urlopen(bad, timeout=10)
    sys.exit("a tampered link was served")
except urllib.error.HTTPError as e:
    assert e.code == 403, e.code
print(f"-- {len(links)} presigned links open their snapshots", file=sys.stderr)
PYEOF
stats=$(http_get "$S3EP/__proxy/stats")
$PY -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["presigned"] > 0 and s["rejected"] == 1, s' "$stats" ||
  fail "presigned checks at the proxy: $stats"
! grep -rq "$AWS_SECRET_ACCESS_KEY" "$WORK/log" "$WORK/err" || fail "the secret appeared in the output"

# Config errors name the file and line: a bad topic ARN, an AWS-reserved source.
sed -e "s#topic_arn: \"$TOPIC\"#topic_arn: \"arn:aws:sqs:us-east-1:123456789012:alerts\"#" \
  -e 's#eventbridge: {bus: alerts}#eventbridge: {bus: alerts, source: aws.ec2}#' "$WORK/c.yaml" >"$WORK/bad.yaml"
rc=0; "$KVS_BIN" --config "$WORK/bad.yaml" --validate >"$WORK/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "--validate on bad publishers: exit $rc"
grep -q "bad.yaml:[0-9]*:[0-9]*: .*sns: bad topic_arn .*not an SNS ARN" "$WORK/bad.out" || fail "topic_arn: $(cat "$WORK/bad.out")"
grep -q "bad.yaml:[0-9]*:[0-9]*: .*eventbridge: source \"aws.ec2\"" "$WORK/bad.out" || fail "source: $(cat "$WORK/bad.out")"
echo PASS
