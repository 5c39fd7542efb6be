/* central.h — the middle end: for each size class, the spans no thread
 * owns and the objects no thread cache holds.  A transfer cache (a stack of
 * object pointers, moved in batches) sits in front of the class's unowned
 * spans that still have free objects.  One lock per class
 * (central[c].lock); never a global lock.  Lock order: thread-cache
 * registry → central class locks (in class order, only fork takes several)
 * → pageheap → metadata.  See docs/design.md. */
#ifndef HS_CENTRAL_H
#define HS_CENTRAL_H

#include <stdbool.h>
#include <stdint.h>

#include "span.h"

/* For a thread without a cache: moves up to `count` objects of
 * `size_class` into out[]; returns how many (0 only when the OS refuses
 * memory). */
int central_remove_range(uint32_t size_class, void **out, int count);

/* ---- Owned spans ----
 * A thread cache may own spans of a class: it allocates from them and frees
 * their objects onto their free lists without a lock, so its objects come
 * span by span, in address order while a span is fresh (mimalloc's
 * design).  An owned span is on no central list; its slots all count as out
 * of the class.  Other threads' frees of its objects reach it through the
 * central lists (central_insert_range) and wait on its remote list, and the
 * span is pushed on its owner's pending list, both under the class lock.
 * The owner gives its spans back with central_disown (thread exit, trim,
 * fork) or, empty, with central_release_owned. */

/* Gives `owner` a span of `size_class` with free objects (from the class's
 * nonempty list, else new); `owner_pending` is where remote frees of its
 * objects announce it.  NULL only when the OS refuses memory. */
struct span *central_claim(uint32_t size_class, void *owner, void **owner_pending);

/* Moves up to `want` free objects of a span into a list linked through
 * their first words (*list_out): never-used ones first, in address order.
 * Returns how many.  pre: the caller owns the span. */
uint32_t span_take_free_objects(struct span *span, uint32_t size_class, uint32_t want,
                                void **list_out);

/* Takes up to `max_spans` spans off the pending list *pending, moving each
 * one's remote objects onto its free list; the spans go in spans[].
 * Returns how many spans. */
uint32_t central_collect_pending(uint32_t size_class, void **pending, struct span **spans,
                                 uint32_t max_spans);

/* An owned span whose objects are all free goes back to the page heap. */
void central_release_owned(uint32_t size_class, struct span *span);

/* Ends ownership: the span's objects, remote ones included, go back to the
 * class (or the span to the page heap). */
void central_disown(uint32_t size_class, struct span *span);

/* Empties the pending list of an owner that has disowned all its spans. */
void central_clear_pending(uint32_t size_class, void **pending);

/* Takes up to `count` objects from the class's transfer cache only. */
int central_remove_transfer(uint32_t size_class, void **out, int count);

/* Takes back `count` objects of `size_class` freed by a thread that does
 * not own their spans.  Objects that are not heapscope's objects of that
 * class abort the process, naming the pointer. */
void central_insert_range(uint32_t size_class, void **objects, int count);

/* Takes back one object freed by a thread without a cache: onto its span
 * (its owner's remote list if the span is owned), not the transfer cache,
 * whose next refill would hand it out at once, maybe to a thread writing
 * next to its neighbours.  Aborts like central_insert_range. */
void central_release_object(uint32_t size_class, void *object);

/* Whether `object`, of `span` (a span of the class), is free on a list this
 * lock guards: the class's transfer cache, the span's free list if nobody
 * owns it, its remote list if somebody does.  For a free that found the
 * object's free tag set (malloc.c).  pre: no lock held. */
bool central_holds_free_object(uint32_t size_class, const struct span *span, const void *object);

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
  uint64_t objects_out;      /* slots out of unowned spans, and every slot
                                of owned ones */
  uint64_t transfer_objects; /* free objects in the transfer cache and on
                                owned spans' remote lists */
  uint64_t owned_free_objects; /* free objects in owned spans (their
                                owners' caches) */
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
