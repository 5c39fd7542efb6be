/* httpserver.h — the loopback HTTP endpoint (hs_serve_http, the `http`
 * option): profiles in net/http/pprof's shape and Prometheus metrics.
 * See docs/profiles.md ("Serving over HTTP"). */
#ifndef HS_HTTPSERVER_H
#define HS_HTTPSERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Called by malloc.c once at start-up, after profwrite_start: serves on
 * the `http` option's address if it is set (a bad address or a port in
 * use prints one line; the program runs on). */
void httpserver_start(void);

/* Parses a loopback address: "PORT", ":PORT", "127.x.y.z:PORT",
 * "localhost:PORT" or "[::1]:PORT" (PORT 0..65535).  For tests. */
bool httpserver_parse_address(const char *text, struct sockaddr_storage *out,
                              socklen_t *length);

#endif /* HS_HTTPSERVER_H */
