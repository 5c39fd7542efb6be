/* scavenger_workload.h — what the scavenger tests (scavenger_fork_test,
 * one_thread_test, stats_invariants_test) do to a heap and how they look
 * at the process: grow and free a heap, reach the allocator's slow paths,
 * count threads, park a second thread (the scavenger's thread starts only
 * in a process with two).  Include after testlib.h. */
#ifndef HEAPSCOPE_TESTS_SCAVENGER_WORKLOAD_H
#define HEAPSCOPE_TESTS_SCAVENGER_WORKLOAD_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB ((size_t)1 << 20)

static TESTLIB_UNUSED_ void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Allocates and frees `bytes` in 2 KiB objects plus 32 large blocks. */
static TESTLIB_UNUSED_ void churn(size_t bytes) {
  size_t n = bytes / 4096;
  void **small = calloc(n, sizeof *small);
  for (size_t i = 0; i < n; i++) {
    small[i] = malloc(2048);
    memset(small[i], 3, 2048);
  }
  void *large[32];
  for (int i = 0; i < 32; i++) {
    large[i] = malloc(bytes / 64);
    memset(large[i], 4, bytes / 64);
  }
  for (size_t i = 0; i < n; i++) free(small[i]);
  for (int i = 0; i < 32; i++) free(large[i]);
  free(small);
}

/* A little allocation work, enough to reach the slow paths (a large
 * block's free is one).  Its small sizes stay under 1 KiB, clear of
 * churn's 2 KiB class: a class in use keeps its transfer cache, and the
 * spans that cache pins, from the scavenger's idle pass. */
static TESTLIB_UNUSED_ void small_work(void) {
  void *p[64];
  for (int i = 0; i < 64; i++) p[i] = malloc(16 + (size_t)i * 8);
  for (int i = 0; i < 64; i++) free(p[i]);
  free(malloc(MIB));
}

/* Threads in this process, read with open/read only: anything that
 * allocates could start a scavenger thread before we look.  -1 if
 * /proc cannot be read. */
static TESTLIB_UNUSED_ int thread_count_without_malloc(void) {
  char text[4096];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return -1;
  text[n] = 0;
  const char *line = strstr(text, "\nThreads:");
  return line ? atoi(line + 9) : -1;
}

static int parked_pipe[2];
static pthread_t parked_thread;

static void *parked(void *arg) {
  char c;
  while (read(parked_pipe[0], &c, 1) < 0 && errno == EINTR) {
  }
  return arg;
}

/* Starts a thread that waits until unpark_thread; false if it cannot. */
static TESTLIB_UNUSED_ bool park_thread(void) {
  return pipe(parked_pipe) == 0 && pthread_create(&parked_thread, NULL, parked, NULL) == 0;
}

static TESTLIB_UNUSED_ void unpark_thread(void) {
  if (write(parked_pipe[1], "x", 1) == 1) pthread_join(parked_thread, NULL);
}

#endif
