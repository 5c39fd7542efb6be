/* pair_sweep.c — the tight malloc(32)+free loop at many object addresses.
 * The loop recycles one object, and its time moves in whole cycles with
 * that object's address (store-to-load forwarding through the object and
 * the allocator's free-list head), so one run of micro_pair's tight_32 is
 * one sample of a spread.  Here each round first allocates 16 more 32-byte
 * objects and keeps them, which moves the recycled object 512 bytes along
 * (across pages as the rounds go on), then takes the best of 3 timed
 * passes; the line gives the minimum, median and
 * maximum over the rounds (ns per pair).
 *   pair_sweep [thousands_of_pairs_per_round=4000] [rounds=24] */
#include "suite.h"

enum { PASSES = 3, MAX_ROUNDS = 256, KEEP_PER_ROUND = 16 };

__attribute__((noinline)) static double tight_ns(long pairs) {
  double start = suite_now_s();
  for (long i = 0; i < pairs; i++) {
    void *p = malloc(32);
    suite_check_alloc(p, 32);
    free(p);
  }
  return (suite_now_s() - start) * 1e9 / (double)pairs;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[thousands_of_pairs_per_round=4000] [rounds=24]");
  long pairs = suite_arg_long(argc, argv, 1, 4000, 100000000) * 1000L;
  long rounds = suite_arg_long(argc, argv, 2, 24, MAX_ROUNDS);
  static void *kept[MAX_ROUNDS * KEEP_PER_ROUND];
  double ns[MAX_ROUNDS];
  double start = suite_now_s();
  for (long r = 0; r < rounds; r++) {
    for (int k = 0; k < KEEP_PER_ROUND; k++)
      kept[r * KEEP_PER_ROUND + k] = suite_check_alloc(malloc(32), 32);
    ns[r] = tight_ns(pairs);
    for (int p = 1; p < PASSES; p++) {
      double t = tight_ns(pairs);
      if (t < ns[r]) ns[r] = t;
    }
  }
  double elapsed = suite_now_s() - start;
  for (long i = 0; i < rounds * KEEP_PER_ROUND; i++) free(kept[i]);
  qsort(ns, (size_t)rounds, sizeof ns[0], compare_doubles);
  printf("pair_sweep rounds=%ld min_ns=%.3f median_ns=%.3f max_ns=%.3f time_s=%.4f final_rss_kib=%ld\n",
         rounds, ns[0], ns[rounds / 2], ns[rounds - 1], elapsed, suite_rss_kib());
  return 0;
}
