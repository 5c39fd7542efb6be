/* rss_workload.h — the memory-return workload shared by the RSS-return
 * benchmark (bench/rss_return.c) and test (tests/stress/rss_return_test.c):
 * ~1 GiB of mixed small objects (16 B – 4 KiB) plus large ones (1–4 MiB),
 * every byte touched, freed in random order; and an RSS reader that uses
 * open/read only, so measuring makes no allocator call.  Header-only; the
 * including program supplies the pointer array (mmap it, so it is not part
 * of the heap being measured). */
#ifndef HS_RSS_WORKLOAD_H
#define HS_RSS_WORKLOAD_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t rss_workload_random_state = 0x9e3779b97f4a7c15ull;

static inline uint64_t rss_workload_random(void) {
  uint64_t x = rss_workload_random_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rss_workload_random_state = x;
}

static inline double rss_workload_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Resident set size in bytes, from /proc/self/statm (0 if unreadable). */
static inline uint64_t rss_workload_rss_bytes(void) {
  char text[128];
  int fd = open("/proc/self/statm", O_RDONLY);
  ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
  if (fd >= 0) close(fd);
  if (n <= 0) return 0;
  text[n] = 0;
  unsigned long size = 0, resident = 0;
  if (sscanf(text, "%lu %lu", &size, &resident) != 2) return 0;
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Allocates and touches about `small_bytes` of small objects, then
 * `large_count` large ones, into objects[0..max_objects); returns how many.
 * Sets *out_of_memory and stops early if malloc fails. */
static inline size_t rss_workload_allocate(void **objects, size_t max_objects, size_t small_bytes,
                                    int large_count, bool *out_of_memory) {
  size_t n = 0, total = 0;
  *out_of_memory = false;
  while (total < small_bytes && n < max_objects) {
    size_t size = 16 + (size_t)(rss_workload_random() % 4081);
    char *p = malloc(size);
    if (!p) { *out_of_memory = true; return n; }
    memset(p, (int)(n & 0xff), size);
    objects[n++] = p;
    total += size;
  }
  for (int i = 0; i < large_count && n < max_objects; i++) {
    size_t size = ((size_t)1 << 20) + (size_t)(rss_workload_random() % (3u << 20));
    char *p = malloc(size);
    if (!p) { *out_of_memory = true; return n; }
    memset(p, 1, size);
    objects[n++] = p;
  }
  return n;
}

/* Puts objects[0..n) in a random order. */
static inline void rss_workload_shuffle(void **objects, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)(rss_workload_random() % i);
    void *t = objects[i - 1];
    objects[i - 1] = objects[j];
    objects[j] = t;
  }
}

/* Frees objects[0..n) in a random order. */
static inline void rss_workload_free_shuffled(void **objects, size_t n) {
  rss_workload_shuffle(objects, n);
  for (size_t i = 0; i < n; i++) free(objects[i]);
}

#endif /* HS_RSS_WORKLOAD_H */
