/* scavenger.h — giving memory back: the scavenger's steps (on a background
 * thread once the process has two threads, on the program's thread
 * before; hs_background_step() for hosts that run them), release-now,
 * and the memory limit's eager mode.  Policy lives here; the mechanisms are
 * pageheap_release (oldest idle first), central_drain_idle and
 * tcache_request_trim.  Its own lock, step_lock, is outermost (held only by
 * a scavenger step, never by an allocation).  See docs/memory.md. */
#ifndef HS_SCAVENGER_H
#define HS_SCAVENGER_H

#include <stdbool.h>
#include <stdint.h>

/* From a slow path, once the heap is big enough to want a scavenger
 * (pageheap_scavenger_wanted) and the library constructor has run: starts
 * the background thread if the option allows it and the process has a
 * second thread (or scavenger=2), else runs a step here when one is due.
 * Returns at once while the thread runs or no step is due.
 * pre: holds no allocator lock. */
void scavenger_slow_path(void);

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
