/* memory_limit_test.c — the soft and the hard memory limit.
 *
 * Soft (in this process, hs_set_memory_limit(256 MiB)): 50 cycles between
 * 200 MiB and 10 MiB of live data, the size mix shifting every cycle (small
 * objects, then large ones that cannot reuse the fragmented small-object
 * spans), all touched; each cycle keeps its newest 10 MiB and frees the
 * rest in random order.  The peak RSS of the whole run (VmHWM) must stay
 * under 280 MiB, and hs_stats must report the limit.
 * Hard (a re-executed child with HEAPSCOPE=memory_limit_bytes=64M,
 * memory_limit_mode=hard): allocating 1 MiB blocks, then small objects,
 * eventually fails with ENOMEM; the refusals are counted; after freeing,
 * allocation works again.  A third child checks that a bad mode word is
 * reported in one line and ignored.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

#define MIB ((size_t)1 << 20)
#define SLOTS 200000

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t next_random(void) { return testlib_random(&rng); }

static void *slots[SLOTS];
static size_t sizes[SLOTS];

static void soft_limit(void) {
  uint64_t (*set_limit)(uint64_t) = (uint64_t (*)(uint64_t))hs_fn("hs_set_memory_limit");
  if (!CHECK(set_limit != NULL)) return;
  set_limit(getenv("NOLIMIT") ? 0 : (uint64_t)256 * MIB);
  CHECK(testlib_stats().memory_limit == (uint64_t)256 * MIB);
  size_t live = 0, count = 0;
  for (int cycle = 0; cycle < 50; cycle++) {
    int mix = cycle % 3; /* 0: small, 1: medium, 2: large objects */
    while (live < 200 * MIB && count < SLOTS) {
      size_t size = mix == 0 ? 16 + (size_t)(next_random() % 4081)
                  : mix == 1 ? 4096 + (size_t)(next_random() % (60 * 1024))
                             : 300 * 1024 + (size_t)(next_random() % (2 * MIB));
      char *p = malloc(size);
      if (!CHECK(p != NULL)) return;
      memset(p, cycle, size);
      slots[count] = p;
      sizes[count++] = size;
      live += size;
    }
    /* Keep the newest ~10 MiB (this cycle's survivors), free the rest in
     * random order. */
    size_t keep_from = count, kept_bytes = 0;
    while (keep_from > 0 && kept_bytes + sizes[keep_from - 1] <= 10 * MIB)
      kept_bytes += sizes[--keep_from];
    for (size_t i = keep_from; i > 1; i--) {
      size_t j = (size_t)(next_random() % i);
      void *tp = slots[i - 1];
      size_t ts = sizes[i - 1];
      slots[i - 1] = slots[j];
      sizes[i - 1] = sizes[j];
      slots[j] = tp;
      sizes[j] = ts;
    }
    for (size_t i = 0; i < keep_from; i++) free(slots[i]);
    memmove(slots, slots + keep_from, (count - keep_from) * sizeof slots[0]);
    memmove(sizes, sizes + keep_from, (count - keep_from) * sizeof sizes[0]);
    count -= keep_from;
    live = kept_bytes;
  }
  uint64_t hwm = testlib_status_kib("VmHWM:") << 10;
  hs_stats_t s = testlib_stats();
  fprintf(stderr,
          "soft limit 256 MiB: peak rss %.1f MiB; overruns %llu, limit releases %.1f MiB, "
          "released total %.1f MiB\n",
          hwm / 1048576.0, (unsigned long long)s.limit_overruns, s.limit_released / 1048576.0,
          s.released_total / 1048576.0);
  CHECK_MSG(hwm < (uint64_t)280 * MIB, "peak rss %.1f MiB >= 280 MiB", hwm / 1048576.0);
  CHECK(s.memory_limit_hard == 0);
  for (size_t i = 0; i < count; i++) free(slots[i]);
  set_limit(0);
}

static void hard_limit_child(void) {
  hs_stats_t s = testlib_stats();
  CHECK(s.memory_limit == 64 * MIB);
  CHECK(s.memory_limit_hard == 1);
  /* Large blocks until refused. */
  size_t count = 0;
  void *p;
  errno = 0;
  while (count < 1000 && (p = malloc(MIB)) != NULL) {
    memset(p, 1, MIB);
    slots[count++] = p;
  }
  CHECK_MSG(count < 1000 && errno == ENOMEM, "%zu blocks, errno %d", count, errno);
  CHECK_MSG(count >= 40 && count <= 64, "%zu MiB fit under a 64 MiB limit", count);
  s = testlib_stats();
  CHECK(s.limit_refusals >= 1);
  CHECK_MSG(s.heap_sys - s.heap_released <= 64 * MIB, "footprint %llu",
            (unsigned long long)(s.heap_sys - s.heap_released));
  /* calloc and realloc fail cleanly too. */
  CHECK(calloc(1, 8 * MIB) == NULL);
  void *grown = realloc(slots[0], 16 * MIB);
  CHECK(grown == NULL);
  /* Recover: free half, allocate again. */
  for (size_t i = 0; i < count; i += 2) free(slots[i]);
  size_t again = 0;
  for (size_t i = 0; i < count; i += 2) {
    slots[i] = malloc(MIB);
    if (slots[i]) again++;
  }
  CHECK_MSG(again == (count + 1) / 2, "only %zu of %zu reallocated", again, (count + 1) / 2);
  for (size_t i = 0; i < count; i++) free(slots[i]);
  /* Small objects until refused; then free them and allocate again. */
  count = 0;
  errno = 0;
  while (count < SLOTS && (p = malloc(1000)) != NULL) {
    memset(p, 2, 1000);
    slots[count++] = p;
  }
  CHECK_MSG(count < SLOTS && errno == ENOMEM, "%zu small objects, errno %d", count, errno);
  CHECK_MSG(count * 1000 >= 40 * MIB, "only %zu small objects fit", count);
  for (size_t i = 0; i < count; i++) free(slots[i]);
  p = malloc(4 * MIB);
  CHECK(p != NULL);
  free(p);
  p = malloc(100);
  CHECK(p != NULL);
  free(p);
}

/* Runs this program again with HEAPSCOPE=`options` and `mode` as argv[1];
 * returns its exit status; its stderr goes to `err` (may be NULL). */
static int run_child(const char *options, const char *mode, char *err, size_t err_size) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    setenv("HEAPSCOPE", options, 1);
    execl("/proc/self/exe", "memory_limit_test", mode, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  size_t len = 0;
  ssize_t n;
  char sink[4096];
  while ((n = read(fds[0], sink, sizeof sink)) > 0) {
    fwrite(sink, 1, (size_t)n, stderr);
    if (err) {
      size_t take = ((size_t)n < err_size - 1 - len ? (size_t)n : err_size - 1 - len);
      memcpy(err + len, sink, take);
      len += take;
    }
  }
  if (err) err[len] = 0;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "hard") == 0) {
    hard_limit_child();
    return testlib_done();
  }
  if (argc > 1 && strcmp(argv[1], "noop") == 0) {
    CHECK(testlib_stats().memory_limit_hard == 0);
    return testlib_done();
  }
  testlib_expect_heapscope();
  soft_limit();
  CHECK_MSG(run_child("memory_limit_bytes=64M,memory_limit_mode=hard", "hard", NULL, 0) == 0,
            "hard-limit child failed");
  char err[4096];
  CHECK(run_child("memory_limit_mode=medium", "noop", err, sizeof err) == 0);
  CHECK_MSG(strstr(err, "memory_limit_mode=medium") && strstr(err, "soft|hard"),
            "no clear message for a bad mode: '%s'", err);
  return testlib_done();
}
