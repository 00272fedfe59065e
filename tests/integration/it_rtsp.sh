#!/usr/bin/env bash
# RTSP against a real RTSP server (GStreamer's gst-rtsp-server): frames flow;
# the server ending its stream is a disconnect, not the end of the camera;
# the server going away mid-run and coming back (a camera rebooting) is
# reconnected to without restarting kvs-infer; SIGTERM while reconnecting
# stops within 5 s (issue 9.2 and 9.3).
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
/usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0')" 2>/dev/null ||
  need "GStreamer's RTSP server is not installed: run scripts/setup.sh"
ffmpeg -v error -y -i "$MEDIA" -t 6 -c:v libx264 -preset veryfast -g 10 -pix_fmt yuv420p -an "$WORK/clip.mp4"
RPORT=$(free_port); METRICS_PORT=$(free_port)
rtsp_up() {
  /usr/bin/python3 "$KVS_SOURCE_DIR/tests/standins/rtsp_server.py" --port "$RPORT" --file "$WORK/clip.mp4" \
    --max-seconds 300 >>"$WORK/rtsp.log" 2>&1 &
  RTSP_PID=$!; PIDS+=("$RTSP_PID")
  wait_for 20 grep -q ready "$WORK/rtsp.log" || fail "the RTSP server did not start: $(cat "$WORK/rtsp.log")"
}
rtsp_up
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
defaults:
  fps_limit: 3
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - {name: door, source: {mode: url, url: "rtsp://127.0.0.1:$RPORT/cam", reconnect_max_s: 1}}
YAML
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 20 http_get "http://127.0.0.1:$METRICS_PORT/healthz" || fail "no /healthz: $(cat "$WORK/log.err")"
decoded() { metric 'kvs_infer_frames_decoded_total{camera="door"'; }
wait_for 30 bash -c "[ \$(curl -s http://127.0.0.1:$METRICS_PORT/metrics | grep -c '^kvs_infer_frames_decoded_total{camera=\"door\"} [1-9]') -ge 1 ]" ||
  fail "no frames from the RTSP server: $(tail -3 "$WORK/log")"
# The 6 s clip (150 frames) ends its stream; the camera must read it again.
wait_for 40 bash -c "d=\$(curl -s http://127.0.0.1:$METRICS_PORT/metrics | sed -n 's/^kvs_infer_frames_decoded_total{camera=\"door\"} //p'); [ \"\${d%.*}\" -gt 200 ]" ||
  fail "the camera did not reconnect after the server ended its stream ($(decoded) frames): $(grep -o '"msg":"[^"]*"' "$WORK/log" | tail -4)"
note "after the stream ended once: $(decoded) frames decoded"
# The server goes away (a reboot): kvs-infer keeps retrying, then reconnects.
kill "$RTSP_PID"; wait "$RTSP_PID" 2>/dev/null || true
sleep 3
kill -0 "$KVS_PID" 2>/dev/null || fail "kvs-infer exited when the RTSP server went away: $(tail -3 "$WORK/log")"
[ "$(metric 'kvs_infer_source_state{camera="door",state="ended"')" = 0 ] || fail "the camera ended"
before=$(decoded)
rtsp_up
wait_for 30 bash -c "d=\$(curl -s http://127.0.0.1:$METRICS_PORT/metrics | sed -n 's/^kvs_infer_frames_decoded_total{camera=\"door\"} //p'); [ \"\${d%.*}\" -gt $((before + 20)) ]" ||
  fail "no frames after the RTSP server came back ($(decoded) vs $before)"
note "frames again after the server came back: $before -> $(decoded)"
n=$(metric 'kvs_infer_stream_errors_total{camera="door"')
[ "$n" -ge 2 ] || fail "disconnects not counted ($n)"
# SIGTERM while the server is gone and the camera backs off.
kill "$RTSP_PID"; wait "$RTSP_PID" 2>/dev/null || true
sleep 1
t0=$(date +%s%N)
kill -TERM "$KVS_PID"
wait "$KVS_PID"; rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
note "SIGTERM while reconnecting: exit $rc after $ms ms"
[ "$rc" = 0 ] || fail "exit code $rc"
[ "$ms" -lt 5000 ] || fail "stopping took $ms ms"
$CHECK verify "$WORK/out" door --label person --min-events 1
echo PASS
