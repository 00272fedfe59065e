#!/usr/bin/env bash
# Workers sharing cameras through DynamoDB leases (issue 13), with real parts:
# dynalite behind the signature-checking proxy, the KVS emulator serving six
# streams (four over HLS, two over GetMedia) and three, then four kvs-infer
# processes on real footage.
#  - three workers split the six cameras 2/2/2, each camera on one worker;
#  - kill -9 of a worker: its cameras run elsewhere within lease_seconds plus
#    a renewal, resumed from the lease's checkpoint: the emulator's record of
#    the fragments it served has no hole;
#  - a fourth worker joins and gets its share by stealing, one at a time;
#  - SIGTERM: the worker drains, writes its checkpoints and releases its
#    leases, and the others start those cameras within seconds;
#  - the lease table unreachable for 15 s: every worker stops its cameras
#    before a lease could be stolen (fencing), then all resume, no gap;
#  - a worker whose wall clock is 30 s ahead takes nothing early;
#  - bad input: a lease item edited to garbage, a table with the wrong key
#    schema, two processes given one worker_id;
#  - the lease table's request rate is docs/cluster.md's formula.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
need_standins
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
EPORT=$(free_port); DPORT=$(free_port); PPORT=$(free_port)
LEASE_S=4
kvs_emulator emulator "$EPORT" s1,s2,s3,s4,s5,s6 --history-s 60
standin dynalite dynamodb "$DPORT"
sigv4_proxy proxy "$PPORT" "$DPORT" "$AWS_SECRET_ACCESS_KEY"
PROXY_PID=$LAST_PID
wait_ready emulator dynalite proxy
DDB="http://127.0.0.1:$PPORT"
CAMS="c1 c2 c3 c4 c5 c6"

# worker NAME [TABLE] [WORKER_ID]: a config and a running process; its metrics
# port in MPORT[NAME], its pid in WPID[NAME].
declare -A MPORT WPID
worker() {
  local name=$1 table=${2:-leases} wid=${3:-$1} port
  port=$(free_port)
  MPORT[$name]=$port
  cat >"$WORK/$name.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$port"}
spool: {dir: "$WORK/spool-$name"}
workers: 1
cluster: {lease_table: $table,$([ "$wid" = - ] || echo " worker_id: \"$wid\",") lease_seconds: $LEASE_S}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$EPORT", dynamodb: "${DDB_EP:-$DDB}"}}
defaults:
  fps_limit: 0.5
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - {name: c1, stream_name: s1, source: {mode: hls}}
  - {name: c2, stream_name: s2, source: {mode: hls}}
  - {name: c3, stream_name: s3, source: {mode: hls}}
  - {name: c4, stream_name: s4, source: {mode: hls}}
  - {name: c5, stream_name: s5, source: {mode: getmedia}}
  - {name: c6, stream_name: s6, source: {mode: getmedia}}
YAML
  ${WRAP:-} "$KVS_BIN" --config "$WORK/$name.yaml" >"$WORK/$name.log" 2>"$WORK/$name.err" &
  WPID[$name]=$!
  PIDS+=("${WPID[$name]}")
}
# wmetric NAME PREFIX: a metric of one worker ("" when it does not answer).
wmetric() { METRICS_PORT=${MPORT[$1]} metric "$2" 2>/dev/null || echo ""; }
held() { wmetric "$1" kvs_infer_leases_held; }
# shares W...: the leases each worker holds, e.g. "2 2 2".
shares() { local w out=""; for w in "$@"; do out="$out $(held "$w")"; done; echo $out; }
# balanced TOTAL W...: together they hold TOTAL, none more than its share.
balanced() {
  local total=$1; shift
  $PY - "$total" "$#" "$(shares "$@")" <<'PYEOF'
import math, sys
total, workers, shares = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split()
# a worker that does not answer yet (starting) is not one holding 0
if len(shares) != workers or any(not s.isdigit() for s in shares): sys.exit(1)
n = [int(s) for s in shares]
sys.exit(0 if sum(n) == total and max(n) <= math.ceil(total / len(n)) else 1)
PYEOF
}
# One owner per camera: the lease items, and each camera's source state is
# "running" on one worker only.
table() { aws_call call "$DDB" dynamodb DynamoDB_20120810.Scan '{"TableName":"leases","ConsistentRead":true}'; }
running_on() { # CAMERA W...: the workers whose camera runs
  local cam=$1 w out=""; shift
  for w in "$@"; do
    [ "$(wmetric "$w" "kvs_infer_source_state{camera=\"$cam\",state=\"running\"")" = 1 ] && out="$out $w"
  done
  echo $out
}
one_owner_each() {
  local c
  for c in $CAMS; do
    [ "$(running_on "$c" "$@" | wc -w)" -le 1 ] || fail "camera $c runs on $(running_on "$c" "$@")"
  done
}
# no_gap [STREAM...]: every stream's fragments were served without a hole,
# from the first one any worker read to the last.
no_gap() {
  $PY - "$EPORT" "${@:-s1 s2 s3 s4 s5 s6}" <<'PYEOF'
import json, sys, urllib.request
port = sys.argv[1]
for s in sys.argv[2].split():
    got = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/served?stream={s}", timeout=5))["indices"]
    missing = sorted(set(range(got[0], got[-1] + 1)) - set(got)) if got else ["none served"]
    if missing:
        sys.exit(f"stream {s}: fragments {missing} were never served (served {got[0] if got else '-'}..{got[-1] if got else '-'})")
    print(f"{s}: fragments {got[0]}..{got[-1]} served, no gap", file=sys.stderr)
PYEOF
}
# newest: each stream's newest fragment served so far ("12 9 14 ..."), -1
# for none yet.
newest() {
  $PY - "$EPORT" $CAMS <<'PYEOF'
import json, sys, urllib.request
port, out = sys.argv[1], []
for c in sys.argv[2:]:
    s = "s" + c[1:]
    got = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/served?stream={s}", timeout=5))["indices"]
    out.append(str(got[-1] if got else -1))
print(" ".join(out))
PYEOF
}
# read_past MARK: every stream has been served a fragment newer than at MARK
# (from newest): the cameras that moved read on from their checkpoints past
# where they had stopped, so a fragment skipped on the way would be a hole
# that no_gap sees. (It waits for that, not for a fixed time.)
read_past() {
  $PY -c 'import sys; a, b = sys.argv[1].split(), sys.argv[2].split(); sys.exit(0 if len(a) == len(b) and all(int(y) > int(x) for x, y in zip(a, b)) else 1)' \
    "$1" "$(newest)"
}
ms() { date +%s%3N; }
runs_once() { [ "$(running_on "$@" | wc -w)" = 1 ]; } # CAMERA W...
none_held() { local w; for w in "$@"; do [ "$(held "$w")" = 0 ] || return 1; done; }

# ---- three workers: 2/2/2 ----
worker w1; worker w2; worker w3
wait_for 60 balanced 6 w1 w2 w3 || fail "three workers did not balance: $(shares w1 w2 w3)"
note "three workers: $(shares w1 w2 w3)"
sleep $LEASE_S
balanced 6 w1 w2 w3 || fail "the shares moved after balancing: $(shares w1 w2 w3)"
one_owner_each w1 w2 w3
for c in $CAMS; do
  wait_for 20 runs_once "$c" w1 w2 w3 || fail "camera $c is not running on exactly one worker"
done

# ---- kill -9: the dead worker's cameras move within lease_seconds + a renewal ----
kill -9 "${WPID[w1]}"; wait "${WPID[w1]}" 2>/dev/null || true
t0=$(ms)
MARK=$(newest)
wait_for 30 balanced 6 w2 w3 || fail "w1's cameras did not move: $(shares w2 w3)"
TAKEOVER_KILL=$(( $(ms) - t0 ))
note "after kill -9: $(shares w2 w3) in $TAKEOVER_KILL ms"
[ "$TAKEOVER_KILL" -le $(( LEASE_S * 1000 * 3 / 2 + 2500 )) ] ||
  fail "takeover after kill -9 took $TAKEOVER_KILL ms (lease ${LEASE_S}s)"
grep -q "resuming at the checkpoint" "$WORK/w2.log" "$WORK/w3.log" || fail "no camera resumed at a checkpoint"
wait_for 30 read_past "$MARK" || fail "the streams were not read on after kill -9: $MARK then $(newest)"
no_gap || fail "a fragment was skipped after kill -9"
one_owner_each w2 w3

# ---- a fourth worker joins, its wall clock 30 s ahead: 2/2/2 again, by
# stealing from live workers, never by taking a lease early as "expired" ----
# (libfaketime, preloaded so that the signals reach kvs-infer itself; ASan
# must be told it is not first in the library list)
FAKETIME_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
[ -n "$FAKETIME_LIB" ] || need "libfaketime is missing: run scripts/setup.sh"
W4_T0=$(date +%s) # its first log line is stamped then, by its own clock: +30 s
LD_PRELOAD="$FAKETIME_LIB" FAKETIME="+30s" \
  ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0" worker w4
wait_for 40 balanced 6 w2 w3 w4 || fail "w4 did not get its share: $(shares w2 w3 w4)"
note "after w4 joined: $(shares w2 w3 w4)"
[ "$(wmetric w4 'kvs_infer_leases_taken_total{how="stolen"')" -ge 1 ] || fail "w4 stole nothing"
[ "$(wmetric w4 'kvs_infer_leases_taken_total{how="expired"')" = 0 ] ||
  fail "w4 (clock +30 s) took a live worker's lease as expired"
$PY -c 'import datetime,sys; d=datetime.datetime.fromisoformat(sys.argv[1].replace("Z","+00:00")); sys.exit(0 if d.timestamp() > int(sys.argv[2]) + 20 else 1)' \
  "$(head -1 "$WORK/w4.log" | $PY -c 'import json,sys; print(json.loads(sys.stdin.readline())["ts"])')" "$W4_T0" ||
  fail "w4 does not run 30 s ahead (faketime)"

# ---- SIGTERM: hand-over within seconds ----
MARK=$(newest)
kill -TERM "${WPID[w2]}"
t0=$(ms)
wait "${WPID[w2]}" || fail "w2 exited $? after SIGTERM: $(tail -3 "$WORK/w2.err")"
wait_for 30 balanced 6 w3 w4 || fail "w2's cameras did not move: $(shares w3 w4)"
TAKEOVER_TERM=$(( $(ms) - t0 ))
note "after SIGTERM: $(shares w3 w4) in $TAKEOVER_TERM ms"
grep -q "released 2 lease" "$WORK/w2.log" || fail "w2 did not release its leases: $(grep cluster "$WORK/w2.log" | tail -3)"
[ "$TAKEOVER_TERM" -le 6000 ] || fail "hand-over after SIGTERM took $TAKEOVER_TERM ms"
wait_for 30 read_past "$MARK" || fail "the streams were not read on after SIGTERM: $MARK then $(newest)"
no_gap || fail "a fragment was skipped after SIGTERM"
one_owner_each w3 w4

# ---- the lease table unreachable for 15 s ----
# Every worker stops its cameras (fencing) before anyone could take a lease,
# then they take them again, one owner each. (15 s is over three lease
# periods: long enough for any lease to have expired under a broken fence.)
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
t0=$(ms)
wait_for $LEASE_S none_held w3 w4 || fail "cameras still held without the lease table: $(shares w3 w4)"
FENCE=$(( $(ms) - t0 ))
note "lease table gone: cameras stopped after $FENCE ms"
for w in w3 w4; do
  [ "$(wmetric $w 'kvs_infer_leases_lost_total{why="fenced"')" -ge 1 ] || fail "$w fenced nothing"
  [ "$(wmetric $w kvs_infer_lease_renew_failures_total)" -ge 1 ] || fail "$w counted no renew failure"
done
one_owner_each w3 w4
sleep $(( 15 - FENCE / 1000 ))
one_owner_each w3 w4
[ "$(shares w3 w4)" = "0 0" ] || fail "a camera started without the lease table: $(shares w3 w4)"
MARK=$(newest)
sigv4_proxy proxy "$PPORT" "$DPORT" "$AWS_SECRET_ACCESS_KEY"
PROXY_PID=$LAST_PID
wait_for 30 balanced 6 w3 w4 || fail "the cameras did not come back after the outage: $(shares w3 w4)"
note "lease table back: $(shares w3 w4)"
one_owner_each w3 w4
wait_for 30 read_past "$MARK" || fail "the streams were not read on after the outage: $MARK then $(newest)"
no_gap || fail "a fragment was skipped after the outage"

# ---- bad input ----
# A lease item edited to garbage: its holder loses it at the next renewal,
# a worker logs it and replaces it with a free lease, and it runs again once
# (from the live edge: the edit destroyed its checkpoint).
aws_call call "$DDB" dynamodb DynamoDB_20120810.PutItem \
  '{"TableName":"leases","Item":{"camera":{"S":"c1"},"owner":{"N":"7"},"counter":{"S":"x"}}}' >/dev/null
wait_for 20 grep -q 'camera \\"c1\\" is not a lease' "$WORK/w3.log" "$WORK/w4.log" ||
  fail "the garbage lease item was not reported"
wait_for 30 balanced 6 w3 w4 || fail "c1 did not run again after its item was repaired: $(shares w3 w4)"
wait_for 20 runs_once c1 w3 w4 || fail "c1 runs on '$(running_on c1 w3 w4)'"
one_owner_each w3 w4
# Two processes given one worker_id: reported, and still one owner per camera.
worker w5 leases w3
wait_for 30 grep -q 'also runs as worker_id' "$WORK/w3.log" "$WORK/w5.log" ||
  fail "the shared worker_id was not reported"
# w5 steals its share a lease period after it first saw the leases (issue
# 26); each victim stops at its next renewal: then one owner each.
wait_for 30 balanced 6 w3 w4 w5 || fail "w5 did not balance: $(shares w3 w4 w5)"
sleep $LEASE_S
one_owner_each w3 w4 w5
# A table keyed by something else: a clear error, not ready, nothing taken.
# (This worker has no worker_id: it names itself after its ECS task, from
# the task metadata endpoint ECS gives every container.)
aws_call call "$DDB" dynamodb DynamoDB_20120810.CreateTable \
  '{"TableName":"other","AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}],"KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null
mkdir -p "$WORK/ecs"
echo '{"Cluster":"prod","TaskARN":"arn:aws:ecs:us-east-1:123456789012:task/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0"}' >"$WORK/ecs/task"
MDPORT=$(free_port)
$PY -m http.server "$MDPORT" --bind 127.0.0.1 --directory "$WORK/ecs" >"$WORK/ecs.log" 2>&1 &
PIDS+=("$!")
wait_for 10 http_get "http://127.0.0.1:$MDPORT/task" || fail "the task metadata stand-in did not start"
ECS_CONTAINER_METADATA_URI_V4="http://127.0.0.1:$MDPORT" worker w6 other -
# A missing table this worker may not create (AccessDenied from IAM): said
# once, clearly; not ready; nothing taken. (w7 starts beside w6: neither
# touches the other's table.)
DENY_PORT=$(free_port)
sigv4_proxy proxy-deny "$DENY_PORT" "$DPORT" "$AWS_SECRET_ACCESS_KEY" --deny CreateTable
wait_ready proxy-deny
DDB_EP="http://127.0.0.1:$DENY_PORT" worker w7 nowhere
wait_for 20 grep -q 'wrong key schema' "$WORK/w6.log" || fail "the wrong key schema was not reported"
grep -q 'cluster: worker 0f1e2d3c4b5a69788796a5b4c3d2e1f0 (instance' "$WORK/w6.log" ||
  fail "w6 is not named after its ECS task: $(grep 'cluster: worker' "$WORK/w6.log")"
wait_for 20 grep -q 'lease table nowhere is missing and cannot be created.*AccessDenied' "$WORK/w7.log" ||
  fail "the missing table was not reported: $(grep cluster "$WORK/w7.log" | tail -2)"
[ "$(grep -c '"level":"error","msg":"cluster: lease table nowhere' "$WORK/w7.log")" = 1 ] ||
  fail "the missing table was not reported exactly once as an error"
ready_code() { curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:${MPORT[$1]}/readyz"; }
[ "$(ready_code w6)" = 503 ] || fail "w6 is ready on a table it cannot use: $(ready_code w6)"
[ "$(ready_code w7)" = 503 ] || fail "w7 is ready without its table: $(ready_code w7)"
[ "$(held w7)" = 0 ] || fail "w7 holds leases"
[ "$(held w6)" = 0 ] || fail "w6 holds leases"
for w in w6 w7; do
  kill -TERM "${WPID[$w]}"
  wait "${WPID[$w]}" || fail "$w exited $? after SIGTERM: $(tail -3 "$WORK/$w.err")"
done
[ "$(ready_code w3)" = 200 ] || fail "w3 is not ready: $(curl -s "http://127.0.0.1:${MPORT[w3]}/readyz")"

# The lease table's load, from the proxy, against docs/cluster.md's formula:
# each lease renewed and the table scanned by each worker every
# lease_seconds/3, so (cameras + workers) / (lease_seconds / 3) requests/s
# (67.5 in 10 s here). Half to one and a half times that passes on a loaded
# machine (renewals run late, never early); renewing once per lease period
# (a third) or on every loop (many times more) does not.
stats() { http_get "$DDB/__proxy/stats" | $PY -c 'import json,sys; print(json.load(sys.stdin)["checked"])'; }
r0=$(stats); t0=$(ms); sleep 10; r1=$(stats); t1=$(ms)
load=$($PY -c 'import sys; n, ms, cams, workers, lease = map(float, sys.argv[1:]); print(f"{n / (ms / 1000 * (cams + workers) / (lease / 3)):.2f}")' \
  $(( r1 - r0 )) $(( t1 - t0 )) 6 3 "$LEASE_S")
note "lease table: $(( r1 - r0 )) requests in $(( t1 - t0 )) ms for 6 cameras and 3 workers (lease ${LEASE_S}s): $load x the formula"
$PY -c 'import sys; sys.exit(0 if 0.5 <= float(sys.argv[1]) <= 1.5 else 1)' "$load" ||
  fail "lease table load $load x docs/cluster.md's (cameras + workers) / (lease_seconds / 3) requests/s"

for w in w3 w4 w5; do
  kill -TERM "${WPID[$w]}"
  wait "${WPID[$w]}" || fail "$w exited $? after SIGTERM: $(tail -3 "$WORK/$w.err")"
done
no_gap "s2 s3 s4 s5 s6" || fail "a fragment was skipped"
$PY - "$WORK/out/events.jsonl" <<'PYEOF' || fail "events without their worker"
import json, sys
n = 0
for line in open(sys.argv[1]):
    e = json.loads(line)
    assert e.get("worker_id") in {"w1", "w2", "w3", "w4"}, e.get("worker_id")
    n += 1
assert n > 0, "no events"
print(f"{n} events, each naming its worker", file=sys.stderr)
PYEOF
echo "takeover after kill -9: $TAKEOVER_KILL ms, after SIGTERM: $TAKEOVER_TERM ms (lease ${LEASE_S}s)"
echo PASS
