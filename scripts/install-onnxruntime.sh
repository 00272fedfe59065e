#!/usr/bin/env bash
# ONNX Runtime's C API for Debian 12, which does not package it:
#  - the library from npm onnxruntime-node (Microsoft's official CPU build, glibc >= 2.28);
#  - the headers from Debian 13's libonnxruntime-dev, fetched with a private apt configuration so
#    the system's apt setup is untouched.
# Installs into /usr/local/onnxruntime with a pkg-config file. Skipped when pkg-config already finds
# libonnxruntime or ORT_ROOT points at a release folder.
#   KVS_ORT=gpu   the GPU build instead: onnxruntime-node 1.29.0's core library with the matching
#                 CUDA execution provider from npm com.github.asus4.onnxruntime.linux-x64-gpu 0.4.9
#                 (needs CUDA 13 and cuDNN 9 at run time). Both tarballs are checked against the
#                 SHA-512 below. Microsoft's onnxruntime-linux-x64-gpu release folder works too,
#                 through ORT_ROOT.
#   KVS_ORT_HEADERS=DIR  ONNX Runtime's C headers from DIR instead of Debian 13's package (the CUDA
#                 image's build stage is Ubuntu: the Dockerfile brings them from a Debian stage)
#   --headers-only DIR   only fetch those headers into DIR (that Debian stage)
#   KVS_ORT_ARCH=x64|arm64  the CPU architecture of the library (npm onnxruntime-node ships
#                 linux/x64 and linux/arm64); default: Docker's TARGETARCH when set (amd64, arm64),
#                 else the machine's (uname -m). Another architecture than the machine's is a
#                 cross-build: give it its own ORT_PREFIX and ORT_PCDIR (scripts/arm64-check.sh).
# The Debian mirror comes from the machine's own apt sources or KVS_DEBIAN_MIRROR, never from an
# address written here.
set -euo pipefail
ORT_FLAVOR=${KVS_ORT:-cpu}
ORT_VERSION=1.30.0
ORT_SHA512=twhs1C2C/BFkz1yc5OY0KIU2GUq6DURO7hD4bx5Q2Qy3nAMJwRXW8xU3NVczE29VA9lolLOYepoD8fjTGOfIqw==
if [ "$ORT_FLAVOR" = gpu ]; then
  ORT_VERSION=1.29.0
  ORT_SHA512=WjiVVB72riILz8HbYvxvmjKyE/WmkYoSfKY++axo5jAR609HQg8MwiG/HhShpTcJfmmAdzxxmB+MMST3A+SiPA==
  GPU_PKG=com.github.asus4.onnxruntime.linux-x64-gpu@0.4.9
  GPU_SHA512=FopIhNE/Ng+v2X65wVc9clPCBCvhvA53Hxo2U0Kf5fGdVsC7iCA+mZ0KLWggcQAj7TIZ6pNidR4AC10g74Xo6w==
elif [ "$ORT_FLAVOR" != cpu ]; then
  echo "setup: onnxruntime: KVS_ORT must be cpu or gpu, not \"$ORT_FLAVOR\"" >&2; exit 1
fi
PREFIX=${ORT_PREFIX:-/usr/local/onnxruntime}
PCDIR=${ORT_PCDIR:-/usr/local/lib/pkgconfig}
log() { printf 'setup: onnxruntime: %s\n' "$*" >&2; }

# The Debian mirror this machine's apt already uses for its release (one-line
# .list or deb822 .sources files under APT_ETC, default /etc/apt), so a machine
# behind its own mirror or proxy fetches from there. KVS_DEBIAN_MIRROR overrides.
debian_mirror() {
  [ -n "${KVS_DEBIAN_MIRROR:-}" ] && { echo "$KVS_DEBIAN_MIRROR"; return 0; }
  local etc=${APT_ETC:-/etc/apt} codename f
  codename=$(. "${OS_RELEASE:-/etc/os-release}" && echo "${VERSION_CODENAME:-}")
  for f in "$etc"/sources.list "$etc"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk -v c="$codename" '$1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
      if ($(i + 1) == c) { print $i; exit } }' "$f"
  done | head -n 1 | grep . && return 0
  for f in "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v c="$codename" 'BEGIN { RS = "" } { uri = ""; ok = 0; n = split($0, l, "\n")
      for (k = 1; k <= n; k++) {
        if (l[k] ~ /^URIs:/) { split(l[k], a, " "); uri = a[2] }
        if (l[k] ~ /^Suites:/ && (l[k] " ") ~ (" " c " ")) ok = 1
        if (l[k] ~ /^Types:/ && l[k] !~ / deb( |$)/) ok = -100
      }
      if (ok > 0 && uri != "") { print uri; exit } }' "$f"
  done | head -n 1 | grep . && return 0
  return 1
}
if [ "${1:-}" = "--print-mirror" ]; then debian_mirror; exit; fi

# fetch_headers DEST: Debian 13's libonnxruntime-dev headers into DEST, with a
# private apt configuration so the system's apt setup is untouched.
fetch_headers() {
  local dest=$1 mirror tmp aptopt
  mirror=$(debian_mirror) || {
    log "no Debian mirror in this machine's apt sources (not Debian?): set KVS_DEBIAN_MIRROR to one," \
      "or KVS_ORT_HEADERS to a folder with ONNX Runtime's C headers"
    exit 1
  }
  log "fetching the headers (Debian 13 libonnxruntime-dev from $mirror)"
  tmp=$(mktemp -d)
  mkdir -p "$tmp/apt/lists/partial" "$tmp/apt/archives/partial"
  echo "deb $mirror trixie main" >"$tmp/apt/sources.list"
  aptopt=(-o Dir::Etc::SourceList="$tmp/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$tmp/apt/lists" -o Dir::Cache::archives="$tmp/apt/archives"
    -o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${aptopt[@]}" update -qq >/dev/null
  (cd "$tmp" && apt-get "${aptopt[@]}" download libonnxruntime-dev >/dev/null)
  dpkg -x "$tmp"/libonnxruntime-dev_*.deb "$tmp/dev"
  mkdir -p "$dest"
  cp "$tmp"/dev/usr/include/onnxruntime/*.h "$dest/"
  rm -rf "$tmp"
}
if [ "${1:-}" = "--headers-only" ]; then
  [ -n "${2:-}" ] || { log "--headers-only needs a folder"; exit 1; }
  fetch_headers "$2"; exit 0
fi

# npm's name for an architecture: x64 or arm64 (Docker says amd64/arm64, uname x86_64/aarch64).
ort_arch() {
  case "$1" in
    x64 | amd64 | x86_64) echo x64 ;;
    arm64 | aarch64) echo arm64 ;;
    *) return 1 ;;
  esac
}
NATIVE_ARCH=$(ort_arch "$(uname -m)") || NATIVE_ARCH=unsupported
ORT_ARCH=$(ort_arch "${KVS_ORT_ARCH:-${TARGETARCH:-$(uname -m)}}") || {
  echo "setup: onnxruntime: no ONNX Runtime build for ${KVS_ORT_ARCH:-${TARGETARCH:-$(uname -m)}} (x64 and arm64 only)" >&2
  exit 1
}
if [ "$ORT_FLAVOR" = gpu ] && [ "$ORT_ARCH" != x64 ]; then
  log "the GPU build exists for linux/x64 only, not $ORT_ARCH"; exit 1
fi

if [ -n "${ORT_ROOT:-}" ]; then
  [ -f "$ORT_ROOT/include/onnxruntime_c_api.h" ] || [ -f "$ORT_ROOT/include/onnxruntime/onnxruntime_c_api.h" ] ||
    { log "ORT_ROOT=$ORT_ROOT has no include/onnxruntime_c_api.h"; exit 1; }
  log "using ORT_ROOT=$ORT_ROOT"; exit 0
fi
# What is installed, and for which architecture (no arch= line: an older install, the machine's).
if [ "$ORT_ARCH" = "$NATIVE_ARCH" ] && [ -z "${ORT_PCDIR:-}" ]; then
  installed=$(pkg-config --modversion libonnxruntime 2>/dev/null || true)
  installed_arch=$(pkg-config --variable=arch libonnxruntime 2>/dev/null || true)
else
  installed=$(PKG_CONFIG_LIBDIR=$PCDIR pkg-config --modversion libonnxruntime 2>/dev/null || true)
  installed_arch=$(PKG_CONFIG_LIBDIR=$PCDIR pkg-config --variable=arch libonnxruntime 2>/dev/null || true)
fi
if [ -n "$installed" ] && [ "${installed_arch:-$NATIVE_ARCH}" != "$ORT_ARCH" ]; then
  log "replacing ONNX Runtime $installed for ${installed_arch:-$NATIVE_ARCH} with the $ORT_ARCH build"
elif [ -n "$installed" ]; then
  # An installed build of the other flavour is replaced (setup switches on KVS_ORT).
  if [ "$ORT_FLAVOR" = cpu ] || [ -f "$PREFIX/lib/libonnxruntime_providers_cuda.so" ]; then exit 0; fi
  log "replacing ONNX Runtime $installed with the GPU build"
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# npm pack PACKAGE SHA512: the tarball, checked against its pinned checksum.
fetch() {
  local f
  (cd "$work" && npm pack --silent "$1" >/dev/null 2>&1) || { log "npm pack $1 failed"; exit 1; }
  f=$(ls -t "$work"/*.tgz | head -n1)
  [ "$(openssl dgst -sha512 -binary "$f" | base64 -w0)" = "$2" ] ||
    { log "$1: checksum mismatch, refusing it"; exit 1; }
  echo "$f"
}
log "fetching the library (npm onnxruntime-node@$ORT_VERSION, linux/$ORT_ARCH)"
tgz=$(fetch "onnxruntime-node@$ORT_VERSION" "$ORT_SHA512")
tar -xzf "$tgz" -C "$work" "package/bin/napi-v6/linux/$ORT_ARCH/"
lib=$(ls "$work/package/bin/napi-v6/linux/$ORT_ARCH"/libonnxruntime.so.* | head -n1)
providers=()
if [ "$ORT_FLAVOR" = gpu ]; then
  log "fetching the CUDA execution provider (npm $GPU_PKG, about 180 MB)"
  gtgz=$(fetch "$GPU_PKG" "$GPU_SHA512")
  mkdir -p "$work/gpu"
  tar -xzf "$gtgz" -C "$work/gpu" --wildcards '*libonnxruntime_providers_cuda.so' '*libonnxruntime_providers_shared.so'
  mapfile -t providers < <(find "$work/gpu" -name 'libonnxruntime_providers_*.so')
  [ ${#providers[@]} -eq 2 ] || { log "$GPU_PKG: provider libraries not found"; exit 1; }
fi

if [ -n "${KVS_ORT_HEADERS:-}" ]; then
  [ -f "$KVS_ORT_HEADERS/onnxruntime_c_api.h" ] ||
    { log "KVS_ORT_HEADERS=$KVS_ORT_HEADERS has no onnxruntime_c_api.h"; exit 1; }
  headers=$KVS_ORT_HEADERS
else
  headers="$work/include"
  fetch_headers "$headers"
fi

mkdir -p "$PREFIX/include" "$PREFIX/lib" "$PCDIR"
cp "$headers"/*.h "$PREFIX/include/"
rm -f "$PREFIX"/lib/libonnxruntime*
cp "$lib" "$PREFIX/lib/"
ln -sf "$(basename "$lib")" "$PREFIX/lib/libonnxruntime.so"
for p in "${providers[@]}"; do cp "$p" "$PREFIX/lib/"; done
cat >"$PCDIR/libonnxruntime.pc" <<PC
prefix=$PREFIX
arch=$ORT_ARCH
Name: libonnxruntime
Description: ONNX Runtime $ORT_FLAVOR linux/$ORT_ARCH (npm onnxruntime-node $ORT_VERSION library, Debian 13 headers)
Version: $ORT_VERSION
Libs: -L\${prefix}/lib -Wl,-rpath,\${prefix}/lib -lonnxruntime
Cflags: -I\${prefix}/include
PC
log "installed ONNX Runtime $ORT_VERSION ($ORT_FLAVOR, linux/$ORT_ARCH) in $PREFIX"
