#!/usr/bin/env bash
# kill -9 in the middle of a run loses nothing: every event logged as produced
# was in the spool first, and the next start delivers what the killed process
# had not. The first run's sink cannot write at all (events.jsonl is a folder),
# so everything it produced is still only in the spool when it is killed. A torn, corrupt spool tail (garbage appended after the kill) is
# detected, counted and cut; the records before it are still delivered.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
METRICS_PORT=$(free_port)
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
defaults:
  source: {mode: url, url: "$MEDIA", realtime: false}
  fps_limit: 4
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - name: a
  - name: b
YAML
mkdir -p "$WORK/out/events.jsonl"
run_bg "$WORK/c.yaml" "$WORK/log1"
wait_for 60 bash -c "[ \$(grep -c '\"msg\":\"event: ' '$WORK/log1') -ge 30 ]" || fail "no events before the kill"
kill -9 "$KVS_PID"
wait "$KVS_PID" 2>/dev/null || true
produced=$(grep -c '"msg":"event: ' "$WORK/log1")
note "killed after $produced events produced, none deliverable"
grep -q 'publish failed' "$WORK/log1" || fail "the sink should have been failing"
rmdir "$WORK/out/events.jsonl"
# Garbage after the last record of the newest segment with data: a torn write.
seg=$(ls -S "$WORK"/spool/seg-*.log | head -n 1)
head -c 300 /dev/urandom >>"$seg"
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log2" 2>"$WORK/err2" || fail "restart exit $?"
grep -q 'torn or corrupt records after offset' "$WORK/log2" || fail "the corrupt tail was not reported"
grep -q 'from an earlier run to deliver' "$WORK/log2" || fail "nothing was replayed"
$CHECK delivered "$WORK/log1" "$WORK/out/events.jsonl"
echo PASS
