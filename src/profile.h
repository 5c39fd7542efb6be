/* profile.h — the sampling profiler's store, as seen by its readers (the
 * pprof writer, statistics).  The store owns the interned stacks, label
 * sets and buckets; it lives in metadata memory and is guarded by the
 * profile lock, which nests outside the allocator's locks (the profiler
 * may allocate metadata but never calls malloc while holding it).
 *
 * pcs are raw return addresses, innermost first: pcs[0] is the return
 * address into the function that called malloc (heapscope's own frames are
 * already skipped).  To find the line of a call, look up pc - 1. */
#ifndef HS_PROFILE_H
#define HS_PROFILE_H

#include <stdint.h>

#define PROF_MAX_FRAMES 128
#define PROF_MAX_LABELS 16          /* depth of a thread's label stack */
#define PROF_LABEL_MAX_BYTES 127    /* longest key or value */

typedef struct prof_label {
  const char *key;
  const char *value;
} prof_label_t;

typedef struct prof_bucket_view {
  const uintptr_t *pcs;
  uint32_t depth;
  const prof_label_t *labels;
  uint32_t label_count;
  /* Unbiased estimates (each sample weighted when it was taken). */
  double alloc_objects, alloc_bytes;
  double free_objects, free_bytes;
} prof_bucket_view_t;

typedef void (*prof_visit_fn)(const prof_bucket_view_t *bucket, void *arg);

/* Calls visit for every bucket while holding the profile lock.  visit may
 * allocate (the caller must be inside prof_enter) but must not call back
 * into the profile store. */
void profile_for_each(prof_visit_fn visit, void *arg);

/* The current mean sampling interval in bytes (0: off). */
int64_t profile_sample_rate(void);

/* Brackets profiler work on the calling thread: allocations made inside
 * are never sampled.  Nests. */
void prof_enter(void);
void prof_exit(void);

#endif /* HS_PROFILE_H */
