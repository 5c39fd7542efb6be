/* idle_threads.c — what a thread keeps after it used every size once and
 * went idle: THREADS threads each allocate, fill and free one object of
 * every size from 16 bytes to 256 KiB (each 1/8 + 8 bytes more than the
 * last), then wait; the program prints RSS before the threads, while they
 * wait, and after they exited (KiB, from /proc/self/statm, read with
 * open/read only).  A pool of threads that each handled a request of every
 * size and now waits for work is this shape.
 *   idle_threads [threads=200] */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rss_workload.h"

static pthread_barrier_t done, go;

static long rss_kib(void) { return (long)(rss_workload_rss_bytes() >> 10); }

static void *worker(void *arg) {
  (void)arg;
  for (size_t size = 16; size <= ((size_t)256 << 10); size += size / 8 + 8) {
    unsigned char *p = malloc(size);
    if (!p) abort();
    memset(p, 1, size);
    __asm__ volatile("" : : "r"(p) : "memory"); /* the compiler may not drop the pair */
    free(p);
  }
  pthread_barrier_wait(&done);
  pthread_barrier_wait(&go);
  return NULL;
}

int main(int argc, char **argv) {
  long threads = 200;
  if (argc > 1) {
    char *end = NULL;
    errno = 0;
    threads = strtol(argv[1], &end, 10);
    if (errno != 0 || end == argv[1] || *end != '\0') threads = 0;
  }
  if (argc > 2 || threads < 1 || threads > 4096) {
    fprintf(stderr, "usage: idle_threads [threads=200] (1..4096)\n");
    return 2;
  }
  pthread_t *ids = calloc((size_t)threads, sizeof *ids);
  if (!ids) return 1;
  pthread_barrier_init(&done, NULL, (unsigned)threads + 1);
  pthread_barrier_init(&go, NULL, (unsigned)threads + 1);
  long before = rss_kib();
  for (long i = 0; i < threads; i++)
    if (pthread_create(&ids[i], NULL, worker, NULL) != 0) return 1;
  pthread_barrier_wait(&done);
  long idle = rss_kib();
  pthread_barrier_wait(&go);
  for (long i = 0; i < threads; i++) pthread_join(ids[i], NULL);
  printf("threads=%ld rss_before_kib=%ld rss_idle_kib=%ld per_thread_kib=%ld rss_after_exit_kib=%ld\n",
         threads, before, idle, (idle - before) / threads, rss_kib());
  free(ids);
  return 0;
}
