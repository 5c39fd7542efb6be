/* report.h — summaries for `heapscope run`: allocation totals and top sites
 * of a heapscope heap profile, and what was still live at exit.  A site is
 * the innermost frame outside the allocator, printed "function (file:line)".
 * Single-threaded; built on analysis.c. */
#ifndef HEAPSCOPE_CLI_REPORT_H
#define HEAPSCOPE_CLI_REPORT_H

#include <stdio.h>

/* Prints totals (objects and bytes allocated, in use at exit) and the top 10
 * sites by alloc_space and by alloc_objects.  Returns 0, or -1 after one
 * line on stderr. */
int report_run_summary(const char *profile_path, FILE *out);

/* Prints the sites still holding memory at exit (inuse_space/inuse_objects),
 * biggest first.  Returns the number of such sites (0 = no leaks), or -1
 * after one line on stderr. */
int report_leaks(const char *profile_path, FILE *out);

#endif
