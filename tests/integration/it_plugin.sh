#!/usr/bin/env bash
# Detector plugins: the example plugin (examples/plugins/color_blob.c, built by
# the test suite's build) loads from `plugins:`, detects a red square crossing
# a generated clip and publishes through the normal path: one event per object
# (tracked), the plugin's label and file hash in the event, its JPEGs written.
# A plugin built for another ABI version, a file that is not a plugin and a
# missing file are refused with a clear message (--validate exits 2).
. "$(dirname "$0")/lib.sh"
PLUGINS="${KVS_BUILD_DIR:-$(dirname "$KVS_BIN")}/examples/plugins"
[ -f "$PLUGINS/libkvs_color_blob.so" ] || fail "the example plugin was not built ($PLUGINS)"
ffmpeg -v error -y -filter_complex "color=c=0x606060:s=640x360:r=10:d=6[bg];color=c=red:s=60x60:r=10:d=6[sq];[bg][sq]overlay=x='40+t*80':y=150" \
  -c:v libx264 -preset veryfast -pix_fmt yuv420p -t 6 "$WORK/square.mp4"
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
plugins: ["$PLUGINS/libkvs_color_blob.so"]
cameras:
  - name: yard
    source: {mode: url, url: "$WORK/square.mp4", realtime: false}
    fps_limit: 5
    publishers: {local_dir: "$WORK/out"}
    detectors:
      - type: color_blob
        params: {color: [255, 0, 0], tolerance: 90, min_pixels: 200}
YAML
"$KVS_BIN" --config "$WORK/c.yaml" --validate || fail "the plugin config does not validate"
timeout 120 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?: $(tail -3 "$WORK/err")"
grep -q 'detector type color_blob' "$WORK/log" || fail "no plugin load line in the log"
$PY - "$WORK/out/events.jsonl" <<'PYEOF' || fail "plugin events"
import json, os, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert len(ev) == 1, f"{len(ev)} events for one red square"
e = ev[0]
assert e["detector"] == "color_blob" and e["label"] == "blob", e
assert e["model"]["name"] == "libkvs_color_blob.so" and len(e["model"]["sha256"]) == 64, e["model"]
b = e["bbox"]
assert 55 <= b["width"] <= 65 and 55 <= b["height"] <= 65 and 145 <= b["y"] <= 155, b
assert os.path.getsize(e["snapshot"]) > 0 and os.path.getsize(e["crops"][0]) > 0
print("plugin event:", e["label"], b)
PYEOF
refused() { # CONFIG_PLUGIN EXPECTED_MESSAGE
  sed "s|$PLUGINS/libkvs_color_blob.so|$1|" "$WORK/c.yaml" >"$WORK/bad.yaml"
  set +e
  "$KVS_BIN" --config "$WORK/bad.yaml" --validate 2>"$WORK/bad.err"; local rc=$?
  set -e
  [ "$rc" = 2 ] && grep -q "$2" "$WORK/bad.err" || fail "plugin $1: rc=$rc, $(cat "$WORK/bad.err")"
  note "$(head -1 "$WORK/bad.err")"
}
refused "$PLUGINS/libkvs_color_blob_abi99.so" "built for plugin ABI version 99, this kvs-infer speaks version 2"
# A plate-reading plugin (tests/extensions/plate_plugin.c): its caps flag is
# all it declares, and its boxes become plates: one event per plate track,
# with the voted text, its confidence and the plate box.
cat >"$WORK/p.yaml" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool-p"}
plugins: ["$PLUGINS/libkvs_plate_plugin.so"]
cameras:
  - name: gate
    source: {mode: url, url: "$WORK/square.mp4", realtime: false}
    fps_limit: 5
    publishers: {local_dir: "$WORK/out-p"}
    detectors:
      - type: painted_plate
        params: {color: [255, 0, 0], text: "KV5123", confidence: 0.93}
YAML
timeout 120 "$KVS_BIN" --config "$WORK/p.yaml" >"$WORK/log-p" 2>"$WORK/err-p" || fail "plate plugin: exit $?: $(tail -3 "$WORK/err-p")"
grep -q 'reads plates' "$WORK/log-p" || fail "the plate plugin's load line does not say it reads plates"
$PY - "$WORK/out-p/events.jsonl" <<'PYEOF' || fail "plate plugin events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert len(ev) == 1, f"{len(ev)} events for one painted plate"
p = ev[0].get("plate")
assert p and p["text"] == "KV5123" and abs(p["confidence"] - 0.93) < 0.01, ev[0]
print("plate plugin event:", ev[0]["label"], p)
PYEOF
head -c 4096 /dev/urandom >"$WORK/junk.so"
refused "$WORK/junk.so" "plugins: plugin .*junk.so"
refused "$WORK/none.so" 'plugin ".*none.so" not found'
echo PASS
