#!/usr/bin/env bash
# Makes a batch-dynamic copy of YOLOX-nano and runs kvs-bench-infer: ONNX
# Runtime session options and batches of 1/2/4/8 across cameras, in one run.
#   usage: scripts/bench-infer.sh [path/to/kvs-bench-infer]   (KVS_BENCH_SECONDS=8)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/bench/kvs-bench-infer}
model=models/coco/yolox_nano.onnx
[ -f "$model" ] || { echo "bench-infer: $model missing (scripts/fetch-models.sh)"; exit 1; }
batched=build/yolox_nano_batch.onnx
[ -f "$batched" ] && [ "$batched" -nt "$model" ] ||
  /usr/bin/python3 tests/models/make_batch_model.py "$model" "$batched"
exec "$bin" --model "$model" --batch-model "$batched" --seconds "${KVS_BENCH_SECONDS:-8}"
