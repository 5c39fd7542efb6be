/* arena.c — arenas (hs_arena_*): many objects allocated by bumping a
 * pointer through chunks and freed together by hs_arena_reset, for work
 * whose objects all die at one moment (a request, a parse, a frame).
 *
 * The rules: hs_arena_reset ends every object the arena gave out (their
 * memory is reused by the next allocations); it keeps at most
 * max_retained_bytes of chunks for that and frees the others, so one big
 * request does not pin its peak for the arena's life.  Objects are 16-byte
 * aligned.  A request larger than a quarter of a chunk gets a chunk of its
 * own, freed at the next reset.  An arena is used by one thread at a time
 * (no lock).  Chunks are ordinary heap objects, so hs_stats counts them and
 * the profiler samples them where a chunk was needed.
 * May call: the public allocator (hs_malloc, hs_free), base. */
#include <errno.h>
#include <string.h>

#include "heapscope.h"
#include "base.h"

#define ARENA_ALIGN 16
#define ARENA_MIN_CHUNK_BYTES 256

typedef struct arena_chunk {
  struct arena_chunk *next;
  size_t capacity; /* bytes of data */
  size_t used;
  _Alignas(ARENA_ALIGN) unsigned char data[];
} arena_chunk_t;

struct hs_arena {
  arena_chunk_t *current; /* bumped; NULL until the first allocation */
  arena_chunk_t *full;    /* the others in use, and own-chunk objects */
  arena_chunk_t *spare;   /* kept by the last reset, empty */
  size_t chunk_bytes;     /* data bytes of a standard chunk */
  size_t max_retained_bytes;
  size_t spare_bytes;
  uint64_t allocated_bytes; /* since the last reset, rounded */
  uint64_t held_bytes;      /* every chunk: in use and spare */
  uint64_t resets;
};

HS_EXPORT hs_arena_t *hs_arena_create(size_t chunk_bytes, size_t max_retained_bytes) {
  if (chunk_bytes > PTRDIFF_MAX / 2) {
    errno = EINVAL;
    return NULL;
  }
  hs_arena_t *arena = hs_calloc(1, sizeof *arena);
  if (!arena) return NULL;
  chunk_bytes = HS_MAX(chunk_bytes ? chunk_bytes : 64 << 10, ARENA_MIN_CHUNK_BYTES);
  arena->chunk_bytes = (chunk_bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  arena->max_retained_bytes = max_retained_bytes;
  return arena;
}

static arena_chunk_t *new_chunk(hs_arena_t *arena, size_t capacity) {
  arena_chunk_t *chunk = hs_malloc(sizeof *chunk + capacity);
  if (!chunk) return NULL;
  chunk->capacity = capacity;
  chunk->used = 0;
  arena->held_bytes += sizeof *chunk + capacity;
  return chunk;
}

HS_EXPORT void *hs_arena_alloc(hs_arena_t *arena, size_t size) {
  if (size > PTRDIFF_MAX / 2) {
    errno = ENOMEM;
    return NULL;
  }
  size_t rounded = size ? (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1) : ARENA_ALIGN;
  arena_chunk_t *chunk = arena->current;
  if (!chunk || chunk->capacity - chunk->used < rounded) {
    if (rounded > arena->chunk_bytes / 4) { /* a chunk of its own */
      chunk = new_chunk(arena, rounded);
      if (!chunk) return NULL;
      chunk->used = rounded;
      chunk->next = arena->full;
      arena->full = chunk;
      arena->allocated_bytes += rounded;
      return chunk->data;
    }
    if (arena->spare) {
      chunk = arena->spare;
      arena->spare = chunk->next;
      arena->spare_bytes -= sizeof *chunk + chunk->capacity;
    } else {
      chunk = new_chunk(arena, arena->chunk_bytes);
      if (!chunk) return NULL;
    }
    if (arena->current) {
      arena->current->next = arena->full;
      arena->full = arena->current;
    }
    chunk->next = NULL;
    arena->current = chunk;
  }
  void *object = chunk->data + chunk->used;
  chunk->used += rounded;
  arena->allocated_bytes += rounded;
  return object;
}

HS_EXPORT void hs_arena_reset(hs_arena_t *arena) {
  if (arena->current) {
    arena->current->next = arena->full;
    arena->full = arena->current;
    arena->current = NULL;
  }
  for (arena_chunk_t *chunk = arena->full, *next; chunk; chunk = next) {
    next = chunk->next;
    size_t bytes = sizeof *chunk + chunk->capacity;
    if (chunk->capacity == arena->chunk_bytes &&
        arena->spare_bytes + bytes <= arena->max_retained_bytes) {
      chunk->used = 0;
      chunk->next = arena->spare;
      arena->spare = chunk;
      arena->spare_bytes += bytes;
    } else {
      arena->held_bytes -= bytes;
      hs_free(chunk);
    }
  }
  arena->full = NULL;
  arena->allocated_bytes = 0;
  arena->resets++;
}

HS_EXPORT void hs_arena_stats(const hs_arena_t *arena, hs_arena_stats_t *out) {
  *out = (hs_arena_stats_t){
      .allocated_bytes = arena->allocated_bytes,
      .held_bytes = arena->held_bytes,
      .retained_bytes = arena->spare_bytes,
      .resets = arena->resets,
  };
}

HS_EXPORT void hs_arena_destroy(hs_arena_t *arena) {
  if (!arena) return;
  arena->max_retained_bytes = 0;
  hs_arena_reset(arena);
  for (arena_chunk_t *chunk = arena->spare, *next; chunk; chunk = next) {
    next = chunk->next;
    hs_free(chunk);
  }
  hs_free(arena);
}
