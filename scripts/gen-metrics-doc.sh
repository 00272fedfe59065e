#!/usr/bin/env bash
# Regenerates the metrics table of docs/metrics.md from the registry
# (src/metrics/registry.c): builds tests/unit/test_docs_metrics.c and runs it
# with KVS_WRITE_DOCS=1, which rewrites the table between its markers.
# Usage: scripts/gen-metrics-doc.sh [BUILD_DIR]   (default: build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" >/dev/null
cmake --build "$build" --target test_docs_metrics -j2 >/dev/null
KVS_WRITE_DOCS=1 KVS_SOURCE_DIR="$root" "$build/tests/test_docs_metrics" >/dev/null
git -C "$root" diff --stat -- docs/metrics.md
