/* big_class_test.c — objects of the big classes (over 32 KiB, a span
 * holding at most seven) under churn: THREADS threads each keep SLOTS
 * objects of 24 KiB – 300 KiB (either side of the big classes and past the
 * largest), and in a loop free, realloc or replace a random slot, or hand
 * the object to the next thread, which frees it (a remote free into a span
 * its owner may be giving back).  Every object holds a pattern derived from
 * its address and size, checked before it is freed or moved.  What this
 * exercises: a big class's current span going back to the page heap when
 * its last object returns, bins that stop growing at the shared budget,
 * remote frees into spans of those classes, and realloc across them
 * (src/tcache.c, TCACHE_BIG_*).  After the threads exit, under heapscope,
 * no object of 24 KiB or more is live.  The churn runs twice: sampled at
 * every allocation (each object on a span of its own, freed into the
 * sample spares of whichever thread frees it), then at the default rate.
 *
 * glibc keeps a few small blocks of exited threads, their TLS vectors, with
 * the stacks it caches, and the sampler may have put one on a span of its
 * own: then it counts as "in no class", as a large object would.  So the
 * count before is taken after as many threads as the test runs have come
 * and gone, on stacks of a fixed size the cache keeps (whatever the
 * default): the workers reuse those stacks and their vectors, and allocate
 * none the count after would see.
 */
#include <pthread.h>
#include <string.h>

#include "testlib.h"

#define THREADS 4
#define SLOTS 48

typedef struct slot {
  unsigned char *p;
  size_t size;
} slot_t;

static testlib_inbox_t inboxes[THREADS]; /* each thread's objects to free */
static long rounds;

static size_t random_size(uint64_t *state) {
  return (24u << 10) + (size_t)(testlib_random(state) % (276u << 10));
}

/* One byte every 512 and the last: enough to see a block handed out twice
 * or overwritten, cheap enough for 300 KiB blocks. */
static void fill(unsigned char *p, size_t size) {
  unsigned char key = (unsigned char)(((uintptr_t)p >> 12) ^ size);
  for (size_t i = 0; i + 1 < size; i += 512) p[i] = (unsigned char)(key + i / 512);
  p[size - 1] = key;
}

static bool intact(const unsigned char *p, size_t size) {
  unsigned char key = (unsigned char)(((uintptr_t)p >> 12) ^ size);
  for (size_t i = 0; i + 1 < size; i += 512)
    if (p[i] != (unsigned char)(key + i / 512)) return false;
  return p[size - 1] == key;
}

/* Live objects of 24 KiB or more: those of the classes that size, and the
 * large ones (live objects that are in no class). */
static int64_t big_live_objects(void) {
  hs_stats_t stats = testlib_stats();
  int64_t in_classes = 0, big = 0;
  for (uint32_t c = 0; c < stats.class_count; c++) {
    in_classes += (int64_t)stats.classes[c].live_objects;
    if (stats.classes[c].size_bytes >= (24u << 10)) big += (int64_t)stats.classes[c].live_objects;
  }
  return big + ((int64_t)stats.live_objects - in_classes);
}

/* On a failure, where the count stands: each big class's live, cached and
 * transfer objects, and the objects in no class (large, and sampled). */
static void print_big_live(void) {
  hs_stats_t stats = testlib_stats();
  int64_t in_classes = 0;
  for (uint32_t c = 0; c < stats.class_count; c++) {
    const hs_class_stats_t *k = &stats.classes[c];
    in_classes += (int64_t)k->live_objects;
    if (k->size_bytes >= (24u << 10) && (k->live_objects || k->spans))
      printf("    # class %llu B: live %llu, spans %llu, slots %llu, thread cache %llu, "
             "transfer %llu, span free %llu\n",
             (unsigned long long)k->size_bytes, (unsigned long long)k->live_objects,
             (unsigned long long)k->spans, (unsigned long long)k->slots,
             (unsigned long long)k->thread_cache_objects,
             (unsigned long long)k->transfer_objects, (unsigned long long)k->span_free_objects);
  }
  printf("    # live objects %llu, in classes %lld, so in no class %lld; heap_alloc %llu\n",
         (unsigned long long)stats.live_objects, (long long)in_classes,
         (long long)stats.live_objects - in_classes, (unsigned long long)stats.heap_alloc);
}

static void drain_inbox(int self) {
  for (int i = 0; i < TESTLIB_INBOX_SLOTS; i++) {
    size_t size;
    unsigned char *p = testlib_inbox_take(&inboxes[self], i, &size); /* the previous thread's */
    if (!p) continue;
    CHECK_MSG(intact(p, size), "a handed-off %zu-byte block changed", size);
    free(p);
  }
}

static void *no_work(void *arg) { return arg; }

static void *worker(void *arg) {
  int self = (int)(intptr_t)arg;
  uint64_t state = 0x9e3779b97f4a7c15ull * (uint64_t)(self + 1);
  slot_t slots[SLOTS];
  memset(slots, 0, sizeof slots);
  for (long r = 0; r < rounds; r++) {
    slot_t *s = &slots[testlib_random(&state) % SLOTS];
    uint64_t what = testlib_random(&state) % 8;
    if (s->p && !CHECK_MSG(intact(s->p, s->size), "a %zu-byte block changed", s->size))
      break;
    if (s->p && what == 0) { /* realloc to a new size: the old contents move */
      size_t size = random_size(&state);
      unsigned char *q = realloc(s->p, size);
      if (!CHECK(q != NULL)) break;
      size_t kept = size < s->size ? size : s->size;
      /* the old pattern is keyed on the old address: check the bytes moved */
      unsigned char key = (unsigned char)(((uintptr_t)s->p >> 12) ^ s->size);
      bool moved_ok = true;
      for (size_t i = 0; i < kept && i + 1 < s->size; i += 512)
        if (q[i] != (unsigned char)(key + i / 512)) moved_ok = false;
      CHECK_MSG(moved_ok, "realloc %zu -> %zu lost the contents", s->size, size);
      s->p = q;
      s->size = size;
      fill(q, size);
    } else if (s->p && what == 1) { /* to the next thread, which frees it */
      int to = (self + 1) % THREADS;
      int i = (int)(testlib_random(&state) % TESTLIB_INBOX_SLOTS);
      if (testlib_inbox_put(&inboxes[to], i, s->p, s->size)) s->p = NULL;
    } else {
      free(s->p);
      s->size = random_size(&state);
      s->p = malloc(s->size);
      if (!CHECK(s->p != NULL)) break;
      fill(s->p, s->size);
    }
    if ((r & 63) == 0) drain_inbox(self);
  }
  for (int i = 0; i < SLOTS; i++) {
    if (!slots[i].p) continue;
    CHECK(intact(slots[i].p, slots[i].size));
    free(slots[i].p);
  }
  return NULL;
}

/* One round of churn by THREADS workers on stacks of `attr`; then no
 * object of 24 KiB or more may be live that was not before. */
static void churn(const pthread_attr_t *attr, const char *sampling) {
  int64_t live_before = big_live_objects();
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; t++)
    CHECK(pthread_create(&threads[t], attr, worker, (void *)(intptr_t)t) == 0);
  for (int t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
  for (int t = 0; t < THREADS; t++) drain_inbox(t);
  if (hs_fn("hs_stats")) {
    int64_t live_after = big_live_objects();
    if (!CHECK_MSG(live_after == live_before,
                   "sampling %s: live objects of 24 KiB or more: %lld before the threads, "
                   "%lld after",
                   sampling, (long long)live_before, (long long)live_after))
      print_big_live();
  }
}

int main(void) {
  testlib_expect_heapscope();
  rounds = testlib_quick() ? 20000 : 100000;
  pthread_attr_t attr;
  CHECK(pthread_attr_init(&attr) == 0);
  CHECK(pthread_attr_setstacksize(&attr, 1u << 20) == 0);
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; t++) CHECK(pthread_create(&threads[t], &attr, no_work, NULL) == 0);
  for (int t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
  /* First with every object sampled: each on a span of its own, as would
   * be the TLS vectors of threads that did not reuse a cached stack. */
  int64_t (*set_rate)(int64_t) = (int64_t (*)(int64_t))hs_fn("hs_prof_set_rate");
  if (set_rate) {
    int64_t rate = set_rate(1);
    churn(&attr, "every allocation");
    set_rate(rate);
  }
  churn(&attr, "at the default rate");
  pthread_attr_destroy(&attr);
  return testlib_done();
}
