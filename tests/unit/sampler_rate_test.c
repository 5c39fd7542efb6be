/* sampler_rate_test.c — hs_prof_set_rate reaches every thread, not only the
 * caller.  A worker thread, attached before each change, allocates
 * 100,000 × 1000 B (freed) after the main thread changes the rate:
 *   off → 4 KiB           the worker's countdown was loaded with sampling off
 *   1 GiB → 4 KiB         the worker's gap was drawn at 1 GiB
 *   4 KiB → off           the worker stops sampling
 * A thread re-reads the rate within 1 MiB of its allocations, so each
 * estimate must be within 5 standard deviations (at 4 KiB) of the truth,
 * less at most the 1 MiB allocated before the worker saw the change (and
 * in the last case, at most that 1 MiB's samples). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "heapscope.h"
#include "testlib.h"
#include "unit/profile_query.h"

#define OBJECTS 100000
#define OBJECT_BYTES 1000
#define RECHECK_BYTES (1 << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static int phase_asked, phase_done; /* guarded by lock */
static const char *const phase_names[] = {"", "warm", "off_on", "warm_1g", "lowered", "stopped"};
enum { PHASE_COUNT = 5 };
static void *volatile sink;

static void wait_until(int *value, int wanted) {
  pthread_mutex_lock(&lock);
  while (*value < wanted) pthread_cond_wait(&changed, &lock);
  pthread_mutex_unlock(&lock);
}

static void set(int *value, int to) {
  pthread_mutex_lock(&lock);
  *value = to;
  pthread_cond_broadcast(&changed);
  pthread_mutex_unlock(&lock);
}

__attribute__((noinline)) static void allocate(long bytes) {
  for (long done = 0; done < bytes; done += OBJECT_BYTES) {
    sink = malloc(OBJECT_BYTES);
    free(sink);
  }
}

/* Phase i: the worker allocates under label phase=<name>, then reports. */
static void *worker(void *arg) {
  (void)arg;
  allocate(OBJECT_BYTES); /* attached: the countdown is loaded now */
  for (int phase = 1; phase <= PHASE_COUNT; phase++) {
    wait_until(&phase_asked, phase);
    hs_label_push("phase", phase_names[phase]);
    /* The warm phases let the worker take up the rate set before them. */
    allocate(phase == 1 || phase == 3 ? 4L * RECHECK_BYTES : (long)OBJECTS * OBJECT_BYTES);
    hs_label_pop();
    set(&phase_done, phase);
  }
  return NULL;
}

/* Runs phase `phase` with the rate set to `rate` first. */
static void run_phase(int phase, int64_t rate) {
  hs_prof_set_rate(rate);
  set(&phase_asked, phase);
  wait_until(&phase_done, phase);
}

int main(void) {
  hs_prof_set_rate(0);
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, worker, NULL) == 0);
  run_phase(1, 0);          /* warm: the worker loads with sampling off */
  run_phase(2, 4096);       /* off → 4 KiB */
  run_phase(3, 1L << 30);   /* warm_1g: the worker draws a gap at 1 GiB */
  run_phase(4, 4096);       /* 1 GiB → 4 KiB */
  run_phase(5, 0);          /* 4 KiB → off */
  pthread_join(thread, NULL);

  double truth = (double)OBJECTS * OBJECT_BYTES;
  double p = -expm1(-(double)OBJECT_BYTES / 4096.0);
  double sd = sqrt((double)OBJECTS * OBJECT_BYTES * OBJECT_BYTES * (1 - p) / p);
  const char *sampled[2] = {"off_on", "lowered"};
  for (int i = 0; i < 2; i++) {
    profile_totals_t q = profile_query_label("phase", sampled[i]);
    double low = truth - RECHECK_BYTES - 5 * sd, high = truth + 5 * sd;
    CHECK_MSG(q.alloc_bytes >= low && q.alloc_bytes <= high,
              "%s: estimated %.0f bytes of %.0f (want %.0f..%.0f)", sampled[i], q.alloc_bytes,
              truth, low, high);
    printf("%-8s estimated %12.0f bytes of %.0f (%+.2f%%; 5 sd = %.2f%%)\n", sampled[i],
           q.alloc_bytes, truth, 100 * (q.alloc_bytes - truth) / truth, 500 * sd / truth);
  }
  /* Off: at most the samples of the 1 MiB before the worker saw it, each
   * standing for 1/p objects of 1000 B; 5 sd above their mean. */
  profile_totals_t off = profile_query_label("phase", "stopped");
  double off_mean = RECHECK_BYTES, off_sd = sqrt((double)RECHECK_BYTES * OBJECT_BYTES * (1 - p) / p);
  CHECK_MSG(off.alloc_bytes <= off_mean + 5 * off_sd, "stopped: estimated %.0f bytes (want <= %.0f)",
            off.alloc_bytes, off_mean + 5 * off_sd);
  printf("stopped  estimated %12.0f bytes after sampling was turned off\n", off.alloc_bytes);
  return testlib_done();
}
