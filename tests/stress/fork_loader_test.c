/* fork_loader_test.c — fork while another thread is inside a
 * dl_iterate_phdr call that heapscope's sampler made: the child must be
 * able to take samples.
 *
 * The loader's lock, held through a dl_iterate_phdr call, is inherited
 * locked by a child forked meanwhile, and a sample in the child would then
 * wait for it forever.  So heapscope's fork handler must let its own loader
 * calls finish first, and start none until the fork is done.  To make the
 * race certain, this program interposes dl_iterate_phdr (exported: built
 * -rdynamic): while armed, a call from the worker thread holds the loader's
 * lock for 300 ms (sleeping in the first callback) after telling the main
 * thread, which forks then.  The child allocates with a sample at every
 * allocation and exits; the test fails if it has not finished within 10 s.
 * Run in a re-executed child with HEAPSCOPE=sample_rate_bytes=1.  The
 * samples whose loader calls are caught pass through zlib (through_zlib.h):
 * only a frame of a module loaded after start-up makes one.
 *
 * And the other way round (mode "callback"): the main thread forks from
 * inside its own dl_iterate_phdr callback, holding the loader's lock, while
 * a worker's sample waits for that lock.  fork's wait for the unwinder's
 * calls in flight must give up (after about a second) rather than wait for
 * a call that cannot end before the fork does.
 *
 * And a profile's write (mode "writer"): the worker writes a heap profile,
 * whose writer lists the loaded images (build IDs) with dl_iterate_phdr;
 * the main thread forks while that call holds the loader's lock, and the
 * child must find that lock free (it calls dl_iterate_phdr itself; so do
 * the children of the modes above, after their allocations).
 *
 * And the program's own call (mode "program"): the worker calls
 * dl_iterate_phdr itself, and the main thread forks while it holds the
 * loader's lock.  glibc's child inherits the lock held for good, so a
 * loader call of the child's own would never return; but its allocations,
 * sampled, must, and a profile write must fail at once (EDEADLK): heapscope
 * counts the program's calls (src/loader.c) and makes no loader call in
 * such a child, nor in its own children, nor after it forked them.  This
 * needs heapscope's dl_iterate_phdr behind the test's: preloaded, not in
 * the linked run, where the test's definition replaces heapscope's weak
 * one (the mode is then not run, and the test says so).
 */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "through_zlib.h"

typedef int (*iterate_fn)(int (*)(struct dl_phdr_info *, size_t, void *), void *);
typedef struct {
  int (*callback)(struct dl_phdr_info *, size_t, void *);
  void *data;
  bool first;
} wrapped_t;

static iterate_fn real_iterate;
static pthread_t worker_thread;
static _Atomic int armed;
static _Atomic int report_waiting; /* mode callback: the worker's next loader call */
static sem_t worker_go, worker_waiting;
static sem_t worker_inside;
static void *volatile sink;

__attribute__((constructor)) static void find_real_iterate(void) {
  real_iterate = (iterate_fn)dlsym(RTLD_NEXT, "dl_iterate_phdr");
}

static int holding_callback(struct dl_phdr_info *info, size_t size, void *arg) {
  wrapped_t *w = arg;
  if (w->first) {
    w->first = false;
    sem_post(&worker_inside); /* the loader's lock is held from here */
    struct timespec pause = {0, 300 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  return w->callback(info, size, w->data);
}

int dl_iterate_phdr(int (*callback)(struct dl_phdr_info *, size_t, void *), void *data) {
  if (!real_iterate) return 0;
  if (pthread_equal(pthread_self(), worker_thread) && atomic_exchange(&report_waiting, 0))
    sem_post(&worker_waiting); /* about to wait for the loader's lock */
  if (pthread_equal(pthread_self(), worker_thread) && atomic_exchange(&armed, 0)) {
    wrapped_t w = {callback, data, true};
    return real_iterate(holding_callback, &w);
  }
  return real_iterate(callback, data);
}

static void *worker(void *arg) {
  /* Allocate until a sample's loader call has been caught: a sample
   * through zlib's frames asks the loader (one through the program's and
   * libc's alone asks nothing).  So not before the main thread has named
   * this thread. */
  sem_wait(&worker_go);
  while (atomic_load(&armed)) allocate_through_zlib();
  return NULL;
}

/* Writes one heap profile once the main thread has named this thread
 * the worker: its loader call is caught (sampling is off, so it is the
 * writer's own). */
static int (*write_profile)(const char *, hs_prof_kind_t);
static void *profile_writer(void *path) {
  sem_wait(&worker_go);
  CHECK_MSG(write_profile(path, HS_PROF_HEAP) == 0, "the profile write failed");
  return NULL;
}

static int count_image(struct dl_phdr_info *info, size_t size, void *arg) { return 0; }

/* Mode program: the worker's own loader call, which the fork interrupts. */
static void *program_iterator(void *arg) {
  sem_wait(&worker_go);
  dl_iterate_phdr(count_image, NULL);
  return NULL;
}

/* `worker_fn` makes the loader call that the fork interrupts. */
static int forking_child(void *(*worker_fn)(void *)) {
  if (!CHECK(real_iterate != NULL)) return testlib_done();
  if (!CHECK_MSG(through_zlib_open(), "cannot open zlib")) return testlib_done();
  write_profile = (int (*)(const char *, hs_prof_kind_t))hs_fn("hs_prof_write");
  bool writes = worker_fn == profile_writer || worker_fn == program_iterator;
  if (!CHECK(!writes || write_profile != NULL)) return testlib_done();
  sem_init(&worker_inside, 0, 0);
  sem_init(&worker_go, 0, 0);
  atomic_store(&armed, 1);
  pthread_t thread;
  char path[64];
  snprintf(path, sizeof path, "/tmp/heapscope-fork-loader-%d.pb.gz", (int)getpid());
  if (!CHECK(pthread_create(&thread, NULL, worker_fn, path) == 0)) return testlib_done();
  worker_thread = thread;
  sem_post(&worker_go);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  if (!CHECK_MSG(sem_timedwait(&worker_inside, &deadline) == 0,
                 "the worker made no loader call in 10 s")) {
    atomic_store(&armed, 0);
    pthread_join(thread, NULL);
    return testlib_done();
  }
  pid_t pid = fork();
  if (pid == 0) {
    /* Samples through zlib (they ask the loader) and from new call sites. */
    allocate_through_zlib();
    for (int i = 0; i < 1000; i++) free(malloc(16 + (size_t)i));
    if (worker_fn == program_iterator) {
      /* The lock is the program's to have lost.  A profile cannot be
       * symbolized without it: the write must fail at once, EDEADLK. */
      struct timespec start, end;
      clock_gettime(CLOCK_MONOTONIC, &start);
      int written = write_profile(path, HS_PROF_HEAP);
      clock_gettime(CLOCK_MONOTONIC, &end);
      double seconds = (double)(end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
      if (written != -1 || errno != EDEADLK || seconds >= 0.5) _exit(3);
      /* The lock stays lost in a fork of this child, and in this child
       * after it forked: both sample again. */
      pid_t grandchild = fork();
      if (grandchild == 0) {
        for (int i = 0; i < 1000; i++) free(malloc(2000 + (size_t)i));
        _exit(0);
      }
      int grandchild_status = -1;
      if (grandchild < 0 || waitpid(grandchild, &grandchild_status, 0) != grandchild) _exit(4);
      for (int i = 0; i < 1000; i++) free(malloc(3000 + (size_t)i));
      _exit(WIFEXITED(grandchild_status) && WEXITSTATUS(grandchild_status) == 0 ? 0 : 5);
    }
    real_iterate(count_image, NULL); /* the loader's lock itself */
    _exit(0);
  }
  int status = 0;
  bool done = false;
  for (int waited = 0; waited < 1000 && !(done = waitpid(pid, &status, WNOHANG) == pid); waited++) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  CHECK_MSG(done, "the forked child hung: it inherited the loader's lock held by the worker");
  CHECK_MSG(!done || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
            "the forked child failed (status %d)", status);
  pthread_join(thread, NULL);
  unlink(path);
  return testlib_done();
}

static void *waiting_worker(void *arg) {
  sem_wait(&worker_go);
  allocate_through_zlib(); /* samples: their loader call waits for the main thread */
  return NULL;
}

/* Runs with the loader's lock held: forks once the worker waits for it. */
static int forking_callback(struct dl_phdr_info *info, size_t size, void *forked) {
  atomic_store(&report_waiting, 1);
  sem_post(&worker_go);
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  if (!CHECK_MSG(sem_timedwait(&worker_waiting, &deadline) == 0,
                 "the worker's sample made no loader call in 10 s"))
    return 1;
  struct timespec pause = {0, 20 * 1000 * 1000}; /* into the loader's lock */
  nanosleep(&pause, NULL);
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  *(bool *)forked = pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
                    WEXITSTATUS(status) == 0;
  return 1;
}

static int fork_in_callback(void) {
  if (!CHECK(real_iterate != NULL)) return testlib_done();
  if (!CHECK_MSG(through_zlib_open(), "cannot open zlib")) return testlib_done();
  sem_init(&worker_go, 0, 0);
  sem_init(&worker_waiting, 0, 0);
  pthread_t thread;
  if (!CHECK(pthread_create(&thread, NULL, waiting_worker, NULL) == 0)) return testlib_done();
  worker_thread = thread;
  bool forked = false;
  real_iterate(forking_callback, &forked);
  CHECK_MSG(forked, "the fork inside the callback failed");
  pthread_join(thread, NULL);
  return testlib_done();
}

/* Whether the test's dl_iterate_phdr passes its calls to heapscope's. */
static bool heapscope_counts_loader_calls(void) {
  Dl_info info;
  return real_iterate && dladdr((void *)real_iterate, &info) && info.dli_fname &&
         strstr(info.dli_fname, "libheapscope") != NULL;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return forking_child(worker);
  if (argc > 1 && strcmp(argv[1], "program") == 0) return forking_child(program_iterator);
  if (argc > 1 && strcmp(argv[1], "writer") == 0) return forking_child(profile_writer);
  if (argc > 1 && strcmp(argv[1], "callback") == 0) return fork_in_callback();
  testlib_expect_heapscope();
  int status = testlib_run_child("child", "sample_rate_bytes=1", 60);
  CHECK_MSG(status == 0, "the test's process failed (status %d; -1: it hung)", status);
  status = testlib_run_child("writer", "sample_rate_bytes=0", 60);
  CHECK_MSG(status == 0, "forking while a profile was written failed (status %d; -1: it hung)",
            status);
  status = testlib_run_child("callback", "sample_rate_bytes=1", 30);
  CHECK_MSG(status == 0, "forking inside a dl_iterate_phdr callback failed (status %d; -1: it "
                         "hung)", status);
  if (heapscope_counts_loader_calls()) {
    status = testlib_run_child("program", "sample_rate_bytes=1", 60);
    CHECK_MSG(status == 0, "forking while the program was inside dl_iterate_phdr failed (status "
                           "%d; -1: it hung)", status);
  } else {
    printf("%s: mode program not run: the test's dl_iterate_phdr replaces heapscope's\n",
           testlib_prog());
  }
  return testlib_done();
}
