/* rss_return_test.c — memory goes back to the OS without being asked.
 *
 * Allocates ~1 GiB (mixed small objects of 16 B – 4 KiB plus a few large
 * ones of 1–4 MiB), touches all of it, frees everything in random order and
 * idles: within 3 s the process RSS must fall below 10% of its peak with no
 * call into the allocator (the background scavenger does it).  Then it
 * allocates and frees 256 MiB again and calls hs_release_free_memory():
 * RSS must be below 10% of the peak straight away.  The pointer array lives
 * in mmap'd memory so it is not part of the heap being measured.  It runs
 * with release_on_drain=0: otherwise the last free returns the memory
 * itself and there is nothing left for the scavenger (drain_release_test
 * covers that path); and with scavenger=2, since by default a program with
 * one thread gets no scavenger thread, and its steps run only when the
 * program allocates (one_thread_test covers that).
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "../../bench/rss_workload.h"

#define SMALL_BYTES ((size_t)960 << 20)
#define LARGE_COUNT 40
#define MAX_OBJECTS (1u << 20)

/* Allocates the workload into objects[]; returns how many (a failed
 * malloc is a test failure). */
static size_t allocate(void **objects, size_t small_bytes, int large_count) {
  bool out_of_memory;
  size_t n = rss_workload_allocate(objects, MAX_OBJECTS, small_bytes, large_count, &out_of_memory);
  CHECK_MSG(!out_of_memory, "malloc failed after %zu objects", n);
  return n;
}

static void print_stats(const char *when) {
  int (*stats)(hs_stats_t *) = (int (*)(hs_stats_t *))hs_fn("hs_stats");
  if (!stats) return;
  hs_stats_t s = {.struct_size = sizeof s};
  stats(&s);
  fprintf(stderr,
          "  %s: rss %.1f MiB, heap_inuse %.1f MiB, heap_idle %.1f MiB, heap_released %.1f MiB,"
          " thread_cache %.1f MiB, central_cache %.1f MiB\n",
          when, s.rss / 1048576.0, s.heap_inuse / 1048576.0, s.heap_idle / 1048576.0,
          s.heap_released / 1048576.0, s.thread_cache_bytes / 1048576.0,
          s.central_cache_bytes / 1048576.0);
}

int main(int argc, char **argv) {
  (void)argc;
  testlib_run_with_option(argv, "release_on_drain=0,scavenger=2");
  testlib_expect_heapscope();
  void **objects = mmap(NULL, MAX_OBJECTS * sizeof(void *), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!CHECK(objects != MAP_FAILED)) return testlib_done();

  size_t n = allocate(objects, SMALL_BYTES, LARGE_COUNT);
  uint64_t peak = rss_workload_rss_bytes();
  fprintf(stderr, "allocated %zu objects, peak rss %.1f MiB\n", n, peak / 1048576.0);
  CHECK_MSG(peak >= ((uint64_t)900 << 20), "peak rss %.1f MiB: the allocation did not happen",
            peak / 1048576.0);
  rss_workload_free_shuffled(objects, n);
  double freed_at = rss_workload_now_s();
  print_stats("after free");
  hs_stats_t before = {.struct_size = sizeof before};
  int (*stats)(hs_stats_t *) = (int (*)(hs_stats_t *))hs_fn("hs_stats");
  if (stats) stats(&before);

  /* Idle: no allocator call from here on, only reads of /proc. */
  uint64_t rss = rss_workload_rss_bytes();
  double waited = 0;
  while (rss >= peak / 10 && waited < 3.0) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
    rss = rss_workload_rss_bytes();
    waited = rss_workload_now_s() - freed_at;
  }
  fprintf(stderr, "rss %.1f MiB (%.1f%% of peak) %.2f s after the last free\n", rss / 1048576.0,
          100.0 * (double)rss / (double)peak, rss_workload_now_s() - freed_at);
  hs_stats_t after = {.struct_size = sizeof after};
  if (stats) stats(&after);
  print_stats("after idling");
  /* The scavenger thread did the work and allocated nothing doing it, so
   * it cannot appear in a heap profile. */
  CHECK(after.scavenger_released > before.scavenger_released);
  CHECK_MSG(after.mallocs == before.mallocs, "%llu allocations while the program idled",
            (unsigned long long)(after.mallocs - before.mallocs));
  CHECK_MSG(rss < peak / 10, "rss %.1f MiB is not below 10%% of the peak %.1f MiB after 3 s",
            rss / 1048576.0, peak / 1048576.0);

  /* Release-now. */
  void (*release)(void) = (void (*)(void))hs_fn("hs_release_free_memory");
  if (CHECK(release != NULL)) {
    n = allocate(objects, (size_t)256 << 20, 8);
    rss_workload_free_shuffled(objects, n);
    release();
    rss = rss_workload_rss_bytes();
    fprintf(stderr, "after hs_release_free_memory: rss %.1f MiB (%.1f%% of peak)\n",
            rss / 1048576.0, 100.0 * (double)rss / (double)peak);
    print_stats("after release");
    CHECK_MSG(rss < peak / 10, "rss %.1f MiB after hs_release_free_memory", rss / 1048576.0);
  }
  munmap(objects, MAX_OBJECTS * sizeof(void *));
  return testlib_done();
}
