#!/usr/bin/env bash
# A long-running service: /healthz, /readyz and the metric names of docs/metrics.md on
# the metrics port; SIGHUP adds, changes and removes cameras while untouched
# ones keep running; a broken config on reload is refused and the old one
# kept; SIGINT drains and exits 0 within seconds.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
METRICS_PORT=$(free_port)
write_config() { # $@: camera names
  {
    echo "metrics: {listen: \"127.0.0.1:$METRICS_PORT\"}"
    echo "spool: {dir: \"$WORK/spool\"}"
    echo "defaults:"
    echo "  source: {mode: url, url: \"$MEDIA\", loop: true}"
    echo "  fps_limit: ${FPS:-2}"
    echo "  publishers: {local_dir: \"$WORK/out\"}"
    echo "  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: \"$MODEL\", classes: [person]}}]"
    echo "cameras:"
    for c in "$@"; do echo "  - name: $c"; done
  } >"$WORK/c.yaml"
}
write_config keep change
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 20 http_get "http://127.0.0.1:$METRICS_PORT/readyz" || fail "never ready: $(cat "$WORK/log.err")"
http_get "http://127.0.0.1:$METRICS_PORT/healthz" | grep -qx ok || fail "/healthz"
wait_for 30 bash -c "[ \$(grep -c '\"msg\":\"event: ' '$WORK/log') -ge 2 ]" || fail "no events"
http_get "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics"
for name in kvs_infer_frames_processed_total kvs_infer_detections_total kvs_infer_inference_seconds_bucket \
            kvs_infer_events_published_total kvs_infer_stream_errors_total kvs_infer_frames_dropped_total \
            kvs_infer_source_state kvs_infer_event_latency_seconds_count kvs_infer_frame_queue_depth; do
  grep -q "^# TYPE ${name%_bucket}\|^${name}" "$WORK/metrics" || fail "metric $name missing"
done
grep -q '^kvs_infer_detections_total{camera="keep",detector="yolo",label="person"} [1-9]' "$WORK/metrics" || fail "detections by label"
grep -q '^kvs_infer_events_published_total{publisher="local",outcome="ok"} [1-9]' "$WORK/metrics" || fail "published by outcome"
grep -q '^kvs_infer_source_state{camera="keep",state="running"} 1' "$WORK/metrics" || fail "source state"
# Issue 9.7: Prometheus conventions, checked by Prometheus's own linter on a live scrape.
if command -v promtool >/dev/null; then
  promtool check metrics <"$WORK/metrics" >"$WORK/promtool" 2>&1 || fail "promtool: $(cat "$WORK/promtool")"
else
  note "promtool not installed (Debian package prometheus): lint skipped"
fi
grep -q '^kvs_infer_event_latency_seconds_count{publisher="local"} [1-9]' "$WORK/metrics" || fail "latency by publisher"
$PY - "$METRICS_PORT" <<'PYEOF' || fail "Content-Type of /metrics"
import sys, urllib.request
with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5) as r:
    ct = r.headers["Content-Type"]
sys.exit(0 if ct == "text/plain; version=0.0.4; charset=utf-8" else f"got {ct}")
PYEOF

# Reload: keep stays, change gets a new fps_limit... (same name, new settings), gone is removed, new is added.
keep_before=$(metric 'kvs_infer_frames_processed_total{camera="keep"')
{
  cat "$WORK/c.yaml" | sed '/^cameras:/,$d'
  echo "cameras:"
  echo "  - name: keep"
  echo "  - name: change"
  echo "    fps_limit: 1"
  echo "  - name: added"
} >"$WORK/c2.yaml"
mv "$WORK/c2.yaml" "$WORK/c.yaml"
kill -HUP "$KVS_PID"
wait_for 20 grep -q 'reload: 3 camera(s) running, 2 (re)started' "$WORK/log" || fail "reload: $(grep reload "$WORK/log")"
wait_for 20 bash -c "METRICS_PORT=$METRICS_PORT; . '$(dirname "$0")/lib.sh' >/dev/null; [ \$(metric 'kvs_infer_frames_processed_total{camera=\"added\"') -ge 1 ]" || fail "added camera idle"
# keep analyses a frame every 0.5 s: give it a few to show it kept running.
keep_going() { [ "$(metric 'kvs_infer_frames_processed_total{camera="keep"')" -gt "$keep_before" ]; }
wait_for 10 keep_going || fail "keep stopped"
grep -q '"msg":"source open' "$WORK/log"
[ "$(grep -c '"msg":"source open.*"camera_name":"keep"' "$WORK/log")" = 1 ] || fail "keep was restarted"

# Issue 9.6: every reload kept one more config and the 64th was refused.
# 300 reloads, every 25th changing a camera (its old config must go once it
# has stopped): all accepted, memory flat.
cp "$WORK/c.yaml" "$WORK/good.yaml"
# Under ASan freed memory sits in its quarantine (RSS grows by design); there
# LeakSanitizer at exit is the check instead.
rss_limit=15000
case "$(ldd "$KVS_BIN")" in *libasan*) rss_limit=0 ;; esac
$PY - "$KVS_PID" "$WORK/log" "$WORK/c.yaml" "$WORK/good.yaml" "$rss_limit" >"$WORK/reloads" <<'PYEOF' || fail "reloads: $(tail -2 "$WORK/reloads")"
import os, signal, sys, time
pid, log, cfg, good, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
def rss():
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS"))
def done():
    with open(log) as f:
        return sum('"msg":"reload: ' in l and "camera(s) running" in l for l in f)
text = open(good).read()
start = done()
for i in range(1, 301):
    body = text if i % 50 else text.replace("  - name: added", "  - name: added\n    fps_limit: 1")
    if i % 25 == 0:
        with open(cfg + ".tmp", "w") as f: f.write(body)
        os.replace(cfg + ".tmp", cfg)
    os.kill(pid, signal.SIGHUP)
    end = time.time() + 20
    while done() < start + i:
        if time.time() > end: sys.exit(f"reload {i} was not applied")
        time.sleep(0.005)
    if i == 50: base = rss()
print(f"300 reloads applied; RSS {base} kB after 50, {rss()} kB after 300")
if limit and rss() - base > limit: sys.exit(f"RSS grew {rss() - base} kB over 250 reloads")
PYEOF
note "$(cat "$WORK/reloads")"
grep -q 'keeping the running one' "$WORK/log" && fail "a good reload was refused: $(grep -m1 'keeping the running one' "$WORK/log")"
kill -0 "$KVS_PID" || fail "died during the reloads"
# Issue 9.6: after reloads, each camera has one source state, a removed one none.
grep -v '  - name: added' "$WORK/good.yaml" | grep -v '^    fps_limit: 1$' >"$WORK/c.yaml"
sed -i 's/^  - name: change$/  - name: change\n    fps_limit: 1/' "$WORK/c.yaml"
n_before=$(grep -c '"msg":"reload: ' "$WORK/log")
kill -HUP "$KVS_PID"
wait_for 20 bash -c "[ \$(grep -c '\"msg\":\"reload: ' '$WORK/log') -gt $n_before ]" || fail "the removing reload was not applied"
http_get "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics2"
grep -q '^kvs_infer_source_state{camera="added"' "$WORK/metrics2" && fail "a removed camera keeps its state series: $(grep 'camera="added"' "$WORK/metrics2" | grep source_state)"
for cam in keep change; do
  ones=$(grep "^kvs_infer_source_state{camera=\"$cam\"" "$WORK/metrics2" | awk '{s += $2} END {print s + 0}')
  [ "$ones" = 1 ] || fail "$cam is in $ones states at once: $(grep "^kvs_infer_source_state{camera=\"$cam\"" "$WORK/metrics2")"
done

# Issue 26.16: a reload whose detector model cannot load (it was accepted and
# the cameras ran on without the detector) is refused as --validate refuses
# it; the running detector keeps detecting.
head -c 4096 /dev/urandom >"$WORK/corrupt.onnx"
cp "$WORK/c.yaml" "$WORK/before_corrupt.yaml"
sed -i "s|model: \"$MODEL\"|model: \"$WORK/corrupt.onnx\"|; s|^  - name: change\$|  - name: change2|" "$WORK/c.yaml"
grep -q corrupt.onnx "$WORK/c.yaml" || fail "test set-up: no model line replaced"
n_before=$(grep -c 'keeping the running one' "$WORK/log" || true)
kill -HUP "$KVS_PID"
wait_for 20 bash -c "[ \$(grep -c 'keeping the running one' '$WORK/log') -gt $n_before ]" || fail "corrupt model: reload not refused: $(grep 'reload\|detector' "$WORK/log" | tail -3)"
grep -q 'c.yaml:[0-9]*:[0-9]*: cameras\[0\].detectors\[0\]: cannot load the model .*corrupt.onnx' "$WORK/log.err" || fail "corrupt model: no diagnostic: $(tail -3 "$WORK/log.err")"
grep -q 'detector disabled' "$WORK/log" && fail "a detector was disabled: $(grep -m1 'detector disabled' "$WORK/log")"
[ "$(metric 'kvs_infer_config_reloads_total{result="refused"')" -ge 1 ] || fail "no refused reload counted"
det_before=$(metric 'kvs_infer_detections_total{camera="keep",detector="yolo",label="person"')
wait_for 20 bash -c "METRICS_PORT=$METRICS_PORT; . '$(dirname "$0")/lib.sh' >/dev/null; [ \$(metric 'kvs_infer_detections_total{camera=\"keep\",detector=\"yolo\",label=\"person\"') -gt $det_before ]" || fail "keep stopped detecting after the refused reload"
http_get "http://127.0.0.1:$METRICS_PORT/readyz" >/dev/null || fail "/readyz after a refused reload"
[ "$(grep -c '"msg":"source open.*"camera_name":"change2"' "$WORK/log")" = 0 ] || fail "a camera of the refused config started"

# A broken config on reload: refused, nothing stops.
echo "cameras: [{name: x, bogus: 1}]" >"$WORK/c.yaml"
kill -HUP "$KVS_PID"
wait_for 20 grep -q 'reload: the new config has [0-9]* error' "$WORK/log" || fail "bad reload not refused"
grep -q 'cameras\[0\].bogus: unknown key' "$WORK/log.err" || fail "bad reload: no diagnostic"
sleep 1
kill -0 "$KVS_PID" || fail "died on a bad reload"

t0=$(date +%s%N)
kill -INT "$KVS_PID"
wait "$KVS_PID" || fail "exit code $? after SIGINT"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
note "SIGINT to exit: ${ms} ms"
[ "$ms" -lt 5000 ] || fail "shutdown took ${ms} ms"
produced=$(grep -c '"msg":"event: ' "$WORK/log")
$CHECK verify "$WORK/out" keep --min-events 1
lines=$(wc -l <"$WORK/out/events.jsonl")
[ "$lines" = "$produced" ] || fail "$produced events produced, $lines written"
echo PASS
