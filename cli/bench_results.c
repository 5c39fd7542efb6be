/* bench_results.c — reads Go-format benchmark output for the budget and
 * bench-compare commands: lines "BenchmarkName[-N]  runs  V ns/op  [V B/op
 * V allocs/op]  [V unit]...", grouped by name, other lines ignored.
 * Single-threaded CLI code, no locks.  May call: libc. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cli.h"

static char *copy_text(const char *s, size_t len) {
  char *copy = malloc(len + 1);
  if (!copy) {
    fputs("heapscope: out of memory\n", stderr);
    exit(2);
  }
  memcpy(copy, s, len);
  copy[len] = 0;
  return copy;
}

static void *grow(void *array, size_t *capacity, size_t element_bytes) {
  size_t wanted = *capacity ? *capacity * 2 : 8;
  void *bigger = realloc(array, wanted * element_bytes);
  if (!bigger) {
    fputs("heapscope: out of memory\n", stderr);
    exit(2);
  }
  *capacity = wanted;
  return bigger;
}

/* "BenchmarkX-8" → length of "BenchmarkX": drops a final "-DIGITS". */
static size_t base_name_length(const char *name, size_t len) {
  size_t i = len;
  while (i > 0 && isdigit((unsigned char)name[i - 1])) i--;
  if (i < len && i > 1 && name[i - 1] == '-') return i - 1;
  return len;
}

static bench_series_t *series_for(bench_results_t *results, const char *full, size_t full_len) {
  size_t base_len = base_name_length(full, full_len);
  for (size_t i = 0; i < results->count; i++) {
    bench_series_t *s = &results->series[i];
    if (strlen(s->name) == base_len && memcmp(s->name, full, base_len) == 0) return s;
  }
  if (results->count == results->capacity)
    results->series = grow(results->series, &results->capacity, sizeof *results->series);
  bench_series_t *s = &results->series[results->count++];
  memset(s, 0, sizeof *s);
  s->name = copy_text(full, base_len);
  s->full_name = copy_text(full, full_len);
  s->has_memory = true;
  return s;
}

static void series_add(bench_series_t *s, double ns, double bytes, double allocs, bool memory) {
  if (s->runs == s->capacity) {
    size_t capacity = s->capacity;
    s->ns_per_op = grow(s->ns_per_op, &capacity, sizeof(double));
    capacity = s->capacity;
    s->bytes_per_op = grow(s->bytes_per_op, &capacity, sizeof(double));
    capacity = s->capacity;
    s->allocs_per_op = grow(s->allocs_per_op, &capacity, sizeof(double));
    s->capacity = capacity;
  }
  s->ns_per_op[s->runs] = ns;
  s->bytes_per_op[s->runs] = bytes;
  s->allocs_per_op[s->runs] = allocs;
  s->runs++;
  if (!memory) s->has_memory = false;
}

/* Parses one line; false if it is not a benchmark result line. */
static bool parse_line(char *line, bench_results_t *results) {
  if (strncmp(line, "Benchmark", 9) != 0) return false;
  char *save = NULL;
  char *name = strtok_r(line, " \t\r\n", &save);
  char *runs = strtok_r(NULL, " \t\r\n", &save);
  if (!name || !runs) return false;
  char *end;
  errno = 0;
  unsigned long long n = strtoull(runs, &end, 10);
  if (*end || errno || n == 0) return false;
  double ns = -1, bytes = -1, allocs = -1;
  for (;;) {
    char *value = strtok_r(NULL, " \t\r\n", &save);
    char *unit = strtok_r(NULL, " \t\r\n", &save);
    if (!value || !unit) break;
    errno = 0;
    double v = strtod(value, &end);
    if (*end || errno) return false;
    if (strcmp(unit, "ns/op") == 0) ns = v;
    else if (strcmp(unit, "B/op") == 0) bytes = v;
    else if (strcmp(unit, "allocs/op") == 0) allocs = v;
  }
  if (ns < 0) return false;
  bench_series_t *s = series_for(results, name, strlen(name));
  series_add(s, ns, bytes, allocs, bytes >= 0 && allocs >= 0);
  return true;
}

int bench_results_read(const char *command, const char *path, bench_results_t *out) {
  memset(out, 0, sizeof *out);
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) {
    fprintf(stderr, "%s: cannot read benchmark output '%s': %s\n", command, path, strerror(errno));
    return -1;
  }
  char *line = NULL;
  size_t size = 0;
  while (getline(&line, &size, f) >= 0) parse_line(line, out);
  free(line);
  bool failed = ferror(f);
  if (f != stdin) fclose(f);
  if (failed) {
    fprintf(stderr, "%s: error reading '%s'\n", command, path);
    bench_results_free(out);
    return -1;
  }
  if (out->count == 0) {
    fprintf(stderr, "%s: no benchmark result lines (\"BenchmarkName  N  V ns/op ...\") in '%s'\n",
            command, path);
    bench_results_free(out);
    return -1;
  }
  return 0;
}

const bench_series_t *bench_results_find(const bench_results_t *results, const char *name) {
  size_t len = base_name_length(name, strlen(name));
  for (size_t i = 0; i < results->count; i++)
    if (strlen(results->series[i].name) == len && memcmp(results->series[i].name, name, len) == 0)
      return &results->series[i];
  return NULL;
}

void bench_results_free(bench_results_t *results) {
  for (size_t i = 0; i < results->count; i++) {
    bench_series_t *s = &results->series[i];
    free(s->name);
    free(s->full_name);
    free(s->ns_per_op);
    free(s->bytes_per_op);
    free(s->allocs_per_op);
  }
  free(results->series);
  memset(results, 0, sizeof *results);
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

double bench_median(const double *values, size_t count) {
  if (count == 0) return 0;
  double *sorted = malloc(count * sizeof *sorted);
  if (!sorted) {
    fputs("heapscope: out of memory\n", stderr);
    exit(2);
  }
  memcpy(sorted, values, count * sizeof *sorted);
  qsort(sorted, count, sizeof *sorted, compare_doubles);
  double median = count % 2 ? sorted[count / 2] : (sorted[count / 2 - 1] + sorted[count / 2]) / 2;
  free(sorted);
  return median;
}

double bench_max(const double *values, size_t count) {
  double max = count ? values[0] : 0;
  for (size_t i = 1; i < count; i++)
    if (values[i] > max) max = values[i];
  return max;
}
