/* idle_class_test.c — a size class a thread stopped using goes back to the
 * page heap (src/tcache.c, TCACHE_IDLE_SCAN_REFILLS).
 *
 * A worker thread allocates IDLE_COUNT objects of IDLE_BYTES and frees them
 * all: its bin, its current span and the spans it keeps empty now hold
 * them (the precondition: at least KEPT_MIN bytes of that class cached).
 * Then it allocates BUSY_COUNT objects of another size, which takes
 * hundreds of refills, and checks through hs_stats that:
 *   1. the idle class holds no cached objects any more (without the scan
 *      its bin, current span and kept spans stay: 1.2 MiB here);
 *   2. the page heap got those spans back: heap_inuse grew by less than
 *      the busy objects take, less half of what the idle class held;
 *   3. the busy objects are intact.
 * Runs in a thread of its own so that the main thread's cache does not
 * blur the figures, with release_on_drain=0 so that no drain empties the
 * cache instead, and sampling off (a sampled object takes a span of its
 * own and is never cached).
 */
#include <pthread.h>

#include "testlib.h"

#define IDLE_BYTES 3000
#define IDLE_COUNT 512
#define KEPT_MIN ((uint64_t)512 << 10)
#define BUSY_BYTES 64
#define BUSY_COUNT 65536

/* The statistics of the class that serves `bytes` (the smallest class
 * at least that big), or NULL. */
static const hs_class_stats_t *class_of(const hs_stats_t *s, uint64_t bytes) {
  const hs_class_stats_t *best = NULL;
  for (uint64_t i = 0; i < s->class_count && i < HS_STATS_MAX_CLASSES; i++) {
    const hs_class_stats_t *c = &s->classes[i];
    if (c->size_bytes >= bytes && (!best || c->size_bytes < best->size_bytes)) best = c;
  }
  return best;
}

static uint64_t cached_bytes(const hs_stats_t *s, uint64_t bytes) {
  const hs_class_stats_t *c = class_of(s, bytes);
  return c ? c->thread_cache_objects * c->size_bytes : 0;
}

static void *worker(void *arg) {
  (void)arg;
  unsigned char **objects = malloc(BUSY_COUNT * sizeof *objects);
  if (!CHECK(objects != NULL)) return NULL;
  if (!testlib_fill_objects(objects, IDLE_COUNT, 0, 1, IDLE_BYTES)) return NULL;
  for (size_t i = 0; i < IDLE_COUNT; i++) free(objects[i]);
  hs_stats_t before = testlib_stats();
  uint64_t idle_cached = cached_bytes(&before, IDLE_BYTES);
  if (!CHECK_MSG(idle_cached >= KEPT_MIN, "after the frees the %d-byte class caches %llu bytes (want >= %llu)",
                 IDLE_BYTES, (unsigned long long)idle_cached, (unsigned long long)KEPT_MIN))
    return NULL;

  if (!testlib_fill_objects(objects, BUSY_COUNT, 0, 1, BUSY_BYTES)) return NULL;
  hs_stats_t after = testlib_stats();
  uint64_t still = cached_bytes(&after, IDLE_BYTES);
  CHECK_MSG(still == 0, "the idle %d-byte class still caches %llu bytes (%llu before)", IDLE_BYTES,
            (unsigned long long)still, (unsigned long long)idle_cached);
  uint64_t busy_bytes = (uint64_t)BUSY_COUNT * BUSY_BYTES;
  CHECK_MSG(after.heap_inuse + idle_cached / 2 <= before.heap_inuse + busy_bytes,
            "heap_inuse %llu -> %llu for %llu bytes of objects: the idle class's spans stayed in use",
            (unsigned long long)before.heap_inuse, (unsigned long long)after.heap_inuse,
            (unsigned long long)busy_bytes);
  size_t overwritten = testlib_count_overwritten(objects, BUSY_COUNT, 0, 1, BUSY_BYTES);
  CHECK_MSG(overwritten == 0, "%zu of %d objects were overwritten", overwritten, BUSY_COUNT);
  for (size_t i = 0; i < BUSY_COUNT; i++) free(objects[i]);
  free(objects);
  return NULL;
}

int main(int argc, char **argv) {
  (void)argc;
  testlib_run_with_option(argv, "release_on_drain=0,sample_rate_bytes=0");
  if (testlib_skip_unless_heapscope()) return testlib_done();
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, worker, NULL) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  return testlib_done();
}
