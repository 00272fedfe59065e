#!/usr/bin/env bash
# linux/arm64 (Graviton) checked on an x86-64 Debian 12 machine: a cross-build
# with Debian's aarch64 cross compiler and the arm64 libraries through
# multiarch, ONNX Runtime's linux/arm64 library (scripts/install-onnxruntime.sh
# with KVS_ORT_ARCH=arm64), the unit tests run under qemu-user
# (qemu-aarch64-static, called directly), then the demo (config/demo.yaml on
# the first 8 s of its footage) run by both the x86-64 build and the arm64
# build under qemu, and their events compared: the same events (camera,
# frame, label, track), confidences within 0.002 and each box overlapping its
# x86-64 twin by an IoU of at least 0.95 (ONNX Runtime's arm64 kernels sum in
# another order: measured 36 of 36 events, confidence within 6e-4, boxes
# within 0.02 px but one at 0.9 px, IoU 0.96).
# A separate script, not a CI stage: the arm64 packages are about 250 MB and
# the tests run 10-30 times slower under emulation.
#   scripts/arm64-check.sh            (KVS_ARM64_INSTALL=1: install what is missing with apt-get)
# Packages: gcc-aarch64-linux-gnu qemu-user-static, and after `dpkg --add-architecture arm64`
# the build's libraries for arm64 (the list in ARM64_LIBS below, each as NAME:arm64).
# Needs the x86-64 build in build/ (KVS_X86_BUILD) for the comparison; writes build-arm64/
# (KVS_ARM64_BUILD). Exit 0 when the unit tests and the comparison pass.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
B=${KVS_ARM64_BUILD:-$here/build-arm64}
X86=${KVS_X86_BUILD:-$here/build}
TOL_CONF=${KVS_ARM64_TOL_CONF:-0.002}   # confidence, absolute
TOL_IOU=${KVS_ARM64_TOL_IOU:-0.95}      # each box against its x86-64 twin, intersection over union
log() { printf 'arm64-check: %s\n' "$*" >&2; }
ARM64_LIBS=(libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libcurl4-openssl-dev libssl-dev
  libjansson-dev libyaml-dev libmicrohttpd-dev libsqlite3-dev libturbojpeg0-dev zlib1g-dev libcmocka-dev
  libmosquitto-dev)

missing=()
for p in gcc-aarch64-linux-gnu qemu-user-static "${ARM64_LIBS[@]/%/:arm64}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${KVS_ARM64_INSTALL:-0}" != 1 ]; then
    log "missing: ${missing[*]}"
    log "install: dpkg --add-architecture arm64 && apt-get update && apt-get install --no-install-recommends ${missing[*]}"
    log "(or run with KVS_ARM64_INSTALL=1)"
    exit 1
  fi
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
[ -x "$X86/kvs-infer" ] || { log "no x86-64 build at $X86 (cmake -S . -B build && cmake --build build)"; exit 1; }

# ONNX Runtime for arm64, beside the build (the machine's own install untouched).
ORT="$B/onnxruntime"
headers=$(pkg-config --variable=prefix libonnxruntime 2>/dev/null || true)
[ -n "$headers" ] && [ -f "$headers/include/onnxruntime_c_api.h" ] && export KVS_ORT_HEADERS="$headers/include"
KVS_ORT_ARCH=arm64 ORT_PREFIX="$ORT" ORT_PCDIR="$ORT/pkgconfig" "$here/scripts/install-onnxruntime.sh"

launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache)
cmake -S "$here" -B "$B" -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE="$here/cmake/aarch64-linux-gnu.cmake" \
  -DORT_ROOT="$ORT" "${launcher[@]}" >/dev/null
cmake --build "$B" -j"${JOBS:-2}" >"$B/build.log" 2>&1 || { tail -20 "$B/build.log"; exit 1; }
file -b "$B/kvs-infer" | grep -q 'ARM aarch64' || { log "$B/kvs-infer is not an arm64 binary: $(file -b "$B/kvs-infer")"; exit 1; }
log "built: $(file -b "$B/kvs-infer" | cut -d, -f1-2); $(qemu-aarch64-static "$B/kvs-infer" --version)"

# Unit tests under qemu (ctest prefixes each with the toolchain's emulator);
# the models folder first, so the tests on the real models run too.
"$here/scripts/fetch-models.sh" >/dev/null || log "no models: the tests on the real models will skip"
rc=0
ctest --test-dir "$B" -L unit -E '^unit_test_(process_metrics|batch)$' --output-on-failure -j"${JOBS:-2}" \
  >"$B/unit.log" 2>&1 || rc=$?
grep -E 'tests passed|tests failed|Skipped|Not Run|Failed|Timeout' "$B/unit.log" | tail -15 >&2
[ "$rc" = 0 ] || { log "unit tests failed under qemu (log: $B/unit.log)"; exit 1; }
# test_batch runs the full-size models batched and alone: longer under
# emulation than ctest's 120 s, so run here without that limit.
rc=0
KVS_TEST_MODELS="$B/test-models" KVS_SOURCE_DIR="$here" timeout 1800 qemu-aarch64-static "$B/tests/test_batch" \
  >"$B/unit-batch.log" 2>&1 || rc=$?
case $rc in
  0) log "test_batch: passed" ;;
  77) log "test_batch: passed, $(grep -c '^SKIP' "$B/unit-batch.log") case(s) skipped (models missing)" ;;
  *) log "test_batch failed under qemu (exit $rc, log: $B/unit-batch.log)"; exit 1 ;;
esac
# qemu-user answers /proc/self/stat itself, with 0 for utime, stime and rss:
# of test_process_metrics exactly the two cases that read those may fail.
ctest --test-dir "$B" -R '^unit_test_process_metrics$' --output-on-failure >"$B/unit-process.log" 2>&1 || true
failed=$(sed -n 's/^\[  FAILED  \] \([a-z_]*\)$/\1/p' "$B/unit-process.log" | sort -u | tr '\n' ' ')
if grep -q 'tests passed, 0 tests failed' "$B/unit-process.log"; then
  log "test_process_metrics: passed"
elif [ "$failed" = "cpu_seconds_follow_work memory_follows_allocation " ] &&
     grep -q 'cpu seconds 0.000 -> 0.000' "$B/unit-process.log" && grep -q 'rss 0 -> 0' "$B/unit-process.log"; then
  log "test_process_metrics: 5 of 7 cases pass; cpu_seconds_follow_work and memory_follows_allocation read" \
    "qemu-user's /proc/self/stat, whose utime, stime and rss are always 0 (not an arm64 result)"
else
  log "test_process_metrics failed under qemu: $(grep -E 'ERROR|FAILED' "$B/unit-process.log" | head -5)"; exit 1
fi

# The demo, both builds, the same clip.
media=""
for m in "$here/media/vtest.avi" "${KVS_MEDIA_MIRROR:-$here/../shared/media}/opencv/vtest.avi"; do
  [ -f "$m" ] && { media=$m; break; }
done
model=""
for m in "$here/models/coco/yolox_nano.onnx" "${KVS_MODELS_MIRROR:-$here/../shared/models}/coco/yolox_nano.onnx"; do
  [ -f "$m" ] && { model=$m; break; }
done
[ -n "$media" ] && [ -n "$model" ] || { log "the demo needs media/vtest.avi and models/coco/yolox_nano.onnx (scripts/fetch-media.sh, fetch-models.sh)"; exit 1; }
D="$B/demo"; rm -rf "$D"; mkdir -p "$D"
ffmpeg -v error -i "$media" -t 8 -c copy "$D/clip.avi"
demo() { # demo NAME RUNNER...
  local name=$1; shift
  local t0=$SECONDS
  KVS_DEMO_MEDIA="$D/clip.avi" KVS_DEMO_OUT="$D/$name" KVS_DEMO_SPOOL="$D/$name-spool" KVS_DEMO_MODEL="$model" \
    KVS_METRICS_LISTEN=127.0.0.1:0 "$@" --config "$here/config/demo.yaml" >"$D/$name.log" 2>&1 ||
    { log "the $name demo failed: $(tail -3 "$D/$name.log")"; exit 1; }
  log "demo $name: $(wc -l <"$D/$name/events.jsonl") events in $((SECONDS - t0)) s"
}
demo x86_64 "$X86/kvs-infer"
demo arm64 qemu-aarch64-static "$B/kvs-infer"
python3 - "$D/x86_64/events.jsonl" "$D/arm64/events.jsonl" "$TOL_CONF" "$TOL_IOU" <<'PYEOF'
import json, sys
tol_conf, tol_iou = float(sys.argv[3]), float(sys.argv[4])
def load(p):
    ev = {}
    for line in open(p):
        e = json.loads(line)
        ev[(e["camera_name"], e["frame"]["pts"], e["label"], e["track_id"])] = e
    return ev
def iou(p, q):
    w = min(p["x"] + p["width"], q["x"] + q["width"]) - max(p["x"], q["x"])
    h = min(p["y"] + p["height"], q["y"] + q["height"]) - max(p["y"], q["y"])
    i = max(0.0, w) * max(0.0, h)
    return i / (p["width"] * p["height"] + q["width"] * q["height"] - i)
a, b = load(sys.argv[1]), load(sys.argv[2])
if not a:
    sys.exit("the x86-64 demo produced no events")
if a.keys() != b.keys():
    sys.exit(f"different events: only x86-64 {sorted(a.keys() - b.keys())}, only arm64 {sorted(b.keys() - a.keys())}")
dc = max(abs(a[k]["confidence"] - b[k]["confidence"]) for k in a)
dp = max(abs(a[k]["bbox"][f] - b[k]["bbox"][f]) for k in a for f in ("x", "y", "width", "height"))
low = min(iou(a[k]["bbox"], b[k]["bbox"]) for k in a)
print(f"arm64-check: {len(a)} events, the same camera, frame, label and track on both; largest differences: "
      f"confidence {dc:.1e}, box {dp:.2f} px, lowest IoU {low:.3f}", file=sys.stderr)
if dc > tol_conf or low < tol_iou:
    sys.exit(f"beyond tolerance (confidence {tol_conf}, IoU {tol_iou})")
PYEOF
log "PASS"
