/* suite.h — what every program of the allocator benchmark suite shares:
 * argv parsing (one clear stderr line on bad input), a monotonic clock, a
 * small PRNG, resident memory from /proc/self/statm (and its peak from
 * /proc/self/status), starting and joining
 * worker threads, the false-sharing workload, and the one-line result
 * ("NAME key=value ..."), which bench/run.sh parses.  Header-only;
 * every program is a single file using the allocator through malloc & co.,
 * so any allocator can be LD_PRELOADed under it (docs/performance.md). */
#ifndef HEAPSCOPE_BENCH_SUITE_H
#define HEAPSCOPE_BENCH_SUITE_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The suite's programs are built with -fno-builtin-malloc & co. so the
 * compiler cannot pair up or remove a malloc with its free; `suite_sink`
 * keeps results observable. */
static volatile uint64_t suite_sink;

static inline double suite_now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* argv[index] as a positive integer, or `fallback` when absent.  Bad input
 * prints one line and exits 2. */
static inline long suite_arg_long(int argc, char **argv, int index, long fallback, long max) {
  if (index >= argc) return fallback;
  char *end = NULL;
  errno = 0;
  long value = strtol(argv[index], &end, 10);
  if (errno != 0 || end == argv[index] || *end != '\0' || value < 1 || value > max) {
    fprintf(stderr, "%s: argument %d '%s' must be an integer 1..%ld\n", argv[0], index,
            argv[index], max);
    exit(2);
  }
  return value;
}

/* Rejects more arguments than the program takes, with its usage. */
static inline void suite_check_argc(int argc, char **argv, int max_args, const char *usage) {
  if (argc - 1 > max_args ||
      (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
    fprintf(stderr, "usage: %s %s\n", argv[0], usage);
    exit(2);
  }
}

/* xorshift64*: fast, deterministic per seed, good enough for size mixes. */
typedef struct suite_rng {
  uint64_t state;
} suite_rng_t;

static inline suite_rng_t suite_rng_make(uint64_t seed) {
  suite_rng_t r = {seed * 0x9E3779B97F4A7C15ull + 1};
  return r;
}

static inline uint64_t suite_rng_next(suite_rng_t *r) {
  uint64_t x = r->state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n), n > 0 (the modulo bias is irrelevant here). */
static inline uint64_t suite_rng_below(suite_rng_t *r, uint64_t n) {
  return (suite_rng_next(r) >> 11) % n;
}

/* A small-object size: mostly tiny, sometimes medium, rarely a few KiB —
 * the shape of allocation-heavy C programs. */
static inline size_t suite_small_size(suite_rng_t *r) {
  uint64_t pick = suite_rng_below(r, 100);
  if (pick < 70) return 8 + suite_rng_below(r, 121);    /* 8..128 B */
  if (pick < 95) return 129 + suite_rng_below(r, 896);  /* 129..1024 B */
  return 1025 + suite_rng_below(r, 7168);               /* 1..8 KiB */
}

/* Resident set size now, in KiB (0 if /proc is unreadable). */
static inline long suite_rss_kib(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size_pages = 0, resident_pages = 0;
  if (f == NULL) return 0;
  if (fscanf(f, "%ld %ld", &size_pages, &resident_pages) != 2) resident_pages = 0;
  fclose(f);
  return resident_pages * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Peak resident set size (VmHWM), in KiB (0 if /proc is unreadable). */
static inline long suite_peak_rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kib = 0;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmHWM:", 6) == 0) kib = strtol(line + 6, NULL, 10);
  if (f) fclose(f);
  return kib;
}

/* Exits with one line on stderr when an allocation fails. */
static inline void *suite_check_alloc(void *p, size_t size) {
  if (p == NULL && size != 0) {
    fprintf(stderr, "bench: allocation of %zu bytes failed\n", size);
    exit(1);
  }
  return p;
}

/* The one-line result: name, work done, seconds measured inside the program,
 * RSS after everything was freed, and a checksum of the work (so nothing is
 * optimised away, and two allocators can be seen to do the same work). */
static inline void suite_report(const char *name, long ops, double elapsed_s, uint64_t check) {
  printf("%s ops=%ld time_s=%.4f final_rss_kib=%ld check=%llu\n", name, ops, elapsed_s,
         suite_rss_kib(), (unsigned long long)check);
  fflush(stdout);
}

/* Runs `worker` on `threads` threads (at most 256) and joins them all;
 * thread t gets args[t], or (void *)t when `args` is NULL.  A failed
 * pthread_create prints one line naming `program` and exits 1. */
static inline void suite_run_threads(const char *program, long threads, void *(*worker)(void *),
                                     void *const *args) {
  pthread_t ids[256];
  if (threads < 1 || threads > 256) {
    fprintf(stderr, "%s: %ld threads (1..256)\n", program, threads);
    exit(2);
  }
  for (long t = 0; t < threads; t++) {
    if (pthread_create(&ids[t], NULL, worker, args ? args[t] : (void *)(uintptr_t)t) != 0) {
      fprintf(stderr, "%s: pthread_create failed\n", program);
      exit(1);
    }
  }
  for (long t = 0; t < threads; t++) pthread_join(ids[t], NULL);
}

/* The false-sharing workload (cache_scratch, cache_thrash): `objects` times,
 * allocate `bytes` bytes, write each of them `writes` + 1 times, free.
 * Returns a checksum of the writes. */
static inline uint64_t suite_write_small_objects(int objects, int bytes, long writes) {
  uint64_t check = 0;
  for (int i = 0; i < objects; i++) {
    volatile char *p = suite_check_alloc(malloc((size_t)bytes), (size_t)bytes);
    for (int b = 0; b < bytes; b++) p[b] = 0;
    for (long w = 0; w < writes; w++) {
      for (int b = 0; b < bytes; b++) p[b] = (char)(p[b] + 1);
    }
    check += (unsigned char)p[0];
    free((void *)p);
  }
  return check;
}

#endif
