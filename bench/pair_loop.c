/* pair_loop.c — N malloc+free pairs, called through volatile function
 * pointers so that nothing is inlined or folded: the program
 * bench/pair_instructions.sh counts instructions of under callgrind.
 * Without SIZE, malloc(32)+free one pair at a time (the loop the 32-byte
 * figures in docs/performance.md were counted on: a constant size).  With
 * SIZE, pairs of SIZE bytes; with BATCH > 1, BATCH mallocs and then their
 * frees in allocation order, until N pairs are done (N a multiple of
 * BATCH).  Built with -DVIA_OPERATOR_NEW (and -lstdc++), the pairs are
 * C++'s operator new and delete, which call malloc and free from
 * libstdc++: a C++ program's stacks.  With -DVIA_CALLOC the allocations
 * are calloc(1, SIZE) (through a one-line wrapper, counted with the loop).
 *   pair_loop N [SIZE [BATCH]] */
#include <stdlib.h>

#ifdef VIA_OPERATOR_NEW
void *_Znwm(size_t size);  /* operator new(std::size_t) */
void _ZdlPv(void *object); /* operator delete(void *) */
#define ALLOCATE _Znwm
#define RELEASE _ZdlPv
#elif defined(VIA_CALLOC)
static void *calloc_one(size_t size) { return calloc(1, size); }
#define ALLOCATE calloc_one
#define RELEASE free
#else
#define ALLOCATE malloc
#define RELEASE free
#endif

enum { MAX_BATCH = 1024 };

int main(int argc, char **argv) {
  long pairs = argc > 1 ? atol(argv[1]) : 0;
  void *(*volatile allocate)(size_t) = ALLOCATE;
  void (*volatile release)(void *) = RELEASE;
  if (argc <= 2) {
    for (long i = 0; i < pairs; i++) release(allocate(32));
    return 0;
  }
  size_t size = (size_t)atol(argv[2]);
  long batch = argc > 3 ? atol(argv[3]) : 1;
  if (batch < 1 || batch > MAX_BATCH || pairs % batch != 0) return 2;
  static void *held[MAX_BATCH];
  for (long done = 0; done < pairs; done += batch) {
    for (long i = 0; i < batch; i++) held[i] = allocate(size);
    for (long i = 0; i < batch; i++) release(held[i]);
  }
  return 0;
}
