#!/usr/bin/env bash
# Network cameras never give up (issue 9.2): two KVS cameras (HLS and
# GetMedia) start while nothing listens on the KVS endpoint. They must keep
# retrying with capped backoff (errors counted, /readyz 503, process alive),
# then recover by themselves once the service appears, and SIGTERM must stop
# the process within 5 s in that retrying state and after.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
need_standins
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
EPORT=$(free_port); METRICS_PORT=$(free_port)
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$EPORT"}}
defaults:
  fps_limit: 1
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - {name: hls, stream_name: s1, source: {mode: hls, reconnect_max_s: 2}}
  - {name: gm, stream_name: s2, source: {mode: getmedia, reconnect_max_s: 2}}
YAML
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 20 http_get "http://127.0.0.1:$METRICS_PORT/healthz" || fail "no /healthz: $(cat "$WORK/log.err")"
sleep 6
kill -0 "$KVS_PID" 2>/dev/null || fail "kvs-infer exited while its KVS endpoint was down: $(tail -3 "$WORK/log")"
for cam in hls gm; do
  n=$(metric "kvs_infer_stream_errors_total{camera=\"$cam\"")
  note "$cam: $n error(s) while the endpoint is down"
  [ "$n" -ge 3 ] || fail "$cam: retried $n time(s) in 6 s (expected several, with backoff)"
  [ "$n" -le 40 ] || fail "$cam: $n attempts in 6 s: the backoff is not applied"
  [ "$(metric "kvs_infer_source_state{camera=\"$cam\",state=\"failed\"")" = 0 ] || fail "$cam is failed"
  [ "$(metric "kvs_infer_source_state{camera=\"$cam\",state=\"ended\"")" = 0 ] || fail "$cam has ended"
done
code=0; http_get "http://127.0.0.1:$METRICS_PORT/readyz" >"$WORK/ready" || code=$?
[ "$code" = 22 ] || fail "/readyz should be 503 while the cameras retry (got $code)"
note "readyz while down: $(cat "$WORK/ready")"

# The service appears: both cameras recover without a restart.
kvs_emulator emulator "$EPORT" s1,s2 --history-s 30
wait_ready emulator
recovered() {
  local cam
  for cam in hls gm; do
    [ "$(metric "kvs_infer_frames_processed_total{camera=\"$cam\"")" -gt 0 ] || return 1
  done
}
wait_for 60 recovered || fail "the cameras did not recover once KVS appeared: $(grep -c . "$WORK/log") log lines"
note "recovered: hls $(metric 'kvs_infer_frames_processed_total{camera="hls"') frames, gm $(metric 'kvs_infer_frames_processed_total{camera="gm"') frames"

# sigterm_within NAME: SIGTERM, exit 0 within 5 s (bounded: killed after 15 s).
sigterm_within() {
  local t0 rc ms guard
  t0=$(date +%s%N)
  kill -TERM "$KVS_PID"
  (sleep 15; kill -9 "$KVS_PID" 2>/dev/null) & guard=$!
  rc=0; wait "$KVS_PID" || rc=$?
  kill "$guard" 2>/dev/null; wait "$guard" 2>/dev/null || true
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  note "SIGTERM $1: exit $rc after $ms ms"
  [ "$rc" = 0 ] || fail "$1: exit code $rc after SIGTERM"
  [ "$ms" -lt 5000 ] || fail "$1: stopping took $ms ms (limit 5000)"
}

EMU_PID=$LAST_PID
FIRST_PID=$KVS_PID
# A second instance (own metrics port and folders) for the states that need a fresh start.
M2=$(free_port)
sed -e "s#127.0.0.1:$METRICS_PORT#127.0.0.1:$M2#" -e "s#$WORK/spool#$WORK/spool2#" -e "s#$WORK/out#$WORK/out2#" \
  "$WORK/c.yaml" >"$WORK/c2.yaml"
# Issue 9.2: failing calls must not turn into a polling storm (81 media
# playlist polls in 10 s were seen with 1 s fragments). 1 s fragments here:
# with every HLS call of the stream failing for a while, about one poll a second.
"$KVS_BIN" --config "$WORK/c2.yaml" --log-level debug >"$WORK/log-polls" 2>&1 &
KVS_PID=$!; PIDS+=("$KVS_PID")
wait_for 30 grep -q '"msg":"source open.*"camera_name":"hls"' "$WORK/log-polls" || fail "no HLS camera: $(tail -2 "$WORK/log-polls")"
sleep 2
p0=$(grep -c 'media playlist poll' "$WORK/log-polls" || true)
kvs_fault "$EPORT" s1 error5xx 25
sleep 10
polls=$(( $(grep -c 'media playlist poll' "$WORK/log-polls" || true) - p0 ))
note "HLS with failing calls: $polls media playlist polls in 10 s"
[ "$polls" -ge 3 ] || fail "the HLS camera stopped polling ($polls)"
[ "$polls" -le 20 ] || fail "$polls media playlist polls in 10 s with 1 s fragments"
sigterm_within "after the failing calls"

# Sources still opening on a stalled stream (no fragment for 15 s): SIGTERM is prompt.
kvs_fault "$EPORT" s1 stall 15000
kvs_fault "$EPORT" s2 stall 15000
run_bg "$WORK/c2.yaml" "$WORK/log-stall"
sleep 3
sigterm_within "while opening a stalled stream"
# Every call refused with 403 (a wrong secret: the emulator checks SigV4).
AWS_SECRET_ACCESS_KEY=wrong-secret run_bg "$WORK/c2.yaml" "$WORK/log-403"
wait_for 20 grep -q '403\|InvalidSignature' "$WORK/log-403" || fail "no 403 seen: $(tail -2 "$WORK/log-403")"
sleep 1
sigterm_within "while every KVS call answers 403"
KVS_PID=$FIRST_PID

# Every KVS call answers 500 (fragments, playlists, GetMedia): SIGTERM is prompt.
kvs_fault "$EPORT" s1 error5xx 100000
kvs_fault "$EPORT" s2 error5xx 100000
sleep 4
kill -0 "$KVS_PID" 2>/dev/null || fail "kvs-infer exited on 500s"
sigterm_within "with every KVS call failing with 500"

# The service goes away mid-run (both cameras were reading from it); then
# SIGTERM while retrying. A fresh emulator: the one above has its 500s armed.
kill "$EMU_PID"; wait "$EMU_PID" 2>/dev/null || true
kvs_emulator emulator2 "$EPORT" s1,s2 --history-s 30
EMU_PID=$LAST_PID
wait_ready emulator2
run_bg "$WORK/c.yaml" "$WORK/log2"
wait_for 60 recovered || fail "the cameras never read from the emulator: $(tail -2 "$WORK/log2")"
e0=$(( $(metric 'kvs_infer_stream_errors_total{camera="hls"') + $(metric 'kvs_infer_stream_errors_total{camera="gm"') ))
kill "$EMU_PID"; wait "$EMU_PID" 2>/dev/null || true
more_errors() {
  [ $(( $(metric 'kvs_infer_stream_errors_total{camera="hls"') + $(metric 'kvs_infer_stream_errors_total{camera="gm"') )) -ge $((e0 + 2)) ]
}
wait_for 20 more_errors || fail "no retries counted after KVS went away mid-run"
kill -0 "$KVS_PID" 2>/dev/null || fail "kvs-infer exited when KVS went away mid-run"
note "mid-run: $(metric 'kvs_infer_frames_processed_total{camera="hls"') + $(metric 'kvs_infer_frames_processed_total{camera="gm"') frames read before KVS went away, then retrying"
sigterm_within "while retrying a vanished endpoint"
echo PASS
