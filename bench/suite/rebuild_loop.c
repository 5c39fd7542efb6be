/* rebuild_loop.c — a request loop: each round allocates OBJECTS small
 * objects (a 40-byte node and a 16..256-byte payload in turn, as tree
 * builds), writes a byte of each, reads them back, and frees them all,
 * newest first; nothing outlives a round.  Besides the suite's fields it
 * prints the mean ns per malloc and per free over all rounds and the
 * process's minor page faults: an allocator that gives the memory back at
 * every round's end and faults it in again at the next shows it there.
 * Not in bench/run.sh's table; bench/rebuild_loop.sh runs it under every
 * allocator.
 *   rebuild_loop [objects=16000] [rounds=2000] */
#include <sys/resource.h>

#include "suite.h"

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[objects=16000] [rounds=2000]");
  long objects = suite_arg_long(argc, argv, 1, 16000, 10000000);
  long rounds = suite_arg_long(argc, argv, 2, 2000, 10000000);
  unsigned char **p = suite_check_alloc(calloc((size_t)objects, sizeof *p), 1);
  size_t *sizes = suite_check_alloc(calloc((size_t)objects, sizeof *sizes), 1);
  suite_rng_t rng = suite_rng_make(29);
  for (long i = 0; i < objects; i++) sizes[i] = i % 2 ? 40 : 16 + suite_rng_below(&rng, 241);
  double malloc_s = 0, free_s = 0, start = suite_now_s();
  uint64_t check = 0;
  for (long r = 0; r < rounds; r++) {
    double t0 = suite_now_s();
    for (long i = 0; i < objects; i++) {
      p[i] = suite_check_alloc(malloc(sizes[i]), sizes[i]);
      p[i][0] = (unsigned char)i;
    }
    double t1 = suite_now_s();
    for (long i = 0; i < objects; i++) check += p[i][0];
    double t2 = suite_now_s();
    for (long i = objects; i-- > 0;) free(p[i]);
    free_s += suite_now_s() - t2;
    malloc_s += t1 - t0;
  }
  double elapsed_s = suite_now_s() - start;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double ops = (double)objects * (double)rounds;
  printf("rebuild_loop ops=%.0f time_s=%.4f final_rss_kib=%ld malloc_ns=%.2f free_ns=%.2f "
         "minor_faults=%ld check=%llu\n",
         ops, elapsed_s, suite_rss_kib(), malloc_s / ops * 1e9, free_s / ops * 1e9, ru.ru_minflt,
         (unsigned long long)check);
  free(p);
  free(sizes);
  return 0;
}
