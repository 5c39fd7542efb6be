/* exact_counts.c — the harness counts allocations exactly: a function that
 * makes 5 mallocs of 100..104 bytes is 5 allocs/op and 510 B/op in both
 * counting modes, with the timer paused or reset around set-up work, with
 * the benchmark's own worker threads allocating (process mode) and with
 * unrelated threads allocating (thread mode); hs_allocs_per_run agrees.
 *   exact_counts --check     run the checks (tests/bench/exact_test.sh runs
 *                            this at several HEAPSCOPE sampling rates)
 *   exact_counts [flags]     the same benchmarks through hs_bench_main
 * Compiled with -O2 and the malloc builtins on, like user code. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapscope_bench.h"
#include "testlib.h"

#pragma weak hs_prof_set_rate

#define FIVE_BYTES (100 + 101 + 102 + 103 + 104)

static void five_mallocs(void *unused) {
  void *p[5];
  for (int i = 0; i < 5; i++) {
    p[i] = malloc(100 + (size_t)i);
    hs_bench_keep(p[i]);
  }
  for (int i = 0; i < 5; i++) free(p[i]);
}

static void bench_five(hs_bench_t *b) {
  for (uint64_t i = 0; i < b->n; i++) five_mallocs(NULL);
}

/* Set-up allocations each op, excluded by stopping the timer. */
static void bench_five_with_setup(hs_bench_t *b) {
  for (uint64_t i = 0; i < b->n; i++) {
    hs_bench_stop_timer(b);
    void *setup[3];
    for (int k = 0; k < 3; k++) {
      setup[k] = malloc(4000);
      hs_bench_keep(setup[k]);
    }
    hs_bench_start_timer(b);
    five_mallocs(NULL);
    hs_bench_stop_timer(b);
    for (int k = 0; k < 3; k++) free(setup[k]);
    hs_bench_start_timer(b);
  }
}

/* Set-up allocations before the loop, excluded by resetting the timer. */
static void bench_five_after_reset(hs_bench_t *b) {
  void *table[7];
  for (int k = 0; k < 7; k++) {
    table[k] = malloc(1000 + (size_t)k);
    hs_bench_keep(table[k]);
  }
  hs_bench_reset_timer(b);
  for (uint64_t i = 0; i < b->n; i++) five_mallocs(NULL);
  hs_bench_stop_timer(b);
  for (int k = 0; k < 7; k++) free(table[k]);
}

static void parallel_five(hs_bench_parallel_t *pb, void *arg) {
  while (hs_bench_parallel_next(pb)) five_mallocs(NULL);
}
static void bench_five_parallel(hs_bench_t *b) { hs_bench_run_parallel(b, 4, parallel_five, NULL); }

/* One malloc/free pair kept alive by the guard: must count as 1 alloc/op. */
static void bench_guarded_pair(hs_bench_t *b) {
  for (uint64_t i = 0; i < b->n; i++) {
    void *p = malloc(64);
    hs_bench_keep(p);
    free(p);
  }
}
/* The same without the guard: GCC -O2 may delete the pair (printed only). */
static void bench_unguarded_pair(hs_bench_t *b) {
  for (uint64_t i = 0; i < b->n; i++) free(malloc(64));
}

/* The harness's overhead: an empty operation, as an inlined function whose
 * call the compiler must keep, and as a real (not inlined) call. */
static inline void empty_inline(void) { __asm__ __volatile__(""); }
__attribute__((noinline)) static void empty_call(void) { __asm__ __volatile__(""); }
static void bench_empty(hs_bench_t *b) {
  for (uint64_t i = 0; i < b->n; i++) empty_inline();
}
static void bench_empty_call(hs_bench_t *b) {
  for (uint64_t i = 0; i < b->n; i++) empty_call();
}

/* Custom columns: a metric and MB/s; the budget tools must skip them. */
static void bench_metrics(hs_bench_t *b) {
  bench_five(b);
  hs_bench_set_bytes(b, FIVE_BYTES);
  hs_bench_report_metric(b, 2.5, "widgets/op");
  hs_bench_report_metric(b, 5, "widgets/op"); /* replaces 2.5 */
}

static const hs_benchmark_t benchmarks[] = {
    {"BenchmarkMetrics", bench_metrics, 0},
    {"BenchmarkFiveMallocs", bench_five, 0},
    {"BenchmarkFiveMallocsThread", bench_five, HS_BENCH_COUNT_THREAD},
    {"BenchmarkFiveMallocsSetup", bench_five_with_setup, 0},
    {"BenchmarkFiveMallocsReset", bench_five_after_reset, 0},
    {"BenchmarkFiveMallocsParallel", bench_five_parallel, 0},
    {"BenchmarkGuardedPair", bench_guarded_pair, 0},
    {"BenchmarkUnguardedPair", bench_unguarded_pair, 0},
    {"BenchmarkEmpty", bench_empty, 0},
    {"BenchmarkEmptyCall", bench_empty_call, 0},
    {NULL, NULL, 0},
};

/* ---- Background threads that allocate all the time ---- */

static atomic_bool background_stop;
static atomic_ulong background_ops;
static void *background(void *arg) {
  while (!atomic_load(&background_stop)) {
    void *p = malloc(48);
    hs_bench_keep(p);
    free(p);
    atomic_fetch_add(&background_ops, 1);
  }
  return NULL;
}
static pthread_t background_threads[2];
static void background_start(void) {
  atomic_store(&background_stop, false);
  for (int i = 0; i < 2; i++) pthread_create(&background_threads[i], NULL, background, NULL);
  while (atomic_load(&background_ops) < 1000) sched_yield(); /* they are running */
}
static void background_end(void) {
  atomic_store(&background_stop, true);
  for (int i = 0; i < 2; i++) pthread_join(background_threads[i], NULL);
}

/* Runs `bench` in `mode` and checks the exact totals: allocs == 5 n etc. */
static void expect_five(const char *label, hs_bench_fn_t fn, hs_bench_count_mode_t mode,
                        uint64_t fixed_n, uint64_t benchtime_ns) {
  hs_benchmark_t bench = {label, fn, mode};
  hs_bench_options_t options = {.benchtime_ns = benchtime_ns, .fixed_n = fixed_n, .cpu = 4};
  hs_bench_result_t r;
  CHECK(hs_bench_run(&bench, &options, &r) == 0);
  CHECK_MSG(r.n >= 1 && (!fixed_n || r.n == fixed_n), "%s: n=%llu", label, (unsigned long long)r.n);
  CHECK_MSG(r.allocs == 5 * r.n, "%s: %llu allocs over n=%llu, want %llu", label,
            (unsigned long long)r.allocs, (unsigned long long)r.n, (unsigned long long)(5 * r.n));
  CHECK_MSG(r.bytes == FIVE_BYTES * r.n, "%s: %llu bytes over n=%llu, want %llu", label,
            (unsigned long long)r.bytes, (unsigned long long)r.n,
            (unsigned long long)(FIVE_BYTES * r.n));
  CHECK_MSG(r.frees == 5 * r.n, "%s: %llu frees over n=%llu", label, (unsigned long long)r.frees,
            (unsigned long long)r.n);
  char line[512];
  hs_bench_format(line, sizeof line, label, 1, &r);
  printf("%-40s %s\n", mode == HS_BENCH_COUNT_THREAD ? "(thread)" : "(process)", line);
}

static void check_sampling_rate(void) {
  const char *env = getenv("HEAPSCOPE");
  const char *key = env ? strstr(env, "sample_rate_bytes=") : NULL;
  if (!hs_prof_set_rate) {
    printf("note: hs_prof_set_rate is not in this build; sampling rate not verified\n");
    return;
  }
  int64_t rate = hs_prof_set_rate(0);
  hs_prof_set_rate(rate);
  printf("sampling rate in effect: %lld bytes\n", (long long)rate);
  if (key) {
    long long wanted = atoll(key + strlen("sample_rate_bytes="));
    CHECK_MSG(rate == wanted, "HEAPSCOPE asked for sample_rate_bytes=%lld, rate is %lld", wanted,
              (long long)rate);
  }
}

static int run_checks(void) {
  testlib_expect_heapscope();
  check_sampling_rate();
  uint64_t quick_ns = 50 * 1000 * 1000;
  expect_five("FiveMallocs/fixed", bench_five, HS_BENCH_COUNT_PROCESS, 20000, 0);
  expect_five("FiveMallocs/timed", bench_five, HS_BENCH_COUNT_PROCESS, 0, quick_ns);
  expect_five("FiveMallocs/fixed", bench_five, HS_BENCH_COUNT_THREAD, 20000, 0);
  expect_five("FiveMallocs/timed", bench_five, HS_BENCH_COUNT_THREAD, 0, quick_ns);
  expect_five("FiveMallocsSetup", bench_five_with_setup, HS_BENCH_COUNT_PROCESS, 2000, 0);
  expect_five("FiveMallocsSetup", bench_five_with_setup, HS_BENCH_COUNT_THREAD, 2000, 0);
  expect_five("FiveMallocsReset", bench_five_after_reset, HS_BENCH_COUNT_PROCESS, 20000, 0);
  expect_five("FiveMallocsReset", bench_five_after_reset, HS_BENCH_COUNT_THREAD, 20000, 0);
  /* Process mode with 4 worker threads of the benchmark allocating at once. */
  expect_five("FiveMallocsParallel/4", bench_five_parallel, HS_BENCH_COUNT_PROCESS, 40000, 0);
  expect_five("FiveMallocsParallel/4", bench_five_parallel, HS_BENCH_COUNT_PROCESS, 0, quick_ns);
  expect_five("FiveMallocsParallel/4", bench_five_parallel, HS_BENCH_COUNT_THREAD, 40000, 0);

  /* Unrelated threads allocating: thread mode excludes them exactly ... */
  background_start();
  expect_five("FiveMallocs+background", bench_five, HS_BENCH_COUNT_THREAD, 0, quick_ns);
  expect_five("FiveMallocsParallel/4+background", bench_five_parallel, HS_BENCH_COUNT_THREAD, 40000, 0);
  double per_run = hs_allocs_per_run(1000, five_mallocs, NULL);
  CHECK_MSG(per_run == 5.0, "hs_allocs_per_run with background threads: %g", per_run);
  /* ... and process mode counts them too (documented): never fewer. */
  hs_benchmark_t bench = {"FiveMallocs+background", bench_five, HS_BENCH_COUNT_PROCESS};
  hs_bench_options_t options = {.benchtime_ns = quick_ns};
  hs_bench_result_t r;
  CHECK(hs_bench_run(&bench, &options, &r) == 0);
  CHECK_MSG(r.allocs >= 5 * r.n, "process mode lost allocations: %llu < 5 * %llu",
            (unsigned long long)r.allocs, (unsigned long long)r.n);
  printf("%-40s process mode also counted %llu allocations of the 2 background threads\n",
         "(process)", (unsigned long long)(r.allocs - 5 * r.n));
  background_end();

  CHECK_MSG(hs_allocs_per_run(1000, five_mallocs, NULL) == 5.0, "hs_allocs_per_run");
  CHECK(hs_allocs_per_run(0, five_mallocs, NULL) == -1.0);
  CHECK(hs_allocs_per_run(10, NULL, NULL) == -1.0);

  /* The guard keeps a malloc/free pair; empty operations allocate nothing. */
  hs_bench_options_t fixed = {.fixed_n = 100000};
  const struct { const char *name; hs_bench_fn_t fn; uint64_t allocs_per_op; } exact[] = {
      {"GuardedPair", bench_guarded_pair, 1}, {"Empty", bench_empty, 0}, {"EmptyCall", bench_empty_call, 0}};
  for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) {
    for (int mode = HS_BENCH_COUNT_PROCESS; mode <= HS_BENCH_COUNT_THREAD; mode++) {
      hs_benchmark_t one = {exact[i].name, exact[i].fn, (hs_bench_count_mode_t)mode};
      CHECK(hs_bench_run(&one, &fixed, &r) == 0);
      CHECK_MSG(r.allocs == exact[i].allocs_per_op * r.n, "%s: %llu allocs over n=%llu",
                exact[i].name, (unsigned long long)r.allocs, (unsigned long long)r.n);
    }
  }
  hs_benchmark_t unguarded = {"UnguardedPair", bench_unguarded_pair, HS_BENCH_COUNT_THREAD};
  CHECK(hs_bench_run(&unguarded, &fixed, &r) == 0);
  printf("without hs_bench_keep, free(malloc(64)) counted %.2f allocs/op (the compiler %s it)\n",
         (double)r.allocs / (double)r.n, r.allocs ? "kept" : "deleted");
  return testlib_done();
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--check") == 0) return run_checks();
  return hs_bench_main(argc, argv, benchmarks);
}
