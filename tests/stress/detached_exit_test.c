/* detached_exit_test.c — detached threads that never allocate, exiting.
 *
 * A detached thread's exit puts its stack in glibc's stack cache and, when
 * the cache is over its limit (40 MiB), frees the oldest cached stacks,
 * with their TLS blocks (DTVs allocated by the creating thread with our
 * malloc): a free() from a thread whose key destructors have already run.
 * If that free gave the thread a cache of its own, its destructor would
 * never unregister it, and the registry of caches would keep a pointer into
 * a stack that is later unmapped or reused: hs_stats (which walks the
 * registry) or the next thread's first malloc would crash or corrupt it.
 *
 * Rounds of four detached threads with 16 MiB stacks that allocate nothing
 * and exit one after another, so that the third and fourth exits overflow
 * the cache; after each exit the main thread reads hs_stats and starts a
 * thread that allocates.  Then a thread that only frees (objects another
 * thread allocated) must get its cache at its 64th free and keep the
 * counters right, and a thread whose first call frees another thread's
 * object must not get that cache line back.
 */
#include <pthread.h>
#include <semaphore.h>

#include "testlib.h"

#define STACK_BYTES (16u << 20)
#define ROUNDS 30
#define THREADS_PER_ROUND 4

static sem_t started, go;

static void *idle_body(void *arg) {
  (void)arg; /* no allocation in this thread's life */
  sem_post(&started);
  sem_wait(&go);
  return NULL;
}

static void *allocating_body(void *arg) {
  void *volatile p = malloc((size_t)(uintptr_t)arg);
  free(p);
  return NULL;
}

/* Frees the object it is handed, made by the main thread next to others,
 * then allocates objects of the same size: none may share the freed one's
 * cache line (passive false sharing, the cache-scratch shape: frees before
 * a thread has a cache must not feed the next refill). */
static void *scratch_body(void *arg) {
  uintptr_t freed = (uintptr_t)arg;
  free(arg);
  int near = 0;
  void *mine[64];
  for (int i = 0; i < 64; i++) {
    mine[i] = malloc(8);
    near += (uintptr_t)mine[i] / 64 == freed / 64;
  }
  for (int i = 0; i < 64; i++) free(mine[i]);
  return (void *)(intptr_t)near;
}

/* Frees every object it is handed: a thread whose calls are all frees.
 * Returns the frees its own counters saw (those after its cache attached). */
static void *freeing_body(void *arg) {
  void **objects = arg;
  for (int i = 0; objects[i]; i++) free(objects[i]);
  hs_thread_counters_t (*counters)(void) =
      (hs_thread_counters_t(*)(void))hs_fn("hs_thread_counters");
  return (void *)(uintptr_t)(counters ? counters().frees : 0);
}

static void start_detached(pthread_attr_t *attr, void *(*body)(void *), void *arg) {
  pthread_t thread;
  int error = pthread_create(&thread, attr, body, arg);
  CHECK_MSG(error == 0, "pthread_create: %s", strerror(error));
}

int main(void) {
  testlib_expect_heapscope();
  sem_init(&started, 0, 0);
  sem_init(&go, 0, 0);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, STACK_BYTES);
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < THREADS_PER_ROUND; i++) start_detached(&attr, idle_body, NULL);
    for (int i = 0; i < THREADS_PER_ROUND; i++) sem_wait(&started);
    for (int i = 0; i < THREADS_PER_ROUND; i++) {
      sem_post(&go);
      usleep(3000); /* it exits: its stack goes to the cache */
      hs_stats_t stats = testlib_stats();
      CHECK(stats.frees <= stats.mallocs);
    }
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, allocating_body, (void *)(uintptr_t)(16 + round)) == 0);
    pthread_join(thread, NULL);
  }

  /* Two workers each free an object of the main thread's, then allocate.
   * Sampling off: a sampled object lies on a span of its own, whose page
   * its free gives back and the worker's next span may reuse, so a sampled
   * object's line can hold the worker's objects with no other object of
   * the main thread's on it (at every allocation sampled, all 40 checks
   * fail that way; at the default rate, once in some 500 runs). */
  int64_t (*set_rate)(int64_t) = (int64_t (*)(int64_t))hs_fn("hs_prof_set_rate");
  int64_t rate_before = set_rate ? set_rate(0) : 0;
  for (int round = 0; round < 20; round++) {
    void *given[2] = {malloc(8), malloc(8)};
    pthread_t workers[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&workers[i], NULL, scratch_body, given[i]) == 0);
    for (int i = 0; i < 2; i++) {
      void *near;
      pthread_join(workers[i], &near);
      if (hs_fn("hs_stats"))
        CHECK_MSG(near == NULL, "round %d: %ld objects on the freed object's cache line", round,
                  (long)(intptr_t)near);
    }
  }
  if (set_rate) set_rate(rate_before);

  /* A thread that only frees gets its cache at its 64th free (its own
   * counters count the frees from there on), and every free counts. */
  enum { OBJECTS = 5000 };
  void **objects = calloc(OBJECTS + 1, sizeof *objects);
  for (int i = 0; i < OBJECTS; i++) objects[i] = malloc(48);
  hs_stats_t before = testlib_stats();
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, freeing_body, objects) == 0);
  void *own_frees;
  pthread_join(thread, &own_frees);
  hs_stats_t after = testlib_stats();
  if (hs_fn("hs_stats")) { /* heapscope loaded */
    CHECK_MSG((uintptr_t)own_frees == OBJECTS - 63, "the thread's own counters saw %lu frees",
              (unsigned long)(uintptr_t)own_frees);
    CHECK_MSG(after.frees - before.frees >= OBJECTS, "frees counted %llu of %d",
              (unsigned long long)(after.frees - before.frees), OBJECTS);
    CHECK(after.mallocs - after.frees == after.live_objects);
  }
  free(objects);
  return testlib_done();
}
