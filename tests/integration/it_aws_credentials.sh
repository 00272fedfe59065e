#!/usr/bin/env bash
# Temporary credentials that expire every 6 s (an ECS-style endpoint), a
# proxy that rejects expired session tokens: kvs-infer refreshes them ahead of
# expiry, without a gap, and every event still arrives. Nothing secret is
# printed or exported: logs, stderr and /metrics are searched for the secret,
# the session tokens and the container authorization token.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
SECRET=short-lived-secret-7f3a9c
KPORT=$(free_port); PPORT=$(free_port); CPORT=$(free_port); METRICS_PORT=$(free_port)
standin kinesalite kinesis "$KPORT"
sigv4_proxy proxy "$PPORT" "$KPORT" "$SECRET" --check-token-expiry yes
node "$NODE_DIR/creds_server.js" "$CPORT" "$SECRET" 6 ecs-auth-token >"$WORK/creds.log" 2>&1 &
PIDS+=($!)
wait_ready kinesalite proxy creds
EP="http://127.0.0.1:$PPORT"
AWS_ACCESS_KEY_ID=ASIASETUP AWS_SECRET_ACCESS_KEY=$SECRET aws_call call "$EP" kinesis \
  Kinesis_20131202.CreateStream '{"StreamName":"ev","ShardCount":1}' >/dev/null
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE
export HOME="$WORK" AWS_EC2_METADATA_DISABLED=true
export AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$CPORT/creds" AWS_CONTAINER_AUTHORIZATION_TOKEN=ecs-auth-token
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws: {endpoints: {kinesis: "$EP"}}
cameras:
  - name: cam
    source: {mode: url, url: "$MEDIA", loop: true}
    fps_limit: 3
    publishers: {kinesis_stream_name: ev}
    detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
YAML
run_bg "$WORK/c.yaml" "$WORK/log"
sleep 20
http_get "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics" || fail "no /metrics"
kill -TERM "$KVS_PID"
wait "$KVS_PID" || fail "exit $?"
issued=$($PY -c 'import json,sys; print(json.load(sys.stdin)["issued"])' < <(http_get "http://127.0.0.1:$CPORT/stats"))
refreshed=$(grep -c 'credentials refreshed from container credentials' "$WORK/log" || true)
stats=$(http_get "$EP/__proxy/stats")
note "credentials issued: $issued, refreshes logged: $refreshed, proxy: $stats"
[ "$issued" -ge 3 ] || fail "credentials were not refreshed"
AWS_ACCESS_KEY_ID=ASIAREAD AWS_SECRET_ACCESS_KEY=$SECRET aws_call kinesis-dump "$EP" ev >"$WORK/stream.jsonl"
$CHECK delivered "$WORK/log" "$WORK/stream.jsonl"
$PY -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["rejected"] == 0, s' "$stats"
! grep -q -e "$SECRET" -e 'exp-[0-9]' -e ecs-auth-token "$WORK/log" "$WORK/log.err" "$WORK/metrics" ||
  fail "a secret or token was printed or exported"
echo PASS
