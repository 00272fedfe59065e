#!/usr/bin/env bash
# decode: auto | all | keyframes on real footage (vtest.avi as H.264 with a
# 2 s GOP), analysed at one frame per GOP: key frames only decode about one
# frame in twenty yet analyse as many frames and find the same people as
# decoding everything; auto learns the GOP from the first key frames. A stream
# with intra refresh (no key frame after the first) falls back to decoding
# everything, logged once, and is still analysed. A realtime file whose frames
# cannot be decoded in real time (4K at 240 fps, one decoder thread) falls
# behind: it skips to the next key frame, counts what was due as dropped
# (reason="behind") and its lag gauge stays bounded instead of growing.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
ffmpeg -v error -y -i "$MEDIA" -c:v libx264 -preset veryfast -g 20 -keyint_min 20 -sc_threshold 0 \
  -pix_fmt yuv420p "$WORK/gop2.mp4"
ffmpeg -v error -y -i "$MEDIA" -t 40 -c:v libx264 -preset veryfast -x264-params keyint=10000:intra-refresh=1 \
  -pix_fmt yuv420p "$WORK/refresh.mp4"
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
defaults:
  fps_limit: 0.5
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - {name: all, decode: all, source: {url: "$WORK/gop2.mp4", realtime: false}}
  - {name: auto, source: {url: "$WORK/gop2.mp4", realtime: false}}
  - {name: keys, decode: keyframes, source: {url: "$WORK/gop2.mp4", realtime: false}}
  - {name: refresh, decode: keyframes, source: {url: "$WORK/refresh.mp4", realtime: false}}
YAML
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?: $(tail -3 "$WORK/err")"
cat "$WORK/err" >&2
$PY - "$WORK/err" <<'PYEOF' || fail "decoded and analysed frames"
import re, sys
cams = {m[0]: (int(m[1]), int(m[2])) for m in
        re.findall(r"^  (\w+)\s+\w+\s+decoded (\d+), analysed (\d+)", open(sys.argv[1]).read(), re.M)}
(da, aa), (du, au), (dk, ak), (dr, ar) = cams["all"], cams["auto"], cams["keys"], cams["refresh"]
assert da == 795 and 39 <= aa <= 41, cams
assert dk <= 41 and ak >= aa - 1, f"keyframes: decoded {dk}, analysed {ak} (all: {aa})"
assert du <= 2 * 20 + 41 and au >= aa - 1, f"auto: decoded {du}, analysed {au}"
assert dr > 300 and ar >= 15, f"intra refresh: decoded {dr}, analysed {ar}"
print(f"decoded/analysed: all {da}/{aa}, auto {du}/{au}, keyframes {dk}/{ak}, intra refresh {dr}/{ar}")
PYEOF
[ "$(grep -c 'no key frame for .* decoding every frame from now on' "$WORK/log")" = 1 ] ||
  fail "the intra-refresh fallback was not logged once: $(grep -c 'no key frame' "$WORK/log")"
grep 'no key frame' "$WORK/log" | grep -q '"camera_name":"refresh"' || fail "fallback logged for the wrong camera"
$CHECK compare "$WORK/out" keys all --min-match 0.9
$CHECK compare "$WORK/out" auto all --min-match 0.9

ffmpeg -v error -y -f lavfi -i testsrc2=size=3840x2160:rate=240:duration=2 -c:v libx264 -preset ultrafast \
  -g 120 -pix_fmt yuv420p "$WORK/4k240.mp4"
METRICS_PORT=$(free_port)
cat >"$WORK/fast.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool-fast"}
cameras:
  - name: fast
    source: {url: "$WORK/4k240.mp4", loop: true}
    decode: all
    fps_limit: 2
    publishers: {local_dir: "$WORK/out-fast"}
    detectors: [{type: yolo, params: {model: "$MODEL", classes: [person]}}]
YAML
run_bg "$WORK/fast.yaml" "$WORK/fast.log"
wait_for 20 http_get "http://127.0.0.1:$METRICS_PORT/healthz" >/dev/null || fail "no /healthz"
sleep 10
behind=$(metric 'kvs_infer_frames_dropped_total{camera="fast",reason="behind"')
lag=$(metric 'kvs_infer_camera_lag_seconds{camera="fast"')
analysed=$(metric 'kvs_infer_frames_processed_total{camera="fast"')
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "exit $? after SIGTERM"
note "4K240 realtime after ~10 s: $behind due frames dropped as behind, lag ${lag} s, $analysed analysed"
[ "${behind%.*}" -ge 1 ] || fail "nothing counted as behind"
$PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 3 else 1)' "$lag" || fail "lag $lag s: not bounded"
[ "${analysed%.*}" -ge 5 ] || fail "only $analysed frames analysed while behind"
echo PASS
