/* unwind_startup_test.c — a library the program was linked with (zlib,
 * listed by the loader when heapscope started) is never unloaded, so a
 * capture through its frames makes no dl_iterate_phdr call once the rules
 * are cached, and still walks on to the function that called into it
 * (src/unwind.c, unwind_note_startup_modules).  A library dlopen'ed later
 * still asks the loader: unwind_loader_test.c.  The loader's calls are
 * counted per thread (loader_calls.h). */
#include <stdint.h>
#include <zlib.h>

#include "heapscope.h"
#include "loader_calls.h"
#include "testlib.h"
#include "unwind.h"

enum { MAX_FRAMES = 64 };

static uintptr_t frames[MAX_FRAMES];
static int depth;

static void *allocate_capturing(void *opaque, unsigned items, unsigned size) {
  depth = unwind_capture(frames, MAX_FRAMES, 0);
  return calloc(items, size);
}
static void release(void *opaque, void *p) { free(p); }

/* Starts and ends a zlib stream whose allocations capture; returns the
 * return address into its caller. */
__attribute__((noinline)) static uintptr_t capture_through_zlib(int *status) {
  z_stream stream = {.zalloc = allocate_capturing, .zfree = release};
  *status = deflateInit(&stream, 6);
  if (*status == Z_OK) deflateEnd(&stream);
  __asm__ volatile("" ::: "memory"); /* not a tail call */
  return (uintptr_t)__builtin_return_address(0);
}

static volatile int rounds = 2; /* one call site for both rounds */

TEST(frames_of_a_linked_library_need_no_loader_call) {
  long calls[2] = {0, 0};
  bool whole = true;
  int status = Z_OK;
  for (int round = 0; round < rounds && round < 2; round++) { /* the first caches the rules */
    long before = loader_calls;
    int round_status;
    uintptr_t caller = capture_through_zlib(&round_status);
    calls[round] = loader_calls - before;
    bool found = false;
    for (int i = 0; i < depth; i++) found |= frames[i] == caller;
    whole &= found;
    if (round_status != Z_OK) status = round_status;
  }
  CHECK_MSG(status == Z_OK, "deflateInit returned %d", status);
  CHECK_MSG(calls[1] == 0, "a capture through the linked zlib, its rules cached, made %ld loader calls",
            calls[1]);
  CHECK_MSG(whole, "a capture through zlib stopped short of the test's frame (depth %d)", depth);
}

int main(void) {
  /* No samples: the zlib stream's own allocations would take captures of
   * their own, whose first walks through heapscope's frames ask the
   * loader in this thread. */
  hs_prof_set_rate(0);
  unwind_warm_up();
  RUN(frames_of_a_linked_library_need_no_loader_call);
  return testlib_done();
}
