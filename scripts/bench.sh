#!/usr/bin/env bash
# Builds a clip and runs kvs-bench: pipeline frames/s and per-stage ms for 1
# and 4 cameras beside the inference-only figure, in one run.
#   usage: scripts/bench.sh [path/to/kvs-bench]   (KVS_BENCH_CAMERAS=1,4)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bench/kvs-bench}
model=models/coco/yolox_nano.onnx
[ -f "$model" ] || { echo "bench: $model missing (scripts/fetch-models.sh)"; exit 1; }
clip=build/bench-clip-60s.mp4
if [ ! -f "$clip" ]; then
  if [ -f media/vtest.avi ]; then  # pedestrians, so the event path is exercised too
    ffmpeg -v error -y -i media/vtest.avi -t 60 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$clip"
  else
    ffmpeg -v error -y -f lavfi -i testsrc2=size=768x576:rate=10 -t 60 -c:v libx264 -pix_fmt yuv420p "$clip"
  fi
fi
exec "$bin" --model "$model" --clip "$clip" --cameras "${KVS_BENCH_CAMERAS:-1,4}" --seconds 10
