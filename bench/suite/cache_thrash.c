/* cache_thrash.c — active false sharing (the cache-thrash shape): each
 * worker repeatedly allocates a small object, writes it many times and
 * frees it.  An allocator that serves two threads' small objects from one
 * cache line makes them fight over it.
 *   cache_thrash [thousands_of_writes_per_object=200] [threads=2] */
#include <pthread.h>
#include <stdatomic.h>

#include "suite.h"

enum { OBJECTS_PER_THREAD = 1000, OBJECT_BYTES = 8 };

static long writes_per_object;
static _Atomic uint64_t total_check;

static void *worker(void *arg) {
  (void)arg;
  uint64_t check = 0;
  for (int i = 0; i < OBJECTS_PER_THREAD; i++) {
    volatile char *p = suite_check_alloc(malloc(OBJECT_BYTES), OBJECT_BYTES);
    for (int b = 0; b < OBJECT_BYTES; b++) p[b] = 0;
    for (long w = 0; w < writes_per_object; w++) {
      for (int b = 0; b < OBJECT_BYTES; b++) p[b] = (char)(p[b] + 1);
    }
    check += (unsigned char)p[0];
    free((void *)p);
  }
  atomic_fetch_add(&total_check, check);
  return NULL;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[thousands_of_writes_per_object=200] [threads=2]");
  writes_per_object = suite_arg_long(argc, argv, 1, 200, 1000000) * 1000L;
  long threads = suite_arg_long(argc, argv, 2, 2, 256);
  pthread_t ids[256];
  double start = suite_now_s();
  for (long t = 0; t < threads; t++) {
    if (pthread_create(&ids[t], NULL, worker, NULL) != 0) {
      fprintf(stderr, "cache_thrash: pthread_create failed\n");
      return 1;
    }
  }
  for (long t = 0; t < threads; t++) pthread_join(ids[t], NULL);
  suite_report("cache_thrash", writes_per_object * OBJECTS_PER_THREAD * threads,
               suite_now_s() - start, atomic_load(&total_check));
  return 0;
}
