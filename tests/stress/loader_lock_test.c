/* loader_lock_test.c — a program that mallocs inside a dl_iterate_phdr
 * callback of its own (Rust's backtraces do, collecting the modules into
 * a vector) while another thread's sample misses the unwinder's cache:
 * the two must not deadlock.
 *
 * The loader holds its lock while it runs a callback, and a sample taken
 * there needs the unwinder's lock if its stack is new.  So heapscope must
 * never wait for the loader's lock while holding its own.  To make the
 * race certain, this program interposes dl_iterate_phdr (exported: built
 * -rdynamic) and, while armed, makes every call from the main thread first
 * let the helper thread start an iteration whose callback mallocs from a
 * call site never sampled before, and wait until the helper is inside that
 * callback, holding the loader's lock, before going on.  The main thread
 * then allocates through zlib (through_zlib.h: a sample there asks the
 * loader, where frames of modules loaded at start-up ask nothing) with a
 * sample at every allocation.
 * If heapscope called the loader while holding its unwinder lock, the main
 * thread would hold it waiting for the loader's lock and the helper the
 * loader's lock waiting for it.  A child runs this; the test fails if the
 * child has not finished within 20 s.
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "testlib.h"
#include "through_zlib.h"

#define NOINLINE __attribute__((noinline, noclone))
enum { ROUNDS = 8 };

typedef int (*iterate_fn)(int (*)(struct dl_phdr_info *, size_t, void *), void *);
static iterate_fn real_iterate;
static pthread_t main_thread;
static _Atomic int armed;
static _Atomic int helper_done;
static sem_t helper_go, helper_inside;

__attribute__((constructor)) static void find_real_iterate(void) {
  real_iterate = (iterate_fn)dlsym(RTLD_NEXT, "dl_iterate_phdr");
}

/* Call sites the helper has never allocated from, one per round. */
static NOINLINE void *site_0(void) { return malloc(24); }
static NOINLINE void *site_1(void) { return malloc(24); }
static NOINLINE void *site_2(void) { return malloc(24); }
static NOINLINE void *site_3(void) { return malloc(24); }
static NOINLINE void *site_4(void) { return malloc(24); }
static NOINLINE void *site_5(void) { return malloc(24); }
static NOINLINE void *site_6(void) { return malloc(24); }
static NOINLINE void *site_7(void) { return malloc(24); }
static void *(*const sites[ROUNDS])(void) = {site_0, site_1, site_2, site_3,
                                             site_4, site_5, site_6, site_7};

/* Runs under the loader's lock: tells the main thread so, then mallocs. */
static int allocating_callback(struct dl_phdr_info *info, size_t size, void *round) {
  sem_post(&helper_inside);
  free(sites[*(int *)round % ROUNDS]());
  return 1;
}

static void *helper(void *arg) {
  for (int round = 0;; round++) {
    sem_wait(&helper_go);
    if (atomic_load(&helper_done)) return NULL;
    real_iterate(allocating_callback, &round);
  }
}

int dl_iterate_phdr(int (*callback)(struct dl_phdr_info *, size_t, void *), void *data) {
  if (!real_iterate) return 0;
  if (atomic_load(&armed) > 0 && pthread_equal(pthread_self(), main_thread)) {
    atomic_fetch_sub(&armed, 1);
    sem_post(&helper_go);
    sem_wait(&helper_inside); /* the helper now holds the loader's lock */
  }
  return real_iterate(callback, data);
}


static int child(void) {
  main_thread = pthread_self();
  if (!CHECK(real_iterate != NULL)) return testlib_done();
  if (!CHECK_MSG(through_zlib_open(), "cannot open zlib")) return testlib_done();
  sem_init(&helper_go, 0, 0);
  sem_init(&helper_inside, 0, 0);
  pthread_t thread;
  if (!CHECK(pthread_create(&thread, NULL, helper, NULL) == 0)) return testlib_done();
  /* Every loader call the next samples make races the helper (up to
   * ROUNDS of them). */
  atomic_store(&armed, ROUNDS);
  allocate_through_zlib();
  int raced = ROUNDS - atomic_exchange(&armed, 0);
  CHECK_MSG(raced >= 1, "the sample made no loader call to race (%d)", raced);
  atomic_store(&helper_done, 1);
  sem_post(&helper_go);
  pthread_join(thread, NULL);
  return testlib_done();
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
  testlib_expect_heapscope();
  int status = testlib_run_child("child", "sample_rate_bytes=1", 20);
  CHECK_MSG(status != -1, "the child deadlocked: a sample inside the loader's lock waited for the "
                          "unwinder while the unwinder waited for the loader");
  CHECK_MSG(status == 0 || status == -1, "the child failed (status %d)", status);
  return testlib_done();
}
