#!/usr/bin/env bash
# A publisher and a source added as one file each (tests/extensions, built
# into kvs-infer-ext only): the `pattern` source's generated clip goes
# through the real pipeline (the example colour-blob plugin finds its red
# square), and the `http_post` publisher POSTs the event to a local HTTP
# endpoint that refuses the first two tries (retried with the camera's
# backoff) and checks, when the event arrives, that the images it names are
# already written (the publisher waits for images through its flag alone).
# Their keys are checked like every other key; kvs-infer itself knows neither.
. "$(dirname "$0")/lib.sh"
EXT="${KVS_BUILD_DIR:-$(dirname "$KVS_BIN")}/kvs-infer-ext"
PLUGINS="${KVS_BUILD_DIR:-$(dirname "$KVS_BIN")}/examples/plugins"
[ -x "$EXT" ] || fail "kvs-infer-ext was not built ($EXT)"
[ -f "$PLUGINS/libkvs_color_blob.so" ] || fail "the example plugin was not built ($PLUGINS)"
HOOK_PORT=$(free_port)
$PY - "$HOOK_PORT" "$WORK/hook.jsonl" >"$WORK/hook.log" 2>&1 <<'PYEOF' &
import http.server, json, os, sys
port, out = int(sys.argv[1]), sys.argv[2]
tries = 0
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global tries
        body = self.rfile.read(int(self.headers["Content-Length"]))
        tries += 1
        if tries <= 2:
            self.send_response(503); self.end_headers(); return
        e = json.loads(body)
        e["_images_there"] = all(os.path.getsize(p) > 0 for p in [e["snapshot"]] + e["crops"])
        e["_content_type"] = self.headers["Content-Type"]
        with open(out, "a") as f:
            f.write(json.dumps(e) + "\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", port), H)
print("ready", flush=True)
s.timeout = 1
for _ in range(600):  # bounded: ten minutes at most
    s.handle_request()
PYEOF
PIDS+=($!)
wait_ready hook
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
plugins: ["$PLUGINS/libkvs_color_blob.so"]
cameras:
  - name: yard
    source: {mode: pattern, frames: 40, fps: 10}
    fps_limit: 5
    publishers: {http_post_url: "http://127.0.0.1:$HOOK_PORT/events", local_dir: "$WORK/out"}
    detectors:
      - type: color_blob
        params: {color: [255, 0, 0], tolerance: 90, min_pixels: 200}
YAML
"$EXT" --config "$WORK/c.yaml" --validate >"$WORK/validate" 2>&1 || fail "does not validate: $(cat "$WORK/validate")"
# kvs-infer proper has neither: both are unknown to it, by name.
"$KVS_BIN" --config "$WORK/c.yaml" --validate >"$WORK/plain" 2>&1 && fail "kvs-infer accepted the test-only extensions"
grep -q 'unknown mode "pattern"' "$WORK/plain" || fail "no unknown-mode message: $(cat "$WORK/plain")"
grep -q 'unknown key `http_post_url`' "$WORK/plain" || fail "no unknown-key message: $(cat "$WORK/plain")"
# Their own keys are checked by their own code, with positions.
sed -e 's/frames: 40/frames: 0/' -e 's#http_post_url: "http#http_post_url: "ftp#' "$WORK/c.yaml" >"$WORK/bad.yaml"
"$EXT" --config "$WORK/bad.yaml" --validate >"$WORK/bad" 2>&1 && fail "bad extension keys accepted"
grep -q 'bad.yaml:6:37: cameras\[0\].source.frames: 0 is out of range' "$WORK/bad" || fail "frames: 0 not reported: $(cat "$WORK/bad")"
grep -q 'bad.yaml:8:33: cameras\[0\].publishers: http_post_url must be an http' "$WORK/bad" || fail "ftp URL not reported: $(cat "$WORK/bad")"

timeout 120 "$EXT" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?: $(tail -3 "$WORK/err")"
grep -q 'publish failed, retrying.*answered HTTP 503.*"publisher":"http_post"' "$WORK/log" || fail "the refused tries were not retried"
$PY - "$WORK/out/events.jsonl" "$WORK/hook.jsonl" <<'PYEOF' || fail "http_post events"
import json, sys
local = [json.loads(l) for l in open(sys.argv[1])]
hook = [json.loads(l) for l in open(sys.argv[2])]
assert len(local) == 1 and local[0]["detector"] == "color_blob", local
got = {e["event_id"]: e for e in hook}
assert set(got) == {local[0]["event_id"]}, (list(got), local[0]["event_id"])
e = got[local[0]["event_id"]]
assert e.pop("_images_there") is True, "the hook got the event before its images were written"
assert e.pop("_content_type") == "application/json"
assert e == local[0], "the hook's event differs from the local sink's"
b = e["bbox"]
assert 35 <= b["width"] <= 45 and 35 <= b["height"] <= 45 and 95 <= b["y"] <= 105, b
print("webhook event:", e["event_id"], b)
PYEOF
echo PASS
