/* rss_map.c — a preloadable library whose destructor sums the program's
 * resident pages by mapping (/proc/self/smaps at exit) and prints one line
 * per kind to the file named by RSS_MAP_OUT: "KIB NAME", NAME being a
 * file's base name, [heap], [stack], [anon] (anonymous mappings: the heap
 * of an allocator that maps its own) and so on.  For bench/rss_map.sh.
 * Uses only stdio on a static buffer before exit: it allocates nothing the
 * allocator under test would count in the figure it takes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KINDS 64

static struct { char name[96]; long kib; } kinds[KINDS];
static char line[4096];

static void add(const char *name, long kib) {
  for (int i = 0; i < KINDS; i++) {
    if (!kinds[i].name[0]) snprintf(kinds[i].name, sizeof kinds[i].name, "%s", name);
    if (strcmp(kinds[i].name, name) == 0) {
      kinds[i].kib += kib;
      return;
    }
  }
}

__attribute__((destructor(101))) static void rss_map_at_exit(void) {
  const char *out = getenv("RSS_MAP_OUT");
  if (!out) return;
  FILE *in = fopen("/proc/self/smaps", "r");
  if (!in) return;
  static char name[96];
  while (fgets(line, sizeof line, in)) {
    unsigned long start, end;
    char path[4096] = "";
    long kib;
    if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %4095s", &start, &end, path) >= 2) {
      const char *base = strrchr(path, '/');
      snprintf(name, sizeof name, "%s", path[0] ? (base ? base + 1 : path) : "[anon]");
    } else if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
      add(name, kib);
    }
  }
  fclose(in);
  FILE *o = fopen(out, "w");
  if (!o) return;
  for (int i = 0; i < KINDS && kinds[i].name[0]; i++)
    if (kinds[i].kib) fprintf(o, "%ld %s\n", kinds[i].kib, kinds[i].name);
  fclose(o);
}
