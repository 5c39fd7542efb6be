/* churn.c — single-thread small-object churn with mixed lifetimes: every
 * step allocates one object (8 B .. 8 KiB, mostly small) and parks it in a
 * short-lived ring (64 slots), a medium ring (4096) or a long-lived table
 * (65536 slots, random replacement), freeing whatever it displaces.
 *   churn [thousands_of_steps=16000] */
#include "suite.h"

enum { SHORT_SLOTS = 64, MEDIUM_SLOTS = 4096, LONG_SLOTS = 65536 };

static void *short_ring[SHORT_SLOTS];
static void *medium_ring[MEDIUM_SLOTS];
static void *long_table[LONG_SLOTS];

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 1, "[thousands_of_steps=16000]");
  long steps = suite_arg_long(argc, argv, 1, 16000, 100000000) * 1000L;
  suite_rng_t rng = suite_rng_make(1);
  uint64_t check = 0;
  long short_next = 0, medium_next = 0;
  double start = suite_now_s();
  for (long i = 0; i < steps; i++) {
    size_t size = suite_small_size(&rng);
    unsigned char *p = suite_check_alloc(malloc(size), size);
    p[0] = (unsigned char)i;
    p[size - 1] = (unsigned char)size;
    void **slot;
    uint64_t pick = suite_rng_below(&rng, 100);
    if (pick < 80) {
      slot = &short_ring[short_next++ % SHORT_SLOTS];
    } else if (pick < 98) {
      slot = &medium_ring[medium_next++ % MEDIUM_SLOTS];
    } else {
      slot = &long_table[suite_rng_below(&rng, LONG_SLOTS)];
    }
    if (*slot != NULL) {
      check += ((unsigned char *)*slot)[0];
      free(*slot);
    }
    *slot = p;
  }
  for (int i = 0; i < SHORT_SLOTS; i++) free(short_ring[i]);
  for (int i = 0; i < MEDIUM_SLOTS; i++) free(medium_ring[i]);
  for (int i = 0; i < LONG_SLOTS; i++) free(long_table[i]);
  suite_report("churn", steps, suite_now_s() - start, check);
  return 0;
}
