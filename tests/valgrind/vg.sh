#!/usr/bin/env bash
# valgrind as the test suite runs it: `vg.sh BUILD_DIR valgrind-args... program args...`.
# Preloads hwy_timer.c's library (why: see that file) and first checks that the
# preload really takes libhwy's TimerResolution, so the suite cannot silently go
# back to depending on the CPU it runs on.
set -euo pipefail
build=$1
shift
shim="$build/tests/libkvs_vg_hwy_timer.so"
[ -f "$shim" ] || { echo "vg.sh: $shim is missing (build the tests first)" >&2; exit 2; }
if [ -z "${KVS_VG_CHECKED:-}" ] && [ -e /lib/x86_64-linux-gnu/libhwy.so.1 ]; then
  probe="$build/tests/test_decode"
  bind=$(LD_DEBUG=bindings LD_PRELOAD="$shim" "$probe" 2>&1 >/dev/null |
    grep 'TimerResolution' | grep -m1 'libhwy' || true)
  case "$bind" in
    *libkvs_vg_hwy_timer.so*) ;;
    *) echo "vg.sh: libhwy's TimerResolution is not bound to $shim: $bind" >&2; exit 2 ;;
  esac
  export KVS_VG_CHECKED=1
fi
# Tests that only repeat on full-size real models what planted models already
# cover under valgrind skip themselves (minutes each at valgrind's pace).
export KVS_UNDER_VALGRIND=1
LD_PRELOAD="$shim${LD_PRELOAD:+:$LD_PRELOAD}" exec valgrind "$@"
