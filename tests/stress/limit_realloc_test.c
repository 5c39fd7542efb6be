/* limit_realloc_test.c — large blocks that grow in place, shrink, move and
 * are freed, under a soft memory limit far below what the program touches
 * over its run (memory_limit_bytes=8M, scavenger=0).  Each allocation that
 * needs released pages makes the page heap release idle spans first; a
 * released piece coalesces with its released neighbours, and a block
 * growing in place into the released span beside it once kept a record
 * that coalescing had dropped: the free lists broke, and python3's
 * json.dumps under the same limit crashed in the page heap (remove_locked)
 * or freed an "invalid pointer".  Every block carries a byte pattern of its
 * slot and generation, checked on every realloc and free.
 * Also a vector grown by ~1/8 at a time, as CPython's lists grow. */
#include "testlib.h"

#define SLOTS 48
#define ROUNDS 8000

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_random(void) { return testlib_random(&rng); }

typedef struct block {
  unsigned char *data;
  size_t size;
  unsigned char pattern;
} block_t;

static block_t blocks[SLOTS];
static int bad_blocks;

/* The pattern is in the first byte of every 4 KiB of a block. */
static void check_block(const block_t *b) {
  for (size_t at = 0; at < b->size; at += 4096)
    if (b->data[at] != b->pattern) bad_blocks++;
}

/* Writes the pattern from `from` (the old size after a growth) on. */
static void fill(block_t *b, size_t from) {
  for (size_t at = (from + 4095) & ~(size_t)4095; at < b->size; at += 4096)
    b->data[at] = b->pattern;
}

static size_t random_size(void) { return 64 * 1024 + next_random() % (1536 * 1024); }

int main(int argc, char **argv) {
  (void)argc;
  testlib_run_with_option(argv, "memory_limit_bytes=8M,scavenger=0");
  testlib_expect_heapscope();
  unsigned char generation = 1;
  for (int round = 0; round < ROUNDS && bad_blocks == 0; round++) {
    block_t *b = &blocks[next_random() % SLOTS];
    uint64_t what = next_random() % 8;
    if (!b->data) {
      b->size = random_size();
      b->data = malloc(b->size);
      if (!CHECK(b->data != NULL)) return testlib_done();
      b->pattern = generation++;
      fill(b, 0);
    } else if (what < 5) { /* grow or shrink, in place or moving */
      check_block(b);
      size_t old = b->size;
      size_t size = what < 3 ? old + old / 8 + next_random() % 65536 : random_size();
      unsigned char *data = realloc(b->data, size);
      if (!CHECK(data != NULL)) return testlib_done();
      b->data = data;
      b->size = size;
      if (size > old) fill(b, old);
      check_block(b);
    } else {
      check_block(b);
      free(b->data);
      b->data = NULL;
    }
  }
  CHECK_MSG(bad_blocks == 0, "%d pages lost their pattern", bad_blocks);
  /* A vector grown by an eighth at a time to 32 MiB, the others live. */
  block_t vector = {NULL, 0, 0xa5};
  while (vector.size < ((size_t)32 << 20)) {
    size_t old = vector.size;
    size_t size = old + old / 8 + 4096;
    unsigned char *data = realloc(vector.data, size);
    if (!CHECK(data != NULL)) return testlib_done();
    vector.data = data;
    vector.size = size;
    fill(&vector, old);
  }
  check_block(&vector);
  free(vector.data);
  for (int i = 0; i < SLOTS; i++) {
    if (!blocks[i].data) continue;
    check_block(&blocks[i]);
    free(blocks[i].data);
  }
  CHECK_MSG(bad_blocks == 0, "%d pages lost their pattern", bad_blocks);
  hs_stats_t s = testlib_stats();
  fprintf(stderr, "limit_releases: limit overruns %llu, footprint now %.1f MiB\n",
          (unsigned long long)s.limit_overruns, (s.heap_sys - s.heap_released) / 1048576.0);
  CHECK(s.memory_limit == (uint64_t)8 << 20);
  return testlib_done();
}
