/* alloc_sites.c — a program with known allocation sites, for the tests of
 * the ways a profile gets written (profile_write_test.sh).  Run with
 * HEAPSCOPE=profile=...,sample_rate_bytes=1 (preloaded or linked):
 *   alloc_sites exit          allocate, keep some, exit normally
 *   alloc_sites fork          also fork a child that allocates and exits
 *   alloc_sites signal N F    raise signal N, wait until file F exists
 *   alloc_sites forksignal N F  the same in a forked child, for F.CHILDPID
 *   alloc_sites write F       hs_prof_write(F, allocs) on demand
 *   alloc_sites wait F        wait until file F exists (profile_interval_seconds)
 *   alloc_sites limit F       allocate 40 MiB from limit_site, wait until file
 *                            F exists (profile_at_limit), free them
 *   alloc_sites peak F        allocate 8 MiB from limit_site, wait until file
 *                            F exists and 1 s more, 32 MiB more from
 *                            limit_site, wait 2 s (peak_profile), free them,
 *                            keep 4 MiB from after_peak_site, and exit
 * Built -O1 -g -fomit-frame-pointer (see the Makefile). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"

#define NOINLINE __attribute__((noinline, noclone))

static void *volatile sink;

/* Keeps 16 blocks of 100000 B alive. */
static NOINLINE void **kept_site(void) {
  void **blocks = calloc(16, sizeof *blocks);
  for (int i = 0; i < 16; i++) blocks[i] = malloc(100000);
  return blocks;
}

/* 1000 allocations of 256 B, all freed. */
static NOINLINE void churn_site(void) {
  for (int i = 0; i < 1000; i++) {
    sink = malloc(256);
    free(sink);
  }
}

/* `count` blocks of 1 MiB, kept. */
static NOINLINE void limit_site(void **blocks, int count) {
  for (int i = 0; i < count; i++) blocks[i] = malloc(1 << 20);
}

/* 4 blocks of 1 MiB, kept. */
static NOINLINE void after_peak_site(void **blocks) {
  for (int i = 0; i < 4; i++) blocks[i] = malloc(1 << 20);
}

static NOINLINE void child_site(void) {
  for (int i = 0; i < 8; i++) sink = malloc(50000);
}

/* Waits until path exists; false after 60 s. */
static bool wait_for(const char *path) {
  for (int i = 0; i < 6000 && access(path, F_OK) != 0; i++) {
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  if (access(path, F_OK) == 0) return true;
  fprintf(stderr, "no profile at %s after 60 s\n", path);
  return false;
}

/* Raises signal_number and waits until path exists; false after 60 s. */
static bool signal_and_wait(int signal_number, const char *path) {
  raise(signal_number);
  return wait_for(path);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: alloc_sites exit|fork|signal N FILE|forksignal N FILE|write FILE|wait FILE|"
            "limit FILE|peak FILE\n");
    return 2;
  }
  void **kept = kept_site();
  churn_site();
  if (strcmp(argv[1], "fork") == 0) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      child_site();
      exit(0); /* runs the exit handlers: the child writes its own file */
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child %d\n", (int)pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  } else if (strcmp(argv[1], "signal") == 0 && argc == 4) {
    if (!signal_and_wait(atoi(argv[2]), argv[3])) return 1;
  } else if (strcmp(argv[1], "forksignal") == 0 && argc == 4) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
      child_site();
      char path[4096];
      snprintf(path, sizeof path, "%s.%d", argv[3], (int)getpid());
      _exit(signal_and_wait(atoi(argv[2]), path) ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    printf("child %d\n", (int)pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  } else if (strcmp(argv[1], "wait") == 0 && argc == 3) {
    if (!wait_for(argv[2])) return 1;
  } else if (strcmp(argv[1], "peak") == 0 && argc == 3) {
    void *blocks[40];
    limit_site(blocks, 8);
    bool written = wait_for(argv[2]);
    struct timespec second = {1, 0}, hold = {2, 0};
    nanosleep(&second, NULL); /* a peak profile of 8 MiB is written by now */
    limit_site(blocks + 8, 32);
    nanosleep(&hold, NULL); /* and one of 40 MiB */
    for (int i = 0; i < 40; i++) free(blocks[i]);
    static void *after[4];
    after_peak_site(after);
    sink = after;
    if (!written) return 1;
  } else if (strcmp(argv[1], "limit") == 0 && argc == 3) {
    void *blocks[40];
    limit_site(blocks, 40);
    bool written = wait_for(argv[2]);
    for (int i = 0; i < 40; i++) free(blocks[i]);
    if (!written) return 1;
  } else if (strcmp(argv[1], "write") == 0 && argc == 3) {
    int (*write_profile)(const char *, hs_prof_kind_t) = hs_fn("hs_prof_write");
    if (!write_profile || write_profile(argv[2], HS_PROF_ALLOCS) != 0) {
      perror("hs_prof_write");
      return 1;
    }
  } else if (strcmp(argv[1], "exit") != 0) {
    fprintf(stderr, "alloc_sites: unknown mode %s\n", argv[1]);
    return 2;
  }
  sink = kept;
  printf("pid %d\n", (int)getpid());
  return 0;
}
