/* gzip.c — one gzip member to a file descriptor (RFC 1952): deflate through
 * zlib, found once on first use so libheapscope.so keeps no load-time
 * dependency on it, or stored blocks (RFC 1951 §3.2.4) with our own CRC-32
 * when no zlib can be used safely (zlib_load says when).  No lock (zlib
 * state is per call).
 * May call: libc (dlopen, dlsym, write, malloc). */
#include "gzip.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

bool gzip_use_zlib = true;

static struct {
  __typeof__(deflateInit2_) *deflate_init;
  __typeof__(deflate) *deflate;
  __typeof__(deflateEnd) *deflate_end;
  __typeof__(zlibVersion) *version;
} zlib;
static bool zlib_loaded;
static pthread_once_t zlib_once = PTHREAD_ONCE_INIT;

static bool zlib_resolve(void *handle) {
  *(void **)&zlib.deflate_init = dlsym(handle, "deflateInit2_");
  *(void **)&zlib.deflate = dlsym(handle, "deflate");
  *(void **)&zlib.deflate_end = dlsym(handle, "deflateEnd");
  *(void **)&zlib.version = dlsym(handle, "zlibVersion");
  return zlib.deflate_init && zlib.deflate && zlib.deflate_end && zlib.version;
}

/* The functions libz.so.1 calls through its PLT on the deflate path
 * (readelf -r): a definition of any of them in the global scope wins over
 * libz's own. */
static const char *const zlib_plt_calls[] = {"deflateReset", "deflateResetKeep", "crc32",
                                             "crc32_z",      "adler32",          "adler32_z"};

/* True if no function in zlib_plt_calls is defined in the global scope
 * outside the object holding `entry` (with entry NULL: at all). */
static bool zlib_calls_stay_inside(const void *entry) {
  Dl_info home;
  if (entry && !dladdr(entry, &home)) return false;
  for (size_t i = 0; i < sizeof zlib_plt_calls / sizeof *zlib_plt_calls; i++) {
    void *function = dlsym(RTLD_DEFAULT, zlib_plt_calls[i]);
    Dl_info where;
    if (function && (!entry || !dladdr(function, &where) || where.dli_fbase != home.dli_fbase))
      return false;
  }
  return true;
}

/* A program may carry a zlib of its own and export it (node does, with a
 * state layout of its own).  libz.so.1's calls to its own functions then
 * bind to the program's, and libz's deflateInit2_ would run the program's
 * deflateReset on libz's state.  So: where the global scope has
 * deflateInit2_, use the global scope's zlib throughout (its functions call
 * one another, and deflateInit2_ checks the version and the stream's
 * size); otherwise load libz.so.1 privately.  Either way, if a function
 * that zlib calls internally is defined by another object (a crc32 of the
 * program's own), use no zlib. */
static void zlib_load(void) {
  if (zlib_resolve(RTLD_DEFAULT)) {
    zlib_loaded = zlib_calls_stay_inside((const void *)zlib.deflate_init);
    return;
  }
  if (!zlib_calls_stay_inside(NULL)) return;
  void *handle = dlopen("libz.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle) return;
  zlib_loaded = zlib_resolve(handle);
}

int gzip_write_all(int fd, const void *data, size_t length) {
  const char *p = data;
  while (length > 0) {
    ssize_t wrote = write(fd, p, length);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) {
      if (wrote == 0) errno = EIO;
      return -1;
    }
    p += wrote;
    length -= (size_t)wrote;
  }
  return 0;
}

/* 0, -1 with errno, or 1 when zlib refused to start (nothing written). */
static int write_with_zlib(int fd, const uint8_t *data, size_t length) {
  z_stream stream;
  memset(&stream, 0, sizeof stream);
  /* windowBits 15 + 16: a gzip header and trailer around the deflate data.
   * A zlib of another version or stream layout refuses here. */
  if (zlib.deflate_init(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                        Z_DEFAULT_STRATEGY, zlib.version(), (int)sizeof stream) != Z_OK)
    return 1;
  enum { CHUNK_BYTES = 64 * 1024 };
  uint8_t *out = malloc(CHUNK_BYTES);
  int result = out ? 0 : -1;
  if (!out) errno = ENOMEM;
  stream.next_in = (Bytef *)data;
  while (result == 0) {
    /* avail_in is 32 bits: feed at most 1 GiB at a time. */
    if (stream.avail_in == 0 && length > 0) {
      size_t take = length < (1u << 30) ? length : (1u << 30);
      stream.avail_in = (uInt)take;
      length -= take;
    }
    stream.next_out = out;
    stream.avail_out = CHUNK_BYTES;
    int status = zlib.deflate(&stream, length == 0 ? Z_FINISH : Z_NO_FLUSH);
    if (status == Z_STREAM_ERROR) {
      errno = EIO;
      result = -1;
      break;
    }
    if (gzip_write_all(fd, out, CHUNK_BYTES - stream.avail_out) != 0) result = -1;
    if (status == Z_STREAM_END) break;
  }
  zlib.deflate_end(&stream);
  free(out);
  return result;
}

/* CRC-32 (the gzip polynomial, reflected 0xEDB88320), a nibble at a time. */
static uint32_t crc32_update(uint32_t crc, const uint8_t *data, size_t length) {
  static const uint32_t table[16] = {
      0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
      0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
      0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c};
  crc = ~crc;
  for (size_t i = 0; i < length; i++) {
    crc ^= data[i];
    crc = (crc >> 4) ^ table[crc & 15];
    crc = (crc >> 4) ^ table[crc & 15];
  }
  return ~crc;
}

static int write_stored(int fd, const uint8_t *data, size_t length) {
  static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
  if (gzip_write_all(fd, header, sizeof header) != 0) return -1;
  size_t at = 0;
  do {
    size_t take = length - at < 65535 ? length - at : 65535;
    bool last = at + take == length;
    uint8_t block[5] = {last, (uint8_t)take, (uint8_t)(take >> 8), (uint8_t)~take,
                        (uint8_t)(~take >> 8)};
    if (gzip_write_all(fd, block, sizeof block) != 0 ||
        gzip_write_all(fd, data + at, take) != 0)
      return -1;
    at += take;
  } while (at < length);
  uint32_t crc = crc32_update(0, data, length), size = (uint32_t)length;
  uint8_t trailer[8] = {(uint8_t)crc,  (uint8_t)(crc >> 8),  (uint8_t)(crc >> 16),
                        (uint8_t)(crc >> 24), (uint8_t)size, (uint8_t)(size >> 8),
                        (uint8_t)(size >> 16), (uint8_t)(size >> 24)};
  return gzip_write_all(fd, trailer, sizeof trailer);
}

int gzip_write_fd(int fd, const uint8_t *data, size_t length) {
  if (gzip_use_zlib) {
    pthread_once(&zlib_once, zlib_load);
    if (zlib_loaded) {
      int result = write_with_zlib(fd, data, length);
      if (result <= 0) return result;
    }
  }
  return write_stored(fd, data, length);
}
