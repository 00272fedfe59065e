#!/usr/bin/env bash
# Cluster mode under faults (issue 26), with real parts: dynalite behind the
# signature-checking proxy, the KVS emulator, kvs-infer workers on footage.
#  - a worker paused (SIGSTOP) past its lease and resumed: it stops the
#    cameras another worker took, publishes nothing more for them (not even
#    the track_end of its open tracks), keeps running and gets its share back;
#  - a cluster worker whose only camera is a file that ends keeps running: a
#    worker ends on a signal only;
#  - a lease counter that is no int64 (1.5, 99999999999999999999): reported,
#    repaired, and the camera runs again;
#  - a camera nobody can run (a lease no worker lists) is counted and logged;
#  - a worker whose cameras are other ones (x1-x3 beside c1-c3) runs all of
#    them (not its "fair share" of 6 leases among 3 workers: 2), and the
#    others keep theirs;
#  - after a 10 s table outage no lease is stolen within a lease period of
#    its take (by anyone: its owner may take it back after fencing itself),
#    and then no camera runs on two workers.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
EPORT=$(free_port); DPORT=$(free_port); PPORT=$(free_port)
# (6 s: renewals every 2 s, each call given 0.5 s; at 3 s, 0.25 s calls time
# out on a loaded machine and the leases churn for reasons of their own)
LEASE_S=6
kvs_emulator emulator "$EPORT" s1,s2,s3,s4,s5,s6 --history-s 60
standin dynalite dynamodb "$DPORT"
sigv4_proxy proxy "$PPORT" "$DPORT" "$AWS_SECRET_ACCESS_KEY"
PROXY_PID=$LAST_PID
wait_ready emulator dynalite proxy
DDB="http://127.0.0.1:$PPORT"

# cams SET: the camera list of a config; c: c1-c3 on s1-s3, x: x1-x3 on
# s4-s6, f: one file that ends.
cams() {
  local i
  case $1 in
    c) for i in 1 2 3; do echo "  - {name: c$i, stream_name: s$i, source: {mode: hls}}"; done ;;
    x) for i in 1 2 3; do echo "  - {name: x$i, stream_name: s$((i + 3)), source: {mode: hls}}"; done ;;
    f) echo "  - {name: f1, source: {mode: url, url: \"$WORK/short.avi\"}}" ;;
  esac
}
# worker NAME SET [TABLE]: a config and a running process; its metrics port
# in MPORT[NAME], its pid in WPID[NAME].
declare -A MPORT WPID
worker() {
  local name=$1 set=$2 table=${3:-leases} port
  port=$(free_port)
  MPORT[$name]=$port
  cat >"$WORK/$name.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$port"}
spool: {dir: "$WORK/spool-$name"}
workers: 1
cluster: {lease_table: $table, worker_id: "$name", lease_seconds: $LEASE_S}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$EPORT", dynamodb: "$DDB"}}
defaults:
  fps_limit: 1
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.3, events: {summary: true}, params: {model: "$MODEL", classes: [person]}}]
cameras:
$(cams "$set")
YAML
  ${WRAP:-} "$KVS_BIN" --config "$WORK/$name.yaml" >"$WORK/$name.log" 2>"$WORK/$name.err" &
  WPID[$name]=$!
  PIDS+=("${WPID[$name]}")
}
wmetric() { METRICS_PORT=${MPORT[$1]} metric "$2" 2>/dev/null || echo ""; }
held() { wmetric "$1" kvs_infer_leases_held; }
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
running_on() { # CAMERA W...: the workers whose camera runs
  local cam=$1 w out=""; shift
  for w in "$@"; do
    [ "$(wmetric "$w" "kvs_infer_source_state{camera=\"$cam\",state=\"running\"")" = 1 ] && out="$out $w"
  done
  echo $out
}
runs_once() { [ "$(running_on "$@" | wc -w)" = 1 ]; } # CAMERA W...
one_owner_each() { # CAMERAS W...
  local c cams=$1; shift
  for c in $cams; do
    [ "$(running_on "$c" "$@" | wc -w)" -le 1 ] || fail "camera $c runs on $(running_on "$c" "$@")"
  done
}
alive() { kill -0 "${WPID[$1]}" 2>/dev/null; }
holds() { [ "$(held "$1")" = "$2" ]; }                        # W N
metric_is() { [ "$(wmetric "$1" "$2")" = "$3" ]; }            # W PREFIX VALUE
reports() { [ "$(cat "$WORK"/w[12].log | grep -c 'is not a lease')" -gt "$1" ]; } # N: more than N
retaken() { [ "$(cat "$WORK"/w[12].log | grep -c '"cluster: took the free lease","camera_name":"c1"')" -gt "$1" ]; }
f1_over() { ! alive wf || metric_is wf 'kvs_infer_source_state{camera="f1",state="ended"' 1; }
ms() { date +%s%3N; }
item() { # CAMERA OWNER COUNTER: writes a lease item by hand
  aws_call call "$DDB" dynamodb DynamoDB_20120810.PutItem \
    "{\"TableName\":\"leases\",\"Item\":{\"camera\":{\"S\":\"$1\"},\"owner\":{\"S\":\"$2\"},\"instance\":{\"S\":\"by-hand\"},\"counter\":{\"N\":\"$3\"}}}" >/dev/null
}
CS="c1 c2 c3"
# SECTIONS (environment): the parts to run, e.g. to see one fail alone.
SECTIONS=${SECTIONS:-pause counters unowned disjoint outage ends}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }

worker w1 c; worker w2 c
# a paused worker cannot take its SIGTERM: resume it before the clean-up
trap 'kill -CONT "${WPID[w1]}" 2>/dev/null || true; cleanup' EXIT
wait_for 60 balanced 3 w1 w2 || fail "two workers did not balance: $(shares w1 w2)"
FENCED_EVENTS=-

# ---- a worker paused past its lease ----
if want pause; then
W1_CAMS=$(for c in $CS; do if [ "$(running_on "$c" w1)" = w1 ]; then echo "$c"; fi; done | xargs)
[ -n "$W1_CAMS" ] || fail "w1 runs no camera: $(shares w1 w2)"
# pause it while one of its tracks is open: its track_end is due when it stops
open_track() {
  $PY - "$WORK/out/events.jsonl" $W1_CAMS <<'PYEOF'
import datetime, json, sys, time
tracks = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("worker_id") == "w1" and e["camera_name"] in sys.argv[2:]:
        t = datetime.datetime.fromisoformat(e["detected_at"].replace("Z", "+00:00")).timestamp()
        tracks[(e["camera_name"], e["track_id"])] = (e["event_type"], t)
sys.exit(0 if any(k != "track_end" and time.time() - t < 3 for k, t in tracks.values()) else 1)
PYEOF
}
wait_for 90 open_track || fail "w1 had no open track to pause with"
kill -STOP "${WPID[w1]}"
# The pause starts when the kernel has stopped it, not when the signal was
# sent: until then it holds its leases and may publish (seen under load: an
# event stamped 11 ms after a clock read just before the kill).
stopped() { [ "$(cut -d' ' -f3 "/proc/${WPID[w1]}/stat")" = T ]; }
wait_for 10 stopped || fail "w1 did not stop on SIGSTOP"
T_STOP=$(ms)
wait_for 30 holds w2 3 || fail "w2 did not take w1's cameras: $(held w2)"
sleep 2 # w2 analyses them
T_CONT=$(ms)
kill -CONT "${WPID[w1]}"
note "w1 ($W1_CAMS) paused $(( T_CONT - T_STOP )) ms; w2 took them"
# (fenced by its deadline, or told by its first renewal that the lease moved)
wait_for 20 grep -Eq 'no lease renewal for|lease was taken by another worker' "$WORK/w1.log" ||
  fail "w1 did not stop the cameras it lost"
lost_all() { [ "$(wmetric w1 kvs_infer_leases_lost_total)" -ge "$(echo $W1_CAMS | wc -w)" ]; }
wait_for 20 lost_all || fail "w1 counted $(wmetric w1 kvs_infer_leases_lost_total) leases lost"
# It steals its share back a lease period or more after it lost it: alive
# all that time, not ended with its last camera.
fenced_exit() { fail "the fenced worker exited ($(grep -c 'every source has ended' "$WORK/w1.log") 'every source has ended')"; }
wait_for 40 balanced 3 w1 w2 || { alive w1 || fenced_exit; fail "w1 did not get its share back: $(shares w1 w2)"; }
alive w1 || fenced_exit
one_owner_each "$CS" w1 w2
FENCED_EVENTS=$(wmetric w1 kvs_infer_events_fenced_total)
note "w1 works again: $(shares w1 w2); events it dropped for lost cameras: $FENCED_EVENTS"
# Nothing from w1 for a camera it lost from the pause until it took it again.
$PY - "$WORK/out/events.jsonl" "$WORK/w1.log" "$T_STOP" "$T_CONT" $W1_CAMS <<'PYEOF' ||
import datetime, json, sys
events, log, t_stop, t_cont, cams = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
def ms(iso):
    return int(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
back = {}
for line in open(log):
    if not line.startswith("{"): continue
    r = json.loads(line)
    if "cluster: took the" in r.get("msg", "") and r.get("camera_name") in cams and ms(r["ts"]) > t_cont:
        back.setdefault(r["camera_name"], ms(r["ts"]))
bad, n = [], 0
for line in open(events):
    e = json.loads(line)
    if e.get("worker_id") != "w1" or e["camera_name"] not in cams: continue
    t = ms(e["detected_at"])
    if t > t_stop and t < back.get(e["camera_name"], 1 << 62):
        bad.append((e["camera_name"], e["event_type"], t - t_cont))
if bad:
    sys.exit(f"w1 published {len(bad)} event(s) for cameras it had lost (camera, type, ms after CONT): {bad[:5]}")
print(f"w1 published nothing for {cams} from the pause until it took them back", file=sys.stderr)
PYEOF
  fail "the fenced worker published for a camera it had lost"
fi

# ---- bad lease counters ----
if want counters; then
for bad in 1.5 99999999999999999999; do
  n0=$(cat "$WORK"/w[12].log | grep -c 'is not a lease' || true)
  t0=$(cat "$WORK"/w[12].log | grep -c '"cluster: took the free lease","camera_name":"c1"' || true)
  item c1 w2 "$bad"
  wait_for 20 reports "$n0" ||
    fail "the counter $bad was not reported"
  wait_for 30 retaken "$t0" || fail "c1 was not taken again after the counter $bad: $(shares w1 w2)"
  wait_for 30 balanced 3 w1 w2 || fail "the workers lost their balance: $(shares w1 w2)"
  wait_for 20 runs_once c1 w1 w2 || fail "c1 runs on '$(running_on c1 w1 w2)' after the counter $bad"
  note "counter $bad: repaired, c1 runs on $(running_on c1 w1 w2)"
done
fi

# ---- a camera nobody lists: counted and logged as unowned ----
if want unowned; then
item z9 "" 0
wait_for $(( LEASE_S * 4 )) metric_is w1 kvs_infer_cameras_unowned 1 ||
  fail "the unowned camera is not counted: $(wmetric w1 kvs_infer_cameras_unowned)"
grep -q 'camera \\"z9\\" has run on no worker' "$WORK/w1.log" || fail "the unowned camera was not logged"
aws_call call "$DDB" dynamodb DynamoDB_20120810.DeleteItem \
  '{"TableName":"leases","Key":{"camera":{"S":"z9"}}}' >/dev/null
wait_for $(( LEASE_S * 2 )) metric_is w1 kvs_infer_cameras_unowned 0 ||
  fail "the deleted camera is still counted"
fi

# ---- a cluster worker whose only camera ends ----
# (It has a table of its own: started here, it runs during the next
# section's quiet period, and stops before the outage.)
if want ends; then
ffmpeg -v error -i "$MEDIA" -t 3 -c copy "$WORK/short.avi" || fail "cannot cut the footage"
worker wf f files
fi

# ---- a worker with other cameras on the same table ----
if want disjoint || want outage; then
worker wx x
wait_for 40 holds wx 3 || fail "wx runs $(held wx) of its 3 cameras"
wait_for 20 balanced 3 w1 w2 || fail "the c-workers lost their balance: $(shares w1 w2)"
sleep $(( LEASE_S * 2 ))
balanced 3 w1 w2 && holds wx 3 || fail "the shares moved: $(shares w1 w2 wx)"
[ "$(wmetric w1 kvs_infer_cameras_unowned)" = 0 ] || fail "w1 sees unowned cameras"
note "disjoint camera lists: $(shares w1 w2 wx) (w1 w2 wx)"
fi

if want ends; then
wait_for 60 grep -q 'cluster: took the free lease' "$WORK/wf.log" || fail "wf took nothing"
wait_for 60 f1_over || fail "f1 did not end: $(wmetric wf 'kvs_infer_source_state{camera="f1"')"
sleep 2
alive wf || fail "wf exited when its camera ended: $(grep -o 'every source has ended[^"]*' "$WORK/wf.log")"
kill -TERM "${WPID[wf]}"
wait "${WPID[wf]}" || fail "wf exited $? after SIGTERM: $(tail -3 "$WORK/wf.err")"
unset 'WPID[wf]'
fi

# ---- a 10 s table outage: no ping-pong ----
if want outage; then
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
sleep 10
sigv4_proxy proxy "$PPORT" "$DPORT" "$AWS_SECRET_ACCESS_KEY"
PROXY_PID=$LAST_PID
wait_for 30 balanced 3 w1 w2 || fail "the c-cameras did not come back: $(shares w1 w2)"
wait_for 30 holds wx 3 || fail "the x-cameras did not come back: $(held wx)"
# Every take of a camera, by any worker: a steal comes a lease period or more
# after the take before it.
$PY - "$LEASE_S" "$WORK/w1.log" "$WORK/w2.log" "$WORK/wx.log" <<'PYEOF' || fail "a lease was stolen right after its take"
import datetime, json, sys
lease_ms = int(sys.argv[1]) * 1000
takes = []
for path in sys.argv[2:]:
    for line in open(path):
        if not line.startswith("{"): continue
        r = json.loads(line)
        m = r.get("msg", "")
        if m.startswith("cluster: took the "):
            t = int(datetime.datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp() * 1000)
            takes.append((r["camera_name"], t, m.split()[3], path.rsplit("/", 1)[1]))
takes.sort(key=lambda x: x[1])
last, bad = {}, []
for cam, t, how, who in takes:
    if how == "stolen" and cam in last and t - last[cam][0] < lease_ms:
        bad.append(f"{cam}: {last[cam][1]} then stolen by {who} {t - last[cam][0]} ms later")
    last[cam] = (t, who)
if bad:
    sys.exit("\n".join(bad))
print(f"{len(takes)} takes, no steal within {lease_ms} ms of the take before", file=sys.stderr)
PYEOF
sleep $LEASE_S # a steal's victim stops at its next renewal
one_owner_each "$CS" w1 w2
one_owner_each "x1 x2 x3" wx
note "after the outage: $(shares w1 w2 wx) (w1 w2 wx)"
fi

for w in "${!WPID[@]}"; do
  kill -TERM "${WPID[$w]}"
  wait "${WPID[$w]}" || fail "$w exited $? after SIGTERM: $(tail -3 "$WORK/$w.err")"
done
echo "fenced events dropped by w1: $FENCED_EVENTS"
echo PASS
