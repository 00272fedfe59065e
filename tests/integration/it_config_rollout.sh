#!/usr/bin/env bash
# A config that rolls out by itself (issue 28): three cluster workers read one
# config object from S3 (s3rver behind the signature-checking proxy, so the
# GetObject is signed), share the KVS emulator's cameras through dynalite's
# lease table, and poll the object by ETag.
#  - a new version (a camera added, a detector threshold changed) is applied
#    by all three without a restart: the lease table shows the new version on
#    every worker's leases, the new camera runs, the shares stay balanced
#    while one worker still runs the old version, and no camera runs on two
#    workers for longer than one renewal;
#  - a bad version is refused by all three: counted, logged with where and
#    why, shown on their leases (config_refused); the old one keeps running;
#  - a version without a camera: its owner stops it and releases the lease.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
need_standins
# s3rver accepts only this key pair; the proxies check every signature with it.
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
EPORT=$(free_port); DPORT=$(free_port); PPORT=$(free_port); SPORT=$(free_port); SPPORT=$(free_port)
LEASE_S=10
kvs_emulator emulator "$EPORT" s1,s2,s3,s4,s5 --history-s 60
standin dynalite dynamodb "$DPORT"
sigv4_proxy proxy "$PPORT" "$DPORT" "$AWS_SECRET_ACCESS_KEY"
mkdir -p "$WORK/s3data"
standin s3rver s3 "$SPORT" "$WORK/s3data" configs
sigv4_proxy proxy-s3 "$SPPORT" "$SPORT" "$AWS_SECRET_ACCESS_KEY"
wait_ready emulator dynalite proxy s3rver proxy-s3
DDB="http://127.0.0.1:$PPORT"
S3EP="http://127.0.0.1:$SPPORT"
W="w1 w2 w3"

# config THRESHOLD CAMERAS [EXTRA]: one version of the shared config; each
# worker's own settings come from its environment.
config() {
  local cam
  cat <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:\${KVS_TEST_PORT}"}
spool: {dir: "\${KVS_TEST_SPOOL}"}
workers: 1
cluster: {lease_table: leases, worker_id: "\${KVS_TEST_WID}", lease_seconds: $LEASE_S}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$EPORT", dynamodb: "$DDB"}}
defaults:
  fps_limit: 0.2
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: $1, params: {model: "$MODEL", classes: [person]}}]
cameras:
YAML
  for cam in $2; do echo "  - {name: c$cam, stream_name: s$cam, source: {mode: hls}${3:-}}"; done
}
put() { # FILE: the new version of s3://configs/kvs.yaml
  aws_call s3-put "$S3EP" configs kvs.yaml "$1" >/dev/null || fail "cannot put $1"
}
sha() { sha256sum "$1" | cut -c1-64; }
config 0.5 "1 2 3 4" >"$WORK/v1.yaml"
put "$WORK/v1.yaml"

declare -A MPORT WPID
worker() { # NAME POLL_SECONDS
  local port
  port=$(free_port)
  MPORT[$1]=$port
  KVS_TEST_PORT=$port KVS_TEST_SPOOL="$WORK/spool-$1" KVS_TEST_WID=$1 \
    AWS_ENDPOINT_URL_S3="$S3EP" AWS_REGION=us-east-1 \
    "$KVS_BIN" --config s3://configs/kvs.yaml --config-poll "$2" \
    >"$WORK/$1.log" 2>"$WORK/$1.err" &
  WPID[$1]=$!
  PIDS+=("${WPID[$1]}")
}
wmetric() { METRICS_PORT=${MPORT[$1]} metric "$2" 2>/dev/null || echo ""; }
shares() { local w out=""; for w in $W; do out="$out $(wmetric "$w" kvs_infer_leases_held)"; done; echo $out; }
balanced() { # TOTAL: the workers hold TOTAL together, none more than its share
  $PY - "$1" "$(shares)" <<'PYEOF'
import math, sys
total, shares = int(sys.argv[1]), sys.argv[2].split()
if len(shares) != 3 or any(not s.isdigit() for s in shares): sys.exit(1)
n = [int(s) for s in shares]
sys.exit(0 if sum(n) == total and max(n) <= math.ceil(total / 3) else 1)
PYEOF
}
table() { aws_call call "$DDB" dynamodb DynamoDB_20120810.Scan '{"TableName":"leases","ConsistentRead":true}'; }
# leases_say ATTR VALUE_PREFIX CAMERAS: every camera's lease is owned and its
# ATTR starts with VALUE_PREFIX ("" for ATTR: empty).
leases_say() {
  table | $PY -c '
import json, sys
attr, want, cams = sys.argv[1], sys.argv[2], sys.argv[3].split()
items = {i["camera"]["S"]: i for i in json.load(sys.stdin)["Items"]}
for c in cams:
    i = items.get(c)
    if not i or not i["owner"]["S"]: sys.exit(f"{c}: not owned")
    got = i.get(attr, {}).get("S")
    if got is None or not got.startswith(want) or (want == "" and got): sys.exit(f"{c}: {attr} {got!r}")
' "$1" "$2" "$3"
}
count() { # METRIC W...: the metric on each worker, e.g. "1 1 1"
  local m=$1 w out=""; shift
  for w in "$@"; do out="$out $(wmetric "$w" "$m")"; done; echo $out
}
all_at_least() { # N METRIC: every worker's METRIC >= N
  local n=$1 v
  for v in $(count "$2" $W); do [ "${v%.*}" -ge "$n" ] 2>/dev/null || return 1; done
  [ "$(count "$2" $W | wc -w)" = 3 ]
}
# The watch: every second, which workers run each camera; a camera running on
# two workers in three samples in a row (longer than a renewal period, the
# overlap docs/cluster.md allows after a steal) is a double owner.
watch_owners() {
  local c w on
  declare -A twice
  while [ -e "$WORK/watching" ]; do
    for c in 1 2 3 4 5; do
      on=""
      for w in $W; do
        [ "$(wmetric "$w" "kvs_infer_source_state{camera=\"c$c\",state=\"running\"")" = 1 ] && on="$on $w"
      done
      if [ "$(echo $on | wc -w)" -ge 2 ]; then
        twice[$c]=$(( ${twice[$c]:-0} + 1 ))
        [ "${twice[$c]}" -ge 3 ] && echo "c$c runs on$on" >>"$WORK/doubles"
      else
        twice[$c]=0
      fi
    done
    sleep 1
  done
}

# ---- version 1: three workers, four cameras; w3 polls slowly, so that the
# next version runs on w1 and w2 for a while before it reaches w3 ----
V1=$(sha "$WORK/v1.yaml")
worker w1 2; worker w2 2; worker w3 20
wait_for 90 balanced 4 || fail "three workers did not balance: $(shares)"
wait_for 20 leases_say config_version "$V1" "c1 c2 c3 c4" || fail "version 1 not on the leases: $(leases_say config_version "$V1" "c1 c2 c3 c4" 2>&1)"
note "version ${V1:0:12} on every lease: $(shares)"
touch "$WORK/watching"
watch_owners &
WATCH=$!
PIDS+=("$WATCH")

# ---- version 2: c5 added, the threshold changed ----
config 0.6 "1 2 3 4 5" >"$WORK/v2.yaml"
V2=$(sha "$WORK/v2.yaml")
put "$WORK/v2.yaml"
t0=$(date +%s%3N)
applied_by() { [ "$(wmetric "$1" 'kvs_infer_config_reloads_total{result="applied"')" = 1 ]; }
wait_for 20 applied_by w1 && wait_for 20 applied_by w2 || fail "w1/w2 did not apply version 2"
if ! applied_by w3; then # versions differ: the shares hold, c5 runs on w1 or w2
  wait_for 15 balanced 5 || fail "not balanced while versions differ: $(shares)"
  applied_by w3 && note "w3 applied version 2 meanwhile" ||
    note "balanced while w3 still runs version 1: $(shares)"
fi
wait_for 30 all_at_least 1 'kvs_infer_config_reloads_total{result="applied"' ||
  fail "version 2 not applied by all: $(count 'kvs_infer_config_reloads_total{result="applied"' $W)"
note "version 2 applied by all three in $(( $(date +%s%3N) - t0 )) ms"
# w3 (polling every 20 s) came last: the others ran version 2 meanwhile
for w in w1 w2; do grep -q "config version ${V2:0:12} applied" "$WORK/$w.log" || fail "$w: no applied line"; done
wait_for 30 leases_say config_version "$V2" "c1 c2 c3 c4 c5" ||
  fail "version 2 not on every lease: $(leases_say config_version "$V2" "c1 c2 c3 c4 c5" 2>&1)"
wait_for 30 balanced 5 || fail "not balanced after version 2: $(shares)"
note "version 2 on every lease, c5 runs, shares $(shares)"
grep -q "restarted with new settings" "$WORK/w1.log" "$WORK/w2.log" "$WORK/w3.log" ||
  fail "no held camera restarted with the new threshold"
for w in $W; do kill -0 "${WPID[$w]}" || fail "$w exited"; done

# ---- version 3: bad (an unknown key): refused by all, version 2 runs on ----
config 0.6 "1 2 3 4 5" ", bogus: 1" >"$WORK/v3.yaml"
put "$WORK/v3.yaml"
wait_for 40 all_at_least 1 'kvs_infer_config_reloads_total{result="refused"' ||
  fail "version 3 not refused by all: $(count 'kvs_infer_config_reloads_total{result="refused"' $W)"
V3=$(sha "$WORK/v3.yaml")
for w in $W; do
  grep -q "the new config has [0-9]* error(s) (version ${V3:0:12} from s3://configs/kvs.yaml, first: s3://configs/kvs.yaml:[0-9]*:[0-9]*: cameras\[0\].bogus: unknown key" "$WORK/$w.log" ||
    fail "$w: no refusal with where and why: $(grep -m1 'new config has' "$WORK/$w.log")"
done
wait_for 20 leases_say config_refused "${V3:0:12}: s3://configs/kvs.yaml" "c1 c2 c3 c4 c5" ||
  fail "the refusal is not on the leases: $(leases_say config_refused "${V3:0:12}" "c1 c2 c3 c4 c5" 2>&1)"
leases_say config_version "$V2" "c1 c2 c3 c4 c5" || fail "version 2 left the leases"
[ "$(count 'kvs_infer_config_reloads_total{result="applied"' $W)" = "1 1 1" ] ||
  fail "a worker applied the bad version: $(count 'kvs_infer_config_reloads_total{result="applied"' $W)"
sleep $LEASE_S
balanced 5 || fail "not balanced after the refusal: $(shares)"
# refused once each: the unchanged ETag is not fetched (and refused) again
[ "$(count 'kvs_infer_config_reloads_total{result="refused"' $W)" = "1 1 1" ] ||
  fail "refused more than once: $(count 'kvs_infer_config_reloads_total{result="refused"' $W)"
note "version 3 refused by all, version 2 runs on: $(shares)"

# ---- SIGHUP fetches again and refuses again ----
refused_twice() { [ "$(wmetric w1 'kvs_infer_config_reloads_total{result="refused"')" = 2 ]; }
kill -HUP "${WPID[w1]}"
wait_for 20 refused_twice || fail "SIGHUP did not refetch: $(wmetric w1 'kvs_infer_config_reloads_total{result="refused"')"

# ---- version 4: c5 removed: released by its owner, run nowhere ----
config 0.6 "1 2 3 4" >"$WORK/v4.yaml"
V4=$(sha "$WORK/v4.yaml")
put "$WORK/v4.yaml"
kill -HUP "${WPID[w1]}" "${WPID[w2]}" "${WPID[w3]}" # no need to wait for the polls
wait_for 30 all_at_least 2 'kvs_infer_config_reloads_total{result="applied"' ||
  fail "version 4 not applied by all: $(count 'kvs_infer_config_reloads_total{result="applied"' $W)"
c5_free() { table | $PY -c '
import json, sys
i = {i["camera"]["S"]: i for i in json.load(sys.stdin)["Items"]}.get("c5")
sys.exit(0 if i and i["owner"]["S"] == "" else 1)'; }
wait_for 30 c5_free || fail "the removed camera's lease was not released"
wait_for 30 leases_say config_version "$V4" "c1 c2 c3 c4" || fail "version 4 not on every lease"
wait_for 30 balanced 4 || fail "not balanced after removing c5: $(shares)"
grep -q "the new config removes the camera: released" "$WORK/w1.log" "$WORK/w2.log" "$WORK/w3.log" ||
  fail "no release logged"
note "version 4: c5 released and run nowhere, shares $(shares)"

rm -f "$WORK/watching"
wait "$WATCH" 2>/dev/null || true
[ ! -s "$WORK/doubles" ] || fail "double owners: $(sort -u "$WORK/doubles" | head -5)"
for w in $W; do kill -TERM "${WPID[$w]}"; done
for w in $W; do wait "${WPID[$w]}" || fail "$w exited $? after SIGTERM"; done
note "no camera ran on two workers; all three drained cleanly"
