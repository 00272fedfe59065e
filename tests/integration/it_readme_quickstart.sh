#!/usr/bin/env bash
# The README's quick start, run as written: every ```sh quickstart block under
# "## Quick start" is extracted and run in order, in one shell (so its
# `export` carries on), in a scratch folder laid out like the checkout
# (build/kvs-infer and models/coco/yolox_nano.onnx linked in, an empty
# config/), with the camera read from the project's KVS emulator serving real
# footage. A command that fails fails the test, naming its block.
#
# Substituted, and only these, because a test cannot reach AWS:
# - the credentials' placeholders (`=...`) by the emulator's key and secret;
# - the metrics address 127.0.0.1:9090 by a free port;
# - after the block that writes config/cameras.yaml, one line is appended to
#   it: `aws: {endpoints: {kinesisvideo: <the emulator>}}`.
# The block holding the service's run line (`build/kvs-infer --config FILE`
# without --validate) starts it in the background; the blocks after it are the
# "from another terminal" checks, retried until they pass (bounded). Then the
# service gets SIGTERM and must exit 0, as the README says.
# Also checked: the README stays about a page (at most 150 lines) and links
# every page of docs/.
. "$(dirname "$0")/lib.sh"
README="${KVS_README:-$KVS_SOURCE_DIR/README.md}"
MODEL=$(find_model)
need_standins

lines=$(wc -l <"$README")
[ "$lines" -le 150 ] || fail "README.md has $lines lines; the brief allows about a page (150)"
for d in "$KVS_SOURCE_DIR"/docs/*.md; do
  b=$(basename "$d")
  [ "$b" = README.md ] && continue
  grep -q "](docs/$b" "$README" || fail "README.md does not link docs/$b"
done

# Extract the blocks: block-N.sh, in order.
QS="$WORK/qs"
mkdir -p "$QS/build" "$QS/models/coco" "$QS/config"
$PY - "$README" "$QS" <<'PYEOF' || fail "could not extract the quick start from $README"
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^## Quick start[^\n]*\n(.*?)(?=^## )", text, re.S | re.M)
assert m, "no '## Quick start' section"
blocks = re.findall(r"^```sh quickstart\n(.*?)^```", m.group(1), re.S | re.M)
assert len(blocks) >= 3, f"only {len(blocks)} '```sh quickstart' blocks"
for i, b in enumerate(blocks):
    open(f"{sys.argv[2]}/block-{i}.sh", "w").write(b)
print(len(blocks))
PYEOF
ln -s "$KVS_BIN" "$QS/build/kvs-infer"
ln -s "$MODEL" "$QS/models/coco/yolox_nano.onnx"

export AWS_ACCESS_KEY_ID=AKIDEMULATOR AWS_SECRET_ACCESS_KEY=emulator-secret
unset AWS_SESSION_TOKEN AWS_PROFILE
EPORT=$(free_port)
MPORT=$(free_port)
# The stream the README names, served by the emulator.
STREAM=$(grep -ho 'stream_name: *[A-Za-z0-9_.-]*' "$QS"/block-*.sh | head -1 | sed 's/.*: *//' || true)
[ -n "$STREAM" ] || fail "the quick start names no stream_name"
kvs_emulator emulator "$EPORT" "$STREAM"
wait_ready emulator

RUN_RE='^build/kvs-infer --config [^ ]+ *(#.*)?$'
ran_service=0
for f in $(ls "$QS"/block-*.sh | sort -V); do
  n=$(basename "$f" .sh)
  sed -i -e "s/127\.0\.0\.1:9090/127.0.0.1:$MPORT/g" \
    -e "s/AWS_ACCESS_KEY_ID=\.\.\./AWS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID/" \
    -e "s/AWS_SECRET_ACCESS_KEY=\.\.\./AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY/" "$f"
  if grep -Eq "$RUN_RE" "$f"; then
    note "$n: the service, in the background: $(grep -E "$RUN_RE" "$f")"
    # The line, its comment dropped, in the background; its exit status kept.
    sed -E -i "s|^(build/kvs-infer --config [^ ]+) *(#.*)?\$|{ \1 \\& echo \$! >\"$WORK/service.pid\"; wait \$!; echo \$? >\"$WORK/service.rc\"; } >\"$WORK/service.log\" 2>\"$WORK/service.err\" \\&|" "$f"
    (cd "$QS" && bash -euo pipefail "$f") || fail "$n failed: $(cat "$f")"
    # The block returns at once; its background group writes the pid a moment
    # later (reading it too early gave an empty pid: "the service exited").
    for _ in $(seq 100); do [ -s "$WORK/service.pid" ] && break; sleep 0.1; done
    [ -s "$WORK/service.pid" ] || fail "$n: the service was not started: $(cat "$WORK/service.err" 2>/dev/null)"
    KVS_PID=$(cat "$WORK/service.pid")
    PIDS+=("$KVS_PID")
    ran_service=1
    continue
  fi
  if [ "$ran_service" = 1 ]; then
    note "$n: a check from another terminal (retried up to 90 s)"
    ok=0
    for _ in $(seq 90); do
      if (cd "$QS" && bash -euo pipefail "$f") >"$WORK/$n.out" 2>&1; then ok=1; break; fi
      kill -0 "$KVS_PID" 2>/dev/null || fail "the service exited: $(tail -5 "$WORK/service.log") $(tail -5 "$WORK/service.err")"
      sleep 1
    done
    [ "$ok" = 1 ] || fail "$n kept failing for 90 s: $(cat "$f")
$(cat "$WORK/$n.out")
service log: $(grep -v '"debug"' "$WORK/service.log" | tail -5)"
    [ -s "$WORK/$n.out" ] || fail "$n printed nothing: $(cat "$f")"
    continue
  fi
  note "$n: $(grep -v '^ ' "$f" | head -1)"
  # Sourced, so that an `export` reaches the later blocks.
  # shellcheck disable=SC1090
  (cd "$QS" && set -euo pipefail && . "$f" && env | grep '^AWS_' >"$WORK/env.out") ||
    fail "$n failed: $(cat "$f")"
  # shellcheck disable=SC2046
  export $(cat "$WORK/env.out")
  if grep -q 'config/cameras.yaml <<' "$f"; then
    echo "aws: {endpoints: {kinesisvideo: \"http://127.0.0.1:$EPORT\"}}" >>"$QS/config/cameras.yaml"
  fi
done
[ "$ran_service" = 1 ] || fail "the quick start never runs the service (build/kvs-infer --config FILE)"

# The events the checks printed are real: JSON lines of the README's camera,
# read from the emulator's stream.
$PY - "$QS/out/events.jsonl" "$STREAM" <<'PYEOF' || fail "events.jsonl: not the quick start's events"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
assert events, "no events"
assert all(e["stream_name"] == sys.argv[2] for e in events), events[0]
print(len(events), "events from", sys.argv[2], "labels", sorted({e["label"] for e in events}))
PYEOF

kill -TERM "$KVS_PID"
for _ in $(seq 30); do [ -s "$WORK/service.rc" ] && break; sleep 1; done
[ -s "$WORK/service.rc" ] || fail "the service did not stop within 30 s of SIGTERM"
rc=$(cat "$WORK/service.rc")
[ "$rc" = 0 ] || fail "the service exited $rc after SIGTERM: $(tail -5 "$WORK/service.err")"
echo PASS
