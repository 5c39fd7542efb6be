/* std_fds_test.c — heapscope never takes the number of a standard stream
 * the program closed.
 *
 * A program started with stdin, stdout or stderr closed (a daemon, or a
 * shell's `1>&-`) may open a file and expect it to become that stream, or
 * check that the stream is closed; a program that closes one for a while
 * and dup2s it back must not find heapscope's file there in between.  Each
 * case re-executes this program with one of fds 0, 1, 2 closed and an
 * option that makes heapscope open descriptors of its own from the start:
 * the HTTP server (its listening socket), or a profile written at once on
 * a signal (its temporary file, /proc/self/maps, the binaries it
 * symbolizes).  The child checks that the stream is still closed, waits
 * for the profile where there is one, checks again, and that
 * open("/dev/null") gets the stream's number.  With the previous library
 * the HTTP cases failed: the listening socket took the stream's number
 * (with stderr closed, heapscope's own "serving" line then went to its
 * socket: SIGPIPE).  A profile's descriptors are open only during the
 * write, so those cases check only that a write leaves the stream closed;
 * the move itself is checked in tests/unit/os_fd_test.c.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>

#include "testlib.h"

static bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

/* Exits 0 if fd `closed` stayed closed and is what the next open gets;
 * 3-6 say which step failed. */
static int child(int closed, const char *profile) {
  if (is_open(closed)) return 3;
  if (profile) {
    raise(SIGUSR2); /* profile_signal=12: the writer thread writes one now */
    struct stat st;
    for (int i = 0; i < 1000 && stat(profile, &st) != 0; i++) {
      struct timespec pause = {0, 10 * 1000 * 1000};
      nanosleep(&pause, NULL);
    }
    if (stat(profile, &st) != 0) return 4;
    if (is_open(closed)) return 5;
  }
  int fd = open("/dev/null", O_RDONLY);
  return fd == closed ? 0 : 6;
}

static void run_case(int closed, const char *options, const char *profile) {
  if (profile) unlink(profile);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("HEAPSCOPE", options, 1);
    close(closed);
    char which[2] = {(char)('0' + closed), 0};
    execl("/proc/self/exe", "std_fds_test", "child", which, profile ? profile : "", (char *)NULL);
    _exit(127);
  }
  int status = testlib_wait_child(pid, 30);
  static const char *const steps[] = {"", "", "", "taken at start", "no profile written",
                                      "taken by the profile's write", "not what open gets"};
  CHECK_MSG(status == 0, "HEAPSCOPE=%s, fd %d closed: exit %d (%s)", options, closed, status,
            status >= 3 && status <= 6 ? steps[status] : "?");
  if (profile) unlink(profile);
}

int main(int argc, char **argv) {
  if (argc > 3 && strcmp(argv[1], "child") == 0)
    return child(atoi(argv[2]), argv[3][0] ? argv[3] : NULL);
  testlib_expect_heapscope();
  char profile[64], options[160];
  snprintf(profile, sizeof profile, "/tmp/std_fds_test.%d.pb.gz", (int)getpid());
  snprintf(options, sizeof options, "profile_signal=12,profile=%s", profile);
  for (int closed = 0; closed < 3; closed++) {
    run_case(closed, "http=0", NULL);
    if (hs_fn("hs_stats")) run_case(closed, options, profile);
  }
  return testlib_done();
}
