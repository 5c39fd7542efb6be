/* own_malloc.c — a program with a malloc of its own (a bump allocator over
 * a static pool, each block after a header holding its size), as programs
 * that bring their own allocator have: every call the loader binds by the
 * name malloc comes here, not to a preloaded heapscope.  For run_test.sh. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static _Alignas(16) unsigned char pool[8 << 20];
static size_t pool_used;

void *malloc(size_t size) {
  size_t need = (size + 16 + 15) & ~(size_t)15;
  if (size > sizeof pool || need > sizeof pool - pool_used) return NULL;
  unsigned char *block = pool + pool_used;
  pool_used += need;
  memcpy(block, &size, sizeof size);
  return block + 16;
}

void free(void *p) { (void)p; }

void *calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  void *p = malloc(count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

void *realloc(void *old, size_t size) {
  void *p = malloc(size);
  if (p && old) {
    size_t old_size;
    memcpy(&old_size, (unsigned char *)old - 16, sizeof old_size);
    memcpy(p, old, old_size < size ? old_size : size);
  }
  return p;
}

int main(void) {
  char *text = malloc(64);
  snprintf(text, 64, "own malloc served %zu bytes", pool_used);
  puts(text);
  return 0;
}
