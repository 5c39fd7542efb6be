/* unload_race.c — libraries loaded and unloaded from several threads at
 * once while profiles are written and the process forks: THREADS threads
 * each load LIB, call its `site` (malloc(100)) 10 times, freeing each block,
 * and unload it, over and over for SECONDS; the main thread meanwhile
 * raises SIGNAL (HEAPSCOPE=profile_signal=SIGNAL: a profile written while
 * dlclose runs in other threads) every 20 ms and forks every 100 ms (fork's
 * handlers run while other threads are inside dlclose) a child that exits
 * at once: a child that loaded a library, or took a sample (the unwinder
 * asks the loader), could hang on glibc's loader lock when fork copied it
 * held by a thread inside dlopen or dlclose, with or without heapscope's
 * dlclose.  heapscope's dlclose notes each library
 * before the real call and the profile writer reads what it noted
 * (unload_race_test.sh): nothing may hang or crash.  Prints the cycles run
 * and the children that failed.
 *   unload_race LIB THREADS SECONDS SIGNAL */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *library_path;
static volatile int stop;

static int load_call_unload(int calls) {
  void *library = dlopen(library_path, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    fprintf(stderr, "unload_race: %s\n", dlerror());
    return 1;
  }
  void *(*site)(void) = (void *(*)(void))dlsym(library, "site");
  if (!site) {
    fprintf(stderr, "unload_race: %s has no site\n", library_path);
    return 1;
  }
  for (int i = 0; i < calls; i++) free(site());
  if (dlclose(library) != 0) {
    fprintf(stderr, "unload_race: dlclose: %s\n", dlerror());
    return 1;
  }
  return 0;
}

static void *worker(void *arg) {
  long *cycles = arg;
  while (!stop) {
    if (load_call_unload(10) != 0) exit(1);
    ++*cycles;
  }
  return NULL;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: unload_race LIB THREADS SECONDS SIGNAL\n");
    return 2;
  }
  library_path = argv[1];
  int threads = atoi(argv[2]), signal_number = atoi(argv[4]);
  double seconds = atof(argv[3]);
  if (threads < 1 || threads > 64 || seconds <= 0 || signal_number < 1 || signal_number > 64) {
    fprintf(stderr, "usage: unload_race LIB THREADS(1..64) SECONDS SIGNAL\n");
    return 2;
  }
  pthread_t ids[64];
  long cycles[64] = {0};
  for (int i = 0; i < threads; i++)
    if (pthread_create(&ids[i], NULL, worker, &cycles[i]) != 0) return 1;
  int failed_children = 0, rounds = 0;
  for (double end = now_s() + seconds; now_s() < end; rounds++) {
    raise(signal_number);
    if (rounds % 5 == 0) {
      pid_t child = fork();
      if (child == 0) _exit(0);
      int status = 0;
      if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
          WEXITSTATUS(status) != 0)
        failed_children++;
    }
    usleep(20000);
  }
  stop = 1;
  long total = 0;
  for (int i = 0; i < threads; i++) {
    pthread_join(ids[i], NULL);
    total += cycles[i];
  }
  printf("cycles=%ld failed_children=%d\n", total, failed_children);
  return 0;
}
