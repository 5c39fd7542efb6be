/* os_fd_test.c — checks os_fd_above_std (src/os.c), which keeps every
 * descriptor heapscope opens off the numbers of the standard streams: a
 * program that closed stdout must get 1 back at its next open, and must
 * not find heapscope's file there when it dup2s its own onto it. */
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "os.h"
#include "testlib.h"

static bool same_file(int a, int b) {
  struct stat x, y;
  return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

static bool is_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(moves_low_descriptors) {
  int saved = dup(1);
  int reference = open("/proc/self/statm", O_RDONLY);
  for (int low = 0; low < 3; low++) {
    int keep = dup(low);
    close(low);
    int fd = open("/proc/self/statm", O_RDONLY);
    CHECK_MSG(fd == low, "open with %d closed gave %d", low, fd);
    errno = 1234;
    int moved = os_fd_above_std(fd);
    CHECK_MSG(moved >= 3 && same_file(moved, reference), "fd %d moved to %d", low, moved);
    CHECK_MSG(errno == 1234, "errno %d: not preserved", errno);
    CHECK_MSG(!is_open(low), "fd %d still open after the move", low);
    CHECK_MSG(fcntl(moved, F_GETFD) & FD_CLOEXEC, "the moved descriptor is not close-on-exec");
    close(moved);
    dup2(keep, low);
    close(keep);
  }
  close(reference);
  dup2(saved, 1);
  close(saved);
}

TEST(leaves_others_alone) {
  int fd = open("/proc/self/statm", O_RDONLY);
  CHECK(fd >= 3 && os_fd_above_std(fd) == fd && is_open(fd));
  close(fd);
  errno = ENOENT;
  CHECK(os_fd_above_std(-1) == -1 && errno == ENOENT); /* a failed open passes through */
}

/* With RLIMIT_NOFILE at 3 there is no number above the standard ones:
 * -1 with EMFILE, and the descriptor given is closed. */
TEST(no_room_above) {
  int keep = dup(1);
  struct rlimit old, three = {3, 3};
  getrlimit(RLIMIT_NOFILE, &old);
  three.rlim_max = old.rlim_max;
  close(1);
  int fd = open("/proc/self/statm", O_RDONLY);
  setrlimit(RLIMIT_NOFILE, &three);
  errno = 0;
  int moved = os_fd_above_std(fd);
  int error = errno;
  setrlimit(RLIMIT_NOFILE, &old);
  bool closed = !is_open(1);
  dup2(keep, 1);
  close(keep);
  CHECK_MSG(fd == 1 && moved == -1 && error == EMFILE && closed,
            "fd %d -> %d, errno %d, fd 1 %s", fd, moved, error, closed ? "closed" : "open");
}

int main(void) {
  RUN(moves_low_descriptors);
  RUN(leaves_others_alone);
  RUN(no_room_above);
  return testlib_done();
}
