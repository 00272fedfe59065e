#!/usr/bin/env bash
# The real binary under valgrind: a short H.264 clip through the whole
# pipeline (decode, sampling, scheduler, ONNX Runtime, tracker, JPEG, local
# sink) plus a camera whose file is missing. The planted 96x96 model keeps
# inference cheap enough for valgrind. Usage: valgrind_run.sh BUILD_DIR
. "$(dirname "$0")/integration/lib.sh"
BUILD=${1:-$KVS_SOURCE_DIR/build}
MEDIA=$(find_media)
ffmpeg -v error -y -i "$MEDIA" -t 3 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/short.mp4"
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
defaults:
  source: {mode: url, url: "$WORK/short.mp4", realtime: false}
  fps_limit: 2
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, params: {model: "$BUILD/test-models/yolov8_96.onnx"}}]
cameras:
  - name: a
  - name: missing
    source: {mode: url, url: "$WORK/nope.mp4"}
YAML
"$KVS_SOURCE_DIR/tests/valgrind/vg.sh" "$BUILD" -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
  --suppressions="$KVS_SOURCE_DIR/tests/valgrind.supp" "$BUILD/kvs-infer" --config "$WORK/c.yaml" \
  >"$WORK/log" 2>"$WORK/err" || { cat "$WORK/err" >&2; fail "valgrind found errors (exit $?)"; }
$CHECK verify "$WORK/out" a --min-events 1
echo "valgrind clean: kvs-infer"
