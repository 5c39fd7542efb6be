/* unwind_test.c — the CFI unwinder against the compiler's own idea of the
 * stack: each level of a non-inlined recursion (built without frame
 * pointers) records __builtin_return_address(0); the capture at the bottom
 * must list exactly those addresses, innermost first, and the boundary must
 * cut off everything below the given frame.  Also prints the cost per
 * capture at ~30 frames (a figure, not an assertion). */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

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

__attribute__((noinline)) static int capture_here(int boundary_mode) {
  uintptr_t boundary = boundary_mode ? (uintptr_t)__builtin_dwarf_cfa() : 0;
  captured_depth = unwind_capture(captured, 128, boundary);
  if (timing_runs) {
    double start = now_ns();
    for (int i = 0; i < timing_runs; i++) captured_depth = unwind_capture(captured, 128, 0);
    timing_ns = (now_ns() - start) / timing_runs;
  }
  return captured_depth;
}

__attribute__((noinline)) static int recurse(int level, int boundary_mode) {
  expected[level] = (uintptr_t)__builtin_return_address(0);
  int r = level == 0 ? capture_here(boundary_mode) : recurse(level - 1, boundary_mode);
  sink += r; /* not a tail call */
  return r + 1;
}

int main(void) {
  unwind_warm_up();
  recurse(LEVELS, 0);
  /* With no boundary: captured[0] returns into capture_here (from the
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

  /* With a boundary at capture_here's CFA, its own return address (into
   * recurse level 0) is the first frame kept: nothing inside is listed. */
  recurse(LEVELS, 1);
  CHECK_MSG(captured_depth >= 1, "boundary capture found no frames");
  if (captured_depth >= 2)
    CHECK_MSG(captured[1] == expected[0], "boundary: frame 1 is %#lx, want %#lx",
              (unsigned long)captured[1], (unsigned long)expected[0]);

  /* Cost per capture at the bottom of the recursion (printed, not
   * asserted: timing on a shared machine is a figure, not a test). */
  timing_runs = testlib_quick() ? 1000 : 100000;
  recurse(LEVELS, 0);
  double per = timing_ns;
  printf("unwind_test: %d frames per capture, %.0f ns per capture (%.1f ns per frame)\n",
         captured_depth, per, per / (captured_depth ? captured_depth : 1));
  return testlib_done();
}
