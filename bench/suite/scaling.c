/* scaling.c — N threads allocating and freeing privately: each thread
 * replaces random entries of its own 512-slot table (16 B .. 8 KiB, mostly
 * small).  Nothing is shared, so any slowdown as threads grow is the
 * allocator's.  Run with more threads than cores to load the caches' bounds.
 *   scaling [thousands_of_steps_per_thread=32000] [threads=2] */
#include <stdatomic.h>

#include "suite.h"

enum { TABLE_SLOTS = 512 };

static long steps_per_thread;
static _Atomic uint64_t total_check;

static void *worker(void *arg) {
  suite_rng_t rng = suite_rng_make((uint64_t)(uintptr_t)arg + 11);
  void *table[TABLE_SLOTS] = {0};
  uint64_t check = 0;
  for (long i = 0; i < steps_per_thread; i++) {
    uint64_t slot = suite_rng_below(&rng, TABLE_SLOTS);
    if (table[slot] != NULL) check += ((unsigned char *)table[slot])[0];
    free(table[slot]);
    size_t size = suite_small_size(&rng);
    unsigned char *p = suite_check_alloc(malloc(size), size);
    p[0] = (unsigned char)i;
    table[slot] = p;
  }
  for (int i = 0; i < TABLE_SLOTS; i++) free(table[i]);
  atomic_fetch_add(&total_check, check);
  return NULL;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[thousands_of_steps_per_thread=32000] [threads=2]");
  steps_per_thread = suite_arg_long(argc, argv, 1, 32000, 100000000) * 1000L;
  long threads = suite_arg_long(argc, argv, 2, 2, 256);
  double start = suite_now_s();
  suite_run_threads("scaling", threads, worker, NULL);
  char name[32];
  snprintf(name, sizeof name, "scaling_t%ld", threads);
  suite_report(name, steps_per_thread * threads, suite_now_s() - start, atomic_load(&total_check));
  return 0;
}
