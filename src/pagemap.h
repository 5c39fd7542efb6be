/* pagemap.h — the radix tree from address to span: for every heapscope page
 * the span that holds it and, for small-object spans, the size class (so the
 * free fast path needs one byte load and no span dereference).
 *
 * Two levels over a 48-bit address space: a static root of 2^17 leaf
 * pointers, each leaf covering 2 GiB (2^18 pages).  Leaves come from metadata
 * and are never freed.  Writers hold the page-heap lock; readers take no lock
 * (a pointer's entries are written before the pointer is handed out). */
#ifndef HS_PAGEMAP_H
#define HS_PAGEMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "base.h"
#include "span.h"

#define PAGEMAP_ADDRESS_BITS 48
#define PAGEMAP_LEAF_BITS 18
#define PAGEMAP_ROOT_BITS (PAGEMAP_ADDRESS_BITS - HS_PAGE_SHIFT - PAGEMAP_LEAF_BITS)
#define PAGEMAP_LEAF_PAGES ((uintptr_t)1 << PAGEMAP_LEAF_BITS)

typedef struct pagemap_leaf {
  uint8_t size_class[PAGEMAP_LEAF_PAGES]; /* 0: not a small-object page */
  span_t *span[PAGEMAP_LEAF_PAGES];       /* NULL: not heapscope's */
} pagemap_leaf_t;

extern pagemap_leaf_t *pagemap_root[1u << PAGEMAP_ROOT_BITS]
    __attribute__((visibility("hidden")));

/* The leaf for `addr`, or NULL when no heapscope memory was ever there. */
HS_INLINE pagemap_leaf_t *pagemap_leaf_of(uintptr_t addr) {
  uintptr_t index = addr >> (HS_PAGE_SHIFT + PAGEMAP_LEAF_BITS);
  if (HS_UNLIKELY(index >= (1u << PAGEMAP_ROOT_BITS))) return NULL;
  return __atomic_load_n(&pagemap_root[index], __ATOMIC_RELAXED);
}

HS_INLINE uintptr_t pagemap_slot_of(uintptr_t addr) {
  return (addr >> HS_PAGE_SHIFT) & (PAGEMAP_LEAF_PAGES - 1);
}

/* The span holding `addr`, or NULL. */
HS_INLINE span_t *pagemap_span_of(const void *addr) {
  pagemap_leaf_t *leaf = pagemap_leaf_of((uintptr_t)addr);
  return leaf ? leaf->span[pagemap_slot_of((uintptr_t)addr)] : NULL;
}

/* Makes sure leaves exist for pages [first_page, first_page + count).
 * Returns false when metadata memory is exhausted.  Caller: pageheap lock. */
bool pagemap_ensure_locked(uintptr_t first_page, size_t count);

/* Points every page of `span` at it and records `size_class` (0 for free
 * and large spans).  pre: pagemap_ensure_locked succeeded for the range. */
void pagemap_set_span_locked(span_t *span, uint8_t size_class);
/* The same for an arbitrary page range (used when spans merge or split). */
void pagemap_set_range_locked(uintptr_t first_page, size_t count, span_t *span,
                              uint8_t size_class);

#endif /* HS_PAGEMAP_H */
