/* fork_test.c — fork() while other threads are inside the allocator.
 *
 * Four worker threads malloc/free/realloc continuously (passing blocks to each
 * other, so frees are often remote) while the main thread forks >= 100 times.
 * Every fifth fork is made from a short-lived helper thread instead of main.
 * Each child:
 *   - verifies the contents of the blocks the main thread allocated before the
 *     fork, frees half of them and reallocs others;
 *   - allocates and frees a few thousand blocks of various sizes;
 *   - creates a thread that allocates, and frees more of the pre-fork blocks;
 *   - reads hs_stats (when heapscope is loaded);
 *   - _exit(0) on success, _exit(1) if any check failed.
 * The parent waits for each child with a 10 s deadline: a child stuck in a
 * lock left held across the fork is killed and reported as a failure.
 * A few more children exec /bin/true straight after fork.
 */
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#define NWORKERS 4
#define WSLOTS 256
#define XCAP 256
#define NPRE 512            /* main thread's pre-fork blocks */
#define CHILD_DEADLINE 10.0 /* seconds */
#define MAX_HANGS 3         /* stop forking after this many stuck children */

typedef struct {
  unsigned char *p;
  size_t size;
} block_t;

static uint64_t g_seed = 0xf0f0a5a5c3c3e1e1ull;
static volatile int g_stop;
static uint64_t g_worker_ops[NWORKERS];

static struct {
  pthread_mutex_t lock;
  size_t n;
  block_t b[XCAP];
} g_x = {PTHREAD_MUTEX_INITIALIZER, 0, {{0, 0}}};

static block_t g_pre[NPRE];

/* ------------------------------------------------------------- helpers */

static size_t rnd_size(uint64_t *s) {
  uint64_t r = testlib_random_below(s, 1000);
  if (r < 700) return 1 + (size_t)testlib_random_below(s, 128);
  if (r < 950) return 129 + (size_t)testlib_random_below(s, 4096);
  if (r < 998) return 4097 + (size_t)testlib_random_below(s, 60000);
  return 65536 + (size_t)testlib_random_below(s, 1u << 20);
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

static bool new_block(block_t *b, size_t size, const char *what) {
  b->p = malloc(size);
  b->size = size;
  if (!CHECK_MSG(b->p != NULL, "%s: malloc(%zu) failed", what, size)) {
    b->size = 0;
    return false;
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

static bool realloc_block(block_t *b, size_t nsz, const char *when) {
  if (!verify(b, when)) return false;
  block_t old = *b;
  unsigned char *p = realloc(b->p, nsz);
  if (!CHECK_MSG(p != NULL, "%s: realloc(%zu) failed", when, nsz)) return false;
  size_t keep = old.size < nsz ? old.size : nsz;
  size_t bad = check_as(p, keep, old.p, old.size);
  CHECK_MSG(bad == (size_t)-1, "%s: realloc %zu -> %zu lost contents at offset %zu", when,
            old.size, nsz, bad);
  b->p = p;
  b->size = nsz;
  fill(b);
  return true;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ workers */

static void *worker(void *arg) {
  int id = (int)(intptr_t)arg;
  uint64_t rng = testlib_mix64(g_seed + (uint64_t)id) | 1, ops = 0;
  block_t slots[WSLOTS];
  memset(slots, 0, sizeof slots);
  while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
    block_t *b = &slots[testlib_random_below(&rng, WSLOTS)];
    uint64_t r = testlib_random_below(&rng, 100);
    ops++;
    if (!b->p) {
      if (r < 30) { /* take a block another worker left in the exchange */
        pthread_mutex_lock(&g_x.lock);
        if (g_x.n) *b = g_x.b[--g_x.n];
        pthread_mutex_unlock(&g_x.lock);
        if (b->p) continue;
      }
      new_block(b, rnd_size(&rng), "worker");
    } else if (r < 40) {
      free_block(b, "worker free");
    } else if (r < 65) {
      realloc_block(b, rnd_size(&rng), "worker realloc");
    } else {
      bool given = false;
      pthread_mutex_lock(&g_x.lock);
      if (g_x.n < XCAP) {
        g_x.b[g_x.n++] = *b;
        given = true;
      }
      pthread_mutex_unlock(&g_x.lock);
      if (given) b->p = NULL, b->size = 0;
      else free_block(b, "worker free");
    }
  }
  for (int i = 0; i < WSLOTS; i++) free_block(&slots[i], "worker final free");
  g_worker_ops[id] = ops;
  return NULL;
}

/* -------------------------------------------------------------- child */

typedef int (*stats_fn_t)(hs_stats_t *);
static stats_fn_t g_stats_fn;

static void *child_thread(void *arg) {
  uint64_t rng = (uint64_t)(uintptr_t)arg | 1;
  block_t *bs = calloc(1000, sizeof *bs);
  if (!CHECK_MSG(bs != NULL, "child thread: calloc failed")) return NULL;
  for (int i = 0; i < 1000; i++) new_block(&bs[i], rnd_size(&rng), "child thread");
  /* Free the pre-fork blocks in the second quarter (remote frees: they were
   * allocated by the parent's main thread). */
  for (int i = NPRE / 4; i < NPRE / 2; i++) free_block(&g_pre[i], "child thread pre-fork free");
  for (int i = 0; i < 1000; i += 2) free_block(&bs[i], "child thread free");
  for (int i = 1; i < 1000; i += 2) realloc_block(&bs[i], rnd_size(&rng), "child thread realloc");
  for (int i = 1; i < 1000; i += 2) free_block(&bs[i], "child thread free");
  free(bs);
  return (void *)1;
}

static void child_main(uint64_t seed) {
  unsigned long fails0 = testlib_failures();
  uint64_t rng = testlib_mix64(seed) | 1;
  /* Every pre-fork block is intact. */
  for (int i = 0; i < NPRE; i++)
    if (g_pre[i].p) verify(&g_pre[i], "child: pre-fork block");
  /* Free the first quarter, realloc the last half. */
  for (int i = 0; i < NPRE / 4; i++) free_block(&g_pre[i], "child: pre-fork free");
  for (int i = NPRE / 2; i < NPRE; i += 2)
    if (g_pre[i].p) realloc_block(&g_pre[i], rnd_size(&rng), "child: pre-fork realloc");
  /* A few thousand fresh blocks. */
  enum { N = 3000 };
  block_t *bs = malloc(N * sizeof *bs);
  if (CHECK_MSG(bs != NULL, "child: malloc failed")) {
    for (int i = 0; i < N; i++) new_block(&bs[i], rnd_size(&rng), "child");
    for (int i = 0; i < N; i += 3) free_block(&bs[i], "child free");
    for (int i = 1; i < N; i += 3) realloc_block(&bs[i], rnd_size(&rng), "child realloc");
    for (int i = 0; i < N; i++) free_block(&bs[i], "child free");
    free(bs);
  }
  /* A thread in the child. */
  pthread_t t;
  int r = pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)testlib_random(&rng));
  if (CHECK_MSG(r == 0, "child: pthread_create: %s", strerror(r))) {
    void *ret = NULL;
    pthread_join(t, &ret);
    CHECK_MSG(ret == (void *)1, "child thread failed");
  }
  /* The main thread allocates again after the thread exited. */
  for (int i = NPRE / 2; i < NPRE; i++) free_block(&g_pre[i], "child: pre-fork free");
  void *q[64];
  for (int i = 0; i < 64; i++) {
    q[i] = calloc(1, (size_t)16 << (i % 12));
    CHECK_MSG(q[i] != NULL, "child: calloc after thread failed");
  }
  for (int i = 0; i < 64; i++) free(q[i]);
  if (g_stats_fn) {
    hs_stats_t s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_MSG(g_stats_fn(&s) == 0, "child: hs_stats failed");
    CHECK_MSG(s.mallocs >= s.frees, "child: hs_stats mallocs %" PRIu64 " < frees %" PRIu64,
              s.mallocs, s.frees);
  }
  _exit(testlib_failures() == fails0 ? 0 : 1);
}

/* Waits for pid with a deadline; returns true if it exited with status 0. */
static int g_hangs;
static bool wait_child(pid_t pid, const char *what, int idx) {
  double deadline = now() + CHILD_DEADLINE;
  int st = 0;
  for (;;) {
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid) break;
    if (r < 0) {
      CHECK_MSG(false, "%s %d: waitpid: %s", what, idx, strerror(errno));
      return false;
    }
    if (now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &st, 0);
      g_hangs++;
      CHECK_MSG(false, "%s %d (pid %d) did not finish within %.0f s: deadlock after fork?",
                what, idx, (int)pid, CHILD_DEADLINE);
      return false;
    }
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  if (WIFSIGNALED(st))
    return CHECK_MSG(false, "%s %d killed by signal %d (%s)", what, idx, WTERMSIG(st),
                     strsignal(WTERMSIG(st)));
  return CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %d exited with status %d",
                   what, idx, WEXITSTATUS(st));
}

static void *fork_from_thread(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg;
  pid_t pid = fork();
  if (pid == 0) child_main(seed);
  return (void *)(intptr_t)pid;
}

int main(int argc, char **argv) {
  int nforks = argc > 1 ? atoi(argv[1]) : 120;
  int nexecs = 8;
  testlib_expect_heapscope();
  g_stats_fn = (stats_fn_t)hs_fn("hs_stats");
  uint64_t rng = g_seed;
  for (int i = 0; i < NPRE; i++) new_block(&g_pre[i], rnd_size(&rng), "main");

  pthread_t w[NWORKERS];
  for (int i = 0; i < NWORKERS; i++) {
    int r = pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i);
    if (!CHECK_MSG(r == 0, "pthread_create: %s", strerror(r))) return testlib_done();
  }
  double t0 = now();
  int ok = 0, from_thread = 0;
  for (int i = 0; i < nforks && g_hangs < MAX_HANGS; i++) {
    /* Churn the pre-fork set a little so each child sees different blocks. */
    for (int k = 0; k < 16; k++) {
      block_t *b = &g_pre[testlib_random_below(&rng, NPRE)];
      if (k & 1) realloc_block(b, rnd_size(&rng), "main realloc");
      else {
        free_block(b, "main free");
        new_block(b, rnd_size(&rng), "main");
      }
    }
    fflush(stdout);
    pid_t pid;
    uint64_t cseed = testlib_random(&rng);
    if (i % 5 == 4) {
      pthread_t t;
      void *ret;
      int r = pthread_create(&t, NULL, fork_from_thread, (void *)(uintptr_t)cseed);
      if (!CHECK_MSG(r == 0, "pthread_create: %s", strerror(r))) continue;
      pthread_join(t, &ret);
      pid = (pid_t)(intptr_t)ret;
      from_thread++;
    } else {
      pid = fork();
      if (pid == 0) child_main(cseed);
    }
    if (!CHECK_MSG(pid > 0, "fork: %s", strerror(errno))) continue;
    ok += wait_child(pid, "child", i);
  }
  /* Children that exec straight away. */
  int exec_ok = 0;
  for (int i = 0; i < nexecs && g_hangs < MAX_HANGS; i++) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
      void *p = malloc(100 + (size_t)i * 1000);
      free(p);
      execl("/bin/true", "true", (char *)NULL);
      _exit(127);
    }
    if (!CHECK_MSG(pid > 0, "fork: %s", strerror(errno))) continue;
    exec_ok += wait_child(pid, "exec child", i);
  }
  double t1 = now();
  __atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
  for (int i = 0; i < NWORKERS; i++) pthread_join(w[i], NULL);
  for (int i = 0; i < NPRE; i++) free_block(&g_pre[i], "main final free");
  for (size_t i = 0; i < g_x.n; i++) free_block(&g_x.b[i], "exchange final free");
  uint64_t wops = 0;
  for (int i = 0; i < NWORKERS; i++) wops += g_worker_ops[i];
  printf("fork_test: %d/%d fork children ok (%d forked from a non-main thread), "
         "%d/%d exec children ok, %d hung; %.2f s; workers did %" PRIu64
         " operations meanwhile\n",
         ok, nforks, from_thread, exec_ok, nexecs, g_hangs, t1 - t0, wops);
  CHECK_MSG(ok == nforks, "%d of %d fork children failed", nforks - ok, nforks);
  CHECK(exec_ok == nexecs);
  return testlib_done();
}
