#!/usr/bin/env bash
# Transports and codecs through the URL source: H.265 in MP4, an HLS playlist
# over HTTP (H.264 TS segments), and a live H.264 MPEG-TS stream over HTTP
# (the RTSP-like path: a network camera that streams until it goes away, after
# which the source keeps reconnecting). SIGTERM then drains within seconds.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
ffmpeg -v error -y -i "$MEDIA" -t 20 -c:v libx265 -preset ultrafast -x265-params log-level=error -pix_fmt yuv420p "$WORK/vtest_hevc.mp4"
mkdir -p "$WORK/hls"
ffmpeg -v error -y -i "$MEDIA" -t 20 -c:v libx264 -preset veryfast -g 20 -pix_fmt yuv420p \
  -f hls -hls_time 2 -hls_playlist_type vod "$WORK/hls/index.m3u8"
HTTP_PORT=$(free_port)
(cd "$WORK/hls" && exec $PY -m http.server "$HTTP_PORT" --bind 127.0.0.1) >/dev/null 2>&1 &
PIDS+=($!)
wait_for 10 http_get "http://127.0.0.1:$HTTP_PORT/index.m3u8" || fail "HTTP server did not start"
LIVE_PORT=$(free_port)
ffmpeg -v error -re -i "$MEDIA" -t 12 -c:v libx264 -preset ultrafast -tune zerolatency -g 10 \
  -pix_fmt yuv420p -f mpegts -listen 1 "http://127.0.0.1:$LIVE_PORT/live.ts" &
PIDS+=($!)
METRICS_PORT=$(free_port)

cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
spool: {dir: "$WORK/spool"}
defaults:
  fps_limit: 2
  publishers: {local_dir: "$WORK/out"}
  detectors:
    - {type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}
cameras:
  - name: hevc
    source: {mode: url, url: "$WORK/vtest_hevc.mp4", realtime: false}
  - name: hls
    source: {mode: url, url: "http://127.0.0.1:$HTTP_PORT/index.m3u8", realtime: false}
  - name: live
    source: {mode: url, url: "http://127.0.0.1:$LIVE_PORT/live.ts", reconnect_max_s: 1}
YAML
sleep 0.5
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 20 http_get "http://127.0.0.1:$METRICS_PORT/healthz" || fail "no /healthz"
# Wait until the live camera has produced events and its server has gone away.
wait_for 60 bash -c "grep -q '\"camera_name\":\"live\"' '$WORK/out/events.jsonl' 2>/dev/null" || fail "no live events"
wait_for 60 bash -c "[ \"\$(METRICS_PORT=$METRICS_PORT; . '$(dirname "$0")/lib.sh'; metric 'kvs_infer_stream_errors_total{camera=\"live\"')\" -ge 1 ]" \
  || note "the live server has not gone away yet"
hls_frames=$(metric 'kvs_infer_frames_processed_total{camera="hls"')
hevc_frames=$(metric 'kvs_infer_frames_processed_total{camera="hevc"')
live_frames=$(metric 'kvs_infer_frames_processed_total{camera="live"')
note "frames analysed: hevc=$hevc_frames hls=$hls_frames live=$live_frames"
[ "$hevc_frames" -ge 35 ] || fail "hevc analysed $hevc_frames frames"
[ "$hls_frames" -ge 35 ] || fail "hls analysed $hls_frames frames"
[ "$live_frames" -ge 5 ] || fail "live analysed $live_frames frames"
metric 'kvs_infer_source_state{camera="hevc",state="ended"' | grep -qx 1 || fail "hevc not ended"
t0=$(date +%s%N)
kill -TERM "$KVS_PID"
wait "$KVS_PID" || fail "exit code $? after SIGTERM"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
note "SIGTERM to exit: ${ms} ms"
[ "$ms" -lt 5000 ] || fail "shutdown took ${ms} ms"
grep -q "kvs-infer summary" "$WORK/log.err" || fail "no summary"
$CHECK verify "$WORK/out" hevc --label person --min-events 5 --pedestrians
$CHECK verify "$WORK/out" hls --label person --min-events 5 --pedestrians
$CHECK verify "$WORK/out" live --label person --min-events 1 --pedestrians
$CHECK compare "$WORK/out" hls hevc --min-match 0.6
echo PASS
