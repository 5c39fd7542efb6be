/* death_test.c — heapscope aborts on bad frees, naming the call and the pointer.
 *
 * Each case forks; the child sends stderr into a pipe and does one bad thing;
 * the parent checks that the child died of SIGABRT and that its stderr has the
 * expected line, e.g. "heapscope: free(): invalid pointer 0x55d0c0a01010"
 * (the pointer as printed by "%p").  Only meaningful under heapscope: with any
 * other malloc the program prints SKIP and exits 0.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#pragma GCC diagnostic ignored "-Wuse-after-free"

/* Calls go through volatile pointers so the compiler cannot see the UB. */
static void (*volatile free_v)(void *) = free;
static void *(*volatile realloc_v)(void *, size_t) = realloc;
static size_t (*volatile usable_v)(void *) = malloc_usable_size;

typedef enum {
  DO_FREE,
  DO_FREE_TWICE,
  DO_REALLOC,
  DO_REALLOC_SAME_CLASS,
  DO_REALLOC_FITTING,           /* realloc to refit_bytes: a size the live block
                                   would keep in place */
  DO_FREE_THEN_REALLOC_FITTING, /* free it first */
  DO_USABLE,
  DO_WRITE_AFTER_FREE,   /* free a 64-byte block, write its second word, malloc(64) */
  DO_FREE_ACROSS_THREADS /* a 64-byte block freed by two threads, then malloc'd by both */
} action_t;

static void *(*volatile malloc_v)(size_t) = malloc;
static size_t refit_bytes; /* the size of DO_REALLOC_FITTING and DO_FREE_THEN_REALLOC_FITTING */

/* DO_FREE_ACROSS_THREADS: the other thread frees the block into its own
 * cache and waits while the main thread frees it again and mallocs until it
 * gets it back; then the other thread mallocs the same size, and its bin
 * hands the block out a second time. */
static int across_to_main[2], across_to_other[2];
static void *free_then_malloc_later(void *block) {
  void *volatile own = malloc_v(64); /* attaches this thread's cache */
  free_v(block);
  char c = 0;
  if (write(across_to_main[1], &c, 1) != 1 || read(across_to_other[0], &c, 1) != 1) return NULL;
  void *volatile again = malloc_v(64);
  (void)own;
  (void)again;
  return NULL;
}

static void do_bad_thing(action_t what, void *volatile ptr) {
  switch (what) {
  case DO_FREE:
    free_v(ptr);
    break;
  case DO_FREE_TWICE:
    free_v(ptr);
    free_v(ptr);
    break;
  case DO_REALLOC: {
    void *volatile r = realloc_v(ptr, 100);
    (void)r;
    break;
  }
  case DO_REALLOC_SAME_CLASS: { /* realloc's fast path for a 32-byte block */
    void *volatile r = realloc_v(ptr, 24);
    (void)r;
    break;
  }
  case DO_REALLOC_FITTING: {
    void *volatile r = realloc_v(ptr, refit_bytes);
    (void)r;
    break;
  }
  case DO_FREE_THEN_REALLOC_FITTING: {
    free_v(ptr);
    void *volatile r = realloc_v(ptr, refit_bytes);
    (void)r;
    break;
  }
  case DO_USABLE: {
    volatile size_t u = usable_v(ptr);
    (void)u;
    break;
  }
  case DO_WRITE_AFTER_FREE: {
    free_v(ptr);
    ((volatile uintptr_t *)ptr)[1] = 0x5a5a5a5a; /* the bug */
    void *volatile r = malloc_v(64);
    (void)r;
    break;
  }
  case DO_FREE_ACROSS_THREADS: {
    pthread_t other;
    char c = 0;
    if (pipe(across_to_main) != 0 || pipe(across_to_other) != 0 ||
        pthread_create(&other, NULL, free_then_malloc_later, ptr) != 0 ||
        read(across_to_main[0], &c, 1) != 1)
      break;
    free_v(ptr); /* the bug: its first free waits in the other thread's cache */
    for (int i = 0; i < (1 << 16) && malloc_v(64) != ptr; i++) {
    } /* handed out here first */
    if (write(across_to_other[1], &c, 1) != 1) break;
    pthread_join(other, NULL);
    break;
  }
  }
}

/* True if `line` occurs in `out` as a whole line. */
static bool has_line(const char *out, const char *line) {
  size_t n = strlen(line);
  for (const char *s = out; (s = strstr(s, line)) != NULL; s++) {
    bool starts = s == out || s[-1] == '\n';
    bool ends = s[n] == '\n' || s[n] == '\0';
    if (starts && ends)
      return true;
  }
  return false;
}

/* Runs one case; `msg1` (and optionally `msg2`) are the accepted message
 * prefixes, each followed by " <ptr as %p>". */
static void death_case(const char *label, action_t what, void *ptr, const char *msg1,
                       const char *msg2) {
  int fds[2];
  if (!CHECK(pipe(fds) == 0))
    return;
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (!CHECK(pid >= 0))
    return;
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 2);
    close(fds[1]);
    alarm(20); /* a hang becomes SIGALRM, not a stuck test */
    do_bad_thing(what, ptr);
    _exit(0); /* survived: heapscope did not notice */
  }
  close(fds[1]);
  static char out[16384];
  size_t len = 0;
  for (;;) {
    ssize_t r = read(fds[0], out + len, sizeof out - 1 - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    len += (size_t)r;
    if (len == sizeof out - 1)
      break;
  }
  out[len] = '\0';
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }

  char want1[256], want2[256] = "";
  snprintf(want1, sizeof want1, "%s %p", msg1, ptr);
  if (msg2)
    snprintf(want2, sizeof want2, "%s %p", msg2, ptr);
  bool aborted = WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
  bool said = has_line(out, want1) || (msg2 && has_line(out, want2));
  char how[64];
  if (WIFSIGNALED(status))
    snprintf(how, sizeof how, "killed by signal %d", WTERMSIG(status));
  else
    snprintf(how, sizeof how, "exited with status %d", WEXITSTATUS(status));
  CHECK_MSG(aborted, "%s: child %s, expected SIGABRT; its stderr:\n%s", label, how, out);
  CHECK_MSG(said, "%s: stderr lacks the line \"%s\"%s%s%s; it was:\n%s", label, want1,
            msg2 ? " (or \"" : "", msg2 ? want2 : "", msg2 ? "\")" : "", out);
  if (aborted && said)
    fprintf(stderr, "ok %s\n", label);
}

static _Alignas(64) char static_array[4096];

/* A thread that allocates FOREIGN_OBJECTS 96-byte blocks into its
 * argument, then exits (its spans then belong to nobody). */
enum { FOREIGN_OBJECTS = 600 };
static void *alloc_foreign(void *blocks) {
  for (int i = 0; i < FOREIGN_OBJECTS; i++) ((char **)blocks)[i] = malloc(96);
  return NULL;
}

/* A thread that frees the 100 blocks its argument lists, then exits. */
static void *free_all_remote(void *blocks) {
  for (int i = 0; i < 100; i++) free(((char **)blocks)[i]);
  return NULL;
}

int main(void) {
  if (testlib_skip_unless_heapscope()) return 0;
  static const char FREE_INVALID[] = "heapscope: free(): invalid pointer";
  static const char FREE_DOUBLE[] = "heapscope: free(): double free";
  static const char REALLOC_INVALID[] = "heapscope: realloc(): invalid pointer";
  static const char REALLOC_FREED[] = "heapscope: realloc(): freed pointer";
  static const char REALLOC_DOUBLE[] = "heapscope: realloc(): double free";
  static const char USABLE_INVALID[] = "heapscope: malloc_usable_size(): invalid pointer";

  /* 16-aligned addresses, so only "not from this heap" gives them away. */
  _Alignas(64) char stack_buf[256];
  memset(stack_buf, 0, sizeof stack_buf);
  char *volatile stack_ptr = stack_buf + 64;
  char *volatile static_ptr = static_array + 128;

  death_case("free(stack address)", DO_FREE, stack_ptr, FREE_INVALID, NULL);
  death_case("free(static array)", DO_FREE, static_ptr, FREE_INVALID, NULL);

  char *p = malloc(64);
  CHECK(p != NULL);
  death_case("free(malloc(64) + 8)", DO_FREE, p + 8, FREE_INVALID, NULL);

  char *q = malloc(1 << 20);
  CHECK(q != NULL);
  death_case("free(malloc(1 MiB) + 4096)", DO_FREE, q + 4096, FREE_INVALID, NULL);

  void *region = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(region != MAP_FAILED);
  if (region != MAP_FAILED) {
    death_case("free(private mmap region)", DO_FREE, region, FREE_INVALID, NULL);
    death_case("free(private mmap region + 64 KiB)", DO_FREE, (char *)region + 65536,
               FREE_INVALID, NULL);
  }

  char *small = malloc(32);
  CHECK(small != NULL);
  death_case("double free of a 32-byte block", DO_FREE_TWICE, small, FREE_DOUBLE, NULL);

  char *large = malloc(1 << 20);
  CHECK(large != NULL);
  death_case("double free of a 1 MiB block", DO_FREE_TWICE, large, FREE_DOUBLE, FREE_INVALID);
  /* realloc keeps a large block that still fits in place without calling
   * realloc_slow: a freed one must not pass for it. */
  refit_bytes = (1 << 20) - 16;
  death_case("realloc of a freed 1 MiB block to a size it would keep", DO_FREE_THEN_REALLOC_FITTING,
             large, REALLOC_DOUBLE, REALLOC_INVALID);

  /* Free and large spans are labelled in the page map at their first and
   * last page only; their other pages may still name span records that now
   * describe other memory, and pointers to them must read as invalid. */
  char *gone = malloc(4 << 20);
  CHECK(gone != NULL);
  memset(gone, 1, 4 << 20);
  char *after_gone = malloc(1 << 20); /* a neighbour that stays */
  free(gone);
  char *reused = malloc(1 << 20); /* likely carved from gone's pages */
  CHECK(reused != NULL && after_gone != NULL);
  death_case("free(inside a freed 4 MiB block)", DO_FREE, gone + (3 << 20) + 8192, FREE_INVALID,
             NULL);
  death_case("free(inside a 1 MiB block carved from freed pages)", DO_FREE, reused + (512 << 10),
             FREE_INVALID, NULL);
  char *grown = malloc(1 << 20);
  CHECK(grown != NULL);
  grown = realloc(grown, 3 << 20); /* grows in place when the next pages are free */
  CHECK(grown != NULL);
  death_case("free(inside a block grown by realloc)", DO_FREE, grown + (2 << 20), FREE_INVALID,
             NULL);
  death_case("malloc_usable_size(inside a freed 4 MiB block)", DO_USABLE, gone + (1 << 20) + 3 * 8192,
             USABLE_INVALID, NULL);

  /* A sampled block of up to 1 KiB (rate 1 samples everything) shares a
   * page with other samples of its class (src/samplepack.c): a second free,
   * a pointer inside it and a slot of the page never handed out are caught,
   * also once the page holds no live sample (one such page is kept). */
  int64_t (*set_rate)(int64_t) = (int64_t (*)(int64_t))hs_fn("hs_prof_set_rate");
  if (CHECK(set_rate != NULL)) {
    int64_t old_rate = set_rate(1);
    char *sampled = malloc(32);
    set_rate(old_rate);
    CHECK(sampled != NULL);
    death_case("double free of a sampled 32-byte block", DO_FREE_TWICE, sampled, FREE_DOUBLE,
               NULL);
    death_case("free(sampled 32-byte block + 16)", DO_FREE, sampled + 16, FREE_INVALID, NULL);
    death_case("free of a slot of a sampled block's page never handed out", DO_FREE,
               (char *)(((uintptr_t)sampled | 8191) - 31), FREE_INVALID, NULL);
    /* A larger sampled block has a span of its own, which its thread keeps
     * as a spare once freed, up to 8 pages.  Freeing it again is caught. */
    old_rate = set_rate(1);
    char *sampled_big = malloc(65536);
    set_rate(old_rate);
    CHECK(sampled_big != NULL);
    death_case("double free of a sampled 64 KiB block", DO_FREE_TWICE, sampled_big, FREE_DOUBLE,
               NULL);
    free(sampled);     /* its page now holds no live sample */
    free(sampled_big); /* the thread's spare */
    death_case("free of a sampled 64 KiB block kept as the spare", DO_FREE, sampled_big,
               FREE_DOUBLE, NULL);
    death_case("free of a sampled 32-byte block whose page holds no sample", DO_FREE, sampled,
               FREE_DOUBLE, NULL);
    refit_bytes = 65536 - 16;
    death_case("realloc of a sampled 64 KiB block kept as the spare, to a size it would keep",
               DO_REALLOC_FITTING, sampled_big, REALLOC_DOUBLE, NULL);
  }

  /* Past a full bin, a thread's frees of objects from spans it owns go
   * straight onto their spans' free lists, and are checked there.  Half
   * the objects stay live: freeing nearly all would drain the cache (its
   * spans given back, its bins emptied), and these paths would not run. */
  enum { OWNED_OBJECTS = 4000 };
  static char *owned[OWNED_OBJECTS];
  for (int i = 0; i < OWNED_OBJECTS; i++) CHECK((owned[i] = malloc(48)) != NULL);
  for (int i = 0; i < OWNED_OBJECTS / 2; i++) free(owned[i]);
  char *last_freed = owned[OWNED_OBJECTS / 2 - 1], *kept = owned[OWNED_OBJECTS - 1];
  death_case("free(malloc(48) + 16), its bin full", DO_FREE, kept + 16, FREE_INVALID, NULL);
  death_case("free of a 48-byte block back on its span", DO_FREE, last_freed, FREE_DOUBLE, NULL);

  /* A free object is known by its free tag wherever it lies on a list, not
   * only at a list's head: deep in the bin, inside its span's free list,
   * or handed to the central lists by another thread's frees. */
  enum { TAGGED_OBJECTS = 200 };
  static char *tagged[TAGGED_OBJECTS];
  for (int i = 0; i < TAGGED_OBJECTS; i++) CHECK((tagged[i] = malloc(32)) != NULL);
  for (int i = 0; i < TAGGED_OBJECTS / 2; i++) free(tagged[i]);
  death_case("free of the first of 100 freed 32-byte blocks", DO_FREE, tagged[0], FREE_DOUBLE,
             NULL);
  death_case("free of the 51st of 100 freed 32-byte blocks", DO_FREE, tagged[50], FREE_DOUBLE,
             NULL);
  death_case("realloc of a freed 32-byte block to 24 bytes", DO_REALLOC_SAME_CLASS, tagged[10],
             REALLOC_FREED, NULL);
  death_case("realloc of a freed 32-byte block to 100 bytes", DO_REALLOC, tagged[20],
             REALLOC_FREED, NULL);
  death_case("free of a 48-byte block inside its span's free list", DO_FREE,
             owned[OWNED_OBJECTS / 2 - 20], FREE_DOUBLE, NULL);
  death_case("free of a 48-byte block deep in its bin", DO_FREE, owned[3], FREE_DOUBLE, NULL);
  enum { REMOTE_OBJECTS = 100 };
  static char *remote[REMOTE_OBJECTS];
  for (int i = 0; i < REMOTE_OBJECTS; i++) CHECK((remote[i] = malloc(80)) != NULL);
  pthread_t freer;
  if (CHECK(pthread_create(&freer, NULL, free_all_remote, remote) == 0)) {
    /* its first 63 frees went straight to the central lists (no cache
     * yet), the rest when its exit flushed its cache */
    CHECK(pthread_join(freer, NULL) == 0);
    death_case("free of an 80-byte block another thread freed", DO_FREE, remote[REMOTE_OBJECTS / 2],
               FREE_DOUBLE, NULL);
    death_case("free of the last 80-byte block another thread freed", DO_FREE,
               remote[REMOTE_OBJECTS - 1], FREE_DOUBLE, NULL);
  }
  for (int i = TAGGED_OBJECTS / 2; i < TAGGED_OBJECTS; i++) free(tagged[i]);

  /* The hardened build (tests/run.sh runs this program under it with
   * HEAPSCOPE_TEST_HARDENED=1) checks each object's tag as it hands it
   * out: a write after free and a block freed by two threads, the first
   * free waiting in the other's cache, are caught at the next handout. */
  if (getenv("HEAPSCOPE_TEST_HARDENED")) {
    static const char MALLOC_OVERWRITTEN[] =
        "heapscope: malloc(): free object overwritten or freed twice";
    char *written = malloc(64), *shared = malloc(64);
    CHECK(written != NULL && shared != NULL);
    death_case("malloc after a write to a freed 64-byte block", DO_WRITE_AFTER_FREE, written,
               MALLOC_OVERWRITTEN, NULL);
    death_case("malloc in a thread whose cache holds a block another thread freed again",
               DO_FREE_ACROSS_THREADS, shared, MALLOC_OVERWRITTEN, NULL);
    free(written);
    free(shared);
    /* And a pointer inside a small object, 16-byte aligned, at the free
     * paths that do not look at its span in the default build: the bin
     * with room, and past a full bin the foreign list (objects of spans
     * this thread does not own). */
    char *inner = malloc(64);
    CHECK(inner != NULL);
    death_case("free(malloc(64) + 16), its bin with room", DO_FREE, inner + 16, FREE_INVALID,
               NULL);
    free(inner);
    static char *foreign[FOREIGN_OBJECTS];
    pthread_t allocator;
    if (CHECK(pthread_create(&allocator, NULL, alloc_foreign, foreign) == 0)) {
      CHECK(pthread_join(allocator, NULL) == 0);
      for (int i = 0; i < FOREIGN_OBJECTS - 1; i++) free(foreign[i]);
      char *last = foreign[FOREIGN_OBJECTS - 1];
      death_case("free(another thread's 96-byte block + 16), past a full bin", DO_FREE, last + 16,
                 FREE_INVALID, NULL);
      free(last);
    }
  }

  death_case("realloc(stack address)", DO_REALLOC, stack_ptr, REALLOC_INVALID, NULL);
  death_case("malloc_usable_size(stack address)", DO_USABLE, stack_ptr, USABLE_INVALID, NULL);

  for (int i = OWNED_OBJECTS / 2; i < OWNED_OBJECTS; i++) free(owned[i]);

  /* the parent's heap is untouched by all that */
  memset(p, 1, 64);
  memset(q, 1, 1 << 20);
  free(p);
  free(q);
  free(small);
  free(large);
  free(reused);
  free(after_gone);
  free(grown);
  if (region != MAP_FAILED)
    munmap(region, 1 << 20);
  return testlib_done();
}
