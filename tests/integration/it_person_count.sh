#!/usr/bin/env bash
# One event per person walking through, not one per frame, on OpenCV's
# vtest.avi (79.5 s, 768x576, pedestrians crossing a square) with YOLOX-nano.
#
# The true number, and how it was counted: a run analysing every frame (no
# fps_limit, threshold 0.5, no cooldown) gives 34 events. Their 34 crops,
# checked by eye against contact sheets of the clip every 2 s, are 26
# distinct people, 6 re-detections of the blue sign at the left edge (a
# person-like post, score 0.50-0.54, found again each time it had been lost
# for 1.5 s) and 2 people found again after walking behind the
# fire-assembly sign. So TRUE=26. A few people far away on the top road may be
# too small to be seen at all, and two people walking side by side can be one
# track for a while, hence the tolerance of 4.
#
# With events: {cooldown_s: 10} (the re-found sign and people are suppressed)
# at fps_limit 5 the count must be within TRUE +- 4, while the detector sees
# people in thousands of frames.
. "$(dirname "$0")/lib.sh"
MODEL=$(find_model)
MEDIA=$(find_media)
TRUE=26 TOL=4
cat >"$WORK/c.yaml" <<YAML
metrics: {listen: "127.0.0.1:0"}
spool: {dir: "$WORK/spool"}
cameras:
  - name: vtest
    source: {mode: url, url: "$MEDIA", realtime: false}
    fps_limit: 5
    publishers: {local_dir: "$WORK/out"}
    detectors:
      - type: yolo
        confidence_threshold: 0.5
        events: {cooldown_s: 10}
        params: {model: "$MODEL", classes: [person]}
YAML
timeout 300 "$KVS_BIN" --config "$WORK/c.yaml" >"$WORK/log" 2>"$WORK/err" || fail "exit $?: $(tail -3 "$WORK/err")"
events=$(wc -l <"$WORK/out/events.jsonl")
detections=$(grep -o 'detections [0-9]*' "$WORK/err" | awk '{print $2}' | head -1)
note "vtest: $events events for $detections person detections (true number $TRUE +- $TOL)"
[ "$events" -ge $((TRUE - TOL)) ] && [ "$events" -le $((TRUE + TOL)) ] ||
  fail "$events events: not one per person ($TRUE +- $TOL)"
[ "$detections" -ge $((events * 20)) ] || fail "too few detections ($detections) for the check to mean anything"
echo PASS
