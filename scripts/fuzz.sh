#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded
# time from its seed corpus.
# Usage: scripts/fuzz.sh [--build-only | --no-build] [SECONDS_PER_TARGET]
# (scripts/test.sh builds first, then runs the targets beside valgrind: a
# build beside valgrind would slow the unit tests that bound a time.)
set -euo pipefail
cd "$(dirname "$0")/.."
build=1 run=1
case "${1:-}" in
  --build-only) run=0; shift ;;
  --no-build) build=0; shift ;;
esac
secs=${1:-20}
[ "$secs" -gt 0 ] || { echo "fuzz: skipped (0 s)"; exit 0; }
CC=$(command -v clang || command -v clang-14 || true)
[ -n "$CC" ] || { echo "fuzz: clang not installed (scripts/setup.sh installs it)"; exit 1; }
if [ $build = 1 ]; then
  cmake -S . -B build-fuzz -DCMAKE_C_COMPILER="$CC" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVS_FUZZ=ON >/dev/null
  cmake --build build-fuzz -j"$(nproc)" --target fuzz_config fuzz_event_json fuzz_m3u8 fuzz_ebml \
    fuzz_spool_record fuzz_spool_segment fuzz_events_reader >/dev/null
fi
[ $run = 1 ] || exit 0
for t in config event_json m3u8 ebml spool_record spool_segment events_reader; do
  mkdir -p "build-fuzz/corpus-$t"
  echo "fuzz: $t for ${secs}s"
  LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0" \
    "build-fuzz/tests/fuzz_$t" -max_total_time="$secs" -max_len=8192 -print_final_stats=0 \
    "build-fuzz/corpus-$t" "tests/fuzz/corpus/$t" 2>&1 | tail -n 2
done
