/* realloc_huge.c — one buffer grown by realloc to hundreds of MiB, the
 * way CPython grows a bytearray or a list: 512 KiB appended at a time,
 * and when it is full, realloc to 12.5% more than it needs.  With a
 * second argument 1 every appended byte is written (memcpy); with 0 one
 * byte per append (the rest of the buffer is never touched).  Prints the
 * time, the peak RSS (VmHWM) and the number of reallocs that moved the
 * buffer.
 *   realloc_huge [MiB=512] [write=1] */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long status_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long value = 0;
  size_t n = strlen(key);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, key, n) == 0) value = strtol(line + n, NULL, 10);
  if (f) fclose(f);
  return value;
}

int main(int argc, char **argv) {
  long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 512;
  int write_all = argc > 2 ? atoi(argv[2]) : 1;
  if (mib <= 0 || mib > (1L << 20)) {
    fprintf(stderr, "usage: realloc_huge [MiB=512] [write=1]\n");
    return 2;
  }
  size_t total = (size_t)mib << 20, step = (size_t)512 << 10;
  char *chunk = malloc(step);
  if (!chunk) return 1;
  memset(chunk, 'x', step);
  double start = now_s();
  char *buffer = NULL;
  size_t used = 0, capacity = 0;
  long moves = 0;
  while (used < total) {
    if (used + step > capacity) {
      capacity = used + step + ((used + step) >> 3);
      char *grown = realloc(buffer, capacity);
      if (!grown) {
        fprintf(stderr, "realloc_huge: realloc(%zu) failed\n", capacity);
        return 1;
      }
      moves += grown != buffer;
      buffer = grown;
    }
    if (write_all) memcpy(buffer + used, chunk, step);
    else buffer[used] = 'x';
    used += step;
  }
  double seconds = now_s() - start;
  int check = buffer[total / 2] + buffer[used - step];
  free(buffer);
  free(chunk);
  printf("realloc_huge mib=%ld write=%d seconds=%.4f peak_mib=%.1f moves=%ld check=%d\n", mib,
         write_all, seconds, status_kib("VmHWM:") / 1024.0, moves, check);
  return 0;
}
