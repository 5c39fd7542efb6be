/* fault_cost.c — what a page given back to the OS costs when it is used
 * again, on this machine: maps 8 MiB, then 11 times touches every 4 KiB
 * page (each touch a page fault the kernel answers with a zeroed page)
 * and gives them all back with MADV_DONTNEED, as an allocator's release
 * does.  Prints the median and range of microseconds per fault and of
 * milliseconds per madvise.  The price of any policy that releases pages
 * a program will use again, which differs widely between machines (a
 * guest whose host takes freed memory back pays for the host's fault
 * too).  Uses only libc.
 *   cc -O2 -o fault_cost bench/fault_cost.c && ./fault_cost */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

enum { REGION_BYTES = 8 << 20, PAGE_BYTES = 4096, ROUNDS = 11 };

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(void) {
  volatile char *region = mmap(NULL, REGION_BYTES, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (region == MAP_FAILED) {
    perror("fault_cost: mmap");
    return 1;
  }
  madvise((void *)region, REGION_BYTES, MADV_NOHUGEPAGE); /* 4 KiB faults, not 2 MiB ones */
  double fault_us[ROUNDS], madvise_ms[ROUNDS];
  for (int r = 0; r < ROUNDS; r++) {
    double start = now_s();
    for (size_t offset = 0; offset < REGION_BYTES; offset += PAGE_BYTES) region[offset] = 1;
    double touched = now_s();
    if (madvise((void *)region, REGION_BYTES, MADV_DONTNEED) != 0) {
      perror("fault_cost: madvise");
      return 1;
    }
    fault_us[r] = (touched - start) / (REGION_BYTES / PAGE_BYTES) * 1e6;
    madvise_ms[r] = (now_s() - touched) * 1e3;
  }
  qsort(fault_us, ROUNDS, sizeof fault_us[0], compare_doubles);
  qsort(madvise_ms, ROUNDS, sizeof madvise_ms[0], compare_doubles);
  printf("fault_cost pages=%d rounds=%d fault_us_median=%.2f fault_us_min=%.2f fault_us_max=%.2f "
         "madvise_ms_median=%.3f (for %d MiB)\n",
         REGION_BYTES / PAGE_BYTES, ROUNDS, fault_us[ROUNDS / 2], fault_us[0],
         fault_us[ROUNDS - 1], madvise_ms[ROUNDS / 2], REGION_BYTES >> 20);
  return 0;
}
