/* options.h — heapscope's run-time options: one table, one environment
 * variable (HEAPSCOPE="name=value,name=value"), read once at start-up
 * without allocating.  A bad entry prints one line naming it and the
 * accepted values, and the default stays.  See docs/options.md. */
#ifndef HS_OPTIONS_H
#define HS_OPTIONS_H

#include <stdint.h>

/* Default mean bytes between profile samples (Go's MemProfileRate). */
#define HS_DEFAULT_SAMPLE_RATE_BYTES 524288

/* Values of the option `scavenger`: where the release steps run. */
enum {
  SCAVENGER_HOST = 0,   /* only where the host calls hs_background_step */
  SCAVENGER_AUTO = 1,   /* a thread once the process has two; before, its own */
  SCAVENGER_THREAD = 2, /* a background thread, even in a one-thread program */
};

typedef struct hs_options {
  int64_t stats_at_exit;     /* print malloc_stats() to stderr at exit (0/1) */
  int64_t sample_rate_bytes; /* mean bytes between profile samples; 0 off */
  int64_t profile_signal;    /* write profile_path on this signal (0: none) */
  int64_t profile_interval_seconds; /* write profile_path this often (0: never) */
  int64_t profile_at_limit;  /* write profile_path when the heap reaches the
                                memory limit (then at most once a minute) */
  char profile_path[1024];   /* write a profile here at exit ("": don't) */
  char peak_profile_path[1024]; /* replace this profile at each new peak of
                                   the heap's pages in use ("": don't) */
  char http_address[64];     /* serve profiles and metrics here ("": don't) */
  int64_t main_pid;          /* only this process serves http and writes a
                                profile path without %p as named; the
                                others add ".PID" (0: each process that
                                loads heapscope is its own main process) */
  int64_t scavenger;             /* SCAVENGER_*: where the release steps run */
  int64_t scavenger_trace;       /* 1: one line per scavenger step on stderr */
  int64_t scavenger_delay_ms;    /* a free page is released after this idle time */
  int64_t scavenger_cpu_percent; /* the background thread's madvise CPU share */
  int64_t release_on_drain;      /* 1: a free that leaves the heap drained (in
                                    use below 1/32 of its peak), or its thread
                                    or the process (live objects below 1/32 of
                                    their peak), releases the free pages at
                                    once */
  int64_t memory_limit_bytes;    /* heap_sys - heap_released limit; 0: none */
  int64_t memory_limit_mode;     /* 0 soft (count overruns), 1 hard (ENOMEM) */
  int64_t huge_pages;            /* 1: ask for transparent huge pages on the
                                    heap's regions (MADV_HUGEPAGE) */
} hs_options_t;

extern hs_options_t hs_options __attribute__((visibility("hidden")));

/* Parses HEAPSCOPE from the environment into hs_options. */
void options_init(void);

/* Parses one option string (for tests); returns the number of bad entries. */
int options_parse(const char *text, hs_options_t *out);

#endif /* HS_OPTIONS_H */
