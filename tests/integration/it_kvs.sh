#!/usr/bin/env bash
# KVS for real: the binary reads the emulator (real footage cut into KVS
# fragments, every call's SigV4 checked) through HLS fMP4, HLS MPEG-TS and
# GetMedia, live and as replays, while every fault switch fires on some
# cameras: session expiry, throttling, 5xx, connections cut mid-fragment,
# corrupt fragments, garbage between MKV fragments, a stalled producer and a
# resolution change. Checks: frames decoded, events carrying the right
# fragment numbers and producer/server times, every fragment read once and in
# order (no loss across session renewal, no repeat or gap across GetMedia
# resumes), every fault counted, the untouched camera unaffected, and no
# session token in the logs.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
need_standins
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
EPORT=$(free_port); METRICS_PORT=$(free_port)
kvs_emulator emulator "$EPORT" s1,s2,s3,s4,s5,s6 --history-s 60
wait_ready emulator
REPLAY_FROM=$($PY -c 'import time; print(int(time.time() * 1000) - 25000)')
REPLAY_ISO=$($PY -c 'import datetime,sys; print(datetime.datetime.fromtimestamp(int(sys.argv[1]) / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")' "$REPLAY_FROM")
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$EPORT"}}
defaults:
  fps_limit: 1
  decode: all   # every frame: the reference camera's decode rate and the corrupt fragments' errors are measured
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - {name: hls-fmp4, stream_name: s1, source: {mode: hls}}
  - {name: hls-ts, stream_name: s2, source: {mode: hls, container: ts}}
  - {name: gm, stream_name: s3, source: {mode: getmedia}}
  - {name: gm-ref, stream_name: s4, source: {mode: getmedia}}
  - {name: hls-replay, stream_name: s5, source: {mode: hls, start: "$REPLAY_ISO"}}
  - {name: gm-replay, stream_name: s6, source: {mode: getmedia, start: "$REPLAY_ISO"}}
YAML
"$KVS_BIN" --config "$WORK/c.yaml" --log-level debug >"$WORK/log" 2>"$WORK/err" &
KVS_PID=$!; PIDS+=("$KVS_PID")
frags() { metric "kvs_infer_source_fragments_total{camera=\"$1\"}"; }
all_started() { for c in hls-fmp4 hls-ts gm gm-ref hls-replay gm-replay; do [ "$(frags $c)" -ge 3 ] || return 1; done; }
wait_for 60 all_started || fail "not every camera read 3 fragments: $(grep -v debug "$WORK/log" | tail -5)"
note "all cameras reading; arming faults"
REF0=$(metric 'kvs_infer_frames_decoded_total{camera="gm-ref"'); T0=$(date +%s.%N)
kvs_fault "$EPORT" s1 expire
kvs_fault "$EPORT" s2 corrupt 1; kvs_fault "$EPORT" s2 cut 1
kvs_fault "$EPORT" s3 cut 1; kvs_fault "$EPORT" s3 corrupt 1
sleep 3
kvs_fault "$EPORT" s2 throttle 2; kvs_fault "$EPORT" s2 error5xx 2
kvs_fault "$EPORT" s3 garbage 1
sleep 3
kvs_fault "$EPORT" s1 resolution; kvs_fault "$EPORT" s3 resolution
kvs_fault "$EPORT" s2 stall 7000
sleep 3
# GetMedia makes calls only to reconnect: throttle and fail the calls after a cut.
kvs_fault "$EPORT" s3 throttle 2; kvs_fault "$EPORT" s3 error5xx 1; kvs_fault "$EPORT" s3 cut 1
kvs_fault "$EPORT" s1 cut 1
sleep 9
REF1=$(metric 'kvs_infer_frames_decoded_total{camera="gm-ref"'); T1=$(date +%s.%N)
http_get "http://127.0.0.1:$EPORT/_emulator/stats" >"$WORK/stats.json"
curl_metrics=$(http_get "http://127.0.0.1:$METRICS_PORT/metrics")
# Issue 9.7: KVS's MillisBehindNow is exported in seconds.
behind=$(metric 'kvs_infer_source_seconds_behind_now{camera="gm-ref"')
$PY -c 'import sys; v = float(sys.argv[1]); sys.exit(0 if 0 <= v < 30 else 1)' "$behind" ||
  fail "kvs_infer_source_seconds_behind_now is $behind (not seconds?)"
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "kvs-infer exited $?: $(tail -3 "$WORK/err")"
note "$(tail -8 "$WORK/err")"
for s in s1 s2 s3 s4 s5 s6; do http_get "http://127.0.0.1:$EPORT/_emulator/fragments?stream=$s" >"$WORK/$s.json"; done

# Every fault fired and the emulator has none left armed.
$PY - "$WORK/stats.json" <<'PYEOF' || fail "faults not all applied"
import json, sys
st = json.load(open(sys.argv[1]))["streams"]
for s, v in st.items():
    assert all(n == 0 for n in v["armed"].values()), (s, v["armed"])
print("faults applied:", {s: {k: n for k, n in v["applied"].items() if n} for s, v in st.items()})
PYEOF
# Every fragment read once, in order, none lost (GetMedia: with every frame).
$CHECK_KVS fragments "$WORK/log" hls-fmp4 "$WORK/s1.json"
$CHECK_KVS fragments "$WORK/log" hls-ts "$WORK/s2.json"
$CHECK_KVS fragments "$WORK/log" gm "$WORK/s3.json" --frames
$CHECK_KVS fragments "$WORK/log" gm-ref "$WORK/s4.json" --frames
$CHECK_KVS fragments "$WORK/log" hls-replay "$WORK/s5.json"
$CHECK_KVS fragments "$WORK/log" gm-replay "$WORK/s6.json" --frames
$CHECK_KVS starts "$WORK/log" hls-replay "$WORK/s5.json" "$REPLAY_FROM"
$CHECK_KVS starts "$WORK/log" gm-replay "$WORK/s6.json" "$REPLAY_FROM"
# Events carry the fragment and the producer (and GetMedia: server) times.
for c in hls-fmp4:s1 hls-ts:s2 hls-replay:s5; do $CHECK_KVS events "$WORK/out/events.jsonl" "${c%%:*}" "$WORK/${c##*:}.json"; done
for c in gm:s3 gm-ref:s4 gm-replay:s6; do $CHECK_KVS events "$WORK/out/events.jsonl" "${c%%:*}" "$WORK/${c##*:}.json" --server; done
# Each fault was counted where it happened.
errs() { echo "$curl_metrics" | awk -v k="kvs_infer_stream_errors_total{camera=\"$1\",kind=\"$2\"}" '$1 == k {print $2}'; }
note "$(echo "$curl_metrics" | grep '^kvs_infer_stream_errors_total' | tr '\n' ' ')"
need() { local v; v=$(errs "$1" "$2"); [ "${v:-0}" -ge 1 ] || fail "$1: no $2 error counted"; }
need hls-fmp4 expired; need hls-fmp4 fragment
need hls-ts fragment; need hls-ts throttled; need hls-ts server; need hls-ts stalled
need gm disconnect; need gm parse; need gm throttled; need gm server
decode=$(( $(errs hls-ts decode) + $(errs gm decode) + 0 ))
note "decode errors counted from the corrupt fragments: $decode"
grep -q '"stream changed: decoding h264 384x288","camera_name":"hls-fmp4"' "$WORK/log" || fail "hls-fmp4 did not follow the resolution change"
grep -q '"stream changed: decoding h264 384x288","camera_name":"gm"' "$WORK/log" || fail "gm did not follow the resolution change"
# The untouched camera ran at full rate through it all.
$PY -c 'import sys; n,t=float(sys.argv[1]),float(sys.argv[2]); r=n/t; print(f"gm-ref: {r:.1f} frames/s during the faults"); sys.exit(0 if r > 8 else 1)' \
  "$((REF1 - REF0))" "$($PY -c "print($T1 - $T0)")" || fail "the reference camera slowed down"
[ -z "$(echo "$curl_metrics" | grep '^kvs_infer_stream_errors_total{camera="gm-ref"')" ] || fail "the reference camera saw errors"
# No session token or secret in anything printed.
! grep -q 'SessionToken=' "$WORK/log" "$WORK/err" || fail "a session URL was logged"
! grep -q "$AWS_SECRET_ACCESS_KEY" "$WORK/log" "$WORK/err" || fail "the secret was logged"
echo "PASS"
