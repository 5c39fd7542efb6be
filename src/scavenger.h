/* scavenger.h — giving memory back: the background scavenger thread (or
 * hs_background_step() for hosts that run no extra threads), release-now,
 * and the memory limit's eager mode.  Policy lives here; the mechanisms are
 * pageheap_release (oldest idle first), central_drain_idle and
 * tcache_request_trim.  Its own lock, step_lock, is outermost (held only by
 * a scavenger step, never by an allocation).  See docs/memory.md. */
#ifndef HS_SCAVENGER_H
#define HS_SCAVENGER_H

#include <stdbool.h>
#include <stdint.h>

/* Starts the background thread if it is wanted, allowed (option
 * scavenger=1, the library constructor has run) and not running yet.
 * pre: called from a slow path holding no allocator lock. */
void scavenger_start_if_wanted(void);

/* One step of the policy on the calling thread (hs_background_step): drain
 * idle transfer caches, release idle pages.  Returns bytes released. */
uint64_t scavenger_step(void);

/* Release-now (hs_release_free_memory, malloc_trim): empties the calling
 * thread's cache, asks every other thread to empty its own, drains every
 * transfer cache and releases every idle page.  Returns bytes released. */
uint64_t scavenger_release_all(void);

typedef struct scavenger_stats {
  uint64_t cycles;          /* steps that found work (thread or host) */
  uint64_t released_bytes;  /* bytes those steps returned to the OS */
  uint64_t drained_objects; /* objects moved from idle transfer caches */
  uint64_t trim_requests;   /* times thread caches were asked to trim */
  uint64_t thread_running;  /* 1 if the background thread runs */
} scavenger_stats_t;

void scavenger_read_stats(scavenger_stats_t *out);

#endif /* HS_SCAVENGER_H */
