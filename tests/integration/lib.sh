# Shared helpers for the integration tests: they run the real kvs-infer binary
# on real footage and check what it produced. Sourced, not run.
set -euo pipefail

: "${KVS_SOURCE_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
: "${KVS_BIN:=$KVS_SOURCE_DIR/build/kvs-infer}"
PY=/usr/bin/python3
CHECK="$PY $KVS_SOURCE_DIR/tests/integration/check_events.py"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/kvs-it.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }
# A prerequisite that scripts/setup.sh installs: a skip on a machine without it,
# a failure where set-up is known to have run (KVS_REQUIRE_PREREQS=1, as in CI),
# so a broken set-up cannot turn tests into quiet skips.
need() {
  [ "${KVS_REQUIRE_PREREQS:-0}" = 1 ] && fail "prerequisite missing (scripts/setup.sh installs it): $*"
  skip "$*"
}
note() { echo "-- $*" >&2; }

# The COCO YOLOX-nano model: the repo's models/ (filled by set-up), the offline
# mirror, or skip with a clear message.
find_model() {
  local m
  for m in "$KVS_SOURCE_DIR/models/coco/yolox_nano.onnx" \
           "${KVS_MODELS_MIRROR:-$KVS_SOURCE_DIR/../shared/models}/coco/yolox_nano.onnx"; do
    [ -f "$m" ] && { echo "$m"; return 0; }
  done
  need "models/coco/yolox_nano.onnx is missing: run scripts/fetch-models.sh (or set KVS_MODELS_MIRROR)"
}

find_media() {
  local m
  for m in "$KVS_SOURCE_DIR/media/vtest.avi" \
           "${KVS_MEDIA_MIRROR:-$KVS_SOURCE_DIR/../shared/media}/opencv/vtest.avi" \
           /usr/share/doc/opencv-doc/examples/data/vtest.avi; do
    [ -f "$m" ] && { echo "$m"; return 0; }
  done
  need "vtest.avi is missing: run scripts/fetch-media.sh"
}

# A port free now and not handed out before in this test: the kernel may give
# the same free port to two calls in a row (it_aws_credentials once got one
# port for its proxy and its credentials server, and the proxy's requests
# were answered 401 by the other). Called as $(free_port): the ports handed
# out are kept in a file, not a variable.
free_port() {
  local p _
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    p=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    grep -qx "$p" "$WORK/.ports" 2>/dev/null && continue
    echo "$p" >>"$WORK/.ports"
    echo "$p"
    return 0
  done
  echo "free_port: no new free port in 10 tries" >&2
  return 1
}

# Polls a URL until it answers (bounded); prints the body.
http_get() { $PY - "$1" <<'PYEOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
        sys.stdout.write(r.read().decode())
except urllib.error.HTTPError as e:
    sys.stdout.write(e.read().decode()); sys.exit(22)
except Exception as e:
    sys.exit(7)
PYEOF
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s until it succeeds or time runs out.
wait_for() {
  local limit=$1; shift
  local end=$(( $(date +%s) + limit ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.2
  done
}

# metric PREFIX: the sum of every /metrics series whose line starts with PREFIX,
# e.g. metric 'kvs_infer_stream_errors_total{camera="bad"' (0 when absent).
# A family missing from the exposition (renamed?) is an error, not a 0.
metric() { http_get "http://127.0.0.1:$METRICS_PORT/metrics" | $PY -c '
import sys
want, total = sys.argv[1], 0.0
lines = sys.stdin.readlines()
family = want.split("{")[0]
names = {family} | {family[: -len(x)] for x in ("_count", "_sum", "_bucket") if family.endswith(x)}
if not any(l.startswith("# TYPE " + n + " ") for l in lines for n in names):
    sys.exit("metric: no family " + family + " in /metrics")
for line in lines:
    if line.startswith(want) and not line.startswith("#"):
        total += float(line.rsplit(" ", 1)[1])
print(int(total) if total == int(total) else total)' "$1"; }

# Runs kvs-infer in the background: run_bg CONFIG LOG
run_bg() {
  "$KVS_BIN" --config "$1" >"$2" 2>"$2.err" &
  KVS_PID=$!
  PIDS+=("$KVS_PID")
}

# ---- AWS stand-ins (tests/standins, installed by scripts/setup.sh) ----
NODE_DIR="$KVS_SOURCE_DIR/tests/standins"
need_standins() {
  [ -d "$NODE_DIR/node_modules/kinesalite" ] || need "stand-ins not installed: run scripts/setup.sh"
}
# standin NAME KIND PORT [DIR BUCKET...]: kinesalite, s3rver or dynalite on
# 127.0.0.1, logging to $WORK/NAME.log; its pid is left in LAST_PID.
standin() {
  local name=$1; shift
  node "$NODE_DIR/serve.js" "$@" >>"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
# sigv4_proxy NAME PORT TARGET_PORT SECRET [OPTIONS...]: the signature-checking proxy.
sigv4_proxy() {
  local name=$1 port=$2 target=$3 secret=$4; shift 4
  node "$NODE_DIR/sigv4_proxy.js" --port "$port" --target "$target" --secret "$secret" "$@" \
    >>"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
# alerts_standin NAME PORT RECORD [OPTIONS...]: the SNS/EventBridge stand-in.
alerts_standin() {
  local name=$1 port=$2 record=$3; shift 3
  node "$NODE_DIR/alerts_standin.js" --port "$port" --record "$record" "$@" >>"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
# wait_ready NAME...: every named process has logged that it is ready.
wait_ready() {
  local f
  for f in "$@"; do
    wait_for 30 grep -q ready "$WORK/$f.log" || fail "$f did not start: $(cat "$WORK/$f.log")"
  done
}
aws_call() { node "$NODE_DIR/aws_call.js" "$@"; }

# ---- the KVS emulator (tests/standins/kvs) ----
# kvs_emulator NAME PORT STREAMS [OPTIONS...]: real footage cut into KVS
# fragments, SigV4 checked against $AWS_SECRET_ACCESS_KEY. The prepared media
# is cached between runs (KVS_EMULATOR_CACHE).
kvs_emulator() {
  local name=$1 port=$2 streams=$3; shift 3
  node "$NODE_DIR/kvs/emulator.js" --port "$port" --media "$(find_media)" --streams "$streams" \
    --secret "$AWS_SECRET_ACCESS_KEY" --work "${KVS_EMULATOR_CACHE:-${TMPDIR:-/tmp}/kvs-emulator-cache}" \
    "$@" >>"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
# kvs_emulator_prepare: the emulator's media cache filled, once, before tests
# that start emulators run side by side (tests/CMakeLists.txt).
kvs_emulator_prepare() {
  need_standins
  local bf
  for bf in 0 2; do # 2: it_event_ids_bframes.sh
    node "$NODE_DIR/kvs/emulator.js" --media "$(find_media)" --prepare-only --bframes $bf \
      --work "${KVS_EMULATOR_CACHE:-${TMPDIR:-/tmp}/kvs-emulator-cache}"
  done
}
# kvs_fault PORT STREAM KIND [COUNT_OR_MS]: arms one of the emulator's fault switches.
kvs_fault() {
  $PY - "$@" <<'PYEOF'
import json, sys, urllib.request
port, stream, kind = sys.argv[1:4]
body = {"stream": stream, "kind": kind}
if len(sys.argv) > 4:
    body["ms" if kind == "stall" else "count"] = int(sys.argv[4])
req = urllib.request.Request(f"http://127.0.0.1:{port}/_emulator/fault", json.dumps(body).encode(), method="POST")
urllib.request.urlopen(req, timeout=5).read()
PYEOF
}
CHECK_KVS="$PY $KVS_SOURCE_DIR/tests/integration/check_kvs.py"

# PaddleOCR (ALPR): the repo's models/ or the mirror; prints the folder or skips.
find_paddleocr() {
  local d
  for d in "$KVS_SOURCE_DIR/models/paddleocr" "${KVS_MODELS_MIRROR:-$KVS_SOURCE_DIR/../shared/models}/paddleocr"; do
    [ -f "$d/ch_PP-OCRv4_rec_infer.onnx" ] && [ -f "$d/ch_PP-OCRv4_det_infer.onnx" ] && [ -f "$d/ppocr_keys_v1.txt" ] &&
      { echo "$d"; return 0; }
  done
  need "PaddleOCR models are missing: run scripts/fetch-models.sh (or set KVS_MODELS_MIRROR)"
}
