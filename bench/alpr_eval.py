#!/usr/bin/env python3
"""bench-alpr: end-to-end ALPR accuracy of the real binary on labelled photos.

    alpr_eval.py KVS_INFER --models DIR [--sets us,eu,br] [--modes "old:plate;plate+region=br"]
                 [--set-modes "us=old:plate;plate+region=us"] [--set-dir NAME=DIR]
                 [--baseline OLD_KVS_INFER] [--seconds 1.2] [--fps-limit 5]
                 [--min-exact R] [--work DIR] [--misses] [--no-kinds] [--no-repair]

A mode is `plate` (the plate YOLO finds plates, DB and the recogniser read
them) or `db` (DB over the whole frame), then `+param=value` for more alpr
params (`plate+region=[sk,cz,pl]+require_format=false`). `old:MODE` runs the
--baseline binary instead: the pipeline as it was, in the same run.

Each photo is played as a short clip (ffmpeg, H.264, 10 fps) through kvs-infer
with the `alpr` detector, one camera per photo, every camera in one process per
mode. Events are scored against the label: exact (the event on the labelled
plate reads the label), misread (an event on the plate reads something else),
no read (no event on the plate), and false plates (events elsewhere) per image.
The cost is the process's CPU time per analysed frame.

After the summary come, per set and mode, the kinds of failure (the plate not
found, no read, a state name or slogan read into the number, a character lost
or added at an edge, a same-length confusion such as O/0 or B/8, other), how
far the reads' confidence can be trusted (the share of events at confidence
>= 0.9 and >= 0.7 and how many of those read the plate), and what the formats'
repair changed (today's binary, from its debug log: reads repair changed, how
many of those are wrong, and reads that were right before repair).

Labelled sets: OpenALPR's format (DIR/*.txt, `file x y w h PLATE`) or a CSV
(`file,plate` or `file,x,y,w,h,plate`). A set listed in bench/alpr_sets/NAME.tsv
(public files by repository, commit and path: see bench/alpr_sets.py) is copied
out of local mirrors or clones into the work folder; `--set-dir NAME=DIR` names
a folder instead. The others come from $KVS_ALPR_SETS (a folder holding eu/ and
br/, or endtoend/eu ..., or a git repository of openalpr/benchmarks) or a clone
of https://github.com/openalpr/benchmarks into the work folder; without either
the set is skipped with a message. OpenALPR's `us` set is held out for
independent evaluation and never read here: the `us` set is our own list."""
import argparse
import csv
import glob
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time

import alpr_sets
import alpr_kinds

HELD_OUT = {"us"}
PAD = "          "
CHUNK = 12


def log(*a):
    print(*a, flush=True)


def find_sets(work, names):
    """The folder of each set name, fetched into work when needed."""
    roots = []
    env = os.environ.get("KVS_ALPR_SETS")
    if env:
        roots.append(env)
    roots.append(os.path.join(work, "openalpr-benchmarks"))
    for root in roots:
        bare = os.path.isfile(os.path.join(root, "HEAD")) and os.path.isdir(
            os.path.join(root, "objects"))
        if os.path.isdir(os.path.join(root, ".git")) or root.endswith(".git") or bare:
            dest = os.path.join(work, "openalpr-benchmarks")
            if not all(os.path.isdir(os.path.join(dest, "endtoend", n)) for n in names):
                os.makedirs(dest, exist_ok=True)
                gd = root if root.endswith(".git") or bare else os.path.join(root, ".git")
                paths = ["endtoend/" + n for n in names]
                arc = subprocess.run(["git", "--git-dir", gd, "archive", "HEAD"] + paths,
                                     capture_output=True)
                if arc.returncode == 0:
                    subprocess.run(["tar", "-x", "-C", dest], input=arc.stdout, check=True)
            root = dest
        found = {}
        for n in names:
            for cand in (os.path.join(root, n), os.path.join(root, "endtoend", n)):
                if os.path.isdir(cand):
                    found[n] = cand
        if len(found) == len(names):
            return found
    dest = os.path.join(work, "openalpr-benchmarks")
    if not os.path.isdir(dest):
        r = subprocess.run(["git", "clone", "-q", "--depth", "1",
                            "https://github.com/openalpr/benchmarks", dest],
                           capture_output=True, text=True, timeout=300)
        if r.returncode == 0:
            return find_sets(work, names)
    return None


def read_labels(folder):
    """[(photo path, plate, box or None)] from OpenALPR .txt files or CSVs."""
    out = []
    for txt in sorted(glob.glob(os.path.join(folder, "*.txt"))):
        with open(txt, encoding="utf-8", errors="replace") as f:
            line = f.readline().split()
        if len(line) < 6:
            continue
        photo = os.path.join(folder, line[0])
        if not os.path.exists(photo):  # a few labels name the photo with another extension
            alt = glob.glob(os.path.splitext(txt)[0] + ".*")
            alt = [a for a in alt if not a.endswith(".txt")]
            if not alt:
                continue
            photo = alt[0]
        x, y, w, h = map(int, line[1:5])
        out.append((photo, norm(line[5]), (x, y, x + w, y + h)))
    for path in sorted(glob.glob(os.path.join(folder, "*.csv"))):
        with open(path, newline="", encoding="utf-8") as f:
            for row in csv.reader(f):
                if not row or row[0].startswith("#") or row[0] == "file":
                    continue
                photo = os.path.join(folder, row[0])
                if len(row) >= 6:
                    x, y, w, h = map(int, row[1:5])
                    out.append((photo, norm(row[5]), (x, y, x + w, y + h)))
                elif len(row) >= 2:
                    out.append((photo, norm(row[1]), None))
    return out


def norm(s):
    return re.sub(r"[^A-Z0-9]", "", s.upper())


def make_clip(photo, dest, seconds):
    if os.path.exists(dest) and os.path.getmtime(dest) >= os.path.getmtime(photo):
        return True
    r = subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", photo, "-t", str(seconds),
                        "-r", "10", "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
                        "-c:v", "libx264", "-preset", "veryfast", "-crf", "14", "-g", "10",
                        dest + ".tmp.mp4"], capture_output=True, text=True)
    if r.returncode:
        log(f"bench-alpr: cannot make a clip of {photo}: {r.stderr.strip()[:200]}")
        return False
    os.replace(dest + ".tmp.mp4", dest)
    return True


def mode_params(mode, models):
    """The detector params of each mode, as YAML lines."""
    ocr = os.path.join(models, "paddleocr")
    plates = os.path.join(models, "plates")
    base = [f'det_model: "{ocr}/ch_PP-OCRv4_det_infer.onnx"',
            f'rec_model: "{ocr}/ch_PP-OCRv4_rec_infer.onnx"',
            f'dict: "{ocr}/ppocr_keys_v1.txt"']
    plate = f'plate_model: "{plates}/plate_yolo11_int8_640.onnx"'
    modes = {
        "plate": base + [plate],
        "db": base,
    }
    head, *extra = mode.split("+")
    out = {line.split(":")[0]: line for line in modes[head]}
    for kv in extra:  # plate+region=[sk,cz]+require_format=false, or rec=en (the
        k, _, v = kv.partition("=")  # English number recogniser)
        if k == "rec" and v == "en":
            out["rec_model"] = f'rec_model: "{ocr}/en_number_mobile_v2.0_rec_infer.onnx"'
            out["dict"] = f'dict: "{ocr}/en_dict.txt"'
        else:
            out[k] = f"{k}: {v}"
    return list(out.values())


def write_config(path, work, cams, params, fps_limit, detector="alpr"):
    lines = ["metrics: {listen: \"127.0.0.1:0\"}", f'spool: {{dir: "{work}/spool"}}', "cameras:"]
    for name, clip in cams:
        lines += [f"  - name: {name}",
                  f'    source: {{mode: url, url: "{clip}", realtime: false}}',
                  f"    fps_limit: {fps_limit}",
                  f'    publishers: {{local_dir: "{work}/out"}}',
                  "    detectors:",
                  f"      - type: {detector}"]
        if detector == "yolo":  # the plate finder: the threshold the alpr detector gives its plate model
            lines += ["        confidence_threshold: 0.3"]
        lines += ["        params:"] + [PAD + p for p in params]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def overlaps(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def run_chunk(binary, mdir, cams, params, fps_limit, debug=False, detector="alpr"):
    """One kvs-infer process over cams; its events by camera, the frames it
    analysed and, with debug, its log lines."""
    shutil.rmtree(mdir, ignore_errors=True)
    os.makedirs(mdir)
    cfg = os.path.join(mdir, "c.yaml")
    write_config(cfg, mdir, cams, params, fps_limit, detector)
    cmd = [binary, "--config", cfg] + (["--log-level", "debug"] if debug else [])
    out_path = os.path.join(mdir, "stdout")
    for attempt in range(2):
        # A drain that overruns its limit ends the process with 1 (app.c): on
        # cores shared with other work it did, now and then; tried once more.
        shutil.rmtree(os.path.join(mdir, "out"), ignore_errors=True)
        shutil.rmtree(os.path.join(mdir, "spool"), ignore_errors=True)
        with open(os.path.join(mdir, "stderr"), "w") as err, open(out_path, "w") as out:
            r = subprocess.run(cmd, stdout=out if debug else subprocess.DEVNULL, stderr=err,
                               timeout=1800)
        if r.returncode == 0:
            break
        log(f"bench-alpr: kvs-infer exited {r.returncode} ({mdir}): once more")
    stderr = open(os.path.join(mdir, "stderr")).read()
    if r.returncode:
        raise SystemExit(f"bench-alpr: kvs-infer exited {r.returncode} ({mdir}):\n"
                         + stderr[-2000:])
    m = re.search(r"frames decoded, (\d+) analysed", stderr)
    events = {}
    ev_path = os.path.join(mdir, "out", "events.jsonl")
    if os.path.exists(ev_path):
        for line in open(ev_path):
            e = json.loads(line)
            events.setdefault(e["camera_name"], []).append(e)
    logs = []
    if debug:
        with open(out_path, errors="replace") as f:
            logs = [ln for ln in f if "alpr: read " in ln]
        os.remove(out_path)  # the whole debug log is large; the reads are kept in memory
    return events, int(m.group(1)) if m else 0, logs


def run_mode(binary, work, mode, items, params, fps_limit, debug=False, detector="alpr"):
    """Every photo once, CHUNK cameras per process: with realtime off the
    sources end at once and a process drains for 10 s at most, so each one gets
    no more than it analyses in that time. Returns the events by camera, the
    CPU seconds, the wall time, the frames analysed and, with debug, the
    candidate reads of each process [(camera names, [(raw, repaired)])]."""
    cams = [(f"p{i:04d}", clip) for i, (_, _, _, clip) in enumerate(items)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    events, analysed, reads = {}, 0, []
    for k in range(0, len(cams), CHUNK):
        safe = re.sub(r"[^A-Za-z0-9_.=-]", "_", mode)
        ev, n, logs = run_chunk(binary, os.path.join(work, f"run-{safe}", str(k // CHUNK)),
                                cams[k:k + CHUNK], params, fps_limit, debug, detector)
        events.update(ev)
        analysed += n
        if debug:
            reads.append(([c for c, _ in cams[k:k + CHUNK]], alpr_kinds.parse_reads(logs)))
    wall = time.time() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return events, cpu, wall, analysed, reads


def event_box(e):
    b = e["bbox"]
    return (b["x"], b["y"], b["x"] + b["width"], b["y"] + b["height"])


def score(items, events, found=None):
    """Counts per photo, and per photo (label, reads on the plate, failure
    kind); every event as (confidence, right) for the calibration table.
    found: photo index -> whether the plate detector boxed the plate."""
    res = {"exact": 0, "misread": 0, "noread": 0, "false": 0, "n": len(items), "misses": [],
           "photos": [], "kinds": {}, "events": []}
    for i, (photo, want, box, _) in enumerate(items):
        evs = events.get(f"p{i:04d}", [])
        on, off = [], []
        for e in evs:
            (on if box is None or overlaps(event_box(e), box) else off).append(e)
        res["false"] += len(off)
        texts = [e["plate"]["text"] for e in on]
        for e in evs:
            res["events"].append((e["plate"]["confidence"], e in on and e["plate"]["text"] == want))
        kind = alpr_kinds.photo_kind(want, texts, (found or {}).get(i))
        res["photos"].append((want, texts, kind))
        if kind:
            res["kinds"][kind] = res["kinds"].get(kind, 0) + 1
        if want in texts:
            res["exact"] += 1
            res["false"] += len(texts) - 1  # more than one plate read on one plate
        elif texts:
            res["misread"] += 1
            res["false"] += len(texts) - 1
            res["misses"].append((os.path.basename(photo), want, "/".join(texts), kind))
        else:
            res["noread"] += 1
            extra = "/".join(e["plate"]["text"] for e in off)
            res["misses"].append((os.path.basename(photo), want,
                                  "-" + (" elsewhere " + extra if extra else ""), kind))
    return res


def find_plates(work, name, items, models, fps_limit):
    """Whether the plate model boxes each photo's plate (photo index -> bool),
    run once per set over the photos; it tells a plate not found from a plate
    found but not read."""
    # The plate model and the photos do not change between runs of one work
    # folder: kept by photo, reused (a us pass costs minutes).
    cache = os.path.join(work, f"found-{name}.json")
    keys = [os.path.basename(photo) for photo, _, _, _ in items]
    known = json.load(open(cache)) if os.path.exists(cache) else {}
    if all(k in known for k in keys):
        return {i: known[k] for i, k in enumerate(keys)}
    params = [f'model: "{os.path.join(models, "plates", "plate_yolo11_int8_640.onnx")}"']
    events, _, _, _, _ = run_mode_plain(work, f"{name}-find", items, params, fps_limit)
    found = {}
    for i, (_, _, box, _) in enumerate(items):
        evs = events.get(f"p{i:04d}", [])
        found[i] = any(box is None or overlaps(event_box(e), box) for e in evs)
    known.update({k: found[i] for i, k in enumerate(keys)})
    with open(cache + ".part", "w") as f:
        json.dump(known, f)
    os.replace(cache + ".part", cache)
    return found


def run_mode_plain(work, mode, items, params, fps_limit):
    return run_mode(FIND_BINARY[0], work, mode, items, params, fps_limit, detector="yolo")


FIND_BINARY = [None]


def set_folders(names, work, set_dirs):
    """The folder of each set: a named folder, our own list copied out of
    mirrors (bench/alpr_sets), or OpenALPR's set. Sets that cannot be had are
    left out with a message."""
    folders, openalpr = {}, []
    for n in names:
        if n in set_dirs:
            folders[n] = set_dirs[n]
        elif alpr_sets.manifest_path(n):
            dest = os.path.join(work, "sets", n)
            if alpr_sets.materialise(n, dest, work, log):
                folders[n] = dest
            else:
                log(f"bench-alpr: SKIP {n}: none of its photos could be had")
        elif n in HELD_OUT:
            raise SystemExit(f"bench-alpr: OpenALPR's {n} set is held out for independent "
                             "evaluation")
        else:
            openalpr.append(n)
    if openalpr:
        found = find_sets(work, openalpr)
        if not found:
            log(f"bench-alpr: SKIP {','.join(openalpr)}: no labelled sets (set KVS_ALPR_SETS to "
                "a copy of github.com/openalpr/benchmarks, or let the bench clone it)")
        else:
            folders.update(found)
    return folders


def pct(x):
    return "-" if x is None else f"{100 * x:.1f} %"


def print_tables(table, details):
    log("\n| set | mode | photos | exact | no read | misread | false plates / image | "
        "CPU ms / frame |\n|---|---|---|---|---|---|---|---|")
    for row in table:
        log(f"| {row[0]} | {row[1]} | {row[2]} | {row[3]:.1f} % | {row[4]:.1f} % | "
            f"{row[5]:.1f} % | {row[6]:.3f} | {row[7]:.0f} |")
    if not details:
        return
    log("\nFailure kinds (photos not read exactly; `not found`: the plate model boxed "
        "nothing there)\n\n| set | mode | " + " | ".join(alpr_kinds.KINDS) + " |\n|---|---|"
        + "---|" * len(alpr_kinds.KINDS))
    for (name, mode), r in details:
        log(f"| {name} | {mode} | " + " | ".join(str(r["kinds"].get(k, 0))
                                               for k in alpr_kinds.KINDS) + " |")
    log("\nConfidence (every event; right: on the labelled plate and reading it)\n\n"
        "| set | mode | events | share >= 0.9 | right of those | share >= 0.7 | right of those |"
        "\n|---|---|---|---|---|---|---|")
    for (name, mode), r in details:
        cal = alpr_kinds.calibration(r["events"])
        log(f"| {name} | {mode} | {len(r['events'])} | {pct(cal[0.9][0])} | {pct(cal[0.9][1])} | "
            f"{pct(cal[0.7][0])} | {pct(cal[0.7][1])} |")
    rep = [(k, r) for k, r in details if r.get("repair") is not None]
    if rep:
        log("\nRepair (today's binary, from its debug log; photos whose event text repair "
            "produced, those of them wrong, and photos read right before repair that end "
            "wrong)\n\n| set | mode | changed by repair | of those wrong | right made wrong |"
            "\n|---|---|---|---|---|")
        for (name, mode), r in rep:
            st = r["repair"]
            log(f"| {name} | {mode} | {st['changed']} | {st['changed_wrong']} | {st['broke']} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("--models", required=True)
    ap.add_argument("--sets", default="us,eu,br")
    ap.add_argument("--modes", default="plate", help="modes separated by ;")
    ap.add_argument("--set-modes", action="append", default=[], metavar="SET=MODES",
                    help="the modes of one set (repeatable; else --modes)")
    ap.add_argument("--set-dir", action="append", default=[], metavar="SET=DIR",
                    help="read set SET from folder DIR (repeatable)")
    ap.add_argument("--seconds", type=float, default=1.2)
    ap.add_argument("--fps-limit", type=float, default=5)
    ap.add_argument("--work", default=os.path.join(os.getcwd(), "bench-alpr"))
    ap.add_argument("--limit", type=int, default=0, help="first N photos of each set (0: all)")
    ap.add_argument("--min-exact", type=float, default=-1,
                    help="exit 1 when a set's exact rate in the last mode is below this")
    ap.add_argument("--misses", action="store_true", help="list every photo not read exactly")
    ap.add_argument("--no-kinds", action="store_true",
                    help="skip the failure-kind, confidence and repair tables")
    ap.add_argument("--no-repair", action="store_true",
                    help="no debug log (repair table) for today's binary")
    ap.add_argument("--baseline", help="the kvs-infer binary that old:MODE runs")
    a = ap.parse_args()
    names = [s for s in a.sets.split(",") if s]
    set_modes = dict(x.split("=", 1) for x in a.set_modes)
    set_dirs = dict(x.split("=", 1) for x in a.set_dir)
    for need in ("paddleocr/ch_PP-OCRv4_det_infer.onnx", "plates/plate_yolo11_int8_640.onnx"):
        if not os.path.exists(os.path.join(a.models, need)):
            log(f"bench-alpr: SKIP: model {need} not found under {a.models}")
            return 0
    os.makedirs(a.work, exist_ok=True)
    folders = set_folders(names, a.work, set_dirs)
    if not folders:
        return 0
    FIND_BINARY[0] = a.binary
    table, details = [], []
    worst = 1.0
    for name in [n for n in names if n in folders]:
        modes = [m for m in set_modes.get(name, a.modes).split(";") if m]
        labels = read_labels(folders[name])
        if a.limit:
            labels = labels[:a.limit]
        cdir = os.path.join(a.work, f"clips-{a.seconds:g}s", name)
        os.makedirs(cdir, exist_ok=True)
        items = []
        for photo, want, box in labels:
            clip = os.path.join(cdir, os.path.splitext(os.path.basename(photo))[0] + ".mp4")
            if make_clip(photo, clip, a.seconds):
                items.append((photo, want, box, clip))
        if not items:
            log(f"bench-alpr: SKIP {name}: no photos")
            continue
        found = None
        for mode in modes:
            binary, spec = a.binary, mode
            if mode.startswith("old:"):
                if not a.baseline:
                    log(f"bench-alpr: {mode}: no --baseline binary, skipped")
                    continue
                binary, spec = a.baseline, mode[4:]
            debug = not a.no_kinds and not a.no_repair and binary == a.binary
            events, cpu, wall, analysed, reads = run_mode(
                binary, a.work, f"{name}-{mode}", items, mode_params(spec, a.models),
                a.fps_limit, debug)
            r = score(items, events)
            if not a.no_kinds and r["noread"] and found is None:
                found = find_plates(a.work, name, items, a.models, a.fps_limit)
            if found is not None:
                r = score(items, events, found)
            if debug:
                r["repair"] = {"changed": 0, "changed_wrong": 0, "broke": 0}
                for cams, cand in reads:
                    idx = [int(c[1:]) for c in cams]
                    st = alpr_kinds.repair_stats([r["photos"][i][:2] for i in idx], cand)
                    for k in st:
                        r["repair"][k] += st[k]
            n = r["n"]
            ms = 1000 * cpu / analysed if analysed else 0
            row = (name, mode, n, 100 * r["exact"] / n, 100 * r["noread"] / n,
                   100 * r["misread"] / n, r["false"] / n, ms, wall)
            table.append(row)
            details.append(((name, mode), r))
            log(f"{name:4} {mode:14} {n:4} photos  exact {row[3]:5.1f} %  no read {row[4]:5.1f} %  "
                f"misread {row[5]:5.1f} %  false/image {row[6]:.3f}  {ms:6.1f} CPU ms/frame  "
                f"({wall:.0f} s)" + ("  [debug log on]" if debug else ""))
            if not a.no_kinds:  # as it goes, so a run cut short still tells
                cal = alpr_kinds.calibration(r["events"])
                log("     kinds: " + ", ".join(f"{k} {v}" for k, v in sorted(r["kinds"].items()))
                    + f"; conf>=0.9: {pct(cal[0.9][0])} of events, {pct(cal[0.9][1])} right"
                    + f"; conf>=0.7: {pct(cal[0.7][0])}, {pct(cal[0.7][1])} right"
                    + ("; repair: changed {changed}, wrong {changed_wrong}, right made wrong "
                       "{broke}".format(**r["repair"]) if r.get("repair") else ""))
            if a.misses:
                for photo, want, got, kind in r["misses"]:
                    log(f"    {photo:24} {want:10} {got:24} {kind}")
            if mode == modes[-1]:
                worst = min(worst, r["exact"] / n)
    print_tables(table, None if a.no_kinds else details)
    if a.min_exact >= 0 and worst < a.min_exact:
        log(f"bench-alpr: exact rate {100 * worst:.1f} % is below {100 * a.min_exact:.0f} %")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
