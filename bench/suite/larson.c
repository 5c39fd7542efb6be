/* larson.c — larson-style server churn with cross-thread frees: each thread
 * owns a table of objects (16 B .. 1 KiB) and replaces random entries; every
 * `round` replacements it swaps its whole table with a shared mailbox, so
 * the objects it frees next were mostly allocated by another thread.
 *   larson [thousands_of_replacements_per_thread=32000] [threads=2] */
#include <stdatomic.h>

#include "suite.h"

enum { TABLE_SLOTS = 2000, ROUND = 10000 };

static long replacements_per_thread;
static _Atomic(void **) mailbox;
static _Atomic uint64_t total_check;

static void **table_make(suite_rng_t *rng) {
  void **table = suite_check_alloc(calloc(TABLE_SLOTS, sizeof(void *)), TABLE_SLOTS);
  for (int i = 0; i < TABLE_SLOTS; i++) {
    size_t size = 16 + suite_rng_below(rng, 1009);
    table[i] = suite_check_alloc(malloc(size), size);
    memset(table[i], i, 16);
  }
  return table;
}

static void table_free(void **table) {
  for (int i = 0; i < TABLE_SLOTS; i++) free(table[i]);
  free(table);
}

static void *worker(void *arg) {
  suite_rng_t rng = suite_rng_make((uint64_t)(uintptr_t)arg + 7);
  void **table = table_make(&rng);
  uint64_t check = 0;
  for (long done = 0; done < replacements_per_thread; done += ROUND) {
    for (int i = 0; i < ROUND; i++) {
      uint64_t slot = suite_rng_below(&rng, TABLE_SLOTS);
      check += ((unsigned char *)table[slot])[0];
      free(table[slot]);
      size_t size = 16 + suite_rng_below(&rng, 1009);
      table[slot] = suite_check_alloc(malloc(size), size);
      memset(table[slot], (int)slot, 16);
    }
    table = atomic_exchange(&mailbox, table);
  }
  table_free(table);
  atomic_fetch_add(&total_check, check);
  return NULL;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[thousands_of_replacements_per_thread=32000] [threads=2]");
  replacements_per_thread = suite_arg_long(argc, argv, 1, 32000, 100000000) * 1000L;
  long threads = suite_arg_long(argc, argv, 2, 2, 256);
  suite_rng_t rng = suite_rng_make(99);
  atomic_store(&mailbox, table_make(&rng));
  double start = suite_now_s();
  suite_run_threads("larson", threads, worker, NULL);
  table_free(atomic_load(&mailbox));
  suite_report("larson", replacements_per_thread * threads, suite_now_s() - start,
               atomic_load(&total_check));
  return 0;
}
