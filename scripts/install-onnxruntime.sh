#!/usr/bin/env bash
# ONNX Runtime's C API for Debian 12, which does not package it:
#  - the library from npm onnxruntime-node (Microsoft's official CPU build, glibc >= 2.28);
#  - the headers from Debian 13's libonnxruntime-dev, fetched with a private apt configuration so
#    the system's apt setup is untouched.
# Installs into /usr/local/onnxruntime with a pkg-config file. Skipped when pkg-config already finds
# libonnxruntime or ORT_ROOT points at a release folder.
set -euo pipefail
ORT_VERSION=1.30.0
PREFIX=${ORT_PREFIX:-/usr/local/onnxruntime}
PCDIR=/usr/local/lib/pkgconfig
log() { printf 'setup: onnxruntime: %s\n' "$*" >&2; }

if [ -n "${ORT_ROOT:-}" ]; then
  [ -f "$ORT_ROOT/include/onnxruntime_c_api.h" ] || [ -f "$ORT_ROOT/include/onnxruntime/onnxruntime_c_api.h" ] ||
    { log "ORT_ROOT=$ORT_ROOT has no include/onnxruntime_c_api.h"; exit 1; }
  log "using ORT_ROOT=$ORT_ROOT"; exit 0
fi
if pkg-config --exists libonnxruntime 2>/dev/null; then exit 0; fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
log "fetching the library (npm onnxruntime-node@$ORT_VERSION)"
(cd "$work" && npm pack --silent "onnxruntime-node@$ORT_VERSION" >/dev/null 2>&1)
tar -xzf "$work"/onnxruntime-node-*.tgz -C "$work" package/bin/napi-v6/linux/x64/
lib=$(ls "$work"/package/bin/napi-v6/linux/x64/libonnxruntime.so.* | head -n1)

log "fetching the headers (Debian 13 libonnxruntime-dev)"
mkdir -p "$work/apt/lists/partial" "$work/apt/archives/partial"
echo "deb http://deb.debian.org/debian trixie main" >"$work/apt/sources.list"
aptopt=(-o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache::archives="$work/apt/archives"
  -o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${aptopt[@]}" update -qq >/dev/null
(cd "$work" && apt-get "${aptopt[@]}" download libonnxruntime-dev >/dev/null)
dpkg -x "$work"/libonnxruntime-dev_*.deb "$work/dev"

mkdir -p "$PREFIX/include" "$PREFIX/lib" "$PCDIR"
cp "$work"/dev/usr/include/onnxruntime/*.h "$PREFIX/include/"
cp "$lib" "$PREFIX/lib/"
ln -sf "$(basename "$lib")" "$PREFIX/lib/libonnxruntime.so"
cat >"$PCDIR/libonnxruntime.pc" <<PC
prefix=$PREFIX
Name: libonnxruntime
Description: ONNX Runtime (npm onnxruntime-node $ORT_VERSION library, Debian 13 headers)
Version: $ORT_VERSION
Libs: -L\${prefix}/lib -Wl,-rpath,\${prefix}/lib -lonnxruntime
Cflags: -I\${prefix}/include
PC
log "installed in $PREFIX"
