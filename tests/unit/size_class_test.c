/* size_class_test.c — proves the generated size-class table (src/size_class_table.c)
 * and the helpers in src/size_class.h meet every constraint stated in
 * tools/gen_size_classes.py, exhaustively: every size 0..262144 and every
 * offset of every span.  Self-contained (no testlib.h); prints one ok line,
 * or FAIL lines and exits 1. */
#include <stdio.h>
#include <stdlib.h>

#include "size_class.h"

static int failures;

#define EXPECT(cond, ...)                              \
  do {                                                 \
    if (!(cond)) {                                     \
      printf("FAIL: %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      printf(__VA_ARGS__);                             \
      printf("\n");                                    \
      if (++failures >= 20) exit(1);                   \
    }                                                  \
  } while (0)

static int is_class(uint32_t bytes) {
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++)
    if (size_class_bytes[c] == bytes) return 1;
  return 0;
}

int main(void) {
  EXPECT(SIZE_CLASS_COUNT <= 128, "count %d", SIZE_CLASS_COUNT);
  EXPECT(size_class_bytes[0] == 0, "class 0 must be reserved");
  EXPECT(size_class_bytes[1] == 16, "first class %u", size_class_bytes[1]);
  EXPECT(size_class_bytes[SIZE_CLASS_COUNT - 1] == SIZE_CLASS_MAX_BYTES, "last class %u",
         size_class_bytes[SIZE_CLASS_COUNT - 1]);
  EXPECT(HS_PAGE_BYTES == 8192, "page %zu", (size_t)HS_PAGE_BYTES);

  /* Shape, rounding waste, spans, batches. */
  double worst = 0.0;
  uint32_t worst_class = 0;
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) {
    uint32_t b = size_class_bytes[c];
    size_t span = (size_t)size_class_pages[c] * HS_PAGE_BYTES;
    EXPECT(b % 16 == 0, "class %u bytes %u not a multiple of 16", c, b);
    if (c >= 2) {
      uint32_t prev = size_class_bytes[c - 1];
      EXPECT(b > prev, "class %u bytes %u not above %u", c, b, prev);
      double waste = (double)(b - prev - 1) / b;
      if (b > 128) {
        EXPECT(waste <= 0.125, "class %u bytes %u max waste %.3f%%", c, b, 100 * waste);
        if (waste > worst) worst = waste, worst_class = c;
      }
    }
    EXPECT(size_class_pages[c] >= 1 && size_class_pages[c] <= 32, "class %u pages %u", c,
           size_class_pages[c]);
    EXPECT((double)(span % b) / span <= 0.125, "class %u tail waste %zu of %zu", c, span % b,
           span);
    EXPECT(size_class_objects[c] >= 1, "class %u has no objects", c);
    EXPECT((size_t)size_class_objects[c] * b <= span, "class %u objects overflow span", c);
    EXPECT(size_class_objects[c] == span / b, "class %u objects %u want %zu", c,
           size_class_objects[c], span / b);
    EXPECT(size_class_batch[c] >= 2 && size_class_batch[c] <= 32, "class %u batch %u", c,
           size_class_batch[c]);
  }
  for (uint32_t b = 16; b <= 128; b += 16) EXPECT(is_class(b), "%u is not a class", b);
  for (uint32_t p = 16; p <= SIZE_CLASS_MAX_BYTES; p *= 2)
    EXPECT(is_class(p), "power of two %u is not a class", p);

  /* size_class_of: the smallest class >= size, for every size. */
  uint32_t want = 1;
  for (size_t size = 0; size <= SIZE_CLASS_MAX_BYTES; size++) {
    while (size_class_bytes[want] < size) want++;
    uint32_t got = size_class_of(size);
    EXPECT(got == want, "size_class_of(%zu) = %u, want %u", size, got, want);
  }
  /* Past the largest class: 0, whose bin malloc's fast path finds empty. */
  const size_t past[] = {SIZE_CLASS_MAX_BYTES + 1, SIZE_CLASS_MAX_BYTES + 128, (size_t)1 << 40, SIZE_MAX};
  for (size_t i = 0; i < sizeof past / sizeof past[0]; i++)
    EXPECT(size_class_of(past[i]) == 0, "size_class_of(%zu) = %u, want 0", past[i],
           size_class_of(past[i]));

  /* size_class_object_index: exact division for every offset of every span. */
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) {
    size_t span = (size_t)size_class_pages[c] * HS_PAGE_BYTES;
    for (size_t off = 0; off < span; off++) {
      uint32_t got = size_class_object_index(c, off);
      if (got != off / size_class_bytes[c]) {
        EXPECT(got == off / size_class_bytes[c], "class %u offset %zu: %u", c, off, got);
        break;
      }
    }
  }

  /* size_class_is_multiple: exact for every offset of every span. */
  for (uint32_t c = 1; c < SIZE_CLASS_COUNT; c++) {
    size_t span = (size_t)size_class_pages[c] * HS_PAGE_BYTES;
    for (size_t off = 0; off < span; off++) {
      bool got = size_class_is_multiple(off, size_class_multiple_magic[c]);
      if (got != (off % size_class_bytes[c] == 0)) {
        EXPECT(got == (off % size_class_bytes[c] == 0), "class %u offset %zu: multiple %d", c, off, got);
        break;
      }
    }
  }

  if (failures) return 1;
  printf("ok size_class_test: %d classes, worst waste %.3f%% (class %u, %u bytes), div shift %d\n",
         SIZE_CLASS_COUNT, 100 * worst, worst_class, size_class_bytes[worst_class],
         SIZE_CLASS_DIV_SHIFT);
  return 0;
}
