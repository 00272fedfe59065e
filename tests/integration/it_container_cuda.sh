#!/usr/bin/env bash
# The CUDA image (`docker build --target cuda`) on a machine without a GPU,
# built on a local base that carries this machine's CUDA 13 runtime and
# cuDNN 9 (scripts/container-base.sh --cuda) in place of NVIDIA's: inside it
# `device: cuda:0` loads ONNX Runtime's CUDA provider and all its libraries and
# stops only at the missing driver, saying so (never a missing-library
# message, never a silent CPU fallback); `device: cpu` runs the clip. Skipped
# on machines without CUDA 13 and cuDNN 9 to build that base from.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
SRC="$KVS_SOURCE_DIR"
command -v podman >/dev/null || fail "podman is missing: run scripts/setup.sh"
# (the library list is captured whole: grep -q ending ldconfig early is a SIGPIPE under pipefail)
case "$(ldconfig -p)" in *"libcudnn.so.9 "*) cudnn=1 ;; *) cudnn=0 ;; esac
[ -e "${CUDA_HOME:-/usr/local/cuda}/lib64/libcudart.so.13" ] && [ "$cudnn" = 1 ] ||
  skip "no CUDA 13 runtime and cuDNN 9 on this machine to make the local CUDA base image"
pm() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }
LIMITS=(--ulimit nofile=20000:20000 --ulimit nproc=1000:1000)
IMAGE=localhost/kvs-infer:cuda
CUDA_BASE=$("$SRC/scripts/container-base.sh" --cuda 2>"$WORK/base.log") || fail "CUDA base: $(tail -3 "$WORK/base.log")"
# The Debian stage that brings ONNX Runtime's headers to the CUDA build stage.
BASE=$("$SRC/scripts/container-base.sh" 2>>"$WORK/base.log") || fail "base image: $(tail -3 "$WORK/base.log")"
CA=()
[ -f /etc/ssl/certs/ca-certificates.crt ] &&
  CA=(-v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro --build-arg NODE_EXTRA_CA_CERTS=/run/host-ca.crt)
t0=$(date +%s)
pm build --format docker --target cuda --network host "${LIMITS[@]}" "${CA[@]}" \
  --build-arg CUDA_BASE_IMAGE="$CUDA_BASE" --build-arg BASE_IMAGE="$BASE" -t "$IMAGE" "$SRC" >"$WORK/build.log" 2>&1 ||
  fail "cuda image build: $(tail -5 "$WORK/build.log")"
size=$(pm image inspect "$IMAGE" --format '{{.Size}}')
note "cuda image built in $(( $(date +%s) - t0 )) s, $((size / 1000000)) MB"
pm run --rm "${LIMITS[@]}" --entrypoint sh "$IMAGE" -c 'ls /usr/local/onnxruntime/lib' >"$WORK/libs"
grep -q libonnxruntime_providers_cuda.so "$WORK/libs" || fail "no CUDA provider in the image: $(cat "$WORK/libs")"
mkdir -p "$WORK/models/coco" "$WORK/gpu" "$WORK/cpu" "$WORK/out"
cp "$MODEL" "$WORK/models/coco/"
chmod 777 "$WORK/out"
for dev in cuda:0 cpu; do
  d=$WORK/${dev%%:*}; [ "$dev" = cpu ] || d=$WORK/gpu
  cat >"$d/cameras.yaml" <<YAML
device: $dev
cameras:
  - name: lobby
    source: {mode: url, url: /app/footage/$(basename "$MEDIA"), realtime: false}
    fps_limit: 1
    publishers: {local_dir: /app/out}
    detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: coco/yolox_nano.onnx, classes: [person]}}]
YAML
done
set +e
pm run --rm "${LIMITS[@]}" -v "$WORK/gpu:/app/config" -v "$WORK/models:/app/models" \
  -v "$(dirname "$MEDIA"):/app/footage:ro" "$IMAGE" >"$WORK/gpu.log" 2>&1
rc=$?
set -e
msg=$(grep -o '"msg":"device cuda:0: [^"]*' "$WORK/gpu.log" || true)
note "cuda:0 without a GPU: exit $rc: ${msg:7:160}"
[ "$rc" = 1 ] || fail "cuda:0 without a GPU: exit $rc: $(tail -3 "$WORK/gpu.log")"
case "$msg" in
  *"device cuda:0: no NVIDIA driver/GPU was found"*) ;;
  *) fail "not the missing-driver message: $msg" ;;
esac
! grep -q '"msg":"kvs-infer starting' "$WORK/gpu.log" || fail "it started anyway (a CPU fallback?)"
pm run --rm "${LIMITS[@]}" -v "$WORK/cpu:/app/config" -v "$WORK/models:/app/models" \
  -v "$(dirname "$MEDIA"):/app/footage:ro" -v "$WORK/out:/app/out" "$IMAGE" >"$WORK/cpu.log" 2>&1 ||
  fail "device cpu in the CUDA image: $(tail -3 "$WORK/cpu.log")"
$PY - "$WORK/out" <<'PYEOF' || fail "events of the cpu run"
import json, os, sys
out = sys.argv[1]
ev = [json.loads(l) for l in open(out + "/events.jsonl")]
assert len(ev) >= 5 and all(e["label"] == "person" for e in ev), len(ev)
for e in ev:  # the container's /app/out is $WORK/out here
    assert os.path.getsize(e["snapshot"].replace("/app/out", out, 1)) > 0, e["snapshot"]
print(f"device cpu in the CUDA image: {len(ev)} events")
PYEOF
echo PASS
