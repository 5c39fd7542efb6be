/* loader.c — the program's dl_iterate_phdr calls, counted for fork.
 *
 * glibc holds the loader's write lock through a whole dl_iterate_phdr call
 * (its callbacks included) and does not reset it in a forked child: a
 * child forked while another thread was inside such a call inherits the
 * lock held, and any loader call it makes waits forever.  heapscope's own
 * calls are gated (unwind.c, unwind_loader_enter: fork waits for them);
 * the program's are counted here, by a dl_iterate_phdr in front of libc's,
 * so that the fork child handler can tell whether another thread was
 * inside one (loader_fork_child) and, if so, make no loader call in that
 * child: its samples' stacks then stop at the first frame that needs the
 * loader (unwind.c), rather than hang the child.
 *
 * heapscope's own calls come through here too (they go through the PLT,
 * as the program's do), but fork waits for those first.  Calls glibc
 * makes inside itself and the brief hold of the lock in dlopen and dlclose
 * are not seen.  Weak, so that a program linking libheapscope.a that
 * defines its own dl_iterate_phdr links (its calls are then not counted).
 * Takes no lock; allocates nothing after the first call, which looks up
 * libc's function (dlsym).  May call: libc (dlsym), base. */
#include "loader.h"

#include <dlfcn.h>

#include "base.h"

typedef int (*iterate_fn)(int (*)(struct dl_phdr_info *, size_t, void *), void *);

static _Atomic int calls_in_flight;     /* all threads' */
static _Thread_local int thread_calls;  /* this thread's, in flight */
static bool other_thread_was_inside;    /* in a forked child: loader_fork_child */

__attribute__((weak)) HS_EXPORT int dl_iterate_phdr(int (*callback)(struct dl_phdr_info *, size_t,
                                                                     void *),
                                                     void *data) {
  static iterate_fn next_iterate;
  iterate_fn next = __atomic_load_n(&next_iterate, __ATOMIC_ACQUIRE);
  if (!next) {
    next = (iterate_fn)dlsym(RTLD_NEXT, "dl_iterate_phdr");
    if (!next) return 0; /* no loader behind this one: no module to report */
    __atomic_store_n(&next_iterate, next, __ATOMIC_RELEASE);
  }
  atomic_fetch_add(&calls_in_flight, 1);
  thread_calls++;
  int result = next(callback, data);
  thread_calls--;
  atomic_fetch_sub(&calls_in_flight, 1);
  return result;
}

void loader_fork_child(void) {
  /* The other threads are gone, and so are their calls; this thread's
   * own (a fork from inside its callback) return through it. */
  other_thread_was_inside |= atomic_load(&calls_in_flight) > thread_calls; /* and its parent's */
  atomic_store(&calls_in_flight, thread_calls);
}

bool loader_locked_in_child(void) { return other_thread_was_inside; }
