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
echo PASS
