/* samplepack.h — sampled small objects packed by size class.
 *
 * A sampled object of a class up to SAMPLEPACK_MAX_BYTES shares a one-page
 * span with other sampled objects of its class instead of taking a page of
 * its own: at high sampling rates (1 = every allocation, the rate of leak
 * checks) a page per object multiplied a program's footprint by up to 512.
 * The span is SPAN_LARGE to the rest of the allocator (the page map says
 * "not a small object", so every free of its objects reaches free_slow)
 * and carries its pack in span->sample_pack; each slot keeps its sample's
 * bucket, weight and recorded size. */
#ifndef HS_SAMPLEPACK_H
#define HS_SAMPLEPACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "size_class.h"
#include "span.h"

/* Classes up to this size are packed: their spans are one page, as a page
 * of its own would be, so a pack holding one sample costs no more. */
#define SAMPLEPACK_MAX_BYTES 1024

/* Whether sampled objects of `size_class` are packed. */
static inline bool samplepack_packs(uint32_t size_class) {
  return size_class != 0 && size_class_bytes[size_class] <= SAMPLEPACK_MAX_BYTES &&
         size_class_pages[size_class] == 1;
}

/* A free slot of `size_class` for a sample of `size` bytes (zeroed if
 * `zero`), marked live; NULL if no page can be had.  Give it its sample's
 * bucket and weight with samplepack_set_sample before it is handed out. */
void *samplepack_alloc(uint32_t size_class, size_t size, bool zero);
void samplepack_set_sample(void *object, void *bucket, double weight);

/* What `ptr` is to the pack on `span` (span->sample_pack set). */
enum samplepack_lookup { SAMPLEPACK_LIVE, SAMPLEPACK_FREE_SLOT, SAMPLEPACK_NOT_SLOT };
enum samplepack_lookup samplepack_lookup(const span_t *span, const void *ptr);

/* The usable size of the objects of `span`'s pack: their class's size. */
size_t samplepack_usable_bytes(const span_t *span);

/* Frees live slot `ptr` of `span`'s pack (aborting as `call` if it is not
 * one) and records the free in its bucket; gives the span back to the page
 * heap when it empties (but for one empty pack kept for reuse). */
void samplepack_free(span_t *span, void *ptr, const char *call);

/* For hs_stats: the live samples packs hold (their pages and bytes the
 * page heap counts, pageheap_stats_t). */
uint64_t samplepack_live_objects(void);

void samplepack_fork_prepare(void);
void samplepack_fork_parent(void);
void samplepack_fork_child(void);

#endif /* HS_SAMPLEPACK_H */
