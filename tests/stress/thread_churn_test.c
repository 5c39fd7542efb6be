/* thread_churn_test.c — tens of thousands of short-lived threads.
 *
 *   thread_churn_test [threads [batch]]     defaults: 20000 32
 *
 * Threads are created in batches that run concurrently.  Kinds of thread:
 *   - workers: malloc/calloc/realloc/free of various sizes, with content
 *     checks; each leaves a few blocks in a shared pool that threads of later
 *     batches (or main) free, after the allocating thread has exited;
 *   - freers: only free blocks that the main thread allocated for them;
 *   - exit-allocators: set a pthread key whose destructor mallocs and frees,
 *     and re-arms itself so that it runs again in later destructor passes —
 *     i.e. after the allocator's own per-thread teardown has likely run;
 *   - detached workers (never joined).
 * The first 2,000 threads warm up; then heap_sys (hs_stats, when heapscope
 * is loaded) and RSS (/proc/self/statm) are recorded, and at the end they must
 * not have grown by more than 64 MiB each.  With HEAPSCOPE_TEST_EXPECT=1 the
 * count of live objects (mallocs - frees) must also be back where it started.
 * HEAPSCOPE_TEST_QUICK=1 runs 4,000 threads instead.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#define WARMUP 2000
#define RSS_BOUND (64ull << 20)
#define HEAP_BOUND (64ull << 20)
#define LIVE_SLACK 200
#define POOL_CAP 4096
#define FREER_BLOCKS 64

typedef struct {
  unsigned char *p;
  size_t size;
} block_t;

static uint64_t g_seed = 0x0123456789abcdefull;
static pthread_key_t g_key;

static struct {
  pthread_mutex_t lock;
  size_t n;
  block_t b[POOL_CAP];
} g_pool = {PTHREAD_MUTEX_INITIALIZER, 0, {{0, 0}}};

static int g_detached_done; /* atomic */
static uint64_t g_dtor_calls, g_dtor_late; /* atomic */

/* ------------------------------------------------------------- helpers */

static size_t rnd_size(uint64_t *s) {
  uint64_t r = testlib_random_below(s, 1000);
  if (r < 700) return 1 + (size_t)testlib_random_below(s, 256);
  if (r < 960) return 257 + (size_t)testlib_random_below(s, 8192);
  if (r < 998) return 8449 + (size_t)testlib_random_below(s, 120000);
  return 262144 + (size_t)testlib_random_below(s, 1u << 20);
}

/* The pattern of testlib.h, keyed by this test's seed. */
static void fill(block_t *b) { testlib_pattern_fill(b->p, b->size, g_seed); }

static size_t check_as(const unsigned char *p, size_t len, const void *owner,
                       size_t owner_size) {
  return testlib_pattern_check(p, len, owner, owner_size, g_seed);
}

static bool verify(const block_t *b, const char *when) {
  size_t bad = check_as(b->p, b->size, b->p, b->size);
  return CHECK_MSG(bad == (size_t)-1, "%s: block %p size %zu corrupted at offset %zu",
                   when, (void *)b->p, b->size, bad);
}

static bool new_block(block_t *b, size_t size, bool zeroed, const char *what) {
  b->p = zeroed ? calloc(1, size) : malloc(size);
  b->size = size;
  if (!CHECK_MSG(b->p != NULL, "%s: allocation of %zu failed", what, size)) {
    b->size = 0;
    return false;
  }
  if (zeroed) {
    size_t bad = (size_t)-1;
    for (size_t i = 0; i < size && bad == (size_t)-1; i += i < 4096 ? 1 : 509)
      if (b->p[i]) bad = i;
    CHECK_MSG(bad == (size_t)-1, "%s: calloc(1, %zu) byte %zu not zero", what, size, bad);
  }
  fill(b);
  return true;
}

static void free_block(block_t *b, const char *when) {
  if (!b->p) return;
  verify(b, when);
  free(b->p);
  b->p = NULL;
  b->size = 0;
}

static void realloc_block(block_t *b, size_t nsz, const char *when) {
  if (!verify(b, when)) return;
  block_t old = *b;
  unsigned char *p = realloc(b->p, nsz);
  if (!CHECK_MSG(p != NULL, "%s: realloc(%zu) failed", when, nsz)) return;
  size_t keep = old.size < nsz ? old.size : nsz;
  size_t bad = check_as(p, keep, old.p, old.size);
  CHECK_MSG(bad == (size_t)-1, "%s: realloc %zu -> %zu lost contents at offset %zu", when,
            old.size, nsz, bad);
  b->p = p;
  b->size = nsz;
  fill(b);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* RSS from /proc/self/statm, read without stdio (no malloc). */
static uint64_t statm_rss(void) {
  char buf[256];
  int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *s = strchr(buf, ' ');
  return s ? strtoull(s + 1, NULL, 10) * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

typedef int (*stats_fn_t)(hs_stats_t *);
static stats_fn_t g_stats_fn;

static bool get_stats(hs_stats_t *s) {
  memset(s, 0, sizeof *s);
  s->struct_size = sizeof *s;
  return g_stats_fn && g_stats_fn(s) == 0;
}

/* ------------------------------------------------------------ threads */

static void pool_put(block_t *b) {
  bool ok = false;
  pthread_mutex_lock(&g_pool.lock);
  if (g_pool.n < POOL_CAP) {
    g_pool.b[g_pool.n++] = *b;
    ok = true;
  }
  pthread_mutex_unlock(&g_pool.lock);
  if (ok) b->p = NULL, b->size = 0;
  else free_block(b, "worker free (pool full)");
}

static bool pool_take(block_t *b) {
  bool ok = false;
  pthread_mutex_lock(&g_pool.lock);
  if (g_pool.n) {
    *b = g_pool.b[--g_pool.n];
    ok = true;
  }
  pthread_mutex_unlock(&g_pool.lock);
  return ok;
}

static void work(uint64_t seed) {
  uint64_t rng = testlib_mix64(seed) | 1;
  enum { N = 48 };
  block_t bs[N];
  int n = 8 + (int)testlib_random_below(&rng, N - 8);
  for (int i = 0; i < n; i++) new_block(&bs[i], rnd_size(&rng), i % 5 == 0, "worker");
  for (int i = 0; i < n; i += 3) realloc_block(&bs[i], rnd_size(&rng), "worker realloc");
  /* Free blocks left by threads that have exited. */
  for (int k = 0; k < 4; k++) {
    block_t b;
    if (pool_take(&b)) free_block(&b, "worker free of a pool block");
  }
  for (int i = 0; i < n; i++) {
    if (i < 3) pool_put(&bs[i]);
    else free_block(&bs[i], "worker free");
  }
}

static void *worker_thread(void *arg) {
  work((uint64_t)(uintptr_t)arg);
  return (void *)1;
}

static void *detached_thread(void *arg) {
  work((uint64_t)(uintptr_t)arg);
  __atomic_add_fetch(&g_detached_done, 1, __ATOMIC_RELEASE);
  return NULL;
}

static void *freer_thread(void *arg) {
  block_t *bs = arg;
  for (int i = 0; i < FREER_BLOCKS; i++) free_block(&bs[i], "freer: block from main");
  return (void *)1;
}

typedef struct {
  int pass;
  block_t b;
} keyval_t;

/* Runs at thread exit, possibly several passes: allocates and frees each time
 * and re-arms itself for the next pass up to 3 times. */
static void key_dtor(void *v) {
  keyval_t *kv = v;
  __atomic_add_fetch(&g_dtor_calls, 1, __ATOMIC_RELAXED);
  if (kv->pass > 0) __atomic_add_fetch(&g_dtor_late, 1, __ATOMIC_RELAXED);
  uint64_t rng = testlib_mix64((uint64_t)(uintptr_t)kv) | 1;
  free_block(&kv->b, "key destructor");
  block_t tmp[6];
  for (int i = 0; i < 6; i++) new_block(&tmp[i], rnd_size(&rng), i == 2, "key destructor");
  realloc_block(&tmp[1], rnd_size(&rng), "key destructor realloc");
  for (int i = 0; i < 6; i++) free_block(&tmp[i], "key destructor");
  if (kv->pass < 3) {
    keyval_t *next = malloc(sizeof *next);
    if (CHECK_MSG(next != NULL, "key destructor: malloc failed")) {
      next->pass = kv->pass + 1;
      new_block(&next->b, rnd_size(&rng), false, "key destructor");
      CHECK(pthread_setspecific(g_key, next) == 0);
    }
  }
  free(kv);
}

static void *exit_alloc_thread(void *arg) {
  uint64_t rng = testlib_mix64((uint64_t)(uintptr_t)arg) | 1;
  keyval_t *kv = malloc(sizeof *kv);
  if (!CHECK_MSG(kv != NULL, "malloc failed")) return NULL;
  kv->pass = 0;
  new_block(&kv->b, rnd_size(&rng), false, "exit-allocator");
  CHECK(pthread_setspecific(g_key, kv) == 0);
  work(testlib_random(&rng));
  return (void *)1;
}

/* --------------------------------------------------------------- main */

typedef struct {
  const char *when;
  int threads;
  uint64_t statm, heap_sys, sys, rss, tcache, live;
  bool have;
} sample_t;

static sample_t sample(const char *when, int threads) {
  sample_t s = {when, threads, statm_rss(), 0, 0, 0, 0, 0, false};
  hs_stats_t st;
  if (get_stats(&st)) {
    s.have = true;
    s.heap_sys = st.heap_sys;
    s.sys = st.sys;
    s.rss = st.rss;
    s.tcache = st.thread_cache_bytes;
    s.live = st.mallocs - st.frees;
  }
  if (s.have)
    printf("thread_churn_test: %-8s %6d threads: statm RSS %7.1f MiB, hs rss %7.1f MiB, "
           "heap_sys %7.1f MiB, sys %7.1f MiB, thread caches %6.1f MiB, live objects %" PRIu64
           "\n",
           when, threads, s.statm / 1048576.0, s.rss / 1048576.0, s.heap_sys / 1048576.0,
           s.sys / 1048576.0, s.tcache / 1048576.0, s.live);
  else
    printf("thread_churn_test: %-8s %6d threads: statm RSS %7.1f MiB\n", when, threads,
           s.statm / 1048576.0);
  fflush(stdout);
  return s;
}

int main(int argc, char **argv) {
  int total = testlib_quick() ? 4000 : 20000;
  int batch = 32;
  if (argc > 1) total = atoi(argv[1]);
  if (argc > 2) batch = atoi(argv[2]);
  if (total < 1 || batch < 1 || batch > 1024) {
    fprintf(stderr, "usage: %s [threads [batch]]\n", argv[0]);
    return 2;
  }
  testlib_expect_heapscope();
  bool expect = testlib_env_is_1_("HEAPSCOPE_TEST_EXPECT");
  g_stats_fn = (stats_fn_t)hs_fn("hs_stats");
  if (expect) CHECK_MSG(g_stats_fn != NULL, "hs_stats not found");
  if (!CHECK(pthread_key_create(&g_key, key_dtor) == 0)) return testlib_done();
  printf("thread_churn_test: %d threads in batches of %d\n", total, batch);
  sample_t start = sample("start", 0);

  pthread_t *tids = calloc((size_t)batch, sizeof *tids);
  bool *joinable = calloc((size_t)batch, sizeof *joinable);
  block_t(*freer_blocks)[FREER_BLOCKS] = calloc((size_t)batch, sizeof *freer_blocks);
  if (!CHECK(tids && joinable && freer_blocks)) return testlib_done();
  pthread_attr_t detach;
  pthread_attr_init(&detach);
  pthread_attr_setdetachstate(&detach, PTHREAD_CREATE_DETACHED);

  uint64_t rng = g_seed;
  int created = 0, detached = 0, kinds[4] = {0, 0, 0, 0};
  sample_t warm = start;
  double t0 = now();
  int warm_at = total > WARMUP * 2 ? WARMUP : total / 2;
  while (created < total) {
    int nb = total - created < batch ? total - created : batch;
    int expect_detached = detached;
    for (int i = 0; i < nb; i++) {
      int idx = created + i, kind = idx % 16 == 0 ? 1 : idx % 16 == 1 ? 2 : idx % 16 == 2 ? 3 : 0;
      void *(*fn)(void *) = worker_thread;
      void *arg = (void *)(uintptr_t)testlib_random(&rng);
      const pthread_attr_t *attr = NULL;
      if (kind == 1) {
        for (int k = 0; k < FREER_BLOCKS; k++)
          new_block(&freer_blocks[i][k], rnd_size(&rng), k % 7 == 0, "main for freer");
        fn = freer_thread;
        arg = freer_blocks[i];
      } else if (kind == 2) {
        fn = exit_alloc_thread;
      } else if (kind == 3) {
        fn = detached_thread;
        attr = &detach;
      }
      int r = pthread_create(&tids[i], attr, fn, arg);
      joinable[i] = r == 0 && kind != 3;
      if (!CHECK_MSG(r == 0, "pthread_create #%d: %s", idx, strerror(r))) {
        if (kind == 1)
          for (int k = 0; k < FREER_BLOCKS; k++) free_block(&freer_blocks[i][k], "main");
        continue;
      }
      kinds[kind]++;
      if (kind == 3) expect_detached++;
    }
    for (int i = 0; i < nb; i++)
      if (joinable[i]) {
        void *ret = NULL;
        pthread_join(tids[i], &ret);
        CHECK_MSG(ret == (void *)1, "thread #%d failed", created + i);
      }
    /* Detached threads: wait until they have done their work. */
    double deadline = now() + 30;
    while (__atomic_load_n(&g_detached_done, __ATOMIC_ACQUIRE) < expect_detached) {
      if (!CHECK_MSG(now() < deadline, "detached threads did not finish")) break;
      struct timespec ts = {0, 100000};
      nanosleep(&ts, NULL);
    }
    detached = expect_detached;
    int before = created;
    created += nb;
    if (before < warm_at && created >= warm_at) warm = sample("warm", created);
    else if (created / 5000 != before / 5000 && created < total) sample("progress", created);
  }
  double t1 = now();
  /* Let the last detached threads finish exiting before measuring. */
  struct timespec ts = {0, 50000000};
  nanosleep(&ts, NULL);
  block_t b;
  size_t pooled = 0;
  while (pool_take(&b)) {
    free_block(&b, "main free of a pool block");
    pooled++;
  }
  free(tids);
  free(joinable);
  free(freer_blocks);
  pthread_attr_destroy(&detach);
  sample_t end = sample("end", created);

  printf("thread_churn_test: %d threads in %.2f s (%d workers, %d freers, %d exit-allocators, "
         "%d detached); key destructor ran %" PRIu64 " times (%" PRIu64
         " in later passes); %zu pooled blocks freed by main\n",
         created, t1 - t0, kinds[0], kinds[1], kinds[2], kinds[3], g_dtor_calls, g_dtor_late,
         pooled);
  CHECK_MSG(g_dtor_late > 0, "the key destructor never ran a second pass");
  int64_t rss_growth = (int64_t)end.statm - (int64_t)warm.statm;
  printf("thread_churn_test: growth after warm-up (%d threads): statm RSS %+.1f MiB (bound %llu)",
         warm.threads, rss_growth / 1048576.0, RSS_BOUND >> 20);
  if (end.have && warm.have)
    printf(", heap_sys %+.1f MiB (bound %llu), sys %+.1f MiB, thread caches %+.1f MiB",
           ((int64_t)end.heap_sys - (int64_t)warm.heap_sys) / 1048576.0, HEAP_BOUND >> 20,
           ((int64_t)end.sys - (int64_t)warm.sys) / 1048576.0,
           ((int64_t)end.tcache - (int64_t)warm.tcache) / 1048576.0);
  printf("\n");
  CHECK_MSG(rss_growth < (int64_t)RSS_BOUND,
            "RSS grew by %.1f MiB between %d and %d threads (bound %llu MiB)",
            rss_growth / 1048576.0, warm.threads, created, RSS_BOUND >> 20);
  if (end.have && warm.have) {
    CHECK_MSG(end.heap_sys < warm.heap_sys + HEAP_BOUND,
              "heap_sys grew from %.1f to %.1f MiB between %d and %d threads",
              warm.heap_sys / 1048576.0, end.heap_sys / 1048576.0, warm.threads, created);
    CHECK_MSG(end.tcache < warm.tcache + HEAP_BOUND,
              "thread_cache_bytes grew from %.1f to %.1f MiB: caches of exited threads kept?",
              warm.tcache / 1048576.0, end.tcache / 1048576.0);
  }
  if (expect && end.have && start.have)
    CHECK_MSG(end.live < start.live + LIVE_SLACK && start.live < end.live + LIVE_SLACK,
              "live objects (mallocs - frees) %" PRIu64 " at start, %" PRIu64
              " at the end after everything was freed",
              start.live, end.live);
  return testlib_done();
}
