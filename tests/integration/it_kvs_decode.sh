#!/usr/bin/env bash
# decode: auto on the KVS sources (issue 12.1): HLS (fMP4 and MPEG-TS) and
# GetMedia fragments start with a key frame, so at fps_limit 1 on the
# emulator's 1 s GOP (10 fps) a camera decodes key frames only: about one
# frame in ten, the other nine counted as skipped and never decoded, while it
# analyses as many frames as a camera decoding everything and still raises
# events that name their fragments.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
need_standins
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
EPORT=$(free_port); METRICS_PORT=$(free_port)
kvs_emulator emulator "$EPORT" s1,s2,s3,s4
wait_ready emulator
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$EPORT"}}
defaults:
  fps_limit: 1
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - {name: hls-fmp4, stream_name: s1, source: {mode: hls}}
  - {name: hls-ts, stream_name: s2, source: {mode: hls, container: ts}}
  - {name: gm, stream_name: s3, source: {mode: getmedia}}
  - {name: gm-all, stream_name: s4, source: {mode: getmedia}, decode: all}
YAML
"$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" &
KVS_PID=$!; PIDS+=("$KVS_PID")
CAMS="hls-fmp4 hls-ts gm gm-all"
analysed() { metric "kvs_infer_frames_processed_total{camera=\"$1\"}"; }
enough() { for c in $CAMS; do [ "$(analysed $c)" -ge 12 ] || return 1; done; }
wait_for 60 enough || fail "not every camera analysed 12 frames: $(tail -5 "$WORK/log")"
# Frames analysed are compared over one window once all run: HLS starts a few
# seconds after GetMedia (session, playlists), longer on a busy machine.
declare -A DEC SKIP ANA ANA0
for c in $CAMS; do ANA0[$c]=$(analysed "$c"); done
sleep 12
for c in $CAMS; do
  DEC[$c]=$(metric "kvs_infer_frames_decoded_total{camera=\"$c\"}")
  SKIP[$c]=$(metric "kvs_infer_frames_skipped_total{camera=\"$c\"}")
  ANA[$c]=$(analysed "$c")
  note "$c: decoded ${DEC[$c]}, skipped ${SKIP[$c]}, analysed ${ANA[$c]} ($((ANA[$c] - ANA0[$c])) in the window)"
done
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "kvs-infer exited $?: $(tail -3 "$WORK/err")"
for c in hls-fmp4 hls-ts gm; do
  # Key frames only: one decoded frame per GOP of ten, all of them analysed.
  [ $((DEC[$c] * 5)) -le $((DEC[$c] + SKIP[$c])) ] ||
    fail "$c decoded ${DEC[$c]} of $((DEC[$c] + SKIP[$c])) frames: not key frames only"
  [ $((ANA[$c] + 2)) -ge "${DEC[$c]}" ] || fail "$c analysed ${ANA[$c]} of ${DEC[$c]} decoded key frames"
done
# The camera decoding everything decodes every frame (its skipped ones are
# the decoded frames the sampler passed over) and analyses no more.
[ "${DEC[gm-all]}" -ge $((8 * ANA[gm-all])) ] ||
  fail "gm-all (decode: all) decoded ${DEC[gm-all]} frames for ${ANA[gm-all]} analysed"
# In the window, decode: auto analyses as many frames (one sample of slack).
W_ALL=$((ANA[gm-all] - ANA0[gm-all]))
[ "$W_ALL" -ge 8 ] || fail "gm-all analysed only $W_ALL frames in 12 s at fps_limit 1"
for c in hls-fmp4 hls-ts gm; do
  w=$((ANA[$c] - ANA0[$c]))
  [ $(((w + 1) * 10)) -ge $((W_ALL * 8)) ] ||
    fail "$c analysed $w frames in the window, the camera decoding everything $W_ALL"
done
for c in hls-fmp4 hls-ts gm; do
  $CHECK verify "$WORK/out" "$c" --label person --min-events 1 >/dev/null ||
    fail "$c raised no person event with decode: auto"
done
$PY - "$WORK/out/events.jsonl" <<'PYEOF' || fail "events without their fragment"
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    assert e["frame"]["fragment_number"], e["camera_name"]
PYEOF
echo PASS
