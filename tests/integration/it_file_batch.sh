#!/usr/bin/env bash
# A batch of files in one process (issue 26.10): 40 short clips as 40 file
# cameras (realtime: false, every frame analysed). Every source ends long
# before the frames it read are analysed; those must still all be analysed
# (the drain waits while analysis makes progress, not a fixed 10 s) and the
# process exit 0. Before, the 10 s drain ran out ("the drain overran"), the
# process exited 1 and the frames still queued were never analysed.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
N=40 FRAMES=8
ffmpeg -v error -y -i "$MEDIA" -frames:v "$FRAMES" -c:v libx264 -preset veryfast -pix_fmt yuv420p "$WORK/clip.mp4"
{
  echo "metrics: {listen: \"127.0.0.1:0\"}"
  echo "spool: {dir: \"$WORK/spool\"}"
  echo "queue_depth: 32" # a whole clip fits: its reader ends at once
  echo "defaults:"
  echo "  source: {mode: url, url: \"$WORK/clip.mp4\", realtime: false}"
  echo "  publishers: {local_dir: \"$WORK/out\"}"
  echo "  detectors: [{type: yolo, params: {model: \"$MODEL\", classes: [person]}}]"
  echo "cameras:"
  for i in $(seq 1 $N); do echo "  - name: clip-$i"; done
} >"$WORK/c.yaml"
t0=$(date +%s%N)
rc=0; timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
note "$N cameras x $FRAMES frames: exit $rc after $ms ms; $(grep -o 'summary: .*' "$WORK/err")"
[ "$rc" = 0 ] || fail "exit $rc: $(grep -o '"msg":"[^"]*overran[^"]*"' "$WORK/log") $(tail -2 "$WORK/err")"
grep -q "kvs-infer summary: $N camera(s), $((N * FRAMES)) frames decoded, $((N * FRAMES)) analysed" "$WORK/err" ||
  fail "not every frame read was analysed: $(grep -o 'summary: .*' "$WORK/err")"
n_ok=$(grep -c "^  clip-[0-9]* *ended *decoded $FRAMES, analysed $FRAMES, dropped 0," "$WORK/err" || true)
[ "$n_ok" = "$N" ] || fail "only $n_ok of $N cameras analysed all $FRAMES frames: $(grep '^  clip-' "$WORK/err" | grep -v "analysed $FRAMES," | head -3)"
grep -q 'analysing the [0-9]* frame(s) read first' "$WORK/log" || fail "the sources did not end before the analysis (the test did not test the drain)"
echo PASS
