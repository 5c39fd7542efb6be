/* pool_fork_order_test.c — pools across fork when pool.c's fork handlers
 * were registered before the allocator's.
 *
 * pool.c registers its pthread_atfork handlers at the first pool, the
 * allocator in heapscope's constructor.  This program's constructor runs
 * at priority 101, so in the linked build (NAME.linked: heapscope is part of
 * the executable, its constructor at the default priority) it makes a pool
 * before heapscope's constructor ran: pool.c's prepare handler then runs
 * after the allocator's (which holds the metadata lock by then) and its
 * child handler before the allocator's (whose locks the child still holds
 * until its own handler resets them).  Preloaded, heapscope's constructor
 * runs first and the order is the usual one; the checks are the same.
 *
 * In a child of its own (a hang shows as a timeout, not a stuck test run):
 *  - a holder thread keeps objects of the early pool and of a destroyed
 *    pool in its magazines, and allocates the objects the main thread
 *    frees below;
 *  - REGISTRARS threads each start THREADS_EACH threads, all alive at once,
 *    whose first hs_pool_get registers a new per-thread record (from
 *    metadata: no spare records exist while they all live);
 *  - meanwhile the main thread forks FORKS times; each child gets and puts
 *    from the early pool, mallocs and frees, and exits 0 within 5 s (else
 *    it is killed and the storm stops there).
 *    Before each fork the main thread frees objects of the destroyed
 *    pool's class that the holder allocated, so that its list of other
 *    threads' objects of that class is one short of a batch: a child whose
 *    fork handlers free the destroyed pool's objects (the holder's
 *    magazine, which the child gives back) before the allocator's child
 *    handler has reset its locks sends that batch to the central list,
 *    whose lock the fork left taken, and hangs.
 * pool.c before 76155d4 did both things these guard against: its child
 * handler freed a destroyed pool's objects (the linked build's first child
 * hung; preloaded, every child was clean), and its thread_record called
 * metadata_alloc holding registry_lock (a fork could deadlock against a
 * thread registering, rarely: the storm's registrations cover it, but this
 * test did not catch it alone). */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "testlib.h"

enum { REGISTRARS = 2, THREADS_EACH = 200, FORKS = 200 };
/* The destroyed pool's objects: a class the main thread never allocates,
 * so its frees of them skip its bin (no room) for the list of other
 * threads' objects, sent to the central list a batch (32) at a time. */
enum { DOOMED_BYTES = 208, BATCH = 32, HELD = 4 };
enum { FEED = BATCH - 1 + BATCH * FORKS };

typedef hs_pool_t *(*pool_create_fn)(size_t, size_t, void (*)(void *));
typedef void *(*pool_get_fn)(hs_pool_t *);
typedef void (*pool_put_fn)(hs_pool_t *, void *);
typedef void (*pool_destroy_fn)(hs_pool_t *);

static pool_create_fn pool_create;
static pool_get_fn pool_get;
static pool_put_fn pool_put;
static pool_destroy_fn pool_destroy;
static hs_pool_t *early_pool;

/* Before heapscope's own constructor in the linked build. */
__attribute__((constructor(101))) static void make_early_pool(void) {
  pool_create = (pool_create_fn)hs_fn("hs_pool_create");
  pool_get = (pool_get_fn)hs_fn("hs_pool_get");
  pool_put = (pool_put_fn)hs_fn("hs_pool_put");
  pool_destroy = (pool_destroy_fn)hs_fn("hs_pool_destroy");
  if (pool_create && pool_get && pool_put && pool_destroy)
    early_pool = pool_create(64, (size_t)1 << 20, NULL);
}

static pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t opened = PTHREAD_COND_INITIALIZER;
static bool gate_open;

static void wait_for_gate(void) {
  pthread_mutex_lock(&gate);
  while (!gate_open) pthread_cond_wait(&opened, &gate);
  pthread_mutex_unlock(&gate);
}

static void open_gate(void) {
  pthread_mutex_lock(&gate);
  gate_open = true;
  pthread_cond_broadcast(&opened);
  pthread_mutex_unlock(&gate);
}

static hs_pool_t *doomed_pool;
static _Atomic int holder_ready;
static void *feed[FEED];
static int fed;

static void *holder(void *arg) {
  (void)arg;
  void *kept[HELD], *doomed[HELD];
  for (int i = 0; i < HELD; i++) kept[i] = pool_get(early_pool), doomed[i] = pool_get(doomed_pool);
  for (int i = 0; i < HELD; i++) pool_put(early_pool, kept[i]), pool_put(doomed_pool, doomed[i]);
  for (int i = 0; i < FEED; i++)
    if (!(feed[i] = malloc(DOOMED_BYTES))) abort();
  atomic_store(&holder_ready, 1);
  wait_for_gate();
  return NULL;
}

/* A thread whose first pool call registers its record, then waits. */
static void *registered(void *arg) {
  (void)arg;
  pool_put(early_pool, pool_get(early_pool));
  wait_for_gate();
  return NULL;
}

static void *registrar(void *arg) {
  (void)arg;
  pthread_t threads[THREADS_EACH];
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 << 10);
  int started = 0;
  for (; started < THREADS_EACH; started++)
    if (pthread_create(&threads[started], &attr, registered, NULL) != 0) break;
  CHECK_MSG(started == THREADS_EACH, "only %d threads started", started);
  wait_for_gate();
  for (int i = 0; i < started; i++) pthread_join(threads[i], NULL);
  pthread_attr_destroy(&attr);
  return NULL;
}

/* The child of one fork: the pool and the allocator work in it. */
static void forked_child(void) {
  void *object = pool_get(early_pool);
  void *block = malloc(100);
  if (!object || !block) _exit(2);
  memset(object, 1, 64);
  memset(block, 2, 100);
  pool_put(early_pool, object);
  free(block);
  _exit(0);
}

static int storm(void) {
  doomed_pool = pool_create(DOOMED_BYTES, 4096, NULL);
  pthread_t holder_thread, registrars[REGISTRARS];
  CHECK(pthread_create(&holder_thread, NULL, holder, NULL) == 0);
  while (!atomic_load(&holder_ready)) sched_yield();
  pool_destroy(doomed_pool); /* its objects stay in the holder's magazine */
  for (int i = 0; i < REGISTRARS; i++)
    CHECK(pthread_create(&registrars[i], NULL, registrar, NULL) == 0);
  int clean = 0;
  for (int f = 0; f < FORKS; f++) {
    for (int n = f == 0 ? BATCH - 1 : BATCH; n > 0; n--) free(feed[fed++]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) forked_child();
    if (!CHECK(pid > 0)) break;
    int status = testlib_wait_child(pid, 5); /* a hang may be inside fork */
    if (!CHECK_MSG(status == 0, "child %d of %d %s (status %d)", f + 1, FORKS,
                   status < 0 ? "hung: killed after 5 s" : "failed", status))
      break;
    clean++;
  }
  while (fed < FEED) free(feed[fed++]);
  open_gate();
  for (int i = 0; i < REGISTRARS; i++) pthread_join(registrars[i], NULL);
  pthread_join(holder_thread, NULL);
  hs_pool_stats_t stats;
  void (*pool_stats)(hs_pool_t *, hs_pool_stats_t *) =
      (void (*)(hs_pool_t *, hs_pool_stats_t *))hs_fn("hs_pool_stats");
  pool_stats(early_pool, &stats);
  CHECK_MSG(stats.retained_objects >= 1 && stats.retained_bytes <= (uint64_t)1 << 20,
            "the early pool retains %llu objects, %llu bytes after the storm",
            (unsigned long long)stats.retained_objects, (unsigned long long)stats.retained_bytes);
  fprintf(stderr, "storm: %d of %d children clean, forked while %d threads registered\n", clean,
          FORKS, REGISTRARS * THREADS_EACH);
  return testlib_done();
}

int main(int argc, char **argv) {
  if (testlib_skip_unless_heapscope()) return 0;
  CHECK_MSG(early_pool != NULL, "the constructor made no pool");
  if (!early_pool) return testlib_done();
  if (argc > 1 && strcmp(argv[1], "storm") == 0) return storm();
  int status = testlib_run_child("storm", "", 120);
  CHECK_MSG(status == 0, "the storm child %s (status %d)",
            status < 0 ? "hung: a fork deadlocked" : "failed", status);
  return testlib_done();
}
