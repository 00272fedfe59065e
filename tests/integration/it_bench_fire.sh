#!/usr/bin/env bash
# bench-fire's pieces: the clip list is well formed and its dev/heldout splits
# share no source repository; the other models' list is well formed and a model
# is written only when it matches its sha256; a YOLO11 export re-sizes to
# other inputs; fire_eval.py scores a real run of the binary (a
# fire/smoke clip found, a blank clip without alarms, the table printed; the
# same fire labelled `contained` counted apart, not as a fire or a false alarm)
# and, at --log-level debug, keeps each process's log (verify's rejected boxes)
# and events.
source "$(dirname "$0")/lib.sh"

$PY - "$KVS_SOURCE_DIR/bench/fire_sets.tsv" <<'EOF' || fail "bench/fire_sets.tsv is malformed"
import re, sys
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])
from fire_data import read_sets, clip_name
rows = read_sets(sys.argv[1])
side, names = {}, set()
for r in rows:
    if r["repo"] not in ("media", "debian:opencv-doc"):
        assert re.fullmatch(r"[0-9a-f]{40}", r["commit"]), r
        side.setdefault(r["repo"], set()).add(r["split"])
    assert clip_name(r) not in names, r
    names.add(clip_name(r))
both = [k for k, v in side.items() if len(v) > 1]
assert not both, f"sources on both sides: {both}"
for split in ("dev", "heldout"):
    got = {r["label"] != "none" for r in rows if r["split"] == split}
    assert got == {True, False}, f"{split} lacks fire or non-fire clips"
print(f"{len(rows)} clips, {len(side)} repositories, splits disjoint")
EOF

# bench/fire_models.tsv is well formed, and fire_models.py writes a model only when its
# bytes at the pinned commit match the sha256 (from a mirror laid out as $KVS_FIRE_MIRROR's)
# and, asked for another input size, only when it can re-size it
command -v git >/dev/null || need git
mkdir -p "$WORK/mirror/someone+models"
git init -q "$WORK/mirror/someone+models/repo" || fail "git init"
$PY - "$WORK/mirror/someone+models/repo/m.onnx" <<'EOF' || fail "python3-onnx could not write a model"
import sys, onnx
from onnx import helper, TensorProto
io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 3, 32, 32]) for n in ("images", "out")]
g = helper.make_graph([helper.make_node("Identity", ["images"], ["out"])], "m", io[:1], io[1:])
onnx.save(helper.make_model(g), sys.argv[1])
EOF
git -C "$WORK/mirror/someone+models/repo" add m.onnx
git -C "$WORK/mirror/someone+models/repo" -c user.name=t -c user.email=t@t commit -qm m || fail "git commit"
COMMIT=$(git -C "$WORK/mirror/someone+models/repo" rev-parse HEAD)
SHA=$(sha256sum "$WORK/mirror/someone+models/repo/m.onnx" | cut -d' ' -f1)
printf '%s\tsomeone/models\t%s\tm.onnx\t%s\t%s\tnote\n' good.onnx "$COMMIT" "$SHA" 32 \
  bad.onnx "$COMMIT" "${SHA//[0-9]/0}" 32 notyolo.onnx "$COMMIT" "$SHA" 64 >"$WORK/models.tsv"
$PY - "$KVS_SOURCE_DIR/bench" "$WORK" <<'EOF' || fail "bench/fire_models.tsv is malformed or fire_models.py fetched wrongly"
import os, re, subprocess, sys
bench, work = sys.argv[1:3]
sys.path.insert(0, bench)
from fire_models import read_list
names = set()
for name, repo, commit, path, sha, size in read_list(os.path.join(bench, "fire_models.tsv")):
    assert name.endswith(".onnx") and name not in names and "/" not in name, name
    assert re.fullmatch(r"[0-9a-f]{40}", commit) and re.fullmatch(r"[0-9a-f]{64}", sha), name
    names.add(name)
r = subprocess.run([sys.executable, os.path.join(bench, "fire_models.py"), f"{work}/fm",
                    "--list", f"{work}/models.tsv", "--mirror", f"{work}/mirror"],
                   capture_output=True, text=True)
assert r.stdout.split() == [f"{work}/fm/good.onnx"], (r.stdout, r.stderr)
assert "bad.onnx" in r.stderr and "sha256" in r.stderr, r.stderr
assert "notyolo.onnx" in r.stderr and "re-size" in r.stderr, r.stderr
assert open(f"{work}/fm/good.onnx", "rb").read() == open(f"{work}/mirror/someone+models/repo/m.onnx", "rb").read()
assert not os.path.exists(f"{work}/fm/bad.onnx") and not os.path.exists(f"{work}/fm/notyolo.onnx")
print(f"{len(names)} other model(s) listed; fetch checks the sha256")
EOF

# fire_model_resize.py re-sizes a YOLO11 export (the COCO one of the model mirror, 320 ->
# 416 and 640) so that ONNX's strict shape inference agrees with every reshape (a copy
# with only its input changed does not), and refuses a model that is not one (YOLOX)
COCO="${KVS_MODELS_MIRROR:-$KVS_SOURCE_DIR/models}/coco"
if [ -f "$COCO/yolo11n_int8_320.onnx" ]; then
  $PY - "$KVS_SOURCE_DIR/bench" "$COCO" <<'EOF' || fail "fire_model_resize.py re-sized wrongly"
import os, sys
sys.path.insert(0, sys.argv[1])
import onnx
from onnx import shape_inference
from fire_model_resize import resize
src = os.path.join(sys.argv[2], "yolo11n_int8_320.onnx")
def out_shape(m):
    m = shape_inference.infer_shapes(m, strict_mode=True)
    return [d.dim_value for d in m.graph.output[0].type.tensor_type.shape.dim]
for size, n in ((416, 3549), (640, 8400)):
    m = onnx.load(src)
    resize(m, size)
    assert out_shape(m) == [1, 84, n], (size, out_shape(m))
m = onnx.load(src)
for d in m.graph.input[0].type.tensor_type.shape.dim:
    d.dim_value = 416 if d.dim_value == 320 else d.dim_value
del m.graph.value_info[:]
try:
    out_shape(m)
    raise SystemExit("shape inference accepted a copy with only its input changed")
except onnx.shape_inference.InferenceError:
    pass
yolox = os.path.join(sys.argv[2], "yolox_nano.onnx")
if os.path.exists(yolox):
    try:
        resize(onnx.load(yolox), 320)
        raise SystemExit("YOLOX was re-sized")
    except ValueError:
        pass
print("YOLO11 re-sized to 416 and 640; shapes agree")
EOF
else
  note "no coco/yolo11n_int8_320.onnx in the model mirror: re-sizing not checked"
fi

MODEL="${KVS_MODELS_MIRROR:-$KVS_SOURCE_DIR/models}/fire/yolov8n_fire_smoke_int8_416_fixedout.onnx"
[ -f "$MODEL" ] || MODEL="$KVS_SOURCE_DIR/models/fire/yolov8n_fire_smoke_int8_416_fixedout.onnx"
[ -f "$MODEL" ] || need "the fire model (scripts/fetch-models.sh or KVS_MODELS_MIRROR)"
FIRE="${KVS_MEDIA_MIRROR:-$KVS_SOURCE_DIR/media}/video/fire_smoke_drone_360p.mp4"
[ -f "$FIRE" ] || need "fire_smoke_drone_360p.mp4 (KVS_MEDIA_MIRROR)"
command -v ffmpeg >/dev/null || need ffmpeg

mkdir -p "$WORK/data/dev"
ffmpeg -v error -f lavfi -i "color=c=gray:s=320x240:r=10:d=6" -c:v libx264 -pix_fmt yuv420p \
  "$WORK/data/dev/blank.mp4" || fail "ffmpeg could not make the blank clip"
cp "$FIRE" "$WORK/data/dev/fire.mp4"
cp "$FIRE" "$WORK/data/dev/hearth.mp4"
printf 'file\tlabel\tvisible_from_s\tduration_s\tsource\nfire.mp4\tboth\t0\t16.5\tmedia\nblank.mp4\tnone\t0\t6\tlavfi\nhearth.mp4\tcontained\t0\t16.5\tmedia\n' \
  >"$WORK/data/dev/labels.tsv"
$PY "$KVS_SOURCE_DIR/bench/fire_eval.py" "$KVS_BIN" --models "$(dirname "$(dirname "$MODEL")")" \
  --data "$WORK/data" --splits dev --work "$WORK/bench" --log-level debug >"$WORK/out" 2>&1 ||
  { cat "$WORK/out" >&2; fail "fire_eval.py failed"; }
cat "$WORK/out" >&2
grep -q '^| dev | default | 1/1 (100.0 %) | ' "$WORK/out" || fail "the drone fire clip was not found"
grep -Eq '^\| dev \| default \| .* \| 0\.0 \(0, 0/1\) \|' "$WORK/out" || fail "alarms on the blank clip"
grep -Eq '^\| dev \| default \| .* \| 1/1 \|$' "$WORK/out" || fail "the contained fire was not counted apart"
RUN="$WORK/bench/run-dev-default/0"
grep -q '"msg":"verify: .* rejected (' "$RUN/log" || fail "no rejected box in the debug log ($RUN/log)"
grep -q '"evidence":' "$RUN/events.jsonl" || fail "the events were not kept with their evidence"
note "clip list well formed, splits disjoint; other models checked, re-sizing checked; fire_eval found the fire clip, no alarm on the blank one, the contained one apart; log and events kept"
