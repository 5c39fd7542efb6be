/* fake_sites.c — writes a profile of fake buckets whose pcs are real return
 * addresses in this program (built -O1 -g -fomit-frame-pointer), so that
 * pprof_go_test.sh can check what `go tool pprof` makes of our symbols,
 * lines and inline frames independently of the sampler.
 *   fake_sites OUT.pb.gz heap|allocs
 * Prints "site FUNCTION LINE" for every call line it put in the profile. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "pprof.h"

#define NOINLINE __attribute__((noinline, noclone))

static NOINLINE uintptr_t capture(void) {
  uintptr_t pc = (uintptr_t)__builtin_return_address(0);
  __asm__ volatile("" ::: "memory");
  return pc;
}

static NOINLINE uintptr_t small_site(int *line) {
  uintptr_t pc = capture(); *line = __LINE__;
  return pc;
}

static inline __attribute__((always_inline)) uintptr_t inlined_helper(int *line) {
  uintptr_t pc = capture(); *line = __LINE__;
  return pc;
}

static NOINLINE uintptr_t big_site(int *helper_line, int *call_line) {
  uintptr_t pc = inlined_helper(helper_line); *call_line = __LINE__;
  return pc;
}

static prof_bucket_view_t buckets[2];

static void for_each(prof_visit_fn visit, void *arg) {
  for (int i = 0; i < 2; i++) visit(&buckets[i], arg);
}

int main(int argc, char **argv) {
  if (argc != 3 || (strcmp(argv[2], "heap") && strcmp(argv[2], "allocs"))) {
    fprintf(stderr, "usage: fake_sites OUT.pb.gz heap|allocs\n");
    return 2;
  }
  int small_line, helper_line, big_line, main_line_a, main_line_b;
  uintptr_t small_pc = small_site(&small_line); main_line_a = __LINE__;
  uintptr_t main_pc_a = capture();
  uintptr_t big_pc = big_site(&helper_line, &big_line); main_line_b = __LINE__;
  uintptr_t main_pc_b = capture();
  (void)main_pc_a;
  (void)main_pc_b;
  /* Stacks as the unwinder would give them: call sites, innermost first.
   * main's frames stand in at the line after each call (see capture). */
  static uintptr_t stack_small[2], stack_big[2];
  stack_small[0] = small_pc;
  stack_small[1] = main_pc_a;
  stack_big[0] = big_pc;
  stack_big[1] = main_pc_b;
  static const prof_label_t label_a[1] = {{"worker", "a"}}, label_b[1] = {{"worker", "b"}};
  /* small: 3 objects of 1000 B, 1 freed; big: 5 objects of 100000 B, live. */
  buckets[0] = (prof_bucket_view_t){stack_small, 2, label_a, 1, 3, 3000, 1, 1000};
  buckets[1] = (prof_bucket_view_t){stack_big, 2, label_b, 1, 5, 500000, 0, 0};
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 ||
      pprof_write_buckets(fd, strcmp(argv[2], "heap") ? HS_PROF_ALLOCS : HS_PROF_HEAP, 4096,
                          for_each, 0) != 0) {
    perror(argv[1]);
    return 1;
  }
  close(fd);
  printf("site small_site %d\nsite inlined_helper %d\nsite big_site %d\nsite main %d %d\n",
         small_line, helper_line, big_line, main_line_a + 1, main_line_b + 1);
  return 0;
}
