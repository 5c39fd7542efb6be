/* reload_sites.c — loads each library named on the command line in turn,
 * calls its `site` (which returns malloc(100)) 200 times from
 * calling_site, freeing each block, and unloads it unless it is the last;
 * prints where each `site` was.  Libraries of the same size load where the
 * one before was, so a profiler that kept the unloaded library's unwind
 * rules would use them on the new one's frames (reloaded_library_test.sh).
 * With --unloads=N, after the first library is unloaded, the last one is
 * loaded and unloaded N times without being called, each time followed by
 * a sampled malloc of this program's own, so the unwinder's generation
 * moves on N times (past 4096 it wraps, and the cache must be emptied).
 * With --unload-last the last library is unloaded too, so the profile
 * written at exit holds frames in code no longer mapped; with
 * --replace-last-with=FILE its file is then overwritten with FILE's bytes.
 * With RELOAD_SITES_OPEN_EARLY=1 in the environment the first library is
 * opened by a constructor that runs before heapscope's own when heapscope
 * is linked in (priority 101): before heapscope started, but after the
 * loader listed the modules of the program's start-up.
 *   reload_sites [--unloads=N] [--unload-last [--replace-last-with=FILE]] LIB...
 *   (HEAPSCOPE=sample_rate_bytes=1,profile=F) */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, noclone))

static NOINLINE void *own_site(void) { return malloc(32); }

static void *early_library; /* the first library, if opened early */

__attribute__((constructor(101))) static void open_early(int argc, char **argv, char **envp) {
  const char *early = getenv("RELOAD_SITES_OPEN_EARLY");
  int first = 1;
  while (first < argc && strncmp(argv[first], "--", 2) == 0) first++;
  if (early && strcmp(early, "1") == 0 && first < argc)
    early_library = dlopen(argv[first], RTLD_NOW | RTLD_LOCAL);
}

/* Loads and unloads `path` `count` times, a sampled malloc after each. */
static int unload_often(const char *path, long count) {
  for (long i = 0; i < count; i++) {
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      fprintf(stderr, "reload_sites: %s\n", dlerror());
      return 1;
    }
    dlclose(library);
    free(own_site());
  }
  return 0;
}

/* Overwrites the file at `path` with the bytes of the file at `source`. */
static int replace_file(const char *path, const char *source) {
  int in = open(source, O_RDONLY), out = open(path, O_WRONLY | O_TRUNC);
  char buffer[65536];
  ssize_t got = 1;
  while (in >= 0 && out >= 0 && (got = read(in, buffer, sizeof buffer)) > 0)
    if (write(out, buffer, (size_t)got) != got) got = -1;
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  if (in < 0 || out < 0 || got < 0) {
    fprintf(stderr, "reload_sites: cannot replace %s with %s\n", path, source);
    return 1;
  }
  return 0;
}

static NOINLINE void calling_site(void *(*site)(void)) {
  for (int i = 0; i < 200; i++) free(site());
  __asm__ volatile("" ::: "memory"); /* keep the calls above ordinary calls */
}

int main(int argc, char **argv) {
  long unloads = 0;
  int first = 1, unload_last = 0;
  const char *replace_with = NULL;
  for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
    if (strncmp(argv[first], "--unloads=", 10) == 0) unloads = atol(argv[first] + 10);
    else if (strcmp(argv[first], "--unload-last") == 0) unload_last = 1;
    else if (strncmp(argv[first], "--replace-last-with=", 20) == 0) replace_with = argv[first] + 20;
    else {
      fprintf(stderr, "reload_sites: unknown option %s\n", argv[first]);
      return 2;
    }
  }
  for (int i = first; i < argc; i++) {
    void *library = i == first && early_library ? early_library
                                                : dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      fprintf(stderr, "reload_sites: %s\n", dlerror());
      return 1;
    }
    void *(*site)(void) = (void *(*)(void))dlsym(library, "site");
    if (!site) {
      fprintf(stderr, "reload_sites: %s has no site\n", argv[i]);
      return 1;
    }
    printf("site %p\n", (void *)site);
    fflush(stdout);
    calling_site(site);
    if (i + 1 < argc || unload_last) dlclose(library);
    if (i + 1 == argc && unload_last && replace_with && replace_file(argv[i], replace_with) != 0)
      return 1;
    if (i == first && unloads > 0 && unload_often(argv[argc - 1], unloads) != 0) return 1;
  }
  return 0;
}
