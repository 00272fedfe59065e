#!/usr/bin/env bash
# bench-alpr: end-to-end ALPR accuracy of the real binary on the us, eu and br
# photo sets (bench/alpr_eval.py), with the pipeline as it was before the
# accuracy work (commit $KVS_ALPR_BASELINE, built here from git) run beside
# today's in the same run, all three sets in one table, then the failure
# kinds, confidence and repair tables.
#   usage: scripts/bench-alpr.sh [path/to/kvs-infer] [alpr_eval.py options]
#   us: our own list of public US photos (bench/alpr_sets/us.tsv), copied out
#   of mirrors under KVS_ALPR_MIRROR (default /work/.mirror) or clones;
#   eu, br: KVS_ALPR_SETS, a copy of github.com/openalpr/benchmarks (else it is
#   cloned into build/bench-alpr). A set that cannot be had is skipped with a
#   message. KVS_MODELS_DIR: the models.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-build/kvs-infer}")
[ $# -gt 0 ] && shift
work=$(dirname "$bin")/bench-alpr
models=${KVS_MODELS_DIR:-models}
[ -f "$models/plates/plate_yolo11_int8_640.onnx" ] || models=${KVS_MODELS_MIRROR:-../shared/models}
rev=${KVS_ALPR_BASELINE:-4cd1f59}
mkdir -p "$work"
baseline=()
if git rev-parse -q --verify "$rev^{commit}" >/dev/null 2>&1; then
  old="$work/baseline-$rev"
  if [ ! -x "$old/build/kvs-infer" ]; then
    echo "bench-alpr: building the baseline ($rev) into $old"
    rm -rf "$old" && mkdir -p "$old/src"
    git archive "$rev" | tar -x -C "$old/src"
    cmake -S "$old/src" -B "$old/build" -DCMAKE_BUILD_TYPE=Release >"$old/build.log" 2>&1 &&
      cmake --build "$old/build" -j"$(nproc)" --target kvs-infer >>"$old/build.log" 2>&1 ||
      { echo "bench-alpr: baseline build failed (see $old/build.log)"; exit 1; }
  fi
  baseline=(--baseline "$old/build/kvs-infer")
else
  echo "bench-alpr: commit $rev is not in this clone: the baseline column is skipped"
fi
py=/usr/bin/python3
# The modes: the pipeline as it was (plate YOLO; DB over the whole frame), and
# today's with each set's region. Europe has personalised plates, so a read
# that fits no format is kept there; Brazil issues none, so it is not. The US
# has vanity plates too: the us preset is run both ways, and without a region.
us="old:plate;old:db;plate;plate+region=us"
us="$us;plate+region=us+require_format=false+whole_frame_fallback=true"
eu="old:plate;old:db;plate+region=[sk,cz,pl]+require_format=false+whole_frame_fallback=true"
eu="$eu;plate+region=eu+require_format=false+whole_frame_fallback=true"
br="old:plate;old:db;plate+region=br+whole_frame_fallback=true"
"$py" bench/alpr_eval.py "$bin" --models "$models" --work "$work" --sets us,eu,br \
  --set-modes "us=$us" --set-modes "eu=$eu" --set-modes "br=$br" "${baseline[@]}" "$@"
