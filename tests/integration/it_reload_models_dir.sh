#!/usr/bin/env bash
# A model named relative to models_dir, and a camera whose settings change on
# every reload: the camera of the second reload opens its detector with the
# new config's models_dir, not the one of the config the first reload brought
# (that one is freed once its camera stopped; reading it was a use after free).
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
METRICS_PORT=$(free_port)
write_config() { # $1: fps_limit of the camera
  cat >"$WORK/c.tmp" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
models_dir: "$(dirname "$(dirname "$MODEL")")"
defaults:
  source: {mode: url, url: "$MEDIA", loop: true}
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$(basename "$(dirname "$MODEL")")/$(basename "$MODEL")", classes: [person]}}]
cameras:
  - name: cam
    fps_limit: $1
YAML
  mv "$WORK/c.tmp" "$WORK/c.yaml"
}
write_config 2
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 30 http_get "http://127.0.0.1:$METRICS_PORT/readyz" || fail "never ready: $(tail -3 "$WORK/log.err")"
for i in 1 2 3; do
  write_config "$((2 + i))"
  kill -HUP "$KVS_PID"
  wait_for 20 bash -c "[ \$(grep -c 'reload: 1 camera(s) running, 1 (re)started' '$WORK/log') -ge $i ]" ||
    fail "reload $i not applied: $(grep reload "$WORK/log" | tail -2)"
  kill -0 "$KVS_PID" || fail "died at reload $i: $(tail -5 "$WORK/log.err")"
done
wait_for 20 http_get "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null ||
  fail "not ready after the reloads: $(http_get "http://127.0.0.1:$METRICS_PORT/readyz" || true)"
grep -q 'detector disabled\|cannot load' "$WORK/log" "$WORK/log.err" &&
  fail "a detector did not load: $(grep -h -m1 'detector disabled\|cannot load' "$WORK/log" "$WORK/log.err")"
kill -INT "$KVS_PID"
wait "$KVS_PID" || fail "exit code $? after SIGINT: $(tail -5 "$WORK/log.err")"
echo PASS
