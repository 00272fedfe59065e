#!/usr/bin/env bash
# A full disk under the output folder: writes fail with a clear, counted
# error and are retried; nothing is dropped; once space returns the backlog
# drains and every event produced is in events.jsonl, whole.
# Needs a small tmpfs (root, or a container that allows mount): skips otherwise.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
mkdir -p "$WORK/small"
mount -t tmpfs -o size=400k tmpfs "$WORK/small" 2>/dev/null || skip "cannot mount a small tmpfs here (needs root)"
umount_small() { umount -l "$WORK/small" 2>/dev/null || true; }
trap 'umount_small; cleanup' EXIT
METRICS_PORT=$(free_port)
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
cameras:
  - name: cam
    source: {mode: url, url: "$MEDIA", realtime: false}
    fps_limit: 2
    publishers: {local_dir: "$WORK/small/out"}
    detectors:
      - {type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}
YAML
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 120 grep -q 'publish failed' "$WORK/log" || fail "the disk never filled"
grep -m1 'publish failed' "$WORK/log" | grep -q 'No space left on device' || fail "unclear error: $(grep -m1 'publish failed' "$WORK/log")"
sleep 2
kill -0 "$KVS_PID" || fail "kvs-infer gave up while the disk was full"
retries=$(metric 'kvs_infer_publisher_retries_total{publisher="local"')
errors=$(metric 'kvs_infer_events_published_total{publisher="local",outcome="error"')
note "while full: $retries retries, $errors failed attempts"
[ "$retries" -ge 1 ] || fail "retries not counted"
mount -o remount,size=64m "$WORK/small" || fail "cannot grow the tmpfs"
wait "$KVS_PID" || fail "exit code $?"
produced=$(grep -c '"msg":"event: ' "$WORK/log")
$CHECK verify "$WORK/small/out" cam --min-events "$produced" --max-events "$produced"
note "all $produced events written after the disk came back"
echo PASS
