/* idle_threads_test.c — what idle threads keep of big objects.
 *
 * THREADS threads each allocate, fill and free one object of each of the
 * classes whose span holds a single object (over 128 KiB), then wait.  A
 * thread's bins keep big objects (over 32 KiB) only within 256 KiB a thread
 * plus 16 MiB shared by all threads, and a big class's span whose objects
 * are all back goes to the page heap even while the thread allocates from
 * it (src/tcache.c, TCACHE_BIG_*).  Checked through hs_stats while the
 * threads wait:
 *   1. the bytes cached in threads grew by at most BIG_TOTAL + THREADS x
 *      BIG_THREAD (69 MiB in all, 551 KiB a thread, before);
 *   2. so did the page heap's pages in use (the rest went back to it);
 *   3. one more round in every thread reuses those pages: heap_sys does not
 *      grow by more than the same bound.
 * Checks 1 and 2 fail with a library without those bounds; check 3 guards
 * what they rely on (pages given back are taken again), which such a
 * library passes too.
 * With release_on_drain=0, so that no drain flushes caches behind the
 * test's back.
 */
#include <pthread.h>
#include <string.h>

#include "testlib.h"

#define THREADS 128
#define BIG_THREAD ((uint64_t)256 << 10)
#define BIG_TOTAL ((uint64_t)16 << 20)
#define SLACK ((uint64_t)2 << 20) /* the main thread's and sampled objects' pages */

/* One request for each class of a single object a span, 144 KiB - 256 KiB. */
static const size_t sizes[] = {140000, 190000, 250000, 262144};

static pthread_barrier_t done, measured, again_done, again_measured;

static void use_every_size(void) {
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *p = malloc(sizes[i]);
    if (!CHECK(p != NULL)) continue;
    memset(p, (int)i + 1, sizes[i]);
    CHECK(p[sizes[i] - 1] == (unsigned char)(i + 1));
    free(p);
  }
}

static void *worker(void *arg) {
  (void)arg;
  use_every_size();
  pthread_barrier_wait(&done);
  pthread_barrier_wait(&measured);
  use_every_size();
  pthread_barrier_wait(&again_done);
  pthread_barrier_wait(&again_measured);
  return NULL;
}

int main(int argc, char **argv) {
  (void)argc;
  testlib_run_with_option(argv, "release_on_drain=0");
  if (testlib_skip_unless_heapscope()) return testlib_done();
  pthread_barrier_init(&done, NULL, THREADS + 1);
  pthread_barrier_init(&measured, NULL, THREADS + 1);
  pthread_barrier_init(&again_done, NULL, THREADS + 1);
  pthread_barrier_init(&again_measured, NULL, THREADS + 1);
  hs_stats_t before = testlib_stats();
  pthread_t threads[THREADS];
  int started = 0;
  for (; started < THREADS; started++)
    if (pthread_create(&threads[started], NULL, worker, NULL) != 0) break;
  if (!CHECK_MSG(started == THREADS, "started %d of %d threads", started, THREADS)) return 1;

  pthread_barrier_wait(&done);
  hs_stats_t idle = testlib_stats();
  uint64_t bound = BIG_TOTAL + THREADS * BIG_THREAD + SLACK;
  uint64_t cached = idle.thread_cache_bytes - before.thread_cache_bytes;
  CHECK_MSG(cached <= bound, "%d idle threads cache %llu bytes (at most %llu)", THREADS,
            (unsigned long long)cached, (unsigned long long)bound);
  uint64_t inuse = idle.heap_inuse - before.heap_inuse;
  CHECK_MSG(inuse <= bound, "%d idle threads hold %llu bytes of spans (at most %llu)", THREADS,
            (unsigned long long)inuse, (unsigned long long)bound);
  pthread_barrier_wait(&measured);

  pthread_barrier_wait(&again_done);
  hs_stats_t again = testlib_stats();
  CHECK_MSG(again.heap_sys <= idle.heap_sys + bound,
            "heap_sys %llu -> %llu: the second round did not reuse the pages given back",
            (unsigned long long)idle.heap_sys, (unsigned long long)again.heap_sys);
  pthread_barrier_wait(&again_measured);
  for (int i = 0; i < started; i++) CHECK(pthread_join(threads[i], NULL) == 0);
  return testlib_done();
}
