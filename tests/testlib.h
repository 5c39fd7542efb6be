/* testlib.h — a tiny header-only test framework for heapscope's test programs.
 *
 *   CHECK(cond)                 record a failure (file:line, the expression) and go on
 *   CHECK_MSG(cond, fmt, ...)   same, with a printf-style explanation
 *   testlib_done()              print "PASS <prog>: N checks" or a failure summary;
 *                               returns the exit code (return testlib_done(); from main)
 *   hs_fn(name)                 dlsym(RTLD_DEFAULT, name): reach heapscope's hs_* and
 *                               other optional functions without a link dependency
 *   testlib_expect_heapscope()  when HEAPSCOPE_TEST_EXPECT=1, fail loudly unless
 *                               heapscope really is the malloc in use
 *   testlib_skip_unless_heapscope()
 *                               testlib_expect_heapscope(); then, if heapscope is not
 *                               loaded, print "SKIP <prog>: ..." and return true
 *   testlib_quick()             true when HEAPSCOPE_TEST_QUICK=1 (reduce iterations)
 *   testlib_random(&state), testlib_random_below(&state, n), testlib_mix64(x)
 *                               pseudo-random numbers for workloads and seeds
 *   testlib_pattern_fill(p, size, seed), testlib_pattern_check(p, len, owner, size, seed)
 *                               bytes derived from a block's address and size, and
 *                               where a block (or the part realloc moved) lost them
 *   testlib_stats()             hs_stats() now (zeros when heapscope is not loaded)
 *   testlib_fill_objects(objects, count, first, step, bytes)
 *                               objects[i] = malloc(bytes) holding (i & 0xff), for
 *                               i = first, first + step, ... < count
 *   testlib_count_overwritten(objects, count, first, step, bytes)
 *                               how many of those objects lost that pattern
 *   testlib_run_with_option(argv, "name=value")
 *                               re-execute with that in HEAPSCOPE unless it is there
 *   testlib_run_child(mode, options, seconds)
 *                               run this program again as `prog MODE` with HEAPSCOPE=options
 *                               in a child; its exit status, or -1 if it did not end in
 *                               time (it is killed)
 *   testlib_wait_child(pid, seconds)
 *                               a forked child's exit status (128 + signal), or -1 if it
 *                               did not end in time (it is killed)
 *   testlib_status_kib("VmHWM:") a /proc/self/status line's figure (kB), 0 if absent
 *   testlib_inbox_t, testlib_inbox_put(box, i, p, size), testlib_inbox_take(box, i, &size)
 *                               objects handed to another thread (one producer an inbox)
 *
 * Counters are atomic, so CHECK may be used from several threads.  Failure
 * reporting uses fprintf(stderr, ...) only (stderr is unbuffered), and the number
 * of printed failures is capped so a failing loop cannot flood the log.
 */
#ifndef HEAPSCOPE_TESTLIB_H
#define HEAPSCOPE_TESTLIB_H

#include <dlfcn.h>
#include <signal.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "heapscope.h"

#define TESTLIB_MAX_PRINTED 100

static unsigned long testlib_checks_;
static unsigned long testlib_failures_;

#define TESTLIB_UNUSED_ __attribute__((unused))

/* The program's short name (glibc's program_invocation_short_name). */
static TESTLIB_UNUSED_ const char *testlib_prog(void) {
  extern char *program_invocation_short_name;
  return program_invocation_short_name ? program_invocation_short_name : "test";
}

static TESTLIB_UNUSED_ __attribute__((format(printf, 4, 5))) void
testlib_fail_(const char *file, int line, const char *expr, const char *fmt, ...) {
  unsigned long n = __atomic_add_fetch(&testlib_failures_, 1, __ATOMIC_RELAXED);
  if (n > TESTLIB_MAX_PRINTED) {
    if (n == TESTLIB_MAX_PRINTED + 1)
      fprintf(stderr, "%s: (further failures not printed)\n", testlib_prog());
    return;
  }
  fprintf(stderr, "FAIL %s:%d: %s", file, line, expr);
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    fputs(": ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
  }
  fputc('\n', stderr);
}

static inline bool testlib_check_(bool ok) {
  __atomic_add_fetch(&testlib_checks_, 1, __ATOMIC_RELAXED);
  return ok;
}

/* Both evaluate cond exactly once and yield whether it held. */
#define CHECK(cond)                                                         \
  (testlib_check_(!!(cond))                                                 \
       ? true                                                               \
       : (testlib_fail_(__FILE__, __LINE__, #cond, NULL), false))
#define CHECK_MSG(cond, ...)                                                \
  (testlib_check_(!!(cond))                                                 \
       ? true                                                               \
       : (testlib_fail_(__FILE__, __LINE__, #cond, __VA_ARGS__), false))

/* Optional grouping: TEST(name) { ... } defines static void test_name(void);
 * RUN(name) prints its name and calls it. */
#define TEST(name) static void test_##name(void)
#define RUN(name)                                                           \
  do {                                                                      \
    fprintf(stderr, "-- %s\n", #name);                                      \
    test_##name();                                                          \
  } while (0)

/* xorshift64: the next pseudo-random number from *state (never 0; the
 * state must not start at 0). */
static TESTLIB_UNUSED_ uint64_t testlib_random(uint64_t *state) {
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

/* One below n (n > 0; the modulo bias does not matter here). */
static TESTLIB_UNUSED_ uint64_t testlib_random_below(uint64_t *state, uint64_t n) {
  return testlib_random(state) % n;
}

/* splitmix64's finaliser: every bit of x stirred into every bit of the
 * result (seeds for threads, keys for patterns). */
static TESTLIB_UNUSED_ uint64_t testlib_mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/* Patterned blocks: each byte derived from the block's address, its size
 * and a seed, so a block handed out twice, written by someone else, or
 * moved by realloc without its bytes shows.  All of the first 4 KiB is
 * written and checked, then every 61st byte and the last. */
static TESTLIB_UNUSED_ uint64_t testlib_pattern_key(const void *p, size_t size, uint64_t seed) {
  return testlib_mix64((uint64_t)(uintptr_t)p ^ testlib_mix64(size ^ seed));
}
static TESTLIB_UNUSED_ unsigned char testlib_pattern_byte(uint64_t key, size_t offset) {
  return (unsigned char)(key >> (8 * (offset & 7))) ^ (unsigned char)(offset >> 3);
}
static TESTLIB_UNUSED_ size_t testlib_pattern_next(size_t offset) {
  return offset + (offset < 4096 ? 1 : 61);
}
static TESTLIB_UNUSED_ void testlib_pattern_fill(unsigned char *p, size_t size, uint64_t seed) {
  uint64_t key = testlib_pattern_key(p, size, seed);
  for (size_t i = 0; i < size; i = testlib_pattern_next(i)) p[i] = testlib_pattern_byte(key, i);
  if (size) p[size - 1] = testlib_pattern_byte(key, size - 1);
}
/* Checks bytes [0, len) of p against the pattern of the block (owner,
 * owner_size): the first `len` bytes of a block realloc moved to p.
 * Returns the first bad offset, or (size_t)-1. */
static TESTLIB_UNUSED_ size_t testlib_pattern_check(const unsigned char *p, size_t len,
                                                    const void *owner, size_t owner_size,
                                                    uint64_t seed) {
  uint64_t key = testlib_pattern_key(owner, owner_size, seed);
  for (size_t i = 0; i < len; i = testlib_pattern_next(i))
    if (p[i] != testlib_pattern_byte(key, i)) return i;
  if (len == owner_size && len && p[len - 1] != testlib_pattern_byte(key, len - 1))
    return len - 1;
  return (size_t)-1;
}

static TESTLIB_UNUSED_ unsigned long testlib_failures(void) {
  return __atomic_load_n(&testlib_failures_, __ATOMIC_RELAXED);
}

/* Prints the result line and returns the process exit code (0 or 1). */
static TESTLIB_UNUSED_ int testlib_done(void) {
  unsigned long checks = __atomic_load_n(&testlib_checks_, __ATOMIC_RELAXED);
  unsigned long fails = testlib_failures();
  fflush(stdout);
  if (fails == 0) {
    printf("PASS %s: %lu checks\n", testlib_prog(), checks);
    fflush(stdout);
    return 0;
  }
  fprintf(stderr, "FAIL %s: %lu of %lu checks failed\n", testlib_prog(), fails,
          checks);
  return 1;
}

/* Looks a function up by name among everything loaded (NULL if absent). */
static TESTLIB_UNUSED_ void *hs_fn(const char *name) {
  return dlsym(RTLD_DEFAULT, name);
}

static TESTLIB_UNUSED_ bool testlib_env_is_1_(const char *name) {
  const char *v = getenv(name);
  return v && strcmp(v, "1") == 0;
}

/* True when HEAPSCOPE_TEST_QUICK=1: use reduced iteration counts. */
static TESTLIB_UNUSED_ bool testlib_quick(void) {
  return testlib_env_is_1_("HEAPSCOPE_TEST_QUICK");
}

/* The process's resident set in pages (/proc/self/statm), or -1.  Its
 * first call's own allocations (stdio's) count: call it once before the
 * reading a measurement starts from. */
static TESTLIB_UNUSED_ long testlib_resident_pages(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, resident = -1;
  if (f) {
    if (fscanf(f, "%ld %ld", &size, &resident) != 2) resident = -1;
    fclose(f);
  }
  return resident;
}

/* The process's anonymous resident pages (/proc/self/statm: resident less
 * shared, the file-backed ones), or -1: what heap and metadata growth
 * shows as, without the executable's and libraries' file pages, which
 * the kernel maps a fault-around window at a time (up to 16 pages at
 * once) whenever they are in the page cache.  Call it once before the
 * reading a measurement starts from, as testlib_resident_pages. */
static TESTLIB_UNUSED_ long testlib_anonymous_pages(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long size = 0, resident = -1, shared = 0;
  if (f) {
    if (fscanf(f, "%ld %ld %ld", &size, &resident, &shared) != 3) resident = -1;
    fclose(f);
  }
  return resident < 0 ? -1 : resident - shared;
}

/* Hand-offs between threads: an inbox of TESTLIB_INBOX_SLOTS slots, each
 * empty or holding an object (and its size) for the inbox's thread to free.
 * One producer per inbox: it fills a slot only while the slot is empty, and
 * the consumer reads the size before it empties the slot. */
#define TESTLIB_INBOX_SLOTS 64
typedef struct testlib_inbox {
  _Atomic(unsigned char *) objects[TESTLIB_INBOX_SLOTS];
  _Atomic(size_t) sizes[TESTLIB_INBOX_SLOTS];
} testlib_inbox_t;

/* Puts `p` (`size` bytes) in slot `i` if it is empty; true if it did. */
static TESTLIB_UNUSED_ bool testlib_inbox_put(testlib_inbox_t *box, int i, unsigned char *p,
                                              size_t size) {
  if (atomic_load(&box->objects[i]) != NULL) return false;
  atomic_store(&box->sizes[i], size);
  atomic_store(&box->objects[i], p);
  return true;
}

/* The object in slot `i` (its size in *size), the slot emptied; NULL if
 * the slot is empty. */
static TESTLIB_UNUSED_ unsigned char *testlib_inbox_take(testlib_inbox_t *box, int i,
                                                         size_t *size) {
  unsigned char *p = atomic_load(&box->objects[i]);
  if (!p) return NULL;
  *size = atomic_load(&box->sizes[i]);
  atomic_store(&box->objects[i], NULL);
  return p;
}

/* heapscope's statistics now, through hs_stats when it is loaded (all zero
 * otherwise). */
static TESTLIB_UNUSED_ hs_stats_t testlib_stats(void) {
  hs_stats_t s = {.struct_size = sizeof s};
  int (*stats)(hs_stats_t *) = (int (*)(hs_stats_t *))hs_fn("hs_stats");
  if (stats) stats(&s);
  return s;
}

/* objects[i] = malloc(bytes), every byte (i & 0xff), for i = first,
 * first + step, ... below count.  False (a failed CHECK) if malloc fails. */
static TESTLIB_UNUSED_ bool testlib_fill_objects(unsigned char **objects, size_t count, size_t first,
                                                 size_t step, size_t bytes) {
  for (size_t i = first; i < count; i += step) {
    objects[i] = malloc(bytes);
    if (!CHECK_MSG(objects[i] != NULL, "malloc(%zu) failed at object %zu", bytes, i)) return false;
    memset(objects[i], (int)(i & 0xff), bytes);
  }
  return true;
}

/* How many of the objects testlib_fill_objects filled lost their pattern. */
static TESTLIB_UNUSED_ size_t testlib_count_overwritten(unsigned char *const *objects, size_t count,
                                                        size_t first, size_t step, size_t bytes) {
  size_t bad = 0;
  for (size_t i = first; i < count; i += step)
    for (size_t b = 0; b < bytes; b++)
      if (objects[i][b] != (unsigned char)(i & 0xff)) {
        bad++;
        break;
      }
  return bad;
}

/* Makes sure the process runs with `option` (e.g. "release_on_drain=0") in
 * HEAPSCOPE, which heapscope reads once at start-up: if it is not there,
 * appends it and re-executes the program with the same arguments (and the
 * same LD_PRELOAD).  Returns only when the option is in effect. */
static TESTLIB_UNUSED_ void testlib_run_with_option(char **argv, const char *option) {
  const char *current = getenv("HEAPSCOPE");
  if (current && strstr(current, option)) return;
  char value[512];
  snprintf(value, sizeof value, "%s%s%s", current ? current : "", current && *current ? "," : "",
           option);
  setenv("HEAPSCOPE", value, 1);
  fflush(NULL);
  execv("/proc/self/exe", argv);
  fprintf(stderr, "FATAL %s: cannot re-execute with HEAPSCOPE=%s\n", testlib_prog(), value);
  exit(2);
}

/* When HEAPSCOPE_TEST_EXPECT=1, checks that heapscope is the malloc in use:
 * hs_stats is reachable and its `mallocs` counter grows across a malloc/free
 * pair made through the plain malloc name.  Exits with status 2 if not, since
 * nothing else the program tests would mean anything. */
static TESTLIB_UNUSED_ void testlib_expect_heapscope(void) {
  if (!testlib_env_is_1_("HEAPSCOPE_TEST_EXPECT"))
    return;
  typedef int (*stats_fn)(hs_stats_t *);
  stats_fn stats = (stats_fn)hs_fn("hs_stats");
  if (!stats) {
    fprintf(stderr,
            "FATAL %s: HEAPSCOPE_TEST_EXPECT=1 but hs_stats is not loaded "
            "(heapscope is not in this process)\n", testlib_prog());
    exit(2);
  }
  hs_stats_t before, after;
  memset(&before, 0, sizeof before);
  memset(&after, 0, sizeof after);
  before.struct_size = after.struct_size = sizeof(hs_stats_t);
  int r1 = stats(&before);
  volatile size_t sz = 24;
  void *volatile p = malloc(sz);
  if (p)
    memset(p, 1, sz);
  free(p);
  int r2 = stats(&after);
  if (r1 != 0 || r2 != 0 || !p || after.mallocs <= before.mallocs) {
    fprintf(stderr,
            "FATAL %s: HEAPSCOPE_TEST_EXPECT=1 but heapscope is not serving "
            "malloc (hs_stats -> %d/%d, mallocs %llu -> %llu, malloc -> %p)\n",
            testlib_prog(), r1, r2, (unsigned long long)before.mallocs,
            (unsigned long long)after.mallocs, p);
    exit(2);
  }
  fprintf(stderr, "%s: heapscope %s is the allocator\n", testlib_prog(),
          hs_fn("hs_version")
              ? ((const char *(*)(void))hs_fn("hs_version"))()
              : "?");
}

/* For a program whose checks mean something only under heapscope: true
 * (after printing "SKIP <prog>: not running under heapscope") when it runs
 * on another malloc, as the plain build does without LD_PRELOAD. */
static TESTLIB_UNUSED_ bool testlib_skip_unless_heapscope(void) {
  testlib_expect_heapscope();
  if (hs_fn("hs_stats")) return false;
  printf("SKIP %s: not running under heapscope\n", testlib_prog());
  return true;
}

static TESTLIB_UNUSED_ int testlib_wait_child(pid_t pid, double seconds) {
  int status = 0;
  for (long waited_ms = 0; waitpid(pid, &status, WNOHANG) == 0; waited_ms += 10) {
    if (waited_ms >= (long)(seconds * 1000)) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return -1;
    }
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static TESTLIB_UNUSED_ int testlib_run_child(const char *mode, const char *options,
                                             double seconds) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("HEAPSCOPE", options, 1);
    execl("/proc/self/exe", testlib_prog(), mode, (char *)NULL);
    _exit(127);
  }
  if (pid < 0) return -1;
  return testlib_wait_child(pid, seconds);
}

static TESTLIB_UNUSED_ uint64_t testlib_status_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  uint64_t value = 0;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0) value = strtoull(line + n, NULL, 10);
  if (f) fclose(f);
  return value;
}

#endif /* HEAPSCOPE_TESTLIB_H */
