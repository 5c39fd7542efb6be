/* calloc_sites.c — a C program that allocates at known sites, profiled by
 * tests/cli/heapscope_profiles_test.sh with `heapscope run -o`.
 * Usage: calloc_sites HOT_SCALE.  hot_site: HOT_SCALE x 1000 x 4096 B
 * (freed); warm_site: 800 x 1000 B (freed); leak_site: 400 x 512 B (kept). */
#include <stdio.h>
#include <stdlib.h>

static void *volatile sink;
static void *kept[400];

__attribute__((noinline)) static void hot_site(int n) {
  for (int i = 0; i < n; i++) {
    sink = malloc(4096);
    free(sink);
  }
}

__attribute__((noinline)) static void warm_site(int n) {
  for (int i = 0; i < n; i++) {
    sink = malloc(1000);
    free(sink);
  }
}

__attribute__((noinline)) static void leak_site(int n) {
  for (int i = 0; i < n; i++) kept[i] = malloc(512);
}

__attribute__((noinline)) static void middle(void) {
  warm_site(800);
  leak_site(400);
}

int main(int argc, char **argv) {
  int scale = argc > 1 ? atoi(argv[1]) : 1;
  hot_site(scale * 1000);
  middle();
  printf("kept %p\n", (void *)kept[0]);
  return 0;
}
