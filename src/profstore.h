/* profstore.h — the profiler's store: buckets keyed by (stack, label set)
 * holding weighted allocation and free totals, and interned label sets.
 * Lives in metadata memory; guarded by profile_lock, taken only when a
 * sample is recorded or freed, when labels are interned, and by readers
 * (profile.h).  Lock order: profile_lock is taken with no allocator lock
 * held, and may take the metadata lock inside.  May call: metadata, base. */
#ifndef HS_PROFSTORE_H
#define HS_PROFSTORE_H

#include <stdint.h>

#include "profile.h"

#define PROFSTORE_MAX_LABEL_SETS 1024

typedef struct labelset {
  struct labelset *next; /* hash chain */
  uint64_t hash;
  uint32_t count;
  prof_label_t labels[]; /* sorted by key; strings follow the array */
} labelset_t;

typedef struct prof_bucket prof_bucket_t;

/* Adds one sample of `size` requested bytes with weight `weight` at stack
 * pcs[0..depth) under `labels`; returns its bucket (for the free), or NULL
 * when metadata is exhausted (the sample is then dropped). */
prof_bucket_t *profstore_record_alloc(const uintptr_t *pcs, int depth, const labelset_t *labels,
                                      double weight, uint64_t size);

/* Records the free of a sample taken with that weight and size. */
void profstore_record_free(prof_bucket_t *bucket, double weight, uint64_t size);

/* The interned set `base` ∪ {key=value} (replacing key's old value).  After
 * PROFSTORE_MAX_LABEL_SETS distinct sets, new ones fold into one overflow
 * set {overflow=true} and a warning is printed once.  NULL on failure. */
const labelset_t *profstore_labels_with(const labelset_t *base, const char *key, const char *value);

void profstore_fork_prepare(void);
void profstore_fork_parent(void);
void profstore_fork_child(void);

#endif /* HS_PROFSTORE_H */
