/* pageheap_release_test.c — how the page heap gives free pages back to the
 * OS (src/pageheap.c), on spans taken from it directly:
 *  1. A release covers the whole run of free spans around the span it
 *     starts from, released ones between included: it counts only the
 *     pages that were not released yet, leaves no free page resident, and
 *     never touches the span in use that ends the run.
 *  2. While the heap still has more than 2 MiB in use, a drain passes over
 *     free runs too short to be worth a madvise (1-page spans between spans
 *     in use) and releases the long ones; once the spans between them are
 *     freed too, the joined run is released.
 *  3. A drain that passed over a short run and then takes that run's span
 *     into a longer one (the walk from each side spends its budget of
 *     released pages differently) resumes its search safely: the span it
 *     would have resumed after is gone.
 *  4. A span freed now is stamped idle now, by the scavenger's clock: no
 *     later than it reads after the free, and no more than the coarse
 *     clock's lag (a tick, or a few) before it read before the free.
 * Residency is read with mincore(2). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pageheap.h"
#include "pagemap.h"
#include "testlib.h"

enum { CANDIDATES = 512 };

static uint64_t released_total(void) {
  pageheap_stats_t stats;
  pageheap_read_stats(&stats);
  return stats.released_total_bytes;
}

/* Resident OS pages in [start, start + bytes). */
static size_t resident_pages(const void *start, size_t bytes) {
  size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
  size_t count = bytes / os_page, resident = 0;
  unsigned char vector[256];
  for (size_t done = 0; done < count;) {
    size_t n = count - done < sizeof vector ? count - done : sizeof vector;
    if (mincore((char *)start + done * os_page, n * os_page, vector) != 0) return (size_t)-1;
    for (size_t i = 0; i < n; i++) resident += vector[i] & 1;
    done += n;
  }
  return resident;
}

static int by_first_page(const void *a, const void *b) {
  uintptr_t x = (*(span_t *const *)a)->first_page, y = (*(span_t *const *)b)->first_page;
  return x < y ? -1 : x > y;
}

/* Takes CANDIDATES one-page spans and finds `count` of them side by side
 * (out[0..count)); frees the others.  False if there was no such run. */
static bool adjacent_one_page_spans(span_t **out, size_t count) {
  span_t *taken[CANDIDATES];
  for (int i = 0; i < CANDIDATES; i++) {
    taken[i] = pageheap_alloc(1, 1, SPAN_LARGE, 0);
    if (!CHECK(taken[i] != NULL)) return false;
  }
  qsort(taken, CANDIDATES, sizeof taken[0], by_first_page);
  size_t start = 0;
  bool found = false;
  for (size_t i = 1; i < CANDIDATES && !found; i++) {
    if (taken[i]->first_page != taken[i - 1]->first_page + 1) start = i;
    if (i + 1 - start == count) found = true;
  }
  for (size_t i = 0; i < CANDIDATES; i++) {
    if (found && i >= start && i < start + count) out[i - start] = taken[i];
    else pageheap_free(taken[i]);
  }
  return found;
}

/* Checks that every byte of the page at `page` is `value`. */
static bool page_holds(const unsigned char *page, unsigned char value) {
  for (size_t i = 0; i < HS_PAGE_BYTES; i++)
    if (page[i] != value) return false;
  return true;
}

TEST(release_covers_the_free_run) {
  enum { RUN_PAGES = 64 };
  span_t *spans[RUN_PAGES];
  if (!CHECK_MSG(adjacent_one_page_spans(spans, RUN_PAGES), "no %d adjacent one-page spans", RUN_PAGES)) return;
  unsigned char *start = span_start(spans[0]);
  for (int i = 0; i < RUN_PAGES; i++) memset(span_start(spans[i]), i + 1, HS_PAGE_BYTES);
  pageheap_release_all(); /* whatever else was free */
  /* Every other span free and released, each on its own between spans in
   * use. */
  for (int i = 0; i < RUN_PAGES; i += 2) pageheap_free(spans[i]);
  uint64_t before = released_total();
  pageheap_release_all();
  CHECK_MSG(released_total() - before == (uint64_t)RUN_PAGES / 2 * HS_PAGE_BYTES,
            "released %llu bytes of %d free one-page spans",
            (unsigned long long)(released_total() - before), RUN_PAGES / 2);
  /* Now the spans between them, but the last: one run of RUN_PAGES - 1 pages,
   * half of them released already, ended by the span still in use. */
  for (int i = 1; i < RUN_PAGES - 1; i += 2) pageheap_free(spans[i]);
  before = released_total();
  pageheap_release_all();
  uint64_t released = released_total() - before;
  CHECK_MSG(released == (uint64_t)(RUN_PAGES / 2 - 1) * HS_PAGE_BYTES,
            "released %llu bytes, want the %d pages not released before",
            (unsigned long long)released, RUN_PAGES / 2 - 1);
  size_t resident = resident_pages(start, (RUN_PAGES - 1) * HS_PAGE_BYTES);
  CHECK_MSG(resident == 0, "%zu OS pages of the released run are resident", resident);
  span_t *run = pagemap_span_holding(start);
  CHECK(run != NULL && run->state == SPAN_FREE && run->released);
  CHECK(run != NULL && run->page_count >= RUN_PAGES - 1);
  CHECK_MSG(page_holds(span_start(spans[RUN_PAGES - 1]), RUN_PAGES), "the span in use after the run lost data");
  pageheap_free(spans[RUN_PAGES - 1]);
}

TEST(drain_passes_over_short_runs_while_the_heap_is_in_use) {
  enum { FRAGMENTS = 33, LONG_PAGES = 256 };
  span_t *in_use = pageheap_alloc(512, 1, SPAN_LARGE, 0); /* 4 MiB in use */
  span_t *spans[FRAGMENTS];
  if (!CHECK(in_use != NULL)) return;
  if (!CHECK_MSG(adjacent_one_page_spans(spans, FRAGMENTS), "no %d adjacent one-page spans",
                 FRAGMENTS))
    return;
  unsigned char *start = span_start(spans[0]);
  for (int i = 0; i < FRAGMENTS; i++) memset(span_start(spans[i]), 0xA5, HS_PAGE_BYTES);
  pageheap_release_all();
  /* The oldest free pages: one-page runs between spans in use. */
  for (int i = 0; i < FRAGMENTS; i += 2) pageheap_free(spans[i]);
  /* Newer: one long run. */
  span_t *long_span = pageheap_alloc(LONG_PAGES, 1, SPAN_LARGE, 0);
  if (!CHECK(long_span != NULL)) return;
  memset(span_start(long_span), 0x5A, span_bytes(long_span));
  pageheap_free(long_span);
  uint64_t before = released_total();
  pageheap_drain_finish();
  CHECK_MSG(released_total() > before, "the drain released nothing");
  for (int i = 0; i < FRAGMENTS; i += 2) {
    size_t resident = resident_pages(start + (size_t)i * HS_PAGE_BYTES, HS_PAGE_BYTES);
    CHECK_MSG(resident == HS_PAGE_BYTES / (size_t)sysconf(_SC_PAGESIZE),
              "one-page run %d was released while the heap had 4 MiB in use", i);
  }
  /* The spans between them go too, and so does the 4 MiB: the run joined
   * up, the heap is nearly empty, and the next drain releases it. */
  for (int i = 1; i < FRAGMENTS; i += 2) pageheap_free(spans[i]);
  pageheap_free(in_use);
  pageheap_drain_finish();
  size_t resident = resident_pages(start, FRAGMENTS * HS_PAGE_BYTES);
  CHECK_MSG(resident == 0, "%zu OS pages of the joined run are still resident", resident);
}

TEST(drain_takes_in_a_span_it_passed_over) {
  /* Pages, left to right: a guard in use; A, 128 pages released; P, one
   * page not released, the oldest free span; B, 8 pages released; X, 16
   * pages not released; a guard in use.  From P the walk spends its 128
   * released pages on A and stops at B: a run of 1, passed over.  From X
   * it takes B and P, and stops at A: 17, released with P in it. */
  enum { A_PAGES = 128, B_PAGES = 8, X_PAGES = 16 };
  enum { P_AT = 1 + A_PAGES, B_AT = P_AT + 1, X_AT = B_AT + B_PAGES, GUARD_AT = X_AT + X_PAGES };
  enum { SPANS = GUARD_AT + 1 };
  span_t *in_use = pageheap_alloc(512, 1, SPAN_LARGE, 0); /* 4 MiB in use */
  span_t *spans[SPANS];
  if (!CHECK(in_use != NULL)) return;
  if (!CHECK_MSG(adjacent_one_page_spans(spans, SPANS), "no %d adjacent one-page spans", SPANS))
    return;
  unsigned char *start = span_start(spans[0]);
  for (int i = 0; i < SPANS; i++) memset(span_start(spans[i]), 0x3C, HS_PAGE_BYTES);
  for (int i = 1; i < P_AT; i++) pageheap_free(spans[i]);
  for (int i = B_AT; i < X_AT; i++) pageheap_free(spans[i]);
  pageheap_release_all(); /* A and B, and whatever else was free */
  pageheap_free(spans[P_AT]);
  for (int i = X_AT; i < GUARD_AT; i++) pageheap_free(spans[i]);
  /* Enough free pages not yet released that the drain gets past X. */
  span_t *more = pageheap_alloc(256, 1, SPAN_LARGE, 0);
  if (!CHECK(more != NULL)) return;
  memset(span_start(more), 0x5A, span_bytes(more));
  pageheap_free(more);
  pageheap_drain_finish();
  size_t resident = resident_pages(start + (size_t)P_AT * HS_PAGE_BYTES,
                                   (size_t)(GUARD_AT - P_AT) * HS_PAGE_BYTES);
  CHECK_MSG(resident == 0, "%zu OS pages of P, B and X are resident after the drain", resident);
  CHECK_MSG(page_holds(span_start(spans[0]), 0x3C) && page_holds(span_start(spans[GUARD_AT]), 0x3C),
            "a guard in use lost data");
  pageheap_free(spans[0]);
  pageheap_free(spans[GUARD_AT]);
  pageheap_free(in_use);
}

TEST(free_stamps_idle_now) {
  enum { ROUNDS = 200 };
  /* The coarse clock lags by up to a tick, or a few (Linux forces an
   * update after 5 stalled jiffies) when the host holds up the CPU that
   * keeps time. */
  const uint64_t slack_ns = 100000000;
  span_t *spans[3];
  for (int round = 0; round < ROUNDS; round++) {
    /* The middle span of three side by side: its neighbours are in use,
     * so it stays a span of its own, whose stamp can be read back. */
    if (!CHECK_MSG(adjacent_one_page_spans(spans, 3), "no 3 adjacent one-page spans")) return;
    uint64_t before = pageheap_now_ns();
    pageheap_free(spans[1]);
    uint64_t after = pageheap_now_ns();
    uint64_t stamp = spans[1]->idle_since_ns;
    bool ok = CHECK_MSG(spans[1]->state == SPAN_FREE && stamp + slack_ns >= before && stamp <= after,
                        "round %d: span freed between %llu and %llu ns stamped idle since %llu",
                        round, (unsigned long long)before, (unsigned long long)after,
                        (unsigned long long)stamp);
    pageheap_free(spans[0]);
    pageheap_free(spans[2]);
    if (!ok) return;
    usleep(round % 7 * 300); /* land at different points of the tick */
  }
}

int main(void) {
  RUN(release_covers_the_free_run);
  RUN(drain_passes_over_short_runs_while_the_heap_is_in_use);
  RUN(drain_takes_in_a_span_it_passed_over);
  RUN(free_stamps_idle_now);
  return testlib_done();
}
