#!/usr/bin/env bash
# The `mqtt` publisher on the real binary against a real mosquitto broker
# (password required, persistence on): a route that takes only people,
# events on <prefix>/events and <prefix>/<camera>/<label>, JPEG snapshots on
# their own topic, the broker restarted mid-run (every event still arrives:
# QoS 1, at-least-once), the retained availability topic ("online", then
# "offline" on a clean stop) and, over TLS (a private CA, mqtts://), the last
# will ("offline" when killed).
. "$(dirname "$0")/lib.sh"
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || skip "mosquitto is not installed (scripts/setup.sh)"
command -v mosquitto_sub >/dev/null || skip "mosquitto_sub is not installed (scripts/setup.sh)"
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)
MODEL=$(find_model)
MEDIA=$(find_media)
ffmpeg -v error -y -i "$MEDIA" -t 30 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/clip.mp4"
PORT=$(free_port)
TPORT=$(free_port)
# A private CA and a certificate for 127.0.0.1, for the TLS listener.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=it-ca -keyout "$WORK/ca.key" \
  -out "$WORK/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout "$WORK/srv.key" -out "$WORK/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$WORK/san.ext"
openssl x509 -req -in "$WORK/srv.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 2 -extfile "$WORK/san.ext" -out "$WORK/srv.pem" 2>/dev/null
export MQTT_PASSWORD="pw-$RANDOM$RANDOM"
mkdir -p "$WORK/mq"
mosquitto_passwd -b -c "$WORK/pw" kvs "$MQTT_PASSWORD" 2>/dev/null
mosquitto_passwd -b "$WORK/pw" watcher watch 2>/dev/null
cat >"$WORK/mq.conf" <<CONF
listener $PORT 127.0.0.1
user $(id -un)
allow_anonymous false
password_file $WORK/pw
persistence true
persistence_location $WORK/mq/
log_dest file $WORK/broker.log
log_type all
listener $TPORT 127.0.0.1
cafile $WORK/ca.pem
certfile $WORK/srv.pem
keyfile $WORK/srv.key
CONF
broker() {
  "$MOSQUITTO" -c "$WORK/mq.conf" >>"$WORK/broker.out" 2>&1 &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
  wait_for 20 grep -q "Opening ipv4 listen socket on port $PORT" "$WORK/broker.log" ||
    fail "mosquitto did not start: $(cat "$WORK/broker.out")"
}
sub() { mosquitto_sub -h 127.0.0.1 -p "$PORT" -u watcher -P watch "$@"; }
status() { sub -t kvs/status -C 1 -W 5 2>/dev/null || true; }
status_is() { test "$(status)" = "$1"; }
broker
# A persistent session (-c): messages for it wait in the broker while it is
# away. Started directly, not through a function, so that $! is its own pid.
mosquitto_sub -h 127.0.0.1 -p "$PORT" -u watcher -P watch -q 1 -c -i it-events -t kvs/events -t 'kvs/+/+' -F '%t %p' >"$WORK/events.txt" 2>"$WORK/sub.err" &
PIDS+=($!)
mosquitto_sub -h 127.0.0.1 -p "$PORT" -u watcher -P watch -q 1 -c -i it-snaps -t 'kvs/+/+/snapshot' -F '%t %l %x' >"$WORK/snaps.txt" 2>>"$WORK/sub.err" &
PIDS+=($!)
wait_for 20 grep -q "as it-snaps" "$WORK/broker.log" || fail "the subscribers did not connect"
config() { # config FILE CLIP [URL [CA_FILE]]
  cat >"$1" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
cameras:
  - name: hall
    source: {mode: url, url: "$2", realtime: true}
    fps_limit: 2
    detectors:
      - {type: yolo, confidence_threshold: 0.4, params: {model: "$MODEL", classes: [person]}}
    publishers:
      local_dir: "$WORK/out"
      mqtt:
        url: "${3:-mqtt://127.0.0.1:$PORT}"
        ${4:+ca_file: "$4"}
        topic_prefix: kvs
        username: kvs
        password: "\${MQTT_PASSWORD}"
        snapshot: true
        timeout_seconds: 3
        when: {labels: [person], min_confidence: 0.6}
YAML
}
config "$WORK/c.yaml" "$WORK/clip.mp4"
"$KVS_BIN" --config "$WORK/c.yaml" --validate >/dev/null || fail "does not validate"
run_bg "$WORK/c.yaml" "$WORK/log"
wait_for 60 grep -q '^kvs/events ' "$WORK/events.txt" || fail "no event reached the broker: $(tail -3 "$WORK/log")"
wait_for 10 status_is online || fail "kvs/status is not online: $(status)"
# The broker goes away for 3 s (its state saved, as a restart does).
kill "$BROKER_PID"; wait "$BROKER_PID" 2>/dev/null || true
sleep 3
broker
wait "$KVS_PID" || fail "kvs-infer exit $?: $(tail -3 "$WORK/log.err")"
grep -q 'mqtt .*connection lost, reconnecting' "$WORK/log" || fail "the broker restart was not seen"
status_is offline || fail "kvs/status after a clean stop: $(status)"
$PY - "$WORK/out/events.jsonl" "$WORK/events.txt" "$WORK/snaps.txt" <<'PYEOF' || fail "mqtt deliveries"
import collections, json, sys, time
local = [json.loads(l) for l in open(sys.argv[1])]
want = {e["event_id"]: e for e in local if e["label"] == "person" and e["confidence"] >= 0.6}
assert len(want) >= 3 and len(want) < len(local), (len(want), len(local))
for _ in range(50):  # the subscribers get what the broker held for them
    lines = [l.rstrip("\n").split(" ", 1) for l in open(sys.argv[2]) if l.strip()]
    snaps = [l.split() for l in open(sys.argv[3]) if l.strip()]
    by_topic = collections.defaultdict(collections.Counter)
    for topic, payload in lines:
        by_topic[topic][json.loads(payload)["event_id"]] += 1
    if set(by_topic["kvs/events"]) == set(want) and set(by_topic["kvs/hall/person"]) == set(want) \
            and len(snaps) >= len(want):
        break
    time.sleep(0.2)
assert set(by_topic) == {"kvs/events", "kvs/hall/person"}, set(by_topic)
for t in by_topic:
    assert set(by_topic[t]) == set(want), (t, "lost", set(want) - set(by_topic[t]),
                                           "not routed", set(by_topic[t]) - set(want))
for topic, length, hexdata in snaps:
    assert topic == "kvs/hall/person/snapshot" and int(length) > 1000, (topic, length)
    assert hexdata.lower().startswith("ffd8ff"), "the snapshot is not a JPEG"
assert len(snaps) >= len(want), (len(snaps), len(want))
dups = sum(n - 1 for n in by_topic["kvs/events"].values())
print(f"mqtt: {len(want)} routed of {len(local)} events on both topics, {len(snaps)} snapshots, "
      f"{dups} duplicate(s) after a broker restart")
PYEOF
# Over TLS, verified against the private CA; the last will: killed, the
# broker says "offline" for it.
ffmpeg -v error -y -i "$MEDIA" -t 15 -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/short.mp4"
config "$WORK/c2.yaml" "$WORK/short.mp4" "mqtts://127.0.0.1:$TPORT" "$WORK/ca.pem"
before=$(wc -l <"$WORK/events.txt")
run_bg "$WORK/c2.yaml" "$WORK/log2"
wait_for 30 status_is online || fail "kvs/status is not online again: $(status)"
more_events() { [ "$(wc -l <"$WORK/events.txt")" -gt "$before" ]; }
wait_for 60 more_events || fail "no event over TLS: $(grep -m3 mqtt "$WORK/log2")"
grep -q 'mqtt mqtts://127.0.0.1:[0-9]*: connected' "$WORK/log2" || fail "not connected over TLS"
kill -9 "$KVS_PID"; wait "$KVS_PID" 2>/dev/null || true
wait_for 10 status_is offline || fail "no last will: kvs/status is $(status)"
# A broker whose certificate another CA signed is never trusted, and the
# retries say why.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other -keyout "$WORK/o.key" \
  -out "$WORK/other.pem" 2>/dev/null
sed -e "s#$WORK/ca.pem#$WORK/other.pem#" -e 's/realtime: true/realtime: false/' \
  -e "s#$WORK/spool#$WORK/spool3#" "$WORK/c2.yaml" >"$WORK/c3.yaml"
timeout 120 "$KVS_BIN" --config "$WORK/c3.yaml" >"$WORK/log3" 2>&1 || fail "exit $?: $(tail -3 "$WORK/log3")"
grep -q 'not connected (OpenSSL Error.*certificate verify failed)' "$WORK/log3" ||
  fail "an untrusted broker certificate was not reported: $(grep -m3 mqtt "$WORK/log3")"
echo PASS
