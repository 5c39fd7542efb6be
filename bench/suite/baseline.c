/* baseline.c — the allocator's fixed cost: one malloc(100), then the
 * process's resident set from /proc/self/status (VmRSS, and its anonymous
 * and file-backed parts).  What the allocator maps, links and touches at
 * start-up weighs most on small programs.
 *   baseline */
#include "suite.h"

/* VmRSS, RssAnon and RssFile from one read of /proc/self/status (KiB). */
static void read_status(long *rss, long *anon, long *file) {
  *rss = *anon = *file = 0;
  FILE *f = fopen("/proc/self/status", "r");
  if (f == NULL) return;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "VmRSS:", 6) == 0) *rss = atol(line + 6);
    else if (strncmp(line, "RssAnon:", 8) == 0) *anon = atol(line + 8);
    else if (strncmp(line, "RssFile:", 8) == 0) *file = atol(line + 8);
  }
  fclose(f);
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 0, "(no arguments)");
  double start = suite_now_s();
  char *p = suite_check_alloc(malloc(100), 100);
  memset(p, 1, 100);
  suite_sink = (uint64_t)p[99];
  long rss, anon, file;
  read_status(&rss, &anon, &file);
  double elapsed = suite_now_s() - start;
  free(p);
  printf("baseline rss_kib=%ld anon_kib=%ld file_kib=%ld time_s=%.4f final_rss_kib=%ld\n", rss,
         anon, file, elapsed, suite_rss_kib());
  return 0;
}
