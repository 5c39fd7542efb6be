/* pageheap.c — free-span lists, carving, coalescing, growth, release to
 * the OS and the memory limit.
 *
 * Free spans sit on one of two sets of lists: "normal" (pages may be
 * resident) and "released" (returned to the OS with MADV_DONTNEED, so they
 * read back as zeros and cost no RSS).  Each set has an exact list for every
 * length of 1..PAGEHEAP_EXACT_PAGES pages and one list for longer spans
 * (best fit).  Allocation prefers normal spans of any length over released
 * ones, so released pages are reused last.  Spans merge only with neighbours
 * in the same set, which keeps every free span wholly released or not and
 * the statistics exact.  Normal free spans are also on the idle list, oldest
 * idle first, which is the order pageheap_release gives them back.
 *
 * In the page map every page of a small-object span points at its span (and
 * holds its size class); free and large spans are labelled at their first
 * and last page only, so growing the heap, splitting and merging relabel
 * two pages, not every page.  free() validates a pointer against the span
 * it finds (pagemap_span_holding), so stale labels inside a free or large
 * span read as invalid pointers.
 *
 * A free that leaves the heap drained (far below its peak in use) sets
 * drain_pending; the free paths, once they hold no lock, then release the
 * free pages at once (pageheap_release_if_drained), as glibc trims at free.
 * A span of 32 MiB or more that realloc moved a growing block out of is
 * released at its free (pageheap_free_outgrown), and the block it moves to
 * is a span in a mapping of its own (pageheap_alloc_mapped_alone), on no
 * free list ever: its next growth is an mremap, its free an munmap.
 *
 * With option huge_pages every region is advised MADV_HUGEPAGE, the first
 * few also when the option takes effect after they were mapped
 * (pageheap_use_huge_pages).
 *
 * Span records come from metadata.  Where the OS refuses it more (the
 * address-space limit reached while free spans hold the space), the tail
 * of a free span is unmapped to make room (unmap_free_tail_locked); where
 * it refuses a new region, free spans are unmapped until the region has
 * room (unmap_free_space_locked): a program that hit RLIMIT_AS and freed
 * can allocate again, a block bigger than any free run too.
 *
 * Guarded by pageheap_lock (released around madvise for spans marked
 * `releasing`, which are on no list).  May call: pagemap, metadata, os, base,
 * and, with no lock held, the hooks upper layers set (reclaim at a limit:
 * the scavenger's; limit reached, new peak: the profile writer's). */
#include "pageheap.h"

#include <errno.h>
#include <string.h>
#include <time.h>

#include "metadata.h"
#include "options.h"
#include "os.h"
#include "pagemap.h"

#define PAGEHEAP_EXACT_PAGES 128
/* Address space is taken from the OS in regions of at least this size,
 * aligned to 2 MiB so huge pages can back them when the kernel wants to. */
#define PAGEHEAP_REGION_BYTES ((size_t)64 << 20)
#define PAGEHEAP_REGION_ALIGN ((size_t)2 << 20)
/* pageheap_release gives back at most this much per lock hold: madvise of 4
 * MiB costs ~0.3 ms, short enough that allocating threads barely notice. */
#define PAGEHEAP_RELEASE_CHUNK_BYTES ((uint64_t)4 << 20)
/* Spans being released with the lock dropped, at most this many at once
 * (more concurrent releasers release under the lock). */
#define PAGEHEAP_INFLIGHT_SLOTS 8
/* The idle list is kept sorted by walking back from its newest end at most
 * this many spans; a span inserted further back is slightly out of order. */
#define PAGEHEAP_IDLE_WALK 64
/* The regions remembered for pageheap_use_huge_pages: it reaches these and
 * every region mapped after it; 16 regions are at least 1 GiB. */
#define PAGEHEAP_TRACKED_REGIONS 16
/* The footprint at which scavenging (its thread or its steps) pays off. */
#define PAGEHEAP_SCAVENGER_START_BYTES ((uint64_t)16 << 20)
/* The heap has drained when the pages in use fall below 1/DRAIN_INUSE_FRACTION
 * of their peak since the last drain, or those in large spans below
 * 1/DRAIN_LARGE_FRACTION of theirs where they made at least half the peak
 * in use (thread caches keep a few MiB of small-object spans in use after
 * the program freed everything; large spans have no cache).  free then
 * returns the free pages to the OS at once, keeping in use / 8 of them, if
 * at least DRAIN_MIN_BYTES are resident.  A drain the heap grows back from
 * (by half what it released, before the next) was a dip, not an end: the
 * wait before the next doubles, from DRAIN_BACKOFF_MIN_NS up to
 * DRAIN_BACKOFF_MAX_NS, and halves after a drain that held (no regrowth
 * for a whole wait), so a program that empties and refills its heap in a
 * loop pays a refault every few seconds, not one per loop. */
#define PAGEHEAP_DRAIN_INUSE_FRACTION 32
/* 1/128, not 1/64: bench/suite/large's 16 slots of 64 KiB-8 MiB dip once
 * mid-run to just under 1/64 of their peak in large spans (848 KiB of 53
 * MiB); a drain there released 54 MiB that the next steps faulted back in
 * (0.61-0.68 s a run against 0.40-0.44 s), and its end still drains. */
#define PAGEHEAP_DRAIN_LARGE_FRACTION 128
#define PAGEHEAP_DRAIN_MIN_BYTES ((uint64_t)1 << 20)
/* A large span of at least this size that realloc moved a growing block
 * out of gives its pages back to the OS at its free (glibc's realloc
 * mremaps such blocks, above its mmap threshold of at most 32 MiB).  Kept
 * idle instead, the spans a buffer growing by realloc leaves behind, each
 * smaller than the next, stay resident until the scavenger releases them:
 * a 1 GiB bytearray grown 512 KiB at a time in python3 peaked at 5.5 GB
 * (glibc 1 GB; docs/memory.md, "Measured: a buffer grown by realloc").  A
 * plain free keeps its pages idle for the next allocation (the drain and
 * the scavenger release them). */
#define PAGEHEAP_RELEASE_OUTGROWN_BYTES ((uint64_t)32 << 20)
/* While at least DRAIN_SPARSE_INUSE_BYTES are still in use, a drain
 * releases only free runs (free spans side by side, released ones among
 * them) that hold at least DRAIN_MIN_RUN_PAGES unreleased pages.  A shorter
 * run lies between spans still in use, which the rest of a teardown frees,
 * joining the runs up for the next drain (tcache.c drains again as the
 * teardown goes on); with less in use, a drain releases every run.  A
 * madvise costs per call and, below the kernel's single-page flush ceiling
 * (33 OS pages), per page: on the 2-core VM in docs/performance.md, 11-14 us
 * for 8 KiB and 65-92 us for 64 KiB, against 0.3 us a page in 4 MiB calls.
 * bench/suite/churn's teardown made 1,244 madvise calls (strace -c) and
 * took 37-40 ms (timed in a copy of churn.c); it now makes 135-152 and
 * takes 11-16 ms, and its final RSS is unchanged. */
#define PAGEHEAP_DRAIN_SPARSE_INUSE_BYTES ((uint64_t)2 << 20)
#define PAGEHEAP_DRAIN_MIN_RUN_PAGES 16
#define PAGEHEAP_DRAIN_BACKOFF_MIN_NS ((uint64_t)10000000)
#define PAGEHEAP_DRAIN_BACKOFF_MAX_NS ((uint64_t)4000000000)

/* Each list is a head pointer and spans linked through next and prev,
 * NULL-terminated: heads rather than sentinel records keep the sets at
 * 2 KiB, which the first allocation of every process touches. */
typedef struct free_set {
  span_t *exact[PAGEHEAP_EXACT_PAGES + 1]; /* [n]: spans of exactly n pages */
  span_t *longer;                          /* spans of more pages */
  uint64_t nonempty[2];                    /* bit n-1: exact[n] nonempty */
} free_set_t;

static hs_lock_t pageheap_lock;
static bool lists_ready;           /* guarded by pageheap_lock */
static free_set_t normal_spans;    /* guarded by pageheap_lock */
static free_set_t released_spans;  /* guarded by pageheap_lock */
static span_t *spare_records;      /* recycled span records, via ->next */
static pageheap_stats_t totals;    /* guarded by pageheap_lock */
static span_t idle_spans;          /* sentinel, via idle_next/idle_prev: normal
                                      free spans, oldest idle first */
static span_t large_spans;         /* sentinel: SPAN_LARGE spans */
static span_t *inflight[PAGEHEAP_INFLIGHT_SLOTS]; /* `releasing` spans */
/* Of each in-flight span, the bytes that were released already (free spans
 * it took in on its way, absorb_free_run_locked); inflight_bytes counts the
 * rest, the normal bytes being released.  Guarded by pageheap_lock. */
static uint64_t inflight_released[PAGEHEAP_INFLIGHT_SLOTS];
static uint64_t inflight_bytes;
static uint64_t inuse_peak_bytes;  /* guarded by pageheap_lock: since the last drain */
static uint64_t large_peak_bytes;  /* guarded by pageheap_lock: since the last drain */
/* Guarded by pageheap_lock: the last drain, what it released, what the
 * heap took from released pages since, and the wait before the next.  A
 * drain with no regrowth since the one before continues that one's fall
 * (drain_continues): its release adds to last_drain_bytes. */
static uint64_t last_drain_ns, last_drain_bytes, regrown_bytes, drain_backoff_ns;
static bool drain_continues;
static _Atomic int drain_pending;  /* set under pageheap_lock, read without */
/* Set by hs_set_memory_limit; UINT64_MAX: not set, the option applies
 * (read live, so it is right however start-up was ordered). */
static _Atomic uint64_t limit_bytes = UINT64_MAX;
static void (*_Atomic reclaim_hook)(void);
static void (*_Atomic limit_hook)(void);
static void (*_Atomic peak_hook)(void);
/* The pages in use at which peak_hook is next called: each call raises it
 * to an eighth above the pages in use then (UINT64_MAX: no hook).  Guarded
 * by pageheap_lock. */
static uint64_t peak_next_bytes = UINT64_MAX;
#define PAGEHEAP_PEAK_FIRST_BYTES ((uint64_t)1 << 20)
#define PAGEHEAP_PEAK_STEP_FRACTION 8
_Atomic int pageheap_scavenger_wanted;
_Atomic uint64_t pageheap_limit_epoch;

uint64_t pageheap_now_ns(void) { return (uint64_t)os_clock_ns(CLOCK_MONOTONIC); }

/* The time a span freed now starts to be idle, for the idle list: the
 * coarse clock, the time of the last timer tick.  It costs 4 ns in the
 * vDSO on the 2-core VM of docs/performance.md, CLOCK_MONOTONIC 26, and
 * every span given back paid that (a tenth of a malloc(262144)+free loop
 * that samples every other pair).  It reads up to a tick (4 ms there)
 * behind pageheap_now_ns, a few ticks when the host holds up the CPU that
 * keeps time (the test allows 100 ms), and never ahead, so a span can be
 * released that much before it has been idle for scavenger_delay_ms (500
 * by default). */
static uint64_t idle_stamp_ns(void) { return (uint64_t)os_clock_ns(CLOCK_MONOTONIC_COARSE); }

/* ---- The idle list: normal free spans by idle_since_ns ---- */

/* Counts the changes to the idle list, so that a walk of it that dropped
 * the lock can tell whether the span it stopped at is still there. */
static uint64_t idle_list_changes; /* guarded by pageheap_lock */

static void idle_remove_locked(span_t *span) {
  idle_list_changes++;
  span->idle_prev->idle_next = span->idle_next;
  span->idle_next->idle_prev = span->idle_prev;
  span->idle_next = span->idle_prev = NULL;
}

static void idle_insert_after_locked(span_t *after, span_t *span) {
  idle_list_changes++;
  span->idle_prev = after;
  span->idle_next = after->idle_next;
  after->idle_next->idle_prev = span;
  after->idle_next = span;
}

static void idle_insert_locked(span_t *span) {
  span_t *after = idle_spans.idle_prev;
  for (int walked = 0; after != &idle_spans && after->idle_since_ns > span->idle_since_ns &&
                       walked < PAGEHEAP_IDLE_WALK;
       walked++)
    after = after->idle_prev;
  idle_insert_after_locked(after, span);
}

static void init_lists_locked(void) {
  idle_spans.idle_next = idle_spans.idle_prev = &idle_spans;
  span_list_init(&large_spans);
  lists_ready = true;
}

static bool unmap_free_tail_locked(size_t bytes);

static span_t *new_record_locked(void) {
  span_t *span = spare_records;
  if (span) {
    spare_records = span->next;
    memset(span, 0, sizeof *span);
    return span;
  }
  span = metadata_alloc(sizeof(span_t));
  /* The OS refused a metadata chunk (RLIMIT_AS reached, or a strict
   * overcommit policy) while free pages may hold the address space it
   * needs: give a chunk's worth of them back and ask once more. */
  if (HS_UNLIKELY(!span) && unmap_free_tail_locked(METADATA_CHUNK_BYTES))
    span = metadata_alloc(sizeof(span_t));
  return span;
}

static void drop_record_locked(span_t *span) {
  span->page_count = 0; /* stale page-map labels naming it now hold nothing */
  span->state = SPAN_FREE;
  span->next = spare_records;
  spare_records = span;
}

static free_set_t *set_of(const span_t *span) {
  return span->released ? &released_spans : &normal_spans;
}

static span_t **list_of(free_set_t *set, size_t pages) {
  return pages <= PAGEHEAP_EXACT_PAGES ? &set->exact[pages] : &set->longer;
}

static void insert_locked(span_t *span) {
  free_set_t *set = set_of(span);
  size_t n = span->page_count;
  span_head_push(list_of(set, n), span);
  if (n <= PAGEHEAP_EXACT_PAGES) set->nonempty[(n - 1) >> 6] |= (uint64_t)1 << ((n - 1) & 63);
  totals.free_spans++;
}

static void remove_locked(span_t *span) {
  free_set_t *set = set_of(span);
  size_t n = span->page_count;
  span_t **head = list_of(set, n);
  span_head_remove(head, span);
  if (n <= PAGEHEAP_EXACT_PAGES && !*head)
    set->nonempty[(n - 1) >> 6] &= ~((uint64_t)1 << ((n - 1) & 63));
  totals.free_spans--;
}

/* The shortest span of at least `pages` pages in `set`, or NULL. */
static span_t *find_in_set_locked(free_set_t *set, size_t pages) {
  if (pages <= PAGEHEAP_EXACT_PAGES) {
    for (size_t word = (pages - 1) >> 6; word < 2; word++) {
      uint64_t bits = set->nonempty[word];
      if (word == (pages - 1) >> 6) bits &= ~(uint64_t)0 << ((pages - 1) & 63);
      if (bits) return set->exact[word * 64 + (size_t)__builtin_ctzll(bits) + 1];
    }
  }
  span_t *best = NULL;
  for (span_t *s = set->longer; s; s = s->next) {
    if (s->page_count >= pages &&
        (!best || s->page_count < best->page_count ||
         (s->page_count == best->page_count && s->first_page < best->first_page)))
      best = s;
  }
  return best;
}

/* Unmaps the last `bytes` (a multiple of the OS page) of a free span with
 * more pages than that, released ones first (they hold no RSS), so that a
 * later map can take the address space.  The span keeps its record and its
 * place on the idle list.  False when no free span is long enough. */
static bool unmap_free_tail_locked(size_t bytes) {
  size_t pages = bytes >> HS_PAGE_SHIFT;
  span_t *span = find_in_set_locked(&released_spans, pages + 1);
  if (!span) span = find_in_set_locked(&normal_spans, pages + 1);
  if (!span) return false;
  uintptr_t tail = (span->first_page + span->page_count - pages) << HS_PAGE_SHIFT;
  remove_locked(span);
  if (os_unmap((void *)tail, bytes) != 0) {
    insert_locked(span);
    return false;
  }
  span->page_count -= pages;
  pagemap_set_ends_locked(span);
  insert_locked(span);
  totals.sys_bytes -= bytes;
  totals.free_bytes -= bytes;
  if (span->released) totals.released_bytes -= bytes;
  return true;
}

/* The longest span of `set`, or NULL. */
static span_t *longest_in_set_locked(free_set_t *set) {
  span_t *longest = NULL;
  for (span_t *s = set->longer; s; s = s->next)
    if (!longest || s->page_count > longest->page_count) longest = s;
  for (size_t n = PAGEHEAP_EXACT_PAGES; !longest && n > 0; n--) longest = set->exact[n];
  return longest;
}

/* Gives `bytes` of the address space free spans hold back to the OS,
 * released spans first, longest first: the tail of one longer than that,
 * or whole spans.  For a mapping the OS refused (RLIMIT_AS reached while
 * freed heap held the space: a block bigger than any free run, which the
 * heap's separate regions cannot offer, could not be had again after a
 * free).  False when the free spans hold less (nothing is unmapped then)
 * or the OS refused an unmap (what was unmapped before it stays so). */
static bool unmap_free_space_locked(size_t bytes) {
  if (totals.free_bytes < bytes) return false;
  while (bytes > 0) {
    if (unmap_free_tail_locked(bytes)) return true;
    span_t *span = longest_in_set_locked(&released_spans);
    if (!span) span = longest_in_set_locked(&normal_spans);
    if (!span) return false;
    size_t span_bytes = (size_t)span->page_count << HS_PAGE_SHIFT;
    if (os_unmap((void *)(span->first_page << HS_PAGE_SHIFT), span_bytes) != 0) return false;
    remove_locked(span);
    if (!span->released) idle_remove_locked(span);
    pagemap_clear_ends_locked(span);
    totals.sys_bytes -= span_bytes;
    totals.free_bytes -= span_bytes;
    if (span->released) totals.released_bytes -= span_bytes;
    drop_record_locked(span);
    bytes -= HS_MIN(bytes, span_bytes);
  }
  return true;
}

/* The span whose last page lies just before page `page`, and the span
 * holding `page` (by the page map; NULL where heapscope has none). */
static span_t *span_before_page(uintptr_t page) {
  return pagemap_span_holding((void *)((page - 1) << HS_PAGE_SHIFT));
}
static span_t *span_at_page(uintptr_t page) {
  return pagemap_span_holding((void *)(page << HS_PAGE_SHIFT));
}

/* Merges `span` (free, not on a list, idle_since set) with free neighbours
 * of the same set, labels the result's ends and puts it on its lists; a
 * normal merged span is idle since the latest of its parts. */
static void coalesce_and_insert_locked(span_t *span) {
  span_t *left = span_before_page(span->first_page);
  if (left && left->state == SPAN_FREE && !left->releasing && left->released == span->released) {
    remove_locked(left);
    if (!left->released) idle_remove_locked(left);
    uint64_t idle = HS_MAX(left->idle_since_ns, span->idle_since_ns);
    if (left->page_count >= span->page_count) {
      left->page_count += span->page_count;
      left->zeroed &= span->zeroed;
      drop_record_locked(span);
      span = left;
    } else {
      span->first_page = left->first_page;
      span->page_count += left->page_count;
      span->zeroed &= left->zeroed;
      drop_record_locked(left);
    }
    span->idle_since_ns = idle;
  }
  span_t *right = span_at_page(span->first_page + span->page_count);
  if (right && right->state == SPAN_FREE && !right->releasing && right->released == span->released) {
    remove_locked(right);
    if (!right->released) idle_remove_locked(right);
    uint64_t idle = HS_MAX(right->idle_since_ns, span->idle_since_ns);
    if (right->page_count > span->page_count) {
      right->first_page = span->first_page;
      right->page_count += span->page_count;
      right->zeroed &= span->zeroed;
      drop_record_locked(span);
      span = right;
    } else {
      span->page_count += right->page_count;
      span->zeroed &= right->zeroed;
      drop_record_locked(right);
    }
    span->idle_since_ns = idle;
  }
  pagemap_set_ends_locked(span);
  insert_locked(span);
  if (!span->released) idle_insert_locked(span);
}

/* The first regions mapped, and whether regions get huge pages
 * (pageheap_use_huge_pages).  Guarded by pageheap_lock. */
typedef struct tracked_region {
  void *start;
  size_t bytes;
} tracked_region_t;
static tracked_region_t tracked_regions[PAGEHEAP_TRACKED_REGIONS];
static int tracked_region_count;
static bool huge_pages;

/* Maps a new region able to hold `pages` pages at `align_pages` alignment and
 * adds it as a released free span.  False when the OS refuses. */
static bool grow_locked(size_t pages, size_t align_pages) {
  size_t need_pages = pages + align_pages - 1;
  if (need_pages < pages || need_pages > (SIZE_MAX >> HS_PAGE_SHIFT)) return false;
  size_t need = need_pages << HS_PAGE_SHIFT;
  size_t bytes = need < PAGEHEAP_REGION_BYTES ? PAGEHEAP_REGION_BYTES
                                              : (need + PAGEHEAP_REGION_ALIGN - 1) &
                                                    ~(PAGEHEAP_REGION_ALIGN - 1);
  if (bytes < need) return false;
  size_t page_bytes = HS_MAX(os_page_size(), (size_t)HS_PAGE_BYTES);
  void *mem = os_map(bytes, HS_MAX(PAGEHEAP_REGION_ALIGN, page_bytes));
  if (!mem && bytes > need) {
    bytes = (need + page_bytes - 1) & ~(page_bytes - 1);
    mem = os_map(bytes, page_bytes);
  }
  if (!mem && errno == ENOMEM && unmap_free_space_locked(bytes)) mem = os_map(bytes, page_bytes);
  if (!mem) return false;
  span_t *span = new_record_locked();
  if (!span) {
    os_unmap(mem, bytes);
    return false;
  }
  span->first_page = (uintptr_t)mem >> HS_PAGE_SHIFT;
  span->page_count = bytes >> HS_PAGE_SHIFT;
  if (!pagemap_ensure_locked(span->first_page, span->page_count)) {
    drop_record_locked(span);
    os_unmap(mem, bytes);
    return false;
  }
  span->state = SPAN_FREE;
  span->released = 1; /* never touched: not resident, reads as zero */
  span->zeroed = 1;
  if (tracked_region_count < PAGEHEAP_TRACKED_REGIONS)
    tracked_regions[tracked_region_count++] = (tracked_region_t){mem, bytes};
  if (huge_pages) os_advise_huge_pages(mem, bytes);
  totals.sys_bytes += bytes;
  totals.free_bytes += bytes;
  totals.released_bytes += bytes;
  coalesce_and_insert_locked(span);
  return true;
}

/* After released pages became resident again: the footprint, and its peak. */
static uint64_t note_footprint_locked(void) {
  uint64_t footprint = totals.sys_bytes - totals.released_bytes;
  if (footprint > totals.footprint_peak_bytes) totals.footprint_peak_bytes = footprint;
  return footprint;
}

/* Whether `span` is a free span a run can take in (not one being released
 * with the lock dropped). */
static bool joins_run(const span_t *span) {
  return span && span->state == SPAN_FREE && !span->releasing;
}

/* The pages of the run of adjacent free spans, normal and released, that
 * free span `span` belongs to; *first_out: the run's first span. */
static size_t free_run_locked(span_t *span, span_t **first_out) {
  size_t pages = span->page_count;
  span_t *first = span;
  for (span_t *left = span_before_page(first->first_page); joins_run(left);
       left = span_before_page(first->first_page)) {
    pages += left->page_count;
    first = left;
  }
  for (span_t *right = span_at_page(span->first_page + span->page_count); joins_run(right);
       right = span_at_page(right->first_page + right->page_count))
    pages += right->page_count;
  *first_out = first;
  return pages;
}

/* Spans merge only within their set, normal or released, so a free run a
 * drain or the scavenger released in part is two spans or more, none of
 * which may be long enough for a request the run could hold: 400 MiB
 * freed, a drain that left one page of it normal (its keep), and
 * malloc(400 MiB) again mapped a new region beside it (VmData +400 MiB;
 * NULL under `ulimit -v`).  For that case only (no free span long
 * enough): finds a run of at least `pages` pages that has a span on a
 * `longer` list, and merges it into one normal span on the normal lists
 * (normal means "may be resident": its released pages read as zeros, and
 * count as normal from here, as the caller is about to take them).
 * NULL if there is none.  pre: the caller checked the memory limit for
 * the request. */
static span_t *merge_free_run_locked(size_t pages) {
  free_set_t *sets[2] = {&released_spans, &normal_spans};
  span_t *first = NULL;
  for (int i = 0; i < 2 && !first; i++) {
    for (span_t *s = sets[i]->longer; s; s = s->next) {
      if (free_run_locked(s, &first) >= pages) break;
      first = NULL;
    }
  }
  if (!first) return NULL;
  span_t *merged = first;
  uint64_t idle_since = 0, released = 0;
  for (span_t *part = first; joins_run(part);) {
    span_t *next = span_at_page(part->first_page + part->page_count);
    remove_locked(part);
    if (part->released) released += span_bytes(part);
    else idle_remove_locked(part);
    idle_since = HS_MAX(idle_since, part->idle_since_ns);
    if (part != merged) {
      merged->page_count += part->page_count;
      drop_record_locked(part);
    }
    part = next;
  }
  merged->released = 0;
  merged->zeroed = 0;
  merged->idle_since_ns = idle_since;
  totals.released_bytes -= released;
  regrown_bytes += released;
  note_footprint_locked();
  pagemap_set_ends_locked(merged);
  insert_locked(merged);
  idle_insert_locked(merged);
  return merged;
}

/* Takes pages [offset, offset + pages) of free span `span` (on its lists)
 * and returns them as a new span; the pieces before and after stay free and
 * keep the span's place on the idle list. */
static span_t *take_locked(span_t *span, size_t offset, size_t pages) {
  span_t *taken = span;
  if (offset > 0 || pages < span->page_count) {
    taken = new_record_locked();
    if (!taken) return NULL;
    span_t *head = NULL;
    if (offset > 0) {
      head = new_record_locked();
      if (!head) { drop_record_locked(taken); return NULL; }
    }
    remove_locked(span);
    taken->first_page = span->first_page + offset;
    taken->page_count = pages;
    taken->released = span->released;
    taken->zeroed = span->zeroed;
    if (head) {
      *head = *span;
      head->idle_next = head->idle_prev = NULL;
      head->page_count = offset;
      pagemap_set_ends_locked(head);
      insert_locked(head);
      if (!head->released) idle_insert_after_locked(span->idle_prev, head);
    }
    size_t tail_pages = span->page_count - offset - pages;
    if (tail_pages > 0) {
      span->first_page = taken->first_page + pages;
      span->page_count = tail_pages;
      pagemap_set_ends_locked(span);
      insert_locked(span);
    } else {
      if (!span->released) idle_remove_locked(span);
      drop_record_locked(span);
    }
  } else {
    remove_locked(span);
    if (!span->released) idle_remove_locked(span);
  }
  uint64_t bytes = (uint64_t)pages << HS_PAGE_SHIFT;
  totals.free_bytes -= bytes;
  if (taken->released) {
    totals.released_bytes -= bytes;
    uint64_t footprint = note_footprint_locked();
    uint64_t limit = pageheap_limit();
    if (footprint >= PAGEHEAP_SCAVENGER_START_BYTES || (limit && footprint >= limit / 2))
      hs_relaxed_store(&pageheap_scavenger_wanted, 1);
  }
  taken->released = 0;
  taken->releasing = 0;
  taken->idle_next = taken->idle_prev = NULL;
  return taken;
}

/* Returns the last `pages` pages of normal free span `span` (on its lists)
 * as a span on no list with the same idle time; `span` keeps the rest and
 * its place.  NULL when no record can be had. */
static span_t *split_tail_locked(span_t *span, size_t pages) {
  if (pages >= span->page_count) {
    remove_locked(span);
    idle_remove_locked(span);
    return span;
  }
  span_t *piece = new_record_locked();
  if (!piece) return NULL;
  remove_locked(span);
  span->page_count -= pages;
  pagemap_set_ends_locked(span);
  insert_locked(span);
  piece->first_page = span->first_page + span->page_count;
  piece->page_count = pages;
  piece->state = SPAN_FREE;
  piece->zeroed = span->zeroed;
  piece->idle_since_ns = span->idle_since_ns;
  pagemap_set_ends_locked(piece);
  return piece;
}

/* madvise()s the whole OS pages inside `span`; true if all of it went (the
 * edges stay resident when the OS page is larger than ours). */
static bool release_pages(const span_t *span) {
  size_t os_page = os_page_size();
  uintptr_t first = (uintptr_t)span_start(span);
  uintptr_t start = (first + os_page - 1) & ~(uintptr_t)(os_page - 1);
  uintptr_t end = (first + span_bytes(span)) & ~(uintptr_t)(os_page - 1);
  if (end > start) os_release((void *)start, end - start);
  return start == first && end == first + span_bytes(span);
}

/* Files `span` (free, on no list, its pages just released) as released;
 * `already_released` of its bytes were counted as released before. */
static void finish_release_locked(span_t *span, bool zeroed, uint64_t already_released) {
  uint64_t newly = span_bytes(span) - already_released;
  span->releasing = 0;
  span->zeroed = zeroed;
  span->released = 1;
  totals.released_bytes += newly;
  totals.released_total_bytes += newly;
  coalesce_and_insert_locked(span);
}

/* pre: `piece` is free, on no list, and all but `already` of its bytes
 * are normal (not released).  madvise()s it, with the lock dropped while an
 * in-flight slot is free (nobody can reach the piece meanwhile: it is on
 * no list and `releasing` keeps neighbours from merging with it), and
 * files it as released.  Returns with the lock held. */
static void release_piece_locked(span_t *piece, uint64_t already) {
  uint64_t normal = span_bytes(piece) - already;
  int slot = 0;
  while (slot < PAGEHEAP_INFLIGHT_SLOTS && inflight[slot]) slot++;
  if (slot == PAGEHEAP_INFLIGHT_SLOTS) {
    finish_release_locked(piece, release_pages(piece), already);
    return;
  }
  piece->releasing = 1;
  inflight[slot] = piece;
  inflight_released[slot] = already;
  inflight_bytes += normal;
  hs_unlock(&pageheap_lock);
  bool zeroed = release_pages(piece);
  hs_lock(&pageheap_lock);
  if (inflight[slot] == piece) { /* else a fork child took it back */
    inflight[slot] = NULL;
    inflight_bytes -= normal;
    finish_release_locked(piece, zeroed, already);
  }
}

/* A release takes in at most this many pages that were released already:
 * enough to bridge the gaps an earlier drain left between the spans a
 * teardown frees later, and few enough that the piece, which other threads
 * cannot reach while its madvise runs with the lock dropped, hides little
 * free memory from them (a thread that finds no free span grows the heap
 * by a 64 MiB region).  Its normal pages stay within the chunk
 * (PAGEHEAP_RELEASE_CHUNK_BYTES). */
#define PAGEHEAP_ABSORB_RELEASED_PAGES ((size_t)128)

/* What a release may still take in (absorb_neighbour_locked). */
typedef struct absorb_budget {
  uint64_t idle_before_ns; /* normal spans idle since then or earlier */
  size_t normal_pages;     /* the chunk's pages left */
  size_t released_pages;   /* of PAGEHEAP_ABSORB_RELEASED_PAGES, left */
} absorb_budget_t;

/* Whether `next` is a free span that fits in `budget`, which it then uses
 * up. */
static bool fits_budget(const span_t *next, absorb_budget_t *budget) {
  if (!next || next->state != SPAN_FREE || next->releasing) return false;
  if (next->released) {
    if (next->page_count > budget->released_pages) return false;
    budget->released_pages -= next->page_count;
  } else {
    if (next->idle_since_ns > budget->idle_before_ns || next->page_count > budget->normal_pages)
      return false;
    budget->normal_pages -= next->page_count;
  }
  return true;
}

/* Takes the free span `next`, beside `piece`, into it if it fits in
 * `budget`; adds a released one's bytes to *released.  If `next` is the
 * span a walk of the idle list holds in *cursor, moves the cursor back to
 * the span before it. */
static bool absorb_neighbour_locked(span_t *piece, span_t *next, absorb_budget_t *budget,
                                    uint64_t *released, span_t **cursor) {
  if (!fits_budget(next, budget)) return false;
  remove_locked(next);
  if (next->released) {
    *released += span_bytes(next);
  } else {
    if (*cursor == next) *cursor = next->idle_prev;
    idle_remove_locked(next);
  }
  if (next->first_page < piece->first_page) piece->first_page = next->first_page;
  piece->page_count += next->page_count;
  drop_record_locked(next);
  return true;
}

/* Grows `piece` (free, normal, on no list, about to be released) over the
 * free spans around it that fit in `budget`, so that one madvise covers
 * what a call per span would (see PAGEHEAP_DRAIN_MIN_RUN_PAGES for the
 * cost): a teardown after a drain frees span after span between spans
 * that drain released.  Returns the normal pages taken in; adds the
 * released bytes to *released. */
static size_t absorb_free_run_locked(span_t *piece, absorb_budget_t budget, uint64_t *released,
                                     span_t **cursor) {
  size_t normal_before = budget.normal_pages;
  while (absorb_neighbour_locked(piece, span_before_page(piece->first_page), &budget, released,
                                 cursor)) {
  }
  while (absorb_neighbour_locked(piece, span_at_page(piece->first_page + piece->page_count),
                                 &budget, released, cursor)) {
  }
  pagemap_set_ends_locked(piece);
  return normal_before - budget.normal_pages;
}

/* The normal pages of the free run around normal free span `span` that a
 * drain's release could take in (absorb_free_run_locked with no idle
 * cut-off and no limit on normal pages), its own included. */
static size_t free_run_pages_locked(const span_t *span) {
  absorb_budget_t budget = {UINT64_MAX, SIZE_MAX, PAGEHEAP_ABSORB_RELEASED_PAGES};
  size_t pages = span->page_count;
  for (uintptr_t first = span->first_page;;) {
    const span_t *left = span_before_page(first);
    if (!fits_budget(left, &budget)) break;
    if (!left->released) pages += left->page_count;
    first = left->first_page;
  }
  for (uintptr_t end = span->first_page + span->page_count;;) {
    const span_t *right = span_at_page(end);
    if (!fits_budget(right, &budget)) break;
    if (!right->released) pages += right->page_count;
    end = right->first_page + right->page_count;
  }
  return pages;
}

/* Releases the oldest normal free spans, under the lock, until `bytes` are
 * released or none is left.  For the memory limit only (rare). */
static uint64_t release_for_limit_locked(uint64_t bytes) {
  uint64_t done = 0;
  while (done < bytes && idle_spans.idle_next != &idle_spans) {
    span_t *oldest = idle_spans.idle_next;
    uint64_t want_pages = (bytes - done + HS_PAGE_BYTES - 1) >> HS_PAGE_SHIFT;
    span_t *piece = split_tail_locked(oldest, (size_t)HS_MIN(want_pages, oldest->page_count));
    if (!piece) break;
    finish_release_locked(piece, release_pages(piece), 0);
    done += span_bytes(piece);
  }
  totals.limit_releases += done;
  return done;
}

/* > 0 while the calling thread writes a profile (pageheap_profile_write_enter). */
static _Thread_local uint32_t tls_profile_write_depth __attribute__((tls_model("initial-exec")));

void pageheap_profile_write_enter(void) { tls_profile_write_depth++; }
void pageheap_profile_write_exit(void) { tls_profile_write_depth--; }

/* How far past a hard limit a profile write may take the heap: an eighth
 * of the limit, at least PAGEHEAP_PROFILE_HEADROOM_MIN_BYTES. */
static uint64_t profile_headroom(uint64_t limit) {
  return HS_MAX(limit / 8, PAGEHEAP_PROFILE_HEADROOM_MIN_BYTES);
}

uint64_t pageheap_profile_write_room(void) {
  uint64_t limit = pageheap_limit();
  if (limit == 0 || !pageheap_limit_is_hard()) return UINT64_MAX;
  hs_lock(&pageheap_lock);
  uint64_t in_use = totals.sys_bytes - totals.free_bytes; /* free pages can be reused */
  hs_unlock(&pageheap_lock);
  uint64_t ceiling = limit + profile_headroom(limit);
  return in_use < ceiling ? ceiling - in_use : 0;
}

/* Before footprint grows by `bytes`: releases idle pages to stay under the
 * limit; false if a hard limit refuses the growth (a thread writing a
 * profile has profile_headroom past it), or if `may_retry` and the caller
 * should first give cached objects back (nothing is counted then).  Every
 * time the limit is reached, limit_epoch moves on. */
static bool limit_allows_locked(uint64_t bytes, bool may_retry) {
  uint64_t limit = pageheap_limit();
  if (limit == 0) return true;
  uint64_t footprint = totals.sys_bytes - totals.released_bytes;
  if (footprint + bytes <= limit) return true;
  release_for_limit_locked(footprint + bytes - limit);
  footprint = totals.sys_bytes - totals.released_bytes;
  if (footprint + bytes <= limit) return true;
  hs_relaxed_add(&pageheap_limit_epoch, 1);
  if (may_retry) return false;
  if (pageheap_limit_is_hard() &&
      !(tls_profile_write_depth > 0 && footprint + bytes <= limit + profile_headroom(limit))) {
    totals.limit_refusals++;
    return false;
  }
  totals.limit_overruns++;
  return true;
}

/* After the heap's pages in use grew: the peaks a drain is measured from.
 * Returns whether they passed peak_next_bytes (the caller then calls
 * peak_hook, without the lock). */
static bool note_peaks_locked(void) {
  uint64_t in_use = totals.sys_bytes - totals.free_bytes;
  if (in_use > inuse_peak_bytes) inuse_peak_bytes = in_use;
  if (totals.large_bytes > large_peak_bytes) large_peak_bytes = totals.large_bytes;
  if (HS_LIKELY(in_use < peak_next_bytes)) return false;
  peak_next_bytes = in_use + in_use / PAGEHEAP_PEAK_STEP_FRACTION;
  return true;
}

static void call_peak_hook(void) {
  void (*hook)(void) = atomic_load_explicit(&peak_hook, memory_order_acquire);
  if (hook) hook();
}

span_t *pageheap_alloc(size_t pages, size_t align_pages, uint8_t state, uint8_t size_class) {
  size_t search = pages + align_pages - 1;
  span_t *span = NULL;
  void (*hook)(void) = state == SPAN_LARGE ? atomic_load_explicit(&reclaim_hook, memory_order_acquire) : NULL;
  uint64_t limit_epoch = hs_relaxed_load(&pageheap_limit_epoch);
  bool new_peak = false;
  for (int attempt = 0; attempt < 2 && !span; attempt++) {
    bool may_retry = hook && attempt == 0;
    hs_lock(&pageheap_lock);
    if (HS_UNLIKELY(!lists_ready)) init_lists_locked();
    span_t *found = NULL;
    bool refused = false;
    if (search >= pages) {
      found = find_in_set_locked(&normal_spans, search);
      if (!found) {
        /* From here on the footprint grows: released pages become resident. */
        if (!limit_allows_locked((uint64_t)pages << HS_PAGE_SHIFT, may_retry)) refused = true;
        else if (!(found = find_in_set_locked(&released_spans, search)) &&
                 !(found = merge_free_run_locked(search)) && grow_locked(pages, align_pages))
          found = find_in_set_locked(&released_spans, search);
      }
    }
    if (found) {
      size_t offset = ((found->first_page + align_pages - 1) & ~(align_pages - 1)) - found->first_page;
      if (found->released) regrown_bytes += (uint64_t)pages << HS_PAGE_SHIFT;
      span = take_locked(found, offset, pages);
    }
    if (span) {
      span->state = state;
      span->size_class = size_class;
      span->multiple_magic = size_class_multiple_magic[size_class];
      if (state == SPAN_SMALL) pagemap_set_span_locked(span, size_class);
      else pagemap_set_ends_locked(span);
      if (state == SPAN_LARGE) {
        totals.large_bytes += (uint64_t)pages << HS_PAGE_SHIFT;
        totals.large_count++;
        span->requested_bytes = (uint64_t)pages << HS_PAGE_SHIFT; /* until the caller sets it */
        span_list_push_front(&large_spans, span);
      }
      new_peak = note_peaks_locked();
    }
    hs_unlock(&pageheap_lock);
    if (span || !refused || !may_retry) break;
    hook(); /* no lock held: give cached objects back, then try once more */
  }
  if (HS_UNLIKELY(hs_relaxed_load(&pageheap_limit_epoch) != limit_epoch)) {
    void (*reached)(void) = atomic_load_explicit(&limit_hook, memory_order_acquire);
    if (reached) reached();
  }
  if (HS_UNLIKELY(new_peak)) call_peak_hook();
  if (!span) errno = ENOMEM;
  return span;
}

static void free_alone(span_t *span);

/* Frees `span`; with `release`, gives its pages back to the OS at once. */
static void free_span(span_t *span, uint64_t idle_since_ns, bool release) {
  if (span->mapped_alone) {
    free_alone(span);
    return;
  }
  hs_lock(&pageheap_lock);
  if (span->state == SPAN_LARGE) {
    totals.large_bytes -= span_bytes(span);
    totals.large_count--;
    span_list_remove(span);
  } else {
    pagemap_clear_classes_locked(span);
  }
  span->state = SPAN_FREE;
  span->size_class = 0;
  span->zeroed = 0;
  span->released = 0;
  span->releasing = 0;
  span->on_list = 0;
  span->free_list = NULL;
  span->free_limit = 0;
  span->idle_since_ns = idle_since_ns;
  totals.free_bytes += span_bytes(span);
  if (release) release_piece_locked(span, 0); /* files it, coalesced, as released */
  else coalesce_and_insert_locked(span);
  uint64_t in_use = totals.sys_bytes - totals.free_bytes;
  bool inuse_drained = in_use < inuse_peak_bytes / PAGEHEAP_DRAIN_INUSE_FRACTION;
  /* Large spans count on their own only where they made most of the heap. */
  bool large_drained = totals.large_bytes < large_peak_bytes / PAGEHEAP_DRAIN_LARGE_FRACTION &&
                       large_peak_bytes >= inuse_peak_bytes / 2;
  if (HS_UNLIKELY(inuse_drained || large_drained) &&
      totals.free_bytes - totals.released_bytes - inflight_bytes >= PAGEHEAP_DRAIN_MIN_BYTES &&
      hs_options.release_on_drain) {
    /* The next drain of the same kind needs a new rise and fall. */
    if (inuse_drained) inuse_peak_bytes = in_use;
    if (large_drained) large_peak_bytes = totals.large_bytes;
    hs_relaxed_store(&drain_pending, 1);
  }
  hs_unlock(&pageheap_lock);
}

bool pageheap_drain_begin(bool force) {
  uint64_t now = pageheap_now_ns();
  hs_lock(&pageheap_lock);
  /* A heap that has not grown back since the last drain can be drained
   * again at once: there is nothing to refault. */
  bool regrown = regrown_bytes >= last_drain_bytes / 2;
  bool waited = now - last_drain_ns >= drain_backoff_ns;
  bool due = force || last_drain_ns == 0 || !regrown || waited;
  if (due) {
    /* Grown back: the last drain was a dip, so wait longer.  Not grown
     * back for a whole wait: it held, so wait less.  Not grown back, and
     * sooner: this drain is the same fall's (a teardown's last objects,
     * freed after its first drain), which says nothing either way; halving
     * the wait there undid every doubling: bench/suite/rebuild_loop, which
     * builds and frees 16,000 objects 2,000 times, drained 81 times and
     * took 17,006 minor faults; now 11 and 2,989. */
    if (last_drain_ns != 0 && regrown)
      drain_backoff_ns = HS_MIN(HS_MAX(2 * drain_backoff_ns, PAGEHEAP_DRAIN_BACKOFF_MIN_NS),
                                PAGEHEAP_DRAIN_BACKOFF_MAX_NS);
    else if (waited)
      drain_backoff_ns /= 2;
    drain_continues = last_drain_ns != 0 && !regrown;
    last_drain_ns = now;
    totals.drain_releases++;
  }
  hs_unlock(&pageheap_lock);
  return due;
}

static uint64_t release_runs(uint64_t max_bytes, uint64_t idle_before_ns, uint64_t keep_bytes,
                             size_t min_run_pages);

void pageheap_drain_finish(void) {
  hs_lock(&pageheap_lock);
  uint64_t in_use = totals.sys_bytes - totals.free_bytes;
  hs_unlock(&pageheap_lock);
  size_t min_run = in_use >= PAGEHEAP_DRAIN_SPARSE_INUSE_BYTES ? PAGEHEAP_DRAIN_MIN_RUN_PAGES : 1;
  uint64_t released = release_runs(UINT64_MAX, UINT64_MAX, in_use / 8, min_run);
  hs_lock(&pageheap_lock);
  if (drain_continues) {
    last_drain_bytes += released;
  } else {
    last_drain_bytes = released;
    regrown_bytes = 0;
  }
  hs_unlock(&pageheap_lock);
}

void pageheap_release_if_drained(void) {
  if (HS_LIKELY(!hs_relaxed_load(&drain_pending))) return;
  if (atomic_exchange_explicit(&drain_pending, 0, memory_order_relaxed) == 0) return;
  if (pageheap_drain_begin(false)) pageheap_drain_finish();
}

/* ---- Spans in mappings of their own (pageheap.h) ---- */

/* pre: the span's pages were just mapped or moved in: counts them and
 * labels them (false, nothing counted, if the page map cannot cover them). */
static bool add_alone_locked(span_t *span) {
  if (!pagemap_ensure_locked(span->first_page, span->page_count)) return false;
  pagemap_set_ends_locked(span);
  uint64_t bytes = span_bytes(span);
  totals.sys_bytes += bytes;
  totals.large_bytes += bytes;
  note_footprint_locked();
  return true;
}

static void remove_alone_locked(span_t *span) {
  pagemap_clear_ends_locked(span);
  uint64_t bytes = span_bytes(span);
  totals.sys_bytes -= bytes;
  totals.large_bytes -= bytes;
}

span_t *pageheap_alloc_mapped_alone(size_t pages) {
  uint64_t bytes = (uint64_t)pages << HS_PAGE_SHIFT;
  hs_lock(&pageheap_lock);
  if (HS_UNLIKELY(!lists_ready)) init_lists_locked();
  bool allowed = limit_allows_locked(bytes, false);
  hs_unlock(&pageheap_lock);
  void *mem = allowed ? os_map((size_t)bytes, HS_MAX(os_page_size(), (size_t)HS_PAGE_BYTES)) : NULL;
  if (!mem) {
    errno = ENOMEM;
    return NULL;
  }
  hs_lock(&pageheap_lock);
  span_t *span = new_record_locked();
  bool new_peak = false;
  if (span) {
    span->first_page = (uintptr_t)mem >> HS_PAGE_SHIFT;
    span->page_count = pages;
    if (add_alone_locked(span)) {
      span->state = SPAN_LARGE;
      span->size_class = 0;
      span->multiple_magic = size_class_multiple_magic[0];
      span->mapped_alone = 1;
      span->zeroed = 1;
      span->requested_bytes = bytes;
      totals.large_count++;
      span_list_push_front(&large_spans, span);
      new_peak = note_peaks_locked();
    } else {
      drop_record_locked(span);
      span = NULL;
    }
  }
  hs_unlock(&pageheap_lock);
  if (!span) {
    os_unmap(mem, (size_t)bytes);
    errno = ENOMEM;
    return NULL;
  }
  if (HS_UNLIKELY(new_peak)) call_peak_hook();
  return span;
}

bool pageheap_remap_alone(span_t *span, size_t pages) {
  uint64_t old_bytes = span_bytes(span), bytes = (uint64_t)pages << HS_PAGE_SHIFT;
  hs_lock(&pageheap_lock);
  bool allowed = bytes <= old_bytes || limit_allows_locked(bytes - old_bytes, false);
  hs_unlock(&pageheap_lock);
  void *old = span_start(span);
  void *moved = allowed ? os_remap(old, (size_t)old_bytes, (size_t)bytes) : NULL;
  if (!moved) {
    errno = ENOMEM;
    return false;
  }
  hs_lock(&pageheap_lock);
  remove_alone_locked(span);
  span->first_page = (uintptr_t)moved >> HS_PAGE_SHIFT;
  span->page_count = pages;
  bool added = add_alone_locked(span);
  if (!added) {
    /* The page map cannot cover the new place (its metadata refused):
     * put the pages back where they were, which is free address space
     * again, or give up on the process. */
    hs_unlock(&pageheap_lock);
    if (os_remap_to(moved, (size_t)bytes, (size_t)old_bytes, old) != old)
      hs_fatal_pointer("realloc", "cannot label a block mremap moved", moved);
    hs_lock(&pageheap_lock);
    span->first_page = (uintptr_t)old >> HS_PAGE_SHIFT;
    span->page_count = (size_t)(old_bytes >> HS_PAGE_SHIFT);
    add_alone_locked(span); /* its old leaves are there */
  }
  bool new_peak = added && note_peaks_locked();
  hs_unlock(&pageheap_lock);
  if (HS_UNLIKELY(new_peak)) call_peak_hook();
  if (!added) errno = ENOMEM;
  return added;
}

/* Frees mapped-alone `span`: unmaps it. */
static void free_alone(span_t *span) {
  void *mem = span_start(span);
  size_t bytes = span_bytes(span);
  hs_lock(&pageheap_lock);
  remove_alone_locked(span);
  totals.large_count--;
  span_list_remove(span);
  drop_record_locked(span); /* a record is zeroed when it is taken again */
  hs_unlock(&pageheap_lock);
  os_unmap(mem, bytes);
}

void pageheap_free_idle_since(span_t *span, uint64_t idle_since_ns) {
  free_span(span, idle_since_ns, false);
}

void pageheap_free(span_t *span) { free_span(span, idle_stamp_ns(), false); }

void pageheap_free_outgrown(span_t *span) {
  free_span(span, idle_stamp_ns(),
            span->state == SPAN_LARGE && span_bytes(span) >= PAGEHEAP_RELEASE_OUTGROWN_BYTES);
}

/* The free span right after `span`, if it has `need` pages to give. */
static span_t *free_span_after_locked(const span_t *span, size_t need) {
  span_t *right = span_at_page(span->first_page + span->page_count);
  if (!right || right->state != SPAN_FREE || right->releasing || right->page_count < need)
    return NULL;
  return right;
}

bool pageheap_grow_in_place(span_t *span, size_t new_pages) {
  bool grown = false, new_peak = false;
  hs_lock(&pageheap_lock);
  size_t need = new_pages - span->page_count;
  span_t *right = span->state == SPAN_LARGE && !span->mapped_alone && new_pages > span->page_count
                      ? free_span_after_locked(span, need)
                      : NULL;
  if (right && right->released) {
    /* Taking released pages grows the footprint.  Under a memory limit
     * that releases idle spans first, and a released piece coalesces with
     * its released neighbours, `right` among them: its record may be gone.
     * Look again. */
    right = limit_allows_locked((uint64_t)need << HS_PAGE_SHIFT, false)
                ? free_span_after_locked(span, need)
                : NULL;
  }
  if (right) {
    bool was_released = right->released;
    span_t *taken = take_locked(right, 0, need);
    if (taken) {
      span->page_count += need;
      pagemap_set_ends_locked(span);
      totals.large_bytes += (uint64_t)need << HS_PAGE_SHIFT;
      if (was_released) regrown_bytes += (uint64_t)need << HS_PAGE_SHIFT;
      new_peak = note_peaks_locked();
      drop_record_locked(taken);
      grown = true;
    }
  }
  hs_unlock(&pageheap_lock);
  if (HS_UNLIKELY(new_peak)) call_peak_hook();
  return grown;
}

/* pageheap_release, passing over the free runs that hold fewer than
 * `min_run_pages` normal pages (free_run_pages_locked). */
static uint64_t release_runs(uint64_t max_bytes, uint64_t idle_before_ns, uint64_t keep_bytes,
                             size_t min_run_pages) {
  uint64_t done = 0;
  /* The last span passed over for a short run, where the search resumes
   * (the idle list's sentinel: its start).  A release that takes it in
   * moves it back a span; a change to the list by another thread while the
   * lock is dropped sends the search back to the start. */
  span_t *passed = &idle_spans;
  hs_lock(&pageheap_lock);
  if (HS_UNLIKELY(!lists_ready)) init_lists_locked();
  while (done < max_bytes) {
    span_t *oldest = passed->idle_next;
    while (min_run_pages > 1 && oldest != &idle_spans && oldest->idle_since_ns <= idle_before_ns &&
           free_run_pages_locked(oldest) < min_run_pages) {
      passed = oldest;
      oldest = oldest->idle_next;
    }
    if (oldest == &idle_spans || oldest->idle_since_ns > idle_before_ns) break;
    uint64_t unreleased = totals.free_bytes - totals.released_bytes - inflight_bytes;
    if (unreleased <= keep_bytes) break;
    uint64_t chunk = HS_MIN(HS_MIN(unreleased - keep_bytes, max_bytes - done),
                            PAGEHEAP_RELEASE_CHUNK_BYTES);
    size_t pages = (size_t)HS_MIN((uint64_t)oldest->page_count, chunk >> HS_PAGE_SHIFT);
    if (pages == 0) break;
    span_t *piece = split_tail_locked(oldest, pages);
    if (!piece) break;
    uint64_t already = 0;
    absorb_budget_t budget = {idle_before_ns, (size_t)(chunk >> HS_PAGE_SHIFT) - pages,
                              PAGEHEAP_ABSORB_RELEASED_PAGES};
    pages += absorb_free_run_locked(piece, budget, &already, &passed);
    uint64_t changes = idle_list_changes;
    release_piece_locked(piece, already);
    if (idle_list_changes != changes) passed = &idle_spans;
    done += (uint64_t)pages << HS_PAGE_SHIFT;
  }
  hs_unlock(&pageheap_lock);
  return done;
}

uint64_t pageheap_release(uint64_t max_bytes, uint64_t idle_before_ns, uint64_t keep_bytes) {
  return release_runs(max_bytes, idle_before_ns, keep_bytes, 1);
}

uint64_t pageheap_release_all(void) { return pageheap_release(UINT64_MAX, UINT64_MAX, 0); }

uint64_t pageheap_set_limit(uint64_t bytes) {
  if (bytes == UINT64_MAX) bytes--;
  uint64_t old = atomic_exchange_explicit(&limit_bytes, bytes, memory_order_relaxed);
  if (old == UINT64_MAX) old = (uint64_t)hs_options.memory_limit_bytes;
  if (bytes) {
    hs_lock(&pageheap_lock);
    if (totals.sys_bytes - totals.released_bytes >= bytes / 2)
      hs_relaxed_store(&pageheap_scavenger_wanted, 1);
    hs_unlock(&pageheap_lock);
  }
  return old;
}
uint64_t pageheap_limit(void) {
  uint64_t limit = hs_relaxed_load(&limit_bytes);
  return limit == UINT64_MAX ? (uint64_t)hs_options.memory_limit_bytes : limit;
}
bool pageheap_limit_is_hard(void) { return hs_options.memory_limit_mode == 1; }
void pageheap_set_reclaim_hook(void (*hook)(void)) {
  atomic_store_explicit(&reclaim_hook, hook, memory_order_release);
}
void pageheap_set_limit_hook(void (*hook)(void)) {
  atomic_store_explicit(&limit_hook, hook, memory_order_release);
}
void pageheap_use_huge_pages(void) {
  hs_lock(&pageheap_lock);
  if (!huge_pages) {
    huge_pages = true;
    /* A region partly unmapped at an address-space limit makes madvise
     * fail on its hole; the rest is advised all the same. */
    for (int i = 0; i < tracked_region_count; i++)
      os_advise_huge_pages(tracked_regions[i].start, tracked_regions[i].bytes);
  }
  hs_unlock(&pageheap_lock);
}

void pageheap_set_peak_hook(void (*hook)(void)) {
  hs_lock(&pageheap_lock);
  atomic_store_explicit(&peak_hook, hook, memory_order_release);
  uint64_t in_use = totals.sys_bytes - totals.free_bytes;
  peak_next_bytes = HS_MAX(PAGEHEAP_PEAK_FIRST_BYTES, in_use + in_use / PAGEHEAP_PEAK_STEP_FRACTION);
  hs_unlock(&pageheap_lock);
}

void pageheap_read_stats(pageheap_stats_t *out) {
  hs_lock(&pageheap_lock);
  if (HS_UNLIKELY(!lists_ready)) init_lists_locked();
  *out = totals;
  uint64_t requested = 0, spares = 0, spare_bytes = 0;
  uint64_t packs = 0, pack_bytes = 0, pack_requested = 0;
  for (span_t *s = large_spans.next; s != &large_spans; s = s->next) {
    /* requested_bytes and sample_spare are written by the owner without
     * this lock.  A spare is marked before its requested_bytes is zeroed
     * and unmarked before it is set, so a span counted as a spare adds no
     * request and one that is not adds at most its size. */
    if (__atomic_load_n(&s->sample_spare, __ATOMIC_ACQUIRE)) {
      spares++;
      spare_bytes += span_bytes(s);
      continue;
    }
    /* A pack's record is published after its requested_bytes is zeroed
     * (samplepack.c), so a span read as a pack counts only its samples. */
    bool pack = __atomic_load_n(&s->sample_pack, __ATOMIC_ACQUIRE) != NULL;
    uint64_t r = HS_MIN(__atomic_load_n(&s->requested_bytes, __ATOMIC_RELAXED),
                        (uint64_t)span_bytes(s));
    requested += r;
    if (pack) {
      packs++;
      pack_bytes += span_bytes(s);
      pack_requested += r;
    }
  }
  out->large_requested_bytes = requested;
  out->sample_packs = packs;
  out->sample_pack_bytes = pack_bytes;
  out->sample_pack_requested_bytes = pack_requested;
  out->sample_spares = spares;
  out->sample_spare_bytes = spare_bytes;
  out->oldest_idle_ns = idle_spans.idle_next != &idle_spans ? idle_spans.idle_next->idle_since_ns : 0;
  hs_unlock(&pageheap_lock);
}

void pageheap_fork_prepare(void) { hs_lock(&pageheap_lock); }
void pageheap_fork_parent(void) { hs_unlock(&pageheap_lock); }

void pageheap_fork_child(void) {
  hs_lock_reset(&pageheap_lock);
  /* A span some vanished thread was releasing with the lock dropped is
   * whole in the child (its madvise, if any, happened in the parent after
   * the copy): file it back as normal free memory. */
  for (int slot = 0; slot < PAGEHEAP_INFLIGHT_SLOTS; slot++) {
    span_t *span = inflight[slot];
    if (!span) continue;
    inflight[slot] = NULL;
    inflight_bytes -= span_bytes(span) - inflight_released[slot];
    totals.released_bytes -= inflight_released[slot]; /* now counted as normal */
    note_footprint_locked();
    span->releasing = 0;
    span->released = 0;
    span->zeroed = 0;
    coalesce_and_insert_locked(span);
  }
}
