/* free_padding.c — a preloadable free() that runs FREE_PADDING independent
 * register additions (a multiple of 4) and then calls the next free in
 * the lookup order: the allocator preloaded after it.  Loaded before
 * mimalloc it asks how much each instruction of a free costs a workload,
 * that allocator's layout and code otherwise unchanged
 * (bench/free_padding.sh).  No memory access, no call but the real free:
 * the padding adds instructions and nothing else.  A diagnostic, not part
 * of the suite. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

#ifndef FREE_PADDING
#define FREE_PADDING 0
#endif

static void (*next_free)(void *);

void free(void *ptr) {
  if (__builtin_expect(next_free == NULL, 0)) {
    next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    if (next_free == NULL) abort();
  }
  uint64_t a = (uintptr_t)ptr, b = a, c = a, d = a;
#pragma GCC unroll 64
  for (int i = 0; i < FREE_PADDING / 4; i++) /* unrolled: no loop left */
    __asm__ volatile("add $1, %0\n\tadd $2, %1\n\tadd $3, %2\n\tadd $4, %3"
                     : "+r"(a), "+r"(b), "+r"(c), "+r"(d));
  __asm__ volatile("" : : "r"(a), "r"(b), "r"(c), "r"(d));
  next_free(ptr);
}
