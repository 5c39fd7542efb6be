/* rss_return.c — how fast does an allocator give memory back?  (benchmark)
 *
 * Allocates ~1 GiB of mixed small objects (16 B – 4 KiB) plus 40 large ones
 * (1–4 MiB), touches all of it, frees everything in random order, then
 * idles for 5 s without calling the allocator, sampling RSS every 10 ms.
 * Finally calls malloc_trim(0) (the glibc-style "release now", answered
 * by glibc and heapscope; a no-op under allocators that do not export it).
 * Prints one line of figures in MiB and seconds; the allocator under test
 * is whatever LD_PRELOAD provides.  Uses only libc. */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "rss_workload.h"

#define SMALL_BYTES ((size_t)960 << 20)
#define MAX_OBJECTS (1u << 20)

static double rss_mib(void) { return (double)rss_workload_rss_bytes() / 1048576.0; }

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : "?";
  void **objects = mmap(NULL, MAX_OBJECTS * sizeof(void *), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (objects == MAP_FAILED) { fprintf(stderr, "rss_return: mmap failed\n"); return 1; }
  bool out_of_memory;
  size_t n = rss_workload_allocate(objects, MAX_OBJECTS, SMALL_BYTES, 40, &out_of_memory);
  if (out_of_memory) { fprintf(stderr, "rss_return: out of memory\n"); return 1; }
  double peak = rss_mib();
  rss_workload_free_shuffled(objects, n);
  double freed = rss_workload_now_s();
  double after_free = rss_mib(), at_1 = -1, at_3 = -1, at_5 = -1, below_10 = -1;
  for (;;) {
    double t = rss_workload_now_s() - freed, rss = rss_mib();
    if (below_10 < 0 && rss < peak / 10) below_10 = t;
    if (at_1 < 0 && t >= 1.0) at_1 = rss;
    if (at_3 < 0 && t >= 3.0) at_3 = rss;
    if (t >= 5.0) { at_5 = rss; break; }
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  malloc_trim(0);
  double trimmed = rss_mib();
  char below[32];
  if (below_10 >= 0) snprintf(below, sizeof below, "%.2f", below_10);
  else snprintf(below, sizeof below, "never");
  printf("%-10s %8.1f %10.1f %8.1f %8.1f %8.1f %9.1f%% %12s %10.1f\n", name, peak, after_free,
         at_1, at_3, at_5, 100.0 * at_3 / peak, below, trimmed);
  munmap(objects, MAX_OBJECTS * sizeof(void *));
  return 0;
}
