#!/usr/bin/env bash
# The real binary, YOLOX-nano on OpenCV's vtest.avi (pedestrians): people are
# found, boxes are people-shaped and inside the frame, ROI include/exclude and
# thresholds are respected, images are real JPEGs, the H.264 transcode finds
# the same people in the same places.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
ffmpeg -v error -y -i "$MEDIA" -t 30 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/vtest.mp4"

cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
defaults:
  source: {mode: url, url: "$MEDIA", realtime: false}
  fps_limit: 2
  publishers: {local_dir: "$WORK/out"}
  detectors:
    - {type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}
cameras:
  - name: all
  - name: h264
    source: {mode: url, url: "$WORK/vtest.mp4", realtime: false}
  - name: left
    roi:
      - {name: left, polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]}
    detectors:
      - {type: yolo, confidence_threshold: 0.5, roi: [left], params: {model: "$MODEL", classes: [person]}}
  - name: strict
    detectors:
      - {type: yolo, confidence_threshold: 0.8, params: {model: "$MODEL", classes: [person]}}
  - name: nobottom
    roi:
      - {name: bottom, exclude: true, polygon: [[0, 0.6], [1, 0.6], [1, 1], [0, 1]]}
YAML
"$KVS_BIN" --config "$WORK/c.yaml" --validate
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?: $(tail -5 "$WORK/err")"
cat "$WORK/err" >&2
$CHECK summary "$WORK/out"
$CHECK verify "$WORK/out" all --label person --min-events 10 --min-conf 0.5 --pedestrians
$CHECK verify "$WORK/out" h264 --label person --min-events 5 --min-conf 0.5 --pedestrians
$CHECK verify "$WORK/out" left --roi left --inside 0,0,0.5,1 --min-events 3
$CHECK verify "$WORK/out" strict --min-conf 0.8 --min-events 1
$CHECK verify "$WORK/out" nobottom --outside 0,0.6,1,1 --min-events 3
$CHECK compare "$WORK/out" h264 all --min-match 0.6
# Thresholds and zones remove detections, they never add any (events are per
# tracked object, so a flickering threshold can split one object in two).
$PY - "$WORK/err" <<'PYEOF'
import re, sys
det = dict(re.findall(r"^  (\S+) .*detections (\d+)", open(sys.argv[1]).read(), re.M))
det = {k: int(v) for k, v in det.items()}
assert det["strict"] < det["all"] and det["left"] < det["all"] and det["nobottom"] < det["all"], det
assert det["all"] > 300, det
print("detections per camera:", det)
PYEOF
# Every log line is one JSON object with ts, level and msg.
$PY -c '
import json, sys
for n, line in enumerate(open(sys.argv[1]), 1):
    o = json.loads(line)
    assert {"ts", "level", "msg"} <= o.keys(), (n, line)' "$WORK/log"
grep -q '"camera_name":"left"' "$WORK/log" || fail "logs lack camera context"
echo PASS
