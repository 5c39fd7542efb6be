/* unwind_loader_test.c — when a capture asks the loader (src/unwind.c):
 *  1. a capture whose frames all lie in modules that are never unloaded
 *     (this program, libc: the library is linked in here) makes no
 *     dl_iterate_phdr call once its rules are cached, and still reaches
 *     main;
 *  2. a capture from a call site never captured before (its rules not
 *     cached) makes none either: the module table, however old, places
 *     them in modules that are never unloaded;
 *  3. a capture that passes through another module (zlib, dlopen'ed, whose
 *     deflateInit_ calls back into this program's allocation function)
 *     asks the loader for its unload count, and walks on through zlib's
 *     frames to the function that called it.
 * The loader's calls are counted, per thread, by a dl_iterate_phdr of this
 * program's in front of libc's (it replaces heapscope's weak one). */
#include <dlfcn.h>
#include <stdint.h>
#include <zlib.h>

#include "loader_calls.h"
#include "testlib.h"
#include "unwind.h"

enum { CAPTURES = 100, MAX_FRAMES = 64 };

static uintptr_t frames[MAX_FRAMES];
static int depth;
static volatile int sink;

static bool holds(uintptr_t address) {
  for (int i = 0; i < depth; i++)
    if (frames[i] == address) return true;
  return false;
}

__attribute__((noinline)) static void capture(void) {
  depth = unwind_capture(frames, MAX_FRAMES, 0);
  sink += depth;
}

/* Returns the return address into its caller, after a capture. */
__attribute__((noinline)) static uintptr_t capture_in_program(void) {
  capture();
  sink++; /* not a tail call */
  return (uintptr_t)__builtin_return_address(0);
}

/* Rounds of CAPTURES captures, the first caching the rules.  One call site
 * for all of them: a loop the compiler cannot unroll or peel (its bound is
 * volatile), as another call site is another return address to look up. */
static volatile int rounds = 2;

TEST(program_and_libc_frames_need_no_loader_call) {
  long calls[2] = {0, 0};
  bool whole = true;
  for (int round = 0; round < rounds && round < 2; round++) {
    long before = loader_calls;
    for (int i = 0; i < CAPTURES; i++) whole &= holds(capture_in_program());
    calls[round] = loader_calls - before;
  }
  CHECK_MSG(calls[1] == 0, "%d captures in this program, their rules cached, made %ld loader calls",
            CAPTURES, calls[1]);
  CHECK_MSG(whole, "a capture stopped short of the test's own frame (depth %d)", depth);
}

/* A call site no other test captures from. */
__attribute__((noinline)) static uintptr_t capture_at_new_site(void) {
  capture();
  sink++; /* not a tail call */
  return (uintptr_t)__builtin_return_address(0);
}

TEST(misses_in_program_and_libc_need_no_loader_call) {
  long before = loader_calls;
  bool whole = holds(capture_at_new_site());
  long calls = loader_calls - before;
  CHECK_MSG(calls == 0, "a capture from a new call site, its rules not cached, made %ld loader calls",
            calls);
  CHECK_MSG(whole, "a capture from a new call site stopped short of the test's frame (depth %d)",
            depth);
}

static void *allocate_capturing(void *opaque, unsigned items, unsigned size) {
  capture();
  return calloc(items, size);
}
static void release(void *opaque, void *p) { free(p); }

typedef int (*deflate_init_fn)(z_streamp, int, const char *, int);
typedef int (*deflate_end_fn)(z_streamp);
static deflate_init_fn deflate_init;
static deflate_end_fn deflate_end;

/* Starts and ends a zlib stream whose allocations capture; returns the
 * return address into its caller. */
__attribute__((noinline)) static uintptr_t capture_through_zlib(int *status) {
  z_stream stream = {.zalloc = allocate_capturing, .zfree = release};
  *status = deflate_init(&stream, 6, ZLIB_VERSION, (int)sizeof stream);
  if (*status == Z_OK) deflate_end(&stream);
  sink++;
  return (uintptr_t)__builtin_return_address(0);
}

TEST(frames_of_other_modules_ask_the_loader) {
  void *zlib = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!CHECK_MSG(zlib != NULL, "dlopen libz.so.1: %s", dlerror())) return;
  deflate_init = (deflate_init_fn)dlsym(zlib, "deflateInit_");
  deflate_end = (deflate_end_fn)dlsym(zlib, "deflateEnd");
  if (!CHECK(deflate_init && deflate_end)) return;
  long calls[2] = {0, 0};
  bool whole = true;
  int status = Z_OK;
  for (int round = 0; round < rounds && round < 2; round++) { /* the first caches the rules */
    long before = loader_calls;
    int round_status;
    whole &= holds(capture_through_zlib(&round_status));
    calls[round] = loader_calls - before;
    if (round_status != Z_OK) status = round_status;
  }
  CHECK_MSG(status == Z_OK, "deflateInit_ returned %d", status);
  CHECK_MSG(calls[1] > 0, "a capture through zlib, its rules cached, made no loader call");
  CHECK_MSG(whole, "a capture through zlib stopped short of the test's frame (depth %d)", depth);
  dlclose(zlib);
}

int main(void) {
  unwind_warm_up();
  RUN(program_and_libc_frames_need_no_loader_call);
  RUN(misses_in_program_and_libc_need_no_loader_call);
  RUN(frames_of_other_modules_ask_the_loader);
  return testlib_done();
}
