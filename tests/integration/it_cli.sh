#!/usr/bin/env bash
# The command line: --validate (exit 0 / exit 2 with FILE:LINE:COL: path: msg
# lines), --help, --version, unreadable configs, the example of docs/configuration.md, and
# device: cuda:N failing clearly when the runtime has no CUDA provider.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)

"$KVS_BIN" --version | grep -q '^kvs-infer [0-9]' || fail "--version"
"$KVS_BIN" --help | grep -q -- '--validate' || fail "--help"
set +e
"$KVS_BIN" >/dev/null 2>"$WORK/e"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q -- '--config FILE is required' "$WORK/e" || fail "no --config: rc=$rc"

# The bundled demo config is valid.
KVS_DEMO_MODEL=$MODEL "$KVS_BIN" --config "$KVS_SOURCE_DIR/config/demo.yaml" --validate

cat >"$WORK/bad.yaml" <<YAML
device: tpu
cameras:
  - name: a
    source: {mode: url, url: x.mp4}
    fps_limit: -3
    detectors:
      - type: yolo
        confidence_threshold: high
        params: {model: "$MODEL", colour: red}
  - name: a
    source: {mode: url, url: y.mp4}
    detectors: [{type: yolo, params: {model: missing.onnx}}]
YAML
set +e
"$KVS_BIN" --config "$WORK/bad.yaml" --validate >"$WORK/out" 2>"$WORK/err"; rc=$?
set -e
cat "$WORK/err" >&2
[ "$rc" = 2 ] || fail "--validate on a bad file: exit $rc, expected 2"
B="$WORK/bad.yaml"
for want in \
  "$B:1:9: device: \"tpu\" is not a device" \
  "$B:5:16: cameras[0].fps_limit: -3 is out of range" \
  "$B:8:31: cameras[0].detectors[0].confidence_threshold: expected a number, got \"high\"" \
  "$B:9:" \
  "cameras[0].detectors[0].params.colour: unknown key" \
  "$B:10:11: cameras[1]: duplicate camera name \"a\"" ; do
  grep -qF -- "$want" "$WORK/err" || fail "missing diagnostic: $want"
done
# Running (not validating) a structurally bad file also exits 2, before starting anything.
set +e
"$KVS_BIN" --config "$WORK/bad.yaml" >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 2 ] || fail "run with a bad config: exit $rc"
# A missing model is reported with its position by --validate.
cat >"$WORK/nomodel.yaml" <<YAML
cameras:
  - name: a
    source: {mode: url, url: x.mp4}
    detectors: [{type: weapon, params: {model: missing.onnx}}]
YAML
set +e
"$KVS_BIN" --config "$WORK/nomodel.yaml" --validate 2>"$WORK/err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -qF "$WORK/nomodel.yaml:4:48: cameras[0].detectors[0].params: model file \"missing.onnx\" not found" "$WORK/err" \
  || fail "missing model: rc=$rc $(cat "$WORK/err")"
# Unreadable and empty configs.
set +e
"$KVS_BIN" --config "$WORK/none.yaml" --validate 2>"$WORK/err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "none.yaml:1:1: cannot read the config" "$WORK/err" || fail "unreadable config"
: >"$WORK/empty.yaml"
set +e
"$KVS_BIN" --config "$WORK/empty.yaml" --validate 2>"$WORK/err"; rc=$?
set -e
[ "$rc" = 2 ] && grep -q "the file is empty" "$WORK/err" || fail "empty config"

# The complete example of docs/configuration.md loads (from the repository, so
# models/ resolves): its only complaints may be model files missing here.
DOC="$KVS_SOURCE_DIR/docs/configuration.md"
[ -f "$DOC" ] || fail "docs/configuration.md is missing"
$PY - "$DOC" >"$WORK/doc.yaml" <<'PYEOF'
import re, sys
t = open(sys.argv[1]).read()
m = re.search(r"## A complete example\n.*?```yaml\n(.*?)```", t, re.S)
print(m.group(1) if m else "")
PYEOF
grep -q 'cameras:' "$WORK/doc.yaml" || fail "docs/configuration.md: no yaml block under \"## A complete example\""
set +e
(cd "$KVS_SOURCE_DIR" && "$KVS_BIN" --config "$WORK/doc.yaml" --validate) 2>"$WORK/err"; rc=$?
set -e
cat "$WORK/err" >&2
if grep -v -E -e '(model file|det_model|rec_model|dict|plate_model) ".*" not found' -e 'error\(s\)$' "$WORK/err" | grep -q .; then
  fail "docs/configuration.md example: unexpected diagnostics"
fi
[ "$rc" = 0 ] || grep -q 'not found' "$WORK/err" || fail "docs/configuration.md example: rc=$rc"

# cuda:N with a CPU-only ONNX Runtime: a clear error, never a silent CPU run.
cat >"$WORK/cuda.yaml" <<YAML
device: cuda:0
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
cameras:
  - name: a
    source: {mode: url, url: x.mp4}
    detectors: [{type: yolo, params: {model: "$MODEL"}}]
YAML
set +e
timeout 30 "$KVS_BIN" --config "$WORK/cuda.yaml" >"$WORK/log" 2>&1; rc=$?
set -e
if grep -q '"device cuda:0: ' "$WORK/log"; then # no CUDA here: a message naming the fix
  grep -q 'device cuda:0: \(this ONNX Runtime has no CUDA provider library: use the CUDA image\|no NVIDIA driver/GPU was found\)' "$WORK/log" ||
    fail "unclear CUDA message: $(grep 'device cuda:0' "$WORK/log")"
  [ "$rc" = 1 ] || fail "cuda without provider: exit $rc"
else # a runtime with CUDA: it must really start on cuda:0 (its camera's file is missing: exit 0)
  grep -q 'kvs-infer starting: .*device cuda:0' "$WORK/log" || fail "cuda:0 did not start: $(tail -3 "$WORK/log")"
  [ "$rc" = 0 ] || fail "cuda:0 with a CUDA runtime: exit $rc"
  note "this ONNX Runtime has CUDA: cuda:0 started"
fi

# Issue 9.6: --validate loads the models (a 0-byte file or a JPEG named .onnx
# passed and the run disabled the detector), and a run refuses an unknown
# detector type as --validate does (the run used to disable it and go on).
: >"$WORK/empty.onnx"
head -c 4096 /dev/urandom >"$WORK/noise.onnx"
cat >"$WORK/models.yaml" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
defaults: {source: {mode: url, url: x.mp4}, publishers: {local_dir: "$WORK/out"}}
cameras:
  - {name: a, detectors: [{type: yolo, params: {model: "$WORK/empty.onnx"}}]}
  - {name: b, detectors: [{type: yolo, params: {model: "$WORK/noise.onnx"}}]}
  - {name: c, detectors: [{type: yolo, params: {model: "$MODEL"}}]}
YAML
set +e
"$KVS_BIN" --config "$WORK/models.yaml" --validate 2>"$WORK/e"; rc=$?
set -e
[ "$rc" = 2 ] || fail "--validate with unloadable models: exit $rc"
grep -q 'models.yaml:5:[0-9]*: cameras\[0\].detectors\[0\]: cannot load the model' "$WORK/e" || fail "empty model: $(cat "$WORK/e")"
grep -q 'models.yaml:6:[0-9]*: cameras\[1\].detectors\[0\]: cannot load the model' "$WORK/e" || fail "noise model: $(cat "$WORK/e")"
grep -q 'cameras\[2\]' "$WORK/e" && fail "the good model was reported: $(cat "$WORK/e")"
# Issue 26.16: a run with those models exits 2 with the same reasons (it ran
# on with the detectors disabled).
set +e
timeout 30 "$KVS_BIN" --config "$WORK/models.yaml" >"$WORK/log" 2>"$WORK/e"; rc=$?
set -e
[ "$rc" = 2 ] || fail "a run with unloadable models: exit $rc (expected 2, as --validate)"
grep -q 'models.yaml:5:[0-9]*: cameras\[0\].detectors\[0\]: cannot load the model' "$WORK/e" || fail "run, empty model: $(cat "$WORK/e")"
grep -q 'models.yaml:6:[0-9]*: cameras\[1\].detectors\[0\]: cannot load the model' "$WORK/e" || fail "run, noise model: $(cat "$WORK/e")"
grep -q 'source open' "$WORK/log" && fail "cameras started despite the bad models"
sed 's/type: yolo, params: {model: "[^"]*empty.onnx"}/type: yolov99/' "$WORK/models.yaml" | sed '/name: b/d' >"$WORK/unknown.yaml"
set +e
timeout 30 "$KVS_BIN" --config "$WORK/unknown.yaml" >"$WORK/log" 2>"$WORK/e"; rc=$?
set -e
[ "$rc" = 2 ] || fail "a run with an unknown detector type: exit $rc (expected 2, as --validate)"
grep -q 'unknown detector type "yolov99"' "$WORK/e" || fail "unknown type: $(cat "$WORK/e")"
echo PASS
