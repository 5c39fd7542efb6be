/* main_exit_test.c — the process ends when its last program thread ends.
 *
 * glibc ends a process when its last thread ends (that thread calls
 * exit(0)), so a program may end main with pthread_exit and let its other
 * threads finish the work.  heapscope's background threads (the scavenger,
 * the profile writer, the HTTP server) never end: unless they end the
 * process themselves once only they are left, such a program never exits
 * (a zombie main thread, and threads that block every signal).
 *
 * Each case re-executes this program with options that start one kind of
 * background thread.  The child allocates 64 MiB and frees half (enough
 * for the scavenger to start), waits until the background thread runs,
 * starts a worker that sleeps 0.6 s, registers an atexit handler, and
 * calls pthread_exit from main.  The parent expects exit status 0 within
 * 10 s, the worker to have finished its work (the process was not ended
 * early) and the atexit handler, which takes 1 MiB of stack, to have run
 * (ended by exit, as glibc does); with profile= set, the profile written
 * at exit must exist.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "testlib.h"

#define CHILD_SECONDS 10.0
#define BLOCKS 64

static char marks[256];

static void touch_mark(const char *name) {
  char path[320];
  snprintf(path, sizeof path, "%s/%s", getenv("MAIN_EXIT_DIR"), name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd >= 0) close(fd);
}

/* Runs on whichever thread ends the process, perhaps a heapscope thread:
 * it must have a normal thread's stack (this handler takes 1 MiB of it,
 * touched from the top down so that an overflow meets the guard page). */
static void at_exit_mark(void) {
  volatile char scratch[1 << 20];
  for (size_t i = sizeof scratch; i > 0; i -= 4096) scratch[i - 1] = 1;
  touch_mark("atexit");
}

static void *worker(void *arg) {
  (void)arg;
  struct timespec pause = {0, 600 * 1000 * 1000};
  nanosleep(&pause, NULL);
  void *p = malloc(1000); /* the worker still allocates after main ended */
  free(p);
  touch_mark("worker");
  return NULL;
}

/* Runs in the re-executed child: ends main with pthread_exit.  Exits 3 if
 * heapscope is loaded but its background thread never started (the case
 * would then test nothing). */
static int child(void) {
  testlib_expect_heapscope();
  void *blocks[BLOCKS];
  for (int i = 0; i < BLOCKS; i++) {
    blocks[i] = malloc(1 << 20);
    memset(blocks[i], 1, 1 << 20);
  }
  for (int i = 0; i < BLOCKS; i += 2) free(blocks[i]);
  if (hs_fn("hs_stats")) {
    int tries = 0;
    for (; testlib_status_kib("Threads:") < 2 && tries < 200; tries++) {
      free(malloc(1 << 20)); /* a slow path, where the scavenger starts */
      struct timespec pause = {0, 10 * 1000 * 1000};
      nanosleep(&pause, NULL);
    }
    if (tries == 200) _exit(3);
  }
  atexit(at_exit_mark);
  pthread_t thread;
  if (pthread_create(&thread, NULL, worker, NULL) != 0) _exit(4);
  pthread_exit(NULL);
}

static bool mark_exists(const char *name) {
  char path[320];
  snprintf(path, sizeof path, "%s/%s", marks, name);
  struct stat st;
  return stat(path, &st) == 0;
}

static void remove_mark(const char *name) {
  char path[320];
  snprintf(path, sizeof path, "%s/%s", marks, name);
  unlink(path);
}

static void run_case(const char *options, const char *profile) {
  remove_mark("atexit");
  remove_mark("worker");
  if (profile) remove_mark(profile);
  int status = testlib_run_child("child", options, CHILD_SECONDS);
  CHECK_MSG(status == 0, "HEAPSCOPE=%s: exit status %d (-1: still running after %.0f s)",
            options, status, CHILD_SECONDS);
  CHECK_MSG(mark_exists("worker"), "HEAPSCOPE=%s: the process ended before its worker did",
            options);
  CHECK_MSG(mark_exists("atexit"), "HEAPSCOPE=%s: the atexit handler did not run", options);
  if (profile && hs_fn("hs_stats"))
    CHECK_MSG(mark_exists(profile), "HEAPSCOPE=%s: no profile written at exit", options);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "child") == 0) return child();
  testlib_expect_heapscope();
  snprintf(marks, sizeof marks, "/tmp/main_exit_test.XXXXXX");
  if (!mkdtemp(marks)) {
    perror("mkdtemp");
    return 1;
  }
  setenv("MAIN_EXIT_DIR", marks, 1);
  char options[512];
  snprintf(options, sizeof options, "scavenger=2,profile=%s/exit.pb.gz", marks);
  run_case(options, "exit.pb.gz"); /* the scavenger (a thread in any program) */
  run_case("scavenger=0,profile_signal=12", NULL);
  run_case("scavenger=0,profile_interval_seconds=60", NULL);
  run_case("scavenger=0,profile_at_limit=1", NULL);
  snprintf(options, sizeof options, "scavenger=0,peak_profile=%s/peak.pb.gz", marks);
  run_case(options, NULL);
  run_case("scavenger=0,http=0", NULL);
  remove_mark("atexit");
  remove_mark("worker");
  remove_mark("exit.pb.gz");
  remove_mark("peak.pb.gz");
  rmdir(marks);
  return testlib_done();
}
