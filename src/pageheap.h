/* pageheap.h — the back end: spans of pages carved from large mmap'd
 * regions, free spans coalesced, idle pages returned to the OS oldest-idle
 * first, and the memory limit enforced where the heap's footprint grows.
 * Serves the central lists (one span per refill) and objects above the
 * largest size class directly.  One lock, pageheap_lock; it nests inside the
 * central locks and outside the metadata lock.  See docs/design.md and
 * docs/memory.md. */
#ifndef HS_PAGEHEAP_H
#define HS_PAGEHEAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "span.h"

/* A span of `pages` pages in state `state` (SPAN_SMALL with `size_class`, or
 * SPAN_LARGE), its pages entered in the page map.  `align_pages` (a power of
 * two, 1 for none) aligns its first page.  span->zeroed says whether every
 * byte is known to be zero.  NULL when the OS refuses memory or a hard memory
 * limit would be crossed (errno ENOMEM).  Callers asking for SPAN_LARGE hold
 * no other allocator lock (the hard-limit path may then run the reclaim
 * hook); SPAN_SMALL callers hold their class lock. */
span_t *pageheap_alloc(size_t pages, size_t align_pages, uint8_t state, uint8_t size_class);

/* Extends a SPAN_LARGE span to `new_pages` pages by taking the start of the
 * free span that follows it; false (nothing changed) when there is none
 * long enough or the memory limit refuses. */
bool pageheap_grow_in_place(span_t *span, size_t new_pages);

/* Returns a SPAN_SMALL or SPAN_LARGE span to the free lists, idle from now
 * (by the coarse clock: a tick or so early, pageheap.c). */
void pageheap_free(span_t *span);
/* The same, for a span whose memory has been unused since `idle_since_ns`
 * (CLOCK_MONOTONIC; a drained transfer cache knows its objects were idle). */
void pageheap_free_idle_since(span_t *span, uint64_t idle_since_ns);
/* The same for a span realloc just moved a growing block out of: a large
 * one of 32 MiB or more gives its pages back to the OS at once (the buffer
 * has outgrown it and will not come back), with the lock dropped around
 * the madvise. */
void pageheap_free_outgrown(span_t *span);

/* Large blocks realloc grows past PAGEHEAP_MAPPED_ALONE_BYTES live in
 * mappings of their own, as glibc's largest blocks do, so that the next
 * growth moves the pages with mremap instead of copying them (a buffer
 * grown to 512 MiB 512 KiB at a time: bench/realloc_huge.sh).  Their free
 * unmaps them. */
#define PAGEHEAP_MAPPED_ALONE_BYTES ((uint64_t)32 << 20)

/* A SPAN_LARGE span of `pages` pages in a fresh mapping of its own (zeroed,
 * under the memory limit), or NULL with errno ENOMEM. */
span_t *pageheap_alloc_mapped_alone(size_t pages);

/* Resizes mapped-alone span `span` to `pages` pages with mremap, moving
 * it if need be (its first_page changes then; its contents go with it).
 * False with errno ENOMEM, `span` unchanged, when the OS or the memory
 * limit refuses. */
bool pageheap_remap_alone(span_t *span, size_t pages);

/* Returns free, unreleased pages to the OS, oldest idle first: only spans
 * idle since `idle_before_ns` or earlier, at most `max_bytes`, and never
 * leaving less than `keep_bytes` of unreleased free memory.  Works in chunks,
 * each one madvise over the free run around its oldest span (up to 1 MiB of
 * released spans in it included), and drops the lock around each.  Returns
 * the bytes released.
 * pre: no allocator lock held. */
uint64_t pageheap_release(uint64_t max_bytes, uint64_t idle_before_ns, uint64_t keep_bytes);

/* Returns every free, unreleased page to the OS; the number of bytes. */
uint64_t pageheap_release_all(void);

/* After a free that left the heap drained (pages in use below 1/32 of their
 * peak, or large spans below 1/128 of theirs; the program has freed nearly
 * everything): returns the free pages to the OS but a reserve of in use / 8,
 * backing off when the heap grows back (option release_on_drain; pageheap.c
 * has the rule).  The free paths call it once they hold no lock; otherwise it
 * is one relaxed load.
 * pre: no allocator lock held. */
void pageheap_release_if_drained(void);
/* The two halves of a drain, for callers that find the heap drained by
 * other means (a thread whose live objects fell far below their peak,
 * tcache.c): begin applies the back-off, unless `force`, and counts the
 * drain, and returns whether it is due; finish then releases every free
 * page but in use / 8, passing over short free runs while 2 MiB or more is
 * in use (pageheap.c).  Call both with no allocator lock held. */
bool pageheap_drain_begin(bool force);
void pageheap_drain_finish(void);

/* CLOCK_MONOTONIC in nanoseconds (vDSO; no lock, no allocation). */
uint64_t pageheap_now_ns(void);

/* ---- Memory limit (heap_sys − heap_released, in bytes; 0: none) ---- */
/* The limit starts as option memory_limit_bytes (mode: memory_limit_mode);
 * pageheap_set_limit overrides it and returns the previous one. */
uint64_t pageheap_set_limit(uint64_t bytes);
uint64_t pageheap_limit(void);
bool pageheap_limit_is_hard(void);
/* Between these (nested), the calling thread is writing a profile: a hard
 * limit lets its allocations take the heap past the limit by up to an
 * eighth of it (at least PAGEHEAP_PROFILE_HEADROOM_MIN_BYTES), counted as
 * overruns, so that the profile of a heap at its limit can be written; the
 * writer frees it all, and the next allocation at the limit releases it. */
#define PAGEHEAP_PROFILE_HEADROOM_MIN_BYTES ((uint64_t)8 << 20)
void pageheap_profile_write_enter(void);
void pageheap_profile_write_exit(void);
/* For a thread writing a profile: how many more bytes of pages it can take
 * before a hard limit refuses them (UINT64_MAX: no hard limit). */
uint64_t pageheap_profile_write_room(void);
/* Called (no lock held) when a large span would take the heap past the
 * limit, to give idle cached objects back before the allocation is refused
 * (hard) or counted as an overrun (soft); set once by the scavenger. */
void pageheap_set_reclaim_hook(void (*hook)(void));
/* Called (no lock held) after an allocation found the heap at the memory
 * limit (pageheap_limit_epoch moved); it must not allocate.  Set once at
 * start-up, for profile_at_limit. */
void pageheap_set_limit_hook(void (*hook)(void));
/* Called (no lock held) each time the heap's pages in use pass an eighth
 * above the level of the previous call, from 1 MiB; it must not allocate.
 * Set once at start-up, for peak_profile. */
void pageheap_set_peak_hook(void (*hook)(void));

/* From now on asks the kernel for transparent huge pages on every region
 * the heap maps, and on the first PAGEHEAP_TRACKED_REGIONS it mapped
 * already (option huge_pages: the options may be read again once libc set
 * environ, after the first region was mapped).  Idempotent. */
void pageheap_use_huge_pages(void);

/* Set once the heap's footprint passed the size where a background
 * scavenger pays off (or half the memory limit); read without a lock. */
extern _Atomic int pageheap_scavenger_wanted __attribute__((visibility("hidden")));

/* Moves on each time an allocation finds the heap at the memory limit with
 * no idle pages left to release; the thread-cache slow paths then drain the
 * central transfer caches (see tcache_slow_path_events). */
extern _Atomic uint64_t pageheap_limit_epoch __attribute__((visibility("hidden")));

typedef struct pageheap_stats {
  uint64_t sys_bytes;       /* heap address space mapped */
  uint64_t free_bytes;      /* in free spans, released or not */
  uint64_t released_bytes;  /* in free spans returned to the OS */
  uint64_t large_bytes;     /* in SPAN_LARGE spans */
  uint64_t large_count;     /* SPAN_LARGE spans */
  uint64_t large_requested_bytes; /* bytes asked for in SPAN_LARGE spans */
  uint64_t sample_spares;   /* SPAN_LARGE spans threads keep free for their
                               next sample (span->sample_spare) */
  uint64_t sample_spare_bytes; /* their bytes */
  uint64_t sample_packs;    /* SPAN_LARGE spans holding packed samples
                               (span->sample_pack, samplepack.h) */
  uint64_t sample_pack_bytes; /* their bytes */
  uint64_t sample_pack_requested_bytes; /* their requested_bytes: their live
                               samples at their classes' sizes */
  uint64_t free_spans;
  uint64_t released_total_bytes; /* returned to the OS so far, cumulative */
  uint64_t limit_overruns;  /* soft limit: growths that ended above it */
  uint64_t limit_refusals;  /* hard limit: allocations refused */
  uint64_t limit_releases;  /* bytes released synchronously for the limit */
  uint64_t drain_releases;  /* times a drained heap was released at once */
  uint64_t oldest_idle_ns;  /* idle_since of the oldest unreleased free span
                               (0: none) */
  uint64_t footprint_peak_bytes; /* the most sys_bytes - released_bytes has been */
} pageheap_stats_t;

void pageheap_read_stats(pageheap_stats_t *out);

void pageheap_fork_prepare(void);
void pageheap_fork_parent(void);
void pageheap_fork_child(void);

#endif /* HS_PAGEHEAP_H */
