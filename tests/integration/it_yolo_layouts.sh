#!/usr/bin/env bash
# --validate on every YOLO output layout docs/detectors.md lists, built as tiny
# planted models by tests/models/make_models.py: each one it can tell apart
# is OK; an end-to-end [1, N, 6] export with one class and no metadata saying
# what it is (it looks like a one-class YOLOv5) is refused with what it saw,
# what it expects and the params.layout that settles it, never an OK that
# then detects nothing.
. "$(dirname "$0")/lib.sh"
M=${KVS_TEST_MODELS:?KVS_TEST_MODELS is set by ctest}
[ -f "$M/e2e_96.onnx" ] || skip "planted models missing: run ctest's make_test_models"

validate() { # model-file extra-params -> rc, stderr in $WORK/e
  cat >"$WORK/c.yaml" <<YAML
cameras:
  - name: a
    source: {mode: url, url: x.mp4}
    detectors:
      - type: yolo
        params: {model: "$M/$1"$2}
YAML
  "$KVS_BIN" --config "$WORK/c.yaml" --validate 2>"$WORK/e" >/dev/null
}

for m in yolov8_96 yolov5_96 yolov5_1class_96 e2e_96 e2e_bare_96 v10_1class_96 nms_1class_96; do
  validate "$m.onnx" "" || fail "$m: --validate refused: $(cat "$WORK/e")"
done

rc=0
validate e2e_1class_bare_96.onnx "" || rc=$?
[ "$rc" = 2 ] || fail "ambiguous [1,300,6]: rc=$rc, want 2: $(cat "$WORK/e")"
grep -q 'output \[1, 300, 6\] is either end-to-end' "$WORK/e" || fail "message: $(cat "$WORK/e")"
grep -q 'params.layout: end2end or yolov5' "$WORK/e" || fail "no way out named: $(cat "$WORK/e")"
validate e2e_1class_bare_96.onnx ", layout: end2end" || fail "layout: end2end: $(cat "$WORK/e")"

# a layout the user names must fit the shape: a [1, 300, 6] read as yolov8
# would be 296 class rows
rc=0
validate v10_1class_96.onnx ", layout: yolov8" || rc=$?
[ "$rc" = 2 ] && grep -q 'outputs 296 classes but 1 class names' "$WORK/e" ||
  fail "layout: yolov8 on [1,300,6]: rc=$rc $(cat "$WORK/e")"
echo "OK"
