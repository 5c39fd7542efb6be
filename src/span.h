/* span.h — span_t, a run of contiguous heapscope pages, and the vocabulary
 * shared by the page heap and the central lists.
 *
 * "page" is heapscope's 8 KiB unit (HS_PAGE_BYTES); "OS page" is the
 * kernel's.  A span is in exactly one state:
 *   SPAN_FREE   owned by the page heap, on one of its free lists;
 *   SPAN_SMALL  carved into objects of one size class, owned by that class's
 *               central list (guarded by the class lock) or by one thread
 *               (central.h, "Owned spans");
 *   SPAN_LARGE  one object larger than the largest size class.
 * The `next`/`prev` links belong to whichever list currently owns the span.
 * Span records come from metadata and are recycled by the page heap. */
#ifndef HS_SPAN_H
#define HS_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "size_class.h"

enum span_state { SPAN_FREE = 0, SPAN_SMALL = 1, SPAN_LARGE = 2 };

typedef struct span {
  /* The first cache line holds what a free of an owned span's object reads
   * and writes (malloc.c, hs_free past the bin); span records are
   * line-aligned. */
  uintptr_t first_page;       /* address >> HS_PAGE_SHIFT */
  void *free_list;            /* SPAN_SMALL: returned objects */
  void *owner;                /* SPAN_SMALL: its thread's tcache_owner_t, or NULL */
  char *carve_next;           /* SPAN_SMALL: never-used objects start here */
  uint32_t free_count;        /* SPAN_SMALL: objects on free_list */
  uint32_t carved_count;      /* SPAN_SMALL: objects carved so far */
  uint32_t free_limit;        /* SPAN_SMALL, owned: a free that would make
                                 free_count reach this takes the slow path
                                 (tcache.c); 0 when not owned */
  uint32_t allocated_count;   /* SPAN_SMALL, unowned: objects out of the span */
  uint64_t multiple_magic;    /* SPAN_SMALL: size_class_multiple_magic[size_class] */
  uint8_t state;              /* enum span_state */
  uint8_t size_class;         /* SPAN_SMALL: the class; else 0 */
  uint8_t owned_list;         /* which of the owner's lists (tcache.h) */
  uint8_t on_list;            /* SPAN_SMALL: on its class's nonempty list */
  uint8_t pending;            /* on the owner's pending list */
  uint8_t kept_empty;         /* owned, every object back, kept for reuse */
  uint8_t zeroed;             /* SPAN_FREE: every byte is known to be zero */
  uint8_t released;           /* SPAN_FREE: its pages were returned to the OS
                                 (free spans are wholly released or not) */
  size_t page_count;
  struct span *next, *prev;   /* list links (owner's lock) */
  char *carve_end;
  /* Ownership (central.h): an owned span's free_list, free_count and carve
   * fields belong to its owner alone; other threads' frees of its objects
   * wait on remote_list, guarded by the class lock, and the span is put on
   * the owner's pending list (*owner_pending) to be collected. */
  void **owner_pending;       /* the owner's pending list for this class */
  void *remote_list;
  uint32_t remote_count;
  struct span *pending_next;
  struct span *owned_next, *owned_prev; /* central's list of its class's
                                 owned spans (class lock) */
  uint64_t requested_bytes;   /* SPAN_LARGE: the size asked for */
  void *sample_bucket;        /* SPAN_LARGE holding a sampled object: its
                                 profile bucket (see malloc.c), else NULL */
  double sample_weight;       /* the sample's weight */
  uint64_t sample_bytes;      /* the size the sample recorded (a realloc in
                                 place changes requested_bytes, not this) */
  uint32_t sample_usable_bytes; /* a sampled object that would have been
                                 small: its class's size, which is its
                                 usable size; 0 otherwise */
  uint8_t mapped_alone;       /* SPAN_LARGE in a mapping of its own, which
                                 realloc moves with mremap and free unmaps
                                 (pageheap_alloc_mapped_alone) */
  uint8_t sample_spare;       /* SPAN_LARGE kept free by a thread for its
                                 next sample (see malloc.c) */
  struct sample_pack *sample_pack; /* SPAN_LARGE whose page holds sampled
                                 small objects (samplepack.h), else NULL */
  uint64_t idle_since_ns;     /* SPAN_FREE: when it last became free
                                 (CLOCK_MONOTONIC ns) */
  struct span *idle_next, *idle_prev; /* SPAN_FREE, not released: the page
                                 heap's oldest-idle-first list */
  uint8_t releasing;          /* SPAN_FREE: being returned to the OS with the
                                 page-heap lock dropped (on no list) */
} span_t;
_Static_assert(offsetof(span_t, released) < 64, "hs_free's span fields span one cache line");

static inline void *span_start(const span_t *span) {
  return (void *)(span->first_page << HS_PAGE_SHIFT);
}
static inline size_t span_bytes(const span_t *span) {
  return span->page_count << HS_PAGE_SHIFT;
}
/* Whether `object` starts one of the objects of SPAN_SMALL `span` carved so
 * far: what a free of it must be. */
static inline bool span_holds_carved_object(const span_t *span, const void *object) {
  size_t offset = (size_t)((const char *)object - (const char *)span_start(span));
  return size_class_is_multiple(offset, span->multiple_magic) &&
         (const char *)object < span->carve_next;
}

/* Circular doubly linked lists with a sentinel span as head. */
static inline void span_list_init(span_t *head) { head->next = head->prev = head; }
static inline void span_list_remove(span_t *span) {
  span->prev->next = span->next;
  span->next->prev = span->prev;
  span->next = span->prev = NULL;
}
static inline void span_list_push_front(span_t *head, span_t *span) {
  span->next = head->next;
  span->prev = head;
  head->next->prev = span;
  head->next = span;
}

/* NULL-terminated doubly linked lists through next/prev, with a head
 * pointer instead of a sentinel record (the page heap's free lists, a
 * class's nonempty list, a thread's owned lists). */
static inline void span_head_push(span_t **head, span_t *span) {
  span->prev = NULL;
  span->next = *head;
  if (*head) (*head)->prev = span;
  *head = span;
}
static inline void span_head_remove(span_t **head, span_t *span) {
  if (span->prev) span->prev->next = span->next;
  else *head = span->next;
  if (span->next) span->next->prev = span->prev;
  span->next = span->prev = NULL;
}

#endif /* HS_SPAN_H */
