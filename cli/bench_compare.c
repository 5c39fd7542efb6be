/* bench_compare.c — `heapscope bench-compare OLD NEW`: per-benchmark
 * changes between two benchmark outputs.  allocs/op and B/op are exact
 * counts, so their deltas are printed as they are; ns/op is noisy, so its
 * change is called significant only when a two-sided Mann–Whitney U test
 * over the -count runs gives p < alpha (default 0.05), as benchstat does.
 * Single-threaded CLI code.  May call: bench_results.c, libc, libm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cli.h"

static const char compare_usage[] =
    "usage: heapscope bench-compare [--alpha A] OLD NEW\n"
    "  OLD, NEW: benchmark output (Go format), ideally from -count 5 or more.\n"
    "  ns/op: median ± largest distance from it; a change is shown only when\n"
    "  a Mann-Whitney U test gives p < A (default 0.05), else '~'.\n"
    "  B/op and allocs/op: exact deltas.\n";

static void *checked_calloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size);
  if (!p) {
    fputs("heapscope: out of memory\n", stderr);
    exit(2);
  }
  return p;
}

typedef struct ranked {
  double value;
  int group; /* 0: old, 1: new */
} ranked_t;

static int compare_ranked(const void *a, const void *b) {
  double x = ((const ranked_t *)a)->value, y = ((const ranked_t *)b)->value;
  return x < y ? -1 : x > y;
}

/* Two-sided p-value of the Mann–Whitney U test (equivalently the Wilcoxon
 * rank-sum test) for samples x and y.  Ranks are mid-ranks for ties,
 * doubled so they stay integers.  Up to 100 values in all, the p-value is
 * exact: the share of all C(N, nx) ways of choosing nx of the (tied) ranks
 * whose sum lies at least as far from its mean as the observed sum
 * (counted by dynamic programming over ranks).  Above that, the normal
 * approximation with tie correction and continuity correction. */
static double bench_mann_whitney_p(const double *x, size_t nx, const double *y, size_t ny) {
  size_t total = nx + ny;
  if (nx == 0 || ny == 0) return 1;
  if (ny < nx) { /* count subsets of the smaller sample: same p, less work */
    const double *swap_values = x;
    x = y;
    y = swap_values;
    ny = nx;
    nx = total - ny;
  }
  ranked_t *all = checked_calloc(total, sizeof *all);
  for (size_t i = 0; i < nx; i++) all[i] = (ranked_t){x[i], 0};
  for (size_t i = 0; i < ny; i++) all[nx + i] = (ranked_t){y[i], 1};
  qsort(all, total, sizeof *all, compare_ranked);
  long *rank2 = checked_calloc(total, sizeof *rank2); /* doubled mid-ranks */
  long observed2 = 0;  /* doubled rank sum of x */
  double tie_term = 0; /* sum of t^3 - t over tie groups */
  for (size_t i = 0; i < total;) {
    size_t j = i;
    while (j + 1 < total && all[j + 1].value == all[i].value) j++;
    long r2 = (long)(i + 1) + (long)(j + 1); /* 2 * mean of ranks i+1..j+1 */
    double t = (double)(j - i + 1);
    tie_term += t * t * t - t;
    for (size_t k = i; k <= j; k++) {
      rank2[k] = r2;
      if (all[k].group == 0) observed2 += r2;
    }
    i = j + 1;
  }
  double p;
  double mean2 = (double)nx * (double)(total + 1); /* 2 * nx (N+1) / 2 */
  double distance = fabs((double)observed2 - mean2);
  if (total <= 100) {
    size_t max_sum = total * (total + 1);     /* doubled sum of all ranks */
    size_t pick = nx;
    /* ways[k * (max_sum + 1) + s]: subsets of the ranks seen so far with k
     * members and doubled rank sum s. */
    double *ways = checked_calloc((pick + 1) * (max_sum + 1), sizeof *ways);
    ways[0] = 1;
    for (size_t item = 0; item < total; item++) {
      size_t r = (size_t)rank2[item];
      for (size_t k = (item + 1 < pick ? item + 1 : pick); k >= 1; k--) {
        double *row = ways + k * (max_sum + 1), *below = ways + (k - 1) * (max_sum + 1);
        for (size_t s = max_sum; s >= r; s--) {
          row[s] += below[s - r];
          if (s == r) break;
        }
      }
    }
    double all_ways = 0, extreme = 0;
    const double *row = ways + pick * (max_sum + 1);
    for (size_t s = 0; s <= max_sum; s++) {
      all_ways += row[s];
      if (fabs((double)s - mean2) >= distance - 1e-9) extreme += row[s];
    }
    p = all_ways > 0 ? extreme / all_ways : 1;
    free(ways);
  } else {
    double n1 = (double)nx, n2 = (double)ny, n = (double)total;
    double variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)));
    double z = variance > 0 ? (distance / 2 - 0.5) / sqrt(variance) : 0;
    p = z > 0 ? erfc(z / sqrt(2)) : 1;
  }
  free(all);
  free(rank2);
  return p > 1 ? 1 : p;
}

/* The largest distance of a value from the median, as a percentage of it. */
static double spread_percent(const double *values, size_t count, double median) {
  double worst = 0;
  for (size_t i = 0; i < count; i++) {
    double d = fabs(values[i] - median);
    if (d > worst) worst = d;
  }
  return median != 0 ? 100 * worst / median : 0;
}

static void print_exact_row(int width, const char *name, const double *old_values, size_t old_runs,
                            const double *new_values, size_t new_runs) {
  double old_mean = 0, new_mean = 0;
  for (size_t i = 0; i < old_runs; i++) old_mean += old_values[i];
  for (size_t i = 0; i < new_runs; i++) new_mean += new_values[i];
  old_mean /= (double)old_runs;
  new_mean /= (double)new_runs;
  bool varies = bench_max(old_values, old_runs) != old_mean || bench_max(new_values, new_runs) != new_mean;
  double delta = new_mean - old_mean;
  char change[64];
  if (old_mean == 0 && delta == 0) snprintf(change, sizeof change, "0 (0.00%%)");
  else if (old_mean == 0) snprintf(change, sizeof change, "%+.10g (from 0)", delta);
  else if (delta == 0) snprintf(change, sizeof change, "0 (0.00%%)");
  else snprintf(change, sizeof change, "%+.10g (%+.2f%%)", delta, 100 * delta / old_mean);
  printf("%-*s  %12.10g  %12.10g  %s%s\n", width, name, old_mean, new_mean, change,
         varies ? "  (runs differ: means shown)" : "");
}

int bench_compare_command(int argc, char **argv) {
  double alpha = 0.05;
  int i = 0;
  for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(compare_usage, stdout);
      return 0;
    }
    if (strcmp(argv[i], "--alpha") == 0 && i + 1 < argc) {
      char *end;
      alpha = strtod(argv[++i], &end);
      if (*end || !(alpha > 0 && alpha < 1)) {
        fprintf(stderr, "heapscope bench-compare: bad --alpha '%s' (a number between 0 and 1)\n", argv[i]);
        return 2;
      }
      continue;
    }
    fprintf(stderr, "heapscope bench-compare: unknown option '%s'\n%s", argv[i], compare_usage);
    return 2;
  }
  if (argc - i != 2) {
    fprintf(stderr, "heapscope bench-compare: needs two files, OLD and NEW\n%s", compare_usage);
    return 2;
  }
  const char *command = "heapscope bench-compare";
  bench_results_t old_results, new_results;
  if (bench_results_read(command, argv[i], &old_results) != 0) return 2;
  if (bench_results_read(command, argv[i + 1], &new_results) != 0) {
    bench_results_free(&old_results);
    return 2;
  }
  int width = 9;
  size_t common = 0;
  for (size_t k = 0; k < old_results.count; k++) {
    const bench_series_t *o = &old_results.series[k];
    if (!bench_results_find(&new_results, o->name)) {
      printf("only in %s: %s\n", argv[i], o->name);
      continue;
    }
    common++;
    if ((int)strlen(o->name) > width) width = (int)strlen(o->name);
  }
  for (size_t k = 0; k < new_results.count; k++)
    if (!bench_results_find(&old_results, new_results.series[k].name))
      printf("only in %s: %s\n", argv[i + 1], new_results.series[k].name);
  if (common == 0) {
    fprintf(stderr, "%s: no benchmark appears in both files\n", command);
    bench_results_free(&old_results);
    bench_results_free(&new_results);
    return 2;
  }

  printf("%-*s  %18s  %18s  %s\n", width, "benchmark", "old ns/op", "new ns/op", "delta");
  for (size_t k = 0; k < old_results.count; k++) {
    const bench_series_t *o = &old_results.series[k];
    const bench_series_t *n = bench_results_find(&new_results, o->name);
    if (!n) continue;
    double old_median = bench_median(o->ns_per_op, o->runs);
    double new_median = bench_median(n->ns_per_op, n->runs);
    double p = bench_mann_whitney_p(o->ns_per_op, o->runs, n->ns_per_op, n->runs);
    char old_text[40], new_text[40], change[80];
    snprintf(old_text, sizeof old_text, "%.4g ± %.0f%%", old_median,
             spread_percent(o->ns_per_op, o->runs, old_median));
    snprintf(new_text, sizeof new_text, "%.4g ± %.0f%%", new_median,
             spread_percent(n->ns_per_op, n->runs, new_median));
    if (p < alpha && old_median > 0)
      snprintf(change, sizeof change, "%+.2f%% (p=%.3f n=%zu+%zu)",
               100 * (new_median - old_median) / old_median, p, o->runs, n->runs);
    else
      snprintf(change, sizeof change, "~ (p=%.3f n=%zu+%zu)", p, o->runs, n->runs);
    /* "±" is two bytes in UTF-8 but one column: pad by hand. */
    printf("%-*s  %*s  %*s  %s\n", width, o->name, 19, old_text, 19, new_text, change);
  }

  const char *titles[] = {"old B/op", "old allocs/op"};
  const char *new_titles[] = {"new B/op", "new allocs/op"};
  for (int table = 0; table < 2; table++) {
    printf("\n%-*s  %12s  %12s  %s\n", width, "benchmark", titles[table], new_titles[table],
           "delta (exact)");
    for (size_t k = 0; k < old_results.count; k++) {
      const bench_series_t *o = &old_results.series[k];
      const bench_series_t *n = bench_results_find(&new_results, o->name);
      if (!n) continue;
      if (!o->has_memory || !n->has_memory) {
        printf("%-*s  (no B/op and allocs/op in %s)\n", width, o->name,
               o->has_memory ? argv[i + 1] : argv[i]);
        continue;
      }
      if (table == 0) print_exact_row(width, o->name, o->bytes_per_op, o->runs, n->bytes_per_op, n->runs);
      else print_exact_row(width, o->name, o->allocs_per_op, o->runs, n->allocs_per_op, n->runs);
    }
  }
  bench_results_free(&old_results);
  bench_results_free(&new_results);
  return 0;
}
