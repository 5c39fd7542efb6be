/* sites.c — a program with known allocation sites for tests/run/run_test.sh,
 * built there with -O1 -g -fomit-frame-pointer.  It reaches heapscope's
 * label API through dlsym so it runs under plain LD_PRELOAD too.
 *   make_small  300,000 × 48 B, freed        make_big   8 × 4 MiB, freed
 *   make_leak   64 × 100 KiB, never freed    labelled   tenant=alpha / tenant=beta
 * Argument "clean" skips the leak. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile unsigned long sink;
static int (*label_push)(const char *, const char *);
static void (*label_pop)(void);

__attribute__((noinline)) void make_small(void) {
  for (int i = 0; i < 300000; i++) {
    char *p = malloc(48);
    p[0] = (char)i;
    sink += (unsigned long)p[0];
    free(p);
  }
}

__attribute__((noinline)) void make_big(void) {
  for (int i = 0; i < 8; i++) {
    char *p = malloc(4 << 20);
    memset(p, 1, 4096);
    sink += (unsigned long)p[100];
    free(p);
  }
}

void *volatile leaked[64]; /* volatile and global: the compiler may not drop the leak */
__attribute__((noinline)) void make_leak(void) {
  for (int i = 0; i < 64; i++) leaked[i] = malloc(100 * 1024);
}

void *volatile beta_blocks[256];
__attribute__((noinline)) void labelled_alpha(void) {
  for (int i = 0; i < 256; i++) {
    char *p = malloc(64 * 1024);
    p[i] = 1;
    sink += (unsigned long)p[i];
    free(p);
  }
}
__attribute__((noinline)) void labelled_beta(void) {
  for (int i = 0; i < 256; i++) beta_blocks[i] = malloc(32 * 1024);
}

static void *free_beta(void *arg) {
  for (int i = 0; i < 256; i++) free(beta_blocks[i]);
  return NULL;
}

int main(int argc, char **argv) {
  label_push = (int (*)(const char *, const char *))dlsym(RTLD_DEFAULT, "hs_label_push");
  label_pop = (void (*)(void))dlsym(RTLD_DEFAULT, "hs_label_pop");
  make_small();
  make_big();
  if (argc < 2 || strcmp(argv[1], "clean") != 0) make_leak();
  if (label_push) label_push("tenant", "alpha");
  labelled_alpha();
  if (label_pop) label_pop();
  if (label_push) label_push("tenant", "beta");
  labelled_beta();
  if (label_pop) label_pop();
  pthread_t thread; /* beta's blocks are freed on another thread */
  pthread_create(&thread, NULL, free_beta, NULL);
  pthread_join(thread, NULL);
  printf("sites done\n");
  return 0;
}
