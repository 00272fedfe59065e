#!/usr/bin/env bash
# Issue 26.12: one flipped bit in the middle of a spool segment used to cut
# off every record after it. After kill -9 with a delivery backlog and one bit
# flipped at 20 % of the largest segment, the restart skips only the damaged
# record (reported with segment and offset, copied to {spool.dir}/corrupt/)
# and delivers every other event produced.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
cat >"$WORK/c.yaml" <<YAML
spool: {dir: "$WORK/spool"}
defaults:
  source: {mode: url, url: "$MEDIA", realtime: false}
  fps_limit: 4
  publishers: {local_dir: "$WORK/out"}
  detectors: [{type: yolo, confidence_threshold: 0.5, params: {model: "$MODEL", classes: [person]}}]
cameras:
  - name: a
  - name: b
YAML
mkdir -p "$WORK/out/events.jsonl" # a folder: nothing is delivered, all stays spooled
run_bg "$WORK/c.yaml" "$WORK/log1"
wait_for 60 bash -c "[ \$(grep -c '\"msg\":\"event: ' '$WORK/log1') -ge 30 ]" || fail "no events before the kill"
kill -9 "$KVS_PID"
wait "$KVS_PID" 2>/dev/null || true
rmdir "$WORK/out/events.jsonl"
seg=$(ls -S "$WORK"/spool/seg-*.log | head -n 1)
at=$($PY - "$seg" <<'PYEOF'
import os, sys
p = sys.argv[1]
off = os.path.getsize(p) // 5
with open(p, "r+b") as f:
    f.seek(off)
    b = f.read(1)
    f.seek(off)
    f.write(bytes([b[0] ^ 0x10]))
print(off)
PYEOF
)
note "flipped one bit at byte $at of $(stat -c %s "$seg") in $(basename "$seg")"
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log2" 2>"$WORK/err2" || fail "restart exit $?"
grep -q 'corrupt byte(s) at offset' "$WORK/log2" || fail "the bad record was not reported: $(grep -m1 corrupt "$WORK/log2")"
grep -q 'cut off' "$WORK/log2" && fail "records were cut: $(grep -m1 'cut off' "$WORK/log2")"
[ "$(ls "$WORK/spool/corrupt" | wc -l)" = 1 ] || fail "the bad bytes were not copied aside"
$PY - "$WORK/log1" "$WORK/out/events.jsonl" <<'PYEOF' || fail "events lost beyond the damaged one"
import json, sys
produced = [json.loads(l)["event_id"] for l in open(sys.argv[1]) if '"msg":"event: ' in l]
got = {json.loads(l)["event_id"] for l in open(sys.argv[2])}
missing = [i for i in produced if i not in got]
print(f"-- {len(produced)} produced before the kill, {len(missing)} missing", file=sys.stderr)
sys.exit(0 if len(missing) == 1 else 1)
PYEOF
echo PASS
