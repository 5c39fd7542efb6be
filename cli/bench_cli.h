/* bench_cli.h — the CLI's benchmark commands (budget.c, bench_compare.c)
 * and the reader of Go-format benchmark output they share
 * (bench_results.c).  Ordinary libc code: these files may use malloc. */
#ifndef HEAPSCOPE_BENCH_CLI_H
#define HEAPSCOPE_BENCH_CLI_H

#include <stdbool.h>
#include <stddef.h>

/* Every run of one benchmark in a file: its -count repetitions. */
typedef struct bench_series {
  char *name;            /* "BenchmarkX", the -THREADS suffix removed */
  char *full_name;       /* as printed, e.g. "BenchmarkX-8" */
  size_t runs, capacity;
  double *ns_per_op;     /* per run */
  double *bytes_per_op;  /* per run; valid when has_memory */
  double *allocs_per_op; /* per run; valid when has_memory */
  bool has_memory;       /* every run had B/op and allocs/op */
} bench_series_t;

typedef struct bench_results {
  bench_series_t *series; /* in order of first appearance */
  size_t count, capacity;
} bench_results_t;

/* Reads benchmark lines from `path` ("-": standard input), ignoring every
 * other line.  Returns 0; or -1 after printing one line prefixed by
 * `command` to stderr (unreadable file, no benchmark lines). */
int bench_results_read(const char *command, const char *path, bench_results_t *out);
const bench_series_t *bench_results_find(const bench_results_t *results, const char *name);
void bench_results_free(bench_results_t *results);

/* Statistics over one series' values. */
double bench_median(const double *values, size_t count);
double bench_max(const double *values, size_t count);

/* `heapscope budget check|ratchet|init ...` and `heapscope bench-compare`:
 * argc/argv start after the command word.  Return the exit status. */
int budget_command(int argc, char **argv);
int bench_compare_command(int argc, char **argv);

#endif /* HEAPSCOPE_BENCH_CLI_H */
