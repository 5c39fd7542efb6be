/* huge_free_test.c — a buffer grown by realloc does not pile up the
 * blocks it moved out of: a large block of 32 MiB or more that realloc
 * moves a growing buffer out of gives its pages back at once, and the
 * block it moves to has a mapping of its own, which the next growth moves
 * with mremap.
 *
 * Runs with scavenger=0,release_on_drain=0, so nothing else releases
 * pages: (1) a 64 MiB block, written whole beside a live 1 MiB one, grown
 * by realloc to 576 MiB: heap_released grows by its 64 MiB, and RSS by
 * less than 16 MiB (it grew by the copy's 64 MiB before).  (2) A buffer
 * grown to 512 MiB by realloc, 12.5% more each time it is full, written
 * 512 KiB at a time (CPython's bytearray growth): the peak RSS it adds
 * must stay under 1.25× the final size (the blocks it moved out of, kept
 * resident, made it 3.7–4.5× before; released, 1.5×).  (3) A plain free of a 64 MiB block
 * keeps its pages for the next allocation (the drain and the scavenger
 * release idle pages; bench/suite's loops refault less).  (4), first: 256
 * MiB freed, then scavenger steps (scavenger_delay_ms=1) until all but
 * its reserve is released: the free run is now a normal span and a released one,
 * neither long enough alone, and malloc(256 MiB) must still take the run
 * (the same address, heap_sys unchanged) instead of mapping a new region.
 * (5) A 64 MiB block grown by realloc to 256 MiB, 25% at a time, written
 * whole each time, unsampled and then with every allocation sampled: the
 * peak RSS stays under the final size + 32 MiB (after the first move, to a
 * mapping of its own, no growth copies: old and new are never resident
 * together), the contents survive, and its free unmaps it (heap_sys falls
 * by its size).  (6), last: under an address-space limit (RLIMIT_AS)
 * that leaves no room for a new 96 MiB mapping, a block grown by realloc
 * to 96 MiB still gets it, from 128 MiB freed in the page heap.
 */
#include <sys/mman.h>
#include <sys/resource.h>

#include "testlib.h"

#define MIB ((size_t)1 << 20)

static uint64_t rss_bytes(void) { return (uint64_t)testlib_status_kib("VmRSS:") << 10; }

static void outgrown_block_released(void) {
  void *live = malloc(MIB);
  memset(live, 1, MIB);
  size_t bytes = 64 * MIB;
  char *block = malloc(bytes);
  if (!CHECK(block != NULL)) return;
  memset(block, 2, bytes);
  hs_stats_t before = testlib_stats();
  uint64_t rss_before = rss_bytes();
  /* To 576 MiB: no free run in this test is long enough to grow into. */
  char *grown = realloc(block, bytes + 512 * MIB);
  hs_stats_t after = testlib_stats();
  uint64_t rss_after = rss_bytes();
  if (!CHECK(grown != NULL)) return;
  CHECK_MSG(grown != block, "a 64 MiB block grew in place: the case tests nothing");
  CHECK_MSG(grown[0] == 2 && grown[bytes - 1] == 2, "contents lost");
  /* Less a few pages the statistics' reads may take from released ones. */
  CHECK_MSG(after.heap_released >= before.heap_released + bytes - MIB,
            "heap_released %llu -> %llu after realloc moved a 64 MiB block out",
            (unsigned long long)before.heap_released, (unsigned long long)after.heap_released);
  CHECK_MSG(rss_after < rss_before + 16 * MIB,
            "rss %.1f -> %.1f MiB after realloc moved a 64 MiB block out",
            rss_before / 1048576.0, rss_after / 1048576.0);
  free(grown);
  free(live);
}

static void freed_block_kept(void) {
  size_t bytes = 64 * MIB;
  char *block = malloc(bytes);
  if (!CHECK(block != NULL)) return;
  memset(block, 3, bytes);
  hs_stats_t before = testlib_stats();
  free(block);
  hs_stats_t after = testlib_stats();
  CHECK_MSG(after.heap_released <= before.heap_released + MIB,
            "heap_released %llu -> %llu after a plain free of 64 MiB",
            (unsigned long long)before.heap_released, (unsigned long long)after.heap_released);
}

static void growing_buffer_peak(void) {
  size_t total = 512 * MIB, step = 512 << 10;
  char *chunk = malloc(step);
  memset(chunk, 'x', step);
  uint64_t base_kib = testlib_status_kib("VmRSS:");
  char *buffer = NULL;
  size_t used = 0, capacity = 0;
  while (used < total) {
    if (used + step > capacity) {
      capacity = used + step + ((used + step) >> 3);
      char *grown = realloc(buffer, capacity);
      if (!CHECK(grown != NULL)) break;
      buffer = grown;
    }
    memcpy(buffer + used, chunk, step);
    used += step;
  }
  uint64_t peak_kib = testlib_status_kib("VmHWM:");
  CHECK_MSG(buffer && buffer[total / 2] == 'x' && buffer[total - 1] == 'x', "contents lost");
  CHECK_MSG((peak_kib - base_kib) << 10 < total + total / 4,
            "a buffer grown to %zu MiB took the peak RSS %.1f MiB above where it started",
            total / MIB, (peak_kib - base_kib) / 1024.0);
  fprintf(stderr, "growing buffer: %zu MiB, peak %.1f MiB above the start\n", total / MIB,
          (peak_kib - base_kib) / 1024.0);
  free(buffer);
  free(chunk);
}

static void partly_released_run_reused(void) {
  uint64_t (*step)(void) = (uint64_t(*)(void))hs_fn("hs_background_step");
  if (!CHECK(step != NULL)) return;
  size_t bytes = 256 * MIB;
  char *block = malloc(bytes);
  if (!CHECK(block != NULL)) return;
  memset(block, 4, bytes);
  free(block);
  hs_stats_t freed = testlib_stats();
  struct timespec idle = {0, 10 * 1000 * 1000};
  nanosleep(&idle, NULL);
  hs_stats_t stepped = freed;
  for (int steps = 0; steps < 1000 && stepped.heap_released < freed.heap_released + bytes / 2;
       steps++) {
    step(); /* paced: a few MiB a step */
    stepped = testlib_stats();
  }
  CHECK_MSG(stepped.heap_released >= freed.heap_released + bytes / 2 &&
                stepped.heap_idle - stepped.heap_released >= 2 * MIB,
            "the step released %llu bytes and kept %llu: not a run released in part",
            (unsigned long long)(stepped.heap_released - freed.heap_released),
            (unsigned long long)(stepped.heap_idle - stepped.heap_released));
  char *again = malloc(bytes);
  hs_stats_t after = testlib_stats();
  if (!CHECK(again != NULL)) return;
  CHECK_MSG(again == block && after.heap_sys == stepped.heap_sys,
            "malloc(256 MiB) at %p (the run freed: %p), heap_sys %.1f -> %.1f MiB", (void *)again,
            (void *)block, stepped.heap_sys / 1048576.0, after.heap_sys / 1048576.0);
  memset(again, 5, bytes);
  free(again);
}

/* Starts VmHWM again from the current RSS ("5" to /proc/self/clear_refs,
 * Linux 4.0 on); false where the kernel refuses. */
static bool reset_peak_rss(void) {
  FILE *f = fopen("/proc/self/clear_refs", "w");
  bool done = f && fputs("5", f) >= 0;
  if (f && fclose(f) != 0) done = false;
  return done;
}

/* Case 5, once. */
static void grown_in_own_mapping(const char *how) {
  size_t size = 64 * MIB, final = 256 * MIB;
  char *block = malloc(size);
  if (!CHECK(block != NULL)) return;
  memset(block, 1, size);
  if (!CHECK(reset_peak_rss())) return;
  uint64_t base_kib = testlib_status_kib("VmRSS:") - (size >> 10);
  char last = 1; /* the byte the block's end holds */
  while (size < final) {
    size_t next = size + size / 4 < final ? size + size / 4 : final;
    char *grown = realloc(block, next);
    if (!CHECK(grown != NULL)) return;
    CHECK_MSG(grown[0] == 1 && grown[size - 1] == last, "%s: contents lost at %zu MiB", how,
              size / MIB);
    last = (char)(next / MIB);
    memset(grown + size, last, next - size);
    block = grown;
    size = next;
  }
  uint64_t peak_kib = testlib_status_kib("VmHWM:");
  hs_stats_t before = testlib_stats();
  free(block);
  hs_stats_t after = testlib_stats();
  CHECK_MSG((peak_kib - base_kib) << 10 < final + 32 * MIB,
            "%s: a block grown to 256 MiB 25%% at a time peaked %.1f MiB above the start", how,
            (peak_kib - base_kib) / 1024.0);
  CHECK_MSG(before.heap_sys >= after.heap_sys + final,
            "%s: heap_sys %.1f -> %.1f MiB at the free of a 256 MiB block", how,
            before.heap_sys / 1048576.0, after.heap_sys / 1048576.0);
}

static void grown_in_own_mapping_both_ways(void) {
  int64_t (*set_rate)(int64_t) = (int64_t(*)(int64_t))hs_fn("hs_prof_set_rate");
  if (!CHECK(set_rate != NULL)) return;
  int64_t old_rate = set_rate(0);
  grown_in_own_mapping("unsampled");
  set_rate(1);
  grown_in_own_mapping("sampled");
  set_rate(old_rate);
}

static void grown_under_address_limit(void) {
  char *freed = malloc(128 * MIB);
  if (!CHECK(freed != NULL)) return;
  memset(freed, 6, 128 * MIB);
  char *block = malloc(8 * MIB);
  if (!CHECK(block != NULL)) return;
  memset(block, 7, 8 * MIB);
  free(freed); /* stays in the page heap (no drain, no scavenger) */
  struct rlimit old, tight;
  getrlimit(RLIMIT_AS, &old);
  tight.rlim_max = old.rlim_max;
  tight.rlim_cur = ((uint64_t)testlib_status_kib("VmSize:") << 10) + 32 * MIB;
  if (!CHECK(setrlimit(RLIMIT_AS, &tight) == 0)) return;
  void *probe = mmap(NULL, 96 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  char *grown = realloc(block, 96 * MIB);
  setrlimit(RLIMIT_AS, &old);
  CHECK_MSG(probe == MAP_FAILED, "the limit let a 96 MiB mapping through: the case tests nothing");
  if (probe != MAP_FAILED) munmap(probe, 96 * MIB);
  CHECK_MSG(grown != NULL && grown[8 * MIB - 1] == 7,
            "realloc to 96 MiB under RLIMIT_AS, with 128 MiB free in the heap: %p", (void *)grown);
  free(grown ? grown : block);
}

int main(int argc, char **argv) {
  (void)argc;
  testlib_run_with_option(argv, "scavenger=0,release_on_drain=0,scavenger_delay_ms=1");
  if (testlib_skip_unless_heapscope()) return 0;
  partly_released_run_reused();
  outgrown_block_released();
  growing_buffer_peak();
  freed_block_kept();
  grown_in_own_mapping_both_ways();
  grown_under_address_limit();
  return testlib_done();
}
