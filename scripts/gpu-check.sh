#!/usr/bin/env bash
# On a machine with an NVIDIA GPU (and kvs-infer built against ONNX Runtime's
# GPU build: KVS_ORT=gpu scripts/setup.sh, or run inside the CUDA image): the
# same clip through the real binary on cuda:0 and on cpu, every frame analysed.
# Prints the inference time per frame on each and whether the detections
# agree (each event matched by label, frame and box, IoU >= 0.8). Under 5
# minutes; exits 0 when they agree, 1 when not, 77 without a GPU.
#   scripts/gpu-check.sh [CLIP] [MODEL]      (KVS_BIN: the binary, default build/kvs-infer)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
BIN=${KVS_BIN:-$here/build/kvs-infer}
CLIP=${1:-$here/media/vtest.avi}
MODEL=${2:-$here/models/coco/yolox_nano.onnx}
command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || { echo "gpu-check: no NVIDIA GPU here" >&2; exit 77; }
for f in "$BIN" "$CLIP" "$MODEL"; do [ -e "$f" ] || { echo "gpu-check: $f is missing" >&2; exit 2; }; done
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
nvidia-smi -L >&2
run() { # DEVICE: events in $work/DEVICE/out, the last /metrics scrape in $work/DEVICE/metrics
  local dev=$1 dir=$work/${1/:/} port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkdir -p "$dir"
  cat >"$dir/c.yaml" <<YAML
device: $dev
metrics: {listen: "127.0.0.1:$port"}
spool: {dir: "$dir/spool"}
cameras:
  - name: clip
    source: {mode: url, url: "$CLIP", realtime: false}
    publishers: {local_dir: "$dir/out"}
    detectors: [{type: yolo, confidence_threshold: 0.4, params: {model: "$MODEL"}}]
YAML
  local t0=$SECONDS
  timeout 200 "$BIN" --config "$dir/c.yaml" >"$dir/log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do # the last scrape before the end is the figure
    curl -fsS "http://127.0.0.1:$port/metrics" -o "$dir/metrics.new" 2>/dev/null && mv "$dir/metrics.new" "$dir/metrics"
    sleep 0.5
  done
  wait "$pid" || { echo "gpu-check: $dev run failed: $(grep -m1 '"level":"error"' "$dir/log")" >&2; exit 1; }
  echo "gpu-check: $dev run took $((SECONDS - t0)) s" >&2
}
run cuda:0
run cpu
python3 - "$work/cuda0" "$work/cpu" <<'PYEOF'
import json, re, sys
def load(d):
    m = open(d + "/metrics").read()
    s = sum(float(x) for x in re.findall(r'^kvs_infer_inference_seconds_sum\{[^}]*\} (\S+)', m, re.M))
    n = sum(float(x) for x in re.findall(r'^kvs_infer_inference_seconds_count\{[^}]*\} (\S+)', m, re.M))
    ev = [json.loads(l) for l in open(d + "/out/events.jsonl")]
    return 1000 * s / max(n, 1), int(n), ev
def iou(a, b):
    ax2, ay2, bx2, by2 = a["x"] + a["width"], a["y"] + a["height"], b["x"] + b["width"], b["y"] + b["height"]
    iw, ih = max(0, min(ax2, bx2) - max(a["x"], b["x"])), max(0, min(ay2, by2) - max(a["y"], b["y"]))
    inter = iw * ih
    return inter / (a["width"] * a["height"] + b["width"] * b["height"] - inter + 1e-9)
def matched(xs, ys):
    return sum(any(x["label"] == y["label"] and abs(x["frame"]["pts"] - y["frame"]["pts"]) <= 200
                   and iou(x["bbox"], y["bbox"]) >= 0.8 for y in ys) for x in xs)
g_ms, g_n, g_ev = load(sys.argv[1])
c_ms, c_n, c_ev = load(sys.argv[2])
a, b = matched(g_ev, c_ev), matched(c_ev, g_ev)
agree = g_ev and c_ev and a >= 0.95 * len(g_ev) and b >= 0.95 * len(c_ev)
print(f"cuda:0  {g_ms:7.2f} ms/frame inference over {g_n} frames, {len(g_ev)} events")
print(f"cpu     {c_ms:7.2f} ms/frame inference over {c_n} frames, {len(c_ev)} events")
print(f"speed-up {c_ms / max(g_ms, 1e-9):.1f}x; events matched: {a}/{len(g_ev)} of cuda:0's, {b}/{len(c_ev)} of cpu's: "
      + ("detections agree" if agree else "detections DIFFER"))
sys.exit(0 if agree else 1)
PYEOF
