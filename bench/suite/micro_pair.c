/* micro_pair.c — ns per malloc+free pair, 16 B .. 1 MiB: "tight" is
 * `p = malloc(n); free(p);` in a loop; "batch" allocates 64 objects, then
 * frees them in allocation order.  Each figure is the best of 5 timed
 * passes, and the passes take turns: pass 1 of every figure, then pass 2 of
 * every figure, and so on, so a figure's passes are spread over the whole
 * run.  The minimum then filters out preemption and the shorter of the
 * spells (tens of milliseconds to seconds) in which a shared host runs
 * every allocator's loop 1.3-2x slower (docs/performance.md); passes run
 * back to back fell into the same spell together.  A spell as long as the
 * whole run still shows: compare runs by their run-by-run ratios.
 *   micro_pair [thousands_of_pairs_per_size=10000] */
#include "suite.h"

enum { BATCH = 64, PASSES = 5 };

static const size_t sizes[] = {16, 32, 64, 128, 256, 512, 1024, 4096, 16384, 65536,
                               262144, 1048576};
#define SIZE_COUNT (sizeof sizes / sizeof sizes[0])

__attribute__((noinline)) static double tight_ns(size_t size, long pairs) {
  double start = suite_now_s();
  for (long i = 0; i < pairs; i++) {
    void *p = malloc(size);
    suite_check_alloc(p, size);
    free(p);
  }
  return (suite_now_s() - start) * 1e9 / (double)pairs;
}

__attribute__((noinline)) static double batch_ns(size_t size, long pairs) {
  void *held[BATCH];
  long rounds = pairs / BATCH > 0 ? pairs / BATCH : 1;
  double start = suite_now_s();
  for (long r = 0; r < rounds; r++) {
    for (int i = 0; i < BATCH; i++) held[i] = suite_check_alloc(malloc(size), size);
    for (int i = 0; i < BATCH; i++) free(held[i]);
  }
  return (suite_now_s() - start) * 1e9 / (double)(rounds * BATCH);
}

static double min_of(double a, double b) { return b < a ? b : a; }

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 1, "[thousands_of_pairs_per_size=10000]");
  long base = suite_arg_long(argc, argv, 1, 10000, 100000000) * 1000L;
  double tight[SIZE_COUNT], batch[SIZE_COUNT];
  long pairs[SIZE_COUNT];
  for (size_t i = 0; i < SIZE_COUNT; i++) {
    /* Fewer pairs for big sizes: some allocators map and unmap them. */
    pairs[i] = sizes[i] <= 1024 ? base : sizes[i] <= 65536 ? base / 8 : base / 64;
    if (pairs[i] < BATCH * PASSES) pairs[i] = BATCH * PASSES;
  }
  double start = suite_now_s();
  for (int pass = 0; pass < PASSES; pass++) {
    for (size_t i = 0; i < SIZE_COUNT; i++) {
      double t = tight_ns(sizes[i], pairs[i] / PASSES);
      double b = batch_ns(sizes[i], pairs[i] / PASSES);
      tight[i] = pass == 0 ? t : min_of(tight[i], t);
      batch[i] = pass == 0 ? b : min_of(batch[i], b);
    }
  }
  double elapsed = suite_now_s() - start;
  printf("micro_pair");
  for (size_t i = 0; i < SIZE_COUNT; i++) printf(" tight_%zu=%.3f", sizes[i], tight[i]);
  for (size_t i = 0; i < SIZE_COUNT; i++) printf(" batch_%zu=%.3f", sizes[i], batch[i]);
  printf(" time_s=%.4f final_rss_kib=%ld\n", elapsed, suite_rss_kib());
  return 0;
}
