/* address_limit_test.c — the address-space limit (RLIMIT_AS) reached, then
 * the memory freed: allocation must work again, sampled or not.
 *
 * The limit is set 256 MiB above the process's size now.  1 MiB blocks are
 * allocated until malloc fails (ENOMEM) and all freed; then, with a sample
 * at every allocation (hs_prof_set_rate(1): each sampled object takes a
 * span of its own, a page and a span record), 20,000 small objects and 100
 * of 300 KiB (186 MiB of spans) are allocated and kept, and must all
 * succeed: the heap holds more free address space than that, and the span
 * records' metadata must find room in it when the OS refuses another
 * mapping (before, 12,073 of the 20,100 failed so).  The same
 * again at the default rate.
 *
 * Then at the limit itself: 20,000 objects of 100 B are allocated and every
 * other one freed (unsampled), the address space is filled with 1 MiB
 * blocks and kept full, and 5,000 objects of 100 B are allocated with a
 * sample at each.  A sample cannot have the page of its own it would get,
 * but the freed slots can serve the objects unsampled: all must succeed.
 *
 * Before all that (first, so that the heap grows by small objects alone):
 * the address space filled with 24-byte objects and all freed, one block
 * of 128 MiB, more than any run of the heap's 64 MiB regions, must succeed
 * (the free spans' address space is given back when the OS refuses the new
 * region; with the library before that, it failed).
 */
#include <errno.h>
#include <sys/resource.h>

#include "testlib.h"

#define MIB ((size_t)1 << 20)
enum { BLOCKS = 4096, SMALL = 20000, LARGE = 100 };

static void *blocks[BLOCKS];
static void *small[SMALL];
static void *large[LARGE];

/* Fills the address space with 1 MiB blocks and frees them; returns how
 * many there were. */
static int fill_and_free(void) {
  int count = 0;
  errno = 0;
  while (count < BLOCKS && (blocks[count] = malloc(MIB)) != NULL) count++;
  CHECK_MSG(count < BLOCKS, "the limit was never reached (%d MiB)", count);
  CHECK_MSG(errno == ENOMEM, "malloc failed with errno %d, not ENOMEM", errno);
  for (int i = 0; i < count; i++) free(blocks[i]);
  return count;
}

/* Allocates and keeps the small and the large objects; returns the failures. */
static int allocate_after(void) {
  int failed = 0;
  for (int i = 0; i < SMALL; i++) {
    size_t size = 16 + (size_t)(i % 200);
    small[i] = malloc(size);
    if (small[i]) memset(small[i], i, size);
    else failed++;
  }
  for (int i = 0; i < LARGE; i++) {
    large[i] = malloc(300 * 1024);
    if (large[i]) memset(large[i], i, 300 * 1024);
    else failed++;
  }
  return failed;
}

static void free_all(void) {
  for (int i = 0; i < SMALL; i++) free(small[i]);
  for (int i = 0; i < LARGE; i++) free(large[i]);
}

/* At the limit, with free slots in small-object spans: sampled mallocs of
 * 100 B must be served from them. */
static void sample_at_limit(int64_t (*set_rate)(int64_t)) {
  int64_t old_rate = set_rate(0);
  for (int i = 0; i < SMALL; i++) small[i] = malloc(100);
  for (int i = 0; i < SMALL; i += 2) {
    free(small[i]);
    small[i] = NULL;
  }
  int count = 0;
  while (count < BLOCKS && (blocks[count] = malloc(MIB)) != NULL) count++;
  CHECK_MSG(count < BLOCKS, "the limit was never reached (%d MiB)", count);
  set_rate(1);
  int failed = 0;
  for (int i = 0; i < SMALL; i += 2) {
    if (i >= 2 * 5000) break;
    small[i] = malloc(100);
    if (!small[i]) failed++;
  }
  set_rate(old_rate);
  CHECK_MSG(failed == 0, "at the limit, %d of 5000 sampled mallocs of 100 B failed", failed);
  for (int i = 0; i < count; i++) free(blocks[i]);
  for (int i = 0; i < SMALL; i++) free(small[i]);
}

/* The address space filled with 24-byte objects (a list through them, so
 * no array takes room), all freed: a block of half the headroom, bigger
 * than any run of the heap's regions, must be had (glibc's heap gives the
 * space back at its top; heapscope unmaps free spans when the OS refuses
 * a new region). */
static void big_block_after_small(void) {
  void *head = NULL;
  long count = 0;
  void *object;
  while ((object = malloc(24)) != NULL) {
    *(void **)object = head;
    head = object;
    count++;
  }
  CHECK_MSG(count > 1000000, "only %ld objects of 24 B before the limit", count);
  while (head) {
    void *next = *(void **)head;
    free(head);
    head = next;
  }
  void *big = malloc(128 * MIB);
  CHECK_MSG(big != NULL, "after %ld objects of 24 B were freed, malloc(128 MiB) failed", count);
  if (big) memset(big, 1, 128 * MIB);
  free(big);
}

int main(void) {
  testlib_expect_heapscope();
  int64_t (*set_rate)(int64_t) = (int64_t (*)(int64_t))hs_fn("hs_prof_set_rate");
  if (!CHECK(set_rate != NULL)) return testlib_done();
  struct rlimit limit;
  CHECK(getrlimit(RLIMIT_AS, &limit) == 0);
  uint64_t size_kib = testlib_status_kib("VmSize:");
  limit.rlim_cur = (rlim_t)(size_kib * 1024 + 256 * MIB);
  if (!CHECK(setrlimit(RLIMIT_AS, &limit) == 0)) return testlib_done();
  big_block_after_small(); /* first: the heap grows by small objects alone */

  for (int round = 0; round < 2; round++) {
    int64_t rate = round == 0 ? 1 : 512 * 1024;
    int64_t old_rate = set_rate(rate);
    int blocks_freed = fill_and_free();
    int failed = allocate_after();
    CHECK_MSG(failed == 0,
              "rate %lld: %d of %d allocations failed after %d MiB were freed at the limit",
              (long long)rate, failed, SMALL + LARGE, blocks_freed);
    free_all();
    set_rate(old_rate);
  }
  sample_at_limit(set_rate);
  return testlib_done();
}
