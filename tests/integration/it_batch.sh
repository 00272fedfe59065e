#!/usr/bin/env bash
# Batching across cameras (issue 12.6), end to end: four cameras on four
# different 8 s stretches of real footage, every frame analysed, with a batch-dynamic copy of YOLOX-nano
# (tests/models/make_batch_model.py). Run once with batching off (the CPU
# default) and once with batch: {max: 4}: the second must really batch (its
# summary's mean batch) and give every camera the same events, box for box,
# as the first. A frame handed another camera's result, or a batch shifting
# the numbers, would change them.
. "$(dirname "$0")/lib.sh"
MODEL="$KVS_TEST_MODELS/yolox_nano_batch.onnx"
[ -f "$MODEL" ] || need "$MODEL missing (make_models.py makes it when models/coco/yolox_nano.onnx is there)"
MEDIA=$(find_media)
start=0
for c in a b c d; do
  ffmpeg -v error -y -ss "$start" -i "$MEDIA" -t 8 -c:v libx264 -preset veryfast -pix_fmt yuv420p \
    "$WORK/clip-$c.mp4"
  start=$((start + 20))
done

run() { # name, extra top-level YAML
  local out="$WORK/out-$1"
  {
    echo "metrics: {listen: \"127.0.0.1:0\"}"
    echo "spool: {dir: \"$WORK/spool-$1\"}"
    echo "$2"
    echo "cameras:"
    for c in a b c d; do
      cat <<YAML
  - name: cam-$c
    source: {mode: url, url: "$WORK/clip-$c.mp4", realtime: false}
    publishers: {local_dir: "$out"}
    detectors:
      - type: yolo
        confidence_threshold: 0.45
        params: {model: "$MODEL", classes: [person]}
YAML
    done
  } >"$WORK/$1.yaml"
  timeout 300 "$KVS_BIN" --config "$WORK/$1.yaml" >"$WORK/$1.log" 2>"$WORK/$1.err" ||
    fail "$1: exit $?: $(tail -3 "$WORK/$1.err")"
}
run alone ""
run batched "batch: {max: 4, wait_ms: 20}"

grep -q 'batches of up to 4 (20.0 ms wait)' "$WORK/batched.log" ||
  fail "the batched run did not start with batches of 4: $(grep -m1 'kvs-infer starting' "$WORK/batched.log")"
grep -q 'x 1 thread(s), no batching' "$WORK/alone.log" &&
  ! grep -q "batches:" "$WORK/alone.err" || fail "batching is on by default on CPU"
mean=$(sed -n 's/.*mean batch \([0-9.]*\)).*/\1/p' "$WORK/batched.err")
note "batched run: $(grep 'batches:' "$WORK/batched.err")"
[ -n "$mean" ] || fail "no batch figures in the summary: $(tail -8 "$WORK/batched.err")"
$PY -c "import sys; sys.exit(0 if float('$mean') >= 1.5 else 1)" || fail "mean batch $mean: hardly batched"

$PY - "$WORK/out-alone/events.jsonl" "$WORK/out-batched/events.jsonl" <<'PYEOF'
import collections, json, sys
def load(path):
    per = collections.defaultdict(list)
    for line in open(path, encoding="utf-8"):
        e = json.loads(line)
        b = e["bbox"]
        per[e["camera_name"]].append((e["frame"]["pts"], e["label"], e["track_id"],
                                      [round(b[k]) for k in ("x", "y", "width", "height")],
                                      e["confidence"]))
    return per
a, b = load(sys.argv[1]), load(sys.argv[2])
if sorted(a) != ["cam-a", "cam-b", "cam-c", "cam-d"]:
    sys.exit(f"FAIL: cameras with events alone: {sorted(a)}")
for cam in sorted(a):
    ea, eb = sorted(a[cam]), sorted(b.get(cam, []))
    if len(ea) < 5:
        sys.exit(f"FAIL: {cam}: only {len(ea)} events: the comparison would mean little")
    if len(ea) != len(eb):
        sys.exit(f"FAIL: {cam}: {len(ea)} events alone, {len(eb)} batched")
    for x, y in zip(ea, eb):
        if x[:3] != y[:3] or max(abs(p - q) for p, q in zip(x[3], y[3])) > 1 or abs(x[4] - y[4]) > 0.01:
            sys.exit(f"FAIL: {cam}: event alone {x} is {y} batched")
    print(f"-- {cam}: {len(ea)} events, the same batched", file=sys.stderr)
PYEOF
echo PASS
