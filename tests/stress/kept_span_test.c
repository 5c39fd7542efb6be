/* kept_span_test.c — empty spans a thread keeps for its next allocations.
 *
 * A thread owns the spans it allocates from; when every object of one is
 * back, the thread keeps it (to carve again from its start) while it holds
 * at most 1 MiB of such spans, and gives the rest to the page heap
 * (src/tcache.c, TCACHE_EMPTY_MAX_BYTES).  Checked through hs_stats:
 *   1. a thread that allocates OBJECT_BYTES-byte objects worth 4 MiB and
 *      frees them all holds between KEPT_MIN and KEPT_MAX bytes in its
 *      cache afterwards (kept spans count as cached free objects), and the
 *      page heap got the rest back (heap_idle grew by at least 2 MiB);
 *   2. allocating 512 KiB again takes the kept spans: heap_idle shrinks by
 *      no more than a few sampled objects' pages (nothing else comes from
 *      the page heap), and the objects are intact;
 *   3. when the thread exits its kept spans go back: the bytes cached in
 *      threads fall to below what they were before it started plus a bin.
 * Runs in a thread of its own so that the main thread's cache does not
 * blur the figures, with release_on_drain=0: freeing everything it built
 * is what drains a thread, and a drain gives the kept spans back too
 * (drain_release_test covers that).
 */
#include <pthread.h>

#include "testlib.h"

#define OBJECT_BYTES 48
#define TOTAL_BYTES ((size_t)4 << 20)
#define AGAIN_BYTES ((size_t)512 << 10)
#define KEPT_MIN ((uint64_t)768 << 10)
#define KEPT_MAX ((uint64_t)1280 << 10)
#define SAMPLE_SLACK ((uint64_t)128 << 10)

static uint64_t g_cached_before;

static void *worker(void *arg) {
  (void)arg;
  size_t count = TOTAL_BYTES / OBJECT_BYTES;
  unsigned char **objects = malloc(count * sizeof *objects);
  if (!CHECK(objects != NULL)) return NULL;
  if (!testlib_fill_objects(objects, count, 0, 1, OBJECT_BYTES)) return NULL;
  hs_stats_t full = testlib_stats();
  for (size_t i = 0; i < count; i++) free(objects[i]);
  hs_stats_t emptied = testlib_stats();
  uint64_t cached = emptied.thread_cache_bytes - g_cached_before;
  CHECK_MSG(cached >= KEPT_MIN && cached <= KEPT_MAX,
            "after freeing %zu objects the threads cache %llu bytes more (want %llu..%llu)",
            count, (unsigned long long)cached, (unsigned long long)KEPT_MIN,
            (unsigned long long)KEPT_MAX);
  CHECK_MSG(emptied.heap_idle >= full.heap_idle + ((uint64_t)2 << 20),
            "heap_idle %llu -> %llu: the spans past the budget did not go back",
            (unsigned long long)full.heap_idle, (unsigned long long)emptied.heap_idle);

  size_t again = AGAIN_BYTES / OBJECT_BYTES;
  if (!testlib_fill_objects(objects, again, 0, 1, OBJECT_BYTES)) return NULL;
  hs_stats_t reused = testlib_stats();
  /* A sampled object takes a page of its own; without the kept spans the
   * page heap would give ~AGAIN_BYTES. */
  CHECK_MSG(reused.heap_idle + SAMPLE_SLACK >= emptied.heap_idle,
            "heap_idle %llu -> %llu: allocating took pages from the page heap, not the kept spans",
            (unsigned long long)emptied.heap_idle, (unsigned long long)reused.heap_idle);
  size_t overwritten = testlib_count_overwritten(objects, again, 0, 1, OBJECT_BYTES);
  CHECK_MSG(overwritten == 0, "%zu of %zu objects were overwritten", overwritten, again);
  for (size_t i = 0; i < again; i++) free(objects[i]);
  free(objects);
  return NULL;
}

int main(int argc, char **argv) {
  (void)argc;
  testlib_run_with_option(argv, "release_on_drain=0");
  if (testlib_skip_unless_heapscope()) return testlib_done();
  g_cached_before = testlib_stats().thread_cache_bytes;
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, worker, NULL) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  uint64_t cached_after = testlib_stats().thread_cache_bytes;
  CHECK_MSG(cached_after <= g_cached_before + ((uint64_t)64 << 10),
            "threads cache %llu bytes before the worker, %llu after it exited",
            (unsigned long long)g_cached_before, (unsigned long long)cached_after);
  return testlib_done();
}
