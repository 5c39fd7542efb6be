/* api_test.c — conformance of the malloc family with glibc's semantics.
 *
 * Runs against whatever malloc the process has: plain glibc (build/tests/api_test),
 * heapscope by LD_PRELOAD, or heapscope linked in (api_test.linked).  Every
 * expectation holds for glibc 2.36 unless guarded by `under_heapscope`, which
 * marks the few places where heapscope deliberately does more than glibc.
 */
#include <errno.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"

#pragma GCC diagnostic ignored "-Walloc-size-larger-than="
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static bool under_heapscope;
static bool quick;
static size_t pagesize;

/* Sizes and pointers pass through volatile so nothing can be deduced. */
static void *volatile sink;
#define V(x) (*(volatile size_t *)&(size_t){(size_t)(x)})

static bool aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static bool all_bytes(const void *p, int c, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (unsigned char)c)
      return false;
  return true;
}

static bool all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  size_t i = 0;
  while (i < n && ((uintptr_t)(b + i) & 7))
    if (b[i++])
      return false;
  for (; i + 8 <= n; i += 8)
    if (*(const uint64_t *)(const void *)(b + i))
      return false;
  for (; i < n; i++)
    if (b[i])
      return false;
  return true;
}

static void fill_pattern(void *p, size_t n, unsigned seed) {
  unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    b[i] = (unsigned char)(i * 7 + seed);
}

static bool has_pattern(const void *p, size_t n, unsigned seed) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (unsigned char)(i * 7 + seed))
      return false;
  return true;
}

static size_t next_pow2(size_t a) {
  size_t r = 1;
  while (r < a)
    r <<= 1;
  return r;
}

/* ---------------------------------------------------------------- zero sizes */
TEST(zero_size) {
  enum { N = 64 };
  void *ps[N];
  for (int i = 0; i < N; i++) {
    ps[i] = (i & 1) ? realloc(NULL, V(0)) : malloc(V(0));
    CHECK_MSG(ps[i] != NULL, "%s(0) returned NULL", (i & 1) ? "realloc(NULL,..)" : "malloc");
    CHECK(aligned(ps[i], 16));
  }
  int dups = 0;
  for (int i = 0; i < N; i++)
    for (int j = i + 1; j < N; j++)
      if (ps[i] && ps[i] == ps[j])
        dups++;
  CHECK_MSG(dups == 0, "%d duplicate zero-size pointers", dups);
  for (int i = 0; i < N; i++)
    free(ps[i]);

  /* realloc(p, 0) frees p and returns NULL (glibc). */
  void *p = malloc(V(100));
  CHECK(p != NULL);
  void *r = realloc(p, V(0));
  CHECK_MSG(r == NULL, "realloc(p, 0) returned %p, expected NULL", r);
  if (r)
    free(r);
  p = malloc(V(1 << 20));
  CHECK(p != NULL);
  r = realloc(p, V(0));
  CHECK_MSG(r == NULL, "realloc(large p, 0) returned %p, expected NULL", r);
  if (r)
    free(r);
}

/* --------------------------------------------------------------- alignment */
TEST(alignment) {
  enum { N = 4097 };
  static void *ps[N];
  unsigned long bad = 0;
  size_t first_bad = 0;
  for (size_t n = 0; n < N; n++) {
    ps[n] = malloc(V(n));
    if (!ps[n] || !aligned(ps[n], 16)) {
      if (!bad++)
        first_bad = n;
    }
  }
  CHECK_MSG(bad == 0, "%lu malloc sizes 0..4096 gave NULL or not 16-aligned (first %zu)",
            bad, first_bad);
  for (size_t n = 0; n < N; n++)
    free(ps[n]);

  bad = 0;
  for (size_t n = 0; n < N; n += 7) {
    void *c = calloc(1, V(n));
    void *r = realloc(NULL, V(n));
    if (!c || !r || !aligned(c, 16) || !aligned(r, 16))
      bad++;
    free(c);
    free(r);
  }
  CHECK_MSG(bad == 0, "%lu calloc/realloc results NULL or not 16-aligned", bad);

  static const size_t large[] = {4097, 8191, 12345, 65536, 65537, 100000, 1 << 20,
                                 (3 << 20) + 5, 10 << 20, 64 << 20};
  for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
    void *p = malloc(V(large[i]));
    CHECK_MSG(p && aligned(p, 16), "malloc(%zu) = %p", large[i], p);
    free(p);
  }
}

/* ------------------------------------------------------- malloc_usable_size */
TEST(usable_size) {
  CHECK(malloc_usable_size(NULL) == 0);
  unsigned long bad = 0;
  size_t first_bad = 0;
  for (size_t n = 1; n <= 1 << 20; n = n < 4096 ? n + 1 : n + n / 8 + 3) {
    unsigned char *p = malloc(V(n));
    size_t u = malloc_usable_size(p);
    if (!p || u < n) {
      if (!bad++)
        first_bad = n;
      free(p);
      continue;
    }
    memset(p, 0xCD, u); /* all of it is ours */
    p[u - 1] = 1;
    free(p);
  }
  CHECK_MSG(bad == 0, "%lu sizes had usable size < requested (first %zu)", bad, first_bad);

  unsigned char *p = malloc(V(7));
  CHECK(p && malloc_usable_size(p) >= 7);
  free(p);
}

/* ---------------------------------------------------- requests that can't fit */
typedef struct {
  const char *name;
  unsigned long bad;
  size_t first;
  void *ret;
  int err;
} tally_t;

static void tally(tally_t *t, bool ok, size_t n, void *ret, int err) {
  if (ok)
    return;
  if (!t->bad++) {
    t->first = n;
    t->ret = ret;
    t->err = err;
  }
}

enum {
  F_MALLOC, F_CALLOC1N, F_CALLOCN1, F_REALLOC_NULL, F_REALLOC_P, F_REALLOCARRAY,
  F_REALLOCARRAY_P, F_ALIGNED16, F_ALIGNED4K, F_MEMALIGN16, F_MEMALIGN64,
  F_MEMALIGN4K, F_VALLOC, F_PVALLOC, F_POSIX16, F_POSIX4K, F_COUNT
};

static const char *const fnames[F_COUNT] = {
  "malloc(n)", "calloc(1,n)", "calloc(n,1)", "realloc(NULL,n)", "realloc(p,n)",
  "reallocarray(NULL,n,1)", "reallocarray(p,1,n)", "aligned_alloc(16,n)",
  "aligned_alloc(4096,n)", "memalign(16,n)", "memalign(64,n)", "memalign(4096,n)",
  "valloc(n)", "pvalloc(n)", "posix_memalign(16,n)", "posix_memalign(4096,n)",
};

/* Every function must return NULL with errno ENOMEM (posix_memalign: return
 * ENOMEM, *memptr untouched); p must stay intact. */
static void too_large_one(tally_t *t, size_t n, unsigned char *p, size_t plen) {
  void *r;
  void *sentinel = (void *)(uintptr_t)0x5a5a5a50;
#define TRY(idx, expr)                                                      \
  do {                                                                      \
    errno = 0;                                                              \
    r = (expr);                                                             \
    int e_ = errno;                                                         \
    tally(&t[idx], r == NULL && e_ == ENOMEM, n, r, e_);                    \
    if (r)                                                                  \
      sink = r;                                                             \
  } while (0)
  TRY(F_MALLOC, malloc(n));
  TRY(F_CALLOC1N, calloc(1, n));
  TRY(F_CALLOCN1, calloc(n, 1));
  TRY(F_REALLOC_NULL, realloc(NULL, n));
  TRY(F_REALLOC_P, realloc(p, n));
  TRY(F_REALLOCARRAY, reallocarray(NULL, n, 1));
  TRY(F_REALLOCARRAY_P, reallocarray(p, 1, n));
  TRY(F_ALIGNED16, aligned_alloc(16, n));
  TRY(F_ALIGNED4K, aligned_alloc(4096, n));
  TRY(F_MEMALIGN16, memalign(16, n));
  TRY(F_MEMALIGN64, memalign(64, n));
  TRY(F_MEMALIGN4K, memalign(4096, n));
  TRY(F_VALLOC, valloc(n));
  TRY(F_PVALLOC, pvalloc(n));
#undef TRY
  static const size_t pm_align[2] = {16, 4096};
  for (int k = 0; k < 2; k++) {
    void *q = sentinel;
    int rc = posix_memalign(&q, pm_align[k], n);
    tally(&t[F_POSIX16 + k], rc == ENOMEM && q == sentinel, n, q, rc);
  }
  (void)plen;
}

TEST(too_large) {
  tally_t t[F_COUNT];
  memset(t, 0, sizeof t);
  for (int i = 0; i < F_COUNT; i++)
    t[i].name = fnames[i];
  const size_t plen = 48;
  unsigned char *p = malloc(V(plen));
  CHECK(p != NULL);
  if (!p)
    return;
  fill_pattern(p, plen, 11);

  size_t step = quick ? 61 : 1;
  unsigned long sizes = 0;
  /* PTRDIFF_MAX+1 .. PTRDIFF_MAX+2^14 */
  for (size_t k = 0; k < (1u << 14); k += step, sizes++)
    too_large_one(t, V((size_t)PTRDIFF_MAX + 1 + k), p, plen);
  /* SIZE_MAX-k for k = 0 .. 2^16 */
  for (size_t k = 0; k <= (1u << 16); k += (k < 4096 ? 1 : step * 3), sizes++)
    too_large_one(t, V(SIZE_MAX - k), p, plen);
  /* a few in between */
  static const size_t mid[] = {(size_t)PTRDIFF_MAX + (1ull << 20), SIZE_MAX / 4 * 3,
                               SIZE_MAX - 4095, SIZE_MAX - 65536 - 4096};
  for (size_t i = 0; i < sizeof mid / sizeof mid[0]; i++, sizes++)
    too_large_one(t, V(mid[i]), p, plen);

  for (int i = 0; i < F_COUNT; i++)
    CHECK_MSG(t[i].bad == 0,
              "%s: %lu of %lu huge sizes did not fail with ENOMEM (first n=%#zx: "
              "ret %p, errno/rc %d)",
              t[i].name, t[i].bad, sizes, t[i].first, t[i].ret, t[i].err);
  CHECK_MSG(has_pattern(p, plen, 11), "failed realloc(p, huge) changed p's contents");
  p = realloc(p, V(4096)); /* p is still a valid block */
  CHECK(p && has_pattern(p, plen, 11));
  free(p);
}

/* -------------------------------------------------------- overflow of n*size */
/* A request the kernel's overcommit policy refuses as one mapping (1 TiB:
 * more than the machine's memory and swap, under the default heuristic)
 * fails with ENOMEM, as glibc's does, rather than succeeding on reserved
 * address space that nothing can back; where the kernel grants the
 * mapping (overcommit_memory=1) there is nothing to compare. */
TEST(beyond_overcommit) {
  size_t huge = (size_t)1 << 40;
  void *probe = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (probe != MAP_FAILED) {
    munmap(probe, huge);
    return;
  }
  errno = 0;
  void *p = malloc(V(huge));
  CHECK_MSG(p == NULL && errno == ENOMEM, "malloc(1 TiB) = %p errno %d: the kernel refuses such a "
            "mapping", p, errno);
  free(p);
  errno = 0;
  p = calloc(V(huge / 16), V(16));
  CHECK_MSG(p == NULL && errno == ENOMEM, "calloc(2^36, 16) = %p errno %d", p, errno);
  free(p);
}

TEST(overflow) {
  static const size_t pairs[][2] = {
    {SIZE_MAX / 2 + 1, 2}, {2, SIZE_MAX / 2 + 1}, {SIZE_MAX, SIZE_MAX},
    {(size_t)1 << 32, (size_t)1 << 32}, {65537, SIZE_MAX / 65536},
    {SIZE_MAX / 65536, 65537}, {SIZE_MAX - 1, SIZE_MAX - 1}, {SIZE_MAX, 2},
    {2, SIZE_MAX}, {3, SIZE_MAX / 3 + 1},
    /* products that do not overflow but exceed PTRDIFF_MAX */
    {(size_t)1 << 32, (size_t)1 << 31}, {(size_t)1 << 31, (size_t)1 << 32},
  };
  unsigned char *p = malloc(V(40));
  CHECK(p != NULL);
  fill_pattern(p, 40, 3);
  for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
    size_t a = V(pairs[i][0]), b = V(pairs[i][1]);
    errno = 0;
    void *r = calloc(a, b);
    CHECK_MSG(r == NULL && errno == ENOMEM, "calloc(%#zx, %#zx) = %p errno %d", a, b, r, errno);
    if (r)
      sink = r;
    errno = 0;
    r = reallocarray(NULL, a, b);
    CHECK_MSG(r == NULL && errno == ENOMEM, "reallocarray(NULL, %#zx, %#zx) = %p errno %d",
              a, b, r, errno);
    if (r)
      sink = r;
    errno = 0;
    unsigned char *volatile pv = p; /* p stays live: the call must fail */
    r = reallocarray(pv, a, b);
    CHECK_MSG(r == NULL && errno == ENOMEM, "reallocarray(p, %#zx, %#zx) = %p errno %d",
              a, b, r, errno);
    if (r)
      sink = r;
  }
  CHECK_MSG(has_pattern(p, 40, 3), "failed reallocarray changed p");
  free(p);

  /* Zero products succeed. */
  static const size_t zeros[][2] = {{0, 0}, {0, SIZE_MAX}, {SIZE_MAX, 0}, {0, 1}, {1, 0},
                                    {0, (size_t)PTRDIFF_MAX + 1}};
  for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++) {
    void *r = calloc(V(zeros[i][0]), V(zeros[i][1]));
    CHECK_MSG(r != NULL, "calloc(%#zx, %#zx) returned NULL", zeros[i][0], zeros[i][1]);
    free(r);
  }
}

/* ------------------------------------------------------------ calloc zeroing */
TEST(calloc_zeroed) {
  static const size_t sizes[] = {1, 8, 15, 16, 24, 48, 100, 128, 256, 1000, 2048, 3000,
                                 4095, 4096, 4097, 8192, 12288, 16384, 65536, 100000,
                                 1 << 20, (1 << 20) + 17, 3 << 20, 8 << 20};
  enum { BATCH = 32 };
  int rounds = quick ? 2 : 6;
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t n = sizes[s];
    int batch = n >= (1 << 20) ? 3 : BATCH;
    unsigned long bad = 0;
    for (int round = 0; round < rounds; round++) {
      void *ps[BATCH];
      for (int i = 0; i < batch; i++) {
        ps[i] = malloc(V(n));
        if (ps[i])
          memset(ps[i], 0xA5, malloc_usable_size(ps[i]));
      }
      for (int i = 0; i < batch; i++)
        free(ps[i]);
      for (int i = 0; i < batch; i++) {
        /* alternate the argument order and split */
        ps[i] = (i & 1) ? calloc(V(n), 1) : calloc(1, V(n));
        if (!ps[i] || !all_zero(ps[i], n))
          bad++;
      }
      for (int i = 0; i < batch; i++) {
        if (ps[i])
          memset(ps[i], 0xA5, n);
        free(ps[i]);
      }
    }
    CHECK_MSG(bad == 0, "calloc(%zu) returned non-zeroed (or NULL) memory %lu times", n, bad);
  }
  /* many elements */
  for (int round = 0; round < rounds; round++) {
    void *p = malloc(V(8000));
    memset(p, 0xA5, 8000);
    free(p);
    uint64_t *q = calloc(V(1000), V(8));
    CHECK(q && all_zero(q, 8000));
    free(q);
  }
}

/* ------------------------------------------------------------ realloc contents */
static void realloc_case(size_t from, size_t to) {
  unsigned char *p = malloc(V(from));
  CHECK_MSG(p != NULL, "malloc(%zu)", from);
  if (!p)
    return;
  fill_pattern(p, from, (unsigned)from);
  unsigned char *q = realloc(p, V(to));
  CHECK_MSG(q != NULL, "realloc(%zu -> %zu) failed", from, to);
  if (!q) {
    free(p);
    return;
  }
  size_t keep = from < to ? from : to;
  CHECK_MSG(has_pattern(q, keep, (unsigned)from), "realloc(%zu -> %zu) lost contents", from, to);
  CHECK(aligned(q, 16));
  CHECK(malloc_usable_size(q) >= to);
  memset(q, 0x11, to);
  free(q);
}

TEST(realloc_contents) {
  static const size_t cases[][2] = {
    {24, 40}, {40, 24}, {1, 2048}, {200, 20}, {100, 2 << 20}, {4000, 70000},
    {2 << 20, 100}, {70000, 4000}, {1 << 20, 32 << 20}, {3 << 20, (3 << 20) + 1},
    {(3 << 20) + 1, 1 << 20}, {64 << 20, 16}, {16, 64 << 20}, {4096, 4097},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    realloc_case(cases[i][0], cases[i][1]);

  /* calloc'd 20 bytes grown to 200 keeps its zeros */
  unsigned char *p = calloc(V(20), 1);
  CHECK(p != NULL);
  p = realloc(p, V(200));
  CHECK(p && all_zero(p, 20));
  free(p);

  /* a chain of growth steps keeps everything */
  size_t n = 8;
  p = malloc(n);
  fill_pattern(p, n, 5);
  bool ok = true;
  while (n < (quick ? (size_t)4 << 20 : (size_t)48 << 20)) {
    size_t m = n + n / 2 + 1;
    unsigned char *q = realloc(p, V(m));
    if (!q) {
      ok = false;
      break;
    }
    if (!has_pattern(q, n, 5))
      ok = false;
    fill_pattern(q, m, 5);
    p = q;
    n = m;
  }
  CHECK_MSG(ok, "growth chain lost contents at %zu bytes", n);
  free(p);
}

/* A failed realloc leaves the block intact and usable. */
TEST(realloc_failure) {
  static const size_t sizes[] = {32, 5000, 1 << 20};
  static const size_t huge[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1};
  for (size_t i = 0; i < 3; i++) {
    unsigned char *p = malloc(V(sizes[i]));
    CHECK(p != NULL);
    if (!p)
      continue;
    fill_pattern(p, sizes[i], 9);
    for (size_t j = 0; j < 3; j++) {
      errno = 0;
      void *r = realloc(p, V(huge[j]));
      CHECK_MSG(r == NULL && errno == ENOMEM, "realloc(p[%zu], %#zx) = %p errno %d", sizes[i],
                huge[j], r, errno);
    }
    CHECK_MSG(has_pattern(p, sizes[i], 9), "failed realloc changed a %zu-byte block", sizes[i]);
    CHECK(malloc_usable_size(p) >= sizes[i]);
    p = realloc(p, V(sizes[i] * 2));
    CHECK(p && has_pattern(p, sizes[i], 9));
    free(p);
  }
}

/* In-place growth within the usable size keeps the pointer. */
TEST(realloc_in_place) {
  static const size_t sizes[] = {1, 17, 100, 1000, 5000, 40000, 1 << 20, 5 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    unsigned char *p = malloc(V(sizes[i]));
    CHECK(p != NULL);
    if (!p)
      continue;
    size_t u = malloc_usable_size(p);
    fill_pattern(p, sizes[i], 1);
    unsigned char *q = realloc(p, V(u));
    CHECK_MSG(q == p, "realloc(p, usable=%zu) of a %zu-byte block moved it", u, sizes[i]);
    if (!q) {
      free(p);
      continue;
    }
    CHECK(has_pattern(q, sizes[i], 1));
    memset(q, 2, u);
    free(q);
  }
  /* Large blocks grown a little at a time (the in-place-capable path). */
  size_t n = 1 << 20;
  unsigned char *p = malloc(V(n));
  fill_pattern(p, n, 4);
  bool ok = p != NULL;
  int steps = quick ? 50 : 400;
  for (int i = 0; ok && i < steps; i++) {
    size_t m = n + 4096 + (size_t)i;
    unsigned char *q = realloc(p, V(m));
    if (!q) {
      ok = false;
      break;
    }
    p = q;
    if (i % 16 == 0 && !has_pattern(p, 1 << 20, 4))
      ok = false;
    n = m;
    p[n - 1] = 0x77;
  }
  CHECK_MSG(ok && has_pattern(p, 1 << 20, 4), "stepwise growth of a large block lost contents");
  free(p);
}

/* hs_prof_set_rate, looked up in the library loaded (NULL without one). */
static int64_t (*prof_set_rate_fn(void))(int64_t) {
  return (int64_t (*)(int64_t))hs_fn("hs_prof_set_rate");
}

/* A sampled block (rate 1 samples every allocation) lives in a span of its
 * own, but must look exactly like the unsampled block would: the same
 * usable size, and realloc growth through the same sizes. */
TEST(sampled_blocks_behave_alike) {
  int64_t (*set_rate)(int64_t) = prof_set_rate_fn();
  if (!under_heapscope || !CHECK(set_rate != NULL))
    return;
  int64_t old_rate = set_rate(0);
  enum { SIZES = 64, GROWTH_STEPS = 8192 }; /* growth to 64 KiB */
  size_t sizes[SIZES], usable[2][SIZES];
  static size_t grown_usable[2][GROWTH_STEPS];
  for (int i = 0; i < SIZES; i++)
    sizes[i] = i < 48 ? ((size_t)1 << (i / 3)) + (size_t)(i % 3) * 7 : 262144 - 4096 + (size_t)i;
  for (int sampled = 0; sampled < 2; sampled++) {
    set_rate(sampled ? 1 : 0);
    for (int i = 0; i < SIZES; i++) {
      void *p = malloc(V(sizes[i]));
      usable[sampled][i] = p ? malloc_usable_size(p) : 0;
      /* one byte past the usable size: must move or really grow */
      void *q = p ? realloc(p, V(usable[sampled][i] + 1)) : NULL;
      CHECK_MSG(q != NULL && malloc_usable_size(q) > usable[sampled][i],
                "malloc(%zu) (%s), usable %zu, realloc one byte more: usable %zu", sizes[i],
                sampled ? "sampled" : "unsampled", usable[sampled][i],
                q ? malloc_usable_size(q) : 0);
      free(q ? q : p);
    }
    unsigned char *v = NULL;
    for (int n = 0; n < GROWTH_STEPS; n++) {
      unsigned char *q = realloc(v, V((size_t)(n + 1) * 8));
      if (!CHECK(q != NULL))
        break;
      v = q;
      v[(size_t)n * 8] = (unsigned char)n;
      grown_usable[sampled][n] = malloc_usable_size(v);
      if (!CHECK_MSG(grown_usable[sampled][n] >= (size_t)(n + 1) * 8,
                     "realloc to %d bytes (%s): usable %zu", (n + 1) * 8,
                     sampled ? "sampled" : "unsampled", grown_usable[sampled][n]))
        break;
    }
    free(v);
  }
  set_rate(old_rate);
  for (int i = 0; i < SIZES; i++)
    CHECK_MSG(usable[0][i] == usable[1][i], "malloc(%zu): usable %zu unsampled, %zu sampled",
              sizes[i], usable[0][i], usable[1][i]);
  for (int n = 0; n < GROWTH_STEPS; n++)
    if (!CHECK_MSG(grown_usable[0][n] == grown_usable[1][n],
                   "realloc to %d bytes: usable %zu unsampled, %zu sampled", (n + 1) * 8,
                   grown_usable[0][n], grown_usable[1][n]))
      break;
}

/* An allocation that fails (ENOMEM) is not counted: neither in mallocs
 * nor in total_alloc (its size once stayed there, so total_alloc read
 * exabytes after one malloc(1 << 62)).  Unsampled (rate 0) and sampled
 * (rate 1) alike; the statistics are read at rate 0. */
TEST(failed_allocation_uncounted) {
  int64_t (*set_rate)(int64_t) = prof_set_rate_fn();
  if (!under_heapscope || !CHECK(set_rate != NULL))
    return;
  size_t huge = (size_t)1 << 62; /* below PTRDIFF_MAX, beyond any address space */
  void *small = malloc(V(100));
  int64_t old_rate = set_rate(0);
  for (int64_t rate = 0; rate <= 1; rate++) {
    hs_stats_t before = testlib_stats();
    set_rate(rate);
    void *results[5];
    void *aligned = &aligned;
    results[0] = malloc(V(huge));
    results[1] = calloc(V(huge / 16), V(16));
    results[2] = memalign(V(4096), V(huge));
    results[3] = posix_memalign(&aligned, V(4096), V(huge)) == 0 ? aligned : NULL;
    results[4] = realloc(small, V(huge));
    set_rate(0);
    hs_stats_t after = testlib_stats();
    for (int i = 0; i < 5; i++) CHECK_MSG(results[i] == NULL, "rate %lld: call %d = %p",
                                          (long long)rate, i, results[i]);
    CHECK_MSG(after.mallocs == before.mallocs && after.total_alloc == before.total_alloc &&
                  after.live_objects == before.live_objects,
              "rate %lld: five failed allocations moved mallocs %llu -> %llu, total_alloc "
              "%llu -> %llu, live_objects %llu -> %llu", (long long)rate,
              (unsigned long long)before.mallocs, (unsigned long long)after.mallocs,
              (unsigned long long)before.total_alloc, (unsigned long long)after.total_alloc,
              (unsigned long long)before.live_objects, (unsigned long long)after.live_objects);
  }
  set_rate(old_rate);
  free(small);
}

/* A thread keeps the span of its last freed sample, up to 8 pages, for its
 * next sample of as many pages.  The statistics count that span as free:
 * a sampled 64 KiB block made on it adds exactly 64 KiB to
 * heap_alloc_rounded, and its free takes them away again.  Sampling is off
 * (rate 0) around the hs_stats reads, so that nothing they allocate can be
 * sampled and replace the span kept. */
TEST(sample_spare_accounting) {
  int64_t (*set_rate)(int64_t) = prof_set_rate_fn();
  if (!under_heapscope || !CHECK(set_rate != NULL))
    return;
  int64_t old_rate = set_rate(1);
  void *first = malloc(V(65536));
  free(first); /* kept */
  set_rate(0);
  hs_stats_t before = testlib_stats();
  set_rate(1);
  void *second = malloc(V(65536));
  set_rate(0);
  hs_stats_t during = testlib_stats();
  set_rate(1);
  free(second);
  set_rate(0);
  hs_stats_t after = testlib_stats();
  set_rate(old_rate);
  CHECK_MSG(first != NULL && second == first, "sampled 64 KiB blocks at %p, then %p: not the span kept",
            first, second);
  CHECK_MSG(during.heap_alloc_rounded - before.heap_alloc_rounded == 65536,
            "heap_alloc_rounded %llu -> %llu with one sampled 64 KiB block",
            (unsigned long long)before.heap_alloc_rounded,
            (unsigned long long)during.heap_alloc_rounded);
  CHECK_MSG(after.heap_alloc_rounded == before.heap_alloc_rounded,
            "heap_alloc_rounded %llu before, %llu after the block was freed",
            (unsigned long long)before.heap_alloc_rounded,
            (unsigned long long)after.heap_alloc_rounded);
  CHECK(during.live_objects == before.live_objects + 1 && after.live_objects == before.live_objects);
}

/* malloc(size) sampled (rate 1), with the statistics just before and just
 * after it read at rate 0; leaves the rate at 1. */
static void *sampled_malloc_between(int64_t (*set_rate)(int64_t), size_t size,
                                    hs_stats_t *before, hs_stats_t *after) {
  set_rate(0);
  *before = testlib_stats();
  set_rate(1);
  void *p = malloc(V(size));
  set_rate(0);
  *after = testlib_stats();
  set_rate(1);
  return p;
}

/* A span of more than 8 pages, up to the largest class's 32, is kept only
 * when the thread's sample freed before it had as many pages: a loop over
 * one size of 256 KiB makes its samples on the span kept, a size passed
 * once keeps nothing.  Seen from one malloc each (a free may drain the
 * caches, which moves heap_inuse): a sample made on the span kept takes no
 * page from the page heap, one made after a span was given back takes its
 * span's pages (of 8 KiB; a sampled object has its class's size).
 * Sampling is off around the hs_stats reads (as above). */
TEST(sample_spare_repeat) {
  int64_t (*set_rate)(int64_t) = prof_set_rate_fn();
  if (!under_heapscope || !CHECK(set_rate != NULL))
    return;
  hs_stats_t before, after;
  int64_t old_rate = set_rate(1);
  free(malloc(V(97664)));     /* a class of 12 pages */
  free(malloc(V(111616)));    /* 14 pages after 12: given back */
  free(malloc(V(256 << 10))); /* 32 pages after 14: given back */
  void *first = sampled_malloc_between(set_rate, 256 << 10, &before, &after);
  CHECK_MSG(first && after.heap_inuse - before.heap_inuse == (256 << 10),
            "heap_inuse %llu -> %llu for a 256 KiB sample after one given back",
            (unsigned long long)before.heap_inuse, (unsigned long long)after.heap_inuse);
  free(first); /* 32 pages after 32: kept */
  void *second = sampled_malloc_between(set_rate, 256 << 10, &before, &after);
  CHECK_MSG(second == first && after.heap_inuse == before.heap_inuse &&
                after.heap_alloc_rounded - before.heap_alloc_rounded == (256 << 10),
            "the next 256 KiB sample at %p (the span kept: %p), heap_inuse %llu -> %llu", second,
            first, (unsigned long long)before.heap_inuse, (unsigned long long)after.heap_inuse);
  free(second);               /* kept again */
  free(malloc(V(195584)));    /* a class of 24 pages, after 32: given back */
  void *third = sampled_malloc_between(set_rate, 195584, &before, &after);
  CHECK_MSG(third && after.heap_inuse - before.heap_inuse == 24 * 8192,
            "heap_inuse %llu -> %llu for a 24-page sample after one given back",
            (unsigned long long)before.heap_inuse, (unsigned long long)after.heap_inuse);
  free(third);
  set_rate(old_rate);
}

/* ------------------------------------------------------------ posix_memalign */
/* A large block grown a little at a time (in place when the pages after it
 * are free) and shrunk again keeps every byte; growing next to a live
 * neighbour must move it and keep it too. */
TEST(realloc_grow_large) {
  size_t size = 300 * 1024;
  unsigned char *p = malloc(V(size));
  CHECK(p != NULL);
  if (!p) return;
  for (size_t i = 0; i < size; i++) p[i] = (unsigned char)(i * 7);
  int moves = 0;
  for (int step = 0; step < 3000; step++) {
    size_t grown = size + 1000 + (size_t)(step % 7) * 4096;
    unsigned char *q = realloc(p, V(grown));
    if (!CHECK(q != NULL)) break;
    moves += q != p;
    for (size_t i = size; i < grown; i++) q[i] = (unsigned char)(i * 7);
    p = q;
    size = grown;
  }
  size_t bad = 0;
  for (size_t i = 0; i < size; i++) bad += p[i] != (unsigned char)(i * 7);
  CHECK_MSG(bad == 0, "%zu bytes changed after growing to %zu bytes (%d moves)", bad, size, moves);
  /* A neighbour right after the block: growing must not overwrite it. */
  unsigned char *neighbour = malloc(V(size));
  if (CHECK(neighbour != NULL)) {
    memset(neighbour, 0x5a, size);
    unsigned char *q = realloc(p, V(size * 2));
    if (CHECK(q != NULL)) {
      p = q;
      bad = 0;
      for (size_t i = 0; i < size; i++) bad += p[i] != (unsigned char)(i * 7);
      for (size_t i = 0; i < size; i++) bad += neighbour[i] != 0x5a;
      CHECK_MSG(bad == 0, "%zu bytes wrong after growing beside a neighbour", bad);
    }
    free(neighbour);
  }
  free(p);
}

TEST(posix_memalign) {
  static const size_t bad_align[] = {0, 3, 3 * sizeof(void *), 0x300, sizeof(void *) / 2,
                                     sizeof(void *) + 1, 4097, 1, 2, SIZE_MAX,
                                     SIZE_MAX / 2 + 2};
  void *sentinel = (void *)(uintptr_t)0x6b6b6b60;
  for (size_t i = 0; i < sizeof bad_align / sizeof bad_align[0]; i++) {
    void *q = sentinel;
    int rc = posix_memalign(&q, V(bad_align[i]), V(64));
    CHECK_MSG(rc == EINVAL && q == sentinel, "posix_memalign(align %#zx) = %d, *memptr %p",
              bad_align[i], rc, q);
  }
  unsigned maxshift = quick ? 22 : 26;
  for (unsigned shift = 3; shift <= maxshift; shift++) {
    size_t a = (size_t)1 << shift;
    size_t sizes[] = {0, 1, a - 1, a, 3 * a, 100};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
      size_t n = sizes[k];
      void *q = sentinel;
      int rc = posix_memalign(&q, V(a), V(n));
      CHECK_MSG(rc == 0 && q != sentinel && q != NULL && aligned(q, a),
                "posix_memalign(%#zx, %zu) = %d, %p", a, n, rc, q);
      if (rc != 0 || q == sentinel || !q)
        continue;
      CHECK(malloc_usable_size(q) >= n);
      if (n) {
        ((unsigned char *)q)[0] = 1;
        ((unsigned char *)q)[n - 1] = 2;
      }
      free(q);
    }
  }
}

/* ------------------------------------------------------------- aligned_alloc */
TEST(aligned_alloc) {
  static const size_t ok_cases[][2] = {{64, 64}, {64, 100}, {1, 64}, {2, 1}, {16, 0},
                                       {4096, 1}, {4096, 5000}, {1 << 16, 3},
                                       {1 << 21, 1 << 20}, {8, 8}, {32, 7}};
  for (size_t i = 0; i < sizeof ok_cases / sizeof ok_cases[0]; i++) {
    size_t a = ok_cases[i][0], n = ok_cases[i][1];
    errno = 0;
    unsigned char *p = aligned_alloc(V(a), V(n));
    CHECK_MSG(p != NULL && aligned(p, a < 16 ? 16 : a), "aligned_alloc(%zu, %zu) = %p errno %d",
              a, n, p, errno);
    if (p && n) {
      p[0] = 1;
      p[n - 1] = 1;
    }
    free(p);
  }
  /* An alignment that is not a power of two: glibc 2.36's aligned_alloc is
   * memalign and rounds it up; C17 (DR 460) and glibc 2.38 reject it with
   * EINVAL.  heapscope follows C17 (docs/design.md). */
  static const size_t odd[] = {3, 24, 48, 0x300, 100, 0};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    size_t want = odd[i] < 16 ? 16 : next_pow2(odd[i]);
    errno = 0;
    void *p = aligned_alloc(V(odd[i]), V(64));
    if (under_heapscope)
      CHECK_MSG(p == NULL && errno == EINVAL,
                "aligned_alloc(%#zx, 64) = %p errno %d (heapscope, C17: NULL and EINVAL)", odd[i],
                p, errno);
    else
      CHECK_MSG(p != NULL && aligned(p, want),
                "aligned_alloc(%#zx, 64) = %p errno %d (glibc 2.36: succeeds, %zu-aligned)",
                odd[i], p, errno, want);
    free(p);
  }
  /* huge alignment fails */
  errno = 0;
  void *p = aligned_alloc(V(SIZE_MAX / 2 + 1), V(64));
  CHECK_MSG(p == NULL && (errno == ENOMEM || errno == EINVAL),
            "aligned_alloc(SIZE_MAX/2+1, 64) = %p errno %d", p, errno);
  errno = 0;
  p = aligned_alloc(V(SIZE_MAX / 2 + 2), V(64));
  CHECK_MSG(p == NULL && (errno == ENOMEM || errno == EINVAL),
            "aligned_alloc(SIZE_MAX/2+2, 64) = %p errno %d", p, errno);
}

/* ------------------------------------------------------------------ memalign */
TEST(memalign) {
  static const size_t cases[][2] = {{1, 10},  {2, 10},      {8, 10},     {16, 10},
                                    {16, 0},  {3, 10},      {48, 64},    {0x300, 100},
                                    {100, 1}, {4096, 4096}, {5000, 100}, {1 << 20, 1 << 19},
                                    {1 << 19, 1 << 19}, {1 << 21, 1 << 19}, {0, 33}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t a = cases[i][0], n = cases[i][1];
    size_t want = a < 16 ? 16 : next_pow2(a);
    unsigned char *p = memalign(V(a), V(n));
    CHECK_MSG(p != NULL && aligned(p, want), "memalign(%zu, %zu) = %p", a, n, p);
    if (!p)
      continue;
    CHECK(malloc_usable_size(p) >= n);
    if (n)
      memset(p, 3, n);
    free(p);
  }
  errno = 0;
  void *p = memalign(V(SIZE_MAX / 2 + 2), V(64));
  CHECK_MSG(p == NULL && errno == EINVAL, "memalign(SIZE_MAX/2+2, 64) = %p errno %d", p, errno);
  errno = 0;
  p = memalign(V(SIZE_MAX), V(pagesize));
  CHECK_MSG(p == NULL && errno == EINVAL, "memalign(SIZE_MAX, pagesize) = %p errno %d", p, errno);
  errno = 0;
  p = memalign(V(SIZE_MAX / 2 + 1), V(64));
  CHECK_MSG(p == NULL && errno == ENOMEM, "memalign(SIZE_MAX/2+1, 64) = %p errno %d", p, errno);
}

/* ---------------------------------------------------------- valloc / pvalloc */
TEST(valloc_pvalloc) {
  size_t sizes[] = {0, 1, 100, pagesize - 1, pagesize, pagesize + 1, 3 * pagesize, 1 << 20,
                    (1 << 20) + 1};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    unsigned char *p = valloc(V(n));
    CHECK_MSG(p && aligned(p, pagesize), "valloc(%zu) = %p", n, p);
    if (p) {
      CHECK(malloc_usable_size(p) >= n);
      if (n)
        memset(p, 1, n);
    }
    free(p);
    p = pvalloc(V(n));
    CHECK_MSG(p && aligned(p, pagesize), "pvalloc(%zu) = %p", n, p);
    if (p && n) {
      size_t rounded = (n + pagesize - 1) / pagesize * pagesize;
      size_t u = malloc_usable_size(p);
      CHECK_MSG(u >= rounded, "pvalloc(%zu): usable %zu < %zu", n, u, rounded);
      memset(p, 2, u < rounded ? n : rounded);
    }
    free(p);
  }
  unsigned char *p = pvalloc(V(1));
  CHECK(p && malloc_usable_size(p) >= pagesize);
  if (p)
    memset(p, 4, malloc_usable_size(p));
  free(p);
  /* glibc 2.36's pvalloc(0) rounds 0 to 0 pages (usable 24); heapscope gives
   * a page, as tcmalloc does. */
  p = pvalloc(V(0));
  CHECK(p != NULL && aligned(p, pagesize));
  if (under_heapscope && p) {
    CHECK_MSG(malloc_usable_size(p) >= pagesize, "pvalloc(0) usable %zu < page",
              malloc_usable_size(p));
    if (malloc_usable_size(p) >= pagesize)
      memset(p, 5, pagesize);
  }
  free(p);
}

/* ------------------------------------------------------------- free and errno */
typedef void (*free_sized_fn)(void *, size_t);
typedef void (*free_aligned_sized_fn)(void *, size_t, size_t);
typedef void (*cfree_fn)(void *);

TEST(free_errno) {
  free(NULL); /* no-op */
  errno = 1234;
  free(NULL);
  CHECK_MSG(errno == 1234, "free(NULL) changed errno to %d", errno);

  static const size_t sizes[] = {1, 32, 1000, 5000, 70000, 1 << 20, 16 << 20, 64 << 20};
  free_sized_fn fs = (free_sized_fn)hs_fn("free_sized");
  free_aligned_sized_fn fas = (free_aligned_sized_fn)hs_fn("free_aligned_sized");
  cfree_fn cf = (cfree_fn)hs_fn("cfree");
  if (under_heapscope) {
    CHECK_MSG(fs != NULL, "heapscope should export free_sized");
    CHECK_MSG(fas != NULL, "heapscope should export free_aligned_sized");
    CHECK_MSG(cf != NULL, "heapscope should export cfree");
  }
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i];
    void *p = malloc(V(n));
    CHECK(p != NULL);
    memset(p, 1, n);
    errno = 1234;
    free(p);
    CHECK_MSG(errno == 1234, "free(%zu-byte block) changed errno to %d", n, errno);
    if (fs) {
      p = malloc(V(n));
      memset(p, 1, n);
      errno = 1234;
      fs(p, n);
      CHECK_MSG(errno == 1234, "free_sized(%zu) changed errno to %d", n, errno);
      errno = 1234;
      fs(NULL, 0);
      CHECK(errno == 1234);
    }
    if (fas) {
      size_t a = n < 4096 ? 64 : 4096;
      size_t an = (n + a - 1) / a * a;
      p = aligned_alloc(V(a), V(an));
      CHECK(p != NULL && aligned(p, a));
      errno = 1234;
      fas(p, a, an);
      CHECK_MSG(errno == 1234, "free_aligned_sized(%zu) changed errno to %d", n, errno);
    }
    if (cf) {
      p = malloc(V(n));
      errno = 1234;
      cf(p);
      CHECK_MSG(errno == 1234, "cfree(%zu) changed errno to %d", n, errno);
    }
    /* realloc-to-zero and friends are frees too */
    p = malloc(V(n));
    errno = 1234;
    void *r = realloc(p, V(0));
    if (r)
      free(r);
  }
}

/* --------------------------------------------------- errno on success paths */
TEST(success_errno) {
  errno = 0;
  void *p = reallocarray(NULL, V(0), V(16));
  CHECK_MSG(errno == 0, "reallocarray(NULL, 0, 16) set errno to %d", errno);
  CHECK(p != NULL);
  free(p);
  errno = 0;
  p = malloc(V(100));
  p = realloc(p, V(1000));
  free(p);
  CHECK_MSG(errno == 0, "successful malloc/realloc/free set errno to %d", errno);
}

/* ------------------------------------------------------------ control calls */
TEST(control) {
  void *keep = malloc(V(1000));
  memset(keep, 7, 1000);
  for (int i = 0; i < 100; i++)
    free(malloc(V(1 << 16)));
  int r = malloc_trim(0);
  CHECK_MSG(r == 0 || r == 1, "malloc_trim(0) = %d", r);
  r = malloc_trim(V(1 << 20));
  CHECK_MSG(r == 0 || r == 1, "malloc_trim(1MB) = %d", r);
  CHECK(all_bytes(keep, 7, 1000));
  void *p = malloc(V(5000));
  CHECK(p != NULL);
  memset(p, 1, 5000);
  free(p);
  free(keep);

  r = mallopt(12345, 1);
  /* glibc 2.36 returns 1 for an unknown parameter; heapscope returns 0 (as
   * Scudo does): nothing was changed. */
  if (under_heapscope)
    CHECK_MSG(r == 0, "mallopt(12345, 1) = %d, expected 0 under heapscope", r);
  else
    CHECK_MSG(r == 0 || r == 1, "mallopt(12345, 1) = %d", r);
}

TEST(mallinfo2) {
  struct mallinfo2 a = mallinfo2();
  /* nothing looks like a wrapped negative number */
  const size_t lim = (size_t)1 << 48;
  CHECK(a.arena < lim && a.ordblks < lim && a.smblks < lim && a.hblks < lim);
  CHECK(a.hblkhd < lim && a.usmblks < lim && a.fsmblks < lim && a.uordblks < lim);
  CHECK(a.fordblks < lim && a.keepcost < lim);
  if (!under_heapscope) {
    CHECK_MSG(a.uordblks + a.fordblks == a.arena, "glibc: uordblks %zu + fordblks %zu != arena %zu",
              a.uordblks, a.fordblks, a.arena);
    return;
  }
  /* 10 MB in small blocks, plus one 10 MB block */
  enum { N = 10240 };
  static void *ps[N];
  for (int i = 0; i < N; i++) {
    ps[i] = malloc(V(1024));
    if (ps[i])
      memset(ps[i], 1, 1024);
  }
  void *big = malloc(V(10 << 20));
  memset(big, 1, 10 << 20);
  struct mallinfo2 b = mallinfo2();
  CHECK_MSG(b.uordblks >= a.uordblks + (10u << 20),
            "uordblks %zu -> %zu after allocating 10 MB in 1 KiB blocks", a.uordblks, b.uordblks);
  CHECK_MSG(b.uordblks + b.hblkhd >= a.uordblks + a.hblkhd + (20u << 20),
            "uordblks+hblkhd %zu -> %zu after allocating 20 MB", a.uordblks + a.hblkhd,
            b.uordblks + b.hblkhd);
  for (int i = 0; i < N; i++)
    free(ps[i]);
  free(big);
  struct mallinfo2 c = mallinfo2();
  CHECK_MSG(c.uordblks + (10u << 20) <= b.uordblks,
            "uordblks %zu -> %zu after freeing 20 MB", b.uordblks, c.uordblks);
}

TEST(malloc_stats) {
  fflush(stderr);
  int saved = dup(2);
  FILE *tmp = tmpfile();
  CHECK(saved >= 0 && tmp != NULL);
  if (saved < 0 || !tmp)
    return;
  dup2(fileno(tmp), 2);
  malloc_stats();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  struct stat st;
  CHECK(fstat(fileno(tmp), &st) == 0 && st.st_size > 0);
  fclose(tmp);
}

/* What malloc_info(0, ...) writes, NUL-terminated, in memory the caller
 * frees; *result is its return value.  NULL if no stream could be had. */
static char *malloc_info_text(int *result) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f)
    return NULL;
  *result = malloc_info(0, f);
  fclose(f);
  return text;
}

/* The value of attribute `name` (e.g. "count") in the first element that
 * starts with `element` (e.g. "<total type=\"rest\"") at or after `from`;
 * -1 if there is none. */
static long long xml_value(const char *from, const char *element, const char *name) {
  const char *at = strstr(from, element);
  if (!at)
    return -1;
  const char *end = strchr(at, '>');
  char key[32];
  snprintf(key, sizeof key, " %s=\"", name);
  const char *v = strstr(at, key);
  return v && end && v < end ? atoll(v + strlen(key)) : -1;
}

TEST(malloc_info) {
  /* glibc returns EINVAL for options it does not know, errno untouched */
  errno = 0;
  int r = malloc_info(1, stderr);
  CHECK_MSG(r == EINVAL && errno == 0, "malloc_info(1, stderr) = %d, errno %d", r, errno);

  /* every other object freed: more than a thread cache's bin holds, and no
   * span emptied (which could give its slots back to the page heap) */
  enum { N = 1000 };
  static void *ps[N];
  for (int i = 0; i < N; i++)
    ps[i] = malloc(V(96));
  for (int i = 0; i < N; i += 2)
    free(ps[i]);
  int result = -1;
  char *text = malloc_info_text(&result);
  CHECK(text != NULL && result == 0);
  if (!text)
    return;
  size_t len = strlen(text);
  const char *tail = "</malloc>\n";
  CHECK_MSG(strncmp(text, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n", 42) == 0 &&
                len > strlen(tail) && strcmp(text + len - strlen(tail), tail) == 0,
            "malloc_info's XML:\n%s", text);
  const char *heap_end = strstr(text, "</heap>");
  CHECK(heap_end != NULL);
  if (heap_end) {
    /* the process's totals follow the heap's; the footprint's peak is at
     * least what it holds now */
    long long current = xml_value(heap_end, "<system type=\"current\"", "size");
    long long max = xml_value(heap_end, "<system type=\"max\"", "size");
    CHECK_MSG(current > 0 && max >= current, "system current %lld, max %lld", current, max);
    CHECK(xml_value(heap_end, "<total type=\"mmap\"", "count") >= 0);
  }
  if (under_heapscope) {
    /* The <size> lines add up to "rest", and the objects freed above
     * (on spans that still hold live objects) are among the free objects
     * of the class that holds 96 bytes. */
    long long sum_count = 0, sum_total = 0, count_96 = -1, last_to = 0;
    bool ordered = true;
    for (const char *line = strstr(text, "<size "); line; line = strstr(line + 1, "<size ")) {
      long long from = xml_value(line, "<size ", "from"), to = xml_value(line, "<size ", "to");
      long long count = xml_value(line, "<size ", "count");
      ordered &= from > last_to && to >= from && count > 0 &&
                 xml_value(line, "<size ", "total") == count * to;
      last_to = to;
      sum_count += count;
      sum_total += xml_value(line, "<size ", "total");
      if (from <= 96 && 96 <= to)
        count_96 = count;
    }
    CHECK_MSG(ordered, "<size> lines out of order or inconsistent:\n%s", text);
    CHECK_MSG(sum_count == xml_value(text, "<total type=\"rest\"", "count") &&
                  sum_total == xml_value(text, "<total type=\"rest\"", "size"),
              "<size> lines sum to %lld objects, %lld bytes:\n%s", sum_count, sum_total, text);
    CHECK_MSG(count_96 >= N / 2, "free objects of the 96-byte class: %lld\n%s", count_96, text);
    CHECK(xml_value(text, "<total type=\"fast\"", "count") == 0);
    /* "system max" keeps the peak after the memory went back to the OS */
    void *big = malloc(V(32 << 20));
    CHECK(big != NULL);
    free(big);
    malloc_trim(0);
    char *after = malloc_info_text(&result);
    CHECK(after != NULL && result == 0);
    if (after) {
      long long current = xml_value(after, "<system type=\"current\"", "size");
      long long max = xml_value(after, "<system type=\"max\"", "size");
      CHECK_MSG(max >= (32 << 20) && current < max, "after a 32 MiB block and malloc_trim: "
                "system current %lld, max %lld", current, max);
      free(after);
    }
  }
  free(text);
  for (int i = 1; i < N; i += 2)
    free(ps[i]);
}

/* ----------------------------------------------------- many sizes, live at once */
TEST(many_sizes) {
  /* every size 1..2048 live at once, each filled with its own byte */
  enum { SMALL = 2048 };
  static unsigned char *ps[SMALL + 1];
  unsigned long bad = 0;
  for (size_t n = 1; n <= SMALL; n++) {
    ps[n] = malloc(V(n));
    if (!ps[n]) {
      bad++;
      continue;
    }
    memset(ps[n], (int)(n & 0xff), n);
  }
  for (size_t n = 1; n <= SMALL; n++)
    if (ps[n] && !all_bytes(ps[n], (int)(n & 0xff), n))
      bad++;
  CHECK_MSG(bad == 0, "%lu of the sizes 1..2048 failed or overlapped", bad);
  for (size_t n = 1; n <= SMALL; n += 2) /* free odd sizes, then reuse */
    free(ps[n]);
  for (size_t n = 1; n <= SMALL; n += 2) {
    ps[n] = malloc(V(n));
    if (ps[n])
      memset(ps[n], (int)(n & 0xff), n);
  }
  bad = 0;
  for (size_t n = 1; n <= SMALL; n++)
    if (!ps[n] || !all_bytes(ps[n], (int)(n & 0xff), n))
      bad++;
  CHECK_MSG(bad == 0, "%lu blocks damaged after free/reuse of half", bad);
  for (size_t n = SMALL; n >= 1; n--)
    free(ps[n]);

  /* strided sizes up to 300000, batches of 8 live at once */
  bad = 0;
  size_t stride = quick ? 523 : 61;
  for (size_t n = SMALL + 1; n <= 300000; n += stride) {
    unsigned char *b[8];
    for (int i = 0; i < 8; i++) {
      b[i] = malloc(V(n));
      if (b[i]) {
        b[i][0] = (unsigned char)i;
        b[i][n / 2] = (unsigned char)i;
        b[i][n - 1] = (unsigned char)i;
      }
    }
    for (int i = 0; i < 8; i++) {
      if (!b[i] || b[i][0] != i || b[i][n / 2] != i || b[i][n - 1] != i || !aligned(b[i], 16))
        bad++;
    }
    for (int i = 0; i < 8; i++)
      free(b[(i * 5) & 7]);
  }
  CHECK_MSG(bad == 0, "%lu strided blocks failed", bad);
}

/* ------------------------------------------------------------ large objects */
TEST(large_objects) {
  size_t max = quick ? (size_t)64 << 20 : (size_t)256 << 20;
  for (size_t n = 1 << 20; n <= max; n *= 2) {
    for (size_t extra = 0; extra <= 1; extra++) {
      size_t m = n + extra * 12345;
      unsigned char *p = malloc(V(m));
      CHECK_MSG(p != NULL, "malloc(%zu) failed", m);
      if (!p)
        continue;
      CHECK(aligned(p, 16) && malloc_usable_size(p) >= m);
      for (size_t off = 0; off < m; off += 1 << 16)
        p[off] = (unsigned char)(off >> 16);
      p[m - 1] = 0xEE;
      bool ok = p[m - 1] == 0xEE;
      for (size_t off = 0; off < m; off += 1 << 16)
        if (p[off] != (unsigned char)(off >> 16))
          ok = false;
      CHECK_MSG(ok, "large block %zu lost writes", m);
      free(p);
    }
  }
  unsigned char *c = calloc(V(256), V(quick ? 1 << 16 : 1 << 20));
  CHECK(c != NULL);
  if (c) {
    size_t n = 256u * (quick ? 1u << 16 : 1u << 20);
    bool ok = true;
    for (size_t off = 0; off < n; off += 4093)
      if (c[off])
        ok = false;
    CHECK_MSG(ok, "large calloc not zero");
    free(c);
  }
}

/* ------------------------------------------------ libc functions that allocate */
TEST(libc_allocators) {
  /* libc's internal calls reach heapscope: strdup's malloc is counted. */
  hs_thread_counters_t (*counters)(void) =
      (hs_thread_counters_t (*)(void))hs_fn("hs_thread_counters");
  CHECK(counters != NULL);
  uint64_t mallocs_before = counters ? counters().mallocs : 0;
  char *s = strdup("heapscope");
  uint64_t counted = counters ? counters().mallocs - mallocs_before : 0;
  CHECK_MSG(counted == 1, "strdup's malloc was not heapscope's (%llu mallocs counted)",
            (unsigned long long)counted);
  CHECK(s && strcmp(s, "heapscope") == 0);
  free(s);
  s = strndup("abcdefgh", 3);
  CHECK(s && strcmp(s, "abc") == 0);
  free(s);

  char *a = NULL;
  int n = asprintf(&a, "%s-%d-%0*d", "x", 42, 5000, 7);
  CHECK(n == 5000 + 5 && a && strncmp(a, "x-42-000", 8) == 0 && a[n - 1] == '7');
  free(a);

  /* getline on a memory stream with long lines: libc grows the buffer */
  size_t len = 100000;
  char *text = malloc(len + 3);
  CHECK(text != NULL);
  if (!text)
    return;
  memset(text, 'q', len);
  memcpy(text + len, "\nz\n", 3);
  FILE *f = fmemopen(text, len + 3, "r");
  CHECK(f != NULL);
  if (f) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t got = getline(&line, &cap, f);
    CHECK_MSG(got == (ssize_t)len + 1, "getline got %zd", got);
    CHECK(line && line[0] == 'q' && line[len] == '\n' && cap >= len + 2);
    got = getline(&line, &cap, f);
    CHECK(got == 2 && strcmp(line, "z\n") == 0);
    free(line);
    fclose(f);
  }
  free(text);

  /* open_memstream: libc reallocs, we free */
  char *buf = NULL;
  size_t bl = 0;
  FILE *m = open_memstream(&buf, &bl);
  CHECK(m != NULL);
  if (m) {
    for (int i = 0; i < 20000; i++)
      fprintf(m, "%d,", i % 10);
    fclose(m);
    CHECK(bl == 40000 && buf && buf[0] == '0' && buf[39999] == ',');
    free(buf);
  }
}

/* --------------------------------------------------------- hs_* equivalents */
TEST(hs_names) {
  if (!under_heapscope)
    return;
  void *(*m)(size_t) = (void *(*)(size_t))hs_fn("hs_malloc");
  void (*f)(void *) = (void (*)(void *))hs_fn("hs_free");
  size_t (*us)(const void *) = (size_t(*)(const void *))hs_fn("hs_malloc_usable_size");
  CHECK(m && f && us);
  if (!m || !f || !us)
    return;
  void *p = m(V(100));
  CHECK(p && aligned(p, 16) && us(p) >= 100 && malloc_usable_size(p) == us(p));
  f(p);
  p = malloc(V(100)); /* the two names share one heap */
  CHECK(p && us(p) >= 100);
  f(p);
  const char *(*ver)(void) = (const char *(*)(void))hs_fn("hs_version");
  CHECK(ver && ver() && ver()[0]);
}

int main(void) {
  testlib_expect_heapscope();
  under_heapscope = hs_fn("hs_version") != NULL;
  quick = testlib_quick();
  pagesize = (size_t)sysconf(_SC_PAGESIZE);
  fprintf(stderr, "api_test: %s%s\n", under_heapscope ? "heapscope" : "glibc malloc",
          quick ? " (quick)" : "");

  RUN(zero_size);
  RUN(alignment);
  RUN(usable_size);
  RUN(too_large);
  RUN(overflow);
  RUN(beyond_overcommit);
  RUN(failed_allocation_uncounted);
  RUN(calloc_zeroed);
  RUN(realloc_contents);
  RUN(realloc_failure);
  RUN(realloc_in_place);
  RUN(sampled_blocks_behave_alike);
  RUN(sample_spare_accounting);
  RUN(sample_spare_repeat);
  RUN(realloc_grow_large);
  RUN(posix_memalign);
  RUN(aligned_alloc);
  RUN(memalign);
  RUN(valloc_pvalloc);
  RUN(free_errno);
  RUN(success_errno);
  RUN(control);
  RUN(mallinfo2);
  RUN(malloc_stats);
  RUN(malloc_info);
  RUN(many_sizes);
  RUN(large_objects);
  RUN(libc_allocators);
  RUN(hs_names);
  return testlib_done();
}
