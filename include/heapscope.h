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
/* A snapshot of the allocator's counters.  `struct_size` is set by the caller
 * to sizeof(hs_stats_t) so that older callers keep working as fields are
 * appended; hs_stats() fills at most that many bytes.  All sizes in bytes. */
typedef struct hs_stats {
  size_t struct_size;       /* in: sizeof(hs_stats_t)                         */
  uint64_t mallocs;         /* objects handed out, cumulative                 */
  uint64_t frees;           /* objects returned, cumulative                   */
  uint64_t total_alloc;     /* requested bytes handed out, cumulative         */
  uint64_t heap_alloc_rounded; /* live bytes, counted in size-class sizes     */
  uint64_t heap_inuse;      /* bytes in spans that hold objects               */
  uint64_t heap_idle;       /* bytes in free spans (incl. released)           */
  uint64_t heap_released;   /* bytes in free spans returned to the OS         */
  uint64_t heap_sys;        /* bytes of heap address space mapped             */
  uint64_t metadata_sys;    /* bytes mapped for the allocator's own metadata  */
  uint64_t sys;             /* everything mapped: heap_sys + metadata_sys     */
  uint64_t thread_cache_bytes; /* free objects held in thread caches          */
  uint64_t central_cache_bytes; /* free objects held in central lists         */
  uint64_t rss;             /* resident set size of the process (/proc)       */
} hs_stats_t;

/* Fills *out (up to out->struct_size bytes).  Returns 0, or -1 if out is NULL
 * or out->struct_size is too small to hold struct_size itself. */
int hs_stats(hs_stats_t *out);

#ifdef __cplusplus
}
#endif
#endif /* HEAPSCOPE_H */
