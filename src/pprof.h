/* pprof.h — the pprof writer: the profile store's buckets as a gzipped
 * profile.proto (github.com/google/pprof/proto/profile.proto), symbolized
 * in-process.  Runs on a normal thread inside prof_enter (it allocates);
 * never in a signal handler.  See docs/profiles.md. */
#ifndef HS_PPROF_H
#define HS_PPROF_H

#include <stdint.h>

#include "heapscope.h"
#include "profile.h"

/* The store's iterator, or a test's fake one. */
typedef void (*pprof_for_each_fn)(prof_visit_fn visit, void *arg);

/* Writes one profile of every bucket for_each visits to fd.  kind chooses
 * the default sample type; rate_bytes becomes the period; start_time_ns
 * (CLOCK_REALTIME, 0: unknown) gives duration_nanos.  Brackets itself with
 * prof_enter/prof_exit.  Returns 0, or -1 with errno. */
int pprof_write_buckets(int fd, hs_prof_kind_t kind, int64_t rate_bytes,
                        pprof_for_each_fn for_each, int64_t start_time_ns);

/* Process hooks, called by malloc.c: at start-up (after the options are
 * read and the fork handlers registered), at exit (writes the `profile`
 * option's file), and in a fork child after the allocator is usable again
 * (restarts the signal writer thread). */
void profwrite_start(void);
void profwrite_exit(void);
void profwrite_fork_child(void);
/* The heap reached the memory limit (pageheap's limit hook, profile_at_limit):
 * asks the writer thread for a profile, at most once a minute; no lock, no
 * allocation. */
void profwrite_limit_reached(void);
/* The heap's pages in use passed their high-water mark (pageheap's peak
 * hook, peak_profile=PATH): asks the writer thread to replace PATH; no lock,
 * no allocation. */
void profwrite_peak_reached(void);

/* The change since a moment (the HTTP endpoint's ?seconds=N, like Go's
 * delta profiles): a snapshot copies every bucket's totals; a profile
 * written against it holds each bucket's totals less the snapshot's
 * (inuse values may be negative; buckets that did not change are left
 * out), and its duration starts at the snapshot.  NULL / -1 with errno. */
typedef struct prof_snapshot prof_snapshot_t;
prof_snapshot_t *profwrite_snapshot(void);
void profwrite_snapshot_free(prof_snapshot_t *snapshot);
/* Writes to fd the profile since base (NULL: since the process started). */
int profwrite_fd_since(int fd, hs_prof_kind_t kind, const prof_snapshot_t *base);

#endif /* HS_PPROF_H */
