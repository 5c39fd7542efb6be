/* allocs_per_run.c — hs_allocs_per_run(), Go's testing.AllocsPerRun for C:
 * the exact mean number of allocations one call of a function makes on the
 * calling thread.  Reads only the calling thread's counters (no lock) and
 * allocates nothing itself, so the count is the function's alone.
 * May call: the public counters in malloc.c (hs_thread_counters). */
#include "heapscope.h"
#include "base.h"

HS_EXPORT double hs_allocs_per_run(int runs, void (*fn)(void *arg), void *arg) {
  if (runs <= 0 || !fn) return -1.0;
  fn(arg); /* warm-up: first-use allocations (caches, lazy tables) are not counted */
  hs_thread_counters_t before = hs_thread_counters();
  for (int i = 0; i < runs; i++) fn(arg);
  hs_thread_counters_t after = hs_thread_counters();
  return (double)(after.mallocs - before.mallocs) / (double)runs;
}
