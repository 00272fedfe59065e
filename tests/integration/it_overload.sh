#!/usr/bin/env bash
# More live cameras than the CPUs can analyse: stale frames are dropped and
# counted, every camera still gets its share of the workers, and every event
# that was produced is written — frames are dropped, never events.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
ffmpeg -v error -y -i "$MEDIA" -t 8 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/clip.mp4"
METRICS_PORT=$(free_port)
{
  echo "metrics: {listen: \"127.0.0.1:$METRICS_PORT\"}"
  echo "spool: {dir: \"$WORK/spool\"}"
  echo "defaults:"
  echo "  source: {mode: url, url: \"$WORK/clip.mp4\", realtime: true}"
  echo "  publishers: {local_dir: \"$WORK/out\"}"
  echo "  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: \"$MODEL\", classes: [person]}}]"
  echo "cameras:"
  for i in $(seq 1 16); do echo "  - name: cam$i"; done
} >"$WORK/c.yaml"
timeout 120 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?"
cat "$WORK/err" >&2
$PY - "$WORK/err" <<'PYEOF'
import re, sys
text = open(sys.argv[1]).read()
total = re.search(r"(\d+) frames decoded, (\d+) analysed .*?, (\d+) dropped as stale, (\d+) events", text)
decoded, analysed, dropped, events = map(int, total.groups())
assert dropped > 0, "16 cameras at 10 fps on this machine must drop stale frames"
assert analysed + dropped <= decoded
per = [int(m) for m in re.findall(r"analysed (\d+), dropped", text)]
assert len(per) == 16 and min(per) > 0.4 * max(per), f"unfair share of the workers: {per}"
print(f"decoded {decoded}, analysed {analysed}, dropped {dropped}; per camera {min(per)}..{max(per)}")
PYEOF
produced=$(grep -c '"msg":"event: ' "$WORK/log")
lines=$(wc -l <"$WORK/out/events.jsonl")
[ "$produced" = "$lines" ] || fail "$produced events produced, $lines written"
note "$produced events produced and written"
echo PASS
