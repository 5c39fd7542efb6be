/* reload_sites.c — loads each library named on the command line in turn,
 * calls its `site` (which returns malloc(100)) 200 times from
 * calling_site, freeing each block, and unloads it unless it is the last;
 * prints where each `site` was.  Libraries of the same size load where the
 * one before was, so a profiler that kept the unloaded library's unwind
 * rules would use them on the new one's frames (reloaded_library_test.sh).
 *   reload_sites LIB...   (HEAPSCOPE=sample_rate_bytes=1,profile=F) */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#define NOINLINE __attribute__((noinline, noclone))

static NOINLINE void calling_site(void *(*site)(void)) {
  for (int i = 0; i < 200; i++) free(site());
  __asm__ volatile("" ::: "memory"); /* keep the calls above ordinary calls */
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    void *library = dlopen(argv[i], RTLD_NOW | RTLD_LOCAL);
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
    if (i + 1 < argc) dlclose(library);
  }
  return 0;
}
