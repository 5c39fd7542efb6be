/* pair_loop.c — N malloc(32)+free pairs, called through volatile function
 * pointers so that nothing is inlined or folded: the program
 * bench/pair_instructions.sh counts instructions of under callgrind.
 *   pair_loop N */
#include <stdlib.h>

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 0;
  void *(*volatile allocate)(size_t) = malloc;
  void (*volatile release)(void *) = free;
  for (long i = 0; i < pairs; i++) release(allocate(32));
  return 0;
}
