/* remote_free_test.c — objects freed by threads that do not own their spans.
 *
 *   remote_free_test [rounds]     default 24 (8 with HEAPSCOPE_TEST_QUICK=1)
 *
 * A thread owns the spans it allocates from (see src/central.h); another
 * thread's free of one of those objects goes through the central lists, and
 * more of them than a transfer cache holds wait on the span's remote list
 * until the owner collects them.  Three shapes:
 *   1. hand-over: a long-lived producer allocates ROUND_OBJECTS objects per
 *      round (several MiB, several times a transfer cache) and a consumer
 *      frees them all.  If the owner never got its objects back it would
 *      claim new spans every round: heap_inuse must stay within a bound
 *      that a leak of one round's worth per round would pass after a few
 *      rounds.
 *   2. owner exit: a thread allocates and exits; main frees its objects
 *      afterwards (the spans were given up at exit).
 *   3. interleaved: two threads each free half of the other's objects and
 *      half of their own, while allocating.
 *   4. fork: a thread allocates, frees some, and idles; the process forks,
 *      and in the child a new thread — whose stack and TLS glibc recycles
 *      from the idle thread, at the same address — frees the idle thread's
 *      objects and allocates through the same classes.  Checked: every
 *      object intact until freed and none handed out twice.  (It does not
 *      see which thread owns a span: an allocator that let the new thread
 *      inherit the old one's idle spans would pass too.)
 * Every object carries a pattern checked before it is freed, and the live
 * object count (mallocs - frees) must come back to where it started.
 */
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

#define ROUND_OBJECTS 65536
#define OBJECT_BYTES 48
#define INUSE_BOUND (24ull << 20)
#define LIVE_SLACK 64

typedef int (*stats_fn_t)(hs_stats_t *);
static stats_fn_t g_stats_fn;

static bool read_stats(hs_stats_t *s) {
  if (!g_stats_fn) return false;
  memset(s, 0, sizeof *s);
  s->struct_size = sizeof *s;
  return g_stats_fn(s) == 0;
}

static void fill(unsigned char *p, size_t n, uintptr_t tag) {
  for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(tag + i);
}

static bool intact(const unsigned char *p, size_t n, uintptr_t tag) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != (unsigned char)(tag + i)) return false;
  return true;
}

/* ---- 1. hand-over between a producer and a consumer ---- */

static void *g_objects[ROUND_OBJECTS];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_produced, g_consumed, g_rounds; /* guarded by g_lock */

static void wait_until(int *counter, int value) {
  pthread_mutex_lock(&g_lock);
  while (*counter < value) pthread_cond_wait(&g_cond, &g_lock);
  pthread_mutex_unlock(&g_lock);
}

static void advance(int *counter) {
  pthread_mutex_lock(&g_lock);
  (*counter)++;
  pthread_cond_broadcast(&g_cond);
  pthread_mutex_unlock(&g_lock);
}

static void *producer(void *arg) {
  (void)arg;
  for (int r = 0; r < g_rounds; r++) {
    wait_until(&g_consumed, r);
    for (int i = 0; i < ROUND_OBJECTS; i++) {
      unsigned char *p = malloc(OBJECT_BYTES);
      if (!CHECK(p != NULL)) break;
      fill(p, OBJECT_BYTES, (uintptr_t)i);
      g_objects[i] = p;
    }
    advance(&g_produced);
  }
  return NULL;
}

static void *consumer(void *arg) {
  uint64_t *peak_inuse = arg;
  for (int r = 0; r < g_rounds; r++) {
    wait_until(&g_produced, r + 1);
    for (int i = 0; i < ROUND_OBJECTS; i++) {
      if (!intact(g_objects[i], OBJECT_BYTES, (uintptr_t)i))
        CHECK_MSG(false, "round %d: object %d overwritten while live", r, i);
      free(g_objects[i]);
    }
    hs_stats_t s;
    if (r >= 2 && read_stats(&s) && s.heap_inuse > *peak_inuse) *peak_inuse = s.heap_inuse;
    advance(&g_consumed);
  }
  return NULL;
}

static void hand_over(int rounds) {
  g_rounds = rounds;
  uint64_t peak_inuse = 0;
  pthread_t p, c;
  if (!CHECK(pthread_create(&p, NULL, producer, NULL) == 0)) return;
  if (!CHECK(pthread_create(&c, NULL, consumer, &peak_inuse) == 0)) return;
  pthread_join(p, NULL);
  pthread_join(c, NULL);
  printf("hand-over: %d rounds of %d x %d B, peak heap_inuse %.1f MiB\n", rounds,
         ROUND_OBJECTS, OBJECT_BYTES, (double)peak_inuse / (1 << 20));
  if (g_stats_fn)
    CHECK_MSG(peak_inuse <= INUSE_BOUND,
              "heap_inuse reached %llu bytes: freed objects are not reused",
              (unsigned long long)peak_inuse);
}

/* ---- 2. the owner exits before its objects are freed ---- */

#define EXIT_OBJECTS 20000

static void *allocate_and_exit(void *arg) {
  void **objects = arg;
  for (int i = 0; i < EXIT_OBJECTS; i++) {
    size_t n = 16 + (size_t)(i % 40) * 8;
    unsigned char *p = malloc(n);
    if (!CHECK(p != NULL)) return NULL;
    fill(p, n, (uintptr_t)i);
    objects[i] = p;
    if (i % 3 == 0) { /* some go back while the owner still runs */
      free(p);
      objects[i] = NULL;
    }
  }
  return NULL;
}

static void owner_exit(void) {
  static void *objects[EXIT_OBJECTS];
  pthread_t t;
  if (!CHECK(pthread_create(&t, NULL, allocate_and_exit, objects) == 0)) return;
  pthread_join(t, NULL);
  for (int i = 0; i < EXIT_OBJECTS; i++) {
    if (!objects[i]) continue;
    size_t n = 16 + (size_t)(i % 40) * 8;
    if (!intact(objects[i], n, (uintptr_t)i)) CHECK_MSG(false, "object %d overwritten", i);
    free(objects[i]);
  }
  /* The spans are the class's again: new allocations may reuse them. */
  for (int i = 0; i < EXIT_OBJECTS; i++) {
    objects[i] = malloc(64);
    CHECK(objects[i] != NULL);
  }
  for (int i = 0; i < EXIT_OBJECTS; i++) free(objects[i]);
}

/* ---- 3. two threads freeing each other's objects ---- */

#define SWAP_OBJECTS 50000

typedef struct {
  void **mine, **theirs;
  pthread_barrier_t *barrier;
} swapper_t;

static void *swapper(void *arg) {
  swapper_t *s = arg;
  for (int i = 0; i < SWAP_OBJECTS; i++) {
    size_t n = 16 + (size_t)(i % 25) * 16;
    s->mine[i] = malloc(n);
    if (!CHECK(s->mine[i] != NULL)) return NULL;
    fill(s->mine[i], n, (uintptr_t)i);
  }
  pthread_barrier_wait(s->barrier);
  /* Even indices: free the other thread's; odd: my own.  Allocate as we go
   * so that remote objects are collected while the owner is busy. */
  for (int i = 0; i < SWAP_OBJECTS; i++) {
    size_t n = 16 + (size_t)(i % 25) * 16;
    void **from = i % 2 == 0 ? s->theirs : s->mine;
    if (!intact(from[i], n, (uintptr_t)i)) CHECK_MSG(false, "object %d overwritten", i);
    free(from[i]);
    void *q = malloc(n);
    if (CHECK(q != NULL)) free(q);
  }
  pthread_barrier_wait(s->barrier);
  return NULL;
}

static void interleaved(void) {
  static void *a[SWAP_OBJECTS], *b[SWAP_OBJECTS];
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, 2);
  swapper_t sa = {a, b, &barrier}, sb = {b, a, &barrier};
  pthread_t ta, tb;
  if (!CHECK(pthread_create(&ta, NULL, swapper, &sa) == 0)) return;
  if (!CHECK(pthread_create(&tb, NULL, swapper, &sb) == 0)) return;
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  pthread_barrier_destroy(&barrier);
}

/* ---- 4. objects of a thread that did not survive a fork ---- */

#define IDLE_OBJECTS 3000

static void *g_idle_objects[IDLE_OBJECTS];
static pthread_mutex_t g_idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_idle_cond = PTHREAD_COND_INITIALIZER;
static int g_idle_ready, g_idle_release; /* guarded by g_idle_lock */

static size_t idle_size(int i) { return 16 + (size_t)(i % 20) * 16; }

static void *idle_owner(void *arg) {
  (void)arg;
  for (int i = 0; i < IDLE_OBJECTS; i++) {
    g_idle_objects[i] = malloc(idle_size(i));
    if (!CHECK(g_idle_objects[i] != NULL)) break;
    fill(g_idle_objects[i], idle_size(i), (uintptr_t)i);
  }
  for (int i = 0; i < IDLE_OBJECTS; i += 3) { /* some free slots in its spans */
    free(g_idle_objects[i]);
    g_idle_objects[i] = NULL;
  }
  pthread_mutex_lock(&g_idle_lock);
  g_idle_ready = 1;
  pthread_cond_broadcast(&g_idle_cond);
  while (!g_idle_release) pthread_cond_wait(&g_idle_cond, &g_idle_lock);
  pthread_mutex_unlock(&g_idle_lock);
  return NULL;
}

static void *heir(void *arg) {
  bool *ok = arg;
  *ok = true;
  for (int i = 0; i < IDLE_OBJECTS; i++) {
    if (!g_idle_objects[i]) continue;
    if (!intact(g_idle_objects[i], idle_size(i), (uintptr_t)i)) *ok = false;
    free(g_idle_objects[i]);
  }
  /* Allocate through the classes those spans serve, and check that no
   * object is handed out twice. */
  enum { ROUNDS = 20, LIVE = 2000 };
  static unsigned char *live[LIVE];
  for (int r = 0; r < ROUNDS; r++) {
    for (int i = 0; i < LIVE; i++) {
      live[i] = malloc(idle_size(i));
      if (!live[i]) { *ok = false; return NULL; }
      fill(live[i], idle_size(i), (uintptr_t)(i + r));
    }
    for (int i = 0; i < LIVE; i++) {
      if (!intact(live[i], idle_size(i), (uintptr_t)(i + r))) *ok = false;
      free(live[i]);
    }
  }
  return NULL;
}

static void owner_lost_in_fork(void) {
  pthread_t t;
  if (!CHECK(pthread_create(&t, NULL, idle_owner, NULL) == 0)) return;
  pthread_mutex_lock(&g_idle_lock);
  while (!g_idle_ready) pthread_cond_wait(&g_idle_cond, &g_idle_lock);
  pthread_mutex_unlock(&g_idle_lock);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    bool ok = false;
    pthread_t h;
    if (pthread_create(&h, NULL, heir, &ok) != 0) _exit(3);
    pthread_join(h, NULL);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  if (CHECK(pid > 0)) {
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "fork child: status %d (1: an object was overwritten or handed out twice)", status);
  }
  pthread_mutex_lock(&g_idle_lock);
  g_idle_release = 1;
  pthread_cond_broadcast(&g_idle_cond);
  pthread_mutex_unlock(&g_idle_lock);
  pthread_join(t, NULL);
  for (int i = 0; i < IDLE_OBJECTS; i++) free(g_idle_objects[i]);
}

int main(int argc, char **argv) {
  int rounds = testlib_quick() ? 8 : 24;
  if (argc > 1) rounds = atoi(argv[1]);
  if (rounds < 3) {
    fprintf(stderr, "usage: %s [rounds >= 3]\n", argv[0]);
    return 2;
  }
  testlib_expect_heapscope();
  g_stats_fn = (stats_fn_t)hs_fn("hs_stats");
  if (testlib_env_is_1_("HEAPSCOPE_TEST_EXPECT")) CHECK_MSG(g_stats_fn != NULL, "hs_stats not found");
  hs_stats_t before, after;
  bool counted = read_stats(&before);

  hand_over(rounds);
  owner_exit();
  interleaved();
  owner_lost_in_fork();

  if (counted && read_stats(&after)) {
    long long live_before = (long long)(before.mallocs - before.frees);
    long long live_after = (long long)(after.mallocs - after.frees);
    /* Slack: stdout's buffer, and what glibc keeps for the threads' cached
     * stacks. */
    CHECK_MSG(live_after - live_before <= LIVE_SLACK && live_after >= live_before,
              "live objects %lld -> %lld", live_before, live_after);
  }
  return testlib_done();
}
