/* full_span_test.c — spans that filled up take objects back.
 *
 * A thread owns the spans it allocates from.  One whose objects are all out
 * sits on its owner's full list, where refills do not look; the first of
 * its objects to come back past the bin moves it to the with_free list
 * (src/tcache.c: a full span's free_limit stops that free on free's fast
 * path, and tcache_free_owned moves the span).  Checked through hs_stats:
 *   1. a thread allocates OBJECT_BYTES-byte objects worth TOTAL_BYTES (every
 *      span but the current one ends up full) and frees every other one,
 *      far more than its bin holds;
 *   2. allocating as many again reuses those objects: heap_inuse grows by
 *      no more than a few sampled objects' pages, where spans left on the
 *      full list would make it grow by about TOTAL_BYTES / 2;
 *   3. the objects kept and the objects allocated again are intact.
 * Runs in a thread of its own so that the main thread's cache does not blur
 * the figures.
 */
#include <pthread.h>

#include "testlib.h"

#define OBJECT_BYTES 48
#define TOTAL_BYTES ((size_t)2 << 20)
#define SAMPLE_SLACK ((uint64_t)128 << 10)

static void *worker(void *arg) {
  (void)arg;
  size_t count = TOTAL_BYTES / OBJECT_BYTES;
  unsigned char **objects = malloc(count * sizeof *objects);
  if (!CHECK(objects != NULL)) return NULL;
  if (!testlib_fill_objects(objects, count, 0, 1, OBJECT_BYTES)) return NULL;
  for (size_t i = 1; i < count; i += 2) free(objects[i]);
  hs_stats_t halved = testlib_stats();

  if (!testlib_fill_objects(objects, count, 1, 2, OBJECT_BYTES)) return NULL;
  hs_stats_t refilled = testlib_stats();
  CHECK_MSG(refilled.heap_inuse <= halved.heap_inuse + SAMPLE_SLACK,
            "heap_inuse %llu -> %llu: allocating %zu objects again took new spans, not "
            "the freed objects of full ones",
            (unsigned long long)halved.heap_inuse, (unsigned long long)refilled.heap_inuse,
            count / 2);
  size_t kept_bad = testlib_count_overwritten(objects, count, 0, 2, OBJECT_BYTES);
  size_t again_bad = testlib_count_overwritten(objects, count, 1, 2, OBJECT_BYTES);
  CHECK_MSG(kept_bad == 0 && again_bad == 0,
            "objects overwritten: %zu of those kept, %zu of those allocated again", kept_bad,
            again_bad);
  for (size_t i = 0; i < count; i++) free(objects[i]);
  free(objects);
  return NULL;
}

int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  if (testlib_skip_unless_heapscope()) return testlib_done();
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, worker, NULL) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  return testlib_done();
}
