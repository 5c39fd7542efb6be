/* pageheap.h — the back end: spans of pages carved from large mmap'd
 * regions, free spans coalesced, idle pages returned to the OS.  Serves the
 * central lists (one span per refill) and objects above the largest size
 * class directly.  One lock, pageheap_lock; it nests inside the central
 * locks and outside the metadata lock.  See docs/design.md. */
#ifndef HS_PAGEHEAP_H
#define HS_PAGEHEAP_H

#include <stdbool.h>
#include <stdint.h>

#include "span.h"

/* A span of `pages` pages in state `state` (SPAN_SMALL with `size_class`, or
 * SPAN_LARGE), its pages entered in the page map.  `align_pages` (a power of
 * two, 1 for none) aligns its first page.  span->zeroed says whether every
 * byte is known to be zero.  NULL when the OS refuses memory. */
span_t *pageheap_alloc(size_t pages, size_t align_pages, uint8_t state, uint8_t size_class);

/* Returns a SPAN_SMALL or SPAN_LARGE span to the free lists. */
void pageheap_free(span_t *span);

/* Returns every free, unreleased page to the OS; the number of bytes. */
uint64_t pageheap_release_all(void);

typedef struct pageheap_stats {
  uint64_t sys_bytes;       /* heap address space mapped */
  uint64_t free_bytes;      /* in free spans, released or not */
  uint64_t released_bytes;  /* in free spans returned to the OS */
  uint64_t large_bytes;     /* in SPAN_LARGE spans */
  uint64_t large_count;     /* SPAN_LARGE spans */
  uint64_t free_spans;
} pageheap_stats_t;

void pageheap_read_stats(pageheap_stats_t *out);

void pageheap_fork_prepare(void);
void pageheap_fork_parent(void);
void pageheap_fork_child(void);

#endif /* HS_PAGEHEAP_H */
