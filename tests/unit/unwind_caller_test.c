/* unwind_caller_test.c — unwind_capture_caller, the sampler's capture,
 * against the compiler's own idea of the stack, through frames whose
 * canonical frame address is computed from RBP: each level of a recursion
 * holds a variable-length array (so the compiler makes RBP its frame
 * pointer, and its unwind rule reads RBP) and records
 * __builtin_return_address(0).  The function at the bottom stands for an
 * entry point: like malloc.c, this file is built with -ffixed-rbp
 * (Makefile), so it writes no RBP; it reads RBP and captures from its
 * caller.  The capture must list exactly the recorded addresses,
 * innermost first, and the same frames as unwind_capture's full walk
 * from the return address into the entry's caller on.  A walk that started with any other RBP would lose the
 * chain at the first level. */
#include <stdint.h>
#include <stdio.h>

#include "testlib.h"
#include "unwind.h"

#define LEVELS 12

static uintptr_t expected[LEVELS + 1]; /* level i's return address */
static uintptr_t entry_return;         /* the entry's, into level 0 */
static uintptr_t captured[128], walked[128];
static int captured_depth, walked_depth;
static volatile int sink;

__attribute__((noinline)) static int entry(void) {
  uintptr_t cfa = (uintptr_t)__builtin_dwarf_cfa();
  entry_return = (uintptr_t)__builtin_return_address(0);
  uintptr_t rbp;
  __asm__ volatile("mov %%rbp, %0" : "=r"(rbp));
  captured_depth = unwind_capture_caller(captured, 128, cfa, rbp);
  walked_depth = unwind_capture(walked, 128);
  return captured_depth;
}

__attribute__((noinline)) static int level_with_vla(int level, int bytes) {
  volatile char on_stack[bytes];
  on_stack[0] = (char)level;
  expected[level] = (uintptr_t)__builtin_return_address(0);
  int r = level == 0 ? entry() : level_with_vla(level - 1, bytes);
  sink += r + on_stack[0]; /* not a tail call */
  return r + 1;
}

int main(int argc, char **argv) {
  unwind_warm_up();
  level_with_vla(LEVELS, argc + 15);
  CHECK_MSG(captured_depth >= LEVELS + 2, "captured %d frames, want at least %d", captured_depth,
            LEVELS + 2);
  CHECK_MSG(captured_depth >= 1 && captured[0] == entry_return, "frame 0: got %#lx want %#lx",
            (unsigned long)captured[0], (unsigned long)entry_return);
  for (int level = 0; level <= LEVELS && level + 1 < captured_depth; level++)
    CHECK_MSG(captured[level + 1] == expected[level], "frame %d: got %#lx want %#lx", level + 1,
              (unsigned long)captured[level + 1], (unsigned long)expected[level]);
  /* The full walk lists entry()'s own return address too: from there on
   * it is the capture. */
  int from = 0;
  while (from < walked_depth && walked[from] != entry_return) from++;
  CHECK_MSG(walked_depth - from == captured_depth,
            "the full walk listed %d frames from the entry's caller on, the capture %d",
            walked_depth - from, captured_depth);
  for (int i = 0; from + i < walked_depth && i < captured_depth; i++)
    CHECK_MSG(walked[from + i] == captured[i], "frame %d: full walk %#lx, capture %#lx", i,
              (unsigned long)walked[from + i], (unsigned long)captured[i]);
  /* An entry CFA below the capture's own stack pointer is no entry. */
  CHECK_MSG(unwind_capture_caller(captured, 128, 8, 0) == 0, "a bogus entry CFA was walked");
  printf("unwind_caller_test: %d frames through %d frame-pointer levels\n", captured_depth,
         LEVELS + 1);
  return testlib_done();
}
