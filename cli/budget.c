/* budget.c — `heapscope budget check|ratchet|init`: the allocation-budget
 * gate.  A budgets file holds one line per benchmark:
 *     NAME  MAX_ALLOCS_PER_OP  MAX_BYTES_PER_OP  [MAX_NS_PER_OP [NOISE%]]
 * ("-" for no limit; "#" starts a comment).  check compares a benchmark
 * output file against it; ratchet lowers budgets to what was measured
 * (never raises one) and rewrites the file atomically; init writes a first
 * budgets file.  Single-threaded CLI code.  May call: bench_results.c, libc. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_cli.h"

/* One field of a budget line: where it is in the line, and its value. */
typedef struct budget_field {
  size_t start, length; /* byte range in the line; length 0: absent */
  double value;         /* < 0: no limit ("-" or absent) */
} budget_field_t;

typedef struct budget_entry {
  char *line;           /* the line as read, without its newline */
  bool is_entry;        /* false for blank and comment lines */
  int line_number;
  char *name;
  budget_field_t allocs, bytes, ns;
  double noise_fraction; /* ns allowance: 0.2 for "20%" */
} budget_entry_t;

typedef struct budget_file {
  budget_entry_t *entries;
  size_t count;
  bool final_newline;
} budget_file_t;

static const char budget_usage[] =
    "usage: heapscope budget check BENCH_OUTPUT BUDGETS    exit 1 if a result exceeds its budget\n"
    "       heapscope budget ratchet BENCH_OUTPUT BUDGETS  lower budgets to the results (never raise)\n"
    "       heapscope budget init BENCH_OUTPUT             print a budgets file for the results\n"
    "BUDGETS lines: NAME MAX_ALLOCS/OP MAX_B/OP [MAX_NS/OP [NOISE%]]   ('-': no limit, '#': comment)\n"
    "BENCH_OUTPUT '-' reads standard input.\n";

static void budget_file_free(budget_file_t *file) {
  for (size_t i = 0; i < file->count; i++) {
    free(file->entries[i].line);
    free(file->entries[i].name);
  }
  free(file->entries);
  memset(file, 0, sizeof *file);
}

/* The next whitespace-separated token of line at *pos, before any '#'. */
static bool next_token(const char *line, size_t *pos, size_t *start, size_t *length) {
  size_t i = *pos;
  while (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') i++;
  if (!line[i] || line[i] == '#') return false;
  *start = i;
  while (line[i] && line[i] != ' ' && line[i] != '\t' && line[i] != '\r' && line[i] != '#') i++;
  *length = i - *start;
  *pos = i;
  return true;
}

/* A limit: "-" or a non-negative number (an integer unless fraction_ok). */
static bool parse_limit(const char *text, size_t length, bool fraction_ok, double *out) {
  char buf[64];
  if (length == 0 || length >= sizeof buf) return false;
  memcpy(buf, text, length);
  buf[length] = 0;
  if (strcmp(buf, "-") == 0) {
    *out = -1;
    return true;
  }
  char *end;
  errno = 0;
  double v = strtod(buf, &end);
  if (*end || errno || !(v >= 0) || v > 1e300 || buf[0] == '-' || buf[0] == '+') return false;
  if (!fraction_ok && (v > 1e18 || v != (double)(unsigned long long)v)) return false;
  *out = v;
  return true;
}

static int parse_budget_line(const char *path, budget_entry_t *e) {
  size_t pos = 0, start, length;
  if (!next_token(e->line, &pos, &start, &length)) return 0; /* blank or comment */
  e->is_entry = true;
  e->name = strndup(e->line + start, length);
  if (!e->name) return -1;
  const char *what[] = {"max allocs/op (an integer or -)", "max B/op (an integer or -)",
                        "max ns/op (a number or -)"};
  budget_field_t *fields[] = {&e->allocs, &e->bytes, &e->ns};
  for (int f = 0; f < 3; f++) {
    fields[f]->value = -1;
    if (!next_token(e->line, &pos, &start, &length)) {
      if (f < 2) {
        fprintf(stderr, "heapscope budget: %s:%d: %s: missing %s\n", path, e->line_number,
                e->name, what[f]);
        return -1;
      }
      return 0;
    }
    fields[f]->start = start;
    fields[f]->length = length;
    if (!parse_limit(e->line + start, length, f == 2, &fields[f]->value)) {
      fprintf(stderr, "heapscope budget: %s:%d: %s: bad %s: '%.*s'\n", path, e->line_number,
              e->name, what[f], (int)length, e->line + start);
      return -1;
    }
  }
  if (next_token(e->line, &pos, &start, &length)) {
    double percent;
    if (length < 2 || e->line[start + length - 1] != '%' ||
        !parse_limit(e->line + start, length - 1, true, &percent) || percent < 0) {
      fprintf(stderr, "heapscope budget: %s:%d: %s: bad noise allowance '%.*s' (a percentage such as 20%%)\n",
              path, e->line_number, e->name, (int)length, e->line + start);
      return -1;
    }
    if (e->ns.value < 0) {
      fprintf(stderr, "heapscope budget: %s:%d: %s: a noise allowance needs a max ns/op\n", path,
              e->line_number, e->name);
      return -1;
    }
    e->noise_fraction = percent / 100;
  }
  if (next_token(e->line, &pos, &start, &length)) {
    fprintf(stderr, "heapscope budget: %s:%d: %s: unexpected '%.*s' (fields: NAME ALLOCS BYTES [NS [NOISE%%]])\n",
            path, e->line_number, e->name, (int)length, e->line + start);
    return -1;
  }
  return 0;
}

static int budget_file_read(const char *path, budget_file_t *out) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "r");
  if (!f) {
    fprintf(stderr, "heapscope budget: cannot read budgets file '%s': %s\n", path, strerror(errno));
    return -1;
  }
  size_t capacity = 0;
  char *line = NULL;
  size_t size = 0;
  ssize_t got;
  int status = 0;
  out->final_newline = true;
  while ((got = getline(&line, &size, f)) >= 0) {
    if (out->count == capacity) {
      capacity = capacity ? capacity * 2 : 32;
      budget_entry_t *bigger = realloc(out->entries, capacity * sizeof *bigger);
      if (!bigger) {
        status = -1;
        break;
      }
      out->entries = bigger;
    }
    out->final_newline = got > 0 && line[got - 1] == '\n';
    if (got > 0 && line[got - 1] == '\n') line[--got] = 0;
    if ((size_t)got != strlen(line)) {
      fprintf(stderr, "heapscope budget: %s:%zu: contains a NUL byte\n", path, out->count + 1);
      status = -1;
      break;
    }
    budget_entry_t *e = &out->entries[out->count++];
    memset(e, 0, sizeof *e);
    e->line_number = (int)out->count;
    e->line = strdup(line);
    if (!e->line || parse_budget_line(path, e) != 0) {
      status = -1;
      break;
    }
    for (size_t i = 0; e->is_entry && i + 1 < out->count; i++) {
      if (out->entries[i].is_entry && strcmp(out->entries[i].name, e->name) == 0) {
        fprintf(stderr, "heapscope budget: %s:%d: %s already has a budget on line %d\n", path,
                e->line_number, e->name, out->entries[i].line_number);
        status = -1;
      }
    }
    if (status) break;
  }
  free(line);
  if (ferror(f)) {
    fprintf(stderr, "heapscope budget: error reading '%s'\n", path);
    status = -1;
  }
  fclose(f);
  if (status) budget_file_free(out);
  return status;
}

/* Writes `file` to `path` through a temporary file in the same directory
 * and rename(), keeping the original's permissions: a reader sees the old
 * or the new file, never half of one. */
static int budget_file_write(const char *path, const budget_file_t *file) {
  size_t len = strlen(path);
  char *temp = malloc(len + 16);
  if (!temp) return -1;
  snprintf(temp, len + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(temp);
  if (fd < 0) {
    fprintf(stderr, "heapscope budget ratchet: cannot create '%s': %s\n", temp, strerror(errno));
    free(temp);
    return -1;
  }
  struct stat st;
  if (stat(path, &st) == 0) fchmod(fd, st.st_mode & 07777);
  FILE *f = fdopen(fd, "w");
  bool ok = f != NULL;
  for (size_t i = 0; ok && i < file->count; i++) {
    bool newline = i + 1 < file->count || file->final_newline;
    ok = fprintf(f, "%s%s", file->entries[i].line, newline ? "\n" : "") >= 0;
  }
  if (f) {
    ok = fflush(f) == 0 && ok;
    ok = fsync(fd) == 0 && ok;
    ok = fclose(f) == 0 && ok;
  } else {
    close(fd);
  }
  if (ok && rename(temp, path) != 0) ok = false;
  if (!ok) {
    fprintf(stderr, "heapscope budget ratchet: cannot write '%s': %s\n", path, strerror(errno));
    unlink(temp);
  }
  free(temp);
  return ok ? 0 : -1;
}

/* Replaces field `f` of entry `e` with `value` (an integer), in place. */
static int replace_field(budget_entry_t *e, budget_field_t *f, unsigned long long value) {
  char number[32];
  int digits = snprintf(number, sizeof number, "%llu", value);
  size_t old_len = strlen(e->line);
  char *line = malloc(old_len + (size_t)digits + 1);
  if (!line) return -1;
  memcpy(line, e->line, f->start);
  memcpy(line + f->start, number, (size_t)digits);
  strcpy(line + f->start + digits, e->line + f->start + f->length);
  long shift = (long)digits - (long)f->length;
  budget_field_t *fields[] = {&e->allocs, &e->bytes, &e->ns};
  for (int i = 0; i < 3; i++)
    if (fields[i]->length && fields[i]->start > f->start) fields[i]->start += (size_t)shift;
  f->length = (size_t)digits;
  f->value = (double)value;
  free(e->line);
  e->line = line;
  return 0;
}

static bool series_usable(const bench_series_t *s, const budget_entry_t *e, const char *output,
                          const char *command) {
  if (!s) {
    fprintf(stderr, "%s: %s has a budget but no result in '%s'\n", command, e->name, output);
    return false;
  }
  if (!s->has_memory && (e->allocs.value >= 0 || e->bytes.value >= 0)) {
    fprintf(stderr, "%s: %s has no B/op and allocs/op in '%s'\n", command, e->name, output);
    return false;
  }
  return true;
}

/* Reads the budgets file and the benchmark output; 0, or -1 after one
 * line on stderr (nothing left to free). */
static int read_inputs(const char *command, const char *output, const char *budgets,
                       bench_results_t *results, budget_file_t *file) {
  if (budget_file_read(budgets, file) != 0) return -1;
  if (bench_results_read(command, output, results) != 0) {
    budget_file_free(file);
    return -1;
  }
  return 0;
}

static int budget_check(const char *output, const char *budgets) {
  const char *command = "heapscope budget check";
  bench_results_t results;
  budget_file_t file;
  if (read_inputs(command, output, budgets, &results, &file) != 0) return 2;
  int failures = 0, checked = 0;
  for (size_t i = 0; i < file.count; i++) {
    const budget_entry_t *e = &file.entries[i];
    if (!e->is_entry) continue;
    const bench_series_t *s = bench_results_find(&results, e->name);
    if (!series_usable(s, e, output, command)) {
      failures++;
      continue;
    }
    checked++;
    double allocs = bench_max(s->allocs_per_op, s->runs);
    double bytes = bench_max(s->bytes_per_op, s->runs);
    double ns = bench_median(s->ns_per_op, s->runs);
    if (e->allocs.value >= 0 && allocs > e->allocs.value) {
      fprintf(stderr, "alloc budget exceeded: %s got %.0f allocs/op, budget %.0f\n", e->name, allocs,
              e->allocs.value);
      failures++;
    }
    if (e->bytes.value >= 0 && bytes > e->bytes.value) {
      fprintf(stderr, "byte budget exceeded: %s got %.0f B/op, budget %.0f\n", e->name, bytes,
              e->bytes.value);
      failures++;
    }
    if (e->ns.value >= 0 && ns > e->ns.value * (1 + e->noise_fraction)) {
      fprintf(stderr, "time budget exceeded: %s got %g ns/op (median of %zu), budget %g ns/op + %g%% noise\n",
              e->name, ns, s->runs, e->ns.value, e->noise_fraction * 100);
      failures++;
    }
  }
  for (size_t i = 0; i < results.count; i++) {
    bool budgeted = false;
    for (size_t j = 0; j < file.count && !budgeted; j++)
      budgeted = file.entries[j].is_entry && strcmp(file.entries[j].name, results.series[i].name) == 0;
    if (!budgeted) printf("note: %s has no budget in %s\n", results.series[i].name, budgets);
  }
  if (failures == 0)
    printf("budget ok: %d benchmark%s within budget\n", checked, checked == 1 ? "" : "s");
  bench_results_free(&results);
  budget_file_free(&file);
  return failures ? 1 : 0;
}

static int budget_ratchet(const char *output, const char *budgets) {
  const char *command = "heapscope budget ratchet";
  bench_results_t results;
  budget_file_t file;
  if (read_inputs(command, output, budgets, &results, &file) != 0) return 2;
  int lowered = 0, refused = 0;
  for (size_t i = 0; i < file.count; i++) {
    budget_entry_t *e = &file.entries[i];
    if (!e->is_entry) continue;
    const bench_series_t *s = bench_results_find(&results, e->name);
    if (!series_usable(s, e, output, command)) {
      refused++;
      continue;
    }
    struct {
      budget_field_t *field;
      double got;
      const char *unit;
    } exact[] = {{&e->allocs, bench_max(s->allocs_per_op, s->runs), "allocs/op"},
                 {&e->bytes, bench_max(s->bytes_per_op, s->runs), "B/op"}};
    for (int k = 0; k < 2; k++) {
      double budget = exact[k].field->value;
      if (budget < 0) continue; /* no limit: nothing to ratchet */
      if (exact[k].got > budget) {
        fprintf(stderr, "%s: %s got %.0f %s, above its budget %.0f: not raised (fix the regression, "
                        "or raise the budget by hand in review)\n",
                command, e->name, exact[k].got, exact[k].unit, budget);
        refused++;
      } else if (exact[k].got < budget) {
        printf("ratchet: %s %s budget %.0f -> %.0f\n", e->name, exact[k].unit, budget, exact[k].got);
        if (replace_field(e, exact[k].field, (unsigned long long)exact[k].got) != 0) {
          fputs("heapscope: out of memory\n", stderr);
          exit(2);
        }
        lowered++;
      }
    }
  }
  int status = refused ? 1 : 0;
  if (lowered) {
    if (budget_file_write(budgets, &file) != 0) status = 2;
    else printf("ratchet: %d budgets lowered in %s\n", lowered, budgets);
  } else {
    printf("ratchet: no budget lowered in %s\n", budgets);
  }
  bench_results_free(&results);
  budget_file_free(&file);
  return status;
}

static int budget_init(const char *output) {
  bench_results_t results;
  if (bench_results_read("heapscope budget init", output, &results) != 0) return 2;
  printf("# heapscope allocation budgets: NAME MAX_ALLOCS/OP MAX_B/OP [MAX_NS/OP [NOISE%%]]\n"
         "# Checked by 'heapscope budget check', lowered by 'heapscope budget ratchet'.\n");
  size_t width = 0;
  for (size_t i = 0; i < results.count; i++)
    if (strlen(results.series[i].name) > width) width = strlen(results.series[i].name);
  for (size_t i = 0; i < results.count; i++) {
    const bench_series_t *s = &results.series[i];
    if (s->has_memory)
      printf("%-*s  %.0f  %.0f\n", (int)width, s->name, bench_max(s->allocs_per_op, s->runs),
             bench_max(s->bytes_per_op, s->runs));
    else
      printf("%-*s  -  -\n", (int)width, s->name);
  }
  bench_results_free(&results);
  return 0;
}

int budget_command(int argc, char **argv) {
  if (argc >= 1 && (strcmp(argv[0], "help") == 0 || strcmp(argv[0], "--help") == 0 ||
                    strcmp(argv[0], "-h") == 0)) {
    fputs(budget_usage, stdout);
    return 0;
  }
  if (argc == 3 && strcmp(argv[0], "check") == 0) return budget_check(argv[1], argv[2]);
  if (argc == 3 && strcmp(argv[0], "ratchet") == 0) return budget_ratchet(argv[1], argv[2]);
  if (argc == 2 && strcmp(argv[0], "init") == 0) return budget_init(argv[1]);
  if (argc >= 1 && strcmp(argv[0], "check") != 0 && strcmp(argv[0], "ratchet") != 0 &&
      strcmp(argv[0], "init") != 0)
    fprintf(stderr, "heapscope budget: unknown subcommand '%s'\n", argv[0]);
  else
    fputs("heapscope budget: wrong number of arguments\n", stderr);
  fputs(budget_usage, stderr);
  return 2;
}
