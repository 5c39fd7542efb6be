/* pageheap.c — free-span lists, carving, coalescing and growth.
 *
 * Free spans sit on one of two sets of lists: "normal" (pages may be
 * resident) and "released" (returned to the OS with MADV_DONTNEED, so they
 * read back as zeros and cost no RSS).  Each set has an exact list for every
 * length of 1..PAGEHEAP_EXACT_PAGES pages and one list for longer spans
 * (best fit).  Allocation prefers normal spans of any length over released
 * ones, so released pages are reused last.  Spans merge only with neighbours
 * in the same set, which keeps every free span wholly released or not and
 * the statistics exact.
 *
 * Every page of every span — free or not — points at its span in the page
 * map, so free() can reject pointers into free memory.  A split keeps the
 * record of the longer remainder, a merge keeps the record of the longer
 * side, so relabelling costs O(pages of the shorter piece).
 *
 * Guarded by pageheap_lock.  May call: pagemap, metadata, os, base. */
#include "pageheap.h"

#include <errno.h>
#include <string.h>

#include "metadata.h"
#include "os.h"
#include "pagemap.h"

#define PAGEHEAP_EXACT_PAGES 128
/* Address space is taken from the OS in regions of at least this size,
 * aligned to 2 MiB so huge pages can back them when the kernel wants to. */
#define PAGEHEAP_REGION_BYTES ((size_t)64 << 20)
#define PAGEHEAP_REGION_ALIGN ((size_t)2 << 20)

typedef struct free_set {
  span_t exact[PAGEHEAP_EXACT_PAGES + 1]; /* [n]: spans of exactly n pages */
  span_t longer;                          /* spans of more pages */
  uint64_t nonempty[2];                   /* bit n-1: exact[n] nonempty */
} free_set_t;

static hs_lock_t pageheap_lock;
static bool lists_ready;           /* guarded by pageheap_lock */
static free_set_t normal_spans;    /* guarded by pageheap_lock */
static free_set_t released_spans;  /* guarded by pageheap_lock */
static span_t *spare_records;      /* recycled span records, via ->next */
static pageheap_stats_t totals;    /* guarded by pageheap_lock */

static void init_lists_locked(void) {
  free_set_t *sets[2] = {&normal_spans, &released_spans};
  for (int s = 0; s < 2; s++) {
    for (int n = 0; n <= PAGEHEAP_EXACT_PAGES; n++) span_list_init(&sets[s]->exact[n]);
    span_list_init(&sets[s]->longer);
  }
  lists_ready = true;
}

static span_t *new_record_locked(void) {
  span_t *span = spare_records;
  if (span) {
    spare_records = span->next;
    memset(span, 0, sizeof *span);
    return span;
  }
  return metadata_alloc(sizeof(span_t));
}

static void drop_record_locked(span_t *span) {
  span->next = spare_records;
  spare_records = span;
}

static free_set_t *set_of(const span_t *span) {
  return span->released ? &released_spans : &normal_spans;
}

static void insert_locked(span_t *span) {
  free_set_t *set = set_of(span);
  size_t n = span->page_count;
  if (n <= PAGEHEAP_EXACT_PAGES) {
    span_list_push_front(&set->exact[n], span);
    set->nonempty[(n - 1) >> 6] |= (uint64_t)1 << ((n - 1) & 63);
  } else {
    span_list_push_front(&set->longer, span);
  }
  totals.free_spans++;
}

static void remove_locked(span_t *span) {
  free_set_t *set = set_of(span);
  size_t n = span->page_count;
  span_list_remove(span);
  if (n <= PAGEHEAP_EXACT_PAGES && span_list_empty(&set->exact[n]))
    set->nonempty[(n - 1) >> 6] &= ~((uint64_t)1 << ((n - 1) & 63));
  totals.free_spans--;
}

/* The shortest span of at least `pages` pages in `set`, or NULL. */
static span_t *find_in_set_locked(free_set_t *set, size_t pages) {
  if (pages <= PAGEHEAP_EXACT_PAGES) {
    for (size_t word = (pages - 1) >> 6; word < 2; word++) {
      uint64_t bits = set->nonempty[word];
      if (word == (pages - 1) >> 6) bits &= ~(uint64_t)0 << ((pages - 1) & 63);
      if (bits) return set->exact[word * 64 + (size_t)__builtin_ctzll(bits) + 1].next;
    }
  }
  span_t *best = NULL;
  for (span_t *s = set->longer.next; s != &set->longer; s = s->next) {
    if (s->page_count >= pages &&
        (!best || s->page_count < best->page_count ||
         (s->page_count == best->page_count && s->first_page < best->first_page)))
      best = s;
  }
  return best;
}

/* Merges `span` (free, not on a list, pages labelled) with free neighbours
 * of the same set and puts the result on its list. */
static void coalesce_and_insert_locked(span_t *span) {
  span_t *left = pagemap_span_of((void *)((span->first_page - 1) << HS_PAGE_SHIFT));
  if (left && left->state == SPAN_FREE && left->released == span->released) {
    remove_locked(left);
    if (left->page_count >= span->page_count) {
      pagemap_set_range_locked(span->first_page, span->page_count, left, 0);
      left->page_count += span->page_count;
      left->zeroed &= span->zeroed;
      drop_record_locked(span);
      span = left;
    } else {
      pagemap_set_range_locked(left->first_page, left->page_count, span, 0);
      span->first_page = left->first_page;
      span->page_count += left->page_count;
      span->zeroed &= left->zeroed;
      drop_record_locked(left);
    }
  }
  span_t *right = pagemap_span_of((void *)((span->first_page + span->page_count) << HS_PAGE_SHIFT));
  if (right && right->state == SPAN_FREE && right->released == span->released) {
    remove_locked(right);
    if (right->page_count > span->page_count) {
      pagemap_set_range_locked(span->first_page, span->page_count, right, 0);
      right->first_page = span->first_page;
      right->page_count += span->page_count;
      right->zeroed &= span->zeroed;
      drop_record_locked(span);
      span = right;
    } else {
      pagemap_set_range_locked(right->first_page, right->page_count, span, 0);
      span->page_count += right->page_count;
      span->zeroed &= right->zeroed;
      drop_record_locked(right);
    }
  }
  insert_locked(span);
}

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
  if (!mem) return false;
  span_t *span = new_record_locked();
  if (!span) return false;
  span->first_page = (uintptr_t)mem >> HS_PAGE_SHIFT;
  span->page_count = bytes >> HS_PAGE_SHIFT;
  if (!pagemap_ensure_locked(span->first_page, span->page_count)) {
    drop_record_locked(span);
    return false;
  }
  span->state = SPAN_FREE;
  span->released = 1; /* never touched: not resident, reads as zero */
  span->zeroed = 1;
  pagemap_set_span_locked(span, 0);
  totals.sys_bytes += bytes;
  totals.free_bytes += bytes;
  totals.released_bytes += bytes;
  coalesce_and_insert_locked(span);
  return true;
}

/* Takes pages [offset, offset + pages) of free span `span` (on a list) and
 * returns them as a new span; the pieces before and after go back to the
 * free lists. */
static span_t *take_locked(span_t *span, size_t offset, size_t pages) {
  remove_locked(span);
  span_t *taken = span;
  if (offset > 0 || pages < span->page_count) {
    taken = new_record_locked();
    if (!taken) { insert_locked(span); return NULL; }
    taken->first_page = span->first_page + offset;
    taken->page_count = pages;
    taken->released = span->released;
    taken->zeroed = span->zeroed;
    if (offset > 0) {
      span_t *head = new_record_locked();
      if (!head) { drop_record_locked(taken); insert_locked(span); return NULL; }
      *head = *span;
      head->page_count = offset;
      pagemap_set_range_locked(head->first_page, offset, head, 0);
      insert_locked(head);
    }
    size_t tail_pages = span->page_count - offset - pages;
    if (tail_pages > 0) {
      span->first_page = taken->first_page + pages;
      span->page_count = tail_pages;
      insert_locked(span);
    } else {
      drop_record_locked(span);
    }
  }
  uint64_t bytes = (uint64_t)pages << HS_PAGE_SHIFT;
  totals.free_bytes -= bytes;
  if (taken->released) totals.released_bytes -= bytes;
  taken->released = 0;
  return taken;
}

span_t *pageheap_alloc(size_t pages, size_t align_pages, uint8_t state, uint8_t size_class) {
  hs_lock(&pageheap_lock);
  if (HS_UNLIKELY(!lists_ready)) init_lists_locked();
  size_t search = pages + align_pages - 1;
  span_t *found = NULL;
  if (search >= pages) {
    found = find_in_set_locked(&normal_spans, search);
    if (!found) found = find_in_set_locked(&released_spans, search);
    if (!found && grow_locked(pages, align_pages)) {
      found = find_in_set_locked(&normal_spans, search);
      if (!found) found = find_in_set_locked(&released_spans, search);
    }
  }
  span_t *span = NULL;
  if (found) {
    size_t offset = ((found->first_page + align_pages - 1) & ~(align_pages - 1)) - found->first_page;
    span = take_locked(found, offset, pages);
  }
  if (span) {
    span->state = state;
    span->size_class = size_class;
    pagemap_set_span_locked(span, size_class);
    if (state == SPAN_LARGE) {
      totals.large_bytes += (uint64_t)pages << HS_PAGE_SHIFT;
      totals.large_count++;
    }
  }
  hs_unlock(&pageheap_lock);
  if (!span) errno = ENOMEM;
  return span;
}

void pageheap_free(span_t *span) {
  hs_lock(&pageheap_lock);
  if (span->state == SPAN_LARGE) {
    totals.large_bytes -= span_bytes(span);
    totals.large_count--;
  }
  span->state = SPAN_FREE;
  span->size_class = 0;
  span->zeroed = 0;
  span->released = 0;
  span->on_list = 0;
  span->free_list = NULL;
  totals.free_bytes += span_bytes(span);
  pagemap_set_span_locked(span, 0);
  coalesce_and_insert_locked(span);
  hs_unlock(&pageheap_lock);
}

/* Returns one normal free span's pages to the OS and moves it to the
 * released set.  Only whole OS pages inside the span are released; when the
 * OS page is larger than ours the edges stay resident (and not zeroed). */
static void release_span_locked(span_t *span) {
  remove_locked(span);
  size_t os_page = os_page_size();
  uintptr_t start = ((uintptr_t)span_start(span) + os_page - 1) & ~(uintptr_t)(os_page - 1);
  uintptr_t end = ((uintptr_t)span_start(span) + span_bytes(span)) & ~(uintptr_t)(os_page - 1);
  if (end > start) os_release((void *)start, end - start);
  span->zeroed = (start == (uintptr_t)span_start(span) && end == start + span_bytes(span));
  span->released = 1;
  totals.released_bytes += span_bytes(span);
  coalesce_and_insert_locked(span);
}

uint64_t pageheap_release_all(void) {
  hs_lock(&pageheap_lock);
  if (HS_UNLIKELY(!lists_ready)) init_lists_locked();
  uint64_t before = totals.released_bytes;
  for (int n = 1; n <= PAGEHEAP_EXACT_PAGES; n++)
    while (!span_list_empty(&normal_spans.exact[n])) release_span_locked(normal_spans.exact[n].next);
  while (!span_list_empty(&normal_spans.longer)) release_span_locked(normal_spans.longer.next);
  uint64_t released = totals.released_bytes - before;
  hs_unlock(&pageheap_lock);
  return released;
}

void pageheap_read_stats(pageheap_stats_t *out) {
  hs_lock(&pageheap_lock);
  *out = totals;
  hs_unlock(&pageheap_lock);
}

void pageheap_fork_prepare(void) { hs_lock(&pageheap_lock); }
void pageheap_fork_parent(void) { hs_unlock(&pageheap_lock); }
void pageheap_fork_child(void) { hs_lock_reset(&pageheap_lock); }
