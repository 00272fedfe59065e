#!/usr/bin/env python3
"""bench-fire: fire/smoke alarms of the real binary on labelled public clips.

    fire_eval.py KVS_INFER --models DIR --data DIR [--modes "default;thr=0.7"]
                 [--splits dev,heldout] [--fps-limit 2] [--chunk 8] [--work DIR]
                 [--detail] [--log-level debug]

The clips are those of bench/fire_sets.tsv, materialised by bench/fire_data.py
into DATA/{dev,heldout}/ with a labels.tsv (fire, smoke, both or none, and the
second the fire is visible from; 0 when the list gives none). Every clip of a
split runs as one camera (file source, realtime off, `fps_limit` 2, local
sink), CHUNK cameras per kvs-infer process, once per mode.

A mode is `default` (today's `fire_smoke` detector with its defaults and the
default model) or `+`-joined settings: `thr=0.7` (the detector's
confidence_threshold), `model=fire/x.onnx` (under --models, or a path),
`top.KEY=VALUE` (a top-level config key, e.g. `top.workers=1`), anything else
a detector param (`class_thresholds={fire: 0.8, smoke: 0.5}`, `confirm={hits:
2, window: 3}`, later `verify=on`).

Scoring. An alarm is an event: the pipeline raises one per tracked object
(event_type `object`), so a fire seen as two boxes is two alarms, and an
object that leaves and comes back is alarmed again. A fire/smoke clip is found
when any alarm (either label) comes at or after the visible-from second; the
time to first event is that alarm's frame pts minus the visible-from second.
Every alarm on a `none` clip is a false alarm; they are given per hour of
non-fire video. A `contained` clip (a fireplace, a candle, a stove: a real flame
where it belongs) is neither: it is counted apart as clips with an alarm, since
the detector is right to see the flame and a site masks it with a ROI. CPU is the kvs-infer processes' user+system time divided by
the camera-seconds of video they analysed (all clips' durations)."""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time

PAD = "          "
DEFAULT_MODEL = "fire/yolov8n_fire_smoke_int8_416_fixedout.onnx"


def log(*a):
    print(*a, flush=True)


def read_labels(folder):
    """[(clip path, label, visible_from, duration)] of one split."""
    out = []
    path = os.path.join(folder, "labels.tsv")
    if not os.path.exists(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if cols[0] == "file" or len(cols) < 4:
                continue
            clip = os.path.join(folder, cols[0])
            if os.path.exists(clip):
                out.append((clip, cols[1], float(cols[2]), float(cols[3])))
    return out


def parse_mode(mode, models):
    """(top-level lines, detector-level lines, params lines) of a mode."""
    top, det, params = {}, {}, {}
    model = os.path.join(models, DEFAULT_MODEL)
    for kv in [] if mode == "default" else mode.split("+"):
        k, _, v = kv.partition("=")
        if not v:
            raise SystemExit(f"bench-fire: mode {mode!r}: {kv!r} is not key=value")
        if k == "thr":
            det["confidence_threshold"] = v
        elif k == "model":
            model = v if os.path.isabs(v) else os.path.join(models, v)
        elif k.startswith("top."):
            top[k[4:]] = v
        else:
            params[k] = v
    params = dict({"model": f'"{model}"'}, **params)
    return ([f"{k}: {v}" for k, v in top.items()], [f"{k}: {v}" for k, v in det.items()],
            [f"{k}: {v}" for k, v in params.items()])


def write_config(path, work, cams, lines, fps_limit):
    top, det, params = lines
    out = ['metrics: {listen: "127.0.0.1:0"}', f'spool: {{dir: "{work}/spool"}}'] + top
    out.append("cameras:")
    for name, clip in cams:
        out += [f"  - name: {name}",
                f'    source: {{mode: url, url: "{clip}", realtime: false}}',
                f"    fps_limit: {fps_limit}",
                f'    publishers: {{local_dir: "{work}/out"}}',
                "    detectors:",
                "      - type: fire_smoke"] + ["        " + d for d in det] + [
                "        params:"] + [PAD + p for p in params]
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


def run_chunk(binary, mdir, cams, lines, fps_limit, log_level):
    shutil.rmtree(mdir, ignore_errors=True)
    os.makedirs(mdir)
    cfg = os.path.join(mdir, "c.yaml")
    write_config(cfg, mdir, cams, lines, fps_limit)
    argv = [binary, "--config", cfg] + (["--log-level", log_level] if log_level else [])
    # the log (stdout) is kept only when asked for: at debug it holds every rejected box
    out = open(os.path.join(mdir, "log"), "w") if log_level else subprocess.DEVNULL
    with open(os.path.join(mdir, "stderr"), "w") as err:
        r = subprocess.run(argv, stdout=out, stderr=err, timeout=3600)
    if log_level:
        out.close()
    stderr = open(os.path.join(mdir, "stderr")).read()
    if r.returncode:
        raise SystemExit(f"bench-fire: kvs-infer exited {r.returncode} ({mdir}):\n"
                         + stderr[-2000:])
    m = re.search(r"(\d+) analysed .*?(\d+) dropped as stale", stderr)
    events = {}
    ev_path = os.path.join(mdir, "out", "events.jsonl")
    if os.path.exists(ev_path):
        for line in open(ev_path):
            e = json.loads(line)
            if e.get("event_type", "object") != "object":
                continue  # updates and summaries of an alarm already counted
            events.setdefault(e["camera_name"], []).append(e)
    if os.path.exists(ev_path):  # kept for a second look at every alarm's evidence
        shutil.copy(ev_path, os.path.join(mdir, "events.jsonl"))
    shutil.rmtree(os.path.join(mdir, "out"), ignore_errors=True)  # snapshots
    shutil.rmtree(os.path.join(mdir, "spool"), ignore_errors=True)
    return events, (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def run_mode(binary, work, tag, items, lines, fps_limit, chunk, log_level=None):
    cams = [(f"c{i:03d}", clip) for i, (clip, _, _, _) in enumerate(items)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    events, analysed, stale = {}, 0, 0
    safe = re.sub(r"[^A-Za-z0-9_.=-]", "_", tag)
    for k in range(0, len(cams), chunk):
        ev, (n, s) = run_chunk(binary, os.path.join(work, f"run-{safe}", str(k // chunk)),
                               cams[k:k + chunk], lines, fps_limit, log_level)
        events.update(ev)
        analysed += n
        stale += s
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return events, cpu, time.time() - t0, analysed, stale


def pct(xs, q):
    """The q-quantile (nearest rank) of xs, or None."""
    if not xs:
        return None
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs) + 0.5)) - 1))]


def score(items, events):
    r = {"fire": 0, "found": 0, "ttfe": [], "none_s": 0.0, "false": 0, "false_clips": 0,
         "video_s": 0.0, "missed": [], "alarms": [], "contained": 0, "contained_hit": 0,
         "contained_alarms": []}
    for i, (clip, label, vis, dur) in enumerate(items):
        evs = events.get(f"c{i:03d}", [])
        r["video_s"] += dur
        name = os.path.basename(clip)
        if label == "none":
            r["none_s"] += dur
            r["false"] += len(evs)
            r["false_clips"] += 1 if evs else 0
            for e in evs:
                ev = e.get("evidence") or {}
                why = " ".join(f"{k} {v:.2f}" for k, v in ev.items() if isinstance(v, float))
                why += f" judged {ev['judged']}" if "judged" in ev else ""
                r["alarms"].append(f"{name} {e['label']} {e['confidence']:.2f} "
                                   f"at {e['frame']['pts']:.1f} s {why}".rstrip())
            continue
        if label == "contained":
            r["contained"] += 1
            r["contained_hit"] += 1 if evs else 0
            r["contained_alarms"] += [f"{name} {e['label']} {e['confidence']:.2f} "
                                      f"at {e['frame']['pts']:.1f} s" for e in evs]
            continue
        r["fire"] += 1
        pts = [e["frame"]["pts"] for e in evs if e["frame"].get("pts") is not None
               and e["frame"]["pts"] >= vis]
        if pts:
            r["found"] += 1
            r["ttfe"].append(min(pts) - vis)
        else:
            r["missed"].append(name)
    return r


def fmt(x, unit=""):
    return "-" if x is None else f"{x:.1f}{unit}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--models", required=True)
    ap.add_argument("--data", required=True, help="materialised clips (bench/fire_data.py)")
    ap.add_argument("--modes", default="default", help="modes separated by ;")
    ap.add_argument("--splits", default="dev,heldout")
    ap.add_argument("--fps-limit", type=float, default=2)
    ap.add_argument("--chunk", type=int, default=8, help="cameras per kvs-infer process")
    ap.add_argument("--work", default=os.path.join(os.getcwd(), "bench-fire"))
    ap.add_argument("--detail", action="store_true", help="list misses and false alarms")
    ap.add_argument("--no-default", action="store_true",
                    help="leave out today's pipeline (when another run gives it)")
    ap.add_argument("--log-level", help="kvs-infer's --log-level (debug: verify's rejected boxes "
                    "and their evidence, in WORK/run-*/N/log)")
    a = ap.parse_args()
    if not os.path.exists(os.path.join(a.models, DEFAULT_MODEL)):
        log(f"bench-fire: SKIP: model {DEFAULT_MODEL} not found under {a.models}")
        return 0
    modes = [m.strip() for m in a.modes.split(";") if m.strip()]
    if "default" not in modes and not a.no_default:
        modes.insert(0, "default")  # today's pipeline is always a column
    table = []
    for split in [s for s in a.splits.split(",") if s]:
        items = read_labels(os.path.join(a.data, split))
        if not items:
            log(f"bench-fire: {split}: no clips under {a.data}/{split} (run bench/fire_data.py)")
            continue
        nf = sum(1 for it in items if it[1] in ("fire", "smoke", "both"))
        nn = sum(1 for it in items if it[1] == "none")
        log(f"bench-fire: {split}: {nf} fire/smoke clips, {nn} non-fire clips "
            f"({sum(it[3] for it in items if it[1] == 'none') / 60:.1f} min), "
            f"{len(items) - nf - nn} contained-flame clips")
        for mode in modes:
            lines = parse_mode(mode, a.models)
            events, cpu, wall, analysed, stale = run_mode(
                a.binary, a.work, f"{split}-{mode}", items, lines, a.fps_limit, a.chunk,
                a.log_level)
            r = score(items, events)
            hours = r["none_s"] / 3600
            row = {"split": split, "mode": mode, "found": r["found"], "fire": r["fire"],
                   "recall": 100 * r["found"] / r["fire"] if r["fire"] else None,
                   "med": statistics.median(r["ttfe"]) if r["ttfe"] else None,
                   "p90": pct(r["ttfe"], 0.9),
                   "fah": r["false"] / hours if hours else None, "false": r["false"],
                   "false_clips": r["false_clips"], "none_clips": nn,
                   "contained": r["contained"], "contained_hit": r["contained_hit"],
                   "cpu": cpu / r["video_s"] if r["video_s"] else 0, "wall": wall,
                   "analysed": analysed, "stale": stale}
            table.append(row)
            log(f"{split:7} {mode:40} found {r['found']}/{r['fire']}  ttfe med "
                f"{fmt(row['med'], ' s')} p90 {fmt(row['p90'], ' s')}  false {r['false']} "
                f"({fmt(row['fah'])}/h, {r['false_clips']} clips)  contained {r['contained_hit']}/"
                f"{r['contained']}  {row['cpu']:.3f} CPU s/cam-s  "
                f"{analysed} frames, {stale} stale ({wall:.0f} s)")
            if a.detail:
                for m in r["missed"]:
                    log(f"    missed   {m}")
                for al in r["alarms"]:
                    log(f"    false    {al}")
                for al in r["contained_alarms"]:
                    log(f"    contained {al}")
    log("\n| set | mode | fire/smoke found | first event median / p90 (video s) | "
        "false alarms / h (events, clips) | CPU s / camera-s | contained flames alarmed "
        "(clips) |\n|---|---|---|---|---|---|---|")
    for t in table:
        log(f"| {t['split']} | {t['mode']} | {t['found']}/{t['fire']} ({fmt(t['recall'], ' %')}) | "
            f"{fmt(t['med'])} / {fmt(t['p90'])} | {fmt(t['fah'])} ({t['false']}, "
            f"{t['false_clips']}/{t['none_clips']}) | {t['cpu']:.3f} | "
            f"{t['contained_hit']}/{t['contained']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
