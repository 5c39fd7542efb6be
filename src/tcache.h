/* tcache.h — the front end: per thread, one bin of free objects per size
 * class (a singly linked list), living in initial-exec TLS so the fast
 * paths in malloc.c reach them from the thread pointer (tcache_self) with
 * no lock, system call or atomic read-modify-write; and, in the thread's owner
 * record (metadata), the spans it owns and its foreign lists.  Keeping
 * those out of TLS keeps the library's static TLS at 1.5 KiB, within what
 * glibc can still give a library loaded with dlopen.
 *
 * A thread's cache starts all zero: every bin empty with max_count 0, no
 * owner record, and state TCACHE_UNBORN, so the first malloc and the first
 * free both miss and take the slow path; the first malloc attaches the
 * cache, frees only the 64th (tcache_free_attaches).  After
 * the thread's destructor has run (TCACHE_DEAD) the bins stay empty with
 * max_count 0, it has no owner record, and every call goes straight to the
 * central lists.  The registry of live caches (for statistics and fork) is
 * guarded by registry_lock, the outermost lock.  See docs/design.md. */
#ifndef HS_TCACHE_H
#define HS_TCACHE_H

#include <stdint.h>

#include "base.h"
#include "size_class.h"

enum tcache_state {
  TCACHE_UNBORN = 0,   /* zeroed TLS: not attached yet */
  TCACHE_ACTIVE = 1,
  TCACHE_ATTACHING = 2, /* attach in progress (may itself call malloc) */
  TCACHE_DEAD = 3,     /* thread destructor ran; uses central lists directly */
};

typedef struct tcache_bin {
  void *head;              /* free objects, linked through their first word */
  uint32_t count;          /* objects on head */
  uint32_t max_count;      /* the bin's room, and a refill's size; 0 sends
                              every free to the slow path */
} tcache_bin_t;

/* Per class, for frees past a full bin: objects of spans this thread does
 * not own, on their way to the central lists a batch
 * (size_class_batch[class]) at a time. */
typedef struct tcache_foreign {
  void *head;
  uint32_t count;
} tcache_foreign_t;

/* span->owned_list: which of its owner's lists a span is on (0 also for
 * the current span). */
enum { TCACHE_OWNED_UNLISTED = 0, TCACHE_OWNED_WITH_FREE = 1, TCACHE_OWNED_FULL = 2 };

/* Per class, slow paths only: the spans this thread owns (tcache.c). */
typedef struct tcache_owned {
  struct span *current;    /* the span refills take from */
  struct span *with_free;  /* the others with free objects */
  struct span *full;       /* the others without */
} tcache_owned_t;

/* The identity an owned span names (span->owner), the spans its thread
 * owns, its foreign lists, and where other threads report remote frees of
 * its objects: kept out of TLS, in metadata, and reused only after its
 * thread gave up every span.  A forked child never reuses the records of
 * the threads it did not inherit, so a new thread whose TLS lands where an
 * old one's was cannot take over its spans. */
typedef struct tcache_owner {
  tcache_foreign_t foreign[SIZE_CLASS_COUNT]; /* its thread only */
  tcache_owned_t owned[SIZE_CLASS_COUNT];     /* its thread only */
  struct tcache_owner *next_free;             /* registry_lock */
  uint64_t empty_bytes;       /* owned spans kept empty for reuse (tcache.c) */
  uint32_t sample_freed_pages; /* pages of the last sampled span its thread
                                 freed (malloc.c: the sample spare) */
  /* The idle scan's (tcache.c): the classes refilled since the last scan,
   * and each bin's head at it. */
  uint64_t refilled[(SIZE_CLASS_COUNT + 63) / 64];
  void *scanned_head[SIZE_CLASS_COUNT];
  /* Written by other threads under the class lock. */
  void *pending[SIZE_CLASS_COUNT] __attribute__((aligned(HS_CACHELINE)));
} tcache_owner_t;

typedef struct tcache {
  /* Hot: read and written by every fast path. */
  int64_t bytes_until_sample; /* requested bytes left before the next sample */
  uint64_t malloc_count;      /* fast and slow paths, this thread */
  uint64_t free_count;
  tcache_owner_t *owner;      /* set while ACTIVE; read by frees past a bin */
  tcache_bin_t bins[SIZE_CLASS_COUNT]; /* bins[0] stays empty (not a class) */
  /* Cold: slow paths only. */
  uint32_t state;                 /* enum tcache_state */
  uint32_t unattached_frees;      /* frees while UNBORN (tcache_free_attaches) */
  int64_t counter_loaded;         /* bytes_until_sample when last loaded */
  uint64_t requested_before;      /* requested bytes counted before that */
  int64_t sample_rate;            /* the rate the current gap was drawn at */
  int64_t sample_debt;            /* drawn bytes not yet in the counter */
  uint64_t capacity_bytes;        /* sum of max_count * class size */
  uint32_t trim_seen;             /* the trim epoch last honoured */
  uint32_t refills_since_scan;    /* refills since the last idle scan (tcache.c) */
  uint64_t live_peak;             /* most live objects (mallocs − frees)
                                     seen at a refill since the last drain */
  int64_t drain_below;            /* live objects that make a drain (tcache.c) */
  int64_t published_live;         /* mallocs − frees last added to the
                                     process-wide count (tcache.c) */
  struct tcache *registry_next, *registry_prev;
  struct span *sample_spare;      /* the span of this thread's last freed
                                     sample, free, for the next (malloc.c) */
} tcache_t;


extern _Thread_local tcache_t tls_tcache
    __attribute__((tls_model("initial-exec"), visibility("hidden")));

/* &tls_tcache, computed once into a register.  Left to itself GCC folds the
 * thread-pointer and TLS-offset adds into every bin address, which in free
 * puts four adds, not two, between the size-class load and the bin's loads
 * and stores: the chain a malloc+free loop waits on. */
HS_INLINE tcache_t *tcache_self(void) {
  tcache_t *tc = &tls_tcache;
  __asm__("" : "+r"(tc));
  return tc;
}

/* Once per process, before any tcache_attach (creates the exit key). */
void tcache_global_init(void);

/* Attaches the calling thread's cache (state UNBORN → ACTIVE). */
void tcache_attach(tcache_t *tc);

/* Called by a free while the thread's cache is UNBORN: whether to attach
 * it now.  Until then the thread's frees go straight to their spans
 * (tcache.c says why).  pre: tc == &tls_tcache. */
bool tcache_free_attaches(tcache_t *tc);

/* Slow halves of the fast paths.  pre: tc->state == TCACHE_ACTIVE. */
void *tcache_refill(tcache_t *tc, uint32_t size_class);      /* bin empty */
/* free_slow's free of an object of a span this thread does not own: onto
 * the class's foreign list (flushed to the central lists when full). */
void tcache_push_slow(tcache_t *tc, uint32_t size_class, void *object);
/* A free, already counted, of an object of a span this thread owns that
 * hs_free's path past the bin does not take (its span's free_limit: the
 * span full, or the object its last one out) or that reached free_slow:
 * back on its span's free list, and the span moved or given back.  Aborts
 * on a pointer that is not an object's start.
 * pre: object != span->free_list. */
void tcache_free_owned(tcache_t *tc, uint32_t size_class, struct span *span, void *object);

/* The gap when sampling is off: never used up in practice (the counter is
 * loaded from it 1 MiB at a time; sampler.c). */
#define TCACHE_COUNTER_OFF (INT64_MAX / 4)

/* Requested bytes this thread has allocated (exact). */
uint64_t tcache_requested_bytes(const tcache_t *tc);
/* Loads the sampling countdown with `bytes`, first adding what the
 * previous load counted down to the requested-bytes total. */
void tcache_load_counter(tcache_t *tc, int64_t bytes);

/* Returns every cached object of the calling thread to its span or the
 * central lists, and gives up every span the thread owns. */
void tcache_flush_all(tcache_t *tc);

/* Asks every thread to empty its cache (and shrink its bins back to zero)
 * at its next slow-path event; callable from any thread. */
void tcache_request_trim(void);
/* Empties the calling thread's cache now and honours pending requests. */
void tcache_trim(tcache_t *tc);
/* Caches trimmed so far (cumulative). */
uint64_t tcache_trims(void);
/* Rare work the slow paths check for: a trim request, starting the
 * scavenger.  Two relaxed loads. */
void tcache_slow_path_events(tcache_t *tc);

/* Counters of threads that are not ACTIVE: exited, attaching, or dead. */
void tcache_count_orphan_malloc(uint64_t requested_bytes);
void tcache_uncount_orphan_malloc(uint64_t requested_bytes); /* it failed */
void tcache_count_orphan_free(void);

typedef struct tcache_totals {
  uint64_t mallocs, frees, requested_bytes;
  uint64_t threads;
  uint64_t cached_objects[SIZE_CLASS_COUNT];
} tcache_totals_t;
/* Sums the counters of every live cache and of exited threads (frees read
 * before mallocs, so mallocs >= frees in every snapshot).  pre: the caller
 * holds registry_lock (tcache_registry_lock), for a snapshot that also
 * holds the central locks. */
void tcache_read_totals_locked(tcache_totals_t *out);
void tcache_registry_lock(void);
void tcache_registry_unlock(void);

void tcache_fork_prepare(void);
void tcache_fork_parent(void);
void tcache_fork_child(void);

#endif /* HS_TCACHE_H */
