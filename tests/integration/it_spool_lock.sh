#!/usr/bin/env bash
# Issue 26.13: two processes on one spool folder both wrote the same seg-N.log
# names and overwrote each other's ack files (events lost and repeated). The
# second is refused: it exits 2 naming the holder's pid, and touches nothing;
# the first runs on and delivers all it produced.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
conf() {
  cat <<YAML
metrics: {listen: "127.0.0.1:$1"}
spool: {dir: "$WORK/spool"}
cameras:
  - name: cam
    source: {mode: url, url: "$MEDIA", realtime: true}
    fps_limit: 2
    publishers: {local_dir: "$WORK/out"}
    detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
YAML
}
conf "$(free_port)" >"$WORK/a.yaml"
conf "$(free_port)" >"$WORK/b.yaml"
run_bg "$WORK/a.yaml" "$WORK/log1"
FIRST=$KVS_PID
wait_for 60 grep -q '"msg":"event: ' "$WORK/log1" || fail "the first process produced nothing"
rc=0
timeout 60 "$KVS_BIN" --config "$WORK/b.yaml" >"$WORK/log2" 2>"$WORK/err2" || rc=$?
[ "$rc" = 2 ] || fail "the second process on the same spool exited $rc, not 2"
grep -q "spool folder $WORK/spool is in use by pid $FIRST" "$WORK/log2" "$WORK/err2" ||
  fail "the refusal does not name the holder: $(cat "$WORK/log2" "$WORK/err2" | grep -m1 -i spool)"
kill -0 "$FIRST" || fail "the first process died"
kill -TERM "$FIRST"
wait "$FIRST" || fail "the first process exited $?"
$CHECK delivered "$WORK/log1" "$WORK/out/events.jsonl"
grep -q '"msg":"event: ' "$WORK/log2" && fail "the refused process produced events"
note "refused with exit 2: $(grep -m1 -o 'spool folder[^"]*' "$WORK/log2" "$WORK/err2" | head -n1)"
echo PASS
