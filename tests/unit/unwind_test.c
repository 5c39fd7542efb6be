/* unwind_test.c — the CFI unwinder against the compiler's own idea of the
 * stack: each level of a non-inlined recursion (built without frame
 * pointers) records __builtin_return_address(0); the capture at the bottom
 * must list exactly those addresses, innermost first.  (The sampler's
 * capture, which starts above heapscope's own frames, is
 * unwind_caller_test's.)  Then captures from 64 call
 * sites laid out over 8 KiB of code: each must list a return address into
 * its own site, then the one into its caller, and the rule cache must stay
 * dense (a page of it covers 4 KiB of code; at one page per KiB of code
 * these sites made 7-8 pages resident).  Also prints the cost per capture at ~30 frames (a figure,
 * not an assertion). */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "unwind.h"

#define LEVELS 28

static uintptr_t expected[LEVELS + 1];
static uintptr_t captured[128];
static int captured_depth;
static volatile int sink;
static int timing_runs;
static double timing_ns;

static double now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

__attribute__((noinline)) static int capture_here(void) {
  captured_depth = unwind_capture(captured, 128);
  if (timing_runs) {
    double start = now_ns();
    for (int i = 0; i < timing_runs; i++) captured_depth = unwind_capture(captured, 128);
    timing_ns = (now_ns() - start) / timing_runs;
  }
  return captured_depth;
}

__attribute__((noinline)) static int recurse(int level) {
  expected[level] = (uintptr_t)__builtin_return_address(0);
  int r = level == 0 ? capture_here() : recurse(level - 1);
  sink += r; /* not a tail call */
  return r + 1;
}

/* 64 capture sites, each function 128-byte aligned: 8 KiB of code.  Site
 * site_AB (A, B in 0..7) is number 8 * A + B. */
enum { SITES = 64 };
static uintptr_t site_expected[SITES];
#define SITE(name, n)                                                             \
  __attribute__((noinline, aligned(128))) static void site_##name(void) {       \
    captured_depth = unwind_capture(captured, 128);                              \
    site_expected[n] = (uintptr_t)__builtin_return_address(0);                  \
    sink += captured_depth;                                                      \
  }
#define SITES8(a)                                                                       \
  SITE(a##0, 8 * a + 0) SITE(a##1, 8 * a + 1) SITE(a##2, 8 * a + 2) SITE(a##3, 8 * a + 3) \
  SITE(a##4, 8 * a + 4) SITE(a##5, 8 * a + 5) SITE(a##6, 8 * a + 6) SITE(a##7, 8 * a + 7)
SITES8(0) SITES8(1) SITES8(2) SITES8(3) SITES8(4) SITES8(5) SITES8(6) SITES8(7)
#define SITE_PTR8(a) site_##a##0, site_##a##1, site_##a##2, site_##a##3, \
                     site_##a##4, site_##a##5, site_##a##6, site_##a##7
static void (*const sites[SITES])(void) = {SITE_PTR8(0), SITE_PTR8(1), SITE_PTR8(2), SITE_PTR8(3),
                                           SITE_PTR8(4), SITE_PTR8(5), SITE_PTR8(6), SITE_PTR8(7)};

/* Calls every site; returns how many captures listed first a return
 * address inside their own site (its 128 bytes), then the site's own
 * return address. */
static int capture_at_sites(void) {
  int right = 0;
  for (int i = 0; i < SITES; i++) {
    sites[i]();
    uintptr_t start = (uintptr_t)sites[i];
    right += captured_depth >= 2 && captured[0] >= start && captured[0] < start + 128 &&
             captured[1] == site_expected[i];
  }
  return right;
}

int main(void) {
  unwind_warm_up();
  recurse(LEVELS);
  /* captured[0] returns into capture_here (from the
   * unwinder), captured[1] into recurse(0), then each recurse level's
   * return address, innermost first. */
  CHECK_MSG(captured_depth >= LEVELS + 4, "captured %d frames, want at least %d", captured_depth,
            LEVELS + 4);
  for (int level = 0; level <= LEVELS && level + 2 < captured_depth; level++)
    CHECK_MSG(captured[level + 2] == expected[level], "frame %d: got %#lx want %#lx", level + 2,
              (unsigned long)captured[level + 2], (unsigned long)expected[level]);
  /* The walk reaches main and beyond (libc's start code). */
  uintptr_t main_ra = expected[LEVELS];
  int found_main = 0;
  for (int i = 0; i < captured_depth; i++) found_main |= captured[i] == main_ra;
  CHECK_MSG(found_main, "the return address into main is missing");

  /* 64 sites over 8 KiB of code: each capture's first frame lies in its
   * own site, and the rule-cache entries of all of them take few pages
   * (the table is 2-way, a set per 32 bytes of code).  The frames below
   * the sites (main's, libc's) were cached by the captures above.  The
   * count is of anonymous pages: reading the sites' unwind tables faults
   * in this program's file pages, a fault-around window at a time (once
   * 10 pages in all where the limit is 4, in a clean-clone CI run). */
  testlib_anonymous_pages(); /* its own first use of stdio and malloc */
  long before = testlib_anonymous_pages();
  int right = capture_at_sites();
  long grown = testlib_anonymous_pages() - before;
  CHECK_MSG(right == SITES, "%d of %d sites listed their own frames first", right, SITES);
  /* 8 KiB of code takes 8 KiB of sets; one page more where they start
   * mid-page, one more if the code straddles two 64 KiB stretches. */
  long page = sysconf(_SC_PAGESIZE);
  long limit = 8192 / page + 2;
  CHECK_MSG(before > 0 && grown <= limit, "64 sites made %ld pages resident (limit %ld)", grown,
            limit);
  printf("unwind_test: 64 call sites over 8 KiB of code, rule-cache pages made resident: %ld\n",
         grown);

  /* Cost per capture at the bottom of the recursion (printed, not
   * asserted: timing on a shared machine is a figure, not a test). */
  timing_runs = testlib_quick() ? 1000 : 100000;
  recurse(LEVELS);
  double per = timing_ns;
  printf("unwind_test: %d frames per capture, %.0f ns per capture (%.1f ns per frame)\n",
         captured_depth, per, per / (captured_depth ? captured_depth : 1));
  return testlib_done();
}
