/* http_fetch.c — one HTTP/1.1 GET (see http_fetch.h): heapscope's own
 * endpoint sends a Content-Length, Go's net/http/pprof a chunked body for
 * all but small responses; both are read.  The whole response is read
 * into memory (Connection: close), then parsed. */
#include "http_fetch.h"

#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define HEAD_MAX_BYTES (64 << 10)
#define TIMEOUT_SECONDS 60

int http_is_url(const char *path) { return strncmp(path, "http://", 7) == 0; }

/* Splits http://HOST[:PORT][/PATH] (HOST may be [IPv6]). */
static int split_url(const char *url, char *host, size_t host_size, char *port, size_t port_size,
                     const char **path) {
  const char *at = url + 7;
  const char *end = at + strcspn(at, "/?");
  const char *host_end, *port_start = NULL;
  if (*at == '[') {
    const char *close = memchr(at, ']', (size_t)(end - at));
    if (!close) return -1;
    at++;
    host_end = close;
    if (close + 1 < end && close[1] == ':') port_start = close + 2;
    else if (close + 1 != end) return -1;
  } else {
    const char *colon = memchr(at, ':', (size_t)(end - at));
    host_end = colon ? colon : end;
    if (colon) port_start = colon + 1;
  }
  size_t host_length = (size_t)(host_end - at);
  size_t port_length = port_start ? (size_t)(end - port_start) : 2;
  if (host_length == 0 || host_length >= host_size || port_length == 0 || port_length >= port_size)
    return -1;
  memcpy(host, at, host_length);
  host[host_length] = 0;
  if (port_start) {
    memcpy(port, port_start, port_length);
    port[port_length] = 0;
  } else {
    strcpy(port, "80");
  }
  *path = *end ? end : "/";
  return 0;
}

static int connect_to(const char *host, const char *port, int timeout_seconds, char *err,
                      size_t errlen) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *found;
  int rc = getaddrinfo(host, port, &hints, &found);
  if (rc != 0) {
    snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
    return -1;
  }
  int fd = -1, error = 0;
  for (struct addrinfo *a = found; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      error = errno;
      continue;
    }
    struct timeval timeout = {timeout_seconds, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
      error = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) snprintf(err, errlen, "cannot connect to %s:%s: %s", host, port, strerror(error));
  return fd;
}

/* The value of header `name` in head (NUL-terminated), copied to out. */
static int find_header(const char *head, const char *name, char *out, size_t size) {
  size_t name_length = strlen(name);
  for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
    const char *start = line + 2;
    if (strncasecmp(start, name, name_length) != 0 || start[name_length] != ':') continue;
    start += name_length + 1;
    while (*start == ' ' || *start == '\t') start++;
    size_t length = strcspn(start, "\r\n");
    if (length >= size) length = size - 1;
    memcpy(out, start, length);
    out[length] = 0;
    return 1;
  }
  return 0;
}

/* Joins a chunked body in place; its length, or -1 if malformed or cut. */
static long dechunk(uint8_t *body, size_t length) {
  size_t in = 0, out = 0;
  for (;;) {
    char *end;
    if (in >= length) return -1;
    unsigned long chunk = strtoul((const char *)body + in, &end, 16);
    size_t line_end = in;
    while (line_end + 1 < length && !(body[line_end] == '\r' && body[line_end + 1] == '\n'))
      line_end++;
    if ((uint8_t *)end == body + in || line_end + 1 >= length) return -1;
    in = line_end + 2;
    if (chunk == 0) return (long)out;
    if (chunk > length - in || length - in - chunk < 2) return -1;
    memmove(body + out, body + in, chunk);
    out += chunk;
    in += chunk + 2; /* the chunk's CRLF */
  }
}

uint8_t *http_fetch(const char *url, size_t max_bytes, size_t *length, char *err, size_t errlen) {
  char host[256], port[16];
  const char *path;
  if (!http_is_url(url) || split_url(url, host, sizeof host, port, sizeof port, &path) != 0) {
    snprintf(err, errlen, "not a URL of the form http://HOST:PORT/PATH");
    return NULL;
  }
  int timeout = TIMEOUT_SECONDS;
  const char *seconds = strstr(path, "seconds=");
  if (seconds && (seconds[-1] == '?' || seconds[-1] == '&')) timeout += atoi(seconds + 8);
  int fd = connect_to(host, port, timeout, err, errlen);
  if (fd < 0) return NULL;
  char request[2048];
  bool v6 = strchr(host, ':') != NULL;
  int request_length = snprintf(request, sizeof request,
                                "GET %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                                "User-Agent: heapscope\r\nAccept-Encoding: identity\r\n"
                                "Connection: close\r\n\r\n",
                                *path == '?' ? "/" : "", path, v6 ? "[" : "", host, v6 ? "]" : "",
                                port);
  if (request_length < 0 || (size_t)request_length >= sizeof request ||
      send(fd, request, (size_t)request_length, MSG_NOSIGNAL) != request_length) {
    snprintf(err, errlen, "cannot send the request");
    close(fd);
    return NULL;
  }
  size_t capacity = 64 << 10, got = 0, limit = max_bytes + HEAD_MAX_BYTES;
  uint8_t *data = malloc(capacity + 1);
  for (;;) {
    if (!data) {
      snprintf(err, errlen, "out of memory");
      close(fd);
      return NULL;
    }
    if (got == capacity) {
      if (capacity >= limit) {
        snprintf(err, errlen, "response larger than %zu MiB; refusing", max_bytes >> 20);
        free(data);
        close(fd);
        return NULL;
      }
      capacity = capacity * 2 < limit ? capacity * 2 : limit;
      uint8_t *grown = realloc(data, capacity + 1);
      if (!grown) free(data);
      data = grown;
      continue;
    }
    ssize_t n = recv(fd, data + got, capacity - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      snprintf(err, errlen, "%s", errno == EAGAIN ? "timed out waiting for the response"
                                                  : strerror(errno));
      free(data);
      close(fd);
      return NULL;
    }
    if (n == 0) break;
    got += (size_t)n;
  }
  close(fd);
  data[got] = 0;
  uint8_t *head_end = memmem(data, got, "\r\n\r\n", 4);
  int status = 0;
  if (!head_end || sscanf((const char *)data, "HTTP/1.%*d %d", &status) != 1) {
    snprintf(err, errlen, "not an HTTP response");
    free(data);
    return NULL;
  }
  *head_end = 0;
  uint8_t *body = head_end + 4;
  size_t body_length = got - (size_t)(body - data);
  char value[64];
  if (find_header((const char *)data, "Transfer-Encoding", value, sizeof value) &&
      strcasecmp(value, "chunked") == 0) {
    long joined = dechunk(body, body_length);
    if (joined < 0) {
      snprintf(err, errlen, "malformed or cut chunked body");
      free(data);
      return NULL;
    }
    body_length = (size_t)joined;
  } else if (find_header((const char *)data, "Content-Length", value, sizeof value) &&
             strtoull(value, NULL, 10) != body_length) {
    snprintf(err, errlen, "body cut short: %zu of %s bytes", body_length, value);
    free(data);
    return NULL;
  }
  if (status != 200) {
    body[body_length < 200 ? body_length : 200] = 0;
    body[strcspn((const char *)body, "\r\n")] = 0;
    snprintf(err, errlen, "HTTP %d: %s", status, (const char *)body);
    free(data);
    return NULL;
  }
  if (body_length > max_bytes) {
    snprintf(err, errlen, "response larger than %zu MiB; refusing", max_bytes >> 20);
    free(data);
    return NULL;
  }
  memmove(data, body, body_length);
  *length = body_length;
  return data;
}
