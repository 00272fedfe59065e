"""Labelled photo sets kept as a list of public files rather than as files.

bench/alpr_sets/NAME.tsv names each photo by the public git repository, commit
and path it comes from, with the plate read on it (by eye, or from the
source's own label), its box when known, where it comes from and under which
licence. `materialise` copies the photos out of a mirror of each repository
($KVS_ALPR_MIRROR, default /work/.mirror: laid out as OWNER+NAME/repo
or OWNER/NAME(.git)), or a clone made into the work folder when online, and
writes labels.csv (`file,x,y,w,h,plate` or `file,plate`) beside them, the
format alpr_eval.py reads. A repository that cannot be had skips its photos
with a message; the set is used when any photo remains.

Columns (tab-separated, a header line, `#` comments):
  file   name of the photo in the set folder (unique)
  plate  the plate's text, letters and digits
  x y w h  the plate's box in pixels, or empty when unknown
  repo   owner/name on GitHub
  commit the commit the file is taken at
  path   the file's path in that commit
  origin where the photo and its label come from (dataset, who read it)
  licence the licence the source states"""
import csv
import os
import subprocess

COLUMNS = ["file", "plate", "x", "y", "w", "h", "repo", "commit", "path", "origin", "licence"]
MANIFESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "alpr_sets")


def manifest_path(name):
    """The list of set `name`, or None when the set is not one of ours."""
    p = os.path.join(MANIFESTS, name + ".tsv")
    return p if os.path.exists(p) else None


def read_manifest(path):
    """The rows of a set list as dicts; raises ValueError on a malformed row."""
    rows, seen = [], set()
    with open(path, newline="", encoding="utf-8") as f:
        lines = [ln for ln in f if ln.strip() and not ln.startswith("#")]
    reader = csv.reader(lines, delimiter="\t")
    header = next(reader, None)
    if header != COLUMNS:
        raise ValueError(f"{path}: the header must be {' '.join(COLUMNS)}")
    for n, r in enumerate(reader, 2):
        if len(r) != len(COLUMNS):
            raise ValueError(f"{path}: row {n} has {len(r)} columns, not {len(COLUMNS)}")
        row = dict(zip(COLUMNS, r))
        if not row["plate"].isalnum() or row["file"] in seen or "/" in row["file"]:
            raise ValueError(f"{path}: row {n}: bad plate or repeated file name")
        box = [row[k] for k in ("x", "y", "w", "h")]
        if any(box) and not all(v.isdigit() for v in box):
            raise ValueError(f"{path}: row {n}: the box is four whole numbers or empty")
        seen.add(row["file"])
        rows.append(row)
    return rows


def git_dir(repo, mirror, work, online):
    """A git directory holding repo's history, or None."""
    owner, name = repo.split("/", 1)
    for cand in (os.path.join(mirror, f"{owner}+{name}", "repo"),
                 os.path.join(mirror, f"{owner}+{name}", "repo", ".git"),
                 os.path.join(mirror, owner, name + ".git"),
                 os.path.join(mirror, owner, name, ".git"),
                 os.path.join(work, "mirror", f"{owner}+{name}.git")):
        if os.path.isfile(os.path.join(cand, "HEAD")) and os.path.isdir(os.path.join(cand, "objects")):
            return cand
    if not online:
        return None
    dest = os.path.join(work, "mirror", f"{owner}+{name}.git")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    r = subprocess.run(["git", "clone", "-q", "--bare", f"https://github.com/{repo}", dest],
                       capture_output=True, text=True, timeout=600)
    return dest if r.returncode == 0 else None


def materialise(name, dest, work, log=print, manifest=None):
    """Copies set `name` (its list: manifest, else bench/alpr_sets/NAME.tsv)
    into dest (photos and labels.csv); returns the number of photos, 0 when
    none could be had."""
    rows = read_manifest(manifest or manifest_path(name))
    mirror = os.environ.get("KVS_ALPR_MIRROR", "/work/.mirror")
    online = os.environ.get("KVS_ALPR_OFFLINE", "") == ""
    os.makedirs(dest, exist_ok=True)
    dirs, missing, out = {}, {}, []
    for row in rows:
        repo = row["repo"]
        if repo not in dirs:
            dirs[repo] = git_dir(repo, mirror, work, online)
        photo = os.path.join(dest, row["file"])
        if not os.path.exists(photo):
            blob = None
            if dirs[repo]:
                r = subprocess.run(["git", "--git-dir", dirs[repo], "cat-file", "blob",
                                    f"{row['commit']}:{row['path']}"], capture_output=True)
                blob = r.stdout if r.returncode == 0 and r.stdout else None
            if blob is None:
                missing[repo] = missing.get(repo, 0) + 1
                continue
            with open(photo + ".part", "wb") as f:
                f.write(blob)
            os.replace(photo + ".part", photo)
        out.append(row)
    for repo, n in sorted(missing.items()):
        log(f"bench-alpr: {name}: {n} photos of {repo} skipped (no copy under {mirror} "
            f"{'and no clone' if online else 'and offline'})")
    with open(os.path.join(dest, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["file", "x", "y", "w", "h", "plate"])
        for row in out:
            if row["x"]:
                w.writerow([row["file"], row["x"], row["y"], row["w"], row["h"], row["plate"]])
            else:
                w.writerow([row["file"], row["plate"]])
    return len(out)
