/* httpserver.h — the loopback HTTP endpoint (hs_serve_http, the `http`
 * option): profiles in net/http/pprof's shape and Prometheus metrics.
 * See docs/profiles.md ("Serving over HTTP"). */
#ifndef HS_HTTPSERVER_H
#define HS_HTTPSERVER_H

/* Called by malloc.c once at start-up, after profwrite_start: serves on
 * the `http` option's address if it is set (a bad address or a port in
 * use prints one line; the program runs on). */
void httpserver_start(void);

#endif /* HS_HTTPSERVER_H */
