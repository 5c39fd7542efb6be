/* micro_remote.c — 2-thread remote free: one thread allocates batches of 64
 * objects of one size and passes each batch through a single-slot-per-batch
 * ring to the other thread, which frees them.  Prints ns per malloc+free
 * pair (wall time over all objects) for 16, 64 and 256 bytes.
 *   micro_remote [thousands_of_objects_per_size=4000] */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "suite.h"

enum { BATCH = 64, RING_BATCHES = 64 };

static const size_t sizes[] = {16, 64, 256};
#define SIZE_COUNT (sizeof sizes / sizeof sizes[0])

static struct {
  _Alignas(64) _Atomic long produced;
  _Alignas(64) _Atomic long consumed;
  _Alignas(64) void *batches[RING_BATCHES][BATCH];
  long batch_count;
  size_t size;
} ring;

static void *producer(void *arg) {
  (void)arg;
  for (long b = 0; b < ring.batch_count; b++) {
    while (b - atomic_load_explicit(&ring.consumed, memory_order_acquire) >= RING_BATCHES) {
      sched_yield();
    }
    void **slot = ring.batches[b % RING_BATCHES];
    for (int i = 0; i < BATCH; i++) {
      slot[i] = suite_check_alloc(malloc(ring.size), ring.size);
      ((unsigned char *)slot[i])[0] = (unsigned char)i;
    }
    atomic_store_explicit(&ring.produced, b + 1, memory_order_release);
  }
  return NULL;
}

static void *consumer(void *arg) {
  uint64_t check = 0;
  for (long b = 0; b < ring.batch_count; b++) {
    while (atomic_load_explicit(&ring.produced, memory_order_acquire) <= b) sched_yield();
    void **slot = ring.batches[b % RING_BATCHES];
    for (int i = 0; i < BATCH; i++) {
      check += ((unsigned char *)slot[i])[0];
      free(slot[i]);
    }
    atomic_store_explicit(&ring.consumed, b + 1, memory_order_release);
  }
  *(uint64_t *)arg += check;
  return NULL;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 1, "[thousands_of_objects_per_size=4000]");
  long objects = suite_arg_long(argc, argv, 1, 4000, 100000000) * 1000L;
  double ns[SIZE_COUNT];
  uint64_t check = 0;
  double start = suite_now_s();
  for (size_t s = 0; s < SIZE_COUNT; s++) {
    atomic_store(&ring.produced, 0);
    atomic_store(&ring.consumed, 0);
    ring.batch_count = objects / BATCH > 0 ? objects / BATCH : 1;
    ring.size = sizes[s];
    pthread_t p, c;
    double t0 = suite_now_s();
    if (pthread_create(&p, NULL, producer, NULL) != 0 ||
        pthread_create(&c, NULL, consumer, &check) != 0) {
      fprintf(stderr, "micro_remote: pthread_create failed\n");
      return 1;
    }
    pthread_join(p, NULL);
    pthread_join(c, NULL);
    ns[s] = (suite_now_s() - t0) * 1e9 / (double)(ring.batch_count * BATCH);
  }
  double elapsed = suite_now_s() - start;
  printf("micro_remote");
  for (size_t s = 0; s < SIZE_COUNT; s++) printf(" remote_%zu=%.3f", sizes[s], ns[s]);
  printf(" time_s=%.4f final_rss_kib=%ld check=%llu\n", elapsed, suite_rss_kib(),
         (unsigned long long)check);
  return 0;
}
