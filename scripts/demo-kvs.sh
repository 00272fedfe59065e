#!/usr/bin/env bash
# Kinesis Video Streams without an AWS account: the project's KVS emulator
# serves vtest.avi as two live streams, and kvs-infer reads one over HLS and
# one over GetMedia for SECONDS (default 30), then prints each mode's delay
# from capture to detector. Events and images go to out/demo-kvs.
#   usage: scripts/demo-kvs.sh [SECONDS]    (run scripts/demo.sh once first)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-30}
[ -x build/kvs-infer ] || { echo "demo-kvs: build first (scripts/demo.sh)" >&2; exit 1; }
[ -d tests/standins/node_modules ] || { echo "demo-kvs: run scripts/setup.sh first" >&2; exit 1; }
media=media/vtest.avi
[ -f "$media" ] || media=${KVS_MEDIA_MIRROR:-../shared/media}/opencv/vtest.avi
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rm -rf out/demo-kvs && mkdir -p out/demo-kvs
export AWS_ACCESS_KEY_ID=AKIDDEMO AWS_SECRET_ACCESS_KEY=demo-secret
node tests/standins/kvs/emulator.js --port "$port" --media "$media" --streams lobby,gate \
  --secret "$AWS_SECRET_ACCESS_KEY" --work "${TMPDIR:-/tmp}/kvs-emulator-cache" >out/demo-kvs/emulator.log 2>&1 &
emu=$!
trap 'kill $emu 2>/dev/null; wait $emu 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q ready out/demo-kvs/emulator.log && break; sleep 0.2; done
cat >out/demo-kvs/cameras.yaml <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$mport"}
spool: {dir: out/demo-kvs/spool}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$port"}}
defaults:
  fps_limit: 2
  publishers: {local_dir: out/demo-kvs}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: models/coco/yolox_nano.onnx, classes: [person]}}]
cameras:
  - {name: lobby-hls, stream_name: lobby, source: {mode: hls}}
  - {name: gate-getmedia, stream_name: gate, source: {mode: getmedia}}
YAML
echo "demo-kvs: emulator on 127.0.0.1:$port, kvs-infer for ${secs}s (metrics on http://127.0.0.1:$mport/metrics)" >&2
./build/kvs-infer --config out/demo-kvs/cameras.yaml >out/demo-kvs/kvs-infer.log &
kvs=$!
sleep "$secs"
/usr/bin/python3 - "$mport" <<'PY' >&2
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode()
for cam in ("lobby-hls", "gate-getmedia"):
    b = sorted((float("inf") if l.split('le="')[1].split('"')[0] == "+Inf" else float(l.split('le="')[1].split('"')[0]),
                float(l.rsplit(" ", 1)[1])) for l in text.splitlines()
               if l.startswith(f'kvs_infer_frame_delay_seconds_bucket{{camera="{cam}"'))
    n = b[-1][1] if b else 0
    p50 = next((le for le, c in b if c >= n / 2), float("nan")) if n else float("nan")
    print(f"demo-kvs: {cam}: {n:.0f} frames analysed, capture-to-detector delay p50 <= {p50} s")
PY
kill -TERM "$kvs"; wait "$kvs" || true
echo "demo-kvs: $(wc -l <out/demo-kvs/events.jsonl 2>/dev/null || echo 0) events in out/demo-kvs/events.jsonl" >&2
