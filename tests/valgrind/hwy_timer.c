/* Preloaded into every program the test suite runs under valgrind; nothing
 * else loads it.
 *
 * Why: libavcodec pulls in libjxl, which pulls in libhwy 1.0, whose static
 * initialiser calls hwy::platform::TimerResolution() before main. That
 * function times itself with RDTSCP without asking CPUID first. Valgrind 3.19
 * only decodes RDTSCP when the host's CPUID advertises it, and some AMD EPYC
 * virtual machines run RDTSCP but do not advertise it: valgrind then stops
 * every program that links FFmpeg with SIGILL before main. The resolution is
 * only used by libhwy's nanobenchmark, never by decoding, so answering it
 * here keeps the probe off valgrind's path and leaves everything valgrind
 * checks in our own code as it was. tests/valgrind/vg.sh checks that the
 * preload really replaces libhwy's function. */
#include <stdint.h>

uint64_t _ZN3hwy8platform15TimerResolutionEv(void);

/* hwy::platform::TimerResolution(): ticks of the timer's resolution. */
uint64_t _ZN3hwy8platform15TimerResolutionEv(void)
{
    return 1;
}
