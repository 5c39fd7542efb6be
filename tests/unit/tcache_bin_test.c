/* tcache_bin_test.c — how many objects a thread's bin keeps (src/tcache.c,
 * bin_limit):
 *  1. A class up to 1 KiB: after rounds of 64 mallocs and 64 frees (the
 *     bin grows a batch at each refill), the last round's 64 frees all
 *     land in the bin (TCACHE_BIN_MIN_OBJECTS), though 64 objects of 512
 *     or 1000 bytes are more than the 16 KiB byte bound.  With the byte
 *     bound alone the 1 KiB bin stopped at 16 and the 512-byte one at 32.
 *  2. Past 1 KiB the floor is 64 KiB of objects: 4096-byte objects stop at
 *     16 in the bin (4 with the byte bound alone), the rest going back to
 *     their spans; 16 KiB objects at 4 (2 before: a batch).
 * The bins are read from the calling thread's cache (tcache.h).  Objects
 * come from malloc, sampling off (the rate reaches the thread within 1 MiB
 * of allocation, long before the last round). */
#include <stdlib.h>
#include <string.h>

#include "heapscope.h"
#include "size_class.h"
#include "tcache.h"
#include "testlib.h"

enum { BATCH = 64, ROUNDS = 200 };

/* The bin's count after the last round's frees. */
static uint32_t bin_count_after_rounds(size_t bytes) {
  void *objects[BATCH];
  for (int round = 0; round < ROUNDS; round++) {
    for (int i = 0; i < BATCH; i++) {
      objects[i] = malloc(bytes);
      if (!objects[i]) {
        CHECK_MSG(false, "malloc(%zu) failed", bytes);
        return 0;
      }
      memset(objects[i], round, bytes);
    }
    for (int i = 0; i < BATCH; i++) free(objects[i]);
  }
  return tls_tcache.bins[size_class_of(bytes)].count;
}

TEST(mid_size_bins_hold_a_batch_of_64) {
  static const size_t sizes[] = {300, 512, 700, 1000, 1024};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint32_t count = bin_count_after_rounds(sizes[i]);
    CHECK_MSG(count >= BATCH, "%zu-byte objects: %u in the bin after 64 frees", sizes[i], count);
  }
}

TEST(larger_bins_hold_64_kib) {
  uint32_t count = bin_count_after_rounds(4096);
  CHECK_MSG(count == 16, "4096-byte objects: %u in the bin after 64 frees, want 16", count);
  count = bin_count_after_rounds(16384);
  CHECK_MSG(count == 4, "16384-byte objects: %u in the bin after 64 frees, want 4", count);
}

int main(void) {
  hs_prof_set_rate(0); /* a sampled object does not go to the bin */
  RUN(mid_size_bins_hold_a_batch_of_64);
  RUN(larger_bins_hold_64_kib);
  return testlib_done();
}
