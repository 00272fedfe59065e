#!/usr/bin/env bash
# The main job on the embedded default: four cameras replaying OpenCV's
# vtest.avi through YOLOX-nano, events and images to out/demo. No AWS account.
# Installs what is missing first (scripts/setup.sh), builds, runs, summarises.
#   KVS_DEMO_REALTIME=true   pace the files like live cameras (80 s)
#   KVS_METRICS_PORT=N       /metrics on port N (default 9090, or a free port when 9090 is taken)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
if [ ! -f models/coco/yolox_nano.onnx ]; then
  cat >&2 <<'MSG'
demo: models/coco/yolox_nano.onnx is missing, so the detector is turned off
      (KVS_DEMO_DETECT=false) and no events produced (the rest of the pipeline still runs). To supply it, either
        KVS_MODELS_MIRROR=/path/to/models scripts/fetch-models.sh   (a folder with coco/yolox_nano.onnx)
      or, online:
        scripts/fetch-models.sh   (downloads the official YOLOX release file)
MSG
  export KVS_DEMO_DETECT=false # a configured detector without its model is an error
fi
rm -rf out/demo out/spool
mkdir -p out
port=$(scripts/metrics-port.sh 9090)
export KVS_METRICS_LISTEN=${KVS_METRICS_LISTEN:-127.0.0.1:$port}
echo "demo: 4 cameras on media/vtest.avi; JSON logs in out/demo.log, metrics on http://$KVS_METRICS_LISTEN/metrics while it runs" >&2
start=$(date +%s.%N)
./build/kvs-infer --config config/demo.yaml >out/demo.log
end=$(date +%s.%N)
events=$( [ -f out/demo/events.jsonl ] && wc -l <out/demo/events.jsonl || echo 0)
images=$( [ -d out/demo ] && find out/demo -name '*.jpg' | wc -l || echo 0)
printf '\ndemo: %s events in out/demo/events.jsonl, %s JPEG snapshots and crops under out/demo/, %.1f s\n' \
  "$events" "$images" "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')" >&2
if [ "$events" -gt 0 ]; then
  echo "demo: first event:" >&2
  head -n 1 out/demo/events.jsonl >&2
fi
