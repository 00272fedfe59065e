#!/usr/bin/env bash
# The demo's metrics port: a taken port (9090 is Prometheus's own on many
# machines) is replaced by a free one with a note saying how to choose,
# instead of kvs-infer exiting 2; KVS_METRICS_PORT is used as given. The
# port here is a free one this test occupies itself, not 9090, which other
# tests on the machine may be using.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
PORTS="$KVS_SOURCE_DIR/scripts/metrics-port.sh"

# occupy a port the way another server would
$PY - "$WORK/held" <<'PYEOF' &
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
open(sys.argv[1] + ".tmp", "w").write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(120)
PYEOF
HOLDER=$!
PIDS+=("$HOLDER")
wait_for 10 test -s "$WORK/held" || fail "could not occupy a port"
TAKEN=$(cat "$WORK/held")

# what the demo did before: kvs-infer on a taken port exits 2
rc=0
(cd "$KVS_SOURCE_DIR" && timeout 60 env KVS_METRICS_LISTEN="127.0.0.1:$TAKEN" KVS_DEMO_MODEL="$MODEL" \
  KVS_DEMO_MEDIA="$MEDIA" KVS_DEMO_OUT="$WORK/out0" KVS_DEMO_SPOOL="$WORK/spool0" \
  "$KVS_BIN" --config config/demo.yaml) >"$WORK/taken.log" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "kvs-infer on a taken port: rc=$rc, want 2 (the failure the demo avoids)"

# the demo's choice: another port, and why
got=$("$PORTS" "$TAKEN" 2>"$WORK/why") || fail "metrics-port.sh: $(cat "$WORK/why")"
[ -n "$got" ] && [ "$got" != "$TAKEN" ] || fail "port $TAKEN is taken but metrics-port.sh chose $got"
grep -q "port $TAKEN is taken" "$WORK/why" && grep -q "KVS_METRICS_PORT" "$WORK/why" ||
  fail "no note on the taken port: $(cat "$WORK/why")"

# the demo config really serves there while the other port stays taken
(cd "$KVS_SOURCE_DIR" && exec env KVS_METRICS_LISTEN="127.0.0.1:$got" KVS_DEMO_MODEL="$MODEL" \
  KVS_DEMO_MEDIA="$MEDIA" KVS_DEMO_REALTIME=true KVS_DEMO_OUT="$WORK/out" KVS_DEMO_SPOOL="$WORK/spool" \
  "$KVS_BIN" --config config/demo.yaml) >"$WORK/demo.log" 2>&1 &
KVS_PID=$!
PIDS+=("$KVS_PID")
wait_for 30 http_get "http://127.0.0.1:$got/metrics" || fail "no /metrics on $got: $(tail -3 "$WORK/demo.log")"
http_get "http://127.0.0.1:$got/metrics" | grep -q '^kvs_infer_build_info{' || fail "not kvs-infer on $got"
kill -TERM "$KVS_PID"
wait "$KVS_PID" || fail "demo run exit $?"

# KVS_METRICS_PORT is used as given (kvs-infer itself reports it if taken); junk is refused
[ "$(KVS_METRICS_PORT=$TAKEN "$PORTS" 2>/dev/null)" = "$TAKEN" ] || fail "KVS_METRICS_PORT not used"
rc=0
KVS_METRICS_PORT=90x90 "$PORTS" >/dev/null 2>"$WORK/why" || rc=$?
[ "$rc" = 2 ] && grep -q 'not a port number' "$WORK/why" || fail "KVS_METRICS_PORT=90x90: rc=$rc"

# a free preferred port is kept
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null || true
[ "$("$PORTS" "$TAKEN" 2>/dev/null)" = "$TAKEN" ] || fail "a free port $TAKEN was not kept"
grep -q 'scripts/metrics-port.sh' "$KVS_SOURCE_DIR/scripts/demo.sh" || fail "demo.sh does not pick its port"
echo OK
