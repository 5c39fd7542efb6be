/* large.c — large objects: 16 live slots of 64 KiB .. 8 MiB (log-uniform);
 * each step frees a slot (1 in 4), reallocs it to a new size, or mallocs
 * it, then writes one byte in every 4 KiB of the part not written before
 * (as a program filling its buffer would).  Measures mapping, reuse,
 * in-place growth and page faults.
 *   large [steps=16000] */
#include <math.h>

#include "suite.h"

enum { SLOTS = 16, TOUCH_BYTES = 4096 };

static size_t large_size(suite_rng_t *rng) {
  double lo = log(64.0 * 1024), hi = log(8.0 * 1024 * 1024);
  double u = (double)suite_rng_below(rng, 1u << 20) / (1u << 20);
  return (size_t)exp(lo + u * (hi - lo));
}

static void touch(unsigned char *p, size_t from, size_t to) {
  for (size_t i = from; i < to; i += TOUCH_BYTES) p[i] = (unsigned char)i;
  if (to > 0) p[to - 1] = 1;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 1, "[steps=16000]");
  long steps = suite_arg_long(argc, argv, 1, 16000, 100000000);
  suite_rng_t rng = suite_rng_make(5);
  unsigned char *slot[SLOTS] = {0};
  size_t slot_bytes[SLOTS] = {0};
  uint64_t check = 0;
  double start = suite_now_s();
  for (long i = 0; i < steps; i++) {
    uint64_t s = suite_rng_below(&rng, SLOTS);
    if (slot[s] != NULL && suite_rng_below(&rng, 4) == 0) {
      check += slot[s][0];
      free(slot[s]);
      slot[s] = NULL;
      slot_bytes[s] = 0;
      continue;
    }
    size_t size = large_size(&rng);
    if (slot[s] == NULL) {
      slot[s] = suite_check_alloc(malloc(size), size);
      touch(slot[s], 0, size);
    } else {
      slot[s] = suite_check_alloc(realloc(slot[s], size), size);
      if (size > slot_bytes[s]) touch(slot[s], slot_bytes[s], size);
      check += slot[s][0];
    }
    slot_bytes[s] = size;
  }
  for (int s = 0; s < SLOTS; s++) free(slot[s]);
  suite_report("large", steps, suite_now_s() - start, check);
  return 0;
}
