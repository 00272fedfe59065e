#!/usr/bin/env bash
# Builds a clip and runs kvs-bench: pipeline frames/s and per-stage ms for 1
# and 4 cameras beside the inference-only figure, then a Python + OpenCV
# pipeline on the same clip and model, in one run.
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
"$bin" --model "$model" --clip "$clip" --cameras "${KVS_BENCH_CAMERAS:-1,4}" --seconds 10 | tee build/bench.out
# The Python + OpenCV pipeline doing the core of the same work on the same
# clip and model (bench/baseline_opencv.py); KVS_BENCH_BASELINE=0 skips it.
[ "${KVS_BENCH_BASELINE:-1}" = 0 ] && exit 0
if ! /usr/bin/python3 -c 'import cv2' 2>/dev/null; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  echo "bench: installing python3-opencv for the baseline"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-opencv >/dev/null ||
    { echo "bench: baseline skipped (python3-opencv could not be installed)"; exit 0; }
fi
/usr/bin/python3 bench/baseline_opencv.py "$model" "$clip" --seconds 10 | tee -a build/bench.out
awk '/^pipeline +cameras=/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "frames/s") p[$2] = $i }
     /^baseline-opencv/ { for (i = 1; i <= NF; i++) if ($(i + 1) == "frames/s") b = $i }
     END { for (c in p) if (b > 0) printf "ratio pipeline/python+opencv (%s): %.1fx\n", c, p[c] / b }' build/bench.out
