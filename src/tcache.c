/* tcache.c — thread caches: attach, refill, the spans a thread owns,
 * flushes, thread exit, the registry of live caches, and their bounds.
 *
 * Each class has a bin (a LIFO list the fast paths pop and push) and the
 * spans this thread owns (central.h): `current`, which refills take from,
 * and the with_free and full lists.  A refill takes up to max_count objects
 * from current, then from another owned span, then from remote frees
 * reported on the pending list, then loose objects from the transfer cache,
 * and last claims a span from the central list.  So the objects a thread
 * allocates come span by span, in address order while a span is fresh: a
 * structure built after another was freed lies as close together as the
 * first did, which LIFO reuse across all spans scatters.
 * A free goes on the bin while it has room; past that, an object of an
 * owned span goes back on its span's free list (tcache_free_owned, no lock)
 * and any other object on the class's foreign list, which goes to the central
 * lists a batch at a time.  A span whose objects are all back is kept, to be
 * carved again from its start, within a budget of empty spans per thread
 * (TCACHE_EMPTY_MAX_BYTES); past it, it goes to the page heap unless it is
 * current.  A span of a big class (TCACHE_BIG_*) goes to the page heap
 * whenever its objects are all back, current or not.  A class the thread
 * stopped using gives back its bin, its empty current span and its kept
 * spans (TCACHE_IDLE_SCAN_*).
 *
 * Bounds: a bin holds at most max_count objects; max_count starts at 0 and
 * grows on each refill (slowly up to a batch, then by a batch) up to
 * its class's bin limit (TCACHE_BIN_MAX_BYTES of objects, but at least
 * TCACHE_BIN_MIN_OBJECTS within TCACHE_BIN_MIN_OBJECTS_MAX_BYTES).  The
 * sum of max_count × class size over a thread's bins (its capacity) stays
 * under TCACHE_THREAD_MAX_BYTES, and over all threads
 * under TCACHE_TOTAL_MAX_BYTES; that of its big classes' bins past
 * TCACHE_BIG_THREAD_BYTES, over all threads under TCACHE_BIG_TOTAL_MAX_BYTES.
 * Free objects of owned spans are bounded by those spans: an owned span is
 * reused before a new one is claimed, and given back empty (past the
 * empty-span budget, below).
 *
 * Guarded by: each cache is touched only by its own thread, except that
 * statistics and fork read the counters of registered caches under
 * registry_lock, and remote frees push on `owner->pending[c]` under the
 * class lock.  Trimming (tcache_request_trim) is a request each thread
 * honours at its next slow-path event.  A thread, or the process, that
 * freed nearly all it built gives the caller's cache back and drains the
 * page heap (TCACHE_DRAIN_*, TCACHE_PROCESS_*); so does a thread that exits
 * after much work with the process nearly empty (TCACHE_EXIT_*).
 * May call: central, pageheap, pagemap, metadata, size_class, base,
 * options, and scavenger_slow_path (which starts the background thread,
 * or runs a release step, from a slow path, where no allocator lock is
 * held). */
#include "tcache.h"

#include <pthread.h>
#include <string.h>

#include "central.h"
#include "pageheap.h"
#include "metadata.h"
#include "options.h"
#include "pagemap.h"
#include "scavenger.h"

#define TCACHE_THREAD_MAX_BYTES ((uint64_t)4 << 20)
#define TCACHE_TOTAL_MAX_BYTES ((uint64_t)64 << 20)
/* A bin holds up to this many bytes of objects (but at least a batch):
 * enough for the objects a loop frees and allocates again, little enough
 * that a freed structure goes back to its spans and is reused in address
 * order. */
#define TCACHE_BIN_MAX_BYTES ((uint64_t)16 << 10)
/* ... but at least TCACHE_BIN_MIN_OBJECTS, or as many as fit in
 * TCACHE_BIN_MIN_OBJECTS_MAX_BYTES if fewer: a program that frees and
 * allocates a few dozen mid-size objects at a time (buffers, requests)
 * keeps them in the bin rather than sending them to their spans and back
 * each round.  Classes up to 256 B hold 64 or more within the 16 KiB
 * already, so tree's objects are untouched.  Batches of 64 malloc(1024)
 * then 64 frees (micro_pair batch_1024, runner medians): 9.63 ns a pair
 * before, 5.27 after; batch_512 6.93 -> 4.73 (tcmalloc 4.8 and 4.6). */
#define TCACHE_BIN_MIN_OBJECTS 64u
#define TCACHE_BIN_MIN_OBJECTS_MAX_BYTES ((uint64_t)64 << 10)
#define TCACHE_SLOW_START_BYTES 4096u
/* An owned span whose objects are all back stays with its thread, to be
 * carved again from its start, while the thread keeps at most this many
 * bytes of such spans, and all threads together TCACHE_EMPTY_TOTAL_MAX_BYTES;
 * past that it goes back to the page heap.  A teardown followed by a build
 * of the same shapes then skips the page heap's locks and page-map writes
 * and reuses memory still in cache (tree: 0.93x the time). */
#define TCACHE_EMPTY_MAX_BYTES ((uint64_t)1 << 20)
#define TCACHE_EMPTY_TOTAL_MAX_BYTES ((uint64_t)16 << 20)
/* Big classes, of objects over TCACHE_BIG_OBJECT_BYTES (a span holds at
 * most seven): each object is a large part of a span, so a bin or a current
 * span holding one keeps that span from every other thread and size.  A
 * span of a big class goes back to the page heap as soon as its objects are
 * all back, current or not, and is never kept empty; and the capacity of a
 * thread's big bins past TCACHE_BIG_THREAD_BYTES comes out of a budget for
 * all threads, TCACHE_BIG_TOTAL_MAX_BYTES.  Without these an idle thread
 * that had used every size once kept 2.1 MiB resident, 0.84 MiB with them
 * (tcmalloc 0.44, jemalloc 0.67, mimalloc 0.94; bench/idle_threads.sh). */
#define TCACHE_BIG_OBJECT_BYTES ((uint32_t)32 << 10)
#define TCACHE_BIG_THREAD_BYTES ((uint64_t)256 << 10)
#define TCACHE_BIG_TOTAL_MAX_BYTES ((uint64_t)16 << 20)
/* A thread whose live objects (its mallocs less its frees) fall below
 * 1/TCACHE_DRAIN_FRACTION of their peak since its last drain, from a peak of
 * at least TCACHE_DRAIN_MIN_OBJECTS, has freed nearly everything it built:
 * its cache and the page heap's free pages are idle, and a span of its
 * emptying is the moment to give them back (drain_if_thread_drained).  The
 * page heap's own test cannot see this: cached objects keep their spans in
 * use.  Where threads free each other's objects a thread's own count says
 * nothing: the process-wide test below covers that. */
#define TCACHE_DRAIN_FRACTION 32
#define TCACHE_DRAIN_MIN_OBJECTS 4096
/* The same test over the whole process covers threads that free each
 * other's objects: each thread adds its live-object count's change to
 * process_live once it moved by TCACHE_PUBLISH_OBJECTS (at a slow-path
 * event, so the shared line is written every few batches at most), and the
 * test adds the caller's unpublished change.  The process has freed nearly
 * everything it built when that falls below 1/TCACHE_DRAIN_FRACTION of its
 * peak since the last drain, from a peak of at least
 * TCACHE_PROCESS_DRAIN_MIN_OBJECTS, or after a drain below
 * 1/TCACHE_TAIL_FRACTION of the count at that drain (drain_if_process_drained). */
#define TCACHE_PUBLISH_OBJECTS 64
/* A thread whose calls so far are frees gets its cache at this one
 * (tcache_free_attaches). */
#define TCACHE_FREES_BEFORE_ATTACH 64
#define TCACHE_PROCESS_DRAIN_MIN_OBJECTS 512
#define TCACHE_TAIL_FRACTION 8
/* A thread that exits after at least this many mallocs and frees, with
 * fewer than TCACHE_PROCESS_DRAIN_MIN_OBJECTS live in the whole process,
 * drains the heap whatever the page heap's back-off says.  The back-off
 * keeps a loop that empties and refills the heap from paying a refault on
 * every turn; a thread's exit ends its loop, and the one refault a drain can
 * cost is small beside the thread's work.  Without it the last drain of
 * bench/suite/prodcons (its consumer frees the last objects just before it
 * exits) was refused in 4 of 6 runs, which ended at 3.6 MiB instead of 2.3
 * (glibc: 2.9). */
#define TCACHE_EXIT_DRAIN_MIN_OPS ((uint64_t)1 << 20)
/* Every TCACHE_IDLE_SCAN_REFILLS refills a thread looks for size classes it
 * has stopped using: no refill since the last look and the bin's head
 * unchanged.  An idle class's bin objects go back to their spans, its
 * bin's room back to the budgets, and its current span (if empty) and the
 * spans it kept empty back to the page heap, where any size can use their
 * pages.  (Counting a refill of a class of B bytes as 1 + B/4096, to look
 * sooner where objects are big, took realloc_grow's final RSS from 10 to
 * 7.5 MiB and an idle thread's RSS from 874 to 362 KiB (idle_threads.sh),
 * but made a thread refilling 64 KiB objects look every fourth refill, and
 * a look reads some 60 cache lines: `micro_pair 2500` with drains off read
 * batch_65536 80-86 ns against 58, batch_262144 238-298 against 145-153.
 * A cheaper look does not make the weight affordable: with one that visits
 * only classes that may hold something, the weight still cost realloc_grow
 * 1.135x in time, its looks giving back each round the classes the next
 * round comes back to; docs/memory.md.)
 * Without this a program that moves through sizes (a buffer grown by
 * realloc, one phase's objects and then the next's) keeps a bin, a current
 * span and kept spans in every size it passed: bench/suite/realloc_grow
 * ended with 6.1-6.4 MiB in its thread's cache and no live vector, 2.1-2.4
 * MiB now (docs/memory.md). */
#define TCACHE_IDLE_SCAN_REFILLS 64u

_Thread_local tcache_t tls_tcache __attribute__((tls_model("initial-exec")));

static hs_lock_t registry_lock;
static tcache_t *registry_head;               /* guarded by registry_lock */
static uint64_t exited_mallocs, exited_frees, exited_requested; /* registry_lock */
static _Atomic uint64_t orphan_mallocs, orphan_frees, orphan_requested;
static _Atomic uint64_t total_capacity_bytes;
static _Atomic uint64_t total_big_capacity_bytes; /* big bins', all threads */
static _Atomic uint64_t total_empty_bytes;    /* kept empty spans, all threads */
static _Atomic int64_t process_live;          /* published live objects, all threads,
                                                 and orphan calls' */
static _Atomic int64_t process_live_peak;     /* its peak since the last drain */
static _Atomic int64_t process_tail_below;    /* after a drain: drain again below this */
static _Atomic int32_t active_caches;         /* registered caches (each may hold an
                                                 unpublished change) */
static tcache_owner_t *free_owners;          /* registry_lock */
static pthread_key_t exit_key;
static int exit_key_ready;

static bool drain_if_process_drained(tcache_t *tc, bool force);

static uint32_t compute_bin_limit(uint32_t size_class) {
  uint64_t bytes = size_class_bytes[size_class];
  uint64_t by_bytes = TCACHE_BIN_MAX_BYTES / bytes;
  uint64_t at_least = HS_MIN((uint64_t)TCACHE_BIN_MIN_OBJECTS, TCACHE_BIN_MIN_OBJECTS_MAX_BYTES / bytes);
  return (uint32_t)HS_MAX(HS_MAX(by_bytes, at_least), (uint64_t)size_class_batch[size_class]);
}

/* The bin limit of every class (compute_bin_limit), filled by
 * tcache_global_init: every refill asks for one, and computing it takes
 * two divisions. */
static uint32_t bin_limits[SIZE_CLASS_COUNT];

static bool is_big_class(uint32_t size_class) {
  return size_class_bytes[size_class] > TCACHE_BIG_OBJECT_BYTES;
}

/* The capacity of the caller's bins of big classes. */
static uint64_t big_capacity_bytes(const tcache_t *tc) {
  uint64_t bytes = 0;
  for (uint32_t c = SIZE_CLASS_COUNT - 1; c > 0 && is_big_class(c); c--)
    bytes += (uint64_t)tc->bins[c].max_count * size_class_bytes[c];
  return bytes;
}

/* Raises a bin's max_count if the budgets allow: below a batch by
 * TCACHE_SLOW_START_BYTES worth of objects (at least one), then by a batch.
 * The slow start spares a thread that uses a class of big objects once the
 * pages a whole batch would fault in (the bin links objects through their
 * first words); small objects still come a batch at a time, so a thread's
 * first objects never share cache lines with another thread's. */
static void grow_bin(tcache_t *tc, uint32_t size_class) {
  tcache_bin_t *bin = &tc->bins[size_class];
  uint32_t limit = bin_limits[size_class];
  if (bin->max_count >= limit) return;
  uint32_t batch = size_class_batch[size_class];
  uint32_t slow_step = HS_MAX(1u, HS_MIN(batch, TCACHE_SLOW_START_BYTES / size_class_bytes[size_class]));
  uint32_t step = HS_MIN(bin->max_count < batch ? slow_step : batch, limit - bin->max_count);
  uint64_t bytes = (uint64_t)step * size_class_bytes[size_class];
  if (tc->capacity_bytes + bytes > TCACHE_THREAD_MAX_BYTES) return;
  bool big = is_big_class(size_class);
  if (big && hs_relaxed_add(&total_big_capacity_bytes, bytes) + bytes > TCACHE_BIG_TOTAL_MAX_BYTES &&
      big_capacity_bytes(tc) + bytes > TCACHE_BIG_THREAD_BYTES) {
    hs_relaxed_sub(&total_big_capacity_bytes, bytes);
    return;
  }
  if (hs_relaxed_add(&total_capacity_bytes, bytes) + bytes > TCACHE_TOTAL_MAX_BYTES) {
    hs_relaxed_sub(&total_capacity_bytes, bytes);
    if (big) hs_relaxed_sub(&total_big_capacity_bytes, bytes);
    return;
  }
  tc->capacity_bytes += bytes;
  bin->max_count += step;
}

/* Empties the cache and sets every bin's room back to 0, to grow again
 * from its slow start: until it has, frees past the bins are slow-path
 * events.  The span kept for the next sample (up to 64 KiB) goes back to
 * the page heap too. */
static void flush_and_shrink(tcache_t *tc) {
  tcache_flush_all(tc);
  hs_relaxed_sub(&total_big_capacity_bytes, big_capacity_bytes(tc));
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) tc->bins[c].max_count = 0;
  hs_relaxed_sub(&total_capacity_bytes, tc->capacity_bytes);
  tc->capacity_bytes = 0;
  if (tc->sample_spare) {
    span_t *spare = tc->sample_spare;
    tc->sample_spare = NULL;
    __atomic_store_n(&spare->sample_spare, 0, __ATOMIC_RELEASE);
    pageheap_free(spare);
  }
}

static bool drain_now(tcache_t *tc, bool force);

/* The exit key's value before a cache is attached (tcache_free_attaches). */
#define EXIT_MARKER ((void *)1)

/* The exit key's destructor, run by the exiting thread itself: arg is its
 * &tls_tcache or EXIT_MARKER. */
static void thread_exit(void *arg) {
  (void)arg;
  tcache_t *tc = &tls_tcache;
  if (tc->state == TCACHE_UNBORN) { /* it only freed: never attach now */
    tc->state = TCACHE_DEAD;
    return;
  }
  if (tc->state == TCACHE_ACTIVE && !drain_if_process_drained(tc, true) && /* publishes all */
      tc->malloc_count + tc->free_count >= TCACHE_EXIT_DRAIN_MIN_OPS &&
      hs_relaxed_load(&process_live) < TCACHE_PROCESS_DRAIN_MIN_OBJECTS)
    drain_now(tc, true);
  flush_and_shrink(tc);
  hs_lock(&registry_lock);
  if (tc->owner) { /* it names no span any more */
    tc->owner->next_free = free_owners;
    free_owners = tc->owner;
    tc->owner = NULL;
  }
  if (tc->state == TCACHE_ACTIVE) {
    if (tc->registry_prev) tc->registry_prev->registry_next = tc->registry_next;
    else registry_head = tc->registry_next;
    if (tc->registry_next) tc->registry_next->registry_prev = tc->registry_prev;
    exited_mallocs += tc->malloc_count;
    exited_frees += tc->free_count;
    exited_requested += tcache_requested_bytes(tc);
    hs_relaxed_add(&active_caches, -1);
  }
  tc->state = TCACHE_DEAD;
  hs_unlock(&registry_lock);
}

void tcache_global_init(void) {
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) bin_limits[c] = compute_bin_limit(c);
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
  tcache_owner_t *owner = free_owners;
  if (owner) free_owners = owner->next_free;
  else owner = metadata_alloc(sizeof *owner);
  if (!owner) {
    hs_unlock(&registry_lock);
    tc->state = TCACHE_DEAD; /* no memory for the record: run uncached */
    return;
  }
  owner->next_free = NULL; /* a reused record's lists are empty (flushed) */
  /* ... but not its idle scan's state or its last sample's pages, another
   * thread's */
  memset(owner->refilled, 0, sizeof owner->refilled);
  memset(owner->scanned_head, 0, sizeof owner->scanned_head);
  owner->sample_freed_pages = 0;
  /* Only now may frees take the owned-span path (it needs tc->owner). */
  tc->owner = owner;
  tc->registry_prev = NULL;
  tc->registry_next = registry_head;
  if (registry_head) registry_head->registry_prev = tc;
  registry_head = tc;
  tc->state = TCACHE_ACTIVE;
  hs_relaxed_add(&active_caches, 1);
  hs_unlock(&registry_lock);
}

/* A thread whose first call is a free may be past its key destructors:
 * an exiting detached thread frees the TLS blocks of other threads' cached
 * stacks (glibc's stack cache over its limit) after its destructors ran,
 * and a cache attached then would never be detached: the registry would
 * keep a pointer into a stack later unmapped or reused.  So frees alone
 * attach a cache only at the thread's TCACHE_FREES_BEFORE_ATTACH-th free
 * (a thread that only frees, a consumer, gets its cache after that many),
 * and the first one sets the exit key to EXIT_MARKER, so that a thread
 * whose destructors run before then is marked DEAD (thread_exit) and never
 * attaches.  The frees glibc makes after the destructors are a handful (a
 * stack's DTV and its dynamic TLS blocks), far fewer than the threshold.
 * Until it attaches, free_slow gives the thread's frees back to their
 * spans (central_release_object). */
bool tcache_free_attaches(tcache_t *tc) {
  if (!exit_key_ready) return false;
  if (tc->unattached_frees++ == 0) pthread_setspecific(exit_key, EXIT_MARKER);
  return tc->unattached_frees >= TCACHE_FREES_BEFORE_ATTACH;
}

uint64_t tcache_requested_bytes(const tcache_t *tc) {
  return tc->requested_before + (uint64_t)(tc->counter_loaded - tc->bytes_until_sample);
}

void tcache_load_counter(tcache_t *tc, int64_t bytes) {
  tc->requested_before = tcache_requested_bytes(tc);
  tc->counter_loaded = bytes;
  tc->bytes_until_sample = bytes;
}

/* ---- Owned spans (central.h): current, then the with_free and full
 * lists, linked through span->next/prev, which span->owned_list names
 * (TCACHE_OWNED_*, tcache.h). */

static span_t **owned_list_head(tcache_owned_t *owned, uint8_t which) {
  return which == TCACHE_OWNED_FULL ? &owned->full : &owned->with_free;
}

static void owned_push(tcache_owned_t *owned, span_t *span, uint8_t which) {
  span->owned_list = which;
  span_head_push(owned_list_head(owned, which), span);
}

static void owned_remove(tcache_owned_t *owned, span_t *span) {
  span_head_remove(owned_list_head(owned, span->owned_list), span);
  span->owned_list = TCACHE_OWNED_UNLISTED;
}

/* span->free_limit of an owned span, what a free past the bin tests
 * (malloc.c): the current span is never given back while current, so its
 * frees never stop there; a span on with_free stops them at its last
 * object back; a span on full at its first, which moves it to with_free.
 * Objects in the bin are not on their span's list, so a span never seems
 * emptier than it is. */
#define TCACHE_FREE_LIMIT_CURRENT UINT32_MAX

static void set_free_limit(const tcache_owned_t *owned, span_t *span) {
  if (span == owned->current && !is_big_class(span->size_class))
    span->free_limit = TCACHE_FREE_LIMIT_CURRENT;
  else if (span->owned_list == TCACHE_OWNED_FULL) span->free_limit = span->free_count + 1;
  else span->free_limit = span->carved_count;
}

static bool span_has_free(const span_t *span) {
  return span->free_list != NULL || span->carve_next < span->carve_end;
}

/* Moves the spans whose remote frees were collected onto with_free.
 * Returns whether any were. */
static bool collect_pending(tcache_t *tc, uint32_t size_class) {
  tcache_owned_t *owned = &tc->owner->owned[size_class];
  void **pending = &tc->owner->pending[size_class];
  if (!__atomic_load_n(pending, __ATOMIC_RELAXED)) return false;
  span_t *spans[32];
  uint32_t n;
  bool any = false;
  do {
    n = central_collect_pending(size_class, pending, spans, 32);
    for (uint32_t i = 0; i < n; i++) {
      if (spans[i]->owned_list == TCACHE_OWNED_FULL) {
        owned_remove(owned, spans[i]);
        owned_push(owned, spans[i], TCACHE_OWNED_WITH_FREE);
      }
      set_free_limit(owned, spans[i]);
      any = true;
    }
  } while (n == 32);
  return any;
}

/* Whether the budgets allow `owner` to keep another `bytes` of empty spans
 * (TCACHE_EMPTY_MAX_BYTES); if so they are counted. */
static bool keep_empty(tcache_owner_t *owner, uint64_t bytes) {
  if (owner->empty_bytes + bytes > TCACHE_EMPTY_MAX_BYTES) return false;
  if (hs_relaxed_add(&total_empty_bytes, bytes) + bytes > TCACHE_EMPTY_TOTAL_MAX_BYTES) {
    hs_relaxed_sub(&total_empty_bytes, bytes);
    return false;
  }
  owner->empty_bytes += bytes;
  return true;
}

static void unkeep_empty(tcache_owner_t *owner, uint64_t bytes) {
  owner->empty_bytes -= bytes;
  hs_relaxed_sub(&total_empty_bytes, bytes);
}

/* Fills the empty bin from a list of `got` objects; returns the first. */
static void *bin_fill(tcache_bin_t *bin, void *list, uint32_t got) {
  bin->head = *(void **)list;
  bin->count = got - 1;
  return list;
}

static void flush_list(uint32_t size_class, void **list, uint32_t count);

/* An idle class (TCACHE_IDLE_SCAN_REFILLS): its bin's objects go home, the
 * bin's room goes back to the budgets, and its current span, if empty, and
 * its kept-empty spans go to the page heap.  A free here can drain the
 * thread (flush_and_shrink empties every list): each step reads the lists
 * afresh.  pre: tc->owner. */
static void give_back_class(tcache_t *tc, uint32_t size_class) {
  tcache_bin_t *bin = &tc->bins[size_class];
  void *others = NULL;
  uint32_t other_count = 0;
  while (bin->head) {
    void *object = bin->head;
    bin->head = *(void **)object;
    bin->count--;
    span_t *span = pagemap_span_of(object);
    if (span->owner == tc->owner) {
      tcache_free_owned(tc, size_class, span, object);
    } else {
      *(void **)object = others;
      others = object;
      other_count++;
    }
  }
  flush_list(size_class, &others, other_count);
  uint64_t room = (uint64_t)bin->max_count * size_class_bytes[size_class];
  if (room) {
    if (is_big_class(size_class)) hs_relaxed_sub(&total_big_capacity_bytes, room);
    hs_relaxed_sub(&total_capacity_bytes, room);
    tc->capacity_bytes -= room;
    bin->max_count = 0;
  }
  tcache_owned_t *owned = &tc->owner->owned[size_class];
  span_t *current = owned->current;
  if (current && current->free_count == current->carved_count) {
    owned->current = NULL;
    central_release_owned(size_class, current);
  }
  for (span_t *span = owned->with_free, *next; span; span = next) {
    next = span->next;
    if (!span->kept_empty) continue;
    span->kept_empty = 0;
    unkeep_empty(tc->owner, span_bytes(span));
    owned_remove(owned, span);
    central_release_owned(size_class, span);
  }
}

/* Whether an idle class holds anything give_back_class would give back:
 * objects or room in its bin, an empty current span, kept spans.  A class
 * whose objects are all live (the scan sees it idle at every look) costs
 * the scan these reads only. */
static bool class_holds_idle_memory(const tcache_t *tc, uint32_t size_class) {
  const tcache_bin_t *bin = &tc->bins[size_class];
  if (bin->head || bin->max_count) return true;
  const tcache_owned_t *owned = &tc->owner->owned[size_class];
  const span_t *current = owned->current;
  if (current && current->free_count == current->carved_count) return true;
  for (const span_t *span = owned->with_free; span; span = span->next)
    if (span->kept_empty) return true;
  return false;
}

/* The idle scan (TCACHE_IDLE_SCAN_REFILLS).  pre: tc->owner. */
static void give_back_idle_classes(tcache_t *tc) {
  tc->refills_since_scan = 0;
  tcache_owner_t *owner = tc->owner;
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) {
    void *head = tc->bins[c].head;
    bool idle = !(owner->refilled[c / 64] >> (c % 64) & 1) && head == owner->scanned_head[c];
    owner->scanned_head[c] = head;
    if (idle && class_holds_idle_memory(tc, c)) {
      give_back_class(tc, c);
      owner->scanned_head[c] = NULL;
    }
  }
  memset(owner->refilled, 0, sizeof owner->refilled);
}

void *tcache_refill(tcache_t *tc, uint32_t size_class) {
  tcache_slow_path_events(tc);
  tc->owner->refilled[size_class / 64] |= (uint64_t)1 << (size_class % 64);
  if (HS_UNLIKELY(++tc->refills_since_scan >= TCACHE_IDLE_SCAN_REFILLS)) give_back_idle_classes(tc);
  int64_t live = (int64_t)(tc->malloc_count - tc->free_count);
  if (HS_UNLIKELY(live > (int64_t)tc->live_peak)) {
    tc->live_peak = (uint64_t)live;
    tc->drain_below = live >= TCACHE_DRAIN_MIN_OBJECTS ? live / TCACHE_DRAIN_FRACTION : 0;
  }
  if (live - tc->published_live >= TCACHE_PUBLISH_OBJECTS) drain_if_process_drained(tc, false);
  grow_bin(tc, size_class);
  tcache_bin_t *bin = &tc->bins[size_class];
  tcache_owned_t *owned = &tc->owner->owned[size_class];
  uint32_t want = HS_MAX(1u, bin->max_count);
  bool collected = false, trimmed = false;
  for (;;) {
    span_t *span = owned->current;
    if (span && span_has_free(span)) {
      void *list;
      uint32_t got = span_take_free_objects(span, size_class, want, &list);
      set_free_limit(owned, span); /* a big class's current: it carved more */
      return bin_fill(bin, list, got);
    }
    if (span) {
      owned->current = NULL;
      owned_push(owned, span, TCACHE_OWNED_FULL);
      set_free_limit(owned, span);
    }
    if (owned->with_free) {
      span = owned->with_free;
      owned_remove(owned, span);
      if (span->kept_empty) {
        span->kept_empty = 0;
        unkeep_empty(tc->owner, span_bytes(span));
      }
      owned->current = span;
      set_free_limit(owned, span);
      continue;
    }
    if (!collected) {
      collected = true;
      if (collect_pending(tc, size_class)) continue;
    }
    void *batch[32];
    int loose = central_remove_transfer(size_class, batch, (int)HS_MIN(want, 32u));
    if (loose > 0) {
      for (int i = loose - 1; i > 0; i--) *(void **)batch[i - 1] = batch[i];
      *(void **)batch[loose - 1] = NULL;
      return bin_fill(bin, batch[0], (uint32_t)loose);
    }
    span = central_claim(size_class, tc->owner, &tc->owner->pending[size_class]);
    if (span) {
      owned->current = span;
      set_free_limit(owned, span);
      continue;
    }
    if (trimmed || !tc->capacity_bytes) return NULL;
    /* Out of memory (or refused by a hard limit): give back everything
     * this thread holds and try once more. */
    trimmed = true;
    tcache_trim(tc);
    grow_bin(tc, size_class);
    want = 1;
  }
}

/* After a drain: the next needs a new rise, or another fall by as much. */
static void reset_thread_peak(tcache_t *tc, int64_t live) {
  tc->live_peak = live > 0 ? (uint64_t)live : 0;
  tc->drain_below = live > 0 ? live / TCACHE_DRAIN_FRACTION : 0;
}

/* After a drain at `estimate` live objects: the objects left pin spans
 * until they are freed, so a teardown that goes on falling (by
 * TCACHE_TAIL_FRACTION each time) drains again. */
static void reset_process_tail(int64_t estimate) {
  hs_relaxed_store(&process_tail_below, estimate > 0 ? estimate / TCACHE_TAIL_FRACTION : 0);
}

/* A drain shrinks the bins too: the objects still live are a teardown's
 * last, and with the bins at 0 their frees are events that can drain again
 * (a bin would take hundreds of them silently).  `force` overrides the page
 * heap's back-off (TCACHE_EXIT_DRAIN_MIN_OPS).  Returns whether it drained. */
static bool drain_now(tcache_t *tc, bool force) {
  if (!hs_options.release_on_drain || !pageheap_drain_begin(force)) return false;
  flush_and_shrink(tc);
  central_drain_all();
  pageheap_drain_finish();
  return true;
}

/* The process-wide test (TCACHE_PUBLISH_OBJECTS): publishes the caller's
 * change if it is big enough (or `force`), and drains if the process has
 * freed nearly all it built.  One thread of those that see the fall wins
 * the peak's reset and drains.  Returns whether this call drained. */
static bool drain_if_process_drained(tcache_t *tc, bool force) {
  int64_t live = (int64_t)(tc->malloc_count - tc->free_count);
  int64_t unpublished = live - tc->published_live;
  int64_t process;
  if (force || unpublished >= TCACHE_PUBLISH_OBJECTS || unpublished <= -TCACHE_PUBLISH_OBJECTS) {
    tc->published_live = live;
    process = hs_relaxed_add(&process_live, unpublished) + unpublished;
    unpublished = 0;
  } else {
    process = hs_relaxed_load(&process_live);
  }
  int64_t peak = hs_relaxed_load(&process_live_peak);
  while (process > peak &&
         !atomic_compare_exchange_weak_explicit(&process_live_peak, &peak, process,
                                                memory_order_relaxed, memory_order_relaxed)) {
  }
  int64_t estimate = process + unpublished;
  int64_t drain_below = HS_MAX(peak >= TCACHE_PROCESS_DRAIN_MIN_OBJECTS ? peak / TCACHE_DRAIN_FRACTION : 0,
                               hs_relaxed_load(&process_tail_below));
  if (HS_LIKELY(drain_below == 0)) return false;
  /* Other threads' unpublished changes blur the estimate by up to a
   * publish step each: a fall below that floor might not show. */
  int64_t others = hs_relaxed_load(&active_caches) - 1;
  if (HS_LIKELY(estimate >= HS_MAX(drain_below, others * TCACHE_PUBLISH_OBJECTS))) return false;
  if (!atomic_compare_exchange_strong_explicit(&process_live_peak, &peak,
                                               estimate > 0 ? estimate : 0,
                                               memory_order_relaxed, memory_order_relaxed))
    return false; /* another thread drains */
  reset_process_tail(estimate);
  reset_thread_peak(tc, live);
  return drain_now(tc, false);
}

/* After a span of this thread's emptied: if the thread has freed nearly
 * all it built (TCACHE_DRAIN_FRACTION), gives back its cache, the transfer
 * caches and the page heap's free pages, subject to the page heap's
 * back-off; if not, makes the process-wide test.  No lock is held here. */
static void drain_if_thread_drained(tcache_t *tc) {
  int64_t live = (int64_t)(tc->malloc_count - tc->free_count);
  /* drain_below 0: no peak worth a drain yet.  (A thread that frees other
   * threads' objects can have fewer than no live objects of its own.) */
  if (HS_LIKELY(tc->drain_below <= 0 || live >= tc->drain_below)) {
    drain_if_process_drained(tc, false);
    return;
  }
  /* The last objects of a teardown are freed after the first drain, and
   * pin the spans they are in until they are. */
  reset_thread_peak(tc, live);
  /* and the process's: it has drained as far as this thread sees */
  int64_t process = hs_relaxed_load(&process_live) + live - tc->published_live;
  hs_relaxed_store(&process_live_peak, process > 0 ? process : 0);
  reset_process_tail(process);
  drain_now(tc, false);
}

void tcache_free_owned(tcache_t *tc, uint32_t size_class, span_t *span, void *object) {
  if (HS_UNLIKELY(!span_holds_carved_object(span, object)))
    hs_fatal_pointer("free", "invalid pointer", object);
  *(void **)object = span->free_list;
  span->free_list = object;
  span->free_count++;
  tcache_owned_t *owned = &tc->owner->owned[size_class];
  if (span->owned_list == TCACHE_OWNED_FULL) {
    owned_remove(owned, span);
    owned_push(owned, span, TCACHE_OWNED_WITH_FREE);
  }
  set_free_limit(owned, span);
  bool current = span == owned->current;
  if (span->free_count == span->carved_count && (!current || is_big_class(size_class))) {
    /* Every object is back: kept empty (on with_free, carved again from
     * its start), or given to the page heap, where its pages can serve
     * any size; a big class's span always is, current or not. */
    if (current) {
      owned->current = NULL;
      central_release_owned(size_class, span);
    } else if (!is_big_class(size_class) && keep_empty(tc->owner, span_bytes(span))) {
      span->free_list = NULL;
      span->free_count = 0;
      span->carved_count = 0;
      span->carve_next = span_start(span);
      span->kept_empty = 1;
      span->free_limit = 0; /* nothing is out: any free of it is invalid */
    } else {
      owned_remove(owned, span);
      central_release_owned(size_class, span);
    }
    drain_if_thread_drained(tc);
  }
}

/* Moves the first `count` objects of a bin list to the central lists. */
static void flush_list(uint32_t size_class, void **list, uint32_t count) {
  void *batch[64];
  while (count > 0) {
    uint32_t n = HS_MIN(count, (uint32_t)64);
    for (uint32_t i = 0; i < n; i++) {
      batch[i] = *list;
      *list = *(void **)*list;
    }
    count -= n;
    central_insert_range(size_class, batch, (int)n);
  }
}

void tcache_push_slow(tcache_t *tc, uint32_t size_class, void *object) {
  tcache_slow_path_events(tc);
  if (!tc->owner) {
    central_insert_range(size_class, &object, 1);
    return;
  }
  tcache_foreign_t *foreign = &tc->owner->foreign[size_class];
  if (foreign->count >= size_class_batch[size_class]) {
    flush_list(size_class, &foreign->head, foreign->count);
    foreign->count = 0;
    drain_if_thread_drained(tc);
  }
  *(void **)object = foreign->head;
  foreign->head = object;
  foreign->count++;
}

void tcache_flush_all(tcache_t *tc) {
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) {
    tcache_bin_t *bin = &tc->bins[c];
    /* The bin's objects of owned spans go home; the rest to the class. */
    void *others = NULL;
    uint32_t other_count = 0;
    while (bin->head) {
      void *object = bin->head;
      bin->head = *(void **)object;
      span_t *span = pagemap_span_of(object);
      if (tc->owner && span->owner == tc->owner) {
        *(void **)object = span->free_list;
        span->free_list = object;
        span->free_count++;
      } else {
        *(void **)object = others;
        others = object;
        other_count++;
      }
    }
    bin->count = 0;
    flush_list(c, &others, other_count);
    if (!tc->owner) continue; /* no foreign lists, no owned spans */
    tcache_foreign_t *foreign = &tc->owner->foreign[c];
    flush_list(c, &foreign->head, foreign->count);
    foreign->count = 0;
    tcache_owned_t *owned = &tc->owner->owned[c];
    if (owned->current) central_disown(c, owned->current);
    owned->current = NULL;
    while (owned->with_free) {
      span_t *span = owned->with_free;
      owned_remove(owned, span);
      span->kept_empty = 0;
      central_disown(c, span);
    }
    while (owned->full) {
      span_t *span = owned->full;
      owned_remove(owned, span);
      central_disown(c, span);
    }
    if (__atomic_load_n(&tc->owner->pending[c], __ATOMIC_RELAXED))
      central_clear_pending(c, &tc->owner->pending[c]);
  }
  if (tc->owner) unkeep_empty(tc->owner, tc->owner->empty_bytes);
}

/* ---- Trimming (memory limit, release-now): each thread empties its own
 * cache at its next slow-path event; nobody touches another's cache. ---- */

static _Atomic uint32_t trim_epoch;
static _Atomic uint64_t trim_count;

void tcache_request_trim(void) { hs_relaxed_add(&trim_epoch, 1); }

uint64_t tcache_trims(void) { return hs_relaxed_load(&trim_count); }

void tcache_trim(tcache_t *tc) {
  tc->trim_seen = hs_relaxed_load(&trim_epoch);
  flush_and_shrink(tc);
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
  if (HS_UNLIKELY(hs_relaxed_load(&pageheap_scavenger_wanted))) scavenger_slow_path();
}

/* Calls made without a cache count in process_live at once: a consumer
 * thread's first TCACHE_FREES_BEFORE_ATTACH - 1 frees are orphans, and left
 * out they would hold the process-wide estimate that much above the truth,
 * short of a drain its teardown should reach. */
void tcache_count_orphan_malloc(uint64_t requested_bytes) {
  hs_relaxed_add(&orphan_mallocs, 1);
  hs_relaxed_add(&orphan_requested, requested_bytes);
  hs_relaxed_add(&process_live, 1);
}

void tcache_uncount_orphan_malloc(uint64_t requested_bytes) {
  hs_relaxed_sub(&orphan_mallocs, 1);
  hs_relaxed_sub(&orphan_requested, requested_bytes);
  hs_relaxed_sub(&process_live, 1);
}

void tcache_count_orphan_free(void) {
  hs_relaxed_add(&orphan_frees, 1);
  hs_relaxed_add(&process_live, -1);
}

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
      out->cached_objects[c] += __atomic_load_n(&tc->bins[c].count, __ATOMIC_RELAXED) +
                                (tc->owner ? __atomic_load_n(&tc->owner->foreign[c].count,
                                                             __ATOMIC_RELAXED)
                                           : 0);
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
  hs_relaxed_store(&total_big_capacity_bytes, big_capacity_bytes(self));
  hs_relaxed_store(&active_caches, self->state == TCACHE_ACTIVE ? 1 : 0);
  hs_relaxed_store(&total_empty_bytes, self->owner ? self->owner->empty_bytes : 0);
}
