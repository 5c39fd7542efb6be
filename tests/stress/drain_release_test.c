/* drain_release_test.c — a program that frees nearly everything gets its
 * memory back at once (option release_on_drain, on by default).
 *
 * Runs with scavenger=0, so only free itself can return memory.
 *  1. ~256 MiB of mixed small and large objects, touched and freed in random
 *     order: straight after the last free, RSS is below 10% of its peak
 *     and drain_releases has counted the release.
 *  2. ~64 MiB of small objects only, freed in random order by the thread
 *     that allocated them: its cache keeps spans in use, so the page heap
 *     never looks drained, but the thread sees its live objects fall below
 *     1/32 of their peak and gives back its cache and the free pages: RSS
 *     is below 1/8 of its peak straight after the last free.
 *  3. ~64 MiB of small objects allocated by a thread that then exits, and
 *     freed by REMOTE_FREERS others in turn, a share each (every free
 *     remote): a freer's own count goes below zero and says nothing, and
 *     the transfer caches keep spans in use, but the process-wide count
 *     falls below 1/32 of its peak: what the case added to RSS is below 1/8
 *     of what it added at its peak, straight after the last free (case 2
 *     leaves a few MiB resident).  Each freer's first frees are made before
 *     it has a cache, and they count too: left out, they kept the estimate
 *     a few hundred objects above the truth and the last drain never came.
 *  4. A 32 MiB block allocated, touched and freed 300 times with nothing
 *     else live: each free drains the heap, but the back-off lets only a few
 *     of them release (not one per loop).  It runs last: the back-off it
 *     builds up could hold off the drains the other cases test.
 *  5. After case 4 (its back-off still holding off drains), a thread that
 *     allocates and frees 4 MiB of small objects 16 times, with more than
 *     a million mallocs and frees in all, and exits with nothing live:
 *     straight after the join the heap keeps under 1 MiB of free pages
 *     resident.  Its last frees find the back-off in force; its exit drains
 *     regardless.
 *  6. Re-executed with release_on_drain=0: the same workload as 1 leaves its
 *     free pages resident and drain_releases stays 0.
 *  7. Re-executed (a back-off of its own): 16,000 small objects allocated
 *     and freed 200 times drain a few times, not every few rounds (see
 *     build_and_free_loop_backs_off).
 * The pointer array lives in mmap'd memory, outside the heap measured. */
#include <pthread.h>
#include <sys/mman.h>

#include "testlib.h"
#include "../../bench/rss_workload.h"

#define MIB ((size_t)1 << 20)
#define MAX_OBJECTS (1u << 20)

/* Allocates and frees the mixed workload; returns the peak RSS. */
static uint64_t churn(void **objects) {
  bool out_of_memory;
  size_t n = rss_workload_allocate(objects, MAX_OBJECTS, 240 * MIB, 8, &out_of_memory);
  CHECK_MSG(!out_of_memory, "malloc failed after %zu objects", n);
  uint64_t peak = rss_workload_rss_bytes();
  rss_workload_free_shuffled(objects, n);
  return peak;
}

static void drained_heap_goes_back(void **objects) {
  hs_stats_t before = testlib_stats();
  uint64_t peak = churn(objects);
  uint64_t rss = rss_workload_rss_bytes();
  hs_stats_t after = testlib_stats();
  fprintf(stderr, "drained: peak rss %.1f MiB, after the last free %.1f MiB, drain_releases %llu\n",
          peak / 1048576.0, rss / 1048576.0, (unsigned long long)after.drain_releases);
  CHECK_MSG(peak >= 200 * MIB, "peak rss %.1f MiB: the allocation did not happen",
            peak / 1048576.0);
  CHECK_MSG(rss < peak / 10, "rss %.1f MiB straight after the last free, peak %.1f MiB",
            rss / 1048576.0, peak / 1048576.0);
  CHECK(after.drain_releases > before.drain_releases);
  CHECK(after.scavenger_running == 0 && after.scavenger_released == 0);
}

/* The block is large beside what stays in use after the cases before
 * (0.05-2.4 MiB, mostly caches, printed below), so that each free leaves
 * the heap drained whatever they left: with an 8 MiB block one clean run
 * in several saw no drain at all. */
#define REFILL_BLOCK_BYTES (32 * MIB)

static void refill_loop_backs_off(void) {
  enum { LOOPS = 300 };
  hs_stats_t before = testlib_stats();
  for (int i = 0; i < LOOPS; i++) {
    unsigned char *block = malloc(REFILL_BLOCK_BYTES);
    if (!CHECK(block != NULL)) return;
    for (size_t at = 0; at < REFILL_BLOCK_BYTES; at += 4096) block[at] = (unsigned char)i;
    free(block);
  }
  hs_stats_t after = testlib_stats();
  uint64_t drains = after.drain_releases - before.drain_releases;
  fprintf(stderr, "refill loop: %d frees that drained the heap, %llu releases (in use before: %.2f MiB)\n",
          LOOPS, (unsigned long long)drains, before.heap_inuse / 1048576.0);
  CHECK(drains >= 1);
  CHECK_MSG(drains <= LOOPS / 10, "%llu releases in %d loops: no back-off",
            (unsigned long long)drains, LOOPS);
}

static void small_objects_drain_the_thread(void **objects) {
  hs_stats_t before = testlib_stats();
  bool out_of_memory;
  size_t n = rss_workload_allocate(objects, MAX_OBJECTS, 64 * MIB, 0, &out_of_memory);
  CHECK_MSG(!out_of_memory, "malloc failed after %zu objects", n);
  uint64_t peak = rss_workload_rss_bytes();
  rss_workload_free_shuffled(objects, n);
  uint64_t rss = rss_workload_rss_bytes();
  hs_stats_t after = testlib_stats();
  fprintf(stderr,
          "small objects: peak rss %.1f MiB, after the last free %.1f MiB (thread caches %.1f MiB, "
          "central %.1f MiB), drain_releases +%llu\n",
          peak / 1048576.0, rss / 1048576.0, after.thread_cache_bytes / 1048576.0,
          after.central_cache_bytes / 1048576.0,
          (unsigned long long)(after.drain_releases - before.drain_releases));
  CHECK_MSG(peak >= 48 * MIB, "peak rss %.1f MiB: the allocation did not happen",
            peak / 1048576.0);
  CHECK_MSG(rss < peak / 8, "rss %.1f MiB straight after the last free, peak %.1f MiB",
            rss / 1048576.0, peak / 1048576.0);
  CHECK(after.drain_releases > before.drain_releases);
}

/* Case 3: the allocating thread exits before the freeing threads start. */
#define REMOTE_FREERS 4

typedef struct remote_case {
  void **objects;
  size_t count;
  size_t freed; /* by the freers that ran */
  uint64_t peak, rss;
} remote_case_t;

static void *remote_allocator(void *arg) {
  remote_case_t *rc = arg;
  bool out_of_memory;
  rc->count = rss_workload_allocate(rc->objects, MAX_OBJECTS, 64 * MIB, 0, &out_of_memory);
  CHECK_MSG(!out_of_memory, "malloc failed after %zu objects", rc->count);
  rc->peak = rss_workload_rss_bytes();
  rss_workload_shuffle(rc->objects, rc->count);
  return NULL;
}

/* Frees the next share of the objects; the last freer reads RSS. */
static void *remote_freer(void *arg) {
  remote_case_t *rc = arg;
  size_t share = rc->count / REMOTE_FREERS + 1;
  size_t end = rc->freed + share < rc->count ? rc->freed + share : rc->count;
  for (size_t i = rc->freed; i < end; i++) free(rc->objects[i]);
  rc->freed = end;
  if (end == rc->count) rc->rss = rss_workload_rss_bytes();
  return NULL;
}

static void remote_frees_drain_the_process(void **objects) {
  hs_stats_t before = testlib_stats();
  uint64_t start = rss_workload_rss_bytes();
  remote_case_t rc = {.objects = objects};
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, remote_allocator, &rc) == 0);
  pthread_join(thread, NULL);
  for (int i = 0; i < REMOTE_FREERS; i++) {
    CHECK(pthread_create(&thread, NULL, remote_freer, &rc) == 0);
    pthread_join(thread, NULL);
  }
  CHECK(rc.freed == rc.count);
  hs_stats_t after = testlib_stats();
  fprintf(stderr,
          "remote frees: rss %.1f MiB at the start, peak %.1f MiB, after the last free %.1f MiB, "
          "drain_releases +%llu\n",
          start / 1048576.0, rc.peak / 1048576.0, rc.rss / 1048576.0,
          (unsigned long long)(after.drain_releases - before.drain_releases));
  CHECK_MSG(rc.peak >= start + 48 * MIB, "peak rss %.1f MiB: the allocation did not happen",
            rc.peak / 1048576.0);
  CHECK_MSG(rc.rss < start + (rc.peak - start) / 8,
            "rss %.1f MiB straight after the last free, %.1f MiB at the start, peak %.1f MiB",
            rc.rss / 1048576.0, start / 1048576.0, rc.peak / 1048576.0);
  CHECK(after.drain_releases > before.drain_releases);
}

/* Case 7, in a process of its own (its back-off starts from nothing): a
 * loop that allocates LOOP_OBJECTS small objects of mixed sizes and frees
 * them all.  Each teardown drains, first when the thread's live objects
 * fall below 1/32 of their peak and again for its last objects; the heap
 * grows back each time.  The wait before the next drain doubles from 10 ms
 * at each regrowth, so over T ms the drains number about twice
 * log2(T / 10 ms); the bound allows 8 more (8 drains in 64-69 ms, bound
 * 14).  With the wait halved at every second drain of a teardown (the bug
 * this case guards, before 86b5ea0) the 200 rounds drained 99 times in 318
 * ms and 300 times in 921 ms, refaulting each time. */
enum { LOOP_ROUNDS = 200, LOOP_OBJECTS = 16000 };

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void build_and_free_loop_backs_off(void **objects) {
  hs_stats_t before = testlib_stats();
  double start_ms = now_ms();
  for (int round = 0; round < LOOP_ROUNDS; round++) {
    for (size_t i = 0; i < LOOP_OBJECTS; i++) {
      objects[i] = malloc(i % 2 ? 40 : 16 + (i * 7919) % 241);
      if (!objects[i]) {
        CHECK_MSG(false, "malloc failed in round %d", round);
        return;
      }
      *(volatile char *)objects[i] = (char)i;
    }
    for (size_t i = LOOP_OBJECTS; i-- > 0;) free(objects[i]);
  }
  double elapsed_ms = now_ms() - start_ms;
  uint64_t drains = testlib_stats().drain_releases - before.drain_releases;
  uint64_t bound = 8;
  for (double wait_ms = 10; wait_ms < elapsed_ms; wait_ms *= 2) bound += 2;
  fprintf(stderr, "build-and-free loop: %d rounds in %.0f ms, %llu drains (bound %llu)\n",
          LOOP_ROUNDS, elapsed_ms, (unsigned long long)drains, (unsigned long long)bound);
  CHECK(drains >= 1);
  CHECK_MSG(drains <= bound, "%llu drains in %.0f ms: the back-off did not hold",
            (unsigned long long)drains, elapsed_ms);
}

/* Case 5. */
static void *refill_and_exit(void *arg) {
  void **objects = arg;
  for (int loop = 0; loop < 16; loop++) {
    size_t n = 4 * MIB / 64;
    for (size_t i = 0; i < n; i++) {
      objects[i] = malloc(16 + (i % 8) * 16);
      if (!objects[i]) {
        CHECK_MSG(false, "malloc failed in loop %d", loop);
        return NULL;
      }
      *(volatile char *)objects[i] = (char)i;
    }
    for (size_t i = 0; i < n; i++) free(objects[i]);
  }
  hs_stats_t s = testlib_stats();
  fprintf(stderr, "exiting thread: before its exit %.2f MiB of free pages resident\n",
          (s.heap_idle - s.heap_released) / 1048576.0);
  return NULL;
}

static void exiting_thread_drains(void **objects) {
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, refill_and_exit, objects) == 0);
  pthread_join(thread, NULL);
  hs_stats_t s = testlib_stats();
  uint64_t resident_free = s.heap_idle - s.heap_released;
  fprintf(stderr, "exiting thread: after its exit %.2f MiB of free pages resident\n",
          resident_free / 1048576.0);
  CHECK_MSG(resident_free < MIB, "%.2f MiB of free pages resident after the thread exited",
            resident_free / 1048576.0);
}

static void option_off(void **objects) {
  uint64_t peak = churn(objects);
  hs_stats_t s = testlib_stats();
  fprintf(stderr, "release_on_drain=0: peak rss %.1f MiB, after the last free %.1f MiB\n",
          peak / 1048576.0, rss_workload_rss_bytes() / 1048576.0);
  CHECK(s.drain_releases == 0);
  CHECK_MSG(s.heap_idle - s.heap_released >= 100 * MIB, "only %llu bytes left resident",
            (unsigned long long)(s.heap_idle - s.heap_released));
}

int main(int argc, char **argv) {
  bool off = argc > 1 && strcmp(argv[1], "off") == 0;
  testlib_run_with_option(argv, off ? "scavenger=0,release_on_drain=0" : "scavenger=0");
  testlib_expect_heapscope();
  void **objects = mmap(NULL, MAX_OBJECTS * sizeof(void *), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!CHECK(objects != MAP_FAILED)) return testlib_done();
  if (off) {
    option_off(objects);
    return testlib_done();
  }
  if (argc > 1 && strcmp(argv[1], "loop") == 0) {
    build_and_free_loop_backs_off(objects);
    return testlib_done();
  }
  drained_heap_goes_back(objects);
  small_objects_drain_the_thread(objects);
  remote_frees_drain_the_process(objects);
  refill_loop_backs_off();
  exiting_thread_drains(objects);

  /* Cases that need a process of their own, HEAPSCOPE set afresh. */
  int status = testlib_run_child("off", "", 120);
  CHECK_MSG(status == 0, "release_on_drain=0 child failed (%d)", status);
  status = testlib_run_child("loop", "", 120);
  CHECK_MSG(status == 0, "the build-and-free loop's child failed (%d)", status);
  munmap(objects, MAX_OBJECTS * sizeof(void *));
  return testlib_done();
}
