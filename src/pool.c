/* pool.c — object pools (hs_pool_*): same-size objects kept for reuse
 * after hs_pool_put, handed out again by hs_pool_get, so that a hot path
 * that builds and drops the same kind of object stops allocating.
 *
 * The rules: every object hs_pool_get returns is in the state the pool's
 * reset function gives it (all zero without one), whether it is new or
 * reused; a pool keeps at most max_retained_bytes of objects and frees the
 * rest; an object put twice, or one too small to have come from the pool
 * (by its page's size class, the lookup free's fast path makes), aborts
 * naming the pointer.  A retained object holds its list's link in
 * its first word and the pool's tag in its second (so objects are at least
 * 16 bytes); hs_pool_get clears both before the reset.  Objects are
 * ordinary heap objects: free() takes them too, and retained ones count as
 * live in hs_stats.
 *
 * Where retained objects are: on the pool's shared list (guarded by the
 * pool's lock), or in a thread's magazine for the pool.  Each thread has
 * POOL_MAGAZINES magazines, one per pool id modulo POOL_MAGAZINES, reached
 * from an initial-exec TLS pointer (a pool whose magazine another live pool
 * holds uses the shared list until POOL_TAKEOVER_MISSES such calls); a get or put that finds its pool's
 * magazine with an object (or room) takes no lock and makes no atomic
 * read-modify-write, as the thread cache's malloc and free do not.  A
 * magazine holds at most `quota` objects, granted by its pool under the
 * pool's lock, and the pool counts the quotas it granted as retained:
 * shared objects + granted quotas <= the cap, so objects in magazines never
 * take a pool past it.  A put past its magazine's quota asks for more
 * (up to magazine_max), then goes to the shared list, then is freed.  A get
 * that finds its magazine empty takes from the shared list and moves up to
 * half a magazine in with it; the magazine's quota becomes what it then
 * holds, so quota a thread reserved and emptied goes back to the pool.
 *
 * A magazine is given back (its objects to the shared list, its quota and
 * counters to the pool) when its thread takes it for another pool, and
 * when the thread exits.  hs_pool_destroy frees the shared list and the
 * calling thread's magazine; another thread's magazine for a destroyed pool
 * is marked (its `pool` cleared) and its objects are freed when that thread
 * next needs the slot or exits.  Ids are never reused, so a magazine
 * cannot be taken for a new pool at a freed pool's address.
 *
 * Locks: registry_lock (the list of threads' records, each magazine's
 * pool_id and pool) is taken before a pool's lock.  hs_pool_stats sums the
 * pool's counters and the magazines of every registered thread under both;
 * a magazine's count and counters are written by its thread alone, as
 * relaxed atomics with plain stores.  Neither lock is held across a call
 * into the allocator (metadata_alloc included), and the fork child handler
 * makes none, so pool.c's fork handlers work whichever of them and the
 * allocator's run first.  Fork takes registry_lock and every pool's lock
 * (the registry lists the pools too).  A forked child gives back the
 * magazines of the threads it does not have, as their exits would; a
 * destroyed pool's objects in them stay allocated.
 * May call: the public allocator (hs_malloc, hs_free), metadata, pagemap and
 * size_class (lookups only), base. */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "heapscope.h"
#include "base.h"
#include "metadata.h"
#include "pagemap.h"
#include "size_class.h"

#define POOL_MIN_OBJECT_BYTES 16
/* Per thread: magazines, one per pool id modulo this (a power of two);
 * ids are consecutive, so a thread's first 16 pools never share one. */
#define POOL_MAGAZINES 16
/* A pool whose magazine another live pool holds takes it over only after
 * this many of its calls went to the shared list meanwhile: two pools
 * used in turn then trade the magazine every so often, not every call. */
#define POOL_TAKEOVER_MISSES 64
/* A magazine's quota: at most this many objects and (but at least one)
 * this many bytes, as a thread cache's bin. */
#define POOL_MAGAZINE_MAX_OBJECTS 16
#define POOL_MAGAZINE_MAX_BYTES ((size_t)16 << 10)

struct hs_pool {
  hs_lock_t lock;
  uint64_t id;             /* unique for the process's life; never 0 */
  void *retained;          /* the shared list, via each object's first word */
  size_t retained_count;   /* guarded by lock: objects on the shared list */
  size_t granted;          /* guarded by lock: quotas of magazines */
  size_t max_retained;     /* objects */
  uint32_t magazine_max;   /* the quota a magazine asks for */
  size_t object_bytes;     /* what each object is allocated with */
  size_t reset_bytes;      /* what a reset without a function zeroes */
  void (*reset)(void *object);
  uintptr_t tag;           /* a retained object's second word */
  /* Guarded by lock; magazines' counts are added when they are given back. */
  uint64_t gets, hits, puts, drops;
  struct hs_pool *list_next, *list_prev; /* registry_lock: every pool, for fork */
};

typedef struct pool_magazine {
  uint64_t pool_id;        /* 0: none; written under registry_lock */
  hs_pool_t *_Atomic pool; /* NULL once destroyed; written under registry_lock */
  void *head;              /* objects, via their first words; its thread */
  _Atomic uint32_t count;  /* objects on head; written by its thread */
  uint32_t quota;          /* granted by the pool; its thread */
  uint32_t foreign_misses; /* other pools' calls since taken; its thread */
  _Atomic uint64_t gets, puts; /* since taken (every get a hit); its thread */
} __attribute__((aligned(64))) pool_magazine_t; /* a shift finds a thread's n-th */

typedef struct pool_thread {
  pool_magazine_t magazines[POOL_MAGAZINES];
  struct pool_thread *next, *prev; /* registry_lock; next: also spares */
} pool_thread_t;

static hs_lock_t registry_lock;
static pool_thread_t *registry_head;  /* registry_lock */
static pool_thread_t *spare_records;  /* registry_lock: of exited threads */
static hs_pool_t *pool_list;          /* registry_lock */
static _Atomic uint64_t next_pool_id = 1;
static pthread_key_t exit_key;
static pthread_once_t global_init_once = PTHREAD_ONCE_INIT;
static bool exit_key_ready;
static _Thread_local pool_thread_t *tls_pool_thread __attribute__((tls_model("initial-exec")));

/* A relaxed atomic written by one thread only: a plain load and store. */
#define OWNER_ADD(field, v) \
  atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (v), \
                        memory_order_relaxed)

static void free_list(void *list) {
  for (void **object = list, **next; object; object = next) {
    next = object[0];
    hs_free(object);
  }
}

/* Empties `m` (pre: registry_lock held by its thread): its objects, quota
 * and counters go back to its pool, or, the pool destroyed, its objects
 * are returned to the caller to free once no lock is held. */
static void *magazine_give_back_locked(pool_magazine_t *m) {
  void *orphans = NULL;
  hs_pool_t *pool = atomic_load_explicit(&m->pool, memory_order_relaxed);
  if (pool) {
    hs_lock(&pool->lock);
    void **last = NULL;
    for (void **object = m->head; object; object = object[0]) last = object;
    if (last) {
      last[0] = pool->retained;
      pool->retained = m->head;
    }
    pool->retained_count += atomic_load_explicit(&m->count, memory_order_relaxed);
    pool->granted -= m->quota;
    pool->gets += atomic_load_explicit(&m->gets, memory_order_relaxed);
    pool->hits += atomic_load_explicit(&m->gets, memory_order_relaxed);
    pool->puts += atomic_load_explicit(&m->puts, memory_order_relaxed);
    hs_unlock(&pool->lock);
  } else {
    orphans = m->head;
  }
  m->pool_id = 0;
  atomic_store_explicit(&m->pool, NULL, memory_order_relaxed);
  m->head = NULL;
  m->quota = 0;
  m->foreign_misses = 0;
  atomic_store_explicit(&m->count, 0, memory_order_relaxed);
  atomic_store_explicit(&m->gets, 0, memory_order_relaxed);
  atomic_store_explicit(&m->puts, 0, memory_order_relaxed);
  return orphans;
}

static void thread_exit(void *record) {
  pool_thread_t *t = record;
  void *orphans[POOL_MAGAZINES];
  hs_lock(&registry_lock);
  for (int i = 0; i < POOL_MAGAZINES; i++) orphans[i] = magazine_give_back_locked(&t->magazines[i]);
  if (t->prev) t->prev->next = t->next;
  else registry_head = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = NULL;
  t->next = spare_records;
  spare_records = t;
  hs_unlock(&registry_lock);
  tls_pool_thread = NULL;
  for (int i = 0; i < POOL_MAGAZINES; i++) free_list(orphans[i]);
}

/* Fork takes every pool's lock (after registry_lock), so that the child
 * never inherits one a thread it does not have was holding. */
static void fork_prepare(void) {
  hs_lock(&registry_lock);
  for (hs_pool_t *pool = pool_list; pool; pool = pool->list_next) hs_lock(&pool->lock);
}

static void fork_parent(void) {
  for (hs_pool_t *pool = pool_list; pool; pool = pool->list_next) hs_unlock(&pool->lock);
  hs_unlock(&registry_lock);
}

/* The child has only the forking thread: the others' magazines are given
 * back (their objects to their pools' shared lists) and their records
 * become spares.  No pool lock was held at the fork, so quotas are whole; a
 * count may be one off a list its thread was changing without a lock, so
 * each list is counted again.  Objects a destroyed pool left in those
 * magazines stay allocated: this handler may run before the allocator's
 * own (a pool made in a constructor that ran before heapscope's), so it
 * calls nothing that allocates or frees. */
static void fork_child(void) {
  for (hs_pool_t *pool = pool_list; pool; pool = pool->list_next) hs_lock_reset(&pool->lock);
  hs_lock_reset(&registry_lock);
  pool_thread_t *mine = tls_pool_thread, *others = registry_head, *next;
  registry_head = mine;
  for (pool_thread_t *t = others; t; t = next) {
    next = t->next;
    if (t == mine) continue;
    for (int i = 0; i < POOL_MAGAZINES; i++) {
      pool_magazine_t *m = &t->magazines[i];
      uint32_t count = 0;
      for (void **object = m->head; object; object = object[0]) count++;
      atomic_store_explicit(&m->count, count, memory_order_relaxed);
      magazine_give_back_locked(m); /* a destroyed pool's objects: left */
    }
    t->prev = NULL;
    t->next = spare_records;
    spare_records = t;
  }
  if (mine) mine->next = mine->prev = NULL;
}

/* Once, at the first pool: the fork handlers, and the key whose
 * destructor gives a thread's magazines back when it exits. */
static void pool_global_init(void) {
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  exit_key_ready = pthread_key_create(&exit_key, thread_exit) == 0;
}

/* The calling thread's record, registered on first use; NULL if it cannot
 * be (the pool then works through its shared list alone). */
static pool_thread_t *thread_record(void) {
  pool_thread_t *t = tls_pool_thread;
  if (HS_LIKELY(t != NULL)) return t;
  pthread_once(&global_init_once, pool_global_init);
  if (!exit_key_ready) return NULL;
  hs_lock(&registry_lock);
  t = spare_records;
  if (t) spare_records = t->next;
  hs_unlock(&registry_lock);
  if (!t) t = metadata_alloc(sizeof *t); /* with no lock of pool.c held */
  if (!t) return NULL;
  memset(t, 0, sizeof *t);
  hs_lock(&registry_lock);
  t->next = registry_head;
  if (registry_head) registry_head->prev = t;
  registry_head = t;
  hs_unlock(&registry_lock);
  tls_pool_thread = t;
  pthread_setspecific(exit_key, t);
  return t;
}

/* Grows `m`'s quota toward the pool's magazine_max as far as the cap
 * allows.  pre: pool->lock held. */
static void grant_quota_locked(hs_pool_t *pool, pool_magazine_t *m) {
  size_t room = pool->max_retained - pool->retained_count - pool->granted;
  size_t grant = HS_MIN(room, (size_t)(pool->magazine_max - m->quota));
  m->quota += (uint32_t)grant;
  pool->granted += grant;
}

/* The calling thread's magazine for `pool`, taken for it (the slot's
 * previous pool's given back) if the slot is free, its pool destroyed, or
 * POOL_TAKEOVER_MISSES calls of other pools came by since it was taken;
 * NULL otherwise, or without a thread record (the call then uses the shared
 * list alone).  The caller grows the quota under the pool's lock. */
static pool_magazine_t *magazine_for(hs_pool_t *pool) {
  pool_thread_t *t = thread_record();
  if (!t) return NULL;
  pool_magazine_t *m = &t->magazines[pool->id & (POOL_MAGAZINES - 1)];
  if (m->pool_id == pool->id) return m;
  if (m->pool_id != 0 && atomic_load_explicit(&m->pool, memory_order_relaxed) != NULL &&
      ++m->foreign_misses < POOL_TAKEOVER_MISSES)
    return NULL;
  hs_lock(&registry_lock);
  void *orphans = magazine_give_back_locked(m);
  m->pool_id = pool->id;
  atomic_store_explicit(&m->pool, pool, memory_order_relaxed);
  hs_unlock(&registry_lock);
  free_list(orphans);
  return m;
}

HS_EXPORT hs_pool_t *hs_pool_create(size_t object_size, size_t max_retained_bytes,
                                    void (*reset)(void *object)) {
  if (object_size == 0 || object_size > PTRDIFF_MAX / 2) {
    errno = EINVAL;
    return NULL;
  }
  hs_pool_t *pool = hs_calloc(1, sizeof *pool);
  if (!pool) return NULL;
  pool->id = hs_relaxed_add(&next_pool_id, 1);
  pool->object_bytes = HS_MAX(object_size, POOL_MIN_OBJECT_BYTES);
  pool->reset_bytes = object_size;
  pool->max_retained = max_retained_bytes / pool->object_bytes;
  pool->magazine_max = (uint32_t)HS_MAX((size_t)1, HS_MIN((size_t)POOL_MAGAZINE_MAX_OBJECTS,
                                                          POOL_MAGAZINE_MAX_BYTES / pool->object_bytes));
  pool->reset = reset;
  pool->tag = (uintptr_t)pool ^ (uintptr_t)0x9e3779b97f4a7c15ull;
  pthread_once(&global_init_once, pool_global_init);
  hs_lock(&registry_lock);
  pool->list_next = pool_list;
  if (pool_list) pool_list->list_prev = pool;
  pool_list = pool;
  hs_unlock(&registry_lock);
  return pool;
}

/* A get whose magazine was empty (or missing): one object from the shared
 * list, and up to half a magazine more moved into the magazine.  The
 * magazine's quota becomes what it then holds: quota a thread reserved by
 * putting and has not refilled since (its objects went out to its caller)
 * goes back to the pool here, so a thread that stops using the pool keeps
 * room in its cap only for objects it took out. */
static void **get_shared(hs_pool_t *pool, pool_magazine_t *m) {
  hs_lock(&pool->lock);
  pool->gets++;
  void **object = pool->retained;
  if (object) {
    pool->retained = object[0];
    pool->retained_count--;
    pool->hits++;
  }
  if (m) { /* pre: m is empty */
    uint32_t moved = 0;
    for (; moved < pool->magazine_max / 2 && pool->retained; moved++) {
      void **next = pool->retained;
      pool->retained = next[0];
      next[0] = m->head;
      m->head = next;
    }
    pool->retained_count -= moved;
    pool->granted = pool->granted - m->quota + moved;
    m->quota = moved;
    atomic_store_explicit(&m->count, moved, memory_order_relaxed);
  }
  hs_unlock(&pool->lock);
  return object;
}

HS_EXPORT void *hs_pool_get(hs_pool_t *pool) {
  pool_thread_t *t = tls_pool_thread;
  pool_magazine_t *m = t ? &t->magazines[pool->id & (POOL_MAGAZINES - 1)] : NULL;
  void **object;
  if (HS_LIKELY(m && m->pool_id == pool->id && m->head)) {
    object = m->head;
    m->head = object[0];
    OWNER_ADD(m->count, -1);
    OWNER_ADD(m->gets, 1);
  } else {
    object = get_shared(pool, magazine_for(pool));
  }
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

/* A put past its magazine's quota: the quota grown if the cap allows, then
 * the magazine, the shared list, or (at the cap) free. */
static void put_shared(hs_pool_t *pool, pool_magazine_t *m, void **object) {
  hs_lock(&pool->lock);
  if (m) grant_quota_locked(pool, m);
  if (m && atomic_load_explicit(&m->count, memory_order_relaxed) < m->quota) {
    object[0] = m->head;
    object[1] = (void *)pool->tag;
    m->head = object;
    OWNER_ADD(m->count, 1);
    object = NULL;
  } else if (pool->retained_count + pool->granted < pool->max_retained) {
    object[0] = pool->retained;
    object[1] = (void *)pool->tag;
    pool->retained = object;
    pool->retained_count++;
    object = NULL;
  } else {
    pool->drops++;
  }
  pool->puts++;
  hs_unlock(&pool->lock);
  hs_free(object); /* past the cap */
}

/* Whether `object` has room for the pool's objects: a small one by its
 * page's class (free's fast-path lookup), any other by
 * hs_malloc_usable_size, which aborts on a pointer that is no object; a
 * pointer no allocation returns (misaligned) aborts here. */
static bool has_room(const hs_pool_t *pool, const void *object) {
  if (HS_UNLIKELY(((uintptr_t)object & (HS_MIN_ALIGN - 1)) != 0))
    hs_fatal_pointer("hs_pool_put", "invalid pointer", object);
  uintptr_t size_class;
  if (HS_LIKELY(pagemap_class_of((uintptr_t)object, &size_class) && size_class != 0))
    return size_class_bytes[size_class] >= pool->object_bytes;
  return hs_malloc_usable_size(object) >= pool->object_bytes;
}

HS_EXPORT void hs_pool_put(hs_pool_t *pool, void *object) {
  if (!object) return;
  if (HS_UNLIKELY(!has_room(pool, object)))
    hs_fatal_pointer("hs_pool_put", "object smaller than the pool's", object);
  void **words = object;
  if (HS_UNLIKELY((uintptr_t)words[1] == pool->tag))
    hs_fatal_pointer("hs_pool_put", "object already in the pool", object);
  pool_thread_t *t = tls_pool_thread;
  pool_magazine_t *m = t ? &t->magazines[pool->id & (POOL_MAGAZINES - 1)] : NULL;
  if (HS_LIKELY(m && m->pool_id == pool->id &&
                atomic_load_explicit(&m->count, memory_order_relaxed) < m->quota)) {
    words[0] = m->head;
    words[1] = (void *)pool->tag;
    m->head = words;
    OWNER_ADD(m->count, 1);
    OWNER_ADD(m->puts, 1);
    return;
  }
  put_shared(pool, magazine_for(pool), words);
}

HS_EXPORT void hs_pool_stats(hs_pool_t *pool, hs_pool_stats_t *out) {
  hs_lock(&registry_lock);
  hs_lock(&pool->lock);
  *out = (hs_pool_stats_t){
      .gets = pool->gets,
      .hits = pool->hits,
      .puts = pool->puts,
      .drops = pool->drops,
      .retained_objects = pool->retained_count,
  };
  for (pool_thread_t *t = registry_head; t; t = t->next) {
    pool_magazine_t *m = &t->magazines[pool->id & (POOL_MAGAZINES - 1)];
    if (m->pool_id != pool->id) continue;
    out->gets += atomic_load_explicit(&m->gets, memory_order_relaxed);
    out->hits += atomic_load_explicit(&m->gets, memory_order_relaxed);
    out->puts += atomic_load_explicit(&m->puts, memory_order_relaxed);
    out->retained_objects += atomic_load_explicit(&m->count, memory_order_relaxed);
  }
  out->retained_bytes = out->retained_objects * pool->object_bytes;
  hs_unlock(&pool->lock);
  hs_unlock(&registry_lock);
}

HS_EXPORT void hs_pool_destroy(hs_pool_t *pool) {
  if (!pool) return;
  void *mine = NULL;
  hs_lock(&registry_lock);
  if (pool->list_prev) pool->list_prev->list_next = pool->list_next;
  else pool_list = pool->list_next;
  if (pool->list_next) pool->list_next->list_prev = pool->list_prev;
  for (pool_thread_t *t = registry_head; t; t = t->next) {
    pool_magazine_t *m = &t->magazines[pool->id & (POOL_MAGAZINES - 1)];
    if (m->pool_id != pool->id) continue;
    atomic_store_explicit(&m->pool, NULL, memory_order_relaxed);
    if (t == tls_pool_thread) mine = magazine_give_back_locked(m);
    /* else its thread frees its objects */
  }
  hs_unlock(&registry_lock);
  free_list(mine);
  free_list(pool->retained);
  hs_free(pool);
}
