/* profile_sizes_test.c — the profile's estimates are unbiased at every size
 * and through every allocation function, so a change to the size classes
 * or to one entry point cannot skew them unseen (a size-class change once
 * put TCMalloc's estimated bytes ~20% off).  At a rate of 64 KiB, each
 * (function, size) site allocates and frees about 6000 rates' worth of
 * bytes (≥ 16 objects), under a label of its own:
 *   functions  malloc, calloc, realloc(NULL, s), posix_memalign(64),
 *              aligned_alloc(4096), memalign(256)
 *   sizes      8 B … 1 MiB, on both sides of size-class boundaries and of
 *              the rate (65535, 65536)
 * Each site's alloc_objects and alloc_space estimates must be within 5
 * standard deviations of the truth, the deviation computed exactly from
 * each allocation's sampling probability; sizes ≥ the rate are exact. */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "heapscope.h"
#include "testlib.h"
#include "unit/profile_query.h"

#define RATE 65536.0
#define RATES_PER_SITE 6000.0

enum { FN_MALLOC, FN_CALLOC, FN_REALLOC, FN_POSIX_MEMALIGN, FN_ALIGNED_ALLOC, FN_MEMALIGN, FN_COUNT };
static const char *const fn_names[FN_COUNT] = {"malloc",         "calloc",        "realloc",
                                               "posix_memalign", "aligned_alloc", "memalign"};
static const size_t sizes[] = {8,     24,    100,   1000,  1025,  4000,   9000,    20000,
                               50000, 65535, 65536, 100000, 300000, 1048576};
#define SIZE_COUNT (sizeof sizes / sizeof sizes[0])

static void *volatile sink;

static void *allocate(int fn, size_t size) {
  void *p = NULL;
  switch (fn) {
    case FN_MALLOC: p = malloc(size); break;
    case FN_CALLOC: p = calloc(1, size); break;
    case FN_REALLOC: p = realloc(NULL, size); break;
    case FN_POSIX_MEMALIGN: if (posix_memalign(&p, 64, size) != 0) p = NULL; break;
    case FN_ALIGNED_ALLOC: p = aligned_alloc(4096, size); break;
    case FN_MEMALIGN: p = memalign(256, size); break;
  }
  return p;
}

int main(void) {
  hs_prof_set_rate((int64_t)RATE);
  int checked = 0;
  double worst = 0;
  const char *worst_site = "";
  static char worst_name[64];
  for (int fn = 0; fn < FN_COUNT; fn++) {
    for (size_t i = 0; i < SIZE_COUNT; i++) {
      size_t size = sizes[i];
      char site[64];
      snprintf(site, sizeof site, "%s:%zu", fn_names[fn], size);
      long count = (long)ceil(RATES_PER_SITE * RATE / (double)size);
      if (count < 16) count = 16;
      hs_label_push("site", site);
      int failed = 0;
      for (long n = 0; n < count; n++) {
        void *p = allocate(fn, size);
        if (!p) failed = 1;
        sink = p;
        free(p);
      }
      hs_label_pop();
      CHECK_MSG(!failed, "%s: an allocation failed", site);

      profile_totals_t q = profile_query_label("site", site);
      double s = (double)size;
      double p = s >= RATE ? 1 : -expm1(-s / RATE);
      double truth_objects = (double)count, truth_bytes = (double)count * s;
      double sd_objects = sqrt((double)count * (1 - p) / p);
      double sd_bytes = sqrt((double)count * s * s * (1 - p) / p);
      CHECK_MSG(fabs(q.alloc_objects - truth_objects) <= 5 * sd_objects + 1e-6 * truth_objects,
                "%s: alloc_objects %.1f, truth %.0f (5 sd = %.1f)", site, q.alloc_objects,
                truth_objects, 5 * sd_objects);
      CHECK_MSG(fabs(q.alloc_bytes - truth_bytes) <= 5 * sd_bytes + 1e-6 * truth_bytes,
                "%s: alloc_space %.0f, truth %.0f (5 sd = %.0f)", site, q.alloc_bytes, truth_bytes,
                5 * sd_bytes);
      double deviations = sd_bytes > 0 ? fabs(q.alloc_bytes - truth_bytes) / sd_bytes : 0;
      if (deviations > worst) {
        worst = deviations;
        snprintf(worst_name, sizeof worst_name, "%s", site);
        worst_site = worst_name;
      }
      checked++;
    }
  }
  printf("%d sites; the farthest alloc_space estimate: %s at %.2f sd\n", checked, worst_site,
         worst);
  return testlib_done();
}
