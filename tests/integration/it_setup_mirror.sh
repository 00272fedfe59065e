#!/usr/bin/env bash
# scripts/install-onnxruntime.sh takes the Debian mirror from the machine's own
# apt sources (issue 9.6; it had one address written in): one-line .list and
# deb822 .sources files, options in brackets, other suites and deb-src ignored,
# KVS_DEBIAN_MIRROR first, and a clear failure when nothing fits.
. "$(dirname "$0")/lib.sh"
S="$KVS_SOURCE_DIR/scripts/install-onnxruntime.sh"
printf 'VERSION_CODENAME=bookworm\n' >"$WORK/os-release"
mirror() { APT_ETC="$WORK/$1" OS_RELEASE="$WORK/os-release" bash "$S" --print-mirror; }

mkdir -p "$WORK/a/sources.list.d"
cat >"$WORK/a/sources.list" <<'SRC'
# a comment
deb-src http://src.example.invalid/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://security.example.invalid/debian-security bookworm-security main
deb [arch=amd64] http://mirror.example.invalid/debian bookworm main contrib
SRC
[ "$(mirror a)" = "http://mirror.example.invalid/debian" ] || fail "one-line sources: got '$(mirror a)'"

mkdir -p "$WORK/b/sources.list.d"
cat >"$WORK/b/sources.list.d/other.sources" <<'SRC'
Types: deb
URIs: https://vendor.example.invalid/node
Suites: nodistro
Components: main

Types: deb-src
URIs: http://src.example.invalid/debian
Suites: bookworm
Components: main
SRC
cat >"$WORK/b/sources.list.d/debian.sources" <<'SRC'
Types: deb
URIs: http://deb822.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main
SRC
[ "$(mirror b)" = "http://deb822.example.invalid/debian" ] || fail "deb822 sources: got '$(mirror b)'"

[ "$(KVS_DEBIAN_MIRROR=http://override.example.invalid/debian mirror b)" = "http://override.example.invalid/debian" ] ||
  fail "KVS_DEBIAN_MIRROR is not taken first"
mkdir -p "$WORK/c/sources.list.d"
if mirror c >/dev/null 2>&1; then fail "no sources: should fail"; fi

# Not Debian and no mirror: the headers-only fetch fails naming both ways out,
# and KVS_ORT_HEADERS is taken instead of any mirror.
rc=0; APT_ETC="$WORK/c" OS_RELEASE="$WORK/os-release" bash "$S" --headers-only "$WORK/h" 2>"$WORK/err" || rc=$?
[ "$rc" = 1 ] && grep -q KVS_DEBIAN_MIRROR "$WORK/err" && grep -q KVS_ORT_HEADERS "$WORK/err" ||
  fail "no mirror: expected exit 1 naming KVS_DEBIAN_MIRROR and KVS_ORT_HEADERS, got $rc: $(cat "$WORK/err")"

# No package registry's host name anywhere in the tree (a fallback address
# written into a script is how one got in): mirrors come from the machine.
# The names are assembled here so this file does not match itself.
d='\.'
hosts="deb${d}debian${d}org|security${d}debian${d}org|ftp${d}[a-z]+${d}debian${d}org|archive${d}ubuntu${d}com"
hosts+="|registry${d}npmjs${d}(org|com)|registry${d}yarnpkg${d}com|pypi${d}org|files${d}pythonhosted${d}org"
hosts+="|crates${d}io|static${d}crates${d}io|proxy${d}golang${d}org|repo1${d}maven${d}org"
if hits=$(cd "$KVS_SOURCE_DIR" && git ls-files -z 2>/dev/null | xargs -0 grep -nE "$hosts" 2>/dev/null); then
  fail "package registry host names in the repository (take them from the machine's configuration):
$hits"
fi
echo PASS
