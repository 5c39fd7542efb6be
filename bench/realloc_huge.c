/* realloc_huge.c — one buffer grown by realloc to hundreds of MiB, the
 * way CPython grows a bytearray or a list: 512 KiB appended at a time,
 * and when it is full, realloc to 12.5% more than it needs.  Every
 * appended byte is written (memcpy), or, given a second argument 1, one
 * byte per append (the rest of the buffer is never touched).  Prints the
 * time, the peak RSS (VmHWM) and the number of reallocs that moved the
 * buffer.
 *   realloc_huge [MiB=512] [1: one byte written per append] */
#define _GNU_SOURCE
#include "suite/suite.h"

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[MiB=512] [1: one byte written per append]");
  long mib = suite_arg_long(argc, argv, 1, 512, 1L << 20);
  int write_all = suite_arg_long(argc, argv, 2, 0, 1) == 0;
  size_t total = (size_t)mib << 20, step = (size_t)512 << 10;
  char *chunk = suite_check_alloc(malloc(step), step);
  memset(chunk, 'x', step);
  double start = suite_now_s();
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
  double seconds = suite_now_s() - start;
  int check = buffer[total / 2] + buffer[used - step];
  free(buffer);
  free(chunk);
  printf("realloc_huge mib=%ld write=%d seconds=%.4f peak_mib=%.1f moves=%ld check=%d\n", mib,
         write_all, seconds, suite_peak_rss_kib() / 1024.0, moves, check);
  return 0;
}
