/* options.h — heapscope's run-time options: one table, one environment
 * variable (HEAPSCOPE="name=value,name=value"), read once at start-up
 * without allocating.  A bad entry prints one line naming it and the
 * accepted values, and the default stays.  See docs/options.md. */
#ifndef HS_OPTIONS_H
#define HS_OPTIONS_H

#include <stdint.h>

typedef struct hs_options {
  int64_t stats_at_exit; /* print malloc_stats() to stderr at exit (0/1) */
} hs_options_t;

extern hs_options_t hs_options __attribute__((visibility("hidden")));

/* Parses HEAPSCOPE from the environment into hs_options. */
void options_init(void);

/* Parses one option string (for tests); returns the number of bad entries. */
int options_parse(const char *text, hs_options_t *out);

#endif /* HS_OPTIONS_H */
