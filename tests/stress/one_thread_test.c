/* one_thread_test.c — a single-threaded program stays single-threaded.
 *
 * By default (scavenger=1) heapscope starts its scavenger thread only once
 * the process has a second thread; before that the scavenger's steps run
 * on the program's own thread, from slow paths.  Under glibc a program
 * with one thread may unshare(CLONE_NEWUSER), forbid clone with seccomp,
 * or fork without Python's multi-threaded-fork warning; a thread heapscope
 * started inside its malloc would break each of those.  Cases (all with
 * release_on_drain=0, so only the scavenger returns memory):
 *   1. a heap of 64 MiB freed, then small work for 1.5 s: one thread all
 *      along, and the idle pages go back through steps on that thread;
 *   2. a child that forbids clone and clone3 with seccomp (the process is
 *      killed if either is called), then grows and frees 64 MiB: it lives;
 *   3. once the program starts a thread of its own, the scavenger thread
 *      starts too (and idle memory goes back with no call);
 *   4. scavenger=2 starts the thread in a one-thread program, as before.
 * With the library before this change, case 1 finds two threads, case 2's
 * child is killed by SIGSYS.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "scavenger_workload.h"

/* Small work every 20 ms for `ms` ms, or until `bytes` more were
 * released; the release seen. */
static uint64_t work_until_released(uint64_t bytes, int ms, int *max_threads) {
  uint64_t before = testlib_stats().released_total;
  uint64_t released = 0;
  for (int t = 0; t < ms && released < bytes; t += 20) {
    small_work();
    int threads = thread_count_without_malloc();
    if (max_threads && threads > *max_threads) *max_threads = threads;
    sleep_ms(20);
    released = testlib_stats().released_total - before;
  }
  return released;
}

TEST(steps_on_the_one_thread) {
  int max_threads = thread_count_without_malloc();
  CHECK_MSG(max_threads == 1, "the test starts with %d threads", max_threads);
  churn(64 * MIB);
  uint64_t released = work_until_released(48 * MIB, 3000, &max_threads);
  hs_stats_t s = testlib_stats();
  fprintf(stderr, "released %.1f MiB by steps on the program's thread; threads at most %d\n",
          released / 1048576.0, max_threads);
  CHECK_MSG(max_threads == 1, "the process had %d threads", max_threads);
  CHECK(s.scavenger_running == 0);
  CHECK_MSG(released >= 48 * MIB, "only %llu bytes went back", (unsigned long long)released);
  CHECK(s.scavenger_cycles > 0);
}

/* Kills the process at clone or clone3 (other calls pass). */
static int forbid_clone(void) {
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 435 /* clone3 */, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
  };
  struct sock_fprog prog = {sizeof code / sizeof code[0], code};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
}

TEST(clone_forbidden) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    if (forbid_clone() != 0) _exit(3);
    churn(64 * MIB);
    work_until_released(48 * MIB, 1500, NULL);
    churn(32 * MIB);
    _exit(0);
  }
  int status = testlib_wait_child(pid, 60);
  CHECK_MSG(status == 0, "the child that forbids clone ended with status %d%s", status,
            status == 128 + SIGSYS ? " (SIGSYS: something called clone)" : "");
}

TEST(second_thread_starts_it) {
  if (!CHECK(park_thread())) return;
  hs_stats_t s = testlib_stats();
  for (int i = 0; i < 100 && !s.scavenger_running; i++) {
    small_work();
    sleep_ms(10);
    s = testlib_stats();
  }
  CHECK_MSG(s.scavenger_running == 1, "no scavenger thread beside a program thread");
  CHECK(thread_count_without_malloc() == 3);
  /* idle memory now goes back with no call */
  uint64_t before = s.released_total;
  churn(64 * MIB);
  for (int t = 0; t < 3000 && testlib_stats().released_total - before < 48 * MIB; t += 50)
    sleep_ms(50);
  uint64_t released = testlib_stats().released_total - before;
  fprintf(stderr, "with two program threads: released %.1f MiB while idle\n", released / 1048576.0);
  CHECK_MSG(released >= 48 * MIB, "only %llu bytes went back", (unsigned long long)released);
  unpark_thread();
}

static void thread_always(void) {
  churn(64 * MIB);
  hs_stats_t s = testlib_stats();
  for (int i = 0; i < 50 && !s.scavenger_running; i++) {
    small_work();
    s = testlib_stats();
  }
  CHECK_MSG(s.scavenger_running == 1, "scavenger=2 started no thread");
  CHECK(thread_count_without_malloc() == 2);
}

int main(int argc, char **argv) {
  testlib_run_with_option(argv, "release_on_drain=0");
  testlib_expect_heapscope();
  if (argc > 1 && strcmp(argv[1], "thread") == 0) {
    thread_always();
    return testlib_done();
  }
  RUN(steps_on_the_one_thread);
  RUN(clone_forbidden);
  fprintf(stderr, "-- thread_always\n");
  int status = testlib_run_child("thread", "release_on_drain=0,scavenger=2", 60);
  CHECK_MSG(status == 0, "the scavenger=2 child ended with status %d", status);
  RUN(second_thread_starts_it);
  return testlib_done();
}
