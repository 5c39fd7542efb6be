/* pool_test.c — object pools and arenas (src/pool.c, src/arena.c): the
 * reset contract (every object from hs_pool_get as reset made it, new or
 * reused), the retained-size caps, the counters, no object handed to two
 * threads at once, the aborts on a double put and a foreign object, and
 * arenas' alignment, own chunks, reuse after reset and exact malloc counts. */
#include <pthread.h>
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

static void pool_aborts(void) {
  CHECK(aborts_with(put_twice, "heapscope: hs_pool_put(): object already in the pool 0x"));
  CHECK(aborts_with(put_foreign, "heapscope: hs_pool_put(): object smaller than the pool's 0x"));
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
  pool_aborts();
  arena_objects();
  return testlib_done();
}
