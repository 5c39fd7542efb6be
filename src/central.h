/* central.h — the middle end: for each size class, the objects no thread
 * cache holds.  A transfer cache (a stack of object pointers, moved in
 * batches) sits in front of the class's spans that still have free objects.
 * One lock per class (central[c].lock); never a global lock.  Lock order:
 * thread-cache registry → central class locks (in class order, only fork
 * takes several) → pageheap → metadata.  See docs/design.md. */
#ifndef HS_CENTRAL_H
#define HS_CENTRAL_H

#include <stdbool.h>
#include <stdint.h>

#include "span.h"

/* Moves up to `count` objects of `size_class` into out[]; returns how many
 * (0 only when the OS refuses memory). */
int central_remove_range(uint32_t size_class, void **out, int count);

/* Takes back `count` objects of `size_class`.  Objects that are not
 * heapscope's objects of that class abort the process, naming the pointer. */
void central_insert_range(uint32_t size_class, void **objects, int count);

/* Returns every object in every transfer cache to its span, so that empty
 * spans go back to the page heap (release-now).  pre: no lock held. */
void central_drain_all(void);

/* The scavenger's pass: empties the transfer caches not used since the
 * previous pass (every one if `all`); spans emptied go back to the page heap
 * idle since `idle_since_ns` (the previous pass; 0: now).  Returns the
 * objects moved.  pre: no lock held. */
uint64_t central_drain_idle(bool all, uint64_t idle_since_ns);

/* Objects in all transfer caches (racy read, for scheduling). */
uint64_t central_transfer_objects(void);

typedef struct central_class_stats {
  uint64_t span_count;       /* spans of this class */
  uint64_t span_objects;     /* object slots in those spans */
  uint64_t objects_out;      /* slots handed out of the spans */
  uint64_t transfer_objects; /* free objects in the transfer cache */
} central_class_stats_t;

/* A consistent snapshot of every class: lock all (ascending), read each
 * with central_read_stats_locked, unlock all.  For statistics only. */
void central_lock_all(void);
void central_read_stats_locked(uint32_t size_class, central_class_stats_t *out);
void central_unlock_all(void);

void central_fork_prepare(void);
void central_fork_parent(void);
void central_fork_child(void);

#endif /* HS_CENTRAL_H */
