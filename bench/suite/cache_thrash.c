/* cache_thrash.c — active false sharing (the cache-thrash shape): each
 * worker repeatedly allocates a small object, writes it many times and
 * frees it.  An allocator that serves two threads' small objects from one
 * cache line makes them fight over it.
 *   cache_thrash [thousands_of_writes_per_object=200] [threads=2] */
#include <stdatomic.h>

#include "suite.h"

enum { OBJECTS_PER_THREAD = 1000, OBJECT_BYTES = 8 };

static long writes_per_object;
static _Atomic uint64_t total_check;

static void *worker(void *arg) {
  (void)arg;
  uint64_t check = suite_write_small_objects(OBJECTS_PER_THREAD, OBJECT_BYTES, writes_per_object);
  atomic_fetch_add(&total_check, check);
  return NULL;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[thousands_of_writes_per_object=200] [threads=2]");
  writes_per_object = suite_arg_long(argc, argv, 1, 200, 1000000) * 1000L;
  long threads = suite_arg_long(argc, argv, 2, 2, 256);
  double start = suite_now_s();
  suite_run_threads("cache_thrash", threads, worker, NULL);
  suite_report("cache_thrash", writes_per_object * OBJECTS_PER_THREAD * threads,
               suite_now_s() - start, atomic_load(&total_check));
  return 0;
}
