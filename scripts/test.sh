#!/usr/bin/env bash
# The whole test suite, from a fresh machine: set-up (idempotent), a release
# build and an ASan+UBSan build, every unit and integration test in both,
# the unit tests under valgrind, and a bounded fuzzing run of each parser.
#   KVS_MODELS_MIRROR / KVS_MEDIA_MIRROR  offline folders for models and footage
#                                         (default: shared/models and shared/media
#                                         in the folder above the checkout)
#   KVS_FUZZ_SECONDS                      per fuzz target (default 20; 0 skips)
#   KVS_TEST_JOBS                         tests ctest runs side by side (default: CPUs + 1;
#                                         tests/CMakeLists.txt says which run alone)
#   KVS_REQUIRE_PREREQS=1                 a test missing something set-up installs fails
#                                         instead of skipping (default: 1 when CI=true)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
export KVS_MODELS_MIRROR="${KVS_MODELS_MIRROR:-$root/../shared/models}"
export KVS_MEDIA_MIRROR="${KVS_MEDIA_MIRROR:-$root/../shared/media}"
jobs=$(nproc)
# Most integration tests wait on real-time footage, leases and retries: one
# more at a time than there are CPUs. Those that time something or keep every
# CPU busy are RUN_SERIAL in tests/CMakeLists.txt.
test_jobs=${KVS_TEST_JOBS:-$((jobs + 1))}
export KVS_REQUIRE_PREREQS="${KVS_REQUIRE_PREREQS:-$([ "${CI:-}" = true ] && echo 1 || echo 0)}"

# Each stage's wall time, printed at the end (also when a stage fails), so the
# suite's growth shows before it nears CI's limit.
stage="" stage_t0=$SECONDS suite_t0=$SECONDS
times=()
end_stage() {
  [ -n "$stage" ] && times+=("$(printf '%6ds  %s' $((SECONDS - stage_t0)) "$stage")")
  stage=""
}
print_times() {
  local rc=$?
  end_stage
  printf '\n=== stage times (%s)\n' "$([ $rc -eq 0 ] && echo passed || echo "failed, exit $rc")"
  printf '%s\n' "${times[@]}"
  printf '%6ds  total\n' $((SECONDS - suite_t0))
}
trap print_times EXIT
step() {
  end_stage
  stage="$*" stage_t0=$SECONDS
  printf '\n=== %s\n' "$*"
}

step "set-up"
scripts/setup.sh

step "format (clang-format, .clang-format)"
clang-format --dry-run -Werror $(git ls-files '*.c' '*.h' 2>/dev/null || find src tests bench -name '*.[ch]')

step "release build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$jobs"

step "tests (release)"
ctest --test-dir build --output-on-failure -j"$test_jobs"

step "sanitizer build (ASan + UBSan)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVS_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"

step "tests (ASan + UBSan)"
# ONNX Runtime keeps a few process-lifetime allocations of its own: suppressed
# by library name only, so any leak of ours still fails. The container tests
# build their own image from the sources and ran in the release pass.
ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1" \
LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0" \
UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  ctest --test-dir build-asan --output-on-failure -j"$test_jobs" -E '^it_container'

step "fuzz targets build"
scripts/fuzz.sh --build-only "${KVS_FUZZ_SECONDS:-20}"

step "valgrind and fuzzing, side by side"
# Neither times anything, and each job keeps one CPU busy (valgrind runs a
# program's threads one at a time; a fuzz target runs on one): two lanes take
# the jobs in turn, the fuzzing (the longest) first, so that neither lane
# idles while the other has work left (valgrind as one job beside the fuzzer
# went on alone for 50 s in CI). Each job's output is shown at the end.
lanes=build/lanes
rm -rf "$lanes"; mkdir -p "$lanes"
# lane_job N JOB: runs JOB ("fuzz", a unit test program under valgrind, or
# "kvs-infer" under valgrind), its output, exit code and seconds in $lanes/N.*
lane_job() {
  local n=$1 job=$2 t0=$SECONDS rc=0
  case $job in
    fuzz) scripts/fuzz.sh --no-build "${KVS_FUZZ_SECONDS:-20}" || rc=$? ;;
    kvs-infer) bash tests/valgrind_run.sh "$root/build" || rc=$? ;;
    *) KVS_TEST_MODELS="$root/build/test-models" tests/valgrind/vg.sh "$root/build" -q --error-exitcode=99 \
         --leak-check=full --errors-for-leak-kinds=definite --suppressions="$root/tests/valgrind.supp" \
         "$job" >/dev/null || rc=$?
       # 77: cases skipped under valgrind (full-size models), the rest clean.
       if [ $rc -eq 0 ] || [ $rc -eq 77 ]; then
         echo "valgrind clean: $job$([ $rc -eq 77 ] && echo ' (some cases skipped)')"
         rc=0
       else
         echo "valgrind: $job failed (exit $rc)"
       fi ;;
  esac >"$lanes/$n.log" 2>&1
  echo $((SECONDS - t0)) >"$lanes/$n.secs"
  echo $rc >"$lanes/$n.rc"
}
lane_jobs=(fuzz)
for t in build/tests/test_*; do
  if [ -x "$t" ]; then lane_jobs+=("$t"); fi
done
lane_jobs+=(kvs-infer)
for n in "${!lane_jobs[@]}"; do
  while [ "$(jobs -pr | wc -l)" -ge 2 ]; do wait -n || true; done
  lane_job "$n" "${lane_jobs[$n]}" &
done
wait
end_stage
lanes_rc=0 vg_secs=0
for n in "${!lane_jobs[@]}"; do
  cat "$lanes/$n.log"
  [ "$(cat "$lanes/$n.rc" 2>/dev/null || echo 1)" = 0 ] || { echo "failed: ${lane_jobs[$n]}"; lanes_rc=1; }
  [ "$n" = 0 ] || vg_secs=$((vg_secs + $(cat "$lanes/$n.secs" 2>/dev/null || echo 0)))
done
times+=("$(printf '%6ds    valgrind (on one CPU)' $vg_secs)" "$(printf '%6ds    fuzzing' "$(cat "$lanes/0.secs" 2>/dev/null || echo 0)")")
[ $lanes_rc -eq 0 ] || { echo "valgrind or fuzzing failed"; exit 1; }

end_stage
printf '\n=== all tests passed\n'
