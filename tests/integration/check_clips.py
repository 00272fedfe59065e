#!/usr/bin/env python3
"""Checks the clips a run wrote against the footage it read (it_clips.sh).

  check_clips.py OUT_DIR --camera NAME=SOURCE:CODEC:GOP_S [--camera ...]
                 [--prefix P] [--s3list FILE] [--min-cut CAMERA]

For every camera: each `object` event names a pending clip and is followed by
one `clip_ready` record with the same event_id; each clip file (the record
without a shared `event_id`) is a fast-start MP4 of CODEC whose frames are
exactly the source's frames in [start, end), starting at most one GOP before
the start asked for and never after it; `ready` clips cover the end asked
for, `cut` ones stop where the source did. --s3list writes KEY<TAB>FILE for
each clip (S3 key under --prefix) for aws_call.js s3-verify.
"""
import argparse
import json
import os
import subprocess
import sys

EPS = 0.011  # ms rounding of the times in the records


def probe(args):
    out = subprocess.run(["ffprobe", "-v", "error"] + args, check=True, capture_output=True, text=True)
    return out.stdout


def source_pts(path):
    """Presentation times of the source's video packets, in seconds."""
    text = probe(["-select_streams", "v:0", "-show_entries", "packet=pts_time", "-of", "csv=p=0", path])
    return sorted(float(x) for x in text.split() if x and x != "N/A")


def clip_info(path):
    text = probe(["-count_frames", "-select_streams", "v:0", "-show_entries",
                  "stream=codec_name,nb_read_frames,duration,start_time", "-of", "json", path])
    st = json.loads(text)["streams"][0]
    return st["codec_name"], int(st["nb_read_frames"]), float(st["duration"]), float(st["start_time"])


def fast_start(path):
    data = open(path, "rb").read(1 << 20)
    moov, mdat = data.find(b"moov"), data.find(b"mdat")
    return moov >= 0 and (mdat < 0 or moov < mdat)


def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--camera", action="append", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--s3list")
    ap.add_argument("--min-cut", action="append", default=[])
    a = ap.parse_args()
    cams = {}
    for spec in a.camera:
        name, rest = spec.split("=", 1)
        src, codec, gop = rest.rsplit(":", 2)
        cams[name] = (src, codec, float(gop), source_pts(src))
    lines = [json.loads(l) for l in open(os.path.join(a.out, "events.jsonl"))]
    objects, ready = {}, {}
    for n, e in enumerate(lines):
        if e["event_type"] == "object" and e["camera_name"] in cams:
            c = e.get("clip")
            if not c or c["status"] != "pending":
                fail(f"object event {e['event_id']} names no pending clip: {c}")
            objects[e["event_id"]] = (n, e)
        elif e["event_type"] == "clip_ready":
            ready.setdefault(e["event_id"], (n, e))
    s3 = []
    counts = {}
    asked_end = {}  # per clip file: the latest end its events asked for
    for eid, (n, e) in objects.items():
        f = e["clip"].get("key", e["clip"].get("path"))
        asked_end[f] = max(asked_end.get(f, e["clip"]["end"]), e["clip"]["end"])
    for eid, (n, e) in objects.items():
        if eid not in ready:
            fail(f"no clip_ready for {eid} ({e['camera_name']})")
        rn, r = ready[eid]
        if rn < n:
            fail(f"clip_ready of {eid} before its event")
        asked, got = e["clip"], r["clip"]
        if got["status"] not in ("ready", "cut"):
            fail(f"{eid}: clip status {got['status']}")
        src, codec, gop, pts = cams[e["camera_name"]]
        shared = "event_id" in got
        if asked.get("key", asked.get("path")) != got.get("key", got.get("path")):
            fail(f"{eid}: the clip_ready record names another file than the event")
        # never late; the clip's owner at most one GOP early
        if got["start"] > asked["start"] + EPS:
            fail(f"{eid}: clip starts at {got['start']}, after the {asked['start']} asked for")
        if not shared and asked["start"] - got["start"] > gop + EPS:
            fail(f"{eid}: clip starts {asked['start'] - got['start']:.3f} s early (GOP {gop} s)")
        last = pts[-1] if pts else 0
        if got["status"] == "ready" and got["end"] + EPS < asked["end"]:
            fail(f"{eid}: ready clip ends at {got['end']}, before the {asked['end']} asked for")
        wanted = asked_end[asked.get("key", asked.get("path"))]
        if got["status"] == "cut" and wanted <= last:
            fail(f"{eid}: clip cut although the source went on to {last} (asked until {wanted})")
        counts[(e["camera_name"], got["status"])] = counts.get((e["camera_name"], got["status"]), 0) + 1
        if shared:
            continue
        if "key" in got:
            key = got["key"]
            local = os.path.join(a.out, key[len(a.prefix):])
            s3.append(f"{key}\t{local}")
        else:
            local = got["path"]
        if not os.path.isfile(local):
            fail(f"{eid}: no clip file {local}")
        if not fast_start(local):
            fail(f"{local}: the index (moov) is not in front")
        c_codec, frames, dur, start = clip_info(local)
        want = sum(1 for p in pts if got["start"] - EPS <= p < got["end"] - EPS)
        if c_codec != codec:
            fail(f"{local}: codec {c_codec}, not {codec}")
        if frames != want:
            fail(f"{local}: {frames} frames, the source has {want} in [{got['start']}, {got['end']})")
        if abs(start) > EPS or abs(dur - (got["end"] - got["start"])) > 0.2:
            fail(f"{local}: starts at {start}, lasts {dur} s; the record says {got['start']}..{got['end']}")
        print(f"{e['camera_name']}: {eid[:13]} {got['status']} {got['start']:.2f}..{got['end']:.2f} "
              f"(asked {asked['start']:.2f}..{asked['end']:.2f}) {frames} frames {codec}")
    for cam in cams:
        if not any(k[0] == cam for k in counts):
            fail(f"camera {cam}: no clips")
    for cam in a.min_cut:
        if not counts.get((cam, "cut")):
            fail(f"camera {cam}: no clip cut at the end of its source")
    if a.s3list:
        with open(a.s3list, "w") as f:
            f.write("".join(x + "\n" for x in s3))
    print("clips:", {f"{k[0]}/{k[1]}": v for k, v in sorted(counts.items())})


if __name__ == "__main__":
    main()
