/* zlib_carrier.c — a program that carries a zlib of its own and exports it
 * (as node does), with a state layout libz.so.1 does not share: its
 * deflateInit2_ refuses (as a zlib of another version does) and its other
 * functions must never be called.  The profile writer must use this zlib
 * or none, never libz.so.1, whose deflateInit2_ would call this
 * deflateReset.  Built with -rdynamic both ways (see the Makefile); run
 * with HEAPSCOPE=profile=F,sample_rate_bytes=1 (foreign_zlib_test.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define NOINLINE __attribute__((noinline, noclone))

static void foreign_call(const char *name) {
  fprintf(stderr, "zlib_carrier: libz.so.1 called the program's %s\n", name);
  abort();
}

int deflateInit2_(z_streamp stream, int level, int method, int window_bits, int mem_level,
                  int strategy, const char *version, int stream_size) {
  (void)stream, (void)level, (void)method, (void)window_bits, (void)mem_level;
  (void)strategy, (void)version, (void)stream_size;
  fprintf(stderr, "zlib_carrier: deflateInit2_ refused\n");
  return Z_VERSION_ERROR;
}
int deflate(z_streamp stream, int flush) {
  (void)stream, (void)flush;
  foreign_call("deflate");
  return Z_STREAM_ERROR;
}
int deflateEnd(z_streamp stream) {
  (void)stream;
  foreign_call("deflateEnd");
  return Z_STREAM_ERROR;
}
int deflateReset(z_streamp stream) {
  (void)stream;
  foreign_call("deflateReset");
  return Z_STREAM_ERROR;
}
const char *zlibVersion(void) { return "9.9.9-carrier"; }

static void *volatile sink;

/* Keeps 16 blocks of 100000 B alive. */
static NOINLINE void carrier_site(void) {
  for (int i = 0; i < 16; i++) sink = malloc(100000);
}

int main(void) {
  carrier_site();
  return 0;
}
