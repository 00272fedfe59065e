#!/usr/bin/env bash
# bench-fire: fire/smoke clip recall, time to first event and false alarms per
# hour of non-fire video of the real binary (bench/fire_eval.py) on the public
# clips of bench/fire_sets.tsv, materialised at bench time (bench/fire_data.py:
# from $KVS_FIRE_MIRROR, bare mirrors of the repositories, else clones), with
# the pipeline before verification (`verify={enabled: false}`) always the
# first column, today's defaults (verification on) the second.
#   usage: scripts/bench-fire.sh [path/to/kvs-infer] [fire_eval.py options]
#   KVS_FIRE_MODES: the modes (default below, plus a `model=` column for each model
#   of bench/fire_models.tsv that bench/fire_models.py fetches); KVS_FIRE_DATA: where the clips
#   go (default build/bench-fire/data); KVS_MODELS_DIR: the models.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-build/kvs-infer}")
[ $# -gt 0 ] && shift
work=$(dirname "$bin")/bench-fire
data=${KVS_FIRE_DATA:-$work/data}
models=${KVS_MODELS_DIR:-models}
[ -f "$models/fire/yolov8n_fire_smoke_int8_416_fixedout.onnx" ] || models=${KVS_MODELS_MIRROR:-../shared/models}
mkdir -p "$work" "$data"
py=/usr/bin/python3
"$py" bench/fire_data.py "$data"
modes=${KVS_FIRE_MODES:-"verify={enabled: false};default;verify={enabled: false}+class_thresholds={fire: 0.8, smoke: 0.5}"}
# the other models of bench/fire_models.tsv (fetched here, never shipped): one more column each
if [ -z "${KVS_FIRE_MODES:-}" ]; then
  while read -r m; do modes="$modes;model=$m"; done < <("$py" bench/fire_models.py "$work/models")
fi
"$py" bench/fire_eval.py "$bin" --models "$models" --data "$data" --work "$work" --modes "$modes" "$@"
