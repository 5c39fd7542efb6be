/* stress_test.c — many threads doing random malloc-family operations, with
 * content verification and cross-thread frees.
 *
 *   stress_test [threads [ops [rounds [seed]]]]     defaults: 8 10000000 4 <fixed>
 *
 * Every round creates `threads` threads; each works on its own table of slots
 * doing malloc / calloc / realloc / aligned_alloc / posix_memalign / memalign /
 * free, plus hand-offs: a block is pushed into another thread's mailbox, and
 * that thread verifies and frees it (a remote free).  Every block carries a
 * pattern derived from (address, size, seed), checked before every free and
 * realloc.  Blocks still held when a round ends (slots and mailboxes) are
 * inherited by the next round's threads, so memory allocated by threads that
 * have exited gets freed by new ones.  At the end everything is freed and,
 * with HEAPSCOPE_TEST_EXPECT=1, hs_stats must show mallocs - frees back at its
 * starting value (within a small slack for libc's own allocations).
 * HEAPSCOPE_TEST_QUICK=1 divides the operation count by 10.
 */
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <time.h>

#include "testlib.h"

#define NSLOTS 2048          /* per thread */
#define MAILBOX_CAP 4096     /* per thread */
#define FULL_VERIFY_MAX 4096 /* blocks up to this size are verified entirely */
#define STATS_SLACK 100      /* allowed drift of mallocs - frees */

typedef struct {
  unsigned char *p;
  size_t size;
} block_t;

typedef struct {
  pthread_mutex_t lock;
  size_t n;
  block_t b[MAILBOX_CAP];
} mailbox_t;

typedef struct {
  int id;
  uint64_t rng;
  uint64_t ops;
  block_t slots[NSLOTS];
  /* counters */
  uint64_t n_alloc, n_free_local, n_free_remote, n_realloc, n_handoff;
  uint64_t n_calloc, n_aligned;
} worker_t;

static int g_threads = 8;
static uint64_t g_ops = 10000000;
static int g_rounds = 4;
static uint64_t g_seed = 0x5eed5eed12345678ull;
static mailbox_t *g_mail;
static worker_t *g_workers;

/* ---------------------------------------------------------------- helpers */

/* Log-uniform in [lo, hi]. */
static size_t rnd_logsize(uint64_t *s, size_t lo, size_t hi) {
  int lb = 63 - __builtin_clzll(lo), hb = 63 - __builtin_clzll(hi);
  int b = lb + (int)testlib_random_below(s, (uint64_t)(hb - lb + 1));
  size_t base = (size_t)1 << b;
  size_t v = base + (size_t)testlib_random_below(s, base);
  if (v < lo) v = lo;
  if (v > hi) v = hi;
  return v;
}

/* Mostly 1-256 B, some up to 32 KiB, a few 64 KiB - 4 MiB. */
static size_t rnd_size(uint64_t *s) {
  uint64_t r = testlib_random_below(s, 10000);
  if (r < 6000) return 1 + (size_t)testlib_random_below(s, 64);
  if (r < 9000) return 1 + (size_t)testlib_random_below(s, 256);
  if (r < 9996) return rnd_logsize(s, 257, 32768);
  return rnd_logsize(s, 65536, 4u << 20);
}

/* The pattern: 64-bit word j of a block is key + j * K, key from (p, size). */
#define PAT_K 0x9e3779b97f4a7c15ull
static uint64_t pat_key(const void *p, size_t size) {
  return testlib_mix64((uint64_t)(uintptr_t)p ^ testlib_mix64(size + g_seed));
}
static uint64_t pat_word(uint64_t key, size_t j) { return key + j * PAT_K; }
static unsigned char pat_byte(uint64_t key, size_t off) {
  return (unsigned char)(pat_word(key, off / 8) >> (8 * (off % 8)));
}

/* Fills p[0..size) with the pattern of (p, size).  Blocks are 8-aligned. */
static void fill(unsigned char *p, size_t size) {
  uint64_t key = pat_key(p, size);
  size_t nw = size / 8;
  uint64_t *w = (uint64_t *)(void *)p;
  for (size_t j = 0; j < nw; j++) w[j] = pat_word(key, j);
  for (size_t off = nw * 8; off < size; off++) p[off] = pat_byte(key, off);
}

/* Checks bytes [0, len) of p against the pattern of (owner, owner_size)
 * (owner differs from p after a realloc moved the block).  Returns the first
 * bad offset or (size_t)-1. */
static size_t check_range(const unsigned char *p, size_t len, const void *owner,
                          size_t owner_size, size_t from, size_t to) {
  uint64_t key = pat_key(owner, owner_size);
  if (to > len) to = len;
  size_t off = from;
  while (off < to && off % 8) {
    if (p[off] != pat_byte(key, off)) return off;
    off++;
  }
  const uint64_t *w = (const uint64_t *)(const void *)p;
  for (; off + 8 <= to; off += 8)
    if (w[off / 8] != pat_word(key, off / 8)) {
      for (size_t k = off; k < off + 8; k++)
        if (p[k] != pat_byte(key, k)) return k;
    }
  for (; off < to; off++)
    if (p[off] != pat_byte(key, off)) return off;
  return (size_t)-1;
}

/* Verifies len bytes of p carrying the pattern of (owner, owner_size): all of
 * them up to FULL_VERIFY_MAX, otherwise the first and last 256 bytes and 64
 * bytes at every 4 KiB boundary. */
static size_t verify_as(const unsigned char *p, size_t len, const void *owner,
                        size_t owner_size) {
  if (len <= FULL_VERIFY_MAX) return check_range(p, len, owner, owner_size, 0, len);
  size_t bad = check_range(p, len, owner, owner_size, 0, 256);
  if (bad != (size_t)-1) return bad;
  bad = check_range(p, len, owner, owner_size, len - 256, len);
  if (bad != (size_t)-1) return bad;
  for (size_t off = 4096; off < len; off += 4096) {
    bad = check_range(p, len, owner, owner_size, off, off + 64);
    if (bad != (size_t)-1) return bad;
  }
  return (size_t)-1;
}

static bool verify_block(const block_t *b, const char *when) {
  size_t bad = verify_as(b->p, b->size, b->p, b->size);
  return CHECK_MSG(bad == (size_t)-1,
                   "%s: block %p size %zu corrupted at offset %zu (0x%02x, expected 0x%02x)",
                   when, (void *)b->p, b->size, bad, bad == (size_t)-1 ? 0 : b->p[bad],
                   bad == (size_t)-1 ? 0 : pat_byte(pat_key(b->p, b->size), bad));
}

/* Alignment a block of `size` bytes must have at least. */
static size_t min_align(size_t size) {
  return size >= 16 ? 16 : size >= 8 ? 8 : 1;
}

static bool check_new(void *p, size_t size, size_t align, const char *what) {
  if (!CHECK_MSG(p != NULL, "%s(%zu, align %zu) returned NULL", what, size, align))
    return false;
  if (align < min_align(size)) align = min_align(size);
  CHECK_MSG(((uintptr_t)p & (align - 1)) == 0, "%s(%zu) = %p not %zu-aligned", what,
            size, p, align);
  size_t us = malloc_usable_size(p);
  CHECK_MSG(us >= size, "%s(%zu) = %p: malloc_usable_size %zu < size", what, size, p,
            us);
  return true;
}

/* ------------------------------------------------------------------ ops */

static bool allocate(worker_t *w, block_t *b) {
  size_t size = rnd_size(&w->rng);
  uint64_t kind = testlib_random_below(&w->rng, 100);
  void *p = NULL;
  if (kind < 62) {
    p = malloc(size);
    if (!check_new(p, size, 1, "malloc")) return false;
  } else if (kind < 67) {
    p = realloc(NULL, size);
    if (!check_new(p, size, 1, "realloc(NULL)")) return false;
  } else if (kind < 80) {
    size_t n = 1 + (size_t)testlib_random_below(&w->rng, 8), each = size / n ? size / n : 1;
    size = n * each;
    p = calloc(n, each);
    if (!check_new(p, size, 1, "calloc")) return false;
    w->n_calloc++;
    size_t lim = size <= 65536 ? size : 4096, bad = (size_t)-1;
    const unsigned char *c = p;
    for (size_t i = 0; i < lim && bad == (size_t)-1; i++)
      if (c[i]) bad = i;
    for (size_t i = lim; i < size && bad == (size_t)-1; i += 4093)
      if (c[i]) bad = i;
    if (size > lim && c[size - 1]) bad = size - 1;
    CHECK_MSG(bad == (size_t)-1, "calloc(%zu, %zu) = %p: byte %zu is 0x%02x, not 0", n,
              each, p, bad, bad == (size_t)-1 ? 0 : c[bad]);
  } else {
    size_t align = (size_t)16 << testlib_random_below(&w->rng, 9); /* 16 .. 4096 */
    w->n_aligned++;
    if (kind < 87) {
      size = (size + align - 1) / align * align; /* C11: a multiple */
      p = aligned_alloc(align, size);
      if (!check_new(p, size, align, "aligned_alloc")) return false;
    } else if (kind < 94) {
      int r = posix_memalign(&p, align, size);
      CHECK_MSG(r == 0, "posix_memalign(%zu, %zu) = %d", align, size, r);
      if (r != 0) return false;
      if (!check_new(p, size, align, "posix_memalign")) return false;
    } else {
      p = memalign(align, size);
      if (!check_new(p, size, align, "memalign")) return false;
    }
  }
  b->p = p;
  b->size = size;
  fill(b->p, size);
  w->n_alloc++;
  return true;
}

static void release(block_t *b, const char *when) {
  verify_block(b, when);
  free(b->p);
  b->p = NULL;
  b->size = 0;
}

static void do_realloc(worker_t *w, block_t *b) {
  if (!verify_block(b, "before realloc")) {
    free(b->p);
    b->p = NULL;
    return;
  }
  size_t old = b->size, nsz;
  uint64_t r = testlib_random_below(&w->rng, 100);
  if (r < 30) nsz = old + 1 + (size_t)testlib_random_below(&w->rng, 32);            /* small grow */
  else if (r < 50) nsz = old > 1 ? 1 + (size_t)testlib_random_below(&w->rng, old) : 1; /* shrink */
  else if (r < 75) nsz = old * 2 + (size_t)testlib_random_below(&w->rng, 64);       /* double */
  else nsz = rnd_size(&w->rng);                                         /* anything */
  if (nsz > (8u << 20)) nsz = 1 + (size_t)testlib_random_below(&w->rng, 4096);
  void *oldp = b->p;
  void *p = realloc(oldp, nsz);
  if (!check_new(p, nsz, 1, "realloc")) {
    b->p = NULL;
    return;
  }
  w->n_realloc++;
  size_t keep = old < nsz ? old : nsz;
  size_t bad = verify_as(p, keep, oldp, old);
  CHECK_MSG(bad == (size_t)-1,
            "realloc(%p, %zu -> %zu) = %p lost its contents at offset %zu", oldp, old,
            nsz, p, bad);
  b->p = p;
  b->size = nsz;
  fill(b->p, nsz);
}

/* Verifies and frees everything in thread t's mailbox. */
static void drain_mailbox(int t, worker_t *w) {
  mailbox_t *m = &g_mail[t];
  block_t local[MAILBOX_CAP];
  pthread_mutex_lock(&m->lock);
  size_t n = m->n;
  memcpy(local, m->b, n * sizeof(block_t));
  m->n = 0;
  pthread_mutex_unlock(&m->lock);
  for (size_t i = 0; i < n; i++) {
    release(&local[i], "remote free");
    if (w) w->n_free_remote++;
  }
}

/* Gives b to another thread; false if its mailbox is full. */
static bool hand_off(worker_t *w, block_t *b) {
  int to = w->id;
  if (g_threads > 1)
    while (to == w->id) to = (int)testlib_random_below(&w->rng, (uint64_t)g_threads);
  mailbox_t *m = &g_mail[to];
  bool ok = false;
  pthread_mutex_lock(&m->lock);
  if (m->n < MAILBOX_CAP) {
    m->b[m->n++] = *b;
    ok = true;
  }
  pthread_mutex_unlock(&m->lock);
  if (ok) {
    b->p = NULL;
    b->size = 0;
    w->n_handoff++;
  }
  return ok;
}

static void *worker(void *arg) {
  worker_t *w = arg;
  for (uint64_t i = 0; i < w->ops; i++) {
    if ((i & 15) == 0) drain_mailbox(w->id, w);
    block_t *b = &w->slots[testlib_random_below(&w->rng, NSLOTS)];
    if (!b->p) {
      allocate(w, b);
      continue;
    }
    uint64_t r = testlib_random_below(&w->rng, 100);
    if (r < 40) {
      release(b, "local free");
      w->n_free_local++;
    } else if (r < 60) {
      do_realloc(w, b);
    } else if (!hand_off(w, b)) {
      release(b, "local free");
      w->n_free_local++;
    }
  }
  drain_mailbox(w->id, w);
  return NULL;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef int (*stats_fn_t)(hs_stats_t *);

static bool get_stats(hs_stats_t *s) {
  stats_fn_t fn = (stats_fn_t)hs_fn("hs_stats");
  memset(s, 0, sizeof *s);
  s->struct_size = sizeof *s;
  return fn && fn(s) == 0;
}

int main(int argc, char **argv) {
  if (argc > 1) g_threads = atoi(argv[1]);
  if (argc > 2) g_ops = strtoull(argv[2], NULL, 0);
  if (argc > 3) g_rounds = atoi(argv[3]);
  if (argc > 4) g_seed = strtoull(argv[4], NULL, 0);
  if (testlib_quick() && argc <= 2) g_ops /= 10;
  if (g_threads < 1 || g_rounds < 1 || g_ops < 1) {
    fprintf(stderr, "usage: %s [threads [ops [rounds [seed]]]]\n", argv[0]);
    return 2;
  }
  testlib_expect_heapscope();
  bool expect = testlib_env_is_1_("HEAPSCOPE_TEST_EXPECT");
  printf("stress_test: %d threads, %" PRIu64 " ops, %d rounds, seed 0x%" PRIx64 "\n",
         g_threads, g_ops, g_rounds, g_seed);
  fflush(stdout);

  hs_stats_t before, after;
  bool have_stats = get_stats(&before);
  if (expect) CHECK_MSG(have_stats, "hs_stats() failed");

  /* The test's own tables: allocated before the baseline is not possible
   * (they come from malloc too), so they are freed before the final one. */
  g_mail = calloc((size_t)g_threads, sizeof *g_mail);
  g_workers = calloc((size_t)g_threads, sizeof *g_workers);
  pthread_t *tids = calloc((size_t)g_threads, sizeof *tids);
  if (!CHECK(g_mail && g_workers && tids)) return testlib_done();
  for (int t = 0; t < g_threads; t++) pthread_mutex_init(&g_mail[t].lock, NULL);

  uint64_t per = g_ops / ((uint64_t)g_threads * (uint64_t)g_rounds);
  if (per == 0) per = 1;
  double t0 = now();
  uint64_t tot_alloc = 0, tot_local = 0, tot_remote = 0, tot_realloc = 0;
  uint64_t tot_calloc = 0, tot_aligned = 0, inherited = 0;
  for (int round = 0; round < g_rounds; round++) {
    /* Rotate the slot tables, so each new thread inherits blocks allocated by
     * a different (exited) thread.  Mailboxes keep their contents too. */
    if (round > 0 && g_threads > 1) {
      worker_t *tmp = malloc(sizeof *tmp);
      if (!CHECK(tmp)) break;
      memcpy(tmp->slots, g_workers[g_threads - 1].slots, sizeof tmp->slots);
      for (int t = g_threads - 1; t > 0; t--)
        memcpy(g_workers[t].slots, g_workers[t - 1].slots, sizeof tmp->slots);
      memcpy(g_workers[0].slots, tmp->slots, sizeof tmp->slots);
      free(tmp);
    }
    for (int t = 0; t < g_threads; t++) {
      worker_t *w = &g_workers[t];
      w->id = t;
      w->rng = testlib_mix64(g_seed + (uint64_t)round * 1000003u + (uint64_t)t * 7919u) | 1;
      w->ops = per;
      if (round > 0)
        for (int s = 0; s < NSLOTS; s++) inherited += w->slots[s].p != NULL;
      int r = pthread_create(&tids[t], NULL, worker, w);
      if (!CHECK_MSG(r == 0, "pthread_create: %s", strerror(r))) tids[t] = 0;
    }
    for (int t = 0; t < g_threads; t++)
      if (tids[t]) pthread_join(tids[t], NULL);
  }
  double t1 = now();

  /* Free everything that is left: mailboxes, then slots. */
  size_t leftover = 0;
  for (int t = 0; t < g_threads; t++) {
    leftover += g_mail[t].n;
    drain_mailbox(t, NULL);
  }
  for (int t = 0; t < g_threads; t++) {
    worker_t *w = &g_workers[t];
    for (int s = 0; s < NSLOTS; s++)
      if (w->slots[s].p) {
        leftover++;
        release(&w->slots[s], "final free");
      }
    tot_alloc += w->n_alloc;
    tot_local += w->n_free_local;
    tot_remote += w->n_free_remote;
    tot_realloc += w->n_realloc;
    tot_calloc += w->n_calloc;
    tot_aligned += w->n_aligned;
  }
  for (int t = 0; t < g_threads; t++) pthread_mutex_destroy(&g_mail[t].lock);
  free(g_mail);
  free(g_workers);
  free(tids);

  uint64_t total_ops = per * (uint64_t)g_threads * (uint64_t)g_rounds;
  printf("stress_test: %" PRIu64 " ops in %.2f s (%.2f Mops/s): %" PRIu64
         " allocations (%" PRIu64 " calloc, %" PRIu64 " aligned), %" PRIu64
         " reallocs, %" PRIu64 " local frees, %" PRIu64 " remote frees, %" PRIu64
         " blocks inherited across rounds, %zu freed at the end\n",
         total_ops, t1 - t0, total_ops / (t1 - t0) / 1e6, tot_alloc, tot_calloc,
         tot_aligned, tot_realloc, tot_local, tot_remote, inherited, leftover);
  uint64_t frees = tot_local + tot_remote;
  CHECK_MSG(frees == 0 || tot_remote * 5 >= frees,
            "only %" PRIu64 " of %" PRIu64 " frees were remote", tot_remote, frees);
  if (g_rounds > 1) CHECK_MSG(inherited > 0, "no blocks were inherited across rounds");
  CHECK(tot_alloc == frees + leftover);

  if (expect && have_stats && get_stats(&after)) {
    int64_t live0 = (int64_t)(before.mallocs - before.frees);
    int64_t live1 = (int64_t)(after.mallocs - after.frees);
    printf("stress_test: hs_stats mallocs %" PRIu64 " -> %" PRIu64 ", frees %" PRIu64
           " -> %" PRIu64 ", live objects %" PRId64 " -> %" PRId64 "\n",
           before.mallocs, after.mallocs, before.frees, after.frees, live0, live1);
    printf("stress_test: heap_alloc_rounded %" PRIu64 " -> %" PRIu64
           ", heap_inuse %" PRIu64 " -> %" PRIu64 ", heap_sys %" PRIu64 " -> %" PRIu64
           ", sys %" PRIu64 " -> %" PRIu64 ", rss %" PRIu64 " -> %" PRIu64 " (MiB: %.1f -> %.1f)\n",
           before.heap_alloc_rounded, after.heap_alloc_rounded, before.heap_inuse,
           after.heap_inuse, before.heap_sys, after.heap_sys, before.sys, after.sys,
           before.rss, after.rss, before.rss / 1048576.0, after.rss / 1048576.0);
    CHECK_MSG(live1 - live0 < STATS_SLACK && live0 - live1 < STATS_SLACK,
              "mallocs - frees went from %" PRId64 " to %" PRId64
              " after everything was freed (slack %d)",
              live0, live1, STATS_SLACK);
    CHECK_MSG(after.mallocs - before.mallocs >= tot_alloc,
              "hs_stats counted %" PRIu64 " mallocs, the test made %" PRIu64,
              after.mallocs - before.mallocs, tot_alloc);
    CHECK_MSG(after.heap_alloc_rounded < before.heap_alloc_rounded + (4u << 20),
              "live bytes (heap_alloc_rounded) %" PRIu64 " -> %" PRIu64
              " after everything was freed",
              before.heap_alloc_rounded, after.heap_alloc_rounded);
    void (*release_fn)(void) = (void (*)(void))hs_fn("hs_release_free_memory");
    if (release_fn) {
      hs_stats_t rel;
      release_fn();
      if (get_stats(&rel))
        printf("stress_test: after hs_release_free_memory: heap_inuse %" PRIu64
               ", heap_idle %" PRIu64 ", heap_released %" PRIu64
               ", thread caches %" PRIu64 ", central caches %" PRIu64 ", rss %.1f MiB\n",
               rel.heap_inuse, rel.heap_idle, rel.heap_released, rel.thread_cache_bytes,
               rel.central_cache_bytes, rel.rss / 1048576.0);
    }
  }
  return testlib_done();
}
