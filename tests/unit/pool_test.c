/* pool_test.c — object pools and arenas (src/pool.c, src/arena.c): the
 * reset contract (every object from hs_pool_get as reset made it, new or
 * reused), the retained-size caps, the counters, no object handed to two
 * threads at once, the aborts on a double put and a foreign object, and
 * arenas' alignment, own chunks, reuse after reset and exact malloc counts. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "testlib.h"

typedef struct record {
  uint64_t magic;
  uint64_t owner;
  char text[104];
} record_t;

static atomic_int resets;

static void reset_record(void *object) {
  record_t *r = object;
  r->magic = 0x5eed;
  r->owner = 0;
  memset(r->text, 0, sizeof r->text);
  atomic_fetch_add(&resets, 1);
}

static int64_t live_objects(void) {
  hs_stats_t stats = {.struct_size = sizeof stats};
  hs_stats(&stats);
  return (int64_t)stats.live_objects;
}

static void pool_contract(void) {
  errno = 0;
  CHECK(hs_pool_create(0, 1024, NULL) == NULL && errno == EINVAL);

  /* No reset function: zero, new or reused. */
  hs_pool_t *plain = hs_pool_create(100, 1 << 20, NULL);
  unsigned char *a = hs_pool_get(plain);
  bool zero = true;
  for (int i = 0; i < 100; i++) zero &= a[i] == 0;
  CHECK_MSG(zero, "a new object is not zero");
  memset(a, 0xab, 100);
  hs_pool_put(plain, a);
  unsigned char *b = hs_pool_get(plain);
  CHECK_MSG(b == a, "the retained object was not reused");
  zero = true;
  for (int i = 0; i < 100; i++) zero &= b[i] == 0;
  CHECK_MSG(zero, "a reused object is not zero");
  hs_pool_put(plain, b);
  hs_pool_destroy(plain);

  /* Objects under 16 bytes are 16: the pool's words are cleared on reuse
   * though the reset covers only the size asked for. */
  hs_pool_t *tiny = hs_pool_create(8, 4096, NULL);
  for (int i = 0; i < 3; i++) {
    uint64_t *t = hs_pool_get(tiny);
    CHECK(t[0] == 0 && t[1] == 0);
    hs_pool_put(tiny, t); /* would abort as a double put if t[1] kept the tag */
  }
  hs_pool_destroy(tiny);

  /* A reset function: run on new and reused objects alike, and it sees
   * none of the pool's own words. */
  hs_pool_t *pool = hs_pool_create(sizeof(record_t), 1 << 20, reset_record);
  record_t *r = hs_pool_get(pool);
  CHECK(r->magic == 0x5eed && atomic_load(&resets) == 1);
  r->magic = 1;
  r->owner = 99;
  strcpy(r->text, "stale");
  hs_pool_put(pool, r);
  record_t *again = hs_pool_get(pool);
  CHECK(again == r && again->magic == 0x5eed && again->owner == 0 && again->text[0] == 0);
  CHECK(atomic_load(&resets) == 2);
  hs_pool_stats_t stats;
  hs_pool_stats(pool, &stats);
  CHECK(stats.gets == 2 && stats.hits == 1 && stats.puts == 1 && stats.drops == 0);
  CHECK(stats.retained_objects == 0);
  free(again); /* an ordinary heap object */
  hs_pool_destroy(pool);
}

static void pool_cap(void) {
  int64_t before = live_objects();
  hs_pool_t *pool = hs_pool_create(100, 1000, NULL); /* at most 10 kept */
  void *objects[20];
  for (int i = 0; i < 20; i++) objects[i] = hs_pool_get(pool);
  for (int i = 0; i < 20; i++) hs_pool_put(pool, objects[i]);
  hs_pool_stats_t stats;
  hs_pool_stats(pool, &stats);
  CHECK_MSG(stats.retained_objects == 10 && stats.retained_bytes == 1000 && stats.drops == 10,
            "retained %llu objects (%llu B), dropped %llu",
            (unsigned long long)stats.retained_objects,
            (unsigned long long)stats.retained_bytes, (unsigned long long)stats.drops);
  /* The pool itself and its 10 objects are live; the other 10 were freed. */
  CHECK_MSG(live_objects() - before == 11, "live objects +%lld", (long long)(live_objects() - before));
  /* Reuse: 10 gets are hits and allocate nothing. */
  uint64_t mallocs = hs_thread_counters().mallocs;
  for (int i = 0; i < 10; i++) objects[i] = hs_pool_get(pool);
  CHECK(hs_thread_counters().mallocs == mallocs);
  for (int i = 0; i < 10; i++) hs_pool_put(pool, objects[i]);
  hs_pool_destroy(pool);
  CHECK_MSG(live_objects() == before, "live objects +%lld after destroy",
            (long long)(live_objects() - before));
}

/* Four threads take and return objects; an object handed to two at once
 * shows as an owner changed under its holder. */
static hs_pool_t *shared_pool;
static atomic_long double_handouts;

static void *pool_worker(void *arg) {
  uint64_t me = (uint64_t)(uintptr_t)arg;
  record_t *held[4];
  for (int round = 0; round < 50000; round++) {
    for (int i = 0; i < 4; i++) {
      held[i] = hs_pool_get(shared_pool);
      if (held[i]->owner != 0 || held[i]->magic != 0x5eed) atomic_fetch_add(&double_handouts, 1);
      held[i]->owner = me;
    }
    for (int i = 0; i < 4; i++) {
      if (held[i]->owner != me) atomic_fetch_add(&double_handouts, 1);
      hs_pool_put(shared_pool, held[i]);
    }
  }
  return NULL;
}

static void pool_threads(void) {
  shared_pool = hs_pool_create(sizeof(record_t), 64 * sizeof(record_t), reset_record);
  pthread_t threads[4];
  for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, pool_worker, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
  hs_pool_stats_t stats;
  hs_pool_stats(shared_pool, &stats);
  CHECK_MSG(atomic_load(&double_handouts) == 0, "%ld objects held by two threads",
            atomic_load(&double_handouts));
  CHECK(stats.gets == 4 * 50000 * 4 && stats.puts == stats.gets);
  CHECK_MSG(stats.hits > stats.gets / 2, "only %llu of %llu gets reused an object",
            (unsigned long long)stats.hits, (unsigned long long)stats.gets);
  hs_pool_destroy(shared_pool);
}

/* Threads' magazines count against the cap: four threads each take 20
 * objects and put them back, while a pool keeps at most 40.  With the
 * threads still alive (their magazines full) and after they exit (their
 * magazines given back) the pool holds exactly 40, the counters add up,
 * and what was dropped was freed. */
enum { CAP_THREADS = 4, CAP_EACH = 20, CAP_OBJECTS = 40 };
static hs_pool_t *cap_pool;
static pthread_barrier_t cap_got, cap_put, cap_checked;

static void *cap_worker(void *arg) {
  (void)arg;
  void *objects[CAP_EACH];
  for (int i = 0; i < CAP_EACH; i++) objects[i] = hs_pool_get(cap_pool);
  pthread_barrier_wait(&cap_got); /* every get a miss */
  for (int i = 0; i < CAP_EACH; i++) hs_pool_put(cap_pool, objects[i]);
  pthread_barrier_wait(&cap_put);
  pthread_barrier_wait(&cap_checked); /* alive while main reads the stats */
  return NULL;
}

static void check_cap_stats(const char *when, int64_t live_before) {
  hs_pool_stats_t stats;
  hs_pool_stats(cap_pool, &stats);
  uint64_t total = CAP_THREADS * CAP_EACH;
  CHECK_MSG(stats.retained_objects == CAP_OBJECTS && stats.drops == total - CAP_OBJECTS &&
                stats.gets == total && stats.puts == total && stats.hits == 0,
            "%s: retained %llu, dropped %llu, gets %llu, puts %llu, hits %llu", when,
            (unsigned long long)stats.retained_objects, (unsigned long long)stats.drops,
            (unsigned long long)stats.gets, (unsigned long long)stats.puts,
            (unsigned long long)stats.hits);
  /* the pool itself and what it keeps */
  CHECK_MSG(live_objects() - live_before == 1 + CAP_OBJECTS, "%s: live objects +%lld", when,
            (long long)(live_objects() - live_before));
}

static void pool_cap_threads(void) {
  int64_t before = live_objects();
  cap_pool = hs_pool_create(64, CAP_OBJECTS * 64, NULL);
  pthread_barrier_init(&cap_got, NULL, CAP_THREADS);
  pthread_barrier_init(&cap_put, NULL, CAP_THREADS + 1);
  pthread_barrier_init(&cap_checked, NULL, CAP_THREADS + 1);
  pthread_t threads[CAP_THREADS];
  for (int i = 0; i < CAP_THREADS; i++) pthread_create(&threads[i], NULL, cap_worker, NULL);
  pthread_barrier_wait(&cap_put);
  check_cap_stats("threads alive", before);
  pthread_barrier_wait(&cap_checked);
  for (int i = 0; i < CAP_THREADS; i++) pthread_join(threads[i], NULL);
  check_cap_stats("threads exited", before);
  /* What the threads gave back serves this thread: 40 gets, no malloc. */
  void *objects[CAP_OBJECTS];
  uint64_t mallocs = hs_thread_counters().mallocs;
  for (int i = 0; i < CAP_OBJECTS; i++) objects[i] = hs_pool_get(cap_pool);
  CHECK(hs_thread_counters().mallocs == mallocs);
  for (int i = 0; i < CAP_OBJECTS; i++) hs_pool_put(cap_pool, objects[i]);
  hs_pool_destroy(cap_pool);
  CHECK_MSG(live_objects() == before, "live objects +%lld after destroy",
            (long long)(live_objects() - before));
  pthread_barrier_destroy(&cap_got);
  pthread_barrier_destroy(&cap_put);
  pthread_barrier_destroy(&cap_checked);
}

/* A pool destroyed while another thread's magazine holds its objects: the
 * thread frees them when it exits, and a pool made after it, whatever
 * address it gets, never sees them. */
static hs_pool_t *doomed_pool;

/* A helper thread that holds a magazine while the main thread works:
 * start_holder returns once `body` waited on holder_ready; join_holder lets
 * it go on past holder_go and joins it. */
static pthread_barrier_t holder_ready, holder_go;

static void start_holder(pthread_t *thread, void *(*body)(void *)) {
  pthread_barrier_init(&holder_ready, NULL, 2);
  pthread_barrier_init(&holder_go, NULL, 2);
  pthread_create(thread, NULL, body, NULL);
  pthread_barrier_wait(&holder_ready);
}

static void join_holder(pthread_t thread) {
  pthread_barrier_wait(&holder_go);
  pthread_join(thread, NULL);
  pthread_barrier_destroy(&holder_ready);
  pthread_barrier_destroy(&holder_go);
}

static void *doomed_worker(void *arg) {
  (void)arg;
  void *objects[8];
  for (int i = 0; i < 8; i++) objects[i] = hs_pool_get(doomed_pool);
  for (int i = 0; i < 8; i++) hs_pool_put(doomed_pool, objects[i]);
  pthread_barrier_wait(&holder_ready);
  pthread_barrier_wait(&holder_go);
  /* The last of the sixteen pools made now picks the destroyed one's
   * magazine (ids are consecutive): a new pool's first get must not find
   * an object there. */
  for (int p = 0; p < 16; p++) {
    hs_pool_t *pool = hs_pool_create(48, 4096, NULL);
    void *object = hs_pool_get(pool);
    hs_pool_stats_t stats;
    hs_pool_stats(pool, &stats);
    if (stats.hits != 0) atomic_fetch_add(&double_handouts, 1);
    hs_pool_put(pool, object);
    hs_pool_destroy(pool);
  }
  return NULL;
}

static void pool_destroy_with_magazines(void) {
  int64_t before = live_objects();
  atomic_store(&double_handouts, 0);
  doomed_pool = hs_pool_create(48, 4096, NULL);
  pthread_t thread;
  start_holder(&thread, doomed_worker);
  hs_pool_destroy(doomed_pool);
  /* Still live: the worker's 8, until it exits or needs the slot. */
  CHECK_MSG(live_objects() - before == 8, "live objects +%lld with the worker's magazine",
            (long long)(live_objects() - before));
  join_holder(thread);
  CHECK(atomic_load(&double_handouts) == 0);
  CHECK_MSG(live_objects() == before, "live objects +%lld after the worker exited",
            (long long)(live_objects() - before));
}

/* One thread gets, another puts what it got: the objects come back round
 * through the shared list, so most gets are hits. */
enum { HANDOFF_OBJECTS = 200000, HANDOFF_RING = 64 };
static hs_pool_t *handoff_pool;
static void *_Atomic handoff_ring[HANDOFF_RING];

static void *handoff_consumer(void *arg) {
  (void)arg;
  for (long i = 0; i < HANDOFF_OBJECTS; i++) {
    void *object;
    while ((object = atomic_exchange(&handoff_ring[i % HANDOFF_RING], NULL)) == NULL)
      sched_yield();
    hs_pool_put(handoff_pool, object);
  }
  return NULL;
}

static void pool_handoff(void) {
  handoff_pool = hs_pool_create(sizeof(record_t), 256 * sizeof(record_t), NULL);
  pthread_t consumer;
  pthread_create(&consumer, NULL, handoff_consumer, NULL);
  for (long i = 0; i < HANDOFF_OBJECTS; i++) {
    void *object = hs_pool_get(handoff_pool);
    while (atomic_load(&handoff_ring[i % HANDOFF_RING]) != NULL) sched_yield();
    atomic_store(&handoff_ring[i % HANDOFF_RING], object);
  }
  pthread_join(consumer, NULL);
  hs_pool_stats_t stats;
  hs_pool_stats(handoff_pool, &stats);
  CHECK(stats.gets == HANDOFF_OBJECTS && stats.puts == HANDOFF_OBJECTS);
  CHECK_MSG(stats.hits > stats.gets / 2 && stats.retained_objects <= 256,
            "%llu of %llu gets reused an object; %llu retained",
            (unsigned long long)stats.hits, (unsigned long long)stats.gets,
            (unsigned long long)stats.retained_objects);
  hs_pool_destroy(handoff_pool);
}

/* A child forked while another thread has magazines uses pools: the
 * magazines of the thread it does not have are given back, as its exit
 * would: the object of a live pool to the pool's shared list (the child's
 * first get reuses it); that of a destroyed pool stays allocated (the
 * child must not touch the destroyed pool's record doing so). */
static hs_pool_t *fork_pool, *fork_doomed_pool;
static void *fork_held_object;

static void *fork_holder(void *arg) {
  (void)arg;
  fork_held_object = hs_pool_get(fork_pool);
  hs_pool_put(fork_pool, fork_held_object);
  hs_pool_put(fork_doomed_pool, hs_pool_get(fork_doomed_pool));
  pthread_barrier_wait(&holder_ready);
  pthread_barrier_wait(&holder_go);
  return NULL;
}

static void pool_fork(void) {
  fork_pool = hs_pool_create(32, 4096, NULL);
  fork_doomed_pool = hs_pool_create(48, 4096, NULL);
  pthread_t holder;
  start_holder(&holder, fork_holder);
  hs_pool_destroy(fork_doomed_pool); /* its object stays in the holder's magazine */
  pid_t pid = fork();
  if (pid == 0) {
    hs_pool_stats_t held;
    hs_pool_stats(fork_pool, &held);
    void *first = hs_pool_get(fork_pool);
    hs_pool_put(fork_pool, first);
    hs_pool_t *pool = hs_pool_create(32, 4096, NULL);
    for (int round = 0; round < 100; round++) {
      void *a = hs_pool_get(pool), *b = hs_pool_get(fork_pool);
      hs_pool_put(pool, a);
      hs_pool_put(fork_pool, b);
    }
    hs_pool_stats_t stats;
    hs_pool_stats(pool, &stats);
    hs_pool_destroy(pool);
    hs_pool_destroy(fork_pool);
    int failures = 0;
    if (held.retained_objects != 1 || first != fork_held_object) {
      fprintf(stderr, "child: %llu retained, first get %p, the holder's object %p\n",
              (unsigned long long)held.retained_objects, first, fork_held_object);
      failures++;
    }
    if (stats.gets != 100 || stats.hits != 99) failures++;
    _exit(failures == 0 ? 0 : 1);
  }
  /* Killed if stuck on a lock, even inside fork's own child handlers. */
  int status = testlib_wait_child(pid, 10);
  CHECK_MSG(status == 0, "forked child: status %d (-1: stuck, killed)", status);
  join_holder(holder);
  hs_pool_destroy(fork_pool);
}

/* Four threads each use seventeen pools in turn: a thread has sixteen
 * magazines, so two of the pools share one and trade it (its objects to
 * their pool's shared list) every so often.  No object is handed to two
 * holders, each pool stays within its cap, and every object is accounted
 * for. */
enum { SHARE_POOLS = 17, SHARE_THREADS = 4, SHARE_ROUNDS = 20000, SHARE_CAP = 24 };
static hs_pool_t *share_pools[SHARE_POOLS];

static void *share_worker(void *arg) {
  uint64_t me = (uint64_t)(uintptr_t)arg;
  record_t *held[SHARE_POOLS][2];
  for (int round = 0; round < SHARE_ROUNDS; round++) {
    for (int p = 0; p < SHARE_POOLS; p++) {
      for (int i = 0; i < 2; i++) {
        held[p][i] = hs_pool_get(share_pools[p]);
        if (held[p][i]->owner != 0 || held[p][i]->magic != 0x5eed)
          atomic_fetch_add(&double_handouts, 1);
        held[p][i]->owner = me;
      }
    }
    for (int p = 0; p < SHARE_POOLS; p++) {
      for (int i = 0; i < 2; i++) {
        if (held[p][i]->owner != me) atomic_fetch_add(&double_handouts, 1);
        hs_pool_put(share_pools[p], held[p][i]);
      }
    }
  }
  return NULL;
}

static void pool_shared_magazines(void) {
  int64_t before = live_objects();
  atomic_store(&double_handouts, 0);
  for (int p = 0; p < SHARE_POOLS; p++)
    share_pools[p] = hs_pool_create(sizeof(record_t), SHARE_CAP * sizeof(record_t), reset_record);
  pthread_t threads[SHARE_THREADS];
  for (int i = 0; i < SHARE_THREADS; i++)
    pthread_create(&threads[i], NULL, share_worker, (void *)(uintptr_t)(i + 1));
  for (int i = 0; i < SHARE_THREADS; i++) pthread_join(threads[i], NULL);
  CHECK_MSG(atomic_load(&double_handouts) == 0, "%ld objects held by two threads",
            atomic_load(&double_handouts));
  int64_t retained = 0;
  for (int p = 0; p < SHARE_POOLS; p++) {
    hs_pool_stats_t stats;
    hs_pool_stats(share_pools[p], &stats);
    uint64_t calls = (uint64_t)SHARE_THREADS * SHARE_ROUNDS * 2;
    CHECK_MSG(stats.gets == calls && stats.puts == calls && stats.retained_objects <= SHARE_CAP &&
                  stats.hits > calls / 2,
              "pool %d: gets %llu, puts %llu, hits %llu, retained %llu", p,
              (unsigned long long)stats.gets, (unsigned long long)stats.puts,
              (unsigned long long)stats.hits, (unsigned long long)stats.retained_objects);
    retained += (int64_t)stats.retained_objects;
  }
  CHECK_MSG(live_objects() - before == SHARE_POOLS + retained, "live objects +%lld, %lld retained",
            (long long)(live_objects() - before), (long long)retained);
  for (int p = 0; p < SHARE_POOLS; p++) hs_pool_destroy(share_pools[p]);
  CHECK_MSG(live_objects() == before, "live objects +%lld after destroy",
            (long long)(live_objects() - before));
}

/* Children forked while another thread is inside a pool's lock: every
 * child can still use the pool (fork takes every pool's lock first).  The
 * pool keeps nothing (a cap of 0), so each of the thread's gets and puts
 * takes the lock. */
static atomic_bool locked_stop;
static hs_pool_t *locked_pool;

static void *locked_worker(void *arg) {
  (void)arg;
  while (!atomic_load(&locked_stop)) hs_pool_put(locked_pool, hs_pool_get(locked_pool));
  return NULL;
}

static void pool_fork_while_locked(void) {
  locked_pool = hs_pool_create(64, 0, NULL);
  pthread_t worker;
  pthread_create(&worker, NULL, locked_worker, NULL);
  int stuck = 0;
  int forks = 0;
  for (; forks < 200 && stuck == 0; forks++) {
    pid_t pid = fork();
    if (pid == 0) {
      alarm(2); /* a child stuck on a lock its parent's thread held dies */
      hs_pool_put(locked_pool, hs_pool_get(locked_pool));
      _exit(0);
    }
    int status = -1;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) stuck++;
  }
  atomic_store(&locked_stop, true);
  pthread_join(worker, NULL);
  CHECK_MSG(stuck == 0, "forked child %d could not use the pool", forks);
  hs_pool_destroy(locked_pool);
}

/* Runs fn in a child with stderr captured; true if it died of SIGABRT
 * with `expected` and the pointer it names in its message. */
static bool aborts_with(void (*fn)(char *pointer_text), const char *expected) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return false;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], 2);
    char pointer_text[64];
    fn(pointer_text);
    _exit(0);
  }
  close(pipe_fds[1]);
  char out[512] = {0};
  size_t got = 0;
  ssize_t n;
  while (got < sizeof out - 1 && (n = read(pipe_fds[0], out + got, sizeof out - 1 - got)) > 0)
    got += (size_t)n;
  close(pipe_fds[0]);
  int status;
  waitpid(pid, &status, 0);
  bool ok = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT && strstr(out, expected);
  if (!ok) fprintf(stderr, "child said: %s\n", out);
  return ok;
}

static void put_twice(char *pointer_text) {
  hs_pool_t *pool = hs_pool_create(64, 4096, NULL);
  void *object = hs_pool_get(pool);
  hs_pool_put(pool, object);
  hs_pool_put(pool, object);
}

static void put_foreign(char *pointer_text) {
  hs_pool_t *pool = hs_pool_create(1000, 4096, NULL);
  hs_pool_put(pool, malloc(24));
}

static void put_inside(char *pointer_text) {
  hs_pool_t *pool = hs_pool_create(16, 4096, NULL);
  hs_pool_put(pool, (char *)malloc(64) + 8);
}

static void pool_aborts(void) {
  CHECK(aborts_with(put_twice, "heapscope: hs_pool_put(): object already in the pool 0x"));
  CHECK(aborts_with(put_foreign, "heapscope: hs_pool_put(): object smaller than the pool's 0x"));
  CHECK(aborts_with(put_inside, "heapscope: hs_pool_put(): invalid pointer 0x"));
}

static void arena_objects(void) {
  int64_t before = live_objects();
  hs_arena_t *arena = hs_arena_create(4096, 2 * 4096 + 1024);
  enum { COUNT = 2000 };
  unsigned char *objects[COUNT];
  size_t sizes[COUNT];
  uint64_t mallocs = hs_thread_counters().mallocs;
  for (int i = 0; i < COUNT; i++) {
    sizes[i] = (size_t)(i * 37 % 200); /* 0..199, some 0 */
    objects[i] = hs_arena_alloc(arena, sizes[i]);
    CHECK(objects[i] != NULL && (uintptr_t)objects[i] % 16 == 0);
    memset(objects[i], i & 0xff, sizes[i]);
  }
  /* ~230 KiB in 4 KiB chunks: one malloc a chunk, not one an object. */
  uint64_t chunk_mallocs = hs_thread_counters().mallocs - mallocs;
  CHECK_MSG(chunk_mallocs >= 40 && chunk_mallocs <= 80, "%llu mallocs for %d objects",
            (unsigned long long)chunk_mallocs, COUNT);
  int overwritten = 0;
  for (int i = 0; i < COUNT; i++)
    for (size_t b = 0; b < sizes[i]; b++) overwritten += objects[i][b] != (unsigned char)(i & 0xff);
  CHECK_MSG(overwritten == 0, "%d bytes overwritten", overwritten);
  for (int i = 1; i < COUNT; i++) CHECK(objects[i] != objects[i - 1]);

  /* A request over a quarter of a chunk has a chunk of its own. */
  unsigned char *big = hs_arena_alloc(arena, 100000);
  CHECK(big != NULL && (uintptr_t)big % 16 == 0 && hs_malloc_usable_size(big - 32) >= 100000);
  memset(big, 7, 100000);

  hs_arena_stats_t stats;
  hs_arena_stats(arena, &stats);
  CHECK(stats.allocated_bytes >= 100000 && stats.held_bytes >= stats.allocated_bytes);
  hs_arena_reset(arena);
  hs_arena_stats(arena, &stats);
  /* At most 2 chunks kept (each 4 KiB + a 32-byte header). */
  CHECK_MSG(stats.allocated_bytes == 0 && stats.resets == 1 && stats.retained_bytes == 2 * (4096 + 32) &&
                stats.held_bytes == stats.retained_bytes,
            "after reset: %llu allocated, %llu held, %llu retained",
            (unsigned long long)stats.allocated_bytes, (unsigned long long)stats.held_bytes,
            (unsigned long long)stats.retained_bytes);
  CHECK_MSG(live_objects() - before == 3, "live objects +%lld after reset (arena + 2 chunks)",
            (long long)(live_objects() - before));
  /* The retained chunks serve the next 8 KiB without a malloc. */
  mallocs = hs_thread_counters().mallocs;
  for (int i = 0; i < 100; i++) CHECK(hs_arena_alloc(arena, 64) != NULL);
  CHECK(hs_thread_counters().mallocs == mallocs);
  hs_arena_destroy(arena);
  CHECK_MSG(live_objects() == before, "live objects +%lld after destroy",
            (long long)(live_objects() - before));
}

int main(void) {
  pool_contract();
  pool_cap();
  pool_threads();
  pool_cap_threads();
  pool_shared_magazines();
  pool_destroy_with_magazines();
  pool_handoff();
  pool_fork();
  pool_fork_while_locked();
  pool_aborts();
  arena_objects();
  return testlib_done();
}
