#!/usr/bin/env bash
# config/cameras.example.yaml validates on a fresh checkout after
# scripts/fetch-models.sh, from the checkout's root, with no models_dir or
# KVS_MODELS_DIR set up by hand: the example names only models that script
# gets from their owners (YOLOX-nano, PaddleOCR: Apache-2.0). The mirror
# given to it here holds exactly those files, so a model name the script
# cannot fetch fails the test.
. "$(dirname "$0")/lib.sh"
SRC=$KVS_SOURCE_DIR
FROM=${KVS_MODELS_MIRROR:-$SRC/models}
FETCHED="coco/yolox_nano.onnx paddleocr/ch_PP-OCRv4_det_infer.onnx paddleocr/ch_PP-OCRv4_rec_infer.onnx paddleocr/ppocr_keys_v1.txt"
for f in $FETCHED; do
  [ -s "$FROM/$f" ] || skip "$f is missing: run scripts/fetch-models.sh (or set KVS_MODELS_MIRROR)"
  mkdir -p "$WORK/mirror/$(dirname "$f")"
  ln -s "$(readlink -f "$FROM/$f")" "$WORK/mirror/$f"
done
# what a fresh clone has: the scripts and the config, no models/
fresh=$WORK/clone
mkdir -p "$fresh/config" "$fresh/scripts"
cp "$SRC/config/cameras.example.yaml" "$fresh/config/"
cp "$SRC/scripts/fetch-models.sh" "$fresh/scripts/"
env -u KVS_MODELS_DIR KVS_MODELS_MIRROR="$WORK/mirror" "$fresh/scripts/fetch-models.sh" >"$WORK/fetch" 2>&1 ||
  fail "fetch-models.sh: $(cat "$WORK/fetch")"
(cd "$fresh" && env -u KVS_MODELS_DIR "$KVS_BIN" --config config/cameras.example.yaml --validate) >"$WORK/v" 2>&1 ||
  fail "cameras.example.yaml does not validate after fetch-models.sh: $(cat "$WORK/v")"
grep -q 'OK, 3 camera' "$WORK/v" || fail "validate said: $(cat "$WORK/v")"

# the container's path still works: KVS_MODELS_DIR, as the image sets it
mv "$fresh/models" "$WORK/app-models"
(cd "$fresh" && KVS_MODELS_DIR="$WORK/app-models" "$KVS_BIN" --config config/cameras.example.yaml --validate) >"$WORK/v" 2>&1 ||
  fail "with KVS_MODELS_DIR: $(cat "$WORK/v")"
# and without any models it names what is missing (the test can fail)
rc=0
(cd "$fresh" && env -u KVS_MODELS_DIR "$KVS_BIN" --config config/cameras.example.yaml --validate) >"$WORK/v" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q 'models_dir' "$WORK/v" || fail "no models: rc=$rc $(cat "$WORK/v")"
echo OK
