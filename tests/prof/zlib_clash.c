/* zlib_clash.c — a program with a function of its own named crc32 (as
 * programs with their own checksums have) and exported.  libz.so.1's
 * deflate calls crc32 through its PLT, so it would call this one; the
 * profile writer must then write stored blocks (its own CRC-32), not use
 * libz.so.1.  zlib_clash_libz.c builds it again linked with libz.so.1
 * (ZLIB_CLASH_WITH_LIBZ).  Built with -rdynamic both ways (see the
 * Makefile); run with HEAPSCOPE=profile=F,sample_rate_bytes=1
 * (foreign_zlib_test.sh). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline, noclone))

#ifdef ZLIB_CLASH_WITH_LIBZ
const char *zlibVersion(void); /* from libz.so.1; zlib.h would clash with crc32 */
#define ZLIB_VERSION_TEXT zlibVersion()
#else
#define ZLIB_VERSION_TEXT "not linked"
#endif

/* The program's checksum of a string: not zlib's signature. */
uint32_t crc32(const char *text) {
  uint32_t sum = 0;
  for (size_t i = 0; text[i]; i++) sum = sum * 31 + (uint8_t)text[i];
  return sum;
}

static void *volatile sink;

/* Keeps 16 blocks of 100000 B alive. */
static NOINLINE void clash_site(void) {
  for (int i = 0; i < 16; i++) sink = malloc(100000);
}

int main(void) {
  clash_site();
  printf("crc32 %u, zlib %s\n", crc32("heapscope"), ZLIB_VERSION_TEXT);
  return 0;
}
