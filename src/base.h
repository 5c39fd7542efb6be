/* base.h — leaf utilities every heapscope layer may use: compiler hints, a
 * futex lock that never allocates, atomics shorthands, and async-signal-safe
 * messages to stderr.  Depends on nothing else in src/.  See docs/design.md
 * for the overview of the allocator. */
#ifndef HS_BASE_H
#define HS_BASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HS_LIKELY(x)   __builtin_expect(!!(x), 1)
#define HS_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HS_INLINE      static inline __attribute__((always_inline))
#define HS_NOINLINE    __attribute__((noinline))
#define HS_COLD        __attribute__((cold))
#define HS_EXPORT      __attribute__((visibility("default")))
#define HS_CACHELINE   64
#define HS_MIN(a, b)   ((a) < (b) ? (a) : (b))
#define HS_MAX(a, b)   ((a) > (b) ? (a) : (b))

/* All heap objects are at least this aligned (max_align_t on x86-64). */
#define HS_MIN_ALIGN 16

/* ---- Lock: 0 free, 1 held, 2 held with waiters (a futex mutex). ---- */
typedef struct hs_lock {
  _Atomic int state;
} hs_lock_t;

void hs_lock_wait(hs_lock_t *lock);   /* slow path of hs_lock */
void hs_lock_wake(hs_lock_t *lock);   /* slow path of hs_unlock */

HS_INLINE void hs_lock(hs_lock_t *lock) {
  int expected = 0;
  if (HS_LIKELY(atomic_compare_exchange_strong_explicit(
          &lock->state, &expected, 1, memory_order_acquire, memory_order_relaxed)))
    return;
  hs_lock_wait(lock);
}

/* Takes the lock if it is free; never waits.  True if taken. */
HS_INLINE bool hs_trylock(hs_lock_t *lock) {
  int expected = 0;
  return atomic_compare_exchange_strong_explicit(&lock->state, &expected, 1, memory_order_acquire,
                                                 memory_order_relaxed);
}

HS_INLINE void hs_unlock(hs_lock_t *lock) {
  if (HS_UNLIKELY(atomic_exchange_explicit(&lock->state, 0, memory_order_release) == 2))
    hs_lock_wake(lock);
}

/* For fork: the child's copy of a lock held by the parent at fork time. */
HS_INLINE void hs_lock_reset(hs_lock_t *lock) {
  atomic_store_explicit(&lock->state, 0, memory_order_relaxed);
}

#define hs_relaxed_load(p)     atomic_load_explicit((p), memory_order_relaxed)
#define hs_relaxed_store(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define hs_relaxed_add(p, v)   atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define hs_relaxed_sub(p, v)   atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)

/* ---- Free tags ----
 * While a small object is free its second word holds hs_free_key (drawn at
 * start-up by malloc.c, before the first object exists; never 0, which
 * fresh pages hold); see malloc.c for who sets, clears and checks it. */
extern uintptr_t hs_free_key __attribute__((visibility("hidden")));
HS_INLINE bool hs_free_tag_set(const void *object) {
  return ((const uintptr_t *)object)[1] == hs_free_key;
}
HS_INLINE void hs_free_tag_mark(void *object) { ((uintptr_t *)object)[1] = hs_free_key; }
HS_INLINE void hs_free_tag_clear(void *object) { ((uintptr_t *)object)[1] = 0; }

/* Whether `object` is on a free list (objects linked through their first
 * word) at `head`, looking at no more than `count` of them. */
HS_INLINE bool hs_list_holds(const void *head, uint32_t count, const void *object) {
  for (; head && count > 0; head = *(void *const *)head, count--)
    if (head == object) return true;
  return false;
}

/* ---- Messages: written with write(2), never with stdio or malloc. ---- */
/* A fixed buffer that formats strings and numbers without allocating. */
typedef struct hs_buf {
  char *data;
  size_t len, cap;
} hs_buf_t;

void hs_buf_str(hs_buf_t *b, const char *s);
void hs_buf_u64(hs_buf_t *b, uint64_t v);
void hs_buf_hex(hs_buf_t *b, uint64_t v); /* "0x1f", like printf's %p */
void hs_buf_bytes(hs_buf_t *b, uint64_t v); /* "12.3 MiB" */
void hs_write_all(int fd, const char *data, size_t len);

/* Prints "heapscope: CALL(): WHAT 0xPTR" on stderr and aborts. */
__attribute__((noreturn)) HS_COLD void hs_fatal_pointer(const char *call, const char *what,
                                                        const void *ptr);
/* Prints "heapscope: MESSAGE" on stderr. */
void hs_warn(const char *message);

#endif /* HS_BASE_H */
