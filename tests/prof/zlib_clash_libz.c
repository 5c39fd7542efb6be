/* zlib_clash_libz.c — a program linked with libz.so.1 (so zlib's entry
 * points are in the global scope) that also exports a function of its own
 * named crc32.  libz's deflate calls crc32 through its PLT, so it would
 * call this one: the profile writer must write stored blocks, not use the
 * global scope's zlib.  Built with -rdynamic and libz both ways (see the
 * Makefile); run with HEAPSCOPE=profile=F,sample_rate_bytes=1
 * (foreign_zlib_test.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline, noclone))

const char *zlibVersion(void); /* from libz.so.1; zlib.h would clash with crc32 */

/* The program's checksum of a string: not zlib's signature. */
uint32_t crc32(const char *text) {
  uint32_t sum = 0;
  for (size_t i = 0; text[i]; i++) sum = sum * 31 + (uint8_t)text[i];
  return sum;
}

static void *volatile sink;

/* Keeps 16 blocks of 100000 B alive. */
static NOINLINE void clash_libz_site(void) {
  for (int i = 0; i < 16; i++) sink = malloc(100000);
}

int main(void) {
  clash_libz_site();
  printf("crc32 %u, zlib %s\n", crc32("heapscope"), zlibVersion());
  return 0;
}
