/* pagemap.h — the radix tree from address to span: for every page of a
 * small-object span, the span and its size class (so the free fast path
 * needs one byte load and no span dereference); for free and large spans,
 * the span at their first and last page.  A size-class byte is non-zero
 * only on the pages of a live small-object span.
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

/* The first leaf made, which holds most programs' whole heap, and its root
 * index (UINTPTR_MAX before).  Set once: the leaf and class_of_page, then
 * the index.  A lookup that hits it needs no root load, so a free's
 * size-class load waits only on one shift of the pointer. */
typedef struct pagemap_hot {
  uintptr_t index;
  pagemap_leaf_t *leaf;
  /* The address of leaf->size_class less the leaf's first page number:
   * class_of_page + (address >> HS_PAGE_SHIFT) is the class byte of an
   * address in the leaf, without masking the page number to a slot. */
  uintptr_t class_of_page;
} pagemap_hot_t;
extern pagemap_hot_t pagemap_hot __attribute__((visibility("hidden")));

/* The leaf for `addr`, or NULL when no heapscope memory was ever there. */
HS_INLINE pagemap_leaf_t *pagemap_leaf_of(uintptr_t addr) {
  uintptr_t index = addr >> (HS_PAGE_SHIFT + PAGEMAP_LEAF_BITS);
  if (HS_LIKELY(index == __atomic_load_n(&pagemap_hot.index, __ATOMIC_ACQUIRE))) {
    pagemap_leaf_t *leaf = pagemap_hot.leaf;
    if (leaf == NULL) __builtin_unreachable();
    return leaf;
  }
  if (HS_UNLIKELY(index >= (1u << PAGEMAP_ROOT_BITS))) return NULL;
  return __atomic_load_n(&pagemap_root[index], __ATOMIC_RELAXED);
}

HS_INLINE uintptr_t pagemap_slot_of(uintptr_t addr) {
  return (addr >> HS_PAGE_SHIFT) & (PAGEMAP_LEAF_PAGES - 1);
}

/* The leaf for `addr` and, through `size_class`, its page's class byte; NULL
 * (size_class untouched) when no heapscope memory was ever there.  The
 * free and realloc fast paths' lookup. */
HS_INLINE pagemap_leaf_t *pagemap_class_of(uintptr_t addr, uintptr_t *size_class) {
  uintptr_t page = addr >> HS_PAGE_SHIFT;
  if (HS_LIKELY(page >> PAGEMAP_LEAF_BITS == __atomic_load_n(&pagemap_hot.index, __ATOMIC_ACQUIRE))) {
    pagemap_leaf_t *leaf = pagemap_hot.leaf;
    if (leaf == NULL) __builtin_unreachable();
    *size_class = *(const uint8_t *)(pagemap_hot.class_of_page + page);
    return leaf;
  }
  pagemap_leaf_t *leaf = pagemap_leaf_of(addr);
  if (leaf) *size_class = leaf->size_class[pagemap_slot_of(addr)];
  return leaf;
}

/* The span holding `addr`, or NULL. */
HS_INLINE span_t *pagemap_span_of(const void *addr) {
  pagemap_leaf_t *leaf = pagemap_leaf_of((uintptr_t)addr);
  return leaf ? leaf->span[pagemap_slot_of((uintptr_t)addr)] : NULL;
}

/* Makes sure leaves exist for pages [first_page, first_page + count).
 * Returns false when metadata memory is exhausted.  Caller: pageheap lock. */
bool pagemap_ensure_locked(uintptr_t first_page, size_t count);

/* Points every page of `span` at it and records `size_class` in each: what
 * a small-object span needs (free() reaches it through any of its pages).
 * pre: pagemap_ensure_locked succeeded for the range. */
void pagemap_set_span_locked(span_t *span, uint8_t size_class);
/* Sets the class byte of every page of a small-object span being freed to
 * 0; its pages keep pointing at it, as pagemap_set_span_locked left them
 * (what a free span's inner pages may hold: see pagemap_set_ends_locked). */
void pagemap_clear_classes_locked(const span_t *span);
/* Points the first and last page of a free or large span at it.  That is
 * all such a span needs: a large object's pointer is its first page, and
 * the page heap finds a span's neighbours through their edge pages.  Their
 * other pages keep whatever they held (class byte 0, possibly a stale span
 * pointer), so lookups that validate a pointer use pagemap_span_holding. */
void pagemap_set_ends_locked(span_t *span);
/* Empties the first and last page's entries of a span about to leave the
 * address space (its mapping unmapped or moved). */
void pagemap_clear_ends_locked(const span_t *span);

/* The span holding `addr` according to the page map, or NULL when the page
 * map's entry for it is empty or stale (names a span not covering it). */
HS_INLINE span_t *pagemap_span_holding(const void *addr) {
  span_t *span = pagemap_span_of(addr);
  uintptr_t page = (uintptr_t)addr >> HS_PAGE_SHIFT;
  if (span && page - span->first_page < span->page_count) return span;
  return NULL;
}

#endif /* HS_PAGEMAP_H */
