/* stats_invariants_test.c — hs_stats under an 8-thread load.
 *
 * Eight workers malloc and free (16 B – 64 KiB, sometimes 300 KiB – 1 MiB,
 * some frees remote through a shared exchange) and keep a shadow count of
 * the objects they hold.  Meanwhile the main thread reads hs_stats in a
 * loop and checks the invariants of every snapshot: heap_alloc <=
 * heap_alloc_rounded <= heap_inuse <= heap_sys, heap_inuse + heap_idle =
 * heap_sys, heap_released <= heap_idle, frees <= mallocs, per class
 * live + cached + transfer + in-span = slots, nothing "negative" (a wrapped
 * huge value).  Every few rounds the workers stop at a barrier and the
 * exact checks run: mallocs - frees and live_objects both equal the shadow
 * count (plus what was live before the workers started), and mallinfo2
 * agrees with hs_stats.  Also checks hs_stats_json's snprintf contract and
 * that the scavenger thread starts once the heap has grown.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "testlib.h"
#include "scavenger_workload.h"

#define WORKERS 8
#define HELD 2048
#define EXCHANGE 256

static atomic_long shadow_live;   /* objects held by workers (test's count) */
static atomic_int stop_flag, pause_flag;
static pthread_barrier_t paused, resumed;
static pthread_mutex_t exchange_lock = PTHREAD_MUTEX_INITIALIZER;
static void *exchange[EXCHANGE];
static int exchange_count;

static uint64_t next_random(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static size_t random_size(uint64_t *s) {
  uint64_t r = next_random(s) % 1000;
  if (r < 900) return 1 + (size_t)(next_random(s) % 512);
  if (r < 995) return 513 + (size_t)(next_random(s) % 65536);
  return 300 * 1024 + (size_t)(next_random(s) % (700 * 1024));
}

static void *worker(void *arg) {
  uint64_t seed = 0x1234567ull * (uint64_t)(uintptr_t)arg + 99;
  void **held = calloc(HELD, sizeof *held);
  atomic_fetch_add(&shadow_live, 1); /* the array itself */
  while (!atomic_load(&stop_flag)) {
    if (atomic_load(&pause_flag)) {
      pthread_barrier_wait(&paused);
      pthread_barrier_wait(&resumed);
      continue;
    }
    for (int op = 0; op < 64; op++) {
      size_t slot = (size_t)(next_random(&seed) % HELD);
      if (held[slot]) {
        if (next_random(&seed) % 4 == 0) { /* hand it to another thread */
          pthread_mutex_lock(&exchange_lock);
          if (exchange_count < EXCHANGE) {
            exchange[exchange_count++] = held[slot];
            held[slot] = NULL;
          }
          pthread_mutex_unlock(&exchange_lock);
        }
        if (held[slot]) {
          atomic_fetch_sub(&shadow_live, 1);
          free(held[slot]);
          held[slot] = NULL;
        }
      } else {
        size_t size = random_size(&seed);
        held[slot] = malloc(size);
        if (held[slot]) {
          atomic_fetch_add(&shadow_live, 1);
          memset(held[slot], 7, size < 64 ? size : 64);
        }
      }
      void *remote = NULL;
      pthread_mutex_lock(&exchange_lock);
      if (exchange_count > 0 && next_random(&seed) % 2) remote = exchange[--exchange_count];
      pthread_mutex_unlock(&exchange_lock);
      if (remote) {
        atomic_fetch_sub(&shadow_live, 1);
        free(remote);
      }
    }
  }
  for (size_t i = 0; i < HELD; i++)
    if (held[i]) {
      atomic_fetch_sub(&shadow_live, 1);
      free(held[i]);
    }
  atomic_fetch_sub(&shadow_live, 1);
  free(held);
  return NULL;
}

#define HUGE_VALUE ((uint64_t)1 << 62) /* anything above is a wrapped negative */

static int (*stats_fn)(hs_stats_t *);

static void check_snapshot(const hs_stats_t *s) {
  CHECK_MSG(s->heap_alloc <= s->heap_alloc_rounded, "heap_alloc %llu > rounded %llu",
            (unsigned long long)s->heap_alloc, (unsigned long long)s->heap_alloc_rounded);
  CHECK_MSG(s->heap_alloc_rounded <= s->heap_inuse, "heap_alloc_rounded %llu > heap_inuse %llu",
            (unsigned long long)s->heap_alloc_rounded, (unsigned long long)s->heap_inuse);
  CHECK(s->heap_inuse <= s->heap_sys);
  CHECK(s->heap_inuse + s->heap_idle == s->heap_sys);
  CHECK(s->heap_released <= s->heap_idle);
  CHECK_MSG(s->frees <= s->mallocs, "frees %llu > mallocs %llu", (unsigned long long)s->frees,
            (unsigned long long)s->mallocs);
  CHECK(s->sys == s->heap_sys + s->metadata_sys);
  const uint64_t *fields = &s->mallocs;
  size_t count = (size_t)((const uint64_t *)&s->class_count - fields);
  for (size_t i = 0; i < count; i++) CHECK_MSG(fields[i] < HUGE_VALUE, "field %zu = %llu", i,
                                                (unsigned long long)fields[i]);
  CHECK(s->class_count > 0 && s->class_count <= HS_STATS_MAX_CLASSES);
  for (uint64_t c = 0; c < s->class_count; c++) {
    const hs_class_stats_t *k = &s->classes[c];
    CHECK(k->live_objects + k->thread_cache_objects + k->transfer_objects +
              k->span_free_objects == k->slots);
    CHECK(k->live_objects < HUGE_VALUE && k->span_free_objects < HUGE_VALUE);
    CHECK(c == 0 || k->size_bytes > s->classes[c - 1].size_bytes);
  }
}

static void check_json(void) {
  size_t (*json)(char *, size_t) = (size_t (*)(char *, size_t))hs_fn("hs_stats_json");
  if (!CHECK(json != NULL)) return;
  static char big[65536];
  size_t need = json(big, sizeof big);
  CHECK(need > 100 && need < sizeof big);
  CHECK(strlen(big) == need);
  CHECK(big[0] == '{' && big[need - 1] == '}');
  CHECK(strstr(big, "\"heap_alloc\":") && strstr(big, "\"classes\":[{") &&
        strstr(big, "\"fragmentation_bytes\":") && strstr(big, "\"limit_overruns\":"));
  char small[16];
  memset(small, 'x', sizeof small);
  size_t need_small = json(small, sizeof small);
  CHECK(need_small > sizeof small);
  CHECK(small[sizeof small - 1] == 0 && strlen(small) == sizeof small - 1);
  CHECK(json(NULL, 0) > 100);
}

int main(void) {
  testlib_expect_heapscope();
  stats_fn = (int (*)(hs_stats_t *))hs_fn("hs_stats");
  if (!CHECK(stats_fn != NULL)) return testlib_done();
  check_json();
  /* Grow the heap past the scavenger's start size first, with a second
   * thread parked (the scavenger's thread starts only in a process with
   * two): starting it allocates (libc's thread descriptor), which must
   * happen before the baseline below. */
  if (!CHECK(park_thread())) return testlib_done();
  for (int i = 0; i < 4; i++) {
    void *blocks[64];
    for (int j = 0; j < 64; j++) blocks[j] = malloc(8192);
    void *big = malloc((size_t)24 << 20);
    memset(big, 1, (size_t)24 << 20);
    free(big);
    for (int j = 0; j < 64; j++) free(blocks[j]);
  }
  static hs_stats_t first = {.struct_size = sizeof first};
  stats_fn(&first);
  CHECK_MSG(first.scavenger_running == 1, "the scavenger thread did not start");
  pthread_barrier_init(&paused, NULL, WORKERS + 1);
  pthread_barrier_init(&resumed, NULL, WORKERS + 1);
  static hs_stats_t s = {.struct_size = sizeof s};
  stats_fn(&s);
  /* Everything live so far (the test's own and libc's objects) plus the
   * workers' shadow count is what the counters must show at a barrier. */
  atomic_store(&pause_flag, 1);
  pthread_t threads[WORKERS];
  for (long i = 0; i < WORKERS; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
  pthread_barrier_wait(&paused);
  stats_fn(&s);
  long base_counted = (long)(s.mallocs - s.frees) - atomic_load(&shadow_live);
  long base_structural = (long)s.live_objects - atomic_load(&shadow_live);
  atomic_store(&pause_flag, 0);
  pthread_barrier_wait(&resumed);

  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  double seconds = testlib_quick() ? 0.5 : 3.0;
  int rounds = 0, exact_rounds = 0;
  for (;;) {
    stats_fn(&s);
    check_snapshot(&s);
    rounds++;
    if (rounds % 50 == 0) {
      atomic_store(&pause_flag, 1);
      pthread_barrier_wait(&paused);
      /* Quiescent: every worker waits at the barrier. */
      stats_fn(&s);
      check_snapshot(&s);
      long shadow = atomic_load(&shadow_live);
      CHECK_MSG((long)(s.mallocs - s.frees) == base_counted + shadow,
                "mallocs - frees = %ld, expected %ld", (long)(s.mallocs - s.frees),
                base_counted + shadow);
      CHECK_MSG((long)s.live_objects == base_structural + shadow,
                "live_objects = %ld, expected %ld", (long)s.live_objects,
                base_structural + shadow);
      struct mallinfo2 mi = mallinfo2();
      CHECK(mi.uordblks == s.heap_alloc_rounded && mi.arena == s.heap_sys);
      exact_rounds++;
      atomic_store(&pause_flag, 0);
      pthread_barrier_wait(&resumed);
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    if ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) * 1e-9 >
        seconds)
      break;
  }
  atomic_store(&stop_flag, 1);
  for (int i = 0; i < WORKERS; i++) pthread_join(threads[i], NULL);
  stats_fn(&s);
  check_snapshot(&s);
  /* libc frees its per-thread objects at join, so compare the counters
   * with the structures rather than with the baseline. */
  CHECK_MSG((long)(s.mallocs - s.frees) - (long)s.live_objects == base_counted - base_structural,
            "after join: mallocs - frees = %ld, live_objects = %ld", (long)(s.mallocs - s.frees),
            (long)s.live_objects);
  CHECK((long)(s.mallocs - s.frees) <= base_counted);
  fprintf(stderr, "%d snapshots, %d exact rounds\n", rounds, exact_rounds);
  CHECK(exact_rounds >= 1);
  unpark_thread();
  return testlib_done();
}
