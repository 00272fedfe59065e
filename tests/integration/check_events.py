#!/usr/bin/python3
"""Assertions on what kvs-infer wrote: events.jsonl and the images it names.

  check_events.py summary OUT_DIR                      -> prints per-camera counts as JSON
  check_events.py verify OUT_DIR CAMERA [--label L] [--min-events N] [--min-conf C]
                  [--roi NAME] [--inside X0,Y0,X1,Y1] [--outside X0,Y0,X1,Y1] [--pedestrians]
  check_events.py compare OUT_DIR CAM_A CAM_B --min-match F
  check_events.py delivered LOG RECORDS [--same-as JSONL] [--ids FILE]
                  [--s3list FILE --bucket B --prefix P --images DIR]
      every event kvs-infer logged as produced (LOG) is in RECORDS (a Kinesis dump, one
      {"partition_key", "data"} per line, or an events.jsonl); optionally each equals its line in
      JSONL; --ids writes the produced ids; the s3list FILE lists "s3-key<TAB>local copy" for every image the events name
"""
import argparse
import collections
import json
import os
import sys


def load(out_dir):
    path = os.path.join(out_dir, "events.jsonl")
    events = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.endswith("\n"):
                sys.exit(f"{path}:{n}: torn last line")
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{n}: not JSON: {e}")
    return events


REQUIRED = ["schema_version", "event_id", "camera_name", "stream_name", "detector", "label",
            "confidence", "bbox", "track_id", "roi", "frame", "detected_at", "model",
            "snapshot", "crops"]


def check_event(e):
    for k in REQUIRED:
        if k not in e:
            sys.exit(f"event {e.get('event_id')}: missing field {k}")
    for ref in [e["snapshot"]] + e["crops"]:
        if not ref or not os.path.isfile(ref):
            sys.exit(f"event {e['event_id']}: image {ref} missing")
        with open(ref, "rb") as f:
            if f.read(3) != b"\xff\xd8\xff":
                sys.exit(f"event {e['event_id']}: {ref} is not a JPEG")
    b = e["bbox"]
    if not (0 <= b["x"] and 0 <= b["y"] and b["x"] + b["width"] <= b["frame_width"] + 0.5
            and b["y"] + b["height"] <= b["frame_height"] + 0.5 and b["width"] > 0 and b["height"] > 0):
        sys.exit(f"event {e['event_id']}: bbox outside the frame: {b}")
    if len(e["model"]["sha256"]) != 64:
        sys.exit(f"event {e['event_id']}: model hash missing")


def centre(e):
    f = e["bbox"]["fractions"]
    return f["x"] + f["width"] / 2, f["y"] + f["height"] / 2


def box(s):
    return [float(v) for v in s.split(",")]


def delivered(a):
    produced = [json.loads(l)["event_id"] for l in open(a.out) if '"msg":"event: ' in l]
    got, lines = {}, 0
    for l in open(a.cams[0]):
        r = json.loads(l)
        e = json.loads(r["data"]) if "data" in r else r
        if "partition_key" in r and r["partition_key"] != e["camera_name"]:
            sys.exit(f"{e['event_id']}: partition key {r['partition_key']} is not the camera")
        got[e["event_id"]] = e
        lines += 1
    missing = set(produced) - set(got)
    if not produced or missing:
        sys.exit(f"{len(missing)} of {len(produced)} produced events missing")
    if a.same_as:
        local = {json.loads(l)["event_id"]: json.loads(l) for l in open(a.same_as)}
        if any(got[i] != local[i] for i in produced):
            sys.exit("the records and the local sink disagree")
    if a.ids:
        with open(a.ids, "w") as f:
            f.write("".join(i + "\n" for i in produced))
    if a.s3list:
        with open(a.s3list, "w") as f:
            for i in produced:
                for ref in [got[i]["snapshot"]] + got[i]["crops"]:
                    want = f"s3://{a.bucket}/{a.prefix}"
                    if not ref.startswith(want):
                        sys.exit(f"{i}: image {ref} is not under {want}")
                    key = ref[len(f"s3://{a.bucket}/"):]
                    f.write(f"{key}\t{a.images}/{key[len(a.prefix):]}\n")
    print(f"{len(produced)} events produced, {lines} records, none missing")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("out")
    ap.add_argument("cams", nargs="*")
    ap.add_argument("--label")
    ap.add_argument("--min-events", type=int, default=1)
    ap.add_argument("--max-events", type=int)
    ap.add_argument("--min-conf", type=float)
    ap.add_argument("--roi")
    ap.add_argument("--inside")
    ap.add_argument("--outside")
    ap.add_argument("--pedestrians", action="store_true")
    ap.add_argument("--min-match", type=float, default=0.6)
    ap.add_argument("--same-as")
    ap.add_argument("--s3list")
    ap.add_argument("--bucket")
    ap.add_argument("--prefix", default="")
    ap.add_argument("--images")
    ap.add_argument("--ids")
    a = ap.parse_args()
    if a.cmd == "delivered":
        delivered(a)
        return
    events = load(a.out)
    ids = [e["event_id"] for e in events]
    if len(ids) != len(set(ids)):
        sys.exit("duplicate event_id in events.jsonl")
    by_cam = collections.defaultdict(list)
    for e in events:
        by_cam[e["camera_name"]].append(e)
    if a.cmd == "summary":
        print(json.dumps({k: len(v) for k, v in sorted(by_cam.items())}))
        return
    if a.cmd == "verify":
        evs = by_cam.get(a.cams[0], [])
        if len(evs) < a.min_events:
            sys.exit(f"{a.cams[0]}: {len(evs)} events, expected at least {a.min_events}")
        if a.max_events is not None and len(evs) > a.max_events:
            sys.exit(f"{a.cams[0]}: {len(evs)} events, expected at most {a.max_events}")
        tall = 0
        for e in evs:
            check_event(e)
            if a.label and e["label"] != a.label:
                sys.exit(f"{e['event_id']}: label {e['label']}, expected {a.label}")
            if a.min_conf is not None and e["confidence"] < a.min_conf - 1e-6:
                sys.exit(f"{e['event_id']}: confidence {e['confidence']} < {a.min_conf}")
            if a.roi and a.roi not in e["roi"]:
                sys.exit(f"{e['event_id']}: roi {e['roi']} lacks {a.roi}")
            cx, cy = centre(e)
            if a.inside:
                x0, y0, x1, y1 = box(a.inside)
                if not (x0 <= cx <= x1 and y0 <= cy <= y1):
                    sys.exit(f"{e['event_id']}: centre {cx:.3f},{cy:.3f} outside {a.inside}")
            if a.outside:
                x0, y0, x1, y1 = box(a.outside)
                if x0 < cx < x1 and y0 < cy < y1:
                    sys.exit(f"{e['event_id']}: centre {cx:.3f},{cy:.3f} inside excluded {a.outside}")
            b = e["bbox"]
            tall += b["height"] > b["width"]
            if a.pedestrians and not (20 <= b["height"] <= 400):
                sys.exit(f"{e['event_id']}: a {b['height']:.0f}px tall person in vtest.avi?")
        if a.pedestrians and tall < 0.8 * len(evs):
            sys.exit(f"only {tall}/{len(evs)} person boxes are taller than wide")
        print(f"{a.cams[0]}: {len(evs)} events OK")
        return
    if a.cmd == "compare":
        # The same footage through two paths (codec, transport) must put the same
        # people in the same places: match events by pts and IoU.
        A, B = by_cam.get(a.cams[0], []), by_cam.get(a.cams[1], [])
        if not A or not B:
            sys.exit(f"nothing to compare: {len(A)} vs {len(B)} events")

        def iou(p, q):
            p, q = p["bbox"]["fractions"], q["bbox"]["fractions"]
            ix = max(0, min(p["x"] + p["width"], q["x"] + q["width"]) - max(p["x"], q["x"]))
            iy = max(0, min(p["y"] + p["height"], q["y"] + q["height"]) - max(p["y"], q["y"]))
            inter = ix * iy
            return inter / (p["width"] * p["height"] + q["width"] * q["height"] - inter)

        matched = sum(1 for e in A if any(
            abs(e["frame"]["pts"] - f["frame"]["pts"]) < 1.0 and iou(e, f) > 0.5 for f in B))
        share = matched / len(A)
        print(f"{a.cams[0]} vs {a.cams[1]}: {matched}/{len(A)} events matched ({share:.0%})")
        if share < a.min_match:
            sys.exit(f"only {share:.0%} of events match, expected {a.min_match:.0%}")
        return
    sys.exit(f"unknown command {a.cmd}")


if __name__ == "__main__":
    main()
