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
 *     frames to the function that called it;
 *  4. a capture from a new call site in the thread that forks, while its
 *     fork holds the unwinder's lock (pprof_test lists the images so, and
 *     its buffer may be sampled), returns: it stops where its rule is
 *     missing instead of waiting for the lock its own thread holds (an
 *     alarm turns a hang into a failure).
 * The loader's calls are counted per thread (loader_calls.h). */
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include "loader_calls.h"
#include "testlib.h"
#include "unwind.h"

enum { CAPTURES = 100 };

/* Returns the return address into its caller, after a capture. */
__attribute__((noinline)) static uintptr_t capture_in_program(void) {
  capture();
  sink++; /* not a tail call */
  return (uintptr_t)__builtin_return_address(0);
}

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

TEST(frames_of_other_modules_ask_the_loader) {
  void *zlib = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!CHECK_MSG(zlib != NULL, "dlopen libz.so.1: %s", dlerror())) return;
  zlib_entry_t entry = {(int (*)(z_streamp, int, const char *, int))dlsym(zlib, "deflateInit_"),
                       (int (*)(z_streamp))dlsym(zlib, "deflateEnd")};
  if (!CHECK(entry.init && entry.end)) return;
  bool whole;
  int status;
  long calls = zlib_capture_rounds(&entry, &whole, &status);
  CHECK_MSG(status == Z_OK, "deflateInit_ returned %d", status);
  CHECK_MSG(calls > 0, "a capture through zlib, its rules cached, made no loader call");
  CHECK_MSG(whole, "a capture through zlib stopped short of the test's frame (depth %d)", depth);
  dlclose(zlib);
}

/* Another call site no other test captures from. */
__attribute__((noinline)) static uintptr_t capture_at_site_during_fork(void) {
  capture();
  sink++; /* not a tail call */
  return (uintptr_t)__builtin_return_address(0);
}

static void on_alarm(int signal) {
  (void)signal;
  static const char message[] =
      "FAIL unwind_loader_test: a capture during a fork waited for the lock its thread holds\n";
  (void)!write(2, message, sizeof message - 1);
  _exit(1);
}

TEST(a_capture_during_its_threads_fork_takes_no_lock) {
  signal(SIGALRM, on_alarm);
  alarm(10);
  unwind_fork_quiesce(); /* what malloc.c's prepare handler does first */
  unwind_fork_prepare();
  bool whole = holds(capture_at_site_during_fork());
  unwind_fork_parent();
  alarm(0);
  CHECK_MSG(!whole, "a capture during the fork walked past a frame whose rule was missing");
  /* After the fork the same site unwinds whole. */
  whole = holds(capture_at_site_during_fork());
  CHECK_MSG(whole, "after the fork a capture stopped short of the test's frame (depth %d)", depth);
}

int main(void) {
  unwind_warm_up();
  RUN(program_and_libc_frames_need_no_loader_call);
  RUN(misses_in_program_and_libc_need_no_loader_call);
  RUN(frames_of_other_modules_ask_the_loader);
  RUN(a_capture_during_its_threads_fork_takes_no_lock);
  return testlib_done();
}
