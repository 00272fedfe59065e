#!/usr/bin/env bash
# The Debian packages holding the shared libraries the given programs load
# (ONNX Runtime excluded: it is copied as it was installed), one per line: the
# container's runtime stage installs exactly these, on the same distribution
# as the build stage.
set -euo pipefail
for bin in "$@"; do ldd "$bin"; done | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u |
  while read -r lib; do
    case "$lib" in *onnxruntime*) continue ;; esac
    pkg=""
    for p in "$lib" "$(readlink -f "$lib")"; do
      for q in "$p" "${p#/usr}" "/usr$p"; do
        pkg=$(dpkg -S "$q" 2>/dev/null | head -n1 | cut -d: -f1) && [ -n "$pkg" ] && break 2
      done
    done
    [ -n "$pkg" ] || { echo "runtime-packages: no package holds $lib" >&2; exit 1; }
    echo "$pkg"
  done | sort -u
