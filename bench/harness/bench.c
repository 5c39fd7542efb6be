/* bench.c — the benchmark runner behind include/heapscope_bench.h: picks n,
 * times runs, reads heapscope's exact counters around them and prints Go's
 * benchmark lines.  Owns no lock; the state of a run lives on the runner's
 * stack and is shared with parallel workers through atomics and barriers.
 * Nothing between the two counter reads of a run allocates.
 * May call: the public heapscope API (hs_stats, hs_thread_counters) and libc. */
#include "heapscope_bench.h"

#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "heapscope.h"

#define BENCH_MAX_N 1000000000ull   /* like Go: never more than 1e9 operations */
#define BENCH_MAX_METRICS 8
#define BENCH_MAX_WORKERS 256

/* Counter values at one instant. */
typedef struct bench_counters {
  uint64_t allocs, bytes, frees;
} bench_counters_t;

struct hs_bench_state {
  hs_bench_count_mode_t mode;     /* PROCESS or THREAD, never DEFAULT */
  unsigned cpu;
  bool timer_on;
  uint64_t started_ns;            /* clock at the last start */
  bench_counters_t started;       /* counters at the last start */
  uint64_t elapsed_ns;            /* accumulated while the timer ran */
  bench_counters_t counted;       /* accumulated while the timer ran */
  uint64_t bytes_per_op;
  unsigned metric_count;
  double metric_values[BENCH_MAX_METRICS];
  char metric_units[BENCH_MAX_METRICS][32];
  /* Parallel runs: operations handed out so far, of n, in batches. */
  _Atomic uint64_t parallel_claimed;
  uint64_t parallel_n, parallel_grain;
};

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Reads the counters the mode asks for; neither call allocates. */
static bench_counters_t read_counters(hs_bench_count_mode_t mode) {
  bench_counters_t c = {0, 0, 0};
  if (mode == HS_BENCH_COUNT_THREAD) {
    hs_thread_counters_t t = hs_thread_counters();
    c.allocs = t.mallocs;
    c.bytes = t.requested_bytes;
    c.frees = t.frees;
  } else {
    hs_stats_t s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    hs_stats(&s);
    c.allocs = s.mallocs;
    c.bytes = s.total_alloc;
    c.frees = s.frees;
  }
  return c;
}

static void counters_add_delta(bench_counters_t *sum, bench_counters_t from, bench_counters_t to) {
  sum->allocs += to.allocs - from.allocs;
  sum->bytes += to.bytes - from.bytes;
  sum->frees += to.frees - from.frees;
}

/* ---- The timer ---- */

void hs_bench_start_timer(hs_bench_t *b) {
  struct hs_bench_state *st = b->state;
  if (st->timer_on) return;
  st->timer_on = true;
  st->started = read_counters(st->mode);
  st->started_ns = now_ns();
}

void hs_bench_stop_timer(hs_bench_t *b) {
  struct hs_bench_state *st = b->state;
  if (!st->timer_on) return;
  uint64_t stopped_ns = now_ns();
  bench_counters_t stopped = read_counters(st->mode);
  st->elapsed_ns += stopped_ns - st->started_ns;
  counters_add_delta(&st->counted, st->started, stopped);
  st->timer_on = false;
}

void hs_bench_reset_timer(hs_bench_t *b) {
  struct hs_bench_state *st = b->state;
  st->elapsed_ns = 0;
  memset(&st->counted, 0, sizeof st->counted);
  if (st->timer_on) {
    st->started = read_counters(st->mode);
    st->started_ns = now_ns();
  }
}

void hs_bench_report_metric(hs_bench_t *b, double value, const char *unit) {
  struct hs_bench_state *st = b->state;
  if (!unit || !*unit || strlen(unit) >= sizeof st->metric_units[0]) {
    fprintf(stderr, "bench: hs_bench_report_metric: unit must be 1..%zu bytes\n",
            sizeof st->metric_units[0] - 1);
    return;
  }
  for (unsigned i = 0; i < st->metric_count; i++) {
    if (strcmp(st->metric_units[i], unit) == 0) {
      st->metric_values[i] = value;
      return;
    }
  }
  if (st->metric_count == BENCH_MAX_METRICS) {
    fprintf(stderr, "bench: hs_bench_report_metric: more than %d units; '%s' dropped\n",
            BENCH_MAX_METRICS, unit);
    return;
  }
  strcpy(st->metric_units[st->metric_count], unit);
  st->metric_values[st->metric_count++] = value;
}

void hs_bench_set_bytes(hs_bench_t *b, uint64_t bytes_per_op) { b->state->bytes_per_op = bytes_per_op; }

/* ---- Parallel runs ---- */

bool hs_bench_parallel_refill(hs_bench_parallel_t *pb) {
  struct hs_bench_state *st = pb->state;
  uint64_t first = atomic_fetch_add(&st->parallel_claimed, st->parallel_grain);
  if (first >= st->parallel_n) return false;
  pb->next = first;
  pb->end = first + st->parallel_grain < st->parallel_n ? first + st->parallel_grain : st->parallel_n;
  return true;
}

typedef struct bench_worker_shared {
  struct hs_bench_state *state;
  void (*body)(hs_bench_parallel_t *pb, void *arg);
  void *arg;
  pthread_barrier_t ready, go, done, leave;
  _Atomic uint64_t allocs, bytes, frees; /* THREAD mode: the workers' own counts */
} bench_worker_shared_t;

static void *bench_worker(void *arg) {
  bench_worker_shared_t *shared = arg;
  /* Attach this thread's cache now, outside the measured window. */
  void *warm = hs_malloc(1);
  hs_bench_keep(warm);
  hs_free(warm);
  hs_bench_parallel_t pb = {0, 0, shared->state};
  pthread_barrier_wait(&shared->ready);
  pthread_barrier_wait(&shared->go);
  hs_thread_counters_t before = hs_thread_counters();
  shared->body(&pb, shared->arg);
  hs_thread_counters_t after = hs_thread_counters();
  atomic_fetch_add(&shared->allocs, after.mallocs - before.mallocs);
  atomic_fetch_add(&shared->bytes, after.requested_bytes - before.requested_bytes);
  atomic_fetch_add(&shared->frees, after.frees - before.frees);
  pthread_barrier_wait(&shared->done);
  /* Stay until the runner has read the counters, so thread exit is not counted. */
  pthread_barrier_wait(&shared->leave);
  return NULL;
}

void hs_bench_run_parallel(hs_bench_t *b, unsigned threads,
                           void (*body)(hs_bench_parallel_t *pb, void *arg), void *arg) {
  struct hs_bench_state *st = b->state;
  if (!body) return;
  if (threads == 0) threads = st->cpu;
  if (threads > BENCH_MAX_WORKERS) threads = BENCH_MAX_WORKERS;
  bool was_on = st->timer_on;
  hs_bench_stop_timer(b); /* creating threads is neither timed nor counted */

  static bench_worker_shared_t shared; /* one parallel run at a time */
  static pthread_t tids[BENCH_MAX_WORKERS];
  shared.state = st;
  shared.body = body;
  shared.arg = arg;
  atomic_store(&shared.allocs, 0);
  atomic_store(&shared.bytes, 0);
  atomic_store(&shared.frees, 0);
  atomic_store(&st->parallel_claimed, 0);
  st->parallel_n = b->n;
  uint64_t grain = b->n / ((uint64_t)threads * 64);
  st->parallel_grain = grain < 1 ? 1 : grain > 10000 ? 10000 : grain;
  pthread_barrier_init(&shared.ready, NULL, threads + 1);
  pthread_barrier_init(&shared.go, NULL, threads + 1);
  pthread_barrier_init(&shared.done, NULL, threads + 1);
  pthread_barrier_init(&shared.leave, NULL, threads + 1);
  unsigned started = 0;
  for (; started < threads; started++) {
    if (pthread_create(&tids[started], NULL, bench_worker, &shared) != 0) break;
  }
  if (started < threads) {
    fprintf(stderr, "bench: could not start %u worker threads\n", threads);
    exit(2);
  }
  pthread_barrier_wait(&shared.ready);
  if (was_on) hs_bench_start_timer(b);
  pthread_barrier_wait(&shared.go);
  pthread_barrier_wait(&shared.done);
  if (was_on) {
    hs_bench_stop_timer(b);
    if (st->mode == HS_BENCH_COUNT_THREAD) {
      st->counted.allocs += atomic_load(&shared.allocs);
      st->counted.bytes += atomic_load(&shared.bytes);
      st->counted.frees += atomic_load(&shared.frees);
    }
  }
  pthread_barrier_wait(&shared.leave);
  for (unsigned i = 0; i < threads; i++) pthread_join(tids[i], NULL);
  pthread_barrier_destroy(&shared.ready);
  pthread_barrier_destroy(&shared.go);
  pthread_barrier_destroy(&shared.done);
  pthread_barrier_destroy(&shared.leave);
  if (was_on) hs_bench_start_timer(b);
}

/* ---- Running ---- */

static unsigned cpus_available(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return (unsigned)count;
  }
  return 1;
}

static hs_bench_count_mode_t effective_mode(const hs_benchmark_t *bench,
                                            const hs_bench_options_t *options) {
  if (bench->count_mode == HS_BENCH_COUNT_PROCESS || bench->count_mode == HS_BENCH_COUNT_THREAD)
    return bench->count_mode;
  if (options && options->count_mode == HS_BENCH_COUNT_THREAD) return HS_BENCH_COUNT_THREAD;
  return HS_BENCH_COUNT_PROCESS;
}

/* One run of n operations, timer running from the call to the return. */
static void run_once(const hs_benchmark_t *bench, hs_bench_count_mode_t mode, unsigned cpu,
                     uint64_t n, hs_bench_result_t *out) {
  struct hs_bench_state st;
  memset(&st, 0, sizeof st);
  st.mode = mode;
  st.cpu = cpu;
  hs_bench_t b = {n, &st};
  hs_bench_start_timer(&b);
  bench->fn(&b);
  hs_bench_stop_timer(&b);
  memset(out, 0, sizeof *out);
  out->n = n;
  out->elapsed_ns = st.elapsed_ns;
  out->allocs = st.counted.allocs;
  out->bytes = st.counted.bytes;
  out->frees = st.counted.frees;
  out->count_mode = mode;
  out->bytes_per_op = st.bytes_per_op;
  out->metric_count = st.metric_count;
  memcpy(out->metric_values, st.metric_values, sizeof st.metric_values);
  memcpy(out->metric_units, st.metric_units, sizeof st.metric_units);
}

/* The next n to try after a run of `n` took `elapsed_ns` timed and `wall_ns`
 * in all, aiming at goal_ns of timed time with 20% to spare; grows at least
 * by one and at most 100-fold.  A benchmark whose untimed part (set-up
 * between stop and start) dominates is held to about 6 × goal_ns of wall
 * time: n then stays below what the timed time alone would ask for. */
static uint64_t predict_n(uint64_t n, uint64_t elapsed_ns, uint64_t wall_ns, uint64_t goal_ns) {
  double timed = (double)(elapsed_ns ? elapsed_ns : 1), wall = (double)wall_ns / 5;
  double per_op_ns = (timed > wall ? timed : wall) / (double)n;
  double wanted = (double)goal_ns * 1.2 / per_op_ns;
  uint64_t next = wanted >= (double)BENCH_MAX_N ? BENCH_MAX_N : (uint64_t)wanted;
  if (next > n * 100) next = n * 100;
  if (next <= n) next = n + 1;
  return next > BENCH_MAX_N ? BENCH_MAX_N : next;
}

int hs_bench_run(const hs_benchmark_t *bench, const hs_bench_options_t *options,
                 hs_bench_result_t *out) {
  if (!bench || !bench->fn || !out) return -1;
  hs_bench_count_mode_t mode = effective_mode(bench, options);
  unsigned cpu = options && options->cpu ? options->cpu : cpus_available();
  uint64_t goal_ns = options && options->benchtime_ns ? options->benchtime_ns : 1000000000ull;

  run_once(bench, mode, cpu, 1, out); /* warm-up: first-touch costs, caches */
  if (options && options->warmup_ns) {
    uint64_t until = now_ns() + options->warmup_ns, n = 1;
    while (now_ns() < until) {
      run_once(bench, mode, cpu, n, out);
      if (n < BENCH_MAX_N / 2) n *= 2;
    }
  }
  if (options && options->fixed_n) {
    run_once(bench, mode, cpu, options->fixed_n, out);
    return 0;
  }
  uint64_t n = 1, wall_ns = now_ns();
  run_once(bench, mode, cpu, n, out);
  wall_ns = now_ns() - wall_ns;
  while (out->elapsed_ns < goal_ns && wall_ns < 5 * goal_ns && n < BENCH_MAX_N) {
    n = predict_n(n, out->elapsed_ns, wall_ns, goal_ns);
    wall_ns = now_ns();
    run_once(bench, mode, cpu, n, out);
    wall_ns = now_ns() - wall_ns;
  }
  return 0;
}

/* ---- Output ---- */

/* "%*.*f" with four or five significant digits and the integer part in a
 * 10-character column, so the columns of a table line up. */
static int format_value(char *buf, size_t size, double value) {
  double magnitude = value < 0 ? -value : value;
  int decimals = 0;
  if (magnitude != 0) {
    for (double threshold = 999.95; magnitude < threshold && decimals < 7; threshold /= 10)
      decimals++;
  }
  int width = decimals ? 11 + decimals : 10;
  return snprintf(buf, size, "%*.*f", width, decimals, value);
}

static const char *result_name(char *buf, size_t size, const char *name, unsigned cpu) {
  if (cpu > 1) snprintf(buf, size, "%s-%u", name, cpu);
  else snprintf(buf, size, "%s", name);
  return buf;
}

int hs_bench_format(char *buf, uint64_t size, const char *name, unsigned cpu,
                    const hs_bench_result_t *r) {
  char full[512], number[64], line[2048];
  size_t len = 0;
  uint64_t n = r->n ? r->n : 1;
#define APPEND(...)                                                                      \
  do {                                                                                   \
    int added = snprintf(line + len, sizeof line - len, __VA_ARGS__);                    \
    if (added > 0) len = len + (size_t)added < sizeof line ? len + (size_t)added : sizeof line - 1; \
  } while (0)
  APPEND("%s\t%8llu", result_name(full, sizeof full, name, cpu), (unsigned long long)r->n);
  format_value(number, sizeof number, (double)r->elapsed_ns / (double)n);
  APPEND("\t%s ns/op", number);
  if (r->bytes_per_op && r->elapsed_ns) {
    double mb_per_s = (double)r->bytes_per_op * (double)r->n / 1e6 / ((double)r->elapsed_ns / 1e9);
    APPEND("\t%7.2f MB/s", mb_per_s);
  }
  APPEND("\t%8llu B/op\t%8llu allocs/op", (unsigned long long)(r->bytes / n),
         (unsigned long long)(r->allocs / n));
  for (unsigned i = 0; i < r->metric_count && i < BENCH_MAX_METRICS; i++) {
    format_value(number, sizeof number, r->metric_values[i]);
    APPEND("\t%s %s", number, r->metric_units[i]);
  }
#undef APPEND
  return snprintf(buf, (size_t)size, "%s", line);
}

/* ---- Flags and main ---- */

/* Parses "1s", "500ms", "2.5s", "10us", "100ns", "1m" or "1000x". */
static bool parse_benchtime(const char *text, uint64_t *time_ns, uint64_t *fixed_n) {
  char *end;
  errno = 0;
  double value = strtod(text, &end);
  if (end == text || errno || value < 0) return false;
  double scale;
  if (strcmp(end, "x") == 0) {
    if (value < 1 || value > (double)BENCH_MAX_N || value != (double)(uint64_t)value) return false;
    *fixed_n = (uint64_t)value;
    *time_ns = 0;
    return true;
  }
  if (strcmp(end, "ns") == 0) scale = 1;
  else if (strcmp(end, "us") == 0 || strcmp(end, "µs") == 0) scale = 1e3;
  else if (strcmp(end, "ms") == 0) scale = 1e6;
  else if (strcmp(end, "s") == 0) scale = 1e9;
  else if (strcmp(end, "m") == 0) scale = 60e9;
  else return false;
  if (value * scale < 1 || value * scale > 3600e9) return false;
  *time_ns = (uint64_t)(value * scale);
  *fixed_n = 0;
  return true;
}

static bool parse_count(const char *text, unsigned long max, unsigned long *out) {
  char *end;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (end == text || *end || errno || value < 1 || value > max || text[0] == '-') return false;
  *out = value;
  return true;
}

static void print_header(const char *program) {
  struct utsname u;
  const char *arch = "unknown";
  if (uname(&u) == 0) {
    arch = strcmp(u.machine, "x86_64") == 0 ? "amd64" : strcmp(u.machine, "aarch64") == 0 ? "arm64" : u.machine;
  }
  printf("goos: linux\ngoarch: %s\npkg: %s\n", arch, program);
  FILE *cpuinfo = fopen("/proc/cpuinfo", "r");
  if (cpuinfo) {
    char line[512];
    while (fgets(line, sizeof line, cpuinfo)) {
      if (strncmp(line, "model name", 10) == 0) {
        char *colon = strchr(line, ':');
        if (colon) {
          colon++;
          while (*colon == ' ' || *colon == '\t') colon++;
          printf("cpu: %s", colon);
        }
        break;
      }
    }
    fclose(cpuinfo);
  }
}

static const char flags_text[] =
    "flags: -run REGEX, -benchtime 1s|1000x, -count N, -warmup 1s, "
    "-counters process|thread, -cpu N, -list";

int hs_bench_main(int argc, char **argv, const hs_benchmark_t *table) {
  const char *program = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
  program = program ? program + 1 : argc > 0 && argv[0] ? argv[0] : "bench";
  hs_bench_options_t options;
  memset(&options, 0, sizeof options);
  const char *pattern = NULL;
  unsigned long count = 1;
  bool list = false;
  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "-h") == 0 || strcmp(arg, "-help") == 0 || strcmp(arg, "--help") == 0) {
      printf("usage: %s [flags]\n%s\n", program, flags_text);
      return 0;
    }
    if (strcmp(arg, "-list") == 0 || strcmp(arg, "--list") == 0) {
      list = true;
      continue;
    }
    const char *name = arg[0] == '-' ? arg + 1 + (arg[1] == '-') : NULL;
    if (!name || !*name) {
      fprintf(stderr, "%s: unexpected argument '%s' (%s)\n", program, arg, flags_text);
      return 2;
    }
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    const char *value = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
    if (!value) {
      fprintf(stderr, "%s: flag '%s' needs a value (%s)\n", program, arg, flags_text);
      return 2;
    }
#define IS(flag) (name_len == strlen(flag) && strncmp(name, flag, name_len) == 0)
    unsigned long number;
    if (IS("run") || IS("bench") || IS("test.bench")) {
      pattern = value;
    } else if (IS("benchtime") || IS("test.benchtime")) {
      if (!parse_benchtime(value, &options.benchtime_ns, &options.fixed_n)) {
        fprintf(stderr, "%s: bad -benchtime '%s' (a duration such as 1s, 500ms, or a count such as 1000x)\n",
                program, value);
        return 2;
      }
    } else if (IS("count") || IS("test.count")) {
      if (!parse_count(value, 100000, &count)) {
        fprintf(stderr, "%s: bad -count '%s' (1..100000)\n", program, value);
        return 2;
      }
    } else if (IS("warmup")) {
      uint64_t ignored_n = 0;
      if (!parse_benchtime(value, &options.warmup_ns, &ignored_n) || ignored_n) {
        fprintf(stderr, "%s: bad -warmup '%s' (a duration such as 1s or 200ms)\n", program, value);
        return 2;
      }
    } else if (IS("counters")) {
      if (strcmp(value, "process") == 0) options.count_mode = HS_BENCH_COUNT_PROCESS;
      else if (strcmp(value, "thread") == 0) options.count_mode = HS_BENCH_COUNT_THREAD;
      else {
        fprintf(stderr, "%s: bad -counters '%s' (process or thread)\n", program, value);
        return 2;
      }
    } else if (IS("cpu") || IS("test.cpu")) {
      if (!parse_count(value, BENCH_MAX_WORKERS, &number)) {
        fprintf(stderr, "%s: bad -cpu '%s' (1..%d)\n", program, value, BENCH_MAX_WORKERS);
        return 2;
      }
      options.cpu = (unsigned)number;
    } else {
      fprintf(stderr, "%s: unknown flag '%s' (%s)\n", program, arg, flags_text);
      return 2;
    }
#undef IS
  }

  regex_t regex;
  if (pattern) {
    int rc = regcomp(&regex, pattern, REG_EXTENDED | REG_NOSUB);
    if (rc != 0) {
      char why[200];
      regerror(rc, &regex, why, sizeof why);
      fprintf(stderr, "%s: bad -run regular expression '%s': %s\n", program, pattern, why);
      return 2;
    }
  }
  /* Counts would silently be zero if another malloc served the program. */
  hs_thread_counters_t before = hs_thread_counters();
  void *probe = malloc(24);
  hs_bench_keep(probe);
  free(probe);
  hs_thread_counters_t after = hs_thread_counters();
  if (after.mallocs <= before.mallocs) {
    fprintf(stderr, "%s: heapscope is not this program's malloc, so allocations cannot be "
                    "counted (link with -lheapscope, or run under heapscope run)\n", program);
    if (pattern) regfree(&regex);
    return 2;
  }

  unsigned cpu = options.cpu ? options.cpu : cpus_available();
  options.cpu = cpu;
  size_t width = 0, matched = 0;
  char full[512];
  for (const hs_benchmark_t *bench = table; bench && bench->name; bench++) {
    if (pattern && regexec(&regex, bench->name, 0, NULL, 0) != 0) continue;
    size_t len = strlen(result_name(full, sizeof full, bench->name, cpu));
    if (len > width) width = len;
    matched++;
  }
  if (list) {
    for (const hs_benchmark_t *bench = table; bench && bench->name; bench++)
      if (!pattern || regexec(&regex, bench->name, 0, NULL, 0) == 0) printf("%s\n", bench->name);
    if (pattern) regfree(&regex);
    return 0;
  }
  if (matched == 0) {
    fprintf(stderr, "%s: warning: no benchmarks match%s%s\n", program, pattern ? " -run " : "",
            pattern ? pattern : "");
  } else {
    print_header(program);
  }
  fflush(stdout);
  for (const hs_benchmark_t *bench = table; bench && bench->name; bench++) {
    if (pattern && regexec(&regex, bench->name, 0, NULL, 0) != 0) continue;
    for (unsigned long run = 0; run < count; run++) {
      hs_bench_result_t result;
      if (!bench->fn || hs_bench_run(bench, &options, &result) != 0) {
        fprintf(stderr, "%s: %s has no function\n", program, bench->name);
        break;
      }
      char line[2048];
      hs_bench_format(line, sizeof line, bench->name, cpu, &result);
      char *tab = strchr(line, '\t');
      int name_len = tab ? (int)(tab - line) : (int)strlen(line);
      printf("%.*s%*s%s\n", name_len, line, (int)(width - (size_t)name_len), "", tab ? tab : "");
      fflush(stdout);
    }
  }
  if (pattern) regfree(&regex);
  printf("PASS\n");
  return 0;
}
