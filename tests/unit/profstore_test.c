/* profstore_test.c — the profiler's bucket store keeps one bucket per
 * (stack, label set) as it grows: 20000 distinct stacks (the table starts at
 * 512 slots and doubles many times) each recorded twice and freed once, then
 * every bucket is visited exactly once with its own totals, and a stack
 * recorded after the growth still finds its bucket. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "profstore.h"
#include "testlib.h"

enum { STACKS = 20000, DEPTH = 6 };

static void stack_of(int i, uintptr_t *pcs) {
  /* Stacks that differ only in one deep frame, as recursion makes them. */
  for (int d = 0; d < DEPTH; d++) pcs[d] = 0x400000u + (uintptr_t)d * 0x40;
  pcs[DEPTH - 1] += (uintptr_t)i * 8;
}

typedef struct seen {
  unsigned char *hits; /* per stack index */
  int buckets, bad_totals, foreign;
} seen_t;

static void visit(const prof_bucket_view_t *b, void *arg) {
  seen_t *s = arg;
  s->buckets++;
  if (b->depth != DEPTH || b->pcs[0] != 0x400000u) { s->foreign++; return; }
  uintptr_t delta = b->pcs[DEPTH - 1] - (0x400000u + (uintptr_t)(DEPTH - 1) * 0x40);
  int i = (int)(delta / 8);
  if (i < 0 || i >= STACKS || delta % 8) { s->foreign++; return; }
  s->hits[i]++;
  double bytes = 16.0 * (double)(i % 7 + 1);
  if (b->alloc_objects != 2.0 || b->alloc_bytes != 2.0 * bytes || b->free_objects != 1.0 ||
      b->free_bytes != bytes)
    s->bad_totals++;
}

int main(void) {
  uintptr_t pcs[DEPTH];
  prof_bucket_t **first = calloc(STACKS, sizeof *first);
  CHECK(first != NULL);
  for (int i = 0; i < STACKS; i++) {
    stack_of(i, pcs);
    first[i] = profstore_record_alloc(pcs, DEPTH, NULL, 1.0, 16u * (uint64_t)(i % 7 + 1));
    CHECK(first[i] != NULL);
  }
  /* Again, after every growth: each stack must find the bucket it made. */
  int same = 0;
  for (int i = 0; i < STACKS; i++) {
    stack_of(i, pcs);
    prof_bucket_t *again = profstore_record_alloc(pcs, DEPTH, NULL, 1.0, 16u * (uint64_t)(i % 7 + 1));
    same += again == first[i];
    profstore_record_free(again, 1.0, 16u * (uint64_t)(i % 7 + 1));
  }
  CHECK_MSG(same == STACKS, "%d of %d stacks found their bucket again", same, STACKS);

  seen_t seen = {.hits = calloc(STACKS, 1)};
  CHECK(seen.hits != NULL);
  profile_for_each(visit, &seen);
  int once = 0;
  for (int i = 0; i < STACKS; i++) once += seen.hits[i] == 1;
  CHECK_MSG(once == STACKS, "%d of %d stacks visited exactly once", once, STACKS);
  CHECK_MSG(seen.bad_totals == 0, "%d buckets with wrong totals", seen.bad_totals);
  /* The test's own mallocs may be sampled at the default rate: those
   * buckets are the only others. */
  CHECK_MSG(seen.buckets - seen.foreign == STACKS, "%d buckets of ours", seen.buckets - seen.foreign);
  free(seen.hits);
  free(first);
  return testlib_done();
}
