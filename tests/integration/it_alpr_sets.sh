#!/usr/bin/env bash
# bench-alpr's own pieces without models: the failure-kind, confidence and
# repair tables on made-up cases (bench/alpr_kinds.py), every committed set
# list parses, and a set list is copied out of a local git mirror into photos
# plus labels.csv, with a repository that cannot be had skipped by name.
source "$(dirname "$0")/lib.sh"
cd "$KVS_SOURCE_DIR"
command -v git >/dev/null || need "git"
$PY bench/alpr_kinds.py | grep -q "self-test passed" || fail "alpr_kinds self-test"
for m in bench/alpr_sets/*.tsv; do
  $PY -c "import sys; sys.path.insert(0, 'bench'); import alpr_sets; \
rows = alpr_sets.read_manifest('$m'); assert rows, 'empty'" || fail "$m does not parse"
done

# A mirror in the fetch layout (owner+name/repo/.git) holding two photos.
src=$WORK/src
mkdir -p "$src" "$WORK/mirror/o+n"
printf 'photo-a' >"$src/a.jpg"
printf 'photo-b' >"$src/b.jpg"
git -C "$src" init -q && git -C "$src" add . &&
  git -C "$src" -c user.name=t -c user.email=t@t commit -qm photos
commit=$(git -C "$src" rev-parse HEAD)
git clone -q "$src" "$WORK/mirror/o+n/repo"
tab=$'\t'
{
  echo "file${tab}plate${tab}x${tab}y${tab}w${tab}h${tab}repo${tab}commit${tab}path${tab}origin${tab}licence"
  echo "one.jpg${tab}ABC123${tab}1${tab}2${tab}3${tab}4${tab}o/n${tab}$commit${tab}a.jpg${tab}test${tab}CC0"
  echo "two.jpg${tab}XYZ9${tab}${tab}${tab}${tab}${tab}o/n${tab}$commit${tab}b.jpg${tab}test${tab}CC0"
  echo "three.jpg${tab}Q1${tab}${tab}${tab}${tab}${tab}nobody/none${tab}$commit${tab}c.jpg${tab}test${tab}CC0"
} >"$WORK/t.tsv"
out=$(KVS_ALPR_MIRROR=$WORK/mirror KVS_ALPR_OFFLINE=1 $PY -c "import sys; sys.path.insert(0, 'bench'); \
import alpr_sets; print('n=%d' % alpr_sets.materialise('t', '$WORK/set', '$WORK/w', manifest='$WORK/t.tsv'))")
echo "$out" | grep -q "n=2" || fail "materialise: $out"
echo "$out" | grep -q "1 photos of nobody/none skipped" || fail "no skip message: $out"
[ "$(cat "$WORK/set/one.jpg")" = photo-a ] || fail "one.jpg is not a.jpg"
[ "$(cat "$WORK/set/two.jpg")" = photo-b ] || fail "two.jpg is not b.jpg"
printf 'file,x,y,w,h,plate\none.jpg,1,2,3,4,ABC123\ntwo.jpg,XYZ9\n' | cmp -s - "$WORK/set/labels.csv" ||
  fail "labels.csv: $(cat "$WORK/set/labels.csv")"
# A malformed list is refused.
sed 's/ABC123/AB C/' "$WORK/t.tsv" >"$WORK/bad.tsv"
$PY -c "import sys; sys.path.insert(0, 'bench'); import alpr_sets; alpr_sets.read_manifest('$WORK/bad.tsv')" \
  2>/dev/null && fail "a plate with a space was accepted"
echo "it_alpr_sets: ok"
