#!/usr/bin/env python3
"""Checks what kvs-infer read from the KVS emulator.

  check_kvs.py fragments LOG CAMERA FRAGMENTS_JSON [--frames]
      every fragment the camera logged as read is in the stream, each once, in
      order and consecutive (nothing lost, nothing repeated); with --frames,
      each fragment brought exactly the frames the emulator put in it.
  check_kvs.py events EVENTS CAMERA FRAGMENTS_JSON [--server]
      every event of the camera names a fragment of the stream and a producer
      time inside that fragment (and, with --server, the matching server time).
  check_kvs.py starts LOG CAMERA FRAGMENTS_JSON START_MS
      the first fragment read is the one a replay from START_MS must begin with.
"""
import datetime
import json
import re
import sys

BASE = None


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def load_fragments(path):
    frags = json.load(open(path))
    return {f["number"]: f for f in frags}


def logged(log, camera):
    out = []
    for line in open(log):
        try:
            r = json.loads(line)
        except ValueError:
            continue
        if r.get("camera_name") != camera:
            continue
        m = re.match(r"fragment (\d+) done(?: \((\d+) frames\))?", r.get("msg", ""))
        if m:
            out.append((m.group(1), int(m.group(2)) if m.group(2) else None))
    return out


def ms(iso):
    return datetime.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp() * 1000


def fragments(args):
    log, camera, fpath = args[:3]
    frags = load_fragments(fpath)
    seen = logged(log, camera)
    if len(seen) < 3:
        fail(f"{camera}: only {len(seen)} fragments read")
    idx = []
    for num, n in seen:
        f = frags.get(num)
        if not f:
            fail(f"{camera}: fragment {num} is not in the stream")
        if "--frames" in args and n != round(f["dur"] / 100):
            fail(f"{camera}: fragment {f['index']} brought {n} frames, the stream has {round(f['dur'] / 100)}")
        idx.append(f["index"])
    for a, b in zip(idx, idx[1:]):
        if b == a:
            fail(f"{camera}: fragment {a} read twice")
        if b != a + 1:
            fail(f"{camera}: fragments {a + 1}..{b - 1} missing (read {a} then {b})")
    print(f"{camera}: {len(idx)} fragments {idx[0]}..{idx[-1]}, consecutive, none repeated")


def events(args):
    path, camera, fpath = args[:3]
    frags = load_fragments(fpath)
    n = 0
    for line in open(path):
        e = json.loads(line)
        if e["camera_name"] != camera:
            continue
        fr = e["frame"]
        f = frags.get(fr["fragment_number"])
        if not f:
            fail(f"{camera}: event {e['event_id']} names fragment {fr['fragment_number']}, not in the stream")
        p = ms(fr["producer_timestamp"])
        if not f["producer"] - 1 <= p < f["producer"] + f["dur"]:
            fail(f"{camera}: event {e['event_id']} producer time {fr['producer_timestamp']} outside fragment "
                 f"{f['index']} [{f['producer']}, {f['producer'] + f['dur']})")
        if "--server" in args:
            s = ms(fr["server_timestamp"])
            if abs(s - (f["server"] + p - f["producer"])) > 2:
                fail(f"{camera}: event {e['event_id']} server time {fr['server_timestamp']} does not match")
        n += 1
    if n == 0:
        fail(f"{camera}: no events")
    print(f"{camera}: {n} events, each in its fragment with the right timestamps")


def starts(args):
    log, camera, fpath, start = args[0], args[1], args[2], float(args[3])
    frags = load_fragments(fpath)
    seen = logged(log, camera)
    if not seen:
        fail(f"{camera}: nothing read")
    first = frags[seen[0][0]]
    want = min((f for f in frags.values() if f["producer"] + f["dur"] > start), key=lambda f: f["index"])
    if abs(first["index"] - want["index"]) > 1:
        fail(f"{camera}: replay from {start} began at fragment {first['index']}, expected {want['index']}")
    print(f"{camera}: replay began at fragment {first['index']} (start time in fragment {want['index']})")


if __name__ == "__main__":
    {"fragments": fragments, "events": events, "starts": starts}[sys.argv[1]](sys.argv[2:])
