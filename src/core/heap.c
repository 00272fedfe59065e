#include <malloc.h>

#include "core.h"

/* Blocks this large and larger are mapped on their own (see heap_configure). */
#define HEAP_MMAP_THRESHOLD (4 << 20)

/* Neither tunes nor trims in sanitizer builds: their allocator is not
 * glibc's, and malloc_trim would then be the first call into glibc's
 * allocator, initialising it lazily from whichever thread calls; two threads
 * doing so at once both adopt the main arena without counting themselves, and
 * glibc aborts at the second one's exit ("a->attached_threads > 0"). */

/* glibc gives each thread its own arena, up to 8 per core; a camera's reader
 * thread frees decoded pictures and packets in bursts, and each arena keeps
 * its own free memory resident. Two per core keep contention low and 64
 * cameras' RSS at 850 MB instead of 920 MB (bench-density, with
 * heap_give_back every 5 s). Set before any thread starts.
 * A fixed mmap threshold: glibc raises its own to the size of each mapped
 * block freed (up to 32 MB), after which a clip's MP4 and its spool record
 * (5 MB each at 4 Mbit/s) come from the arenas and their freed space stays
 * resident; mapped, they go back to the system when freed. 4 MB, above a
 * 1080p picture (3 MB) and a model input: at 256 KB every picture and
 * tensor was a fresh mapping, and its page faults took 5-10 times the
 * conversion time (bench-clips, 4 cameras: docs/benchmarks.md). */
void heap_configure(void)
{
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    int cores = cpu_count();
    mallopt(M_ARENA_MAX, cores > 1 ? 2 * cores : 2);
    mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_THRESHOLD);
#endif
}

void heap_give_back(void)
{
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    malloc_trim(0);
#endif
}
