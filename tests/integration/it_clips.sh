#!/usr/bin/env bash
# Event clips (docs/publishing.md "Clips"): the real binary on real footage
# with `clip:` on. Each event names a pending clip and is followed by its
# clip_ready record; each clip, checked with ffprobe against the source, holds
# exactly the source's frames of its range, starts at most one GOP early and
# never late, and is a fast-start MP4 of the source's codec (H.264 and H.265,
# remuxed, not re-encoded). A source that ends within the post-roll gives
# shorter clips marked cut. The first run cannot reach S3: its clips wait in
# the spool, and a restart (with S3 up, nothing new to analyse) delivers them
# to the s3rver stand-in, byte-identical to the local copies.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
need_standins
[[ "$(ffmpeg -hide_banner -encoders 2>/dev/null)" == *libx265* ]] || need "ffmpeg without libx265 (H.265 clips)"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
# 10 fps footage, a key frame every 2 s (the GOP the start is checked against), B-frames.
ffmpeg -v error -y -i "$MEDIA" -t 30 -c:v libx264 -preset veryfast -g 20 -sc_threshold 0 -bf 2 -pix_fmt yuv420p "$WORK/h264.mp4"
ffmpeg -v error -y -i "$MEDIA" -t 16 -c:v libx265 -preset ultrafast -x265-params keyint=20:min-keyint=20:open-gop=0:scenecut=0:log-level=error \
  -pix_fmt yuv420p "$WORK/h265.mp4"
ffmpeg -v error -y -i "$MEDIA" -t 8 -c:v libx264 -preset veryfast -g 20 -pix_fmt yuv420p "$WORK/short.mp4"
ffmpeg -v error -y -i "$MEDIA" -t 1 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/idle.mp4"

SPORT=$(free_port)
S3EP="http://127.0.0.1:$SPORT"
config() { # $1: file, $2: detectors' threshold
  cat >"$1" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
aws:
  endpoints: {s3: "$S3EP"}
  s3_force_path_style: true
defaults:
  fps_limit: 2
  clip: {pre_seconds: 3, post_seconds: 3}
  publishers: {s3_bucket: clips, s3_prefix: kvs-infer/, s3_sse: AES256, local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: $2, params: {model: "$MODEL", classes: [person]}}]
YAML
}
config "$WORK/c.yaml" 0.5
cat >>"$WORK/c.yaml" <<YAML
cameras:
  - name: h264
    source: {mode: url, url: "$WORK/h264.mp4", realtime: false}
  - name: h265
    source: {mode: url, url: "$WORK/h265.mp4", realtime: false}
  - name: short
    source: {mode: url, url: "$WORK/short.mp4", realtime: false}
    clip: {pre_seconds: 2, post_seconds: 20}
YAML
"$KVS_BIN" --config "$WORK/c.yaml" --validate >/dev/null
# Nothing listens on S3 yet: the S3 records stay in the spool after the drain.
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || note "first run: exit $?"
grep -q '"event_type":"clip_ready"' "$WORK/out/events.jsonl" || fail "no clip_ready record: $(tail -3 "$WORK/err")"
$PY "$KVS_SOURCE_DIR/tests/integration/check_clips.py" "$WORK/out" --prefix kvs-infer/ \
  --camera "h264=$WORK/h264.mp4:h264:2.0" --camera "h265=$WORK/h265.mp4:hevc:2.0" \
  --camera "short=$WORK/short.mp4:h264:2.0" --min-cut short --s3list "$WORK/s3list" || fail "clips"
[ -s "$WORK/s3list" ] || fail "no clip to look for in S3"

# Restart with S3 up: the spooled clips are delivered.
mkdir -p "$WORK/s3data"
standin s3rver s3 "$SPORT" "$WORK/s3data" clips
wait_ready s3rver
config "$WORK/c2.yaml" 0.999
cat >>"$WORK/c2.yaml" <<YAML
cameras:
  - name: idle
    source: {mode: url, url: "$WORK/idle.mp4", realtime: false}
YAML
timeout 120 "$KVS_BIN" --config "$WORK/c2.yaml" >"$WORK/log2" 2>"$WORK/err2" || fail "second run: exit $?: $(tail -3 "$WORK/err2")"
aws_call s3-verify "$S3EP" clips "$WORK/s3list" || fail "clips in S3 after the restart"
echo PASS
