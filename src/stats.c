/* stats.c — statistics: hs_stats(), and glibc's mallinfo, mallinfo2,
 * malloc_stats, malloc_trim and mallopt answered with heapscope's numbers.
 * Reads the counters of tcache, central and pageheap under their own locks
 * (one at a time; it holds none itself).  Prints without stdio or malloc.
 * May call: tcache, central, pageheap, metadata, os, base. */
#include <malloc.h>
#include <string.h>

#include "heapscope.h"
#include "base.h"
#include "central.h"
#include "metadata.h"
#include "os.h"
#include "pageheap.h"
#include "tcache.h"

HS_EXPORT int hs_stats(hs_stats_t *out) {
  if (!out || out->struct_size < sizeof(size_t)) return -1;
  hs_stats_t s;
  memset(&s, 0, sizeof s);
  s.struct_size = sizeof s;

  static tcache_totals_t threads; /* large: kept off the stack */
  static hs_lock_t threads_lock;
  hs_lock(&threads_lock);
  tcache_read_totals(&threads);
  s.mallocs = threads.mallocs;
  s.frees = threads.frees;
  s.total_alloc = threads.requested_bytes;
  uint64_t small_live = 0, central_free = 0, cached = 0;
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) {
    central_class_stats_t cs;
    central_read_stats(c, &cs);
    uint64_t bytes = size_class_bytes[c];
    uint64_t in_cache = threads.cached_objects[c];
    uint64_t out_of_central = cs.objects_out - cs.transfer_objects;
    uint64_t live = out_of_central > in_cache ? out_of_central - in_cache : 0;
    small_live += live * bytes;
    cached += in_cache * bytes;
    central_free += (cs.span_objects - cs.objects_out + cs.transfer_objects) * bytes;
  }
  hs_unlock(&threads_lock);

  pageheap_stats_t ph;
  pageheap_read_stats(&ph);
  s.heap_sys = ph.sys_bytes;
  s.heap_idle = ph.free_bytes;
  s.heap_released = ph.released_bytes;
  s.heap_inuse = ph.sys_bytes - ph.free_bytes;
  s.heap_alloc_rounded = small_live + ph.large_bytes;
  s.thread_cache_bytes = cached;
  s.central_cache_bytes = central_free;
  s.metadata_sys = metadata_sys_bytes();
  s.sys = s.heap_sys + s.metadata_sys;
  s.rss = os_rss_bytes();

  size_t n = out->struct_size < sizeof s ? out->struct_size : sizeof s;
  memcpy((char *)out + sizeof(size_t), (char *)&s + sizeof(size_t), n - sizeof(size_t));
  return 0;
}

HS_EXPORT struct mallinfo2 mallinfo2(void) {
  hs_stats_t s = {.struct_size = sizeof s};
  hs_stats(&s);
  struct mallinfo2 info;
  memset(&info, 0, sizeof info);
  info.arena = s.heap_sys;                        /* heap address space */
  info.uordblks = s.heap_alloc_rounded;           /* live bytes */
  info.fordblks = s.heap_sys - s.heap_alloc_rounded; /* everything else */
  info.keepcost = s.heap_released;
  return info;
}

HS_EXPORT struct mallinfo mallinfo(void) {
  struct mallinfo2 wide = mallinfo2();
  struct mallinfo info;
  memset(&info, 0, sizeof info);
  info.arena = (int)wide.arena;
  info.uordblks = (int)wide.uordblks;
  info.fordblks = (int)wide.fordblks;
  info.keepcost = (int)wide.keepcost;
  return info;
}

static void stat_line(hs_buf_t *b, const char *name, uint64_t value, int as_bytes) {
  hs_buf_str(b, name);
  for (size_t pad = strlen(name); pad < 22; pad++) hs_buf_str(b, " ");
  hs_buf_u64(b, value);
  if (as_bytes && value >= 1024) {
    hs_buf_str(b, " (");
    hs_buf_bytes(b, value);
    hs_buf_str(b, ")");
  }
  hs_buf_str(b, "\n");
}

HS_EXPORT void malloc_stats(void) {
  hs_stats_t s = {.struct_size = sizeof s};
  hs_stats(&s);
  char mem[2048];
  hs_buf_t b = {mem, 0, sizeof mem};
  hs_buf_str(&b, "------ heapscope ");
  hs_buf_str(&b, hs_version());
  hs_buf_str(&b, " ------\n");
  stat_line(&b, "mallocs", s.mallocs, 0);
  stat_line(&b, "frees", s.frees, 0);
  stat_line(&b, "live objects", s.mallocs - s.frees, 0);
  stat_line(&b, "total_alloc", s.total_alloc, 1);
  stat_line(&b, "heap_alloc_rounded", s.heap_alloc_rounded, 1);
  stat_line(&b, "heap_inuse", s.heap_inuse, 1);
  stat_line(&b, "heap_idle", s.heap_idle, 1);
  stat_line(&b, "heap_released", s.heap_released, 1);
  stat_line(&b, "heap_sys", s.heap_sys, 1);
  stat_line(&b, "thread_cache", s.thread_cache_bytes, 1);
  stat_line(&b, "central_cache", s.central_cache_bytes, 1);
  stat_line(&b, "metadata_sys", s.metadata_sys, 1);
  stat_line(&b, "sys", s.sys, 1);
  stat_line(&b, "rss", s.rss, 1);
  hs_write_all(2, b.data, b.len);
}

HS_EXPORT int malloc_trim(size_t pad) {
  tcache_t *tc = &tls_tcache;
  if (tc->state == TCACHE_ACTIVE) tcache_flush_all(tc);
  central_drain_all();
  return pageheap_release_all() > 0;
}

/* glibc's tunables (M_MXFAST .. M_ARENA_MAX) do not apply to heapscope: they
 * are accepted and ignored (1, "success"); unknown parameters return 0. */
HS_EXPORT int mallopt(int param, int value) { return param >= -8 && param <= 1 && param != 0; }
