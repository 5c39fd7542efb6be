/* thread_churn.c — thread churn: threads are created and joined in waves
 * of [threads]; each allocates 256 small objects, frees half of them and
 * the objects the previous wave's thread in its place left behind, and
 * exits leaving its other half for the next wave (so exiting threads have
 * warm caches and frees cross threads).
 *   thread_churn [threads=5000] [threads_per_wave=2] */
#include <pthread.h>

#include "suite.h"

enum { OBJECTS = 256, MAX_WAVE = 64 };

typedef struct lane {
  void *left_behind[OBJECTS / 2];
  uint64_t seed;
  uint64_t check;
} lane_t;

static void *worker(void *arg) {
  lane_t *lane = arg;
  suite_rng_t rng = suite_rng_make(lane->seed);
  void *mine[OBJECTS];
  for (int i = 0; i < OBJECTS; i++) {
    size_t size = suite_small_size(&rng);
    mine[i] = suite_check_alloc(malloc(size), size);
    ((unsigned char *)mine[i])[0] = (unsigned char)i;
  }
  for (int i = 0; i < OBJECTS / 2; i++) {
    if (lane->left_behind[i] != NULL) lane->check += ((unsigned char *)lane->left_behind[i])[0];
    free(lane->left_behind[i]);
    free(mine[2 * i]);
    lane->left_behind[i] = mine[2 * i + 1];
  }
  return NULL;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[threads=5000] [threads_per_wave=2]");
  long total = suite_arg_long(argc, argv, 1, 5000, 100000000);
  long wave = suite_arg_long(argc, argv, 2, 2, MAX_WAVE);
  static lane_t lanes[MAX_WAVE];
  pthread_t ids[MAX_WAVE];
  double start = suite_now_s();
  long created = 0;
  while (created < total) {
    for (long w = 0; w < wave; w++) {
      lanes[w].seed = (uint64_t)(created + w);
      if (pthread_create(&ids[w], NULL, worker, &lanes[w]) != 0) {
        fprintf(stderr, "thread_churn: pthread_create failed\n");
        return 1;
      }
    }
    for (long w = 0; w < wave; w++) pthread_join(ids[w], NULL);
    created += wave;
  }
  uint64_t check = 0;
  for (long w = 0; w < wave; w++) {
    check += lanes[w].check;
    for (int i = 0; i < OBJECTS / 2; i++) free(lanes[w].left_behind[i]);
  }
  suite_report("thread_churn", created, suite_now_s() - start, check);
  return 0;
}
