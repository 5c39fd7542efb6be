/* options.c — the options table and the HEAPSCOPE parser.  Runs inside the
 * first malloc, so it walks `environ` by hand (no getenv hooks), copies
 * nothing, and reports errors with hs_warn.  May call: base. */
#include "options.h"

#include <string.h>

#include "base.h"

extern char **environ;

hs_options_t hs_options = {.stats_at_exit = 0, .sample_rate_bytes = HS_DEFAULT_SAMPLE_RATE_BYTES,
                           .scavenger = 1, .scavenger_delay_ms = 500,
                           .scavenger_cpu_percent = 20, .release_on_drain = 1};

typedef struct option_spec {
  const char *name;
  size_t offset;
  int64_t min, max;
  const char *accepted; /* for the error message */
} option_spec_t;
/* min TEXT_OPTION: a text option, char[max] at offset. */
#define TEXT_OPTION (-1)
/* min WORD_OPTION: one of the words in `accepted` ("soft|hard"), stored as
 * its index; max is the last index. */
#define WORD_OPTION (-2)

static const option_spec_t option_table[] = {
    {"stats_at_exit", offsetof(hs_options_t, stats_at_exit), 0, 1, "0 or 1"},
    {"sample_rate_bytes", offsetof(hs_options_t, sample_rate_bytes), 0, INT64_MAX / 4,
     "a byte count: 0 (off), 1 (every allocation) or more, e.g. 512K"},
    {"profile", offsetof(hs_options_t, profile_path), TEXT_OPTION, sizeof hs_options.profile_path,
     "a file path without commas, %p for the pid"},
    {"profile_signal", offsetof(hs_options_t, profile_signal), 0, 64,
     "0 (none) or a signal number 1..64, e.g. 12 for SIGUSR2"},
    {"profile_interval_seconds", offsetof(hs_options_t, profile_interval_seconds), 0, 604800,
     "0 (none) or seconds between profiles written to the profile path, up to 604800"},
    {"profile_at_limit", offsetof(hs_options_t, profile_at_limit), 0, 1,
     "0 or 1 (write a profile when the heap reaches memory_limit_bytes, at most once a minute)"},
    {"peak_profile", offsetof(hs_options_t, peak_profile_path), TEXT_OPTION,
     sizeof hs_options.peak_profile_path,
     "a file path without commas, %p for the pid (replaced at each new peak of the heap)"},
    {"http", offsetof(hs_options_t, http_address), TEXT_OPTION, sizeof hs_options.http_address,
     "a loopback address to serve profiles and metrics on: PORT, 127.0.0.1:PORT, "
     "localhost:PORT or [::1]:PORT (port 0: any free port, printed)"},
    {"main_pid", offsetof(hs_options_t, main_pid), 0, INT32_MAX,
     "0 (each process is its own main process) or the pid of the one that serves http "
     "and writes a profile path without %p as named"},
    {"scavenger", offsetof(hs_options_t, scavenger), 0, 2,
     "1 (idle memory goes back from a background thread once the process has two threads, "
     "before that from its own), 2 (a background thread always) or 0 (the host calls "
     "hs_background_step)"},
    {"scavenger_trace", offsetof(hs_options_t, scavenger_trace), 0, 1, "0 or 1"},
    {"scavenger_delay_ms", offsetof(hs_options_t, scavenger_delay_ms), 1, 3600000,
     "milliseconds a free page stays before release, 1..3600000"},
    {"scavenger_cpu_percent", offsetof(hs_options_t, scavenger_cpu_percent), 1, 100,
     "a percentage of one CPU, 1..100"},
    {"release_on_drain", offsetof(hs_options_t, release_on_drain), 0, 1, "0 or 1"},
    {"memory_limit_bytes", offsetof(hs_options_t, memory_limit_bytes), 0, INT64_MAX / 4,
     "a byte count, 0 for none, e.g. 256M"},
    {"memory_limit_mode", offsetof(hs_options_t, memory_limit_mode), WORD_OPTION, 1, "soft|hard"},
    {"huge_pages", offsetof(hs_options_t, huge_pages), 0, 1,
     "0 or 1 (ask the kernel for transparent huge pages on the heap's regions)"},
};
#define OPTION_COUNT (sizeof option_table / sizeof option_table[0])

/* Parses [s, end) as a non-negative integer with an optional K/M/G suffix
 * (powers of 1024).  Returns false on anything else or overflow. */
static bool parse_value(const char *s, const char *end, int64_t *out) {
  if (s == end) return false;
  if ((size_t)(end - s) == 4 && memcmp(s, "true", 4) == 0) { *out = 1; return true; }
  if ((size_t)(end - s) == 5 && memcmp(s, "false", 5) == 0) { *out = 0; return true; }
  int64_t value = 0;
  for (; s < end && *s >= '0' && *s <= '9'; s++) {
    if (value > (INT64_MAX - 9) / 10) return false;
    value = value * 10 + (*s - '0');
  }
  int shift = 0;
  if (s < end) {
    switch (*s) {
      case 'k': case 'K': shift = 10; break;
      case 'm': case 'M': shift = 20; break;
      case 'g': case 'G': shift = 30; break;
      default: return false;
    }
    if (++s != end) return false;
  }
  if (value > (INT64_MAX >> shift)) return false;
  *out = value << shift;
  return true;
}

/* Parses [s, end) as one of the '|'-separated words of `words`; its index. */
static bool parse_word(const char *words, const char *s, const char *end, int64_t *out) {
  int64_t index = 0;
  for (const char *w = words; *w; index++) {
    const char *w_end = w;
    while (*w_end && *w_end != '|') w_end++;
    if (w_end - w == end - s && memcmp(w, s, (size_t)(end - s)) == 0) {
      *out = index;
      return true;
    }
    w = *w_end ? w_end + 1 : w_end;
  }
  return false;
}

static void warn_entry(const char *prefix, const char *s, const char *end, const char *suffix) {
  char mem[400];
  hs_buf_t b = {mem, 0, sizeof mem - 1};
  hs_buf_str(&b, prefix);
  while (s < end && b.len < 120) b.data[b.len++] = *s++;
  hs_buf_str(&b, suffix);
  mem[b.len] = 0;
  hs_warn(mem);
}

int options_parse(const char *text, hs_options_t *out) {
  int bad = 0;
  const char *s = text;
  while (*s) {
    const char *end = s;
    while (*end && *end != ',') end++;
    const char *eq = s;
    while (eq < end && *eq != '=') eq++;
    if (end > s) {
      const option_spec_t *spec = NULL;
      for (size_t i = 0; i < OPTION_COUNT; i++)
        if (strlen(option_table[i].name) == (size_t)(eq - s) &&
            memcmp(option_table[i].name, s, (size_t)(eq - s)) == 0)
          spec = &option_table[i];
      int64_t value;
      if (!spec) {
        char accepted[512];
        hs_buf_t b = {accepted, 0, sizeof accepted - 1};
        hs_buf_str(&b, "' in HEAPSCOPE ignored (known options:");
        for (size_t i = 0; i < OPTION_COUNT; i++) {
          hs_buf_str(&b, " ");
          hs_buf_str(&b, option_table[i].name);
        }
        hs_buf_str(&b, ")");
        accepted[b.len] = 0;
        warn_entry("unknown option '", s, eq, accepted);
        bad++;
      } else if (spec->min == TEXT_OPTION && eq < end && end - eq <= spec->max) {
        memcpy((char *)out + spec->offset, eq + 1, (size_t)(end - eq - 1));
        ((char *)out + spec->offset)[end - eq - 1] = 0;
      } else if (spec->min == TEXT_OPTION || eq == end ||
                 !(spec->min == WORD_OPTION ? parse_word(spec->accepted, eq + 1, end, &value)
                                            : parse_value(eq + 1, end, &value)) ||
                 value < spec->min || value > spec->max) {
        char accepted[200];
        hs_buf_t b = {accepted, 0, sizeof accepted - 1};
        hs_buf_str(&b, "' in HEAPSCOPE ignored (");
        hs_buf_str(&b, spec->name);
        hs_buf_str(&b, " takes ");
        hs_buf_str(&b, spec->accepted);
        hs_buf_str(&b, ")");
        accepted[b.len] = 0;
        warn_entry("bad value '", s, end, accepted);
        bad++;
      } else {
        *(int64_t *)((char *)out + spec->offset) = value;
      }
    }
    s = *end ? end + 1 : end;
  }
  return bad;
}

void options_init(void) {
  if (!environ) return;
  for (char **env = environ; *env; env++) {
    if (strncmp(*env, "HEAPSCOPE=", 10) == 0) {
      options_parse(*env + 10, &hs_options);
      return;
    }
  }
}
