/* realloc_grow.c — realloc growth one element at a time: 64 vectors of
 * 8-byte elements grow together, round-robin, each by realloc to exactly
 * one more element, up to 4096 elements (32 KiB), then are freed; every
 * fourth round also grows one vector to 256 Ki elements (2 MiB, into the
 * large-object range).
 * Given a second argument 1 it calls malloc_trim(0) after each round's
 * frees: what giving every free page back to the OS at once each time
 * costs (glibc and heapscope both release their free pages there).
 *   realloc_grow [rounds=180] [1: malloc_trim(0) after each round] */
#include <malloc.h>

#include "suite.h"

enum { VECTORS = 64, SMALL_ELEMENTS = 4096, BIG_ELEMENTS = 256 * 1024 };

static uint64_t *grow(uint64_t *v, long n) {
  size_t bytes = (size_t)(n + 1) * sizeof *v;
  v = suite_check_alloc(realloc(v, bytes), bytes);
  v[n] = (uint64_t)n;
  return v;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[rounds=180] [1: malloc_trim(0) after each round]");
  long rounds = suite_arg_long(argc, argv, 1, 180, 1000000);
  long trim = suite_arg_long(argc, argv, 2, 0, 1);
  uint64_t *vectors[VECTORS];
  uint64_t check = 0;
  long reallocs = 0;
  double start = suite_now_s();
  for (long r = 0; r < rounds; r++) {
    for (int v = 0; v < VECTORS; v++) vectors[v] = NULL;
    for (long n = 0; n < SMALL_ELEMENTS; n++) {
      for (int v = 0; v < VECTORS; v++) vectors[v] = grow(vectors[v], n);
    }
    reallocs += (long)VECTORS * SMALL_ELEMENTS;
    for (int v = 0; v < VECTORS; v++) {
      check += vectors[v][SMALL_ELEMENTS - 1 - (r % 7)];
      free(vectors[v]);
    }
    if (r % 4 == 0) {
      uint64_t *big = NULL;
      for (long n = 0; n < BIG_ELEMENTS; n++) big = grow(big, n);
      reallocs += BIG_ELEMENTS;
      check += big[BIG_ELEMENTS / 2];
      free(big);
    }
    if (trim) malloc_trim(0);
  }
  suite_report("realloc_grow", reallocs, suite_now_s() - start, check);
  return 0;
}
