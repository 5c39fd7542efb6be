/* tcache.c — thread caches: attach, refill and flush in batches, thread
 * exit, the registry of live caches, and their bounds.
 *
 * Bounds: a bin holds at most max_count objects; max_count starts at 0 and
 * grows on each refill miss (slowly up to a batch, then by a batch) up to
 * bin_limit(class).  The sum
 * of max_count × class size over a thread's bins (its capacity) stays under
 * TCACHE_THREAD_MAX_BYTES, and over all threads under TCACHE_TOTAL_MAX_BYTES,
 * so the bytes a thread can hold idle are bounded per thread and in total.
 *
 * Guarded by: each cache is touched only by its own thread, except that
 * statistics and fork read the counters of registered caches under
 * registry_lock.  Trimming (tcache_request_trim) is a request each thread
 * honours at its next slow-path event.  May call: central, size_class,
 * base, and scavenger_start_if_wanted (which starts the background thread
 * from a slow path, where no allocator lock is held). */
#include "tcache.h"

#include <pthread.h>

#include "central.h"
#include "pageheap.h"
#include "scavenger.h"

#define TCACHE_THREAD_MAX_BYTES ((uint64_t)4 << 20)
#define TCACHE_TOTAL_MAX_BYTES ((uint64_t)64 << 20)
#define TCACHE_BIN_MAX_BYTES ((uint64_t)256 << 10)
/* A bin grows up to this many batches or TCACHE_BIN_MAX_BYTES, whichever
 * is less: a program that frees a whole structure and builds the next (a
 * tree of 16,000 nodes) should find it in its own cache, not a central list. */
#define TCACHE_BIN_MAX_BATCHES 512
#define TCACHE_SLOW_START_BYTES 4096u

_Thread_local tcache_t tls_tcache __attribute__((tls_model("initial-exec")));
_Atomic uint64_t tcache_sample_spares;

static hs_lock_t registry_lock;
static tcache_t *registry_head;               /* guarded by registry_lock */
static uint64_t exited_mallocs, exited_frees, exited_requested; /* registry_lock */
static _Atomic uint64_t orphan_mallocs, orphan_frees, orphan_requested;
static _Atomic uint64_t total_capacity_bytes;
static pthread_key_t exit_key;
static int exit_key_ready;

static uint32_t bin_limit(uint32_t size_class) {
  uint32_t batch = size_class_batch[size_class];
  uint64_t by_bytes = TCACHE_BIN_MAX_BYTES / size_class_bytes[size_class];
  uint64_t limit = HS_MIN((uint64_t)TCACHE_BIN_MAX_BATCHES * batch, by_bytes);
  return (uint32_t)HS_MAX(limit, (uint64_t)batch);
}

/* Raises a bin's max_count if the budgets allow: below a batch by
 * TCACHE_SLOW_START_BYTES worth of objects (at least one), then by a batch.
 * The slow start spares a thread that uses a class of big objects once the
 * pages a whole batch would fault in (the bin links objects through their
 * first words); small objects still come a batch at a time, so a thread's
 * first objects never share cache lines with another thread's. */
static void grow_bin(tcache_t *tc, uint32_t size_class) {
  tcache_bin_t *bin = &tc->bins[size_class];
  uint32_t limit = bin_limit(size_class);
  if (bin->max_count >= limit) return;
  uint32_t batch = size_class_batch[size_class];
  uint32_t slow_step = HS_MAX(1u, HS_MIN(batch, TCACHE_SLOW_START_BYTES / size_class_bytes[size_class]));
  uint32_t step = HS_MIN(bin->max_count < batch ? slow_step : batch, limit - bin->max_count);
  uint64_t bytes = (uint64_t)step * size_class_bytes[size_class];
  if (tc->capacity_bytes + bytes > TCACHE_THREAD_MAX_BYTES) return;
  if (hs_relaxed_add(&total_capacity_bytes, bytes) + bytes > TCACHE_TOTAL_MAX_BYTES) {
    atomic_fetch_sub_explicit(&total_capacity_bytes, bytes, memory_order_relaxed);
    return;
  }
  tc->capacity_bytes += bytes;
  bin->max_count += step;
}

static void thread_exit(void *arg) {
  tcache_t *tc = arg;
  tcache_flush_all(tc);
  if (tc->sample_spare) {
    span_t *spare = tc->sample_spare;
    tc->sample_spare = NULL;
    spare->sample_spare = 0;
    atomic_fetch_sub_explicit(&tcache_sample_spares, 1, memory_order_relaxed);
    pageheap_free(spare);
  }
  for (uint32_t c = 0; c < SIZE_CLASS_COUNT; c++) tc->bins[c].max_count = 0;
  atomic_fetch_sub_explicit(&total_capacity_bytes, tc->capacity_bytes, memory_order_relaxed);
  tc->capacity_bytes = 0;
  hs_lock(&registry_lock);
  if (tc->state == TCACHE_ACTIVE) {
    if (tc->registry_prev) tc->registry_prev->registry_next = tc->registry_next;
    else registry_head = tc->registry_next;
    if (tc->registry_next) tc->registry_next->registry_prev = tc->registry_prev;
    exited_mallocs += tc->malloc_count;
    exited_frees += tc->free_count;
    exited_requested += tcache_requested_bytes(tc);
  }
  tc->state = TCACHE_DEAD;
  hs_unlock(&registry_lock);
}

void tcache_global_init(void) {
  if (pthread_key_create(&exit_key, thread_exit) == 0) exit_key_ready = 1;
}

void tcache_attach(tcache_t *tc) {
  if (!exit_key_ready) {
    /* Without a destructor the cache could never be returned: run uncached. */
    tc->state = TCACHE_DEAD;
    return;
  }
  tc->state = TCACHE_ATTACHING; /* pthread_setspecific may call malloc */
  pthread_setspecific(exit_key, tc);
  tc->counter_loaded = tc->bytes_until_sample = 0; /* the sampler loads it */
  hs_lock(&registry_lock);
  tc->registry_prev = NULL;
  tc->registry_next = registry_head;
  if (registry_head) registry_head->registry_prev = tc;
  registry_head = tc;
  tc->state = TCACHE_ACTIVE;
  hs_unlock(&registry_lock);
}

uint64_t tcache_requested_bytes(const tcache_t *tc) {
  return tc->requested_before + (uint64_t)(tc->counter_loaded - tc->bytes_until_sample);
}

void tcache_load_counter(tcache_t *tc, int64_t bytes) {
  tc->requested_before = tcache_requested_bytes(tc);
  tc->counter_loaded = bytes;
  tc->bytes_until_sample = bytes;
}

void *tcache_refill(tcache_t *tc, uint32_t size_class) {
  tcache_slow_path_events(tc);
  grow_bin(tc, size_class);
  tcache_bin_t *bin = &tc->bins[size_class];
  int want = (int)HS_MIN((uint32_t)size_class_batch[size_class], bin->max_count);
  if (want < 1) want = 1;
  void *batch[32];
  int got = central_remove_range(size_class, batch, want);
  if (got == 0 && tc->capacity_bytes) {
    /* Out of memory (or refused by a hard limit): give back this thread's
     * cached objects and try once more. */
    tcache_trim(tc);
    grow_bin(tc, size_class);
    got = central_remove_range(size_class, batch, 1);
  }
  if (got == 0) return NULL;
  for (int i = 1; i < got; i++) {
    *(void **)batch[i] = bin->head;
    bin->head = batch[i];
  }
  bin->count += (uint32_t)(got - 1);
  return batch[0];
}

/* Moves `count` objects from the bin's head to the central list. */
static void flush_bin(tcache_t *tc, uint32_t size_class, uint32_t count) {
  tcache_bin_t *bin = &tc->bins[size_class];
  void *batch[64];
  while (count > 0) {
    uint32_t n = HS_MIN(count, (uint32_t)64);
    for (uint32_t i = 0; i < n; i++) {
      batch[i] = bin->head;
      bin->head = *(void **)bin->head;
    }
    bin->count -= n;
    count -= n;
    central_insert_range(size_class, batch, (int)n);
  }
}

void tcache_push_slow(tcache_t *tc, uint32_t size_class, void *object) {
  tcache_slow_path_events(tc);
  tcache_bin_t *bin = &tc->bins[size_class];
  if (bin->max_count == 0) grow_bin(tc, size_class);
  if (bin->max_count == 0) {
    central_insert_range(size_class, &object, 1);
    return;
  }
  if (bin->count >= bin->max_count)
    flush_bin(tc, size_class, HS_MIN(bin->count, (uint32_t)size_class_batch[size_class]));
  *(void **)object = bin->head;
  bin->head = object;
  bin->count++;
}

void tcache_flush_all(tcache_t *tc) {
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++)
    if (tc->bins[c].count) flush_bin(tc, c, tc->bins[c].count);
}

/* ---- Trimming (memory limit, release-now): each thread empties its own
 * cache at its next slow-path event; nobody touches another's cache. ---- */

static _Atomic uint32_t trim_epoch;
static _Atomic uint64_t trim_count;

void tcache_request_trim(void) { hs_relaxed_add(&trim_epoch, 1); }

uint64_t tcache_trims(void) { return hs_relaxed_load(&trim_count); }

void tcache_trim(tcache_t *tc) {
  tc->trim_seen = hs_relaxed_load(&trim_epoch);
  tcache_flush_all(tc);
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) tc->bins[c].max_count = 0;
  atomic_fetch_sub_explicit(&total_capacity_bytes, tc->capacity_bytes, memory_order_relaxed);
  tc->capacity_bytes = 0;
  hs_relaxed_add(&trim_count, 1);
}

/* The limit epoch last acted on: one thread drains per epoch. */
static _Atomic uint64_t limit_epoch_seen;

void tcache_slow_path_events(tcache_t *tc) {
  if (HS_UNLIKELY(hs_relaxed_load(&trim_epoch) != tc->trim_seen)) tcache_trim(tc);
  uint64_t limit_epoch = hs_relaxed_load(&pageheap_limit_epoch);
  uint64_t seen = hs_relaxed_load(&limit_epoch_seen);
  if (HS_UNLIKELY(limit_epoch != seen) &&
      atomic_compare_exchange_strong(&limit_epoch_seen, &seen, limit_epoch)) {
    /* The heap reached the memory limit: objects idle in the transfer
     * caches pin spans, give them back (no lock is held here). */
    tcache_flush_all(tc);
    central_drain_all();
  }
  if (HS_UNLIKELY(hs_relaxed_load(&pageheap_scavenger_wanted))) scavenger_start_if_wanted();
}

void tcache_count_orphan_malloc(uint64_t requested_bytes) {
  hs_relaxed_add(&orphan_mallocs, 1);
  hs_relaxed_add(&orphan_requested, requested_bytes);
}

void tcache_count_orphan_free(void) { hs_relaxed_add(&orphan_frees, 1); }

void tcache_read_totals_locked(tcache_totals_t *out) {
  *out = (tcache_totals_t){0};
  /* Every free counted was preceded by its malloc, so reading all the free
   * counters before all the malloc counters keeps mallocs >= frees. */
  out->frees = exited_frees + hs_relaxed_load(&orphan_frees);
  for (tcache_t *tc = registry_head; tc; tc = tc->registry_next)
    out->frees += __atomic_load_n(&tc->free_count, __ATOMIC_ACQUIRE);
  out->mallocs = exited_mallocs + hs_relaxed_load(&orphan_mallocs);
  out->requested_bytes = exited_requested + hs_relaxed_load(&orphan_requested);
  for (tcache_t *tc = registry_head; tc; tc = tc->registry_next) {
    /* Other threads update these without synchronisation; a racy read of a
     * counter is a consistent-enough snapshot for statistics. */
    out->mallocs += __atomic_load_n(&tc->malloc_count, __ATOMIC_ACQUIRE);
    out->requested_bytes += tc->requested_before + (uint64_t)(
        __atomic_load_n(&tc->counter_loaded, __ATOMIC_RELAXED) -
        __atomic_load_n(&tc->bytes_until_sample, __ATOMIC_RELAXED));
    for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++)
      out->cached_objects[c] += __atomic_load_n(&tc->bins[c].count, __ATOMIC_RELAXED);
    out->threads++;
  }
}


void tcache_registry_lock(void) { hs_lock(&registry_lock); }
void tcache_registry_unlock(void) { hs_unlock(&registry_lock); }

void tcache_fork_prepare(void) { hs_lock(&registry_lock); }
void tcache_fork_parent(void) { hs_unlock(&registry_lock); }

void tcache_fork_child(void) {
  /* Only the forking thread survives.  The other caches' objects are lost to
   * the child (their counts stay as frees); their counters are kept. */
  hs_lock_reset(&registry_lock);
  tcache_t *self = &tls_tcache;
  uint64_t kept_capacity = 0;
  for (tcache_t *tc = registry_head; tc; tc = tc->registry_next) {
    if (tc == self) { kept_capacity = tc->capacity_bytes; continue; }
    exited_mallocs += tc->malloc_count;
    exited_frees += tc->free_count;
    exited_requested += tcache_requested_bytes(tc);
  }
  registry_head = NULL;
  if (self->state == TCACHE_ACTIVE) {
    self->registry_next = self->registry_prev = NULL;
    registry_head = self;
  }
  hs_relaxed_store(&total_capacity_bytes, kept_capacity);
}
