/* gzip.h — writes a buffer to a file descriptor as one gzip member, with
 * zlib (dlopen'ed on first use, so not a load-time dependency) or, if zlib
 * is missing, as uncompressed "stored" deflate blocks that every gzip
 * reader accepts.  Used by the pprof writer; not for signal handlers. */
#ifndef HS_GZIP_H
#define HS_GZIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns 0, or -1 with errno (from write, or ENOMEM). */
int gzip_write_fd(int fd, const uint8_t *data, size_t length);

/* False makes later writes skip zlib (tests of the fallback). */
extern bool gzip_use_zlib;

/* Writes all of data, retrying on EINTR and short writes. */
int gzip_write_all(int fd, const void *data, size_t length);

#endif /* HS_GZIP_H */
