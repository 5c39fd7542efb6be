/* scavenger_fork_test.c — the scavenger across fork, and without a thread.
 *
 * Parent: starts a thread of its own and grows the heap, so its scavenger
 * thread starts, then forks.  The child has one thread (threads do not
 * survive fork), so by default it starts no scavenger thread: it allocates
 * 128 MiB, frees it, goes on with a little allocation work, and must see
 * the memory go back (heap_released and RSS) by steps on its own thread,
 * no thread start, and sane statistics.  Then a re-executed child with
 * HEAPSCOPE=scavenger=0 must run no thread, keep its idle memory until it
 * calls hs_background_step(), and get it back through those calls.  Both
 * run with release_on_drain=0, so that the last free leaves the memory to
 * the scavenger.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "scavenger_workload.h"

static int scavenger_threads(void) {
  int found = 0;
  DIR *dir = opendir("/proc/self/task");
  struct dirent *entry;
  while (dir && (entry = readdir(dir)) != NULL) {
    char path[300], name[64] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", entry->d_name);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    if (fgets(name, sizeof name, f) && strncmp(name, "hs-scavenger", 12) == 0) found++;
    fclose(f);
  }
  if (dir) closedir(dir);
  return found;
}

static void check_sane(const hs_stats_t *s) {
  CHECK(s->heap_alloc <= s->heap_alloc_rounded && s->heap_alloc_rounded <= s->heap_inuse);
  CHECK(s->heap_inuse + s->heap_idle == s->heap_sys && s->heap_released <= s->heap_idle);
  CHECK(s->frees <= s->mallocs);
}

static void fork_child(void) {
  int threads_at_fork = thread_count_without_malloc();
  hs_stats_t s = testlib_stats();
  CHECK_MSG(threads_at_fork == 1, "the child starts with %d threads, want 1", threads_at_fork);
  CHECK_MSG(s.scavenger_running == 0, "the parent's scavenger thread is not in the child");
  check_sane(&s);
  uint64_t released_before = s.released_total;
  churn(128 * MIB);
  uint64_t peak = s.rss > 0 ? testlib_stats().rss : 0;
  hs_stats_t after = testlib_stats();
  for (int waited = 0; waited < 5000; waited += 20) {
    small_work();
    sleep_ms(20);
    after = testlib_stats();
    if (after.released_total - released_before >= 100 * MIB && after.rss < peak / 2) break;
  }
  fprintf(stderr, "child: released %.1f MiB, rss %.1f MiB (peak %.1f MiB), threads %d\n",
          (after.released_total - released_before) / 1048576.0, after.rss / 1048576.0,
          peak / 1048576.0, thread_count_without_malloc());
  CHECK_MSG(after.scavenger_running == 0, "the child, with one thread, started a scavenger thread");
  CHECK(thread_count_without_malloc() == 1 && scavenger_threads() == 0);
  CHECK_MSG(after.released_total - released_before >= 100 * MIB, "child released %llu bytes",
            (unsigned long long)(after.released_total - released_before));
  CHECK(after.scavenger_cycles > s.scavenger_cycles);
  CHECK(after.rss < peak / 2);
  check_sane(&after);
}

static void host_driven(void) {
  uint64_t (*step)(void) = (uint64_t (*)(void))hs_fn("hs_background_step");
  if (!CHECK(step != NULL)) return;
  churn(128 * MIB);
  sleep_ms(1200); /* longer than the release delay: a thread would act now */
  hs_stats_t s = testlib_stats();
  CHECK_MSG(s.scavenger_running == 0 && scavenger_threads() == 0, "scavenger=0 ran a thread");
  CHECK_MSG(s.heap_idle - s.heap_released >= 100 * MIB,
            "idle memory went back without hs_background_step (%llu unreleased)",
            (unsigned long long)(s.heap_idle - s.heap_released));
  uint64_t released = 0;
  for (int i = 0; i < 300 && released < 100 * MIB; i++) {
    released += step();
    sleep_ms(10);
  }
  hs_stats_t after = testlib_stats();
  fprintf(stderr, "host-driven: hs_background_step released %.1f MiB, rss %.1f -> %.1f MiB\n",
          released / 1048576.0, s.rss / 1048576.0, after.rss / 1048576.0);
  CHECK_MSG(released >= 100 * MIB, "hs_background_step released only %llu bytes",
            (unsigned long long)released);
  CHECK(after.rss + 64 * MIB < s.rss);
  CHECK(after.scavenger_running == 0);
  check_sane(&after);
}

int main(int argc, char **argv) {
  testlib_run_with_option(argv, "release_on_drain=0");
  if (argc > 1 && strcmp(argv[1], "host") == 0) {
    host_driven();
    return testlib_done();
  }
  testlib_expect_heapscope();
  if (!CHECK(park_thread())) return testlib_done(); /* the parent has two threads */
  churn(64 * MIB);
  hs_stats_t s = testlib_stats();
  for (int i = 0; i < 50 && !s.scavenger_running; i++) {
    churn(MIB);
    s = testlib_stats();
  }
  CHECK_MSG(s.scavenger_running == 1, "the parent's scavenger did not start");
  CHECK(scavenger_threads() == 1);
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    fork_child();
    fflush(NULL);
    _exit(testlib_failures() ? 1 : 0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child failed (status %d)", status);

  pid = fork();
  if (pid == 0) {
    setenv("HEAPSCOPE", "scavenger=0,release_on_drain=0", 1);
    execl("/proc/self/exe", "scavenger_fork_test", "host", (char *)NULL);
    _exit(127);
  }
  waitpid(pid, &status, 0);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "scavenger=0 child failed (status %d)",
            status);
  unpark_thread();
  return testlib_done();
}
