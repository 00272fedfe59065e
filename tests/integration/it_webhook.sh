#!/usr/bin/env bash
# The `webhook` publisher on the real binary (YOLOX-nano on vtest.avi, in
# real time), against a receiver that checks every signature
# (webhook_receiver.py): a route that takes only confident people, custom
# headers, a receiver down when the run starts (refused connections), a 5xx
# storm, slow answers, the receiver killed and started again mid-run; then a
# receiver with another secret (401: the dead-letter file, with the reason);
# then a receiver down for a whole run, whose events the next run delivers
# from the spool.
# Every routed event arrives, nothing else does; duplicates only as
# at-least-once allows (the same event again).
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
ffmpeg -v error -y -i "$MEDIA" -t 30 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/clip.mp4"
PORT=$(free_port)
METRICS_PORT=$(free_port)
export HOOK_SECRET="s3cret-$RANDOM$RANDOM"
receiver() { # receiver NAME SECRET [OPTIONS...]
  local name=$1 secret=$2; shift 2
  $PY "$KVS_SOURCE_DIR/tests/integration/webhook_receiver.py" --port "$PORT" --secret "$secret" \
    --out "$WORK/got.jsonl" --rejected "$WORK/rejected.jsonl" --keep-header X-Team \
    --keep-header X-KVS-Infer-Event-Id --max-seconds 300 "$@" >>"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}
config() { # config FILE SPOOL CLIP REALTIME METRICS_PORT
  cat >"$1" <<YAML
metrics: {listen: "127.0.0.1:$5"}
spool: {dir: "$2"}
cameras:
  - name: hall
    source: {mode: url, url: "$3", realtime: $4}
    fps_limit: 2
    detectors:
      - {type: yolo, confidence_threshold: 0.4, params: {model: "$MODEL", classes: [person]}}
    publishers:
      local_dir: "$2/../out"
      webhook:
        url: "http://127.0.0.1:$PORT/hook"
        secret: "\${HOOK_SECRET}"
        headers: {X-Team: night-shift}
        timeout_seconds: 5
        when: {labels: [person], min_confidence: 0.6, event_types: [object]}
YAML
}
mkdir -p "$WORK/a" "$WORK/b"
config "$WORK/a/c.yaml" "$WORK/a/spool" "$WORK/clip.mp4" true "$METRICS_PORT"
"$KVS_BIN" --config "$WORK/a/c.yaml" --validate >/dev/null || fail "does not validate"

# Down at the start: the first events meet refused connections.
run_bg "$WORK/a/c.yaml" "$WORK/a/log"
sleep 1.5
receiver r1 "$HOOK_SECRET" --fail-first 3 --slow-every 5 --slow-ms 1200
wait_ready r1
# Killed once a few events got through, up again 3 s later.
wait_for 60 $PY -c 'import sys; sys.exit(sum(1 for _ in open(sys.argv[1])) < 2)' "$WORK/got.jsonl" ||
  fail "no event reached the receiver: $(tail -3 "$WORK/a/log")"
kill "$LAST_PID"; wait "$LAST_PID" 2>/dev/null || true
# The operator page's API shows the outage: failing, with its last error.
webhook_health() { http_get "http://127.0.0.1:$METRICS_PORT/api/v1/publishers" |
  $PY -c 'import json, sys; p = [p for p in json.load(sys.stdin)["publishers"] if p["name"] == "webhook"][0]
print(json.dumps(p)); sys.exit(0 if eval(sys.argv[1]) else 1)' "$1"; }
wait_for 30 webhook_health 'not p["healthy"] and "webhook http" in p["last_error"] and p["last_success"]' ||
  fail "the outage is not shown: $(webhook_health True)"
receiver r2 "$HOOK_SECRET" --slow-every 7 --slow-ms 800
wait_ready r2
wait_for 30 webhook_health 'p["healthy"] and p["dead_letters"] == 0' ||
  fail "not healthy again: $(webhook_health True)"
wait "$KVS_PID" || fail "kvs-infer exit $?: $(tail -3 "$WORK/a/log.err")"
grep -q 'publish failed, retrying.*answered HTTP 503.*"publisher":"webhook"' "$WORK/a/log" ||
  fail "the 5xx storm was not retried"
grep -q 'publish failed, retrying.*webhook http://127.0.0.1:[0-9]*/hook: Co.*"publisher":"webhook"' "$WORK/a/log" ||
  fail "the refused connections were not retried: $(grep -m3 'publish failed' "$WORK/a/log")"
[ ! -s "$WORK/rejected.jsonl" ] || fail "signatures refused: $(head -3 "$WORK/rejected.jsonl")"
grep -q "$HOOK_SECRET" -r "$WORK/a/spool" && fail "the secret was written to the spool"
$PY - "$WORK/a/out/events.jsonl" "$WORK/got.jsonl" <<'PYEOF' || fail "webhook deliveries"
import collections, json, sys
local = [json.loads(l) for l in open(sys.argv[1])]
got = [json.loads(l) for l in open(sys.argv[2])]
want = {e["event_id"]: e for e in local
        if e["label"] == "person" and e["confidence"] >= 0.6 and e["event_type"] == "object"}
others = [e for e in local if e["event_id"] not in want]
assert len(want) >= 3, f"too few routed events to show anything: {len(want)}"
assert others, "the route filtered nothing: the test shows nothing"
ids = collections.Counter(e["event_id"] for e in got)
assert set(ids) == set(want), ("lost", set(want) - set(ids), "not routed", set(ids) - set(want))
for e in got:
    assert e.pop("_h_X-Team") == "night-shift", e
    assert e.pop("_h_X-KVS-Infer-Event-Id") == e["event_id"]
    e.pop("_received_ms")
    assert e == want[e["event_id"]], "the hook's event differs from the local one"
dups = sum(n - 1 for n in ids.values())
print(f"webhook: {len(want)} routed of {len(local)} events, all delivered, {dups} duplicate(s)")
PYEOF

# A receiver with another secret refuses every event: each goes to the
# dead-letter file with the status; nothing is retried forever.
kill "$LAST_PID"; wait "$LAST_PID" 2>/dev/null || true
: >"$WORK/got.jsonl"
receiver r3 "not-$HOOK_SECRET"
wait_ready r3
ffmpeg -v error -y -i "$MEDIA" -t 8 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/short.mp4"
config "$WORK/b/c.yaml" "$WORK/b/spool" "$WORK/short.mp4" false 0
timeout 120 "$KVS_BIN" --config "$WORK/b/c.yaml" >"$WORK/b/log" 2>"$WORK/b/log.err" ||
  fail "exit $?: $(tail -3 "$WORK/b/log.err")"
[ ! -s "$WORK/got.jsonl" ] || fail "a wrongly signed event was accepted"
[ -s "$WORK/rejected.jsonl" ] || fail "the receiver saw no wrongly signed event"
$PY - "$WORK/b/out/events.jsonl" "$WORK/b/spool/dead-letter/webhook.jsonl" <<'PYEOF' || fail "dead letters"
import json, sys
local = [json.loads(l) for l in open(sys.argv[1])]
dead = [json.loads(l) for l in open(sys.argv[2])]
want = {e["event_id"] for e in local
        if e["label"] == "person" and e["confidence"] >= 0.6 and e["event_type"] == "object"}
assert want and {d["event"]["event_id"] for d in dead} == want, (len(want), len(dead))
assert all("answered HTTP 401" in d["error"] for d in dead), dead[0]["error"]
print(f"wrong secret: {len(dead)} event(s) in the dead-letter file with HTTP 401")
PYEOF

# Down for a whole run: its events stay in the spool, and the next start
# delivers them (with its own).
kill "$LAST_PID"; wait "$LAST_PID" 2>/dev/null || true
: >"$WORK/got.jsonl"
mkdir -p "$WORK/c"
config "$WORK/c/c.yaml" "$WORK/c/spool" "$WORK/short.mp4" false 0
timeout 120 "$KVS_BIN" --config "$WORK/c/c.yaml" >"$WORK/c/log1" 2>&1 || fail "exit $?: $(tail -3 "$WORK/c/log1")"
grep -q 'not yet delivered stay in the spool' "$WORK/c/log1" || fail "nothing was left in the spool"
cp "$WORK/c/out/events.jsonl" "$WORK/c/run1.jsonl"
receiver r4 "$HOOK_SECRET"
wait_ready r4
timeout 120 "$KVS_BIN" --config "$WORK/c/c.yaml" >"$WORK/c/log2" 2>&1 || fail "exit $?: $(tail -3 "$WORK/c/log2")"
$PY - "$WORK/c/run1.jsonl" "$WORK/c/out/events.jsonl" "$WORK/got.jsonl" <<'PYEOF' || fail "restart"
import json, sys
routed = lambda f: {e["event_id"] for e in map(json.loads, open(f))
                    if e["label"] == "person" and e["confidence"] >= 0.6 and e["event_type"] == "object"}
run1, both = routed(sys.argv[1]), routed(sys.argv[2])
got = {json.loads(l)["event_id"] for l in open(sys.argv[3])}
assert run1 and run1 < both, (len(run1), len(both))
assert got == both, ("lost", len(both - got), "unexpected", len(got - both))
print(f"restart: {len(run1)} event(s) of the run with the receiver down delivered by the next, "
      f"with its own {len(both - run1)}")
PYEOF
echo "PASS"
