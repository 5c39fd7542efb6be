/* huge_pages_test.c — option huge_pages: the heap's regions carry the
 * kernel's huge-page advice (VmFlags "hg" in /proc/self/smaps) with it, and
 * not without it.
 *  1. Re-executed with huge_pages=1: 4 MiB of 64-byte objects and a 1 MiB
 *     block, each touched; the mappings holding the first object, the last
 *     one and the block have "hg" where the kernel has transparent huge
 *     pages (a mapping of the test's own takes MADV_HUGEPAGE), and none
 *     where it has not.  So does the mapping of an object allocated by a
 *     constructor of the test's own that runs first: in the linked build it
 *     runs before heapscope's start-up, so its region is mapped before the
 *     option takes effect and is advised late (pageheap_use_huge_pages).
 *  2. Re-executed with huge_pages=0: the same mappings have no "hg". */
#include <sys/mman.h>

#include "testlib.h"

#define OBJECTS 65536

/* Whether the mapping holding `address` has the VmFlags word `flag`. */
static bool mapping_has_flag(const void *address, const char *flag) {
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!CHECK(f != NULL)) return false;
  char line[512];
  bool inside = false, found = false, seen = false;
  uintptr_t a = (uintptr_t)address;
  while (fgets(line, sizeof line, f)) {
    unsigned long start, end;
    if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
      inside = a >= start && a < end;
      seen |= inside;
    } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
      char word[8];
      snprintf(word, sizeof word, " %s", flag);
      for (char *p = line + 8; (p = strstr(p, word)) != NULL; p += strlen(word))
        if (p[strlen(word)] == ' ' || p[strlen(word)] == '\n') found = true;
    }
  }
  fclose(f);
  CHECK_MSG(seen, "no mapping holds %p", address);
  return found;
}

/* Whether this kernel takes MADV_HUGEPAGE at all. */
static bool kernel_has_huge_pages(void) {
  size_t bytes = (size_t)4 << 20;
  void *probe = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (!CHECK(probe != MAP_FAILED)) return false;
  bool has = madvise(probe, bytes, MADV_HUGEPAGE) == 0;
  munmap(probe, bytes);
  return has;
}

/* Allocated before heapscope's own constructor where it is linked in. */
static void *early_object;
__attribute__((constructor(101))) static void allocate_early(void) {
  early_object = malloc(64);
  if (early_object) memset(early_object, 1, 64);
}

static void check_regions(bool want_hg) {
  static void *objects[OBJECTS];
  for (int i = 0; i < OBJECTS; i++) {
    objects[i] = malloc(64);
    if (!CHECK(objects[i] != NULL)) return;
    memset(objects[i], i & 0xff, 64);
  }
  char *block = malloc((size_t)1 << 20);
  if (!CHECK(block != NULL)) return;
  memset(block, 1, (size_t)1 << 20);
  if (!CHECK(early_object != NULL)) return;
  const void *probes[] = {early_object, objects[0], objects[OBJECTS - 1], block};
  const char *names[] = {"early object", "first object", "last object", "1 MiB block"};
  for (int i = 0; i < 4; i++)
    CHECK_MSG(mapping_has_flag(probes[i], "hg") == want_hg, "%s %p: hg %s, want %s", names[i],
              probes[i], want_hg ? "missing" : "present", want_hg ? "present" : "absent");
  free(block);
  for (int i = 0; i < OBJECTS; i++) free(objects[i]);
}

int main(int argc, char **argv) {
  bool off = argc > 1 && strcmp(argv[1], "off") == 0;
  testlib_run_with_option(argv, off ? "huge_pages=0" : "huge_pages=1");
  if (testlib_skip_unless_heapscope()) return 0;
  bool kernel = kernel_has_huge_pages();
  if (off) {
    check_regions(false);
    return testlib_done();
  }
  fprintf(stderr, "transparent huge pages in this kernel: %s\n", kernel ? "yes" : "no");
  check_regions(kernel);
  int status = testlib_run_child("off", "", 60);
  CHECK_MSG(status == 0, "huge_pages=0 run: status %d", status);
  return testlib_done();
}
