/* pagemap.c — leaf allocation and range updates for the page map.  Writers
 * hold pageheap_lock (see pageheap.c); readers are lock-free.
 * May call: metadata, base. */
#include "pagemap.h"

#include <string.h>

#include "metadata.h"

pagemap_leaf_t *pagemap_root[1u << PAGEMAP_ROOT_BITS];
pagemap_hot_t pagemap_hot = {UINTPTR_MAX, NULL, 0};

bool pagemap_ensure_locked(uintptr_t first_page, size_t count) {
  uintptr_t last_page = first_page + count - 1;
  for (uintptr_t index = first_page >> PAGEMAP_LEAF_BITS; index <= last_page >> PAGEMAP_LEAF_BITS;
       index++) {
    if (index >= (1u << PAGEMAP_ROOT_BITS)) return false;
    if (pagemap_root[index]) continue;
    pagemap_leaf_t *leaf = metadata_alloc(sizeof(pagemap_leaf_t));
    if (!leaf) return false;
    __atomic_store_n(&pagemap_root[index], leaf, __ATOMIC_RELEASE);
    if (pagemap_hot.index == UINTPTR_MAX) {
      pagemap_hot.leaf = leaf;
      pagemap_hot.class_of_page = (uintptr_t)leaf->size_class - (index << PAGEMAP_LEAF_BITS);
      __atomic_store_n(&pagemap_hot.index, index, __ATOMIC_RELEASE);
    }
  }
  return true;
}

static void set_page(uintptr_t page, span_t *span, uint8_t size_class) {
  pagemap_leaf_t *leaf = pagemap_root[page >> PAGEMAP_LEAF_BITS];
  uintptr_t slot = page & (PAGEMAP_LEAF_PAGES - 1);
  leaf->span[slot] = span;
  leaf->size_class[slot] = size_class;
}

/* Writes `size_class` into the class byte of every page of `span` and,
 * unless `pointer` is NULL, `pointer` into its span slot: a leaf's share
 * at a time, with one root load per leaf (a class byte store may alias
 * the root, so a loop over pages reloads it at every page).  Pointers four
 * to an iteration; class bytes by memset only for a run of many pages, as
 * most spans have a page or a few, where a call costs more than the
 * stores (and no loop is turned into a call behind our back). */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_LOOP_TO_CALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define NO_LOOP_TO_CALL
#endif
NO_LOOP_TO_CALL static void set_pages(const span_t *span, span_t *pointer, uint8_t size_class) {
  uintptr_t page = span->first_page, end = page + span->page_count;
  while (page < end) {
    pagemap_leaf_t *leaf = pagemap_root[page >> PAGEMAP_LEAF_BITS];
    uintptr_t slot = page & (PAGEMAP_LEAF_PAGES - 1);
    uintptr_t slots = HS_MIN(end - page, PAGEMAP_LEAF_PAGES - slot);
    if (pointer) {
      span_t **out = &leaf->span[slot], **out_end = out + slots;
      for (; out + 4 <= out_end; out += 4) out[0] = out[1] = out[2] = out[3] = pointer;
      for (; out < out_end; out++) *out = pointer;
    }
    if (slots >= 16) {
      memset(&leaf->size_class[slot], size_class, slots);
    } else {
      for (uintptr_t i = slot; i < slot + slots; i++) leaf->size_class[i] = size_class;
    }
    page += slots;
  }
}

void pagemap_set_span_locked(span_t *span, uint8_t size_class) {
  set_pages(span, span, size_class);
}

void pagemap_clear_classes_locked(const span_t *span) { set_pages(span, NULL, 0); }

void pagemap_clear_ends_locked(const span_t *span) {
  set_page(span->first_page, NULL, 0);
  set_page(span->first_page + span->page_count - 1, NULL, 0);
}

void pagemap_set_ends_locked(span_t *span) {
  set_page(span->first_page, span, 0);
  set_page(span->first_page + span->page_count - 1, span, 0);
}
