/* size_class.h — heapscope's size classes: the constants, the generated tables
 * (src/size_class_table.c, from tools/gen_size_classes.py; never edit it) and
 * the two hot-path helpers size_class_of() and size_class_object_index().
 * Hand-written; the generated file _Static_asserts that the constants below
 * match what it computed, so after regenerating fix them here if it fails. */
#ifndef HS_SIZE_CLASS_H
#define HS_SIZE_CLASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base.h"

#define HS_PAGE_SHIFT 13                       /* heapscope page, not OS page */
#define HS_PAGE_BYTES ((size_t)1 << HS_PAGE_SHIFT)
#define SIZE_CLASS_COUNT 77                    /* class 0 reserved ("not small") */
#define SIZE_CLASS_MAX_BYTES 262144            /* largest class; bigger is SPAN_LARGE */
#define SIZE_CLASS_SMALL_LOOKUP_MAX 1024       /* fine lookup table covers 0..this */
#define SIZE_CLASS_DIV_SHIFT 35                /* see size_class_object_index() */

#define HS_SIZE_CLASS_HIDDEN __attribute__((visibility("hidden")))

/* Per class (index 0 is all zero): object size, pages per span, objects per
 * span, objects moved per thread-cache <-> central-list transfer, the
 * division magic for size_class_object_index(), and the multiple magic for
 * size_class_is_multiple(). */
extern const uint32_t size_class_bytes[SIZE_CLASS_COUNT] HS_SIZE_CLASS_HIDDEN;
extern const uint8_t size_class_pages[SIZE_CLASS_COUNT] HS_SIZE_CLASS_HIDDEN;
extern const uint16_t size_class_objects[SIZE_CLASS_COUNT] HS_SIZE_CLASS_HIDDEN;
extern const uint8_t size_class_batch[SIZE_CLASS_COUNT] HS_SIZE_CLASS_HIDDEN;
extern const uint32_t size_class_div_magic[SIZE_CLASS_COUNT] HS_SIZE_CLASS_HIDDEN;
/* ceil(2^64 / size_class_bytes[cls]), for size_class_is_multiple(). */
extern const uint64_t size_class_multiple_magic[SIZE_CLASS_COUNT] HS_SIZE_CLASS_HIDDEN;
/* Size -> class: [(size+15)>>4] for size <= 1024, [(size+127)>>7] above. */
extern const uint8_t size_class_index_small[SIZE_CLASS_SMALL_LOOKUP_MAX / 16 + 1] HS_SIZE_CLASS_HIDDEN;
extern const uint8_t size_class_index_large[SIZE_CLASS_MAX_BYTES / 128 + 1] HS_SIZE_CLASS_HIDDEN;

/* The smallest class whose objects hold `size` bytes (size 0 -> class 1),
 * 1..SIZE_CLASS_COUNT-1; 0 (no class) past SIZE_CLASS_MAX_BYTES.  The
 * common case, <= 1 KiB, is tested first: on malloc's fast path that is one
 * compare, and a large request falls through to bins[0], which is always
 * empty. */
static inline uint32_t size_class_of(size_t size) {
  if (HS_LIKELY(size <= SIZE_CLASS_SMALL_LOOKUP_MAX)) return size_class_index_small[(size + 15) >> 4];
  return size <= SIZE_CLASS_MAX_BYTES ? size_class_index_large[(size + 127) >> 7] : 0;
}

/* offset_in_span / size_class_bytes[cls] without a divide, from the class's
 * division magic (size_class_divide) or its index.  Exact for every offset
 * in [0, size_class_pages[cls] * HS_PAGE_BYTES) (verified by the generator
 * and tests/unit/size_class_test.c); undefined beyond. */
static inline uint32_t size_class_divide(size_t offset_in_span, uint32_t div_magic) {
  return (uint32_t)(((uint64_t)offset_in_span * div_magic) >> SIZE_CLASS_DIV_SHIFT);
}
static inline uint32_t size_class_object_index(uint32_t cls, size_t offset_in_span) {
  return size_class_divide(offset_in_span, size_class_div_magic[cls]);
}

/* Whether offset_in_span is a multiple of its class's object size, from
 * the class's multiple magic (a span carries its class's): one multiply
 * and one compare.  Exact over the same range as size_class_divide. */
static inline bool size_class_is_multiple(size_t offset_in_span, uint64_t multiple_magic) {
  return (uint64_t)offset_in_span * multiple_magic < multiple_magic;
}

#endif /* HS_SIZE_CLASS_H */
