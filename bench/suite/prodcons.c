/* prodcons.c — producer/consumer: one thread allocates objects (16 B ..
 * 1 KiB, mostly small) and passes them through a single-producer
 * single-consumer ring; the other reads and frees them.  Every free is
 * remote.  Pairs run side by side ([pairs] × 2 threads).
 *   prodcons [thousands_of_objects_per_pair=24000] [pairs=1] */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "suite.h"

enum { RING_SLOTS = 4096, PUBLISH_EVERY = 32 };

typedef struct ring {
  _Alignas(64) _Atomic long tail; /* written by the producer */
  _Alignas(64) _Atomic long head; /* written by the consumer */
  _Alignas(64) void *slots[RING_SLOTS];
  long objects;
  uint64_t check;
  int seed;
} ring_t;

static void *producer(void *arg) {
  ring_t *ring = arg;
  suite_rng_t rng = suite_rng_make((uint64_t)ring->seed);
  long tail = 0, head_seen = 0;
  for (long i = 0; i < ring->objects; i++) {
    while (tail - head_seen >= RING_SLOTS) {
      head_seen = atomic_load_explicit(&ring->head, memory_order_acquire);
      if (tail - head_seen >= RING_SLOTS) {
        atomic_store_explicit(&ring->tail, tail, memory_order_release);
        sched_yield();
      }
    }
    size_t size = suite_rng_below(&rng, 100) < 80 ? 16 + suite_rng_below(&rng, 113)
                                                  : 129 + suite_rng_below(&rng, 896);
    unsigned char *p = suite_check_alloc(malloc(size), size);
    p[0] = (unsigned char)i;
    ring->slots[tail % RING_SLOTS] = p;
    tail++;
    if (tail % PUBLISH_EVERY == 0) atomic_store_explicit(&ring->tail, tail, memory_order_release);
  }
  atomic_store_explicit(&ring->tail, tail, memory_order_release);
  return NULL;
}

static void *consumer(void *arg) {
  ring_t *ring = arg;
  long head = 0;
  uint64_t check = 0;
  while (head < ring->objects) {
    long tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    if (tail == head) {
      sched_yield();
      continue;
    }
    for (; head < tail; head++) {
      unsigned char *p = ring->slots[head % RING_SLOTS];
      check += p[0];
      free(p);
      if (head % PUBLISH_EVERY == 0) atomic_store_explicit(&ring->head, head, memory_order_release);
    }
    atomic_store_explicit(&ring->head, head, memory_order_release);
  }
  ring->check = check;
  return NULL;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[thousands_of_objects_per_pair=24000] [pairs=1]");
  long objects = suite_arg_long(argc, argv, 1, 24000, 100000000) * 1000L;
  long pairs = suite_arg_long(argc, argv, 2, 1, 64);
  ring_t *rings = suite_check_alloc(aligned_alloc(64, sizeof(ring_t) * (size_t)pairs), 1);
  pthread_t ids[128];
  double start = suite_now_s();
  for (long i = 0; i < pairs; i++) {
    memset(&rings[i], 0, sizeof rings[i]);
    rings[i].objects = objects;
    rings[i].seed = (int)i + 3;
    if (pthread_create(&ids[2 * i], NULL, producer, &rings[i]) != 0 ||
        pthread_create(&ids[2 * i + 1], NULL, consumer, &rings[i]) != 0) {
      fprintf(stderr, "prodcons: pthread_create failed\n");
      return 1;
    }
  }
  uint64_t check = 0;
  for (long i = 0; i < 2 * pairs; i++) pthread_join(ids[i], NULL);
  for (long i = 0; i < pairs; i++) check += rings[i].check;
  free(rings);
  suite_report("prodcons", objects * pairs, suite_now_s() - start, check);
  return 0;
}
