#!/usr/bin/env bash
# The repository stands alone: nothing in it cites a document that is not in it.
# Rules, over every file git tracks (and new files not ignored):
# 1. `../shared` (the folder beside a checkout that holds offline copies of
#    models, footage and the old design notes) may appear only as the default
#    value of KVS_MODELS_MIRROR or KVS_MEDIA_MIRROR, on the same line as that
#    variable's name: a path the tests and benchmarks read data from, never a
#    citation. Anything else naming it (a comment, a doc, another path) fails.
# 2. Every NAME.md mentioned anywhere must be a file of the repository, except
#    MANIFEST.md (the label files inside the model and media mirrors, read by
#    bench_ocr and it_alpr) and TABLE.md (an output name of bench/density.py).
# 3. Relative links in the Markdown files resolve: the file exists and, with a
#    #anchor, one of its headings has that anchor (GitHub's rule).
# The checker runs first on a small tree that breaks each rule, so it is known
# to catch them, then on the repository.
. "$(dirname "$0")/lib.sh"
command -v git >/dev/null && git -C "$KVS_SOURCE_DIR" rev-parse --git-dir >/dev/null 2>&1 ||
  skip "not a git checkout: no file list to check"

cat >"$WORK/check.py" <<'PYEOF'
import os, re, subprocess, sys

ALLOWED_MD = {"MANIFEST.md", "TABLE.md"}
SELF = "tests/integration/it_docs_citations.sh"

def files(root):
    out = subprocess.run(["git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
                         check=True, capture_output=True).stdout.decode()
    return sorted({f for f in out.split("\0") if f and os.path.isfile(os.path.join(root, f))})

def slug(heading):
    h = re.sub(r"[`*_]", "", heading.strip().lower())
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")

def check(root, names):
    bad = []
    basenames = {os.path.basename(f) for f in names}
    for f in names:
        if f == SELF:
            continue
        try:
            text = open(os.path.join(root, f), encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        for n, line in enumerate(text.split("\n"), 1):
            if "../shared" in line and not re.search(r"KVS_(MODELS|MEDIA)_MIRROR", line):
                bad.append(f"{f}:{n}: cites ../shared (only a KVS_MODELS_MIRROR/KVS_MEDIA_MIRROR "
                           f"default may name it; cite the docs/ page instead): {line.strip()}")
            for m in re.findall(r"[A-Za-z0-9_-]+\.md\b", line):
                if m not in basenames and m not in ALLOWED_MD:
                    bad.append(f"{f}:{n}: names {m}, which is not in the repository: {line.strip()}")
        if not f.endswith(".md"):
            continue
        here = os.path.dirname(f)
        for n, line in enumerate(text.split("\n"), 1):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"[a-z]+:", target):
                    continue
                path, _, anchor = target.partition("#")
                dest = os.path.normpath(os.path.join(here, path)) if path else f
                full = os.path.join(root, dest)
                if not os.path.exists(full):
                    bad.append(f"{f}:{n}: link to {target}: {dest} does not exist")
                    continue
                if anchor and dest.endswith(".md"):
                    heads = [slug(h) for h in re.findall(r"^#+ (.*)$", open(full, encoding="utf-8").read(), re.M)]
                    if anchor not in heads:
                        bad.append(f"{f}:{n}: link to {target}: no heading #{anchor} in {dest}")
    return bad

root = sys.argv[1]
bad = check(root, files(root))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PYEOF

# A tree that breaks every rule: the checker must name each break.
T="$WORK/tree"
mkdir -p "$T/docs" "$T/src"
git -C "$T" init -q
printf '/* the schema of ../shared/docs/design.md */\n' >"$T/src/a.c"
printf 'M="${KVS_MODELS_MIRROR:-../shared/models}"\n' >"$T/src/ok.sh"
printf '# Doc\n## Two words\nsee [b](b.md), [c](missing.md) and [d](a.md#nowhere), [e](a.md#two-words)\nthe design.md\n' >"$T/docs/a.md"
printf '# B\n' >"$T/docs/b.md"
set +e
$PY "$WORK/check.py" "$T" >"$WORK/self.out"; rc=$?
set -e
cat "$WORK/self.out" >&2
[ "$rc" = 1 ] || fail "the checker passed a tree that cites ../shared"
grep -q 'src/a.c:1: cites ../shared' "$WORK/self.out" || fail "a ../shared citation went unnoticed"
grep -q 'src/ok.sh' "$WORK/self.out" && fail "a KVS_MODELS_MIRROR default was reported"
grep -q 'names design.md' "$WORK/self.out" || fail "a missing .md went unnoticed"
grep -q 'missing.md does not exist' "$WORK/self.out" || fail "a broken link went unnoticed"
grep -q 'no heading #nowhere' "$WORK/self.out" || fail "a broken anchor went unnoticed"
grep -q 'no heading #two-words' "$WORK/self.out" && fail "a good anchor was reported"

# The repository.
if ! $PY "$WORK/check.py" "$KVS_SOURCE_DIR" >"$WORK/repo.out"; then
  cat "$WORK/repo.out" >&2
  fail "documents outside the repository are cited, or links are broken (above)"
fi
note "no citation of ../shared or of a missing document; every docs link resolves"
