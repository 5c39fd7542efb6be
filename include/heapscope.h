/* heapscope.h — the public API of heapscope, a drop-in malloc that knows where
 * its memory went.
 *
 * Loading libheapscope.so (LD_PRELOAD, or linking it) replaces the whole glibc
 * malloc family; nothing here is needed for that.  This header adds the hs_
 * names: the same allocator under its own prefix (for programs that link
 * heapscope beside another malloc), plus control and statistics.
 * Everything declared here is safe to call from any thread at any time after
 * the dynamic loader has finished, including before main().
 */
#ifndef HEAPSCOPE_H
#define HEAPSCOPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HEAPSCOPE_VERSION_MAJOR 0
#define HEAPSCOPE_VERSION_MINOR 1
#define HEAPSCOPE_VERSION_PATCH 0

/* "0.1.0": the version of the loaded library (may differ from the header's). */
const char *hs_version(void);

/* ---- The allocator under its own names (same semantics as glibc's) ---- */
void *hs_malloc(size_t size);
void *hs_calloc(size_t count, size_t size);
void *hs_realloc(void *ptr, size_t size);
void *hs_reallocarray(void *ptr, size_t count, size_t size);
void  hs_free(void *ptr);
void  hs_free_sized(void *ptr, size_t size);
void *hs_aligned_alloc(size_t alignment, size_t size);
int   hs_posix_memalign(void **out, size_t alignment, size_t size);
void *hs_memalign(size_t alignment, size_t size);
size_t hs_malloc_usable_size(const void *ptr);

/* ---- Memory return ---- */
/* Returns every idle page to the OS and empties the calling thread's cache. */
void hs_release_free_memory(void);

/* ---- Statistics ---- */
/* One size class in hs_stats_t.classes.  Object counts; for each class
 * slots = live_objects + thread_cache_objects + transfer_objects +
 * span_free_objects, and occupancy = live_objects / slots. */
typedef struct hs_class_stats {
  uint64_t size_bytes;           /* the class's object size                  */
  uint64_t span_bytes;           /* bytes of one span of this class          */
  uint64_t spans;                /* spans carved into this class             */
  uint64_t slots;                /* object slots in those spans              */
  uint64_t live_objects;         /* handed to the program, not freed         */
  uint64_t thread_cache_objects; /* free, in thread caches                   */
  uint64_t transfer_objects;     /* free, in the central transfer cache      */
  uint64_t span_free_objects;    /* free, in their spans (or never used)     */
} hs_class_stats_t;

#define HS_STATS_MAX_CLASSES 96

/* A snapshot of the allocator's counters.  `struct_size` is set by the caller
 * to sizeof(hs_stats_t) so that older callers keep working as fields are
 * appended; hs_stats() fills at most that many bytes.  All sizes in bytes.
 * Invariants in every snapshot (docs/memory.md): heap_alloc <=
 * heap_alloc_rounded <= heap_inuse <= heap_sys; heap_released <= heap_idle;
 * heap_inuse + heap_idle = heap_sys; frees <= mallocs; and when no thread
 * is inside malloc or free, mallocs - frees = live_objects. */
typedef struct hs_stats {
  size_t struct_size;       /* in: sizeof(hs_stats_t)                         */
  uint64_t mallocs;         /* objects handed out, cumulative                 */
  uint64_t frees;           /* objects returned, cumulative                   */
  uint64_t total_alloc;     /* requested bytes handed out, cumulative         */
  uint64_t heap_alloc_rounded; /* live bytes, counted in size-class sizes     */
                            /* (large objects: their whole pages)             */
  uint64_t heap_inuse;      /* bytes in spans that hold objects               */
  uint64_t heap_idle;       /* bytes in free spans (incl. released)           */
  uint64_t heap_released;   /* bytes in free spans returned to the OS         */
  uint64_t heap_sys;        /* bytes of heap address space mapped             */
  uint64_t metadata_sys;    /* bytes mapped for the allocator's own metadata  */
  uint64_t sys;             /* everything mapped: heap_sys + metadata_sys     */
  uint64_t thread_cache_bytes; /* free objects held in thread caches          */
  uint64_t central_cache_bytes; /* free objects held in central lists         */
  uint64_t rss;             /* resident set size of the process (/proc)       */
  /* -- appended in 0.2 -- */
  uint64_t heap_alloc;      /* live bytes: small objects at their size-class  */
                            /* size, large objects at the size asked for      */
  uint64_t live_objects;    /* objects out, counted from the heap structures  */
  uint64_t released_total;  /* bytes returned to the OS so far, cumulative    */
  uint64_t scavenger_cycles;   /* scavenger steps that found work             */
  uint64_t scavenger_released; /* bytes those steps returned, cumulative      */
  uint64_t scavenger_drained_objects; /* objects moved out of idle transfer   */
                            /* caches back to their spans, cumulative         */
  uint64_t scavenger_running; /* 1 while the background thread runs           */
  uint64_t cache_trims;     /* thread caches emptied on request, cumulative   */
  uint64_t memory_limit;    /* the limit on heap_sys - heap_released; 0: none */
  uint64_t memory_limit_hard; /* 1: hard (ENOMEM past it), 0: soft            */
  uint64_t limit_overruns;  /* allocations that grew the heap past it (soft;
                             * hard: a profile write's room, docs/memory.md) */
  uint64_t limit_refusals;  /* hard: allocations refused with ENOMEM          */
  uint64_t limit_released;  /* bytes released synchronously to stay under it  */
  uint64_t class_count;     /* entries used in classes[]                      */
  hs_class_stats_t classes[HS_STATS_MAX_CLASSES]; /* [0]: the smallest class  */
  /* -- appended after classes[], so that an older caller's struct_size
   *    still ends where the fields it knows end -- */
  uint64_t drain_releases;  /* times free found the heap drained (pages in    */
                            /* use below 1/32 of their peak) or its thread or */
                            /* the process (live objects below 1/32 of their  */
                            /* peak) and released the free pages at once,     */
                            /* cumulative                                     */
} hs_stats_t;

/* Fills *out (up to out->struct_size bytes).  Returns 0, or -1 if out is NULL
 * or out->struct_size is too small to hold struct_size itself. */
int hs_stats(hs_stats_t *out);

/* ---- Exact per-thread counters (independent of the sampling rate) ---- */
typedef struct hs_thread_counters {
  uint64_t mallocs;         /* allocations by this thread, cumulative       */
  uint64_t frees;           /* frees by this thread, cumulative             */
  uint64_t requested_bytes; /* bytes this thread asked for, cumulative      */
} hs_thread_counters_t;

/* The calling thread's counters.  Cheap: no lock, no system call. */
hs_thread_counters_t hs_thread_counters(void);

/* Like Go's testing.AllocsPerRun: calls fn(arg) once to warm up, then `runs`
 * times, and returns the exact mean number of allocations per call made by
 * the calling thread (other threads are not counted; nothing is sampled).
 * Returns -1 if runs <= 0 or fn is NULL. */
double hs_allocs_per_run(int runs, void (*fn)(void *arg), void *arg);

/* ---- Memory return and limits ---- */
/* Sets the soft memory limit in bytes (0: none).  Returns the old one. */
uint64_t hs_set_memory_limit(uint64_t bytes);
/* One unit of background work (scavenging), for programs that run no extra
 * threads; returns the bytes returned to the OS. */
uint64_t hs_background_step(void);
/* Statistics as JSON into buf (NUL-terminated, truncated to size); returns
 * the length the whole text needs, like snprintf. */
size_t hs_stats_json(char *buf, size_t size);

/* ---- Sampling allocation profiler ---- */
/* Mean bytes between samples: 0 turns sampling off, 1 samples every
 * allocation.  Returns the previous rate.  Every thread uses the new rate
 * within 1 MiB of its allocations (the caller at once).  Samples taken
 * earlier keep the weights of the rate they were taken at. */
int64_t hs_prof_set_rate(int64_t bytes);

typedef enum hs_prof_kind {
  HS_PROF_HEAP = 0,   /* "heap": default sample type unset (inuse_space in pprof) */
  HS_PROF_ALLOCS = 1, /* "allocs": default sample type alloc_space             */
} hs_prof_kind_t;

/* Writes a gzipped pprof profile to `path` (via a temporary file and rename,
 * so a reader never sees half a profile).  Returns 0, or -1 with errno
 * (EDEADLK in a child forked while another thread was inside
 * dl_iterate_phdr: the loader's lock, which symbolizing needs, stays held
 * there for good). */
int hs_prof_write(const char *path, hs_prof_kind_t kind);
/* The same to an open file descriptor. */
int hs_prof_write_fd(int fd, hs_prof_kind_t kind);

/* Serves profiles and statistics over HTTP on a loopback address, in the
 * shape of Go's net/http/pprof: GET /debug/pprof/heap and
 * /debug/pprof/allocs (gzipped pprof; ?seconds=N: the change over the next
 * N seconds), /metrics (Prometheus text format), /debug/pprof/ (an index).
 * address: "PORT", "127.0.0.1:PORT", "localhost:PORT" or "[::1]:PORT";
 * port 0 picks a free one.  Returns the port bound, or -1 with errno
 * (EINVAL: not a loopback address; EBUSY: already serving; else bind's).
 * The `http` option (HEAPSCOPE=http=ADDRESS) calls this at start-up. */
int hs_serve_http(const char *address);

/* ---- Object pools ---- */
/* Same-size objects kept for reuse.  Every object hs_pool_get returns is in
 * the state `reset` gives it (all zero if reset is NULL), new or reused;
 * hs_pool_put keeps it while the pool holds less than max_retained_bytes
 * and frees it otherwise.  Putting an object twice, or one smaller than
 * object_size, aborts naming the pointer.  Objects are ordinary heap
 * objects (free() takes them too; at least 16 bytes).  Thread-safe; each
 * thread keeps a few objects of the pools it uses (within the cap) and
 * gets and puts those without a lock.  hs_pool_destroy frees what the pool
 * and the calling thread keep; objects another thread keeps for it are
 * freed by that thread, at its exit at the latest.
 * hs_pool_create returns NULL with errno EINVAL for object_size 0. */
typedef struct hs_pool hs_pool_t;
typedef struct hs_pool_stats {
  uint64_t gets, hits;     /* hs_pool_get calls; those served by reuse */
  uint64_t puts, drops;    /* hs_pool_put calls; those freed at the cap */
  uint64_t retained_objects, retained_bytes; /* kept now */
} hs_pool_stats_t;
hs_pool_t *hs_pool_create(size_t object_size, size_t max_retained_bytes,
                          void (*reset)(void *object));
void *hs_pool_get(hs_pool_t *pool);
void hs_pool_put(hs_pool_t *pool, void *object);
void hs_pool_stats(hs_pool_t *pool, hs_pool_stats_t *out);
void hs_pool_destroy(hs_pool_t *pool); /* frees the retained objects */

/* ---- Arenas ---- */
/* Objects allocated by bumping through chunks of chunk_bytes (0: 64 KiB)
 * and freed all at once by hs_arena_reset, which ends every object the
 * arena gave out and keeps at most max_retained_bytes of chunks for the
 * next round.  16-byte aligned; a request over a quarter of a chunk gets a
 * chunk of its own.  One thread at a time per arena.  hs_arena_alloc
 * returns NULL with errno ENOMEM when memory runs out. */
typedef struct hs_arena hs_arena_t;
typedef struct hs_arena_stats {
  uint64_t allocated_bytes; /* given out since the last reset (rounded)   */
  uint64_t held_bytes;      /* every chunk the arena holds, spare included */
  uint64_t retained_bytes;  /* of those, kept empty by the last reset     */
  uint64_t resets;
} hs_arena_stats_t;
hs_arena_t *hs_arena_create(size_t chunk_bytes, size_t max_retained_bytes);
void *hs_arena_alloc(hs_arena_t *arena, size_t size);
void hs_arena_reset(hs_arena_t *arena);
void hs_arena_stats(const hs_arena_t *arena, hs_arena_stats_t *out);
void hs_arena_destroy(hs_arena_t *arena);

/* Per-thread labels attached to samples, like Go's pprof.Do: push a
 * key/value pair (both copied), pop the most recent one.  Returns 0, or -1
 * on a NULL or over-long argument or too deep a stack. */
int hs_label_push(const char *key, const char *value);
void hs_label_pop(void);

/* HS_LABEL_SCOPE(key, value): pushes a label for the rest of the enclosing
 * block and pops it when the block is left by any path (GCC and Clang's
 * cleanup attribute).  Threads do not inherit labels: push them again in a
 * thread that works on behalf of a labelled request. */
static inline void hs_label_scope_end_(int *pushed) {
  if (*pushed) hs_label_pop();
}
#define HS_LABEL_SCOPE_NAME_(line) hs_label_scope_##line##_
#define HS_LABEL_SCOPE_AT_(key, value, line)                                     \
  int HS_LABEL_SCOPE_NAME_(line) __attribute__((cleanup(hs_label_scope_end_))) = \
      (hs_label_push((key), (value)) == 0)
#define HS_LABEL_SCOPE_LINE_(key, value, line) HS_LABEL_SCOPE_AT_(key, value, line)
#define HS_LABEL_SCOPE(key, value) HS_LABEL_SCOPE_LINE_(key, value, __LINE__)

#ifdef __cplusplus
}
#endif
#endif /* HEAPSCOPE_H */
