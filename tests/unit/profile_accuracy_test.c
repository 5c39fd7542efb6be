/* profile_accuracy_test.c — the sampler's estimates against known truth.
 *
 * A workload with known per-site totals runs in RUNS forked children at the
 * default rate (512 KiB), each reseeded by the fork handler.  Every child
 * reads its own buckets from the profile store and reports, per site, the
 * four views; the parent averages them.  Sites:
 *   small    2,000,000 × 64 B, each freed at once         (alloc views)
 *   huge     4 × 16 MiB, freed                             (exact: ≥ rate)
 *   leak     1,024 × 128 KiB, never freed                  (inuse views)
 *   grow     a buffer grown by realloc 32 KiB→1 MiB, 128 times (each move allocates)
 *   shared   two threads, 500,000 × 128 B each, one stack  (merged bucket)
 *   single   one live 400,000 B block                      (≈ 1 object on average)
 * Tolerance: every mean must be within 3% of the truth, and the test
 * checks its own design: 3% must be at least 4 standard deviations of the
 * mean, computed exactly from every allocation's sampling probability
 * (variance Σ(1-p)/p per object, Σ s²(1-p)/p per byte).  The single
 * block is checked within 4 standard deviations.  A last child runs
 * the workload at rate 1, where every figure must be exact. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heapscope.h"
#include "profile.h"
#include "testlib.h"

#define RUNS 128
#define RATE 524288.0

enum { SITE_SMALL, SITE_HUGE, SITE_LEAK, SITE_GROW, SITE_SHARED, SITE_SINGLE, SITE_COUNT };
static const char *const site_names[SITE_COUNT] = {"small", "huge", "leak", "grow", "shared",
                                                   "single"};

typedef struct views {
  double alloc_objects, alloc_bytes, inuse_objects, inuse_bytes;
} views_t;

/* The return address into each site's caller, recorded inside the site: a
 * sample's pcs[1] equals it (pcs[0] is inside the site function). */
static uintptr_t site_key[SITE_COUNT];
static views_t truth[SITE_COUNT];
/* Variance of one run's estimate, per view: an allocation of s bytes adds
 * (1-p)/p to the objects view and s²(1-p)/p to the bytes view. */
static views_t variance[SITE_COUNT];
static int rate_is_one;

static void account(int site, double size, int leaked) {
  double p = (rate_is_one || size >= RATE) ? 1 : -expm1(-(size > 0 ? size : 1) / RATE);
  double v = (1 - p) / p;
  truth[site].alloc_objects += 1;
  truth[site].alloc_bytes += size;
  variance[site].alloc_objects += v;
  variance[site].alloc_bytes += size * size * v;
  if (leaked) {
    truth[site].inuse_objects += 1;
    truth[site].inuse_bytes += size;
    variance[site].inuse_objects += v;
    variance[site].inuse_bytes += size * size * v;
  }
}
static int scale_divisor = 1; /* the rate-1 run does less work */
static volatile uintptr_t sink;

#define RECORD_SITE(site) site_key[site] = (uintptr_t)__builtin_return_address(0)

__attribute__((noinline)) static void site_small(void) {
  RECORD_SITE(SITE_SMALL);
  int n = 2000000 / scale_divisor;
  for (int i = 0; i < n; i++) {
    void *p = malloc(64);
    sink += (uintptr_t)p;
    free(p);
    account(SITE_SMALL, 64, 0);
  }
}

__attribute__((noinline)) static void site_huge(void) {
  RECORD_SITE(SITE_HUGE);
  for (int i = 0; i < 4; i++) {
    char *p = malloc((size_t)16 << 20);
    p[0] = 1;
    sink += (uintptr_t)p;
    free(p);
    account(SITE_HUGE, 16 << 20, 0);
  }
}

static void *leaked[1024];
__attribute__((noinline)) static void site_leak(void) {
  RECORD_SITE(SITE_LEAK);
  int n = 1024 / scale_divisor;
  for (int i = 0; i < n; i++) {
    leaked[i] = malloc(131072);
    account(SITE_LEAK, 131072, 1);
  }
}

__attribute__((noinline)) static void site_grow(void) {
  RECORD_SITE(SITE_GROW);
  int loops = 128 / scale_divisor + 1;
  for (int loop = 0; loop < loops; loop++) {
    char *buffer = NULL;
    for (size_t size = 32768; size <= ((size_t)1 << 20); size += size / 10 + 1) {
      char *moved = realloc(buffer, size);
      if (moved != buffer) account(SITE_GROW, (double)size, 0); /* a move allocates */
      buffer = moved;
    }
    free(buffer);
  }
}

static pthread_mutex_t account_lock = PTHREAD_MUTEX_INITIALIZER;
static char run_label[32];

__attribute__((noinline)) static void site_shared(int n) {
  RECORD_SITE(SITE_SHARED);
  for (int i = 0; i < n; i++) {
    void *p = malloc(128);
    sink += (uintptr_t)p;
    free(p);
  }
  pthread_mutex_lock(&account_lock);
  for (int i = 0; i < n; i++) account(SITE_SHARED, 128, 0);
  pthread_mutex_unlock(&account_lock);
}

static void *shared_thread(void *arg) {
  hs_label_push("run", run_label); /* labels are per thread */
  site_shared((int)(intptr_t)arg);
  hs_label_pop();
  return NULL;
}

static void *single_block;
__attribute__((noinline)) static void site_single(void) {
  RECORD_SITE(SITE_SINGLE);
  single_block = malloc(400000);
  account(SITE_SINGLE, 400000, 1);
}

static void run_workload(void) {
  site_small();
  site_huge();
  site_leak();
  site_grow();
  int n = 500000 / scale_divisor;
  pthread_t threads[2];
  for (int i = 0; i < 2; i++) pthread_create(&threads[i], NULL, shared_thread, (void *)(intptr_t)n);
  for (int i = 0; i < 2; i++) pthread_join(threads[i], NULL);
  site_single();
}

/* ---- Reading this child's buckets ---- */

typedef struct scan {
  const char *run_label;
  views_t found[SITE_COUNT];
} scan_t;

static void visit(const prof_bucket_view_t *bucket, void *arg) {
  scan_t *scan = arg;
  int mine = 0;
  for (uint32_t i = 0; i < bucket->label_count; i++)
    if (!strcmp(bucket->labels[i].key, "run") && !strcmp(bucket->labels[i].value, scan->run_label))
      mine = 1;
  if (!mine || bucket->depth < 2) return;
  for (int site = 0; site < SITE_COUNT; site++) {
    if (bucket->pcs[1] != site_key[site]) continue;
    views_t *v = &scan->found[site];
    v->alloc_objects += bucket->alloc_objects;
    v->alloc_bytes += bucket->alloc_bytes;
    v->inuse_objects += bucket->alloc_objects - bucket->free_objects;
    v->inuse_bytes += bucket->alloc_bytes - bucket->free_bytes;
  }
}

typedef struct report {
  views_t found[SITE_COUNT];
  views_t truth[SITE_COUNT];
  views_t variance[SITE_COUNT];
} report_t;

static void child_run(int index, int out_fd) {
  snprintf(run_label, sizeof run_label, "%d", index);
  hs_label_push("run", run_label);
  run_workload();
  scan_t scan = {.run_label = run_label};
  prof_enter();
  profile_for_each(visit, &scan);
  prof_exit();
  report_t report;
  memcpy(report.found, scan.found, sizeof report.found);
  memcpy(report.truth, truth, sizeof report.truth);
  memcpy(report.variance, variance, sizeof report.variance);
  ssize_t n = write(out_fd, &report, sizeof report);
  _exit(n == (ssize_t)sizeof report ? 0 : 1);
}

/* Runs one child and reads its report; false on failure. */
static bool run_child(int index, report_t *report) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    child_run(index, fds[1]);
  }
  close(fds[1]);
  size_t got = 0;
  while (got < sizeof *report) {
    ssize_t n = read(fds[0], (char *)report + got, sizeof *report - got);
    if (n <= 0) break;
    got += (size_t)n;
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return got == sizeof *report && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void) {
  static const char *const view_names[4] = {"alloc_objects", "alloc_space", "inuse_objects",
                                            "inuse_space"};
  /* At the default rate. */
  /* Sums over runs of the estimates, of the truth (which can differ from
   * run to run: a sampled block has a span of its own, so whether a
   * realloc moves it depends on the sampling), and of the variance. */
  views_t sum[SITE_COUNT] = {{0}}, truth_sum[SITE_COUNT] = {{0}}, variance_sum[SITE_COUNT] = {{0}};
  report_t report;
  int ok_runs = 0;
  for (int run = 0; run < RUNS; run++) {
    if (!run_child(run, &report)) continue;
    ok_runs++;
    for (int site = 0; site < SITE_COUNT; site++) {
      double *estimate = &sum[site].alloc_objects, *t = &truth_sum[site].alloc_objects,
             *v = &variance_sum[site].alloc_objects;
      for (int view = 0; view < 4; view++) {
        estimate[view] += (&report.found[site].alloc_objects)[view];
        t[view] += (&report.truth[site].alloc_objects)[view];
        v[view] += (&report.variance[site].alloc_objects)[view];
      }
    }
  }
  CHECK_MSG(ok_runs == RUNS, "only %d of %d runs reported", ok_runs, RUNS);
  for (int site = 0; site < SITE_COUNT && ok_runs > 0; site++) {
    double t[4], var[4];
    for (int view = 0; view < 4; view++) {
      t[view] = (&truth_sum[site].alloc_objects)[view] / ok_runs;    /* mean truth */
      var[view] = (&variance_sum[site].alloc_objects)[view] / ok_runs; /* mean variance */
    }
    const double *s = &sum[site].alloc_objects;
    for (int view = 0; view < 4; view++) {
      double mean = s[view] / ok_runs;
      double sd = sqrt(var[view] / ok_runs); /* of the mean over runs */
      if (t[view] == 0) { /* nothing live: sampled frees cancel exactly */
        CHECK_MSG(fabs(mean) <= 1e-6 * (t[0] + t[1] + 1), "%s %s: mean %.3f, truth 0",
                  site_names[site], view_names[view], mean);
        continue;
      }
      double error = (mean - t[view]) / t[view];
      if (site == SITE_SINGLE) { /* one block: 3% is not reachable; 4 sd */
        CHECK_MSG(fabs(mean - t[view]) <= 4 * sd, "single %s: mean %.3f, truth %.0f (4 sd = %.3f)",
                  view_names[view], mean, t[view], 4 * sd);
      } else {
        CHECK_MSG(fabs(error) <= 0.03, "%s %s: mean %.1f, truth %.1f, error %+.2f%% (%.1f sd)",
                  site_names[site], view_names[view], mean, t[view], 100 * error,
                  sd > 0 ? fabs(mean - t[view]) / sd : 0.0);
        /* The design check: 3% must be at least 4 sd, or the test is weak. */
        CHECK_MSG(0.03 * t[view] >= 4 * sd, "%s %s: 3%% is only %.1f sd: too few runs",
                  site_names[site], view_names[view], 0.03 * t[view] / sd);
      }
      if (sd == 0) CHECK_MSG(mean == t[view], "%s %s: %.1f, not exactly %.1f", site_names[site],
                             view_names[view], mean, t[view]);
      if (sd > 0)
        printf("%-7s %-13s truth %12.0f mean %15.2f error %+6.2f%% = %4.2f sd (sd %.2f%%)\n",
               site_names[site], view_names[view], t[view], mean, 100 * error,
               fabs(mean - t[view]) / sd, 100 * sd / t[view]);
      else
        printf("%-7s %-13s truth %12.0f mean %15.2f exact\n", site_names[site],
               view_names[view], t[view], mean);
    }
  }

  /* At rate 1 every figure is exact (one child, a sixteenth of the work). */
  hs_prof_set_rate(1);
  scale_divisor = 16;
  rate_is_one = 1;
  CHECK_MSG(run_child(RUNS, &report), "the rate-1 run failed");
  for (int site = 0; site < SITE_COUNT; site++) {
    const double *t = &report.truth[site].alloc_objects;
    const double *f = &report.found[site].alloc_objects;
    for (int view = 0; view < 4; view++)
      CHECK_MSG(f[view] == t[view], "rate 1: %s view %d: %.1f, not exactly %.1f", site_names[site],
                view, f[view], t[view]);
  }
  return testlib_done();
}
