/* loader_calls.h — for the unwinder's tests: counts this thread's
 * dl_iterate_phdr calls, and takes captures whose stacks pass through
 * zlib.
 *
 * The count: a dl_iterate_phdr of the test program's own, in front of
 * libc's, replaces heapscope's weak one (src/loader.c).  Per thread: the
 * library's own threads capture stacks too.
 *
 * The captures: zlib's deflateInit_ (linked or dlopen'ed, as the test
 * chooses: `zlib_entry_t`) calls back into allocate_capturing, which
 * takes one; zlib_capture_rounds runs two rounds of that from one call
 * site and reports the second's loader calls, once the first has cached
 * the rules. */
#ifndef HS_TEST_LOADER_CALLS_H
#define HS_TEST_LOADER_CALLS_H

#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "unwind.h"

typedef int (*iterate_fn)(int (*)(struct dl_phdr_info *, size_t, void *), void *);
static _Thread_local long loader_calls;

int dl_iterate_phdr(int (*callback)(struct dl_phdr_info *, size_t, void *), void *data) {
  static iterate_fn next;
  if (!next) next = (iterate_fn)dlsym(RTLD_NEXT, "dl_iterate_phdr");
  loader_calls++;
  return next ? next(callback, data) : 0;
}

enum { MAX_FRAMES = 64 };
static uintptr_t frames[MAX_FRAMES];
static int depth;
static volatile int sink;

/* Whether the last capture holds `address`. */
static bool holds(uintptr_t address) {
  for (int i = 0; i < depth; i++)
    if (frames[i] == address) return true;
  return false;
}

__attribute__((noinline)) static void capture(void) {
  depth = unwind_capture(frames, MAX_FRAMES);
  sink += depth;
}

/* Rounds of captures, the first caching the rules.  One call site for all
 * of them: a loop the compiler cannot unroll or peel (its bound is
 * volatile), as another call site is another return address to look up. */
static volatile int rounds = 2;

typedef struct zlib_entry {
  int (*init)(z_streamp, int, const char *, int); /* deflateInit_ */
  int (*end)(z_streamp);                          /* deflateEnd */
} zlib_entry_t;

static void *allocate_capturing(void *opaque, unsigned items, unsigned size) {
  capture();
  return calloc(items, size);
}
static void release(void *opaque, void *p) { free(p); }

/* Starts and ends a zlib stream whose allocations capture; returns the
 * return address into its caller. */
__attribute__((noinline)) static uintptr_t capture_through_zlib(const zlib_entry_t *zlib,
                                                                int *status) {
  z_stream stream = {.zalloc = allocate_capturing, .zfree = release};
  *status = zlib->init(&stream, 6, ZLIB_VERSION, (int)sizeof stream);
  if (*status == Z_OK) zlib->end(&stream);
  sink++; /* not a tail call */
  return (uintptr_t)__builtin_return_address(0);
}

/* Two rounds of captures through zlib; returns the second round's loader
 * calls.  *whole: every round's last capture reached the caller of
 * capture_through_zlib; *status: deflateInit_'s, Z_OK if every round's. */
static long zlib_capture_rounds(const zlib_entry_t *zlib, bool *whole, int *status) {
  long calls[2] = {0, 0};
  *whole = true;
  *status = Z_OK;
  for (int round = 0; round < rounds && round < 2; round++) {
    long before = loader_calls;
    int round_status;
    *whole &= holds(capture_through_zlib(zlib, &round_status));
    calls[round] = loader_calls - before;
    if (round_status != Z_OK) *status = round_status;
  }
  return calls[1];
}

#endif /* HS_TEST_LOADER_CALLS_H */
