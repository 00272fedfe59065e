#!/usr/bin/env python3
"""Materialise the fire/smoke benchmark clips listed in bench/fire_sets.tsv.

Each clip is read from a public repository at a pinned commit (from a bare
mirror under $KVS_FIRE_MIRROR, else a clone from GitHub when online), from the
Debian opencv-doc package or from $KVS_MEDIA_MIRROR/video, then re-encoded to
H.264 at most 640 pixels wide (the bench runs many cameras on a small machine;
fire and smoke stay large at that size) into OUT/{dev,heldout}/, with
OUT/{dev,heldout}/labels.tsv. A clip that cannot be had is skipped with a
message: the bench reports on what it has.

  usage: bench/fire_data.py OUT [--sets bench/fire_sets.tsv] [--split dev]
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OPENCV_DOC = "/usr/share/doc/opencv-doc/examples/data"
# contained: a real flame where it belongs (fireplace, candle, stove), scored apart
# from both fires and false alarms (docs/benchmarks.md, "How it counts").
LABELS = ("fire", "smoke", "both", "none", "contained")


def read_sets(path):
    """Rows of the set list as dicts; comment and blank lines skipped."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) < 6:
                raise SystemExit(f"{path}:{n}: expected 7 tab-separated columns")
            repo, commit, rel, label, split, vis = cols[:6]
            if label not in LABELS or split not in ("dev", "heldout"):
                raise SystemExit(f"{path}:{n}: bad label or split")
            rows.append({"repo": repo, "commit": commit, "path": rel, "label": label,
                         "split": split, "from": 0.0 if vis == "-" else float(vis),
                         "note": cols[6] if len(cols) > 6 else ""})
    return rows


def clip_name(row):
    """A file name unique over the list: source, then the path's words."""
    src = row["repo"].split("/")[0].split(":")[-1]
    stem = os.path.splitext(row["path"])[0]
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{src}__{stem}") + ".mp4"


def git_dir(repo, mirror, cache):
    """A git directory holding repo: the mirror's, else a fresh clone."""
    name = repo.replace("/", "+")
    for cand in (f"{mirror}/{name}/repo/.git", f"{mirror}/{name}/repo"):
        if os.path.isdir(cand) and os.path.exists(os.path.join(cand, "HEAD")):
            return cand
    dest = os.path.join(cache, name + ".git")
    if not os.path.isdir(dest):
        r = subprocess.run(["git", "clone", "-q", "--bare", f"https://github.com/{repo}", dest],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        if r.returncode != 0:
            return None
    return dest


def source_bytes(row, mirror, cache):
    """The clip's original bytes, or (None, why)."""
    repo = row["repo"]
    if repo == "debian:opencv-doc":
        p = os.path.join(OPENCV_DOC, row["path"])
        if not os.path.exists(p):
            return None, "opencv-doc is not installed (apt-get install opencv-doc)"
        return open(p, "rb").read(), None
    if repo == "media":
        base = os.environ.get("KVS_MEDIA_MIRROR", "")
        p = os.path.join(base, "video", row["path"])
        if not base or not os.path.exists(p):
            return None, "not in $KVS_MEDIA_MIRROR/video"
        return open(p, "rb").read(), None
    gd = git_dir(repo, mirror, cache)
    if gd is None:
        return None, f"no mirror of {repo} and no clone"
    r = subprocess.run(["git", "--git-dir", gd, "show", f"{row['commit']}:{row['path']}"],
                       capture_output=True)
    if r.returncode != 0 or r.stdout.startswith(b"version https://git-lfs"):
        return None, f"{row['path']} is not at {row['commit'][:10]} (absent from the mirror?)"
    return r.stdout, None


def duration(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration",
                        "-of", "csv=p=0", path], capture_output=True, text=True)
    try:
        return float(r.stdout.strip())
    except ValueError:
        return 0.0


def encode(data, out, tmp):
    """Re-encode to H.264, <= 640 wide, even sizes, no audio."""
    with open(tmp, "wb") as f:
        f.write(data)
    r = subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", tmp, "-an", "-vf",
                        "scale='min(640,iw)':-2,format=yuv420p", "-c:v", "libx264",
                        "-preset", "veryfast", "-crf", "23", "-g", "50", out],
                       capture_output=True, text=True)
    os.unlink(tmp)
    return r.returncode == 0 and duration(out) > 0, r.stderr.strip()[-200:]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--sets", default=os.path.join(HERE, "fire_sets.tsv"))
    ap.add_argument("--split", action="append", help="dev or heldout (default both)")
    ap.add_argument("--mirror", default=os.environ.get("KVS_FIRE_MIRROR", "/work/.mirror"))
    a = ap.parse_args()
    cache = os.path.join(a.out, ".git-cache")
    os.makedirs(cache, exist_ok=True)
    labels = {}
    missing = 0
    for row in read_sets(a.sets):
        if a.split and row["split"] not in a.split:
            continue
        d = os.path.join(a.out, row["split"])
        os.makedirs(d, exist_ok=True)
        name = clip_name(row)
        out = os.path.join(d, name)
        if not (os.path.exists(out) and duration(out) > 0):
            data, why = source_bytes(row, a.mirror, cache)
            if data is None:
                print(f"fire_data: skipped {row['repo']} {row['path']}: {why}", file=sys.stderr)
                missing += 1
                continue
            ok, err = encode(data, out, out + ".src")
            if not ok:
                print(f"fire_data: skipped {row['path']}: ffmpeg: {err}", file=sys.stderr)
                missing += 1
                continue
        src = f"{row['repo']}@{row['commit'][:12]}:{row['path']}"
        labels.setdefault(row["split"], []).append(
            (name, row["label"], row["from"], duration(out), src))
    for split, rows in labels.items():
        with open(os.path.join(a.out, split, "labels.tsv"), "w", encoding="utf-8") as f:
            f.write("file\tlabel\tvisible_from_s\tduration_s\tsource\n")
            for name, label, vis, dur, src in rows:
                f.write(f"{name}\t{label}\t{vis:g}\t{dur:.2f}\t{src}\n")
        fire = sum(1 for r in rows if r[1] in ("fire", "smoke", "both"))
        cont = sum(1 for r in rows if r[1] == "contained")
        none_s = sum(r[3] for r in rows if r[1] == "none")
        print(f"fire_data: {split}: {fire} fire/smoke clips, {len(rows) - fire - cont} non-fire "
              f"clips ({none_s / 60:.1f} min), {cont} contained-flame clips")
    if missing:
        print(f"fire_data: {missing} clip(s) skipped", file=sys.stderr)


if __name__ == "__main__":
    main()
