/* central_transfer_test.c — the central transfer caches (src/central.c):
 *  1. A stack that grows past the slots every class keeps together
 *     (central.c's shallow slots) into the class's own row gives back every
 *     object, newest batch first, with each batch in the order it went in,
 *     also when one removal spans the two parts.
 *  2. Objects of many classes, a few each, make few pages resident: the
 *     first slots of all classes lie together.  With a row per class, 40
 *     classes made 40 pages (160 KiB) resident.
 * Objects come from malloc (sampling off) and go back with free. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "central.h"
#include "heapscope.h"
#include "size_class.h"
#include "testlib.h"

enum { DEEP_COUNT = 300, BATCH = 40, CLASSES = 40, PER_CLASS = 8 };

TEST(deep_stack_returns_every_object) {
  const size_t size = 64;
  uint32_t size_class = size_class_of(size);
  void *objects[DEEP_COUNT], *out[DEEP_COUNT];
  for (int i = 0; i < DEEP_COUNT; i++) {
    objects[i] = malloc(size);
    if (!CHECK(objects[i] != NULL)) return;
  }
  uint64_t before = central_transfer_objects();
  for (int at = 0; at < DEEP_COUNT; at += BATCH) {
    int n = DEEP_COUNT - at < BATCH ? DEEP_COUNT - at : BATCH;
    central_insert_range(size_class, &objects[at], n);
  }
  CHECK_MSG(central_transfer_objects() - before == DEEP_COUNT, "%llu objects in transfer caches, want %d more",
            (unsigned long long)central_transfer_objects(), DEEP_COUNT);
  /* Take 70 at a time: the stack's top 70 slots each time, in slot order,
   * so the removals cross from the class's row into the shared slots. */
  int top = DEEP_COUNT;
  while (top > 0) {
    int want = top < 70 ? top : 70;
    int got = central_remove_transfer(size_class, out, want);
    if (!CHECK_MSG(got == want, "took %d, want %d", got, want)) return;
    top -= got;
    for (int i = 0; i < got; i++)
      CHECK_MSG(out[i] == objects[top + i], "slot %d gave %p, want %p", top + i, out[i], objects[top + i]);
  }
  CHECK(central_remove_transfer(size_class, out, 1) == 0);
  for (int i = 0; i < DEEP_COUNT; i++) free(objects[i]);
}

TEST(many_classes_share_pages) {
  static void *objects[CLASSES][PER_CLASS];
  uint32_t classes[CLASSES];
  int used = 0;
  /* 40 classes from the smallest up. */
  for (size_t size = 16; used < CLASSES && size <= SIZE_CLASS_MAX_BYTES; size += 16) {
    uint32_t size_class = size_class_of(size);
    if (used > 0 && classes[used - 1] == size_class) continue;
    if (size_class_bytes[size_class] != size) continue;
    classes[used] = size_class;
    for (int i = 0; i < PER_CLASS; i++) {
      objects[used][i] = malloc(size);
      if (!CHECK(objects[used][i] != NULL)) return;
    }
    used++;
  }
  if (!CHECK(used == CLASSES)) return;
  /* Each class's central record is resident already: its objects came
   * from a span the thread claimed through it. */
  testlib_resident_pages(); /* its first call's own allocations (stdio's) are not measured */
  long before = testlib_resident_pages();
  for (int c = 0; c < CLASSES; c++) central_insert_range(classes[c], objects[c], PER_CLASS);
  long grown = testlib_resident_pages() - before;
  long page_kib = sysconf(_SC_PAGESIZE) / 1024;
  CHECK_MSG(before > 0 && grown <= 12, "%d classes' transfer slots made %ld pages (%ld KiB) resident", CLASSES,
            grown, grown * page_kib);
  for (int c = 0; c < CLASSES; c++) {
    void *out[PER_CLASS];
    CHECK(central_remove_transfer(classes[c], out, PER_CLASS) == PER_CLASS);
    for (int i = 0; i < PER_CLASS; i++) free(objects[c][i]);
  }
}

int main(void) {
  hs_prof_set_rate(0);
  RUN(deep_stack_returns_every_object);
  RUN(many_classes_share_pages);
  return testlib_done();
}
