/* report_check.c — runs cli/report.c's report_run_summary or report_leaks
 * on a profile, for tests/cli/heapscope_profiles_test.sh.
 * Usage: report_check summary|leaks FILE.  Prints the report, then for
 * leaks "live sites: N"; exits 0, or 2 when the report returned -1. */
#include <stdio.h>
#include <string.h>

#include "report.h"

int main(int argc, char **argv) {
  if (argc != 3) {
    fputs("usage: report_check summary|leaks FILE\n", stderr);
    return 2;
  }
  if (strcmp(argv[1], "summary") == 0) return report_run_summary(argv[2], stdout) == 0 ? 0 : 2;
  int live = report_leaks(argv[2], stdout);
  if (live < 0) return 2;
  printf("live sites: %d\n", live);
  return 0;
}
