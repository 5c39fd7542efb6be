/* pool.c — object pools (hs_pool_*): same-size objects kept for reuse
 * after hs_pool_put, handed out again by hs_pool_get, so that a hot path
 * that builds and drops the same kind of object stops allocating.
 *
 * The rules: every object hs_pool_get returns is in the state the pool's
 * reset function gives it (all zero without one), whether it is new or
 * reused; a pool keeps at most max_retained_bytes of objects and frees the
 * rest; an object put twice, or one too small to have come from the pool,
 * aborts naming the pointer.  A retained object holds the pool's link in
 * its first word and the pool's tag in its second (so objects are at least
 * 16 bytes); hs_pool_get clears both before the reset.  Objects are
 * ordinary heap objects: free() takes them too, and retained ones count as
 * live in hs_stats.  One lock per pool.
 * May call: the public allocator (hs_malloc, hs_free), base. */
#include <errno.h>
#include <string.h>

#include "heapscope.h"
#include "base.h"

#define POOL_MIN_OBJECT_BYTES 16

struct hs_pool {
  hs_lock_t lock;
  void *retained;          /* linked through each object's first word */
  size_t retained_count;   /* guarded by lock */
  size_t max_retained;     /* objects */
  size_t object_bytes;     /* what each object is allocated with */
  size_t reset_bytes;      /* what a reset without a function zeroes */
  void (*reset)(void *object);
  uintptr_t tag;           /* a retained object's second word */
  uint64_t gets, hits, puts, drops; /* guarded by lock */
};

HS_EXPORT hs_pool_t *hs_pool_create(size_t object_size, size_t max_retained_bytes,
                                    void (*reset)(void *object)) {
  if (object_size == 0 || object_size > PTRDIFF_MAX / 2) {
    errno = EINVAL;
    return NULL;
  }
  hs_pool_t *pool = hs_calloc(1, sizeof *pool);
  if (!pool) return NULL;
  pool->object_bytes = HS_MAX(object_size, POOL_MIN_OBJECT_BYTES);
  pool->reset_bytes = object_size;
  pool->max_retained = max_retained_bytes / pool->object_bytes;
  pool->reset = reset;
  pool->tag = (uintptr_t)pool ^ (uintptr_t)0x9e3779b97f4a7c15ull;
  return pool;
}

HS_EXPORT void *hs_pool_get(hs_pool_t *pool) {
  hs_lock(&pool->lock);
  void **object = pool->retained;
  pool->gets++;
  if (object) {
    pool->retained = object[0];
    pool->retained_count--;
    pool->hits++;
  }
  hs_unlock(&pool->lock);
  if (object) {
    object[0] = object[1] = NULL;
    if (!pool->reset) memset(object, 0, pool->reset_bytes);
  } else {
    object = hs_calloc(1, pool->object_bytes);
    if (!object) return NULL;
  }
  if (pool->reset) pool->reset(object);
  return object;
}

HS_EXPORT void hs_pool_put(hs_pool_t *pool, void *object) {
  if (!object) return;
  if (HS_UNLIKELY(hs_malloc_usable_size(object) < pool->object_bytes))
    hs_fatal_pointer("hs_pool_put", "object smaller than the pool's", object);
  void **words = object;
  if (HS_UNLIKELY((uintptr_t)words[1] == pool->tag))
    hs_fatal_pointer("hs_pool_put", "object already in the pool", object);
  hs_lock(&pool->lock);
  pool->puts++;
  if (pool->retained_count < pool->max_retained) {
    words[0] = pool->retained;
    words[1] = (void *)pool->tag;
    pool->retained = object;
    pool->retained_count++;
    object = NULL;
  } else {
    pool->drops++;
  }
  hs_unlock(&pool->lock);
  hs_free(object); /* past the cap */
}

HS_EXPORT void hs_pool_stats(hs_pool_t *pool, hs_pool_stats_t *out) {
  hs_lock(&pool->lock);
  *out = (hs_pool_stats_t){
      .gets = pool->gets,
      .hits = pool->hits,
      .puts = pool->puts,
      .drops = pool->drops,
      .retained_objects = pool->retained_count,
      .retained_bytes = pool->retained_count * pool->object_bytes,
  };
  hs_unlock(&pool->lock);
}

HS_EXPORT void hs_pool_destroy(hs_pool_t *pool) {
  if (!pool) return;
  for (void **object = pool->retained, **next; object; object = next) {
    next = object[0];
    hs_free(object);
  }
  hs_free(pool);
}
