/* loader_calls.h — counts this thread's dl_iterate_phdr calls: a
 * dl_iterate_phdr of the test program's own, in front of libc's, replaces
 * heapscope's weak one (src/loader.c).  Per thread: the library's own
 * threads capture stacks too.  For the unwinder's tests. */
#ifndef HS_TEST_LOADER_CALLS_H
#define HS_TEST_LOADER_CALLS_H

#include <dlfcn.h>
#include <link.h>

typedef int (*iterate_fn)(int (*)(struct dl_phdr_info *, size_t, void *), void *);
static _Thread_local long loader_calls;

int dl_iterate_phdr(int (*callback)(struct dl_phdr_info *, size_t, void *), void *data) {
  static iterate_fn next;
  if (!next) next = (iterate_fn)dlsym(RTLD_NEXT, "dl_iterate_phdr");
  loader_calls++;
  return next ? next(callback, data) : 0;
}

#endif /* HS_TEST_LOADER_CALLS_H */
