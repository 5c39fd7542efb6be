/* http_fetch.h — one HTTP GET, for profile arguments that are URLs
 * (`heapscope top http://127.0.0.1:6060/debug/pprof/heap`), as go tool
 * pprof takes them.  Plain HTTP/1.1 only; calls libc. */
#ifndef HEAPSCOPE_CLI_HTTP_FETCH_H
#define HEAPSCOPE_CLI_HTTP_FETCH_H

#include <stddef.h>
#include <stdint.h>

/* Whether `path` names a URL to fetch rather than a file. */
int http_is_url(const char *path);

/* Fetches `url` (http://HOST[:PORT][/PATH]) and returns the body of a 200
 * response (malloc'ed, *length bytes, at most max_bytes), or NULL with a
 * one-line reason in err: a bad URL, a connection error, another status
 * (with the first line of its body), a cut body.  Waits up to 60 s for the
 * response, plus N for a URL with seconds=N. */
uint8_t *http_fetch(const char *url, size_t max_bytes, size_t *length, char *err, size_t errlen);

#endif /* HEAPSCOPE_CLI_HTTP_FETCH_H */
