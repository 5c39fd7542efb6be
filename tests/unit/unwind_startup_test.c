/* unwind_startup_test.c — a library the program was linked with (zlib,
 * listed by the loader when heapscope started) is never unloaded, so a
 * capture through its frames makes no dl_iterate_phdr call once the rules
 * are cached, and still walks on to the function that called into it
 * (src/unwind.c, unwind_note_startup_modules).  A library dlopen'ed later
 * still asks the loader: unwind_loader_test.c.  The loader's calls are
 * counted per thread (loader_calls.h). */

#include "heapscope.h"
#include "loader_calls.h"
#include "testlib.h"
#include "unwind.h"

TEST(frames_of_a_linked_library_need_no_loader_call) {
  zlib_entry_t entry = {deflateInit_, deflateEnd};
  bool whole;
  int status;
  long calls = zlib_capture_rounds(&entry, &whole, &status);
  CHECK_MSG(status == Z_OK, "deflateInit_ returned %d", status);
  CHECK_MSG(calls == 0, "a capture through the linked zlib, its rules cached, made %ld loader calls",
            calls);
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
