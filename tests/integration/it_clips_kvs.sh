#!/usr/bin/env bash
# clip: {from: kvs} (issue 23.3): a KVS camera keeps no video; its events name
# the stream and the producer-time range, and the operator page's API plays
# that range from the archive: clip.mp4 through GetClip on the emulator (the
# requested range: every fragment starting in it, from 0, at the footage's
# frame rate), clip-hls an ON_DEMAND HLS session whose playlist lists those
# fragments and ends; the page's <video> plays it (clip_browser.js). A non-KVS camera with from: kvs is a config error
# naming it.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
need_standins
export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
EPORT=$(free_port); METRICS_PORT=$(free_port); TOKEN=kvs-clip-token-$$
AUTH=(-H "Authorization: Bearer $TOKEN")
cat >"$WORK/bad.yaml" <<YAML
aws_region: us-east-1
cameras:
  - name: file-cam
    source: {mode: url, url: "$(find_media)"}
    clip: {from: kvs}
    detectors: [{type: yolo, params: {model: "$MODEL"}}]
YAML
rc=0; "$KVS_BIN" --config "$WORK/bad.yaml" --validate >"$WORK/bad.out" 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "from: kvs on a file camera: --validate exited $rc, not 2: $(cat "$WORK/bad.out")"
grep -q "camera file-cam: clip.from kvs needs a KVS source" "$WORK/bad.out" ||
  fail "the error does not name the camera: $(cat "$WORK/bad.out")"

kvs_emulator emulator "$EPORT" s1
wait_ready emulator
cat >"$WORK/c.yaml" <<YAML
aws_region: us-east-1
metrics: {listen: "127.0.0.1:$METRICS_PORT"}
ui: {token: "$TOKEN"}
spool: {dir: "$WORK/spool"}
aws: {endpoints: {kinesisvideo: "http://127.0.0.1:$EPORT"}}
cameras:
  - name: cam
    stream_name: s1
    source: {mode: getmedia}
    fps_limit: 1
    clip: {pre_seconds: 3, post_seconds: 3, from: kvs}
    publishers: {local_dir: "$WORK/out"}
    detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
YAML
"$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" &
KVS_PID=$!; PIDS+=("$KVS_PID")
has_event() { [ -s "$WORK/out/events.jsonl" ]; }
wait_for 90 has_event || fail "no event: $(tail -5 "$WORK/err")"
read -r ID S E < <($PY - "$WORK/out/events.jsonl" <<'PYEOF'
import json, sys
e = json.loads(open(sys.argv[1]).readline())
c = e["clip"]
assert c["status"] == "archived", c
k = c["kvs"]
assert k["stream"] == "s1" and k["region"] == "us-east-1", k
assert abs(k["end"] - k["start"] - 6) < 0.01, k
from datetime import datetime
at = datetime.fromisoformat(e["frame"]["producer_timestamp"].replace("Z", "+00:00")).timestamp()
assert abs(k["start"] + 3 - at) < 0.01, (k, at)  # pre_seconds before the event's frame
assert "path" not in c and "key" not in c, c
print(e["event_id"], k["start"], k["end"])
PYEOF
) || fail "the event does not name its KVS range: $(head -c 1500 "$WORK/out/events.jsonl")"
note "event $ID: s1 from $S to $E"
find "$WORK/out" -name clip.mp4 | grep -q . && fail "from: kvs stored a clip.mp4"
# The range's last fragment is archived once the post-roll has been produced.
past_end() { $PY -c "import sys,time; sys.exit(0 if time.time() > $E + 2 else 1)"; }
wait_for 20 past_end || fail "the post-roll of the range never ended"
API="http://127.0.0.1:$METRICS_PORT/api/v1/events/$ID"
curl -sf "${AUTH[@]}" -o "$WORK/clip.mp4" "$API/clip.mp4" ||
  fail "clip.mp4 of a KVS clip: $(curl -s "${AUTH[@]}" "$API/clip.mp4" | head -c 300)"
curl -sf -o "$WORK/frags.json" "http://127.0.0.1:$EPORT/_emulator/fragments?stream=s1" || fail "emulator fragments"
ffprobe -v error -count_frames -show_entries format=start_time,duration:stream=nb_read_frames,avg_frame_rate \
  -of json "$WORK/clip.mp4" >"$WORK/probe.json" || fail "ffprobe cannot read the clip"
curl -sf "${AUTH[@]}" "$API/clip-hls" >"$WORK/hls.json" ||
  fail "clip-hls: $(curl -s "${AUTH[@]}" "$API/clip-hls" | head -c 300)"
MASTER=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$WORK/hls.json")
curl -sf "$MASTER" >"$WORK/master.m3u8" || fail "the HLS link does not answer: $MASTER"
MEDIA="${MASTER%/*}/$(grep -v '^#' "$WORK/master.m3u8" | head -1)"
curl -sf "$MEDIA" >"$WORK/media.m3u8" || fail "no media playlist at $MEDIA"
$PY - "$WORK/frags.json" "$WORK/probe.json" "$WORK/media.m3u8" "$S" "$E" <<'PYEOF' || fail "the clip is not the requested range"
import json, sys
frags, probe, m3u8 = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), open(sys.argv[3]).read()
s, e = float(sys.argv[4]) * 1000, float(sys.argv[5]) * 1000
inside = [f for f in frags if s <= f["producer"] <= e]  # GetClip's selection: fragments starting in the range
want = sum(f["dur"] for f in inside) / 1000
assert inside and inside[0]["producer"] - s < 1500, ("the first fragment is late", inside[:1], s)
assert want >= (e - s) / 1000 - 1.5, ("range not covered", want)
fmt, st = probe["format"], probe["streams"][0]
num, den = map(int, st["avg_frame_rate"].split("/"))
fps = num / den
print(f"clip: {fmt['duration']} s from {fmt['start_time']}, {st['nb_read_frames']} frames; range {(e - s) / 1000} s, fragments {len(inside)} ({want} s)")
assert abs(float(fmt["start_time"])) < 0.01, fmt
assert abs(float(fmt["duration"]) - want) < 0.15, (fmt, want)
assert abs(int(st["nb_read_frames"]) - want * fps) <= 1, (st, want, fps)
# The HLS link: an ended (VOD) playlist of the same fragments.
assert "#EXT-X-ENDLIST" in m3u8 and "#EXT-X-PLAYLIST-TYPE:VOD" in m3u8, m3u8
segs = [l for l in m3u8.splitlines() if l.startswith("getMP4MediaFragment")]
nums = [l.split("FragmentNumber=")[1].split("&")[0] for l in segs]
assert nums == [f["number"] for f in inside], (nums, [f["number"] for f in inside])
PYEOF
# The page's <video> plays it as it plays a stored clip.
DUR=$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["format"]["duration"])' "$WORK/probe.json")
node "$KVS_SOURCE_DIR/tests/integration/clip_browser.js" "http://127.0.0.1:$METRICS_PORT" "$TOKEN" cam "$ID" "$DUR" ||
  fail "the archived clip does not play on the operator page"
kill -TERM "$KVS_PID"; wait "$KVS_PID" || fail "kvs-infer exited $?: $(tail -3 "$WORK/err")"
echo PASS
