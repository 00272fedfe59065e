#!/usr/bin/env python3
"""Fetch the other fire/smoke models bench-fire compares (bench/fire_models.tsv).

Each model is read from a public repository at a pinned commit (a bare mirror
under $KVS_FIRE_MIRROR, else a clone from GitHub when online), checked against
its sha256 and written to OUT/NAME. A model that cannot be had is skipped with
a message; the bench runs without it. Prints the paths written, one a line,
so that scripts/bench-fire.sh can add a `model=` mode for each.

  usage: bench/fire_models.py OUT [--list bench/fire_models.tsv]
"""
import argparse
import hashlib
import os
import subprocess
import sys

from fire_data import HERE, git_dir


def read_list(path):
    """[(name, repo, commit, path, sha256)] of the list; comments skipped."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 5:
                raise SystemExit(f"{path}:{n}: expected 6 tab-separated columns")
            rows.append(tuple(cols[:5]))
    return rows


def fetch(row, out, mirror, cache):
    """OUT/NAME once its bytes match the pinned sha256, else (None, why)."""
    name, repo, commit, rel, sha = row
    dest = os.path.join(out, name)
    if os.path.exists(dest):
        with open(dest, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() == sha:
                return dest, None
    gd = git_dir(repo, mirror, cache)
    if gd is None:
        return None, f"no mirror of {repo} and no clone"
    r = subprocess.run(["git", "--git-dir", gd, "show", f"{commit}:{rel}"], capture_output=True)
    if r.returncode != 0:
        return None, f"{rel} is not at {commit[:10]} (absent from the mirror?)"
    if hashlib.sha256(r.stdout).hexdigest() != sha:
        return None, f"{rel} at {commit[:10]} does not match its sha256"
    with open(dest + ".part", "wb") as f:
        f.write(r.stdout)
    os.replace(dest + ".part", dest)
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
