/* units.h — human-readable values for the CLI: bytes in B/KiB/MiB/GiB/TiB,
 * counts as k/M/G, nanoseconds as ns/us/ms/s, percentages.  Pure functions;
 * libc only. */
#ifndef HEAPSCOPE_CLI_UNITS_H
#define HEAPSCOPE_CLI_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Formats value (in `unit`, as named in the profile) into buf: two decimals,
 * trailing ".00" dropped, "0" for zero.  With show_plus, positive values get
 * a leading '+'.  Returns buf. */
char *units_format(int64_t value, const char *unit, int show_plus, char *buf, size_t len);

/* pprof-style percentage of total, e.g. "12.50%", "  100%", "0.0012%". */
char *units_percent(int64_t value, int64_t total, int show_plus, char *buf, size_t len);

#endif
