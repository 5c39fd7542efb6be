/* rebuild_loop.c — a request loop: each round allocates OBJECTS small
 * objects (a 40-byte node and a 16..256-byte payload in turn, as
 * bench/suite/tree builds), writes a byte of each, reads them back, and
 * frees them all, newest first; nothing outlives a round.  Prints the mean
 * ns per malloc and per free over all rounds and the process's minor page
 * faults: an allocator that gives the memory back at every round's end and
 * faults it in again at the next shows it there.
 *   rebuild_loop [objects=16000] [rounds=2000] */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long arg_long(int argc, char **argv, int i, long fallback) {
  if (argc <= i) return fallback;
  char *end;
  long v = strtol(argv[i], &end, 10);
  if (*end != '\0' || v < 1 || v > 100000000) {
    fprintf(stderr, "rebuild_loop: argument %d: want a count, got '%s'\n", i, argv[i]);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  if (argc > 3) {
    fprintf(stderr, "usage: rebuild_loop [objects=16000] [rounds=2000]\n");
    return 2;
  }
  long objects = arg_long(argc, argv, 1, 16000), rounds = arg_long(argc, argv, 2, 2000);
  unsigned char **p = calloc((size_t)objects, sizeof *p);
  size_t *sizes = calloc((size_t)objects, sizeof *sizes);
  if (!p || !sizes) return 1;
  uint64_t x = 88172645463325252u; /* xorshift64 */
  for (long i = 0; i < objects; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    sizes[i] = i % 2 ? 40 : 16 + x % 241;
  }
  double malloc_s = 0, free_s = 0;
  uint64_t check = 0;
  for (long r = 0; r < rounds; r++) {
    double t0 = now_s();
    for (long i = 0; i < objects; i++) {
      p[i] = malloc(sizes[i]);
      if (!p[i]) return 1;
      p[i][0] = (unsigned char)i;
    }
    double t1 = now_s();
    for (long i = 0; i < objects; i++) check += p[i][0];
    double t2 = now_s();
    for (long i = objects; i-- > 0;) free(p[i]);
    free_s += now_s() - t2;
    malloc_s += t1 - t0;
  }
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  double ops = (double)objects * (double)rounds;
  printf("malloc_ns=%.2f free_ns=%.2f minor_faults=%ld check=%llu\n", malloc_s / ops * 1e9,
         free_s / ops * 1e9, ru.ru_minflt, (unsigned long long)check);
  free(p);
  free(sizes);
  return 0;
}
