/* cache_scratch.c — passive false sharing (the cache-scratch shape): the
 * main thread allocates one small object per worker, back to back, and
 * hands each worker one; the worker frees it, then repeatedly allocates a
 * small object, writes it many times and frees it.  An allocator that hands
 * the freed object (or its neighbours) back to the worker makes the
 * workers write into one cache line.
 *   cache_scratch [thousands_of_writes_per_object=200] [threads=2] */
#include <stdatomic.h>

#include "suite.h"

enum { OBJECTS_PER_THREAD = 1000, OBJECT_BYTES = 8 };

static long writes_per_object;
static _Atomic uint64_t total_check;

static void *worker(void *arg) {
  free(arg);
  uint64_t check = suite_write_small_objects(OBJECTS_PER_THREAD, OBJECT_BYTES, writes_per_object);
  atomic_fetch_add(&total_check, check);
  return NULL;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[thousands_of_writes_per_object=200] [threads=2]");
  writes_per_object = suite_arg_long(argc, argv, 1, 200, 1000000) * 1000L;
  long threads = suite_arg_long(argc, argv, 2, 2, 256);
  void *objects[256];
  for (long t = 0; t < threads; t++) {
    objects[t] = suite_check_alloc(malloc(OBJECT_BYTES), OBJECT_BYTES);
  }
  double start = suite_now_s();
  suite_run_threads("cache_scratch", threads, worker, objects);
  suite_report("cache_scratch", writes_per_object * OBJECTS_PER_THREAD * threads,
               suite_now_s() - start, atomic_load(&total_check));
  return 0;
}
