#!/usr/bin/env bash
# Bad input never crashes the process and never stops the other cameras:
# a truncated video, a file of garbage, a missing file, a video corrupted in
# the middle, a KVS endpoint that is down. Each is logged and counted in
# kvs_infer_stream_errors_total; the good camera keeps producing events. A
# model that is not a model refuses the start (exit 2), as --validate does.
. "$(dirname "$0")/lib.sh"
# The KVS camera's endpoint is a port nobody listens on.
DEAD_PORT=$(free_port)
export AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=test-secret
MODEL=$(find_model)
MEDIA=$(find_media)
ffmpeg -v error -y -i "$MEDIA" -t 16 -c:v libx264 -preset veryfast -pix_fmt yuv420p -f mpegts "$WORK/good.ts"
size=$(stat -c %s "$WORK/good.ts")
head -c $((size / 3)) "$WORK/good.ts" >"$WORK/truncated.ts"
head -c 200000 /dev/urandom >"$WORK/garbage.mp4"
cp "$WORK/good.ts" "$WORK/corrupt.ts"
# 64 KiB of noise in the middle of the stream
dd if=/dev/urandom of="$WORK/corrupt.ts" bs=1 seek=$((size / 2)) count=65536 conv=notrunc status=none
printf 'not a model' >"$WORK/bad.onnx"
METRICS_PORT=$(free_port)
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$DEAD_PORT"}}
defaults:
  fps_limit: 4
  publishers: {local_dir: "$WORK/out"}
  detectors:
    - {type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}
cameras:
  - name: good
    source: {mode: url, url: "$WORK/good.ts", loop: true}
  - name: truncated
    source: {mode: url, url: "$WORK/truncated.ts", realtime: false}
  - name: garbage
    source: {mode: url, url: "$WORK/garbage.mp4"}
  - name: missing
    source: {mode: url, url: "$WORK/nope.mp4"}
  - name: corrupt
    source: {mode: url, url: "$WORK/corrupt.ts", realtime: false}
  - name: badmodel
    source: {mode: url, url: "$WORK/good.ts", realtime: false}
    detectors:
      - {type: yolo, params: {model: "$WORK/bad.onnx"}}
  - name: kvs
    stream_name: not-yet
    region: us-east-1
    detectors:
      - {type: yolo, params: {model: "$MODEL"}}
YAML
# A model that is not a model is a config error at start (issue 26.16: the
# camera used to run on without its detector): exit 2, file:line and reason.
rc=0; timeout 60 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/badmodel.log" 2>"$WORK/badmodel.err" || rc=$?
[ "$rc" = 2 ] || fail "a run with a bad model: exit $rc, not 2"
grep -q 'c.yaml:23:[0-9]*: cameras\[5\].detectors\[0\]: cannot load the model' "$WORK/badmodel.err" ||
  fail "no clear model error: $(tail -2 "$WORK/badmodel.err")"
# The rest of the bad inputs run without that camera.
sed -i '/- name: badmodel/,/bad.onnx/d' "$WORK/c.yaml"
grep -q bad.onnx "$WORK/c.yaml" && fail "test set-up: the badmodel camera is still there"
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 20 http_get "http://127.0.0.1:$METRICS_PORT/healthz" || fail "no /healthz: $(cat "$WORK/log.err")"
wait_for 60 bash -c "grep -q '\"camera_name\":\"corrupt\"' '$WORK/out/events.jsonl' 2>/dev/null" || fail "corrupt.ts: no events from its good parts"
wait_for 60 bash -c "grep -q 'source ended' '$WORK/log' && grep -c 'source ended' '$WORK/log' | grep -q '^[2-9]'" || fail "finite sources (truncated, corrupt) did not end"
kill -0 "$KVS_PID" || fail "kvs-infer died"
for cam in garbage missing kvs; do
  n=$(metric "kvs_infer_stream_errors_total{camera=\"$cam\"")
  note "$cam: $n stream error(s)"
  [ "$n" -ge 1 ] || fail "$cam: no stream error counted"
done
metric 'kvs_infer_stream_errors_total{camera="missing",kind="open"' | grep -qx 1 || fail "missing: kind=open"
metric 'kvs_infer_stream_errors_total{camera="good"' | grep -qx 0 || fail "the good camera has errors"
# Issue 9.6: FFmpeg's own complaints about the corrupt input are JSON log lines, not raw stderr.
grep -q '@ 0x' "$WORK/log.err" && fail "raw FFmpeg lines on stderr: $(grep -m1 '@ 0x' "$WORK/log.err")"
grep -q '"component":"ffmpeg"' "$WORK/log" || fail "no FFmpeg message in the JSON log"
grep -q 'No such file or directory' "$WORK/log" || fail "no clear error for the missing file"
grep '"camera_name":"kvs"' "$WORK/log" | grep -q 'cannot open the source: .*getDataEndpoint' ||
  fail "no clear error for the KVS camera whose endpoint is down"
# readiness reports the failed cameras; liveness stays up
code=0; http_get "http://127.0.0.1:$METRICS_PORT/readyz" >"$WORK/ready" || code=$?
[ "$code" = 22 ] || fail "/readyz should be 503 with failed cameras (got $code)"
note "readyz: $(cat "$WORK/ready")"
good_before=$(metric 'kvs_infer_frames_processed_total{camera="good"')
sleep 2
good_after=$(metric 'kvs_infer_frames_processed_total{camera="good"')
[ "$good_after" -gt "$good_before" ] || fail "the good camera stopped ($good_before -> $good_after)"
kill -TERM "$KVS_PID"
wait "$KVS_PID" || fail "exit code $? after SIGTERM"
$CHECK verify "$WORK/out" good --label person --min-events 3
$CHECK verify "$WORK/out" truncated --label person --min-events 1
echo PASS
