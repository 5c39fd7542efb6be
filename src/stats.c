/* stats.c — statistics: hs_stats(), hs_stats_json(), and glibc's mallinfo,
 * mallinfo2, malloc_stats, malloc_info, malloc_trim and mallopt answered
 * with heapscope's numbers.  A snapshot holds registry_lock, then every
 * central class lock (ascending), then briefly pageheap_lock — the
 * documented order — so the byte counts agree with each other; the
 * per-thread counters are read without locks (frees before mallocs).
 * Prints without stdio or malloc, except that malloc_info writes to the
 * caller's stream (whose buffering may allocate, after the snapshot).
 * May call: tcache, central, pageheap, samplepack, scavenger, metadata, os,
 * base.
 * Field definitions and invariants: include/heapscope.h, docs/memory.md. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "heapscope.h"
#include "base.h"
#include "central.h"
#include "metadata.h"
#include "os.h"
#include "pageheap.h"
#include "samplepack.h"
#include "scavenger.h"
#include "tcache.h"

_Static_assert(SIZE_CLASS_COUNT - 1 <= HS_STATS_MAX_CLASSES, "hs_stats_t.classes too small");

/* Fills *s; with `heap` non-NULL also the page heap's counters it read. */
static void snapshot(hs_stats_t *s, pageheap_stats_t *heap) {
  memset(s, 0, sizeof *s);
  s->struct_size = sizeof *s;
  tcache_totals_t threads;
  central_class_stats_t cs[SIZE_CLASS_COUNT];
  pageheap_stats_t ph;
  tcache_registry_lock();
  central_lock_all();
  /* With every class lock held no object moves between a thread cache and
   * a central list, so cached counts and central counts agree (objects
   * still move between caches and the program: those are live either way). */
  tcache_read_totals_locked(&threads);
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) central_read_stats_locked(c, &cs[c]);
  pageheap_read_stats(&ph);
  central_unlock_all();
  tcache_registry_unlock();

  s->mallocs = threads.mallocs;
  s->frees = threads.frees;
  s->total_alloc = threads.requested_bytes;
  uint64_t small_live = 0, central_free = 0, cached = 0, live_objects = 0;
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) {
    uint64_t bytes = size_class_bytes[c];
    /* Racy per-thread reads may count an object passed between threads
     * twice; clamp so a class never claims more than its slots. */
    uint64_t out_of_central = cs[c].objects_out - cs[c].transfer_objects;
    uint64_t in_cache =
        HS_MIN(threads.cached_objects[c] + cs[c].owned_free_objects, out_of_central);
    uint64_t live = out_of_central - in_cache;
    hs_class_stats_t *k = &s->classes[c - 1];
    k->size_bytes = bytes;
    k->span_bytes = (uint64_t)size_class_pages[c] << HS_PAGE_SHIFT;
    k->spans = cs[c].span_count;
    k->slots = cs[c].span_objects;
    k->live_objects = live;
    k->thread_cache_objects = in_cache;
    k->transfer_objects = cs[c].transfer_objects;
    k->span_free_objects = cs[c].span_objects - cs[c].objects_out;
    small_live += live * bytes;
    live_objects += live;
    cached += in_cache * bytes;
    central_free += (cs[c].span_objects - cs[c].objects_out + cs[c].transfer_objects) * bytes;
  }
  s->class_count = SIZE_CLASS_COUNT - 1;
  s->heap_sys = ph.sys_bytes;
  s->heap_idle = ph.free_bytes;
  s->heap_released = ph.released_bytes;
  s->heap_inuse = ph.sys_bytes - ph.free_bytes;
  /* Spare sample spans are large spans to the page heap but hold nothing;
   * a page of packed samples holds its live samples (samplepack.h). */
  uint64_t spares = ph.sample_spares;
  /* The packs' pages and requests are read in the page heap's one walk,
   * so heap_alloc (which counts the same requests) never passes this. */
  s->heap_alloc_rounded = small_live + ph.large_bytes - ph.sample_spare_bytes -
                          ph.sample_pack_bytes + ph.sample_pack_requested_bytes;
  s->heap_alloc = small_live + ph.large_requested_bytes;
  s->live_objects = live_objects + ph.large_count - spares - ph.sample_packs +
                    samplepack_live_objects();
  s->thread_cache_bytes = cached;
  s->central_cache_bytes = central_free;
  s->metadata_sys = metadata_sys_bytes();
  s->sys = s->heap_sys + s->metadata_sys;
  s->rss = os_rss_bytes();
  s->released_total = ph.released_total_bytes;
  scavenger_stats_t sc;
  scavenger_read_stats(&sc);
  s->scavenger_cycles = sc.cycles;
  s->scavenger_released = sc.released_bytes;
  s->scavenger_drained_objects = sc.drained_objects;
  s->scavenger_running = sc.thread_running;
  s->cache_trims = tcache_trims();
  s->memory_limit = pageheap_limit();
  s->memory_limit_hard = pageheap_limit_is_hard();
  s->limit_overruns = ph.limit_overruns;
  s->limit_refusals = ph.limit_refusals;
  s->limit_released = ph.limit_releases;
  s->drain_releases = ph.drain_releases;
  if (heap) *heap = ph;
}

HS_EXPORT int hs_stats(hs_stats_t *out) {
  if (!out || out->struct_size < sizeof(size_t)) return -1;
  hs_stats_t s;
  snapshot(&s, NULL);
  size_t n = out->struct_size < sizeof s ? out->struct_size : sizeof s;
  memcpy((char *)out + sizeof(size_t), (char *)&s + sizeof(size_t), n - sizeof(size_t));
  return 0;
}

HS_EXPORT struct mallinfo2 mallinfo2(void) {
  hs_stats_t s;
  snapshot(&s, NULL);
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

/* ---- Text and JSON output, without malloc ---- */

/* Output into a caller's buffer (counting what does not fit, like
 * snprintf) or, with fd >= 0 or a stream, through a small buffer onto it. */
typedef struct sink {
  char *buf;
  size_t size, len;
  int fd;
  FILE *stream;
  bool failed; /* a write to the stream fell short */
} sink_t;

static bool sink_streams(const sink_t *k) { return k->fd >= 0 || k->stream != NULL; }

static void sink_flush(sink_t *k) {
  if (!sink_streams(k)) return;
  if (k->len && k->stream) k->failed |= fwrite(k->buf, 1, k->len, k->stream) != k->len;
  else if (k->len) hs_write_all(k->fd, k->buf, k->len);
  k->len = 0;
}

static void put(sink_t *k, const char *s) {
  for (; *s; s++) {
    if (sink_streams(k)) {
      if (k->len == k->size) sink_flush(k);
      k->buf[k->len++] = *s;
    } else {
      if (k->len + 1 < k->size) k->buf[k->len] = *s;
      k->len++;
    }
  }
}

static void put_u64(sink_t *k, uint64_t v) {
  char tmp[24];
  hs_buf_t b = {tmp, 0, sizeof tmp - 1};
  hs_buf_u64(&b, v);
  tmp[b.len] = 0;
  put(k, tmp);
}

static void put_pad(sink_t *k, const char *s, size_t width) {
  put(k, s);
  for (size_t n = strlen(s); n < width; n++) put(k, " ");
}

static void put_u64_pad(sink_t *k, uint64_t v, size_t width) {
  char tmp[24];
  hs_buf_t b = {tmp, 0, sizeof tmp - 1};
  hs_buf_u64(&b, v);
  tmp[b.len] = 0;
  for (size_t n = b.len; n < width; n++) put(k, " ");
  put(k, tmp);
}

/* "12.3%" of part/whole, one decimal. */
static void put_percent(sink_t *k, uint64_t part, uint64_t whole) {
  uint64_t tenths = whole ? (part * 1000 + whole / 2) / whole : 0;
  char tmp[32];
  hs_buf_t b = {tmp, 0, sizeof tmp - 1};
  hs_buf_u64(&b, tenths / 10);
  hs_buf_str(&b, ".");
  hs_buf_u64(&b, tenths % 10);
  hs_buf_str(&b, "%");
  tmp[b.len] = 0;
  for (size_t n = b.len; n < 7; n++) put(k, " ");
  put(k, tmp);
}

static void stat_line(sink_t *k, const char *name, uint64_t value, int as_bytes) {
  put_pad(k, name, 26);
  put_u64(k, value);
  if (as_bytes && value >= 1024) {
    char tmp[32];
    hs_buf_t b = {tmp, 0, sizeof tmp - 1};
    hs_buf_str(&b, " (");
    hs_buf_bytes(&b, value);
    hs_buf_str(&b, ")");
    tmp[b.len] = 0;
    put(k, tmp);
  }
  put(k, "\n");
}

HS_EXPORT void malloc_stats(void) {
  hs_stats_t s;
  snapshot(&s, NULL);
  char mem[2048];
  sink_t k = {mem, sizeof mem, 0, 2, NULL, false};
  put(&k, "------ heapscope ");
  put(&k, hs_version());
  put(&k, " ------\n");
  stat_line(&k, "mallocs", s.mallocs, 0);
  stat_line(&k, "frees", s.frees, 0);
  stat_line(&k, "live_objects", s.live_objects, 0);
  stat_line(&k, "total_alloc", s.total_alloc, 1);
  stat_line(&k, "heap_alloc", s.heap_alloc, 1);
  stat_line(&k, "heap_alloc_rounded", s.heap_alloc_rounded, 1);
  stat_line(&k, "heap_inuse", s.heap_inuse, 1);
  stat_line(&k, "fragmentation", s.heap_inuse - s.heap_alloc, 1);
  stat_line(&k, "heap_idle", s.heap_idle, 1);
  stat_line(&k, "heap_released", s.heap_released, 1);
  stat_line(&k, "heap_sys", s.heap_sys, 1);
  stat_line(&k, "thread_cache", s.thread_cache_bytes, 1);
  stat_line(&k, "central_cache", s.central_cache_bytes, 1);
  stat_line(&k, "metadata_sys", s.metadata_sys, 1);
  stat_line(&k, "sys", s.sys, 1);
  stat_line(&k, "rss", s.rss, 1);
  stat_line(&k, "released_total", s.released_total, 1);
  stat_line(&k, "drain_releases", s.drain_releases, 0);
  stat_line(&k, "scavenger_cycles", s.scavenger_cycles, 0);
  stat_line(&k, "scavenger_released", s.scavenger_released, 1);
  stat_line(&k, "scavenger_drained", s.scavenger_drained_objects, 0);
  stat_line(&k, "scavenger_running", s.scavenger_running, 0);
  stat_line(&k, "cache_trims", s.cache_trims, 0);
  stat_line(&k, "memory_limit", s.memory_limit, 1);
  stat_line(&k, "memory_limit_hard", s.memory_limit_hard, 0);
  stat_line(&k, "limit_overruns", s.limit_overruns, 0);
  stat_line(&k, "limit_refusals", s.limit_refusals, 0);
  stat_line(&k, "limit_released", s.limit_released, 1);
  put(&k, "size classes in use (objects; occupancy = live / slots; "
          "fragmentation = free slots x size):\n");
  put(&k, "   class  spans      live    cached  transfer  in_spans  occupancy  fragmentation\n");
  for (uint64_t i = 0; i < s.class_count; i++) {
    const hs_class_stats_t *c = &s.classes[i];
    if (!c->spans) continue;
    put_u64_pad(&k, c->size_bytes, 8);
    put_u64_pad(&k, c->spans, 7);
    put_u64_pad(&k, c->live_objects, 10);
    put_u64_pad(&k, c->thread_cache_objects, 10);
    put_u64_pad(&k, c->transfer_objects, 10);
    put_u64_pad(&k, c->span_free_objects, 10);
    put(&k, "    ");
    put_percent(&k, c->live_objects, c->slots);
    put_u64_pad(&k, (c->slots - c->live_objects) * c->size_bytes, 15);
    put(&k, "\n");
  }
  sink_flush(&k);
}

static void json_field(sink_t *k, const char *name, uint64_t value, bool *first) {
  put(k, *first ? "\"" : ",\"");
  *first = false;
  put(k, name);
  put(k, "\":");
  put_u64(k, value);
}

HS_EXPORT size_t hs_stats_json(char *buf, size_t size) {
  hs_stats_t s;
  snapshot(&s, NULL);
  char dummy[1];
  sink_t k = {buf ? buf : dummy, buf ? size : 0, 0, -1, NULL, false};
  bool first = true;
  put(&k, "{\"version\":\"");
  put(&k, hs_version());
  put(&k, "\",");
  first = true;
#define F(name) json_field(&k, #name, s.name, &first)
  F(mallocs); F(frees); F(live_objects); F(total_alloc); F(heap_alloc); F(heap_alloc_rounded);
  F(heap_inuse); F(heap_idle); F(heap_released); F(heap_sys);
  F(thread_cache_bytes); F(central_cache_bytes); F(metadata_sys); F(sys); F(rss);
  F(released_total); F(scavenger_cycles); F(scavenger_released); F(scavenger_drained_objects);
  F(scavenger_running); F(cache_trims); F(memory_limit); F(memory_limit_hard);
  F(limit_overruns); F(limit_refusals); F(limit_released); F(drain_releases);
#undef F
  json_field(&k, "fragmentation_bytes", s.heap_inuse - s.heap_alloc, &first);
  put(&k, ",\"classes\":[");
  bool first_class = true;
  for (uint64_t i = 0; i < s.class_count; i++) {
    const hs_class_stats_t *c = &s.classes[i];
    put(&k, first_class ? "{" : ",{");
    first_class = false;
    bool f = true;
    json_field(&k, "size_bytes", c->size_bytes, &f);
    json_field(&k, "span_bytes", c->span_bytes, &f);
    json_field(&k, "spans", c->spans, &f);
    json_field(&k, "slots", c->slots, &f);
    json_field(&k, "live_objects", c->live_objects, &f);
    json_field(&k, "thread_cache_objects", c->thread_cache_objects, &f);
    json_field(&k, "transfer_objects", c->transfer_objects, &f);
    json_field(&k, "span_free_objects", c->span_free_objects, &f);
    json_field(&k, "fragmentation_bytes", (c->slots - c->live_objects) * c->size_bytes, &f);
    put(&k, "}");
  }
  put(&k, "]}");
  if (buf && size) buf[HS_MIN(k.len, size - 1)] = 0;
  return k.len;
}

/* <NAME type="TYPE" count="COUNT" size="SIZE"/>, or without count if
 * `with_count` is false. */
static void xml_total(sink_t *k, const char *name, const char *type, bool with_count,
                      uint64_t count, uint64_t size) {
  put(k, "<");
  put(k, name);
  put(k, " type=\"");
  put(k, type);
  if (with_count) {
    put(k, "\" count=\"");
    put_u64(k, count);
  }
  put(k, "\" size=\"");
  put_u64(k, size);
  put(k, "\"/>\n");
}

/* glibc's XML, one heap.  <sizes> lists the free objects of each class that
 * has any (in thread caches, transfer caches and on their spans) as glibc
 * lists free chunks by size range; "fast" is always empty; "rest" totals
 * the free objects; "mmap" is empty (large blocks come from the page heap,
 * not a mapping each).  "system current" is what the heap holds from the
 * OS (mapped less released), "system max" the most it has held, and
 * "aspace" everything mapped, metadata included. */
HS_EXPORT int malloc_info(int options, FILE *stream) {
  /* glibc returns EINVAL for options other than 0 and leaves errno alone
   * (its manual page says -1 and errno); a NULL stream, which crashes
   * glibc, gets the same answer. */
  if (options != 0 || stream == NULL) return EINVAL;
  hs_stats_t s;
  pageheap_stats_t heap;
  snapshot(&s, &heap);
  char mem[1024];
  sink_t k = {mem, sizeof mem, 0, -1, stream, false};
  uint64_t free_count = 0, free_bytes = 0, from = 1;
  put(&k, "<malloc version=\"1\">\n<heap nr=\"0\">\n<sizes>\n");
  for (uint64_t i = 0; i < s.class_count; i++) {
    const hs_class_stats_t *c = &s.classes[i];
    uint64_t count = c->thread_cache_objects + c->transfer_objects + c->span_free_objects;
    if (count) {
      put(&k, "  <size from=\"");
      put_u64(&k, from);
      put(&k, "\" to=\"");
      put_u64(&k, c->size_bytes);
      put(&k, "\" total=\"");
      put_u64(&k, count * c->size_bytes);
      put(&k, "\" count=\"");
      put_u64(&k, count);
      put(&k, "\"/>\n");
    }
    free_count += count;
    free_bytes += count * c->size_bytes;
    from = c->size_bytes + 1;
  }
  put(&k, "</sizes>\n");
  for (int scope = 0; scope < 2; scope++) { /* the heap's, then the process's */
    xml_total(&k, "total", "fast", true, 0, 0);
    xml_total(&k, "total", "rest", true, free_count, free_bytes);
    if (scope == 1) xml_total(&k, "total", "mmap", true, 0, 0);
    xml_total(&k, "system", "current", false, 0, s.heap_sys - s.heap_released);
    xml_total(&k, "system", "max", false, 0, heap.footprint_peak_bytes);
    xml_total(&k, "aspace", "total", false, 0, s.sys);
    xml_total(&k, "aspace", "mprotect", false, 0, s.sys);
    if (scope == 0) put(&k, "</heap>\n");
  }
  put(&k, "</malloc>\n");
  sink_flush(&k);
  return k.failed ? -1 : 0;
}

HS_EXPORT int malloc_trim(size_t pad) { return scavenger_release_all() > 0; }

/* glibc's tunables (M_MXFAST .. M_ARENA_MAX) do not apply to heapscope: they
 * are accepted and ignored (1, "success"); unknown parameters return 0. */
HS_EXPORT int mallopt(int param, int value) { return param >= -8 && param <= 1 && param != 0; }
