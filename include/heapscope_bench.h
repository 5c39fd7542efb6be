/* heapscope_bench.h — a benchmark harness for C in the shape of Go's
 * testing.B: each benchmark is a function that runs its operation b->n
 * times; the runner picks n to fill a target time and prints Go's line
 *
 *   BenchmarkName-THREADS   N   ns/op   B/op   allocs/op
 *
 * with B/op and allocs/op counted exactly by heapscope (not sampled), so
 * benchstat-style tools and `heapscope budget check` can read the output.
 * Link: cc bench.c -lheapscope_bench -lheapscope -pthread (docs/benchmarks.md).
 *
 *   static void bench_render(hs_bench_t *b) {
 *     for (uint64_t i = 0; i < b->n; i++) {
 *       char *text = render_invoice(&invoice);
 *       hs_bench_keep(text);             // the compiler may not drop it
 *       free(text);
 *     }
 *   }
 *   static const hs_benchmark_t benchmarks[] = {
 *     {"BenchmarkRenderInvoice", bench_render}, {0}};
 *   int main(int argc, char **argv) { return hs_bench_main(argc, argv, benchmarks); }
 */
#ifndef HEAPSCOPE_BENCH_H
#define HEAPSCOPE_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which allocations count toward B/op and allocs/op.
 *   HS_BENCH_COUNT_PROCESS (default): every thread of the process, from
 *     hs_stats() — like Go's -benchmem.  Includes the benchmark's own
 *     worker threads (hs_bench_run_parallel) and also any unrelated thread
 *     that allocates while the benchmark runs.
 *   HS_BENCH_COUNT_THREAD: only the threads running the benchmark — the
 *     calling thread, plus the workers of hs_bench_run_parallel — from
 *     hs_thread_counters().  Unaffected by other threads. */
typedef enum hs_bench_count_mode {
  HS_BENCH_COUNT_DEFAULT = 0, /* whatever -counters says (process unless set) */
  HS_BENCH_COUNT_PROCESS = 1,
  HS_BENCH_COUNT_THREAD = 2,
} hs_bench_count_mode_t;

struct hs_bench_state; /* the runner's private state */

/* The context a benchmark function receives.  `n` is the number of
 * operations to run; read it, never write it. */
typedef struct hs_bench {
  uint64_t n;
  struct hs_bench_state *state;
} hs_bench_t;

typedef void (*hs_bench_fn_t)(hs_bench_t *b);

/* One entry of a program's benchmark table (ended by an all-zero entry). */
typedef struct hs_benchmark {
  const char *name;            /* "BenchmarkSomething" */
  hs_bench_fn_t fn;
  hs_bench_count_mode_t count_mode; /* 0: the -counters flag decides */
} hs_benchmark_t;

/* ---- Inside a benchmark function ---- */

/* Timer and allocation counting run while the benchmark runs; these pause,
 * resume and zero both (like b.StopTimer/StartTimer/ResetTimer), so set-up
 * work between them is neither timed nor counted.  Each call reads the
 * counters: in the process-wide mode that takes a lock for a few
 * microseconds, so do not call them once per operation. */
void hs_bench_stop_timer(hs_bench_t *b);
void hs_bench_start_timer(hs_bench_t *b);
void hs_bench_reset_timer(hs_bench_t *b);

/* Adds a custom column "VALUE UNIT" to the result line (b.ReportMetric).
 * The value is printed as given: divide by b->n yourself for a per-op unit.
 * Reporting a unit again replaces its value; up to 8 units, 31 bytes each. */
void hs_bench_report_metric(hs_bench_t *b, double value, const char *unit);

/* Bytes processed per operation: adds an "MB/s" column (b.SetBytes). */
void hs_bench_set_bytes(hs_bench_t *b, uint64_t bytes_per_op);

/* Keeps `pointer` alive as far as the compiler knows: it must be computed
 * and may have been read.  Use it on each result in the measured loop, or
 * the optimiser may delete a malloc/free pair (GCC and Clang both do). */
static inline void hs_bench_keep(const void *pointer) {
  __asm__ __volatile__("" : : "r"(pointer) : "memory");
}
/* The same for a computed integer. */
static inline void hs_bench_keep_u64(uint64_t value) {
  __asm__ __volatile__("" : : "r"(value) : "memory");
}

/* ---- Parallel benchmarks (b.RunParallel) ---- */

/* A worker's share of the n operations, handed out in batches. */
typedef struct hs_bench_parallel {
  uint64_t next, end;          /* the current batch: [next, end) */
  struct hs_bench_state *state;
} hs_bench_parallel_t;

/* Claims the next batch; false when all n operations are handed out. */
bool hs_bench_parallel_refill(hs_bench_parallel_t *pb);

/* True while the worker has another operation to run:
 *   while (hs_bench_parallel_next(pb)) { ...one operation... } */
static inline bool hs_bench_parallel_next(hs_bench_parallel_t *pb) {
  if (pb->next < pb->end) {
    pb->next++;
    return true;
  }
  return hs_bench_parallel_refill(pb) && (pb->next++, true);
}

/* Runs b->n operations in total on `threads` workers (0: the -cpu flag,
 * by default the number of CPUs the process may use).  The workers start
 * (and warm their thread caches) before the timer and the counters are
 * read, and end after, so thread creation is neither timed nor counted.
 * Call it once per benchmark-function call, with the timer running, from
 * the benchmark's thread (one parallel run at a time); do not call the
 * timer functions from `body`. */
void hs_bench_run_parallel(hs_bench_t *b, unsigned threads,
                           void (*body)(hs_bench_parallel_t *pb, void *arg), void *arg);

/* ---- Running benchmarks ---- */

/* Runs the benchmarks of `table` (ended by an entry whose name is NULL)
 * under Go-style flags, prints one line per benchmark and run, and
 * returns the exit status (0; 2 on a bad flag or if heapscope is not the
 * process's malloc).  Flags (also accepted as -flag=value):
 *   -run REGEX       only benchmarks whose name matches (POSIX ERE); alias -bench
 *   -benchtime T     target time per benchmark (1s, 500ms, 2.5s) or a fixed
 *                    count of operations (1000x); default 1s
 *   -count N         measure each benchmark N times (for bench-compare); default 1
 *   -warmup T        also run each benchmark for time T before measuring
 *                    (there is always a warm-up run with n = 1)
 *   -counters MODE   process (default) or thread: see hs_bench_count_mode
 *   -cpu N           worker threads of parallel benchmarks, and the -N suffix
 *   -list            print the names and exit */
int hs_bench_main(int argc, char **argv, const hs_benchmark_t *table);

/* The measurement of one run, for programs that check results themselves. */
typedef struct hs_bench_result {
  uint64_t n;                 /* operations */
  uint64_t elapsed_ns;        /* timed nanoseconds over all n */
  uint64_t allocs;            /* allocations counted over all n (exact) */
  uint64_t bytes;             /* requested bytes counted over all n (exact) */
  uint64_t frees;             /* frees counted over all n (exact) */
  hs_bench_count_mode_t count_mode; /* the mode actually used */
  uint64_t bytes_per_op;      /* from hs_bench_set_bytes; 0 if not set */
  unsigned metric_count;      /* custom metrics reported (≤ 8) */
  double metric_values[8];
  char metric_units[8][32];
} hs_bench_result_t;

typedef struct hs_bench_options {
  uint64_t benchtime_ns;      /* 0: 1 s */
  uint64_t fixed_n;           /* nonzero: run exactly this n, no search */
  uint64_t warmup_ns;         /* extra warm-up time; 0: only the n = 1 run */
  hs_bench_count_mode_t count_mode; /* 0: process, unless the entry says */
  unsigned cpu;               /* 0: CPUs available */
} hs_bench_options_t;

/* Runs one benchmark as hs_bench_main would (warm-up, then the search for n
 * or the fixed n) and fills *out with the final run; prints nothing.
 * Returns 0, or -1 if an argument is NULL.  `options` may be NULL. */
int hs_bench_run(const hs_benchmark_t *bench, const hs_bench_options_t *options,
                 hs_bench_result_t *out);

/* Formats the Go-style result line (no newline) into buf; returns the
 * length it needs, like snprintf. */
int hs_bench_format(char *buf, uint64_t size, const char *name, unsigned cpu,
                    const hs_bench_result_t *result);

#ifdef __cplusplus
}
#endif
#endif /* HEAPSCOPE_BENCH_H */
