/* sampler.h — when to take a sample, and with what weight.
 *
 * Each thread counts down the requested bytes to its next sample
 * (tcache_t.bytes_until_sample, decremented on the malloc fast path).  The
 * gaps are exponentially distributed with mean R = the sample rate, so the
 * samples are a Poisson process over allocated bytes and an allocation of
 * s bytes is sampled with probability p(s) = 1 − exp(−s/R) whatever came
 * before it.  A sample of s bytes therefore stands for 1/p(s) objects and
 * s/p(s) bytes: weighting each sample by 1/p(s) makes every total an
 * unbiased estimate.  Allocations of R bytes or more bypass the countdown
 * and are always recorded with weight 1, so large objects are exact (and at
 * R = 1 every allocation is).  When R ≤ SIZE_CLASS_MAX_BYTES, the counter is
 * loaded at most R − 1 bytes at a time (the rest kept as `debt`), so any
 * allocation ≥ R misses the fast path and reaches the exact rule; else it
 * is loaded at most 1 MiB at a time.  Each load compares the thread's rate
 * with the global one, so a rate set by hs_prof_set_rate reaches every
 * thread within 1 MiB of its allocations (what is left of an exponential
 * gap may be drawn afresh at any point).
 *
 * Per-thread state lives in tcache_t (counter, rate, debt) and in this
 * module's TLS (random state, profiler nesting, labels).  May call: tcache,
 * base.  See docs/profiling.md. */
#ifndef HS_SAMPLER_H
#define HS_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>

#include "tcache.h"

/* Starts a thread's countdown (called when its cache attaches). */
void sampler_start_thread(tcache_t *tc);
/* In a fork child: new random state and a fresh countdown. */
void sampler_fork_child(void);

/* Called when bytes_until_sample went negative after an allocation of
 * `size` bytes.  Re-arms the counter; returns the sample's weight, or 0
 * when the allocation is not to be sampled. */
double sampler_counter_expired(tcache_t *tc, size_t size);

/* True when the calling thread may take samples (not inside profiler work
 * and sampling is on). */
bool sampler_allowed(void);

/* The global rate (0: off). */
int64_t sampler_rate(void);
void sampler_set_rate_at_start(int64_t rate);

/* The calling thread's current label set (opaque; NULL: none). */
const void *sampler_current_labels(void);

#endif /* HS_SAMPLER_H */
