#!/usr/bin/env python3
"""Fetch the other fire/smoke models bench-fire compares (bench/fire_models.tsv).

Each model is read from a public repository at a pinned commit (a bare mirror
under $KVS_FIRE_MIRROR, else a clone from GitHub when online) and checked
against its sha256; a row whose input size differs from the export's is
re-sized (bench/fire_model_resize.py, python3-onnx). The result goes to
OUT/NAME. A model that cannot be had is skipped with a message; the bench
runs without it. Prints the paths written, one a line, so that
scripts/bench-fire.sh can add a `model=` mode for each.

  usage: bench/fire_models.py OUT [--list bench/fire_models.tsv]
"""
import argparse
import hashlib
import os
import subprocess
import sys

from fire_data import HERE, git_dir


def read_list(path):
    """[(name, repo, commit, path, sha256, size)] of the list; comments skipped."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 6 or not cols[5].isdigit():
                raise SystemExit(f"{path}:{n}: expected 7 tab-separated columns, the 6th a size")
            rows.append(tuple(cols[:5]) + (int(cols[5]),))
    return rows


def source(row, mirror, cache):
    """The model's bytes at the pinned commit once they match the sha256, else (None, why)."""
    name, repo, commit, rel, sha, _ = row
    gd = git_dir(repo, mirror, cache)
    if gd is None:
        return None, f"no mirror of {repo} and no clone"
    r = subprocess.run(["git", "--git-dir", gd, "show", f"{commit}:{rel}"], capture_output=True)
    if r.returncode != 0:
        return None, f"{rel} is not at {commit[:10]} (absent from the mirror?)"
    if hashlib.sha256(r.stdout).hexdigest() != sha:
        return None, f"{rel} at {commit[:10]} does not match its sha256"
    return r.stdout, None


def input_size(path):
    """The export's square input size (python3-onnx), or None."""
    import onnx
    dims = [d.dim_value for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim]
    return dims[2] if len(dims) == 4 else None


def fetch(row, out, mirror, cache):
    """OUT/NAME (fetched, checked, re-sized when asked), or (None, why)."""
    dest = os.path.join(out, row[0])
    if os.path.exists(dest):
        return dest, None
    data, why = source(row, mirror, cache)
    if data is None:
        return None, why
    part = dest + ".part"
    with open(part, "wb") as f:
        f.write(data)
    try:
        if input_size(part) != row[5]:
            import onnx
            from fire_model_resize import resize
            m = onnx.load(part)
            resize(m, row[5])
            onnx.save(m, part)
    except Exception as e:  # no python3-onnx, not ONNX, not a YOLOv8/YOLO11 export
        os.unlink(part)
        return None, f"cannot read or re-size it to {row[5]}: {e}"
    os.replace(part, dest)
    return dest, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--list", default=os.path.join(HERE, "fire_models.tsv"))
    ap.add_argument("--mirror", default=os.environ.get("KVS_FIRE_MIRROR", "/work/.mirror"))
    a = ap.parse_args()
    cache = os.path.join(a.out, ".git-cache")
    os.makedirs(cache, exist_ok=True)
    for row in read_list(a.list):
        path, why = fetch(row, a.out, a.mirror, cache)
        if path is None:
            print(f"fire_models: skipped {row[0]}: {why}", file=sys.stderr)
        else:
            print(path)


if __name__ == "__main__":
    main()
