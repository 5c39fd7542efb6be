/* through_zlib.h — allocations whose stacks pass through a library loaded
 * after start-up (zlib, dlopen'ed: deflateInit_ calls back into this
 * program's allocation function).  heapscope's unwinder asks the loader
 * for its unload count at such a frame (src/unwind.c), where a stack of
 * the program's and libc's frames asks nothing: the stress tests that
 * need a sample's loader call allocate so.  Needs zlib (zlib1g). */
#ifndef HS_TEST_THROUGH_ZLIB_H
#define HS_TEST_THROUGH_ZLIB_H

#include <dlfcn.h>
#include <stdbool.h>
#include <stdlib.h>
#include <zlib.h>

static int (*through_zlib_init)(z_streamp, int, const char *, int);
static int (*through_zlib_end)(z_streamp);

static void *through_zlib_alloc(void *opaque, unsigned items, unsigned size) {
  return calloc(items, size);
}
static void through_zlib_free(void *opaque, void *p) { free(p); }

/* Opens zlib; false if it cannot. */
static bool through_zlib_open(void) {
  void *zlib = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!zlib) return false;
  through_zlib_init = (int (*)(z_streamp, int, const char *, int))dlsym(zlib, "deflateInit_");
  through_zlib_end = (int (*)(z_streamp))dlsym(zlib, "deflateEnd");
  return through_zlib_init && through_zlib_end;
}

/* Starts and ends a deflate stream: a few allocations (its state, window
 * and buffers) from inside zlib, freed again. */
static void allocate_through_zlib(void) {
  z_stream stream = {.zalloc = through_zlib_alloc, .zfree = through_zlib_free};
  if (through_zlib_init(&stream, 6, ZLIB_VERSION, (int)sizeof stream) == Z_OK)
    through_zlib_end(&stream);
}

#endif /* HS_TEST_THROUGH_ZLIB_H */
