#!/usr/bin/env bash
# fire_smoke on real footage: the wildfire drone clip raises smoke events (one
# per tracked plume, not one per frame) and the pedestrian clip raises none,
# with the repaired YOLOv8n fire/smoke model of the models mirror (docs/detectors.md:
# smoke >= 0.5 separates every sample clip; its flame class fires on red lights
# and skin, so flames get a high threshold here).
. "$(dirname "$0")/lib.sh"
M="${KVS_MODELS_MIRROR:-$KVS_SOURCE_DIR/../shared/models}/fire/yolov8n_fire_smoke_int8_416_fixedout.onnx"
[ -f "$M" ] || M="$KVS_SOURCE_DIR/models/fire/yolov8n_fire_smoke_int8_416_fixedout.onnx"
[ -f "$M" ] || need "fire/yolov8n_fire_smoke_int8_416_fixedout.onnx is missing (models mirror)"
FIRE="${KVS_MEDIA_MIRROR:-$KVS_SOURCE_DIR/../shared/media}/video/fire_smoke_drone_360p.mp4"
[ -f "$FIRE" ] || need "video/fire_smoke_drone_360p.mp4 is missing (media mirror)"
PEOPLE=$(find_media)
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
defaults:
  fps_limit: 5
  publishers: {local_dir: "$WORK/out"}
  detectors:
    - type: fire_smoke
      params: {model: "$M", class_thresholds: {smoke: 0.5, fire: 0.95}}
cameras:
  - {name: wildfire, source: {mode: url, url: "$FIRE", realtime: false}}
  - {name: street, source: {mode: url, url: "$PEOPLE", realtime: false}}
YAML
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?: $(tail -3 "$WORK/err")"
note "$(grep -E 'wildfire|street' "$WORK/err" | tr -s ' ')"
$PY - "$WORK/out/events.jsonl" <<'PYEOF' || fail "fire/smoke events"
import collections, json, sys
ev = [json.loads(l) for l in open(sys.argv[1])] if open(sys.argv[1]).read().strip() else []
by = collections.Counter((e["camera_name"], e["label"]) for e in ev)
print("fire_smoke events:", dict(by))
assert by[("wildfire", "smoke")] >= 1, "no smoke on the wildfire clip"
assert sum(n for (c, _), n in by.items() if c == "wildfire") <= 10, "not one event per plume"
assert not any(c == "street" for c, _ in by), "false alarm on the pedestrian clip"
PYEOF
echo PASS
