/* httpserver.c — the loopback HTTP endpoint, in net/http/pprof's shape:
 *   GET /debug/pprof/heap[?seconds=N]    the heap profile, gzipped pprof
 *   GET /debug/pprof/allocs[?seconds=N]  the same, alloc_space by default
 *   GET /metrics                          statistics, Prometheus text format
 *   GET /debug/pprof/                     an index of the above
 * With ?seconds=N a profile holds the change over the next N seconds (a
 * snapshot, a wait, the difference), as Go's do.
 *
 * Started by the `http` option (in the process `main_pid` names, if set) or
 * hs_serve_http(); it binds loopback addresses only.  One thread accepts;
 * each connection gets a thread of its own (at most MAX_CONNECTIONS at
 * once, then 503), so a ?seconds=30 request never holds up a scrape.
 * Every thread here runs inside prof_enter: nothing it allocates is
 * sampled.  A response is built whole before its
 * first byte is sent (a profile in a memfd), so a profile that cannot be
 * written is a 500, never a cut body; every error is one line of text.
 * Sends use MSG_NOSIGNAL: a client that goes away costs no SIGPIPE.  A
 * forked child does not serve (the address is its parent's): it closes its
 * copy of the socket and may call hs_serve_http itself.
 * May call: profwrite (pprof.h), hs_stats, sampler rate, options, os, base, libc. */
#include "httpserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "heapscope.h"
#include "base.h"
#include "options.h"
#include "os.h"
#include "pprof.h"
#include "profile.h"

#define MAX_CONNECTIONS 8
#define REQUEST_MAX_BYTES 8192
#define READ_TIMEOUT_SECONDS 10
#define WRITE_TIMEOUT_SECONDS 30
#define MAX_SECONDS 3600 /* the longest ?seconds=N */

static hs_lock_t start_lock;   /* one hs_serve_http at a time */
static int listen_fd = -1;     /* guarded by start_lock */
static struct stat listen_identity; /* listen_fd's; guarded by start_lock */
static _Atomic int connections; /* threads serving a connection */

/* ---- Addresses ---- */

static bool parse_port(const char *s, uint16_t *out) {
  if (!*s) return false;
  unsigned value = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || value > 6553) return false;
    value = value * 10 + (unsigned)(*s - '0');
  }
  if (value > 65535) return false;
  *out = (uint16_t)value;
  return true;
}

/* Parses a loopback address: "PORT", ":PORT", "127.x.y.z:PORT",
 * "localhost:PORT" or "[::1]:PORT" (PORT 0..65535). */
static bool parse_address(const char *text, struct sockaddr_storage *out, socklen_t *length) {
  memset(out, 0, sizeof *out);
  uint16_t port;
  if (strncmp(text, "[::1]:", 6) == 0) {
    if (!parse_port(text + 6, &port)) return false;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
    v6->sin6_family = AF_INET6;
    v6->sin6_addr = in6addr_loopback;
    v6->sin6_port = htons(port);
    *length = sizeof *v6;
    return true;
  }
  const char *colon = strrchr(text, ':');
  char host[32] = "127.0.0.1";
  if (colon) {
    size_t host_length = (size_t)(colon - text);
    if (host_length >= sizeof host) return false;
    if (host_length > 0 && !(host_length == 9 && memcmp(text, "localhost", 9) == 0)) {
      memcpy(host, text, host_length);
      host[host_length] = 0;
    }
  }
  if (!parse_port(colon ? colon + 1 : text, &port)) return false;
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  if (inet_pton(AF_INET, host, &v4->sin_addr) != 1) return false;
  if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) return false; /* loopback only */
  v4->sin_family = AF_INET;
  v4->sin_port = htons(port);
  *length = sizeof *v4;
  return true;
}

static int port_of(const struct sockaddr_storage *address) {
  return ntohs(address->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)address)->sin6_port
                                              : ((const struct sockaddr_in *)address)->sin_port);
}

/* ---- Responses ---- */

static void send_all(int fd, const char *data, size_t length) {
  while (length > 0) {
    ssize_t sent = send(fd, data, length, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent <= 0) return; /* the client went away or stalled: drop it */
    data += sent;
    length -= (size_t)sent;
  }
}

static const char *status_text(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

/* Sends the status line and headers; the body follows (body_length bytes). */
static void send_head(int fd, int status, const char *content_type, const char *extra_headers,
                      size_t body_length) {
  char head[512];
  int length = snprintf(head, sizeof head,
                        "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n"
                        "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
                        status, status_text(status), content_type, extra_headers, body_length);
  if (length > 0 && (size_t)length < sizeof head) send_all(fd, head, (size_t)length);
}

static void respond(int fd, int status, const char *content_type, const char *body,
                    size_t length) {
  send_head(fd, status, content_type, "", length);
  send_all(fd, body, length);
}

/* An error: one line of text, also the body. */
static void respond_error(int fd, int status, const char *message) {
  char body[300];
  int length = snprintf(body, sizeof body, "%s\n", message);
  if (length < 0) length = 0;
  if ((size_t)length >= sizeof body) length = sizeof body - 1;
  send_head(fd, status, "text/plain; charset=utf-8",
            status == 405 ? "Allow: GET\r\n" : "", (size_t)length);
  send_all(fd, body, (size_t)length);
}

/* ---- Profiles ---- */

/* Waits `seconds` unless the client hangs up first (then false). */
static bool wait_unless_hung_up(int fd, int seconds) {
  int64_t deadline_ns = os_clock_ns(CLOCK_MONOTONIC) + (int64_t)seconds * 1000000000;
  for (;;) {
    int64_t left_ms = (deadline_ns - os_clock_ns(CLOCK_MONOTONIC)) / 1000000;
    if (left_ms <= 0) return true;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int ready = poll(&p, 1, (int)left_ms);
    if (ready < 0 && errno != EINTR) return false;
    if (ready <= 0) continue;
    if (p.revents & (POLLHUP | POLLERR)) return false;
    char scratch[256]; /* more bytes after the request: read and ignore */
    ssize_t got = recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return false;
  }
}

/* Sends the whole of file `from` (length bytes) as the body; stops short
 * (the client sees a body shorter than its Content-Length) if it cannot. */
static void send_file(int fd, int from, size_t length) {
  enum { CHUNK = 64 << 10 };
  char *buffer = malloc(CHUNK);
  if (!buffer) return;
  for (off_t at = 0; (size_t)at < length;) {
    ssize_t got = pread(from, buffer, CHUNK, at);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    send_all(fd, buffer, (size_t)got);
    at += got;
  }
  free(buffer);
}

static void serve_profile(int fd, const char *name, hs_prof_kind_t kind, int seconds) {
  char message[200];
  prof_snapshot_t *base = NULL;
  if (seconds > 0) {
    base = profwrite_snapshot();
    if (!base) {
      respond_error(fd, 500, "cannot snapshot the profile: out of memory");
      return;
    }
    if (!wait_unless_hung_up(fd, seconds)) {
      profwrite_snapshot_free(base);
      return;
    }
  }
  int buffer = memfd_create("heapscope-profile", MFD_CLOEXEC);
  if (buffer < 0) {
    snprintf(message, sizeof message, "cannot buffer the profile: %s", strerror(errno));
    respond_error(fd, 500, message);
  } else if (profwrite_fd_since(buffer, kind, base) != 0) {
    snprintf(message, sizeof message, "cannot write the profile: %s", strerror(errno));
    respond_error(fd, 500, message);
  } else {
    off_t length = lseek(buffer, 0, SEEK_END);
    char disposition[100];
    snprintf(disposition, sizeof disposition, "Content-Disposition: attachment; filename=\"%s%s\"\r\n",
             name, base ? "-delta" : "");
    if (length < 0) {
      respond_error(fd, 500, "cannot measure the profile");
    } else {
      send_head(fd, 200, "application/octet-stream", disposition, (size_t)length);
      send_file(fd, buffer, (size_t)length);
    }
  }
  if (buffer >= 0) close(buffer);
  profwrite_snapshot_free(base);
}

/* ---- Metrics ---- */

typedef struct metric {
  const char *name, *type, *help;
  size_t offset; /* of a uint64_t in hs_stats_t */
} metric_t;

#define STAT(field) offsetof(hs_stats_t, field)
static const metric_t metrics[] = {
    {"heapscope_heap_alloc_bytes", "gauge",
     "Bytes of live objects (small ones at their size class's size).", STAT(heap_alloc)},
    {"heapscope_heap_inuse_bytes", "gauge", "Bytes in spans that hold objects.", STAT(heap_inuse)},
    {"heapscope_heap_idle_bytes", "gauge", "Bytes in free spans, released or not.",
     STAT(heap_idle)},
    {"heapscope_heap_released_bytes", "gauge", "Bytes in free spans returned to the OS.",
     STAT(heap_released)},
    {"heapscope_heap_sys_bytes", "gauge", "Bytes of heap address space mapped.", STAT(heap_sys)},
    {"heapscope_metadata_sys_bytes", "gauge", "Bytes mapped for the allocator's own metadata.",
     STAT(metadata_sys)},
    {"heapscope_sys_bytes", "gauge", "Bytes mapped in all: heap and metadata.", STAT(sys)},
    {"heapscope_thread_cache_bytes", "gauge", "Free bytes held in thread caches.",
     STAT(thread_cache_bytes)},
    {"heapscope_central_cache_bytes", "gauge", "Free bytes held in central lists.",
     STAT(central_cache_bytes)},
    {"heapscope_live_objects", "gauge", "Objects allocated and not freed.", STAT(live_objects)},
    {"heapscope_mallocs_total", "counter", "Objects allocated.", STAT(mallocs)},
    {"heapscope_frees_total", "counter", "Objects freed.", STAT(frees)},
    {"heapscope_alloc_bytes_total", "counter", "Bytes asked for, over all allocations.",
     STAT(total_alloc)},
    {"heapscope_released_bytes_total", "counter", "Bytes returned to the OS.",
     STAT(released_total)},
    {"heapscope_scavenger_cycles_total", "counter", "Background scavenger steps that found work.",
     STAT(scavenger_cycles)},
    {"heapscope_memory_limit_bytes", "gauge",
     "The limit on heap_sys - heap_released (0: none).", STAT(memory_limit)},
    {"heapscope_memory_limit_overruns_total", "counter",
     "Allocations that grew the heap past the limit (soft; or a profile write past a hard one).", STAT(limit_overruns)},
    {"heapscope_memory_limit_refusals_total", "counter",
     "Allocations refused at the hard limit.", STAT(limit_refusals)},
    {"process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", STAT(rss)},
};
#undef STAT

static void serve_metrics(int fd) {
  hs_stats_t stats = {.struct_size = sizeof stats};
  hs_stats(&stats);
  char body[8192];
  hs_buf_t b = {body, 0, sizeof body};
  for (size_t i = 0; i < sizeof metrics / sizeof metrics[0]; i++) {
    const metric_t *m = &metrics[i];
    hs_buf_str(&b, "# HELP ");
    hs_buf_str(&b, m->name);
    hs_buf_str(&b, " ");
    hs_buf_str(&b, m->help);
    hs_buf_str(&b, "\n# TYPE ");
    hs_buf_str(&b, m->name);
    hs_buf_str(&b, " ");
    hs_buf_str(&b, m->type);
    hs_buf_str(&b, "\n");
    hs_buf_str(&b, m->name);
    hs_buf_str(&b, " ");
    hs_buf_u64(&b, *(const uint64_t *)((const char *)&stats + m->offset));
    hs_buf_str(&b, "\n");
  }
  int64_t rate = profile_sample_rate();
  hs_buf_str(&b, "# HELP heapscope_profile_sample_rate_bytes Mean bytes between profile samples "
                 "(0: off).\n# TYPE heapscope_profile_sample_rate_bytes gauge\n"
                 "heapscope_profile_sample_rate_bytes ");
  hs_buf_u64(&b, (uint64_t)(rate > 0 ? rate : 0));
  hs_buf_str(&b, "\n# HELP heapscope_build_info The heapscope library serving.\n"
                 "# TYPE heapscope_build_info gauge\nheapscope_build_info{version=\"");
  hs_buf_str(&b, hs_version());
  hs_buf_str(&b, "\"} 1\n");
  if (b.len >= b.cap) {
    respond_error(fd, 500, "metrics do not fit their buffer");
    return;
  }
  respond(fd, 200, "text/plain; version=0.0.4; charset=utf-8", body, b.len);
}

/* ---- Requests ---- */

static void serve_index(int fd) {
  char body[1500];
  int length = snprintf(
      body, sizeof body,
      "<!DOCTYPE html>\n<html><head><title>/debug/pprof/</title></head><body>\n"
      "<p>heapscope %s, pid %d, one sample every %lld bytes on average (0: off)</p>\n<ul>\n"
      "<li><a href=\"/debug/pprof/allocs\">allocs</a>: every sampled allocation since the "
      "process started (alloc_space by default); ?seconds=N for the next N seconds</li>\n"
      "<li><a href=\"/debug/pprof/heap\">heap</a>: the same samples, inuse_space by "
      "default</li>\n<li><a href=\"/metrics\">/metrics</a>: allocator statistics in "
      "Prometheus's text format</li>\n</ul>\n"
      "<p>Read a profile with <code>go tool pprof URL</code> or <code>heapscope top "
      "URL</code>.</p>\n</body></html>\n",
      hs_version(), (int)getpid(), (long long)profile_sample_rate());
  if (length < 0 || (size_t)length >= sizeof body) {
    respond_error(fd, 500, "index does not fit its buffer");
    return;
  }
  respond(fd, 200, "text/html; charset=utf-8", body, (size_t)length);
}

/* Reads the query of a profile request into *seconds; false after
 * answering a bad one.  Unknown parameters are ignored, as Go does; gc=1
 * asks Go's runtime to collect first, which has no meaning here. */
static bool read_profile_query(int fd, char *query, int *seconds) {
  *seconds = 0;
  char message[200];
  for (char *save = NULL, *pair = strtok_r(query, "&", &save); pair;
       pair = strtok_r(NULL, "&", &save)) {
    char *value = strchr(pair, '=');
    value = value ? (*value = 0, value + 1) : pair + strlen(pair);
    if (strcmp(pair, "seconds") == 0) {
      char *end;
      errno = 0;
      long n = strtol(value, &end, 10);
      if (!*value || *end || errno || n < 1 || n > MAX_SECONDS || *value == '+' ||
          *value == ' ') {
        snprintf(message, sizeof message,
                 "bad seconds=%.40s: want a whole number of seconds from 1 to %d", value,
                 MAX_SECONDS);
        respond_error(fd, 400, message);
        return false;
      }
      *seconds = (int)n;
    } else if (strcmp(pair, "debug") == 0 && strcmp(value, "0") != 0) {
      respond_error(fd, 400,
                    "debug=N text profiles are not served: fetch the profile and read it "
                    "with heapscope top or go tool pprof");
      return false;
    }
  }
  return true;
}

/* Answers the request whose head `request` holds, NUL-terminated. */
static void serve_request(int fd, char *request) {
  char *line_end = strpbrk(request, "\r\n");
  if (line_end) *line_end = 0;
  char *save = NULL;
  char *method = strtok_r(request, " ", &save);
  char *target = strtok_r(NULL, " ", &save);
  char *version = strtok_r(NULL, " ", &save);
  if (!method || !target || !version || strtok_r(NULL, " ", &save) || target[0] != '/') {
    respond_error(fd, 400, "malformed request line: want GET /PATH HTTP/1.1");
    return;
  }
  if (strncmp(version, "HTTP/1.", 7) != 0) {
    respond_error(fd, 505, "only HTTP/1.x is served");
    return;
  }
  if (strcmp(method, "GET") != 0) {
    respond_error(fd, 405, "only GET is served");
    return;
  }
  char *query = strchr(target, '?');
  if (query) *query++ = 0;
  const char *path = target;
  if (strcmp(path, "/metrics") == 0) {
    serve_metrics(fd);
  } else if (strcmp(path, "/debug/pprof/") == 0 || strcmp(path, "/debug/pprof") == 0) {
    serve_index(fd);
  } else if (strcmp(path, "/debug/pprof/heap") == 0 || strcmp(path, "/debug/pprof/allocs") == 0) {
    int seconds;
    if (!read_profile_query(fd, query ? query : (char[]){0}, &seconds)) return;
    bool heap = strcmp(path, "/debug/pprof/heap") == 0;
    serve_profile(fd, heap ? "heap" : "allocs", heap ? HS_PROF_HEAP : HS_PROF_ALLOCS, seconds);
  } else {
    char message[200];
    snprintf(message, sizeof message,
             "no such path %.80s: try /debug/pprof/heap, /debug/pprof/allocs or /metrics", path);
    respond_error(fd, 404, message);
  }
}

/* Reads the request head (up to the blank line) into request, within
 * READ_TIMEOUT_SECONDS of the first byte's wait in all (a client that
 * trickles its head a byte at a time is not waited for longer: eight of
 * them would hold every handler); its status if it cannot (0: read, 408:
 * too slow, -1: the client went away or said nothing). */
static int read_request(int fd, char *request, size_t capacity) {
  int64_t deadline_ns = os_clock_ns(CLOCK_MONOTONIC) + (int64_t)READ_TIMEOUT_SECONDS * 1000000000;
  size_t length = 0;
  for (;;) {
    if (length + 1 >= capacity) return 431;
    int64_t left_ms = (deadline_ns - os_clock_ns(CLOCK_MONOTONIC)) / 1000000;
    if (left_ms <= 0) return length ? 408 : -1;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int ready = poll(&p, 1, (int)left_ms);
    if (ready < 0 && errno != EINTR) return -1;
    if (ready <= 0) continue;
    ssize_t got = recv(fd, request + length, capacity - 1 - length, MSG_DONTWAIT);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return length ? 400 : -1;
    length += (size_t)got;
    request[length] = 0;
    if (strstr(request, "\r\n\r\n") || strstr(request, "\n\n")) return 0;
    if (memchr(request, 0, length)) return 400;
  }
}

static void set_timeouts(int fd, int read_ms, int write_ms) {
  struct timeval read_timeout = {read_ms / 1000, read_ms % 1000 * 1000};
  struct timeval write_timeout = {write_ms / 1000, write_ms % 1000 * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &read_timeout, sizeof read_timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &write_timeout, sizeof write_timeout);
}

/* Closes after the response: first reads what the client still sends (the
 * rest of a head too large, a body), for up to read_ms, since closing with
 * unread bytes resets the connection and the client may lose the response. */
static void close_after_response(int fd, int read_ms) {
  shutdown(fd, SHUT_WR);
  set_timeouts(fd, read_ms, read_ms);
  char scratch[4096];
  for (int drained = 0; drained < (64 << 10);) {
    ssize_t got = recv(fd, scratch, sizeof scratch, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    drained += (int)got;
  }
  close(fd);
}

static void *serve_connection(void *arg) {
  prof_enter(); /* never sampled, never in a profile */
  pthread_setname_np(pthread_self(), "heapscope-http");
  int fd = (int)(intptr_t)arg;
  set_timeouts(fd, READ_TIMEOUT_SECONDS * 1000, WRITE_TIMEOUT_SECONDS * 1000);
  char request[REQUEST_MAX_BYTES];
  int status = read_request(fd, request, sizeof request);
  if (status == 0)
    serve_request(fd, request);
  else if (status == 431)
    respond_error(fd, 431, "request head too large");
  else if (status == 400)
    respond_error(fd, 400, "malformed request head");
  else if (status == 408)
    respond_error(fd, 408, "request head not received within 10 s");
  if (status >= 0) close_after_response(fd, 1000);
  else close(fd);
  atomic_fetch_sub(&connections, 1);
  prof_exit();
  return NULL;
}

/* Whether fd is still the socket `identity` describes.  A program may
 * close every descriptor it did not open (daemons do) and get the number
 * again for a socket of its own, whose connections are not ours to take. */
static bool still_the_socket(int fd, const struct stat *identity) {
  struct stat now;
  return fd >= 0 && fstat(fd, &now) == 0 && now.st_dev == identity->st_dev &&
         now.st_ino == identity->st_ino;
}

typedef struct listener {
  int fd;
  struct stat identity;
} listener_t;

static void *accept_connections(void *arg) {
  prof_enter(); /* the connection threads' stacks and TLS are the profiler's */
  os_background_thread_begin();
  pthread_setname_np(pthread_self(), "heapscope-http");
  listener_t listener = *(listener_t *)arg;
  free(arg);
  int server = listener.fd;
  while (still_the_socket(server, &listener.identity)) {
    if (os_program_has_ended()) {
      prof_exit(); /* the program's exit handlers run here */
      exit(0);
    }
    struct pollfd ready = {.fd = server, .events = POLLIN};
    if (poll(&ready, 1, (int)(OS_PROGRAM_END_CHECK_NS / 1000000)) == 0) continue;
    int fd = os_fd_above_std(accept4(server, NULL, NULL, SOCK_CLOEXEC));
    if (fd < 0) {
      if (errno == EBADF || errno == EINVAL || errno == ENOTSOCK) break; /* closed */
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        struct timespec pause = {0, 100 * 1000 * 1000};
        nanosleep(&pause, NULL);
      }
      continue;
    }
    if (atomic_fetch_add(&connections, 1) >= MAX_CONNECTIONS ||
        os_start_thread(serve_connection, (void *)(intptr_t)fd) != 0) {
      atomic_fetch_sub(&connections, 1);
      set_timeouts(fd, 200, 200); /* this thread accepts: it must not wait long */
      respond_error(fd, 503, "too many requests in flight; try again");
      close_after_response(fd, 200);
    }
  }
  os_background_thread_end();
  prof_exit();
  return NULL;
}

/* ---- Starting ---- */

/* A listening socket on `where`, and its identity; -1 with errno. */
static int open_listener(const struct sockaddr_storage *where, socklen_t where_length,
                         listener_t *out) {
  int fd = os_fd_above_std(socket(where->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int on = 1;
  if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == 0 &&
      bind(fd, (const struct sockaddr *)where, where_length) == 0 && listen(fd, 64) == 0 &&
      fstat(fd, &out->identity) == 0) {
    out->fd = fd;
    return fd;
  }
  int error = errno;
  if (fd >= 0) close(fd);
  errno = error;
  return -1;
}

HS_EXPORT int hs_serve_http(const char *address) {
  struct sockaddr_storage where, bound;
  socklen_t where_length, bound_length = sizeof bound;
  if (!address || !parse_address(address, &where, &where_length)) {
    errno = EINVAL;
    return -1;
  }
  prof_enter();
  hs_lock(&start_lock);
  int port = -1, error = EBUSY;
  /* Serving already, unless the program closed the socket. */
  if (!still_the_socket(listen_fd, &listen_identity)) {
    error = 0;
    listener_t *listener = malloc(sizeof *listener); /* the accept thread frees it */
    if (!listener) {
      error = ENOMEM;
    } else if (open_listener(&where, where_length, listener) < 0) {
      error = errno;
      free(listener);
    } else {
      listener_t opened = *listener; /* the thread may free listener at once */
      if (getsockname(opened.fd, (struct sockaddr *)&bound, &bound_length) != 0 ||
          (error = os_start_thread(accept_connections, listener)) != 0) {
        if (!error) error = errno;
        close(opened.fd);
        free(listener);
      } else {
        listen_fd = opened.fd;
        listen_identity = opened.identity;
        port = port_of(&bound);
      }
    }
  }
  hs_unlock(&start_lock);
  prof_exit();
  if (port < 0) errno = error;
  return port;
}

void httpserver_start(void) {
  const char *address = hs_options.http_address;
  if (!address[0]) return;
  /* The other processes a wrapper script runs inherit the option too. */
  if (hs_options.main_pid != 0 && hs_options.main_pid != getpid()) return;
  char message[200];
  int port = hs_serve_http(address);
  if (port < 0) {
    snprintf(message, sizeof message, "http=%s: %s; not serving", address,
             errno == EINVAL ? "not a loopback address with a port 0-65535 (PORT, "
                               "127.0.0.1:PORT, localhost:PORT or [::1]:PORT)"
                             : strerror(errno));
    hs_warn(message);
    return;
  }
  /* Port 0 asked for any free port: say which. */
  struct sockaddr_storage where;
  socklen_t where_length;
  char host[INET6_ADDRSTRLEN] = "?";
  parse_address(address, &where, &where_length);
  bool v6 = where.ss_family == AF_INET6;
  inet_ntop(where.ss_family,
            v6 ? (void *)&((struct sockaddr_in6 *)&where)->sin6_addr
               : (void *)&((struct sockaddr_in *)&where)->sin_addr,
            host, sizeof host);
  if (port_of(&where) == 0) {
    snprintf(message, sizeof message, "serving http://%s%s%s:%d/debug/pprof/ (pid %d)",
             v6 ? "[" : "", host, v6 ? "]" : "", port, (int)getpid());
    hs_warn(message);
  }
}

/* A forked child serves nothing: its copy of the socket is closed (the
 * accept thread is its parent's) and it may start a server of its own. */
static void httpserver_fork_child(void) {
  hs_lock_reset(&start_lock);
  if (still_the_socket(listen_fd, &listen_identity)) close(listen_fd);
  listen_fd = -1;
  atomic_store(&connections, 0);
}

__attribute__((constructor)) static void httpserver_init(void) {
  pthread_atfork(NULL, NULL, httpserver_fork_child);
}
