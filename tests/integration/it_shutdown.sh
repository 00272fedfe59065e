#!/usr/bin/env bash
# Stopping is prompt in every state (issues 9.3, 26.9): SIGTERM ends the
# process with exit 0 within 4 s (README), what was not delivered stays in the
# spool, and a second signal ends it at once. States: every AWS destination
# refusing connections (with a backlog), every AWS destination accepting and
# never answering, a network input that accepts and never answers (RTSP and
# HLS), the data folders deleted mid-run, clips with a small spool and every
# destination down, the spool's filesystem full, a batch
# of files with minutes of frames still to analyse, and a finite file whose
# events cannot be delivered (the drain after "every source has ended" must
# end by itself). Each state's time is printed as "shutdown-ms STATE MS".
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
export AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=test-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
ffmpeg -v error -y -i "$MEDIA" -t 6 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/clip.mp4"
# A server that accepts connections and never says a word.
SILENT_PORT=$(free_port)
$PY -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); print("ready", flush=True)
held, end = [], time.time() + 300
s.settimeout(1)
while time.time() < end:
    try: held.append(s.accept()[0])
    except socket.timeout: pass' "$SILENT_PORT" >"$WORK/silent.log" 2>&1 &
PIDS+=("$!")
wait_ready silent

# config NAME CAMERAS_YAML: writes $WORK/NAME.yaml (SPOOL_DIR overrides the spool folder)
config() {
  METRICS_PORT=$(free_port)
  cat >"$WORK/$1.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "${SPOOL_DIR:-$WORK/$1/spool}"}
aws: {endpoints: {kinesis: "http://127.0.0.1:1", s3: "http://127.0.0.1:1", dynamodb: "http://127.0.0.1:1"}}
defaults:
  fps_limit: 4
  detectors: [{type: yolo, params: {model: "$MODEL", classes: [person]}}]
cameras:
$2
YAML
}
# stop_within NAME MS [SIGNALS]: sends SIGTERM (twice with SIGNALS=2) and
# checks the exit code is 0 (or anything with two signals) within MS.
stop_within() {
  local name=$1 limit=$2 twice=${3:-1} t0 rc ms
  kill -0 "$KVS_PID" 2>/dev/null || fail "$name: kvs-infer is not running: $(tail -3 "$WORK/$name.log")"
  t0=$(date +%s%N)
  kill -TERM "$KVS_PID"
  # The second signal only after the first was taken: two SIGTERMs pending at
  # once are one to the kernel (under ASan on a busy machine that happened).
  [ "$twice" = 2 ] && { wait_for 3 grep -q 'draining' "$WORK/$name.log" || true
    kill -TERM "$KVS_PID" 2>/dev/null || true; }
  # bounded: a process that does not stop is killed (exit 137) and the test fails
  (sleep $(( limit / 1000 + 5 )); kill -9 "$KVS_PID" 2>/dev/null) &
  local guard=$!
  rc=0; wait "$KVS_PID" || rc=$?
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null || true
  note "$name: exit $rc after $ms ms"
  echo "shutdown-ms $name $ms"
  [ "$ms" -lt "$limit" ] || fail "$name: stopping took $ms ms (limit $limit)"
  [ "$twice" = 2 ] || [ "$rc" = 0 ] || fail "$name: exit code $rc after SIGTERM"
}
# The README's bound. Under ASan (CI runs that build too) the exit's leak
# check alone takes about a second more: the bound there is 6 s.
LIMIT=4000
case "$(ldd "$KVS_BIN")" in *libasan*) LIMIT=6000 ;; esac
spooled() { ls "$WORK/$1/spool"/seg-*.log >/dev/null 2>&1 && [ "$(cat "$WORK/$1/spool"/seg-*.log | wc -c)" -gt 0 ]; }

# 1. Every AWS destination refuses connections; events pile up in the spool.
config aws-down '  - {name: cam, source: {mode: url, url: "'"$WORK/clip.mp4"'", loop: true, realtime: false},
     publishers: {kinesis_stream_name: ev, s3_bucket: snaps, dynamodb_table: t}}'
run_bg "$WORK/aws-down.yaml" "$WORK/aws-down.log"
wait_for 60 grep -q 'not delivered\|publish failed' "$WORK/aws-down.log" || fail "aws-down: no delivery failure seen"
sleep 2
stop_within aws-down $LIMIT
spooled aws-down || fail "aws-down: the undelivered events are not in the spool"
grep -q 'drained in' "$WORK/aws-down.log" || fail "aws-down: the drain did not finish by itself"

# 2. The same with two signals: the second one ends it at once.
run_bg "$WORK/aws-down.yaml" "$WORK/aws-down2.log"
wait_for 60 grep -q 'not delivered\|publish failed' "$WORK/aws-down2.log" || fail "aws-down2: no failure seen"
stop_within aws-down2 2000 2

# 2b. Every AWS destination accepts connections and never answers: requests
#     in flight give up at the drain's deadline.
config stalled '  - {name: cam, source: {mode: url, url: "'"$WORK/clip.mp4"'", loop: true, realtime: false},
     publishers: {kinesis_stream_name: ev, s3_bucket: snaps, dynamodb_table: t}}'
sed -i "s|http://127.0.0.1:1\"|http://127.0.0.1:$SILENT_PORT\"|g" "$WORK/stalled.yaml"
run_bg "$WORK/stalled.yaml" "$WORK/stalled.log"
wait_for 60 bash -c "[ \$(grep -c '\"msg\":\"event: ' '$WORK/stalled.log') -ge 3 ]" || fail "stalled: no events"
sleep 2
stop_within stalled $LIMIT

# 3. Network inputs that accept and never answer: RTSP and an HLS playlist.
config silent '  - {name: rtsp, source: {mode: url, url: "rtsp://127.0.0.1:'"$SILENT_PORT"'/cam"}, publishers: {local_dir: "'"$WORK/silent/out"'"}}
  - {name: hls, source: {mode: url, url: "http://127.0.0.1:'"$SILENT_PORT"'/live.m3u8"}, publishers: {local_dir: "'"$WORK/silent/out"'"}}'
run_bg "$WORK/silent.yaml" "$WORK/silent.log"
wait_for 20 http_get "http://127.0.0.1:$METRICS_PORT/healthz" || fail "silent: no /healthz"
sleep 2
stop_within silent $LIMIT

# 4. The data folders deleted mid-run.
config deleted '  - {name: cam, source: {mode: url, url: "'"$WORK/clip.mp4"'", loop: true}, publishers: {local_dir: "'"$WORK/deleted/out"'"}}'
run_bg "$WORK/deleted.yaml" "$WORK/deleted.log"
wait_for 60 test -s "$WORK/deleted/out/events.jsonl" || fail "deleted: no events"
# kvs-infer may recreate a folder while rm walks it ("Directory not empty"):
# that is the state under test, so delete again rather than fail here.
for _ in 1 2 3 4 5; do rm -rf "$WORK/deleted/out" "$WORK/deleted/spool" 2>/dev/null && break; sleep 0.1; done
sleep 3
stop_within deleted $LIMIT

# 4b. Clips with every destination down and a small spool: past the clips'
#     quarter of the spool each clip is lost at once (logged) while events go
#     on being spooled; a signal mid-remux still ends in time, and no scratch
#     file is left in {spool.dir}/tmp.
config clips '  - {name: cam, source: {mode: url, url: "'"$WORK/clip.mp4"'", loop: true, realtime: false},
     clip: {pre_seconds: 2, post_seconds: 2}, publishers: {kinesis_stream_name: ev, s3_bucket: snaps}}'
sed -i 's|^spool: {dir: \(.*\)}$|spool: {dir: \1, max_bytes: 4194304}|' "$WORK/clips.yaml"
run_bg "$WORK/clips.yaml" "$WORK/clips.log"
wait_for 90 grep -q '"msg":"clip lost: ' "$WORK/clips.log" || fail "clips: no clip lost to the clips' share: $(grep -c clip_ready "$WORK/clips.log") clip_ready"
n=$(grep -c '"msg":"event: ' "$WORK/clips.log")
wait_for 30 bash -c "[ \$(grep -c '\"msg\":\"event: ' '$WORK/clips.log') -gt $n ]" || fail "clips: events stopped once clips were lost"
stop_within clips $LIMIT
[ -z "$(ls -A "$WORK/clips/spool/tmp")" ] || fail "clips: scratch files left: $(ls "$WORK/clips/spool/tmp")"

# 5. The spool's filesystem full.
mkdir -p "$WORK/full"
if mount -t tmpfs -o size=600k tmpfs "$WORK/full" 2>/dev/null; then
  trap 'umount -l "$WORK/full" 2>/dev/null; cleanup' EXIT
  SPOOL_DIR="$WORK/full/spool" config full '  - {name: cam, source: {mode: url, url: "'"$WORK/clip.mp4"'", loop: true, realtime: false},
     publishers: {kinesis_stream_name: ev}}'

  run_bg "$WORK/full.yaml" "$WORK/full.log"
  wait_for 90 grep -q 'cannot spool the event yet' "$WORK/full.log" || fail "full: the spool never filled"
  stop_within full $LIMIT
else
  note "full: cannot mount a small tmpfs here (needs root): state not tested"
fi

# 5b. A batch of files whose sources ended with minutes of frames still to
#     analyse (issue 26.10): a signal cuts that analysis short.
ffmpeg -v error -y -i "$WORK/clip.mp4" -frames:v 12 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/short.mp4"
{
  echo "metrics: {listen: \"127.0.0.1:0\"}"
  echo "spool: {dir: \"$WORK/backlog/spool\"}"
  echo "queue_depth: 16" # each short clip fits: its reader ends at once
  echo "defaults: {source: {mode: url, url: \"$WORK/short.mp4\", realtime: false}, publishers: {local_dir: \"$WORK/backlog/out\"},"
  echo "           detectors: [{type: yolo, params: {model: \"$MODEL\"}}]}"
  echo "cameras:"
  for i in $(seq 1 20); do echo "  - name: clip-$i"; done
} >"$WORK/backlog.yaml"
run_bg "$WORK/backlog.yaml" "$WORK/backlog.log"
wait_for 60 grep -q 'analysing the [0-9]* frame(s) read first' "$WORK/backlog.log" || fail "backlog: the sources did not end first: $(tail -3 "$WORK/backlog.log.err")"
stop_within backlog $LIMIT
grep -q 'frame(s) read are not analysed' "$WORK/backlog.log" || fail "backlog: the signal did not cut the analysis short"

# 6. A finite file whose events cannot be delivered: the drain ends by itself.
config ended '  - {name: cam, source: {mode: url, url: "'"$WORK/clip.mp4"'", realtime: false},
     publishers: {kinesis_stream_name: ev, s3_bucket: snaps}}'
t0=$(date +%s)
rc=0; timeout 60 "$KVS_BIN" --config "$WORK/ended.yaml" >"$WORK/ended.log" 2>&1 || rc=$?
secs=$(( $(date +%s) - t0 ))
note "ended: exit $rc after $secs s"
echo "shutdown-ms ended-by-itself $(grep -o '"msg":"drained in [0-9.]* s"' "$WORK/ended.log" | grep -o '[0-9.]*' | awk '{printf "%d", $1 * 1000}') (the drain's own time, up to 10 s by design)"
[ "$rc" = 0 ] || fail "ended: exit code $rc (124: it never stopped)"
grep -q 'drained in' "$WORK/ended.log" || fail "ended: the drain did not finish by itself"
spooled ended || fail "ended: the undelivered events are not in the spool"
echo PASS
