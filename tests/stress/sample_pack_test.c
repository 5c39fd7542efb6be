/* sample_pack_test.c — sampled small objects share pages (src/samplepack.c).
 *
 *  1. Footprint: with every allocation sampled, 40,000 live 32-byte objects
 *     add under 4 MiB to heap_inuse (a page of its own for each, as before
 *     packing, took 312 MiB), and freeing them gives it back.
 *  2. Contents under churn: THREADS threads, every allocation sampled, keep
 *     SLOTS objects of 1 B – 1 KiB (the packed classes) and in a loop free,
 *     realloc (within the packed range and out of it, to 3 KiB), calloc or
 *     replace a random slot, or hand the object to the next thread, which
 *     frees it: remote frees into pages other threads' samples share.
 *     Every object holds a pattern derived from its address and size,
 *     checked before it is freed or moved; calloc's bytes are all zero
 *     (a reused slot held a pattern); malloc_usable_size is at least the
 *     size asked for.
 *  3. Fork: a child frees objects the parent sampled before the fork and
 *     samples new ones.
 * Without heapscope (or its hs_prof_set_rate) only 2 and 3 run. */
#include <malloc.h>
#include <pthread.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

#define THREADS 3
#define SLOTS 64
#define FOOTPRINT_OBJECTS 40000

typedef struct slot {
  unsigned char *p;
  size_t size;
} slot_t;

static testlib_inbox_t inboxes[THREADS]; /* each thread's objects to free */
static long rounds;

#define PATTERN_SEED 0x5a3c /* testlib_pattern_*: bytes from address and size */

static void fill(unsigned char *p, size_t size) { testlib_pattern_fill(p, size, PATTERN_SEED); }

static bool intact(const unsigned char *p, size_t size) {
  return testlib_pattern_check(p, size, p, size, PATTERN_SEED) == (size_t)-1;
}

static void drain_inbox(int self) {
  for (int i = 0; i < TESTLIB_INBOX_SLOTS; i++) {
    size_t size;
    unsigned char *p = testlib_inbox_take(&inboxes[self], i, &size); /* the previous thread's */
    if (!p) continue;
    CHECK_MSG(intact(p, size), "a %zu-byte object handed over lost its pattern", size);
    free(p);
  }
}

static void *worker(void *arg) {
  int self = (int)(intptr_t)arg, next = (self + 1) % THREADS;
  uint64_t state = 0x9e3779b97f4a7c15u * (uint64_t)(self + 1);
  slot_t slots[SLOTS] = {{0}};
  for (long r = 0; r < rounds; r++) {
    if ((r & 63) == 0) drain_inbox(self);
    slot_t *s = &slots[testlib_random_below(&state, SLOTS)];
    if (s->p && !intact(s->p, s->size)) {
      CHECK_MSG(false, "a %zu-byte object lost its pattern", s->size);
      s->p = NULL;
    }
    size_t size = 1 + testlib_random_below(&state, 1024);
    switch (testlib_random_below(&state, 5)) {
      case 0: /* replace */
        free(s->p);
        s->p = malloc(size);
        break;
      case 1: { /* realloc, sometimes out of the packed range */
        if (testlib_random_below(&state, 4) == 0) size = 1025 + testlib_random_below(&state, 2048);
        unsigned char *moved = realloc(s->p, size);
        if (!CHECK(moved != NULL)) continue;
        if (s->p) {
          size_t kept = s->size < size ? s->size : size;
          size_t bad = testlib_pattern_check(moved, kept, s->p, s->size, PATTERN_SEED);
          CHECK_MSG(bad == (size_t)-1, "realloc %zu -> %zu lost byte %zu", s->size, size, bad);
        }
        s->p = moved;
        break;
      }
      case 2: { /* calloc: a reused slot comes back zeroed */
        free(s->p);
        s->p = calloc(1, size);
        if (!CHECK(s->p != NULL)) continue;
        for (size_t i = 0; i < size; i++)
          if (s->p[i]) {
            CHECK_MSG(false, "calloc(1, %zu) byte %zu is %d", size, i, s->p[i]);
            break;
          }
        break;
      }
      case 3: { /* hand it to the next thread */
        if (!s->p) continue;
        int i = (int)testlib_random_below(&state, TESTLIB_INBOX_SLOTS);
        if (testlib_inbox_put(&inboxes[next], i, s->p, s->size)) s->p = NULL; /* else keep it */
        continue;
      }
      default:
        free(s->p);
        s->p = NULL;
        continue;
    }
    if (!CHECK(s->p != NULL)) continue;
    CHECK_MSG(malloc_usable_size(s->p) >= size, "usable %zu < %zu", malloc_usable_size(s->p), size);
    s->size = size;
    fill(s->p, size);
  }
  for (int i = 0; i < SLOTS; i++) {
    if (slots[i].p) CHECK(intact(slots[i].p, slots[i].size));
    free(slots[i].p);
  }
  return NULL;
}

static void churn(void) {
  pthread_t threads[THREADS];
  for (int t = 0; t < THREADS; t++)
    CHECK(pthread_create(&threads[t], NULL, worker, (void *)(intptr_t)t) == 0);
  for (int t = 0; t < THREADS; t++) CHECK(pthread_join(threads[t], NULL) == 0);
  for (int t = 0; t < THREADS; t++) drain_inbox(t);
}

static void footprint(void) {
  static unsigned char *objects[FOOTPRINT_OBJECTS];
  hs_stats_t before = testlib_stats();
  for (int i = 0; i < FOOTPRINT_OBJECTS; i++) {
    objects[i] = malloc(32);
    if (!CHECK(objects[i] != NULL)) return;
    fill(objects[i], 32);
  }
  hs_stats_t during = testlib_stats();
  uint64_t grown = during.heap_inuse - before.heap_inuse;
  CHECK_MSG(grown < (4u << 20), "%d sampled 32-byte objects took %llu KiB of heap_inuse",
            FOOTPRINT_OBJECTS, (unsigned long long)(grown >> 10));
  int lost = 0;
  for (int i = 0; i < FOOTPRINT_OBJECTS; i++) {
    lost += !intact(objects[i], 32);
    free(objects[i]);
  }
  CHECK_MSG(lost == 0, "%d of the sampled 32-byte objects lost their pattern", lost);
  hs_stats_t after = testlib_stats();
  CHECK_MSG(after.heap_inuse < during.heap_inuse - grown / 2,
            "heap_inuse %llu KiB after the frees, %llu KiB with the objects",
            (unsigned long long)(after.heap_inuse >> 10),
            (unsigned long long)(during.heap_inuse >> 10));
}

static void fork_case(void) {
  enum { KEPT = 300 };
  unsigned char *kept[KEPT];
  for (int i = 0; i < KEPT; i++) {
    kept[i] = malloc(16 + (size_t)i);
    if (!CHECK(kept[i] != NULL)) return;
    fill(kept[i], 16 + (size_t)i);
  }
  pid_t pid = fork();
  if (pid == 0) {
    int bad = 0;
    for (int i = 0; i < KEPT; i += 2) {
      bad += !intact(kept[i], 16 + (size_t)i);
      free(kept[i]);
      unsigned char *fresh = malloc(16 + (size_t)i);
      if (!fresh) _exit(3);
      fill(fresh, 16 + (size_t)i);
      bad += !intact(fresh, 16 + (size_t)i);
      free(fresh);
    }
    _exit(bad ? 2 : 0);
  }
  CHECK(pid > 0);
  int status = testlib_wait_child(pid, 60);
  CHECK_MSG(status == 0, "the child that freed the parent's sampled objects exited %d", status);
  for (int i = 0; i < KEPT; i++) {
    CHECK(intact(kept[i], 16 + (size_t)i));
    free(kept[i]);
  }
}

int main(void) {
  testlib_expect_heapscope();
  rounds = testlib_quick() ? 20000 : 200000;
  int64_t (*set_rate)(int64_t) = (int64_t (*)(int64_t))hs_fn("hs_prof_set_rate");
  int64_t rate = set_rate ? set_rate(1) : 0;
  if (set_rate) footprint();
  churn();
  fork_case();
  if (set_rate) set_rate(rate);
  return testlib_done();
}
