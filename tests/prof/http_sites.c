/* http_sites.c — a long-running program with known allocation sites, for
 * http_test.sh.  It keeps 64 blocks of 8192 B from kept_site, then, until
 * its standard input closes (or 300 s pass), frees and allocates 100
 * blocks of 1000 B from churn_site every 10 ms.  Run with
 * HEAPSCOPE=sample_rate_bytes=1 (exact profiles):
 *   http_sites.plain             preloaded, serving through HEAPSCOPE=http=...
 *   http_sites serve             linked: calls hs_serve_http("127.0.0.1:0"),
 *                                prints "port N"; a second call must say EBUSY
 *   http_sites fork              linked: serves, then forks; the child calls
 *                                hs_serve_http itself and prints "child_port N"
 *   http_sites daemon            closes every descriptor above 2, as daemons
 *                                do (heapscope's socket too), opens a
 *                                listening socket of its own (the same number)
 *                                and answers "program" on it; prints
 *                                "own_port N"
 * Prints "ready" once kept_site has run and the server is up.
 * Built -O1 -g -fomit-frame-pointer (see the Makefile). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"

#define NOINLINE __attribute__((noinline, noclone))

static void *kept[64];

static NOINLINE void kept_site(void) {
  for (int i = 0; i < 64; i++) kept[i] = malloc(8192);
}

static NOINLINE void churn_site(void **slots) {
  for (int i = 0; i < 100; i++) {
    free(slots[i]);
    slots[i] = malloc(1000);
  }
}

/* Churns until standard input is closed (or after 300 s). */
static void churn_until_stdin_closes(void) {
  void *slots[100] = {0};
  for (int tick = 0; tick < 30000; tick++) {
    churn_site(slots);
    struct pollfd p = {.fd = 0, .events = POLLIN};
    if (poll(&p, 1, 10) > 0) {
      char scratch[64];
      if (read(0, scratch, sizeof scratch) <= 0) break;
    }
  }
  for (int i = 0; i < 100; i++) free(slots[i]);
}

/* hs_serve_http, found at run time: the .plain build is not linked with it. */
static int serve(const char *address) {
  int (*serve_http)(const char *) = (int (*)(const char *))hs_fn("hs_serve_http");
  if (!serve_http) {
    errno = ENOSYS;
    return -1;
  }
  return serve_http(address);
}

static int serve_or_fail(const char *who) {
  int port = serve("127.0.0.1:0");
  if (port <= 0) {
    fprintf(stderr, "%s: hs_serve_http: %s\n", who, strerror(errno));
    exit(1);
  }
  return port;
}

/* Answers every connection on the program's own socket with "program". */
static void *answer_as_program(void *arg) {
  int server = (int)(intptr_t)arg;
  for (;;) {
    int fd = accept(server, NULL, NULL);
    if (fd < 0) continue;
    send(fd, "program\n", 8, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    char scratch[256];
    while (recv(fd, scratch, sizeof scratch, 0) > 0) {
    }
    close(fd);
  }
  return NULL;
}

/* Closes descriptors 3 and up and listens on a socket of its own. */
static void become_daemon(void) {
  for (int fd = 3; fd < 1024; fd++) close(fd);
  int server = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in where = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t length = sizeof where;
  if (server < 0 || bind(server, (struct sockaddr *)&where, sizeof where) != 0 ||
      listen(server, 16) != 0 || getsockname(server, (struct sockaddr *)&where, &length) != 0) {
    perror("daemon socket");
    exit(1);
  }
  printf("own_port %d fd %d\n", ntohs(where.sin_port), server);
  pthread_t thread;
  pthread_create(&thread, NULL, answer_as_program, (void *)(intptr_t)server);
}

int main(int argc, char **argv) {
  const char *mode = argc > 1 ? argv[1] : "";
  kept_site();
  if (strcmp(mode, "serve") == 0 || strcmp(mode, "fork") == 0) {
    printf("port %d\n", serve_or_fail("parent"));
    if (serve("127.0.0.1:0") != -1 || errno != EBUSY) {
      fprintf(stderr, "a second hs_serve_http did not fail with EBUSY\n");
      return 1;
    }
    if (serve("0.0.0.0:0") != -1 || errno != EINVAL) {
      fprintf(stderr, "hs_serve_http(0.0.0.0:0) did not fail with EINVAL\n");
      return 1;
    }
  }
  if (strcmp(mode, "daemon") == 0) become_daemon();
  pid_t child = -1;
  if (strcmp(mode, "fork") == 0) {
    fflush(stdout);
    child = fork();
    if (child == 0) {
      printf("child_port %d pid %d\n", serve_or_fail("child"), (int)getpid());
      fflush(stdout);
      churn_until_stdin_closes();
      _exit(0);
    }
  }
  printf("ready\n");
  fflush(stdout);
  churn_until_stdin_closes();
  if (child > 0) {
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 1;
  }
  return 0;
}
