/* central.c — per-size-class central free lists, and the hand-over of
 * spans to the threads that own them.
 *
 * central_claim gives a thread cache a span of its own: one from the
 * class's nonempty list (spans nobody owns that have free objects), else a
 * new span from the page heap.  The owner allocates from it and frees into
 * it without this lock, and hands it back with central_disown or, empty,
 * central_release_owned.  central_remove_range serves a thread with no
 * cache: from the transfer cache, then unowned spans.  central_insert_range
 * takes objects freed by threads that do not own their spans: into the
 * transfer cache (a stack of loose objects any thread's refill may take)
 * when they fit, otherwise each goes back to its span (found through the
 * page map, validated): onto the free list of an unowned span, which
 * returns to the page heap once all its objects are back, or onto the
 * remote list of an owned one, which is put on its owner's pending list.
 * central_drain_idle (the scavenger) empties transfer caches nobody has
 * used since its last pass.
 *
 * Guarded by central[c].lock, one per class, each on its own cache lines;
 * it also guards owned spans' remote lists, their owners' pending lists,
 * and the class's list of owned spans (statistics sum their free objects).
 * May call: pageheap, pagemap, size_class, base. */
#include "central.h"

#include <string.h>

#include "base.h"
#include "pageheap.h"
#include "pagemap.h"

/* Transfer cache capacity: up to this many batches, at most this many
 * bytes (but at least one batch), at most the slot count. */
#define CENTRAL_TRANSFER_BATCHES 128
#define CENTRAL_TRANSFER_MAX_BYTES ((uint32_t)1 << 20)
#define CENTRAL_TRANSFER_SLOTS 4096

typedef struct central {
  hs_lock_t lock;
  uint32_t transfer_count;          /* objects in the class's transfer slots */
  uint32_t transfer_capacity;       /* 0 until the class is first used */
  uint32_t touched;                 /* used since the last central_drain_idle */
  span_t *nonempty;                 /* spans with free objects, via next/prev */
  span_t *owned;                    /* spans threads own (for statistics), via
                                       owned_next/owned_prev */
  uint64_t span_count;
  uint64_t span_objects;
  uint64_t objects_out;             /* slots out of the class's hands: each
                                       unowned span's allocated_count and
                                       every slot of an owned span */
  uint64_t remote_objects;          /* on owned spans' remote lists */
} __attribute__((aligned(HS_CACHELINE))) central_t;
/* Heads, not sentinel span records, keep a class's record to one line (it
 * was 512 bytes with two sentinels): the classes a program uses touch one
 * page or two of records, not up to ten. */
_Static_assert(sizeof(central_t) == HS_CACHELINE, "a class record is one cache line");

/* The class records lie together, 5 KiB for all classes; each class's
 * transfer slots are apart from them and filled from the first, so a class
 * costs resident memory only for the slots it has used (a record beside its
 * slots put every class used on a page of its own).  A class's first
 * CENTRAL_TRANSFER_SHALLOW slots lie together with every other class's,
 * eight classes to a page, and only the slots past them in a row of the
 * class's own: most classes never hold more (bench/suite/thread_churn's 47
 * classes held 4-83 objects each), and a row per class made each class used
 * a resident page of its own (thread_churn: 48 pages, 192 KiB; now 10-12). */
#define CENTRAL_TRANSFER_SHALLOW 64
static central_t central[SIZE_CLASS_COUNT];
static void *transfer_shallow[SIZE_CLASS_COUNT][CENTRAL_TRANSFER_SHALLOW]
    __attribute__((aligned(HS_CACHELINE))); /* central[c].lock */
static void *transfer_deep[SIZE_CLASS_COUNT][CENTRAL_TRANSFER_SLOTS - CENTRAL_TRANSFER_SHALLOW]
    __attribute__((aligned(HS_CACHELINE))); /* central[c].lock */

/* Slot `index` of the class's transfer cache. */
static void **transfer_slot(uint32_t size_class, uint32_t index) {
  return index < CENTRAL_TRANSFER_SHALLOW ? &transfer_shallow[size_class][index]
                                          : &transfer_deep[size_class][index - CENTRAL_TRANSFER_SHALLOW];
}

/* Copies `count` objects into the class's slots from `index` on. */
static void transfer_store(uint32_t size_class, uint32_t index, void *const *objects, uint32_t count) {
  if (index < CENTRAL_TRANSFER_SHALLOW) {
    uint32_t n = HS_MIN(count, CENTRAL_TRANSFER_SHALLOW - index);
    memcpy(&transfer_shallow[size_class][index], objects, (size_t)n * sizeof(void *));
    objects += n;
    index += n;
    count -= n;
  }
  if (count)
    memcpy(transfer_slot(size_class, index), objects, (size_t)count * sizeof(void *));
}

/* Copies `count` objects out of the class's slots from `index` on. */
static void transfer_load(uint32_t size_class, uint32_t index, void **out, uint32_t count) {
  if (index < CENTRAL_TRANSFER_SHALLOW) {
    uint32_t n = HS_MIN(count, CENTRAL_TRANSFER_SHALLOW - index);
    memcpy(out, &transfer_shallow[size_class][index], (size_t)n * sizeof(void *));
    out += n;
    index += n;
    count -= n;
  }
  if (count)
    memcpy(out, transfer_slot(size_class, index), (size_t)count * sizeof(void *));
}

/* The nonempty list.  pre: c->lock held. */
static void nonempty_push_locked(central_t *c, span_t *span) { span_head_push(&c->nonempty, span); }
static void nonempty_remove_locked(central_t *c, span_t *span) {
  span_head_remove(&c->nonempty, span);
}

static void init_class_locked(central_t *c, uint32_t size_class) {
  if (c->transfer_capacity) return;
  uint32_t batch = size_class_batch[size_class];
  uint32_t by_bytes = HS_MAX(batch, CENTRAL_TRANSFER_MAX_BYTES / size_class_bytes[size_class]);
  c->transfer_capacity = HS_MIN(CENTRAL_TRANSFER_SLOTS, HS_MIN(CENTRAL_TRANSFER_BATCHES * batch, by_bytes));
}

static span_t *new_span_locked(central_t *c, uint32_t size_class) {
  span_t *span = pageheap_alloc(size_class_pages[size_class], 1, SPAN_SMALL, (uint8_t)size_class);
  if (!span) return NULL;
  span->carve_next = span_start(span);
  span->carve_end = span->carve_next +
                    (size_t)size_class_objects[size_class] * size_class_bytes[size_class];
  span->allocated_count = 0;
  span->free_count = 0;
  span->carved_count = 0;
  span->free_limit = 0;
  span->free_list = NULL;
  span->owner = NULL;
  span->owner_pending = NULL;
  span->remote_list = NULL;
  span->remote_count = 0;
  span->pending = 0;
  span->owned_list = 0;
  span->pending_next = NULL;
  span->on_list = 1;
  nonempty_push_locked(c, span);
  c->span_count++;
  c->span_objects += size_class_objects[size_class];
  return span;
}

int central_remove_range(uint32_t size_class, void **out, int count) {
  central_t *c = &central[size_class];
  hs_lock(&c->lock);
  init_class_locked(c, size_class);
  c->touched = 1;
  int got = 0;
  bool retried = false;
  if (c->transfer_count > 0) {
    int take = (int)HS_MIN((uint32_t)count, c->transfer_count);
    c->transfer_count -= (uint32_t)take;
    transfer_load(size_class, c->transfer_count, out, (uint32_t)take);
    got = take;
  }
  uint32_t bytes = size_class_bytes[size_class];
  while (got < count) {
    span_t *span = c->nonempty;
    if (!span) {
      span = new_span_locked(c, size_class);
      if (!span && got == 0 && !retried && pageheap_limit_is_hard()) {
        /* A hard memory limit refused the span: give back the objects idle
         * in every transfer cache (no other lock may be held for that) and
         * try once more. */
        retried = true;
        hs_unlock(&c->lock);
        central_drain_all();
        hs_lock(&c->lock);
        continue;
      }
      if (!span) break;
    }
    int before = got;
    while (got < count && span->free_list) {
      void *object = span->free_list;
      span->free_list = *(void **)object;
      span->free_count--;
      out[got++] = object;
    }
    while (got < count && span->carve_next < span->carve_end) {
      out[got++] = span->carve_next;
#ifdef HS_HARDENED
      hs_free_tag_mark(span->carve_next); /* malloc.c checks it at handout */
#endif
      span->carve_next += bytes;
      span->carved_count++;
    }
    span->allocated_count += (uint32_t)(got - before);
    c->objects_out += (uint64_t)(got - before);
    if (!span->free_list && span->carve_next >= span->carve_end) {
      nonempty_remove_locked(c, span);
      span->on_list = 0;
    }
  }
  hs_unlock(&c->lock);
  return got;
}

/* Returns one object to its span; an emptied span goes back to the page
 * heap idle since `idle_since_ns` (0: now).  pre: c->lock held. */
static void release_to_span_locked(central_t *c, uint32_t size_class, void *object,
                                   uint64_t idle_since_ns) {
  span_t *span = pagemap_span_holding(object);
  if (HS_UNLIKELY(!span || span->state != SPAN_SMALL || span->size_class != size_class))
    hs_fatal_pointer("free", "invalid pointer", object);
  if (HS_UNLIKELY(!span_holds_carved_object(span, object)))
    hs_fatal_pointer("free", "invalid pointer", object);
  if (span->owner) {
    /* Its free list is its owner's: leave the object on remote_list and
     * tell the owner. */
    *(void **)object = span->remote_list;
    span->remote_list = object;
    span->remote_count++;
    c->remote_objects++;
    if (!span->pending) {
      span->pending = 1;
      span->pending_next = *span->owner_pending;
      *span->owner_pending = span;
    }
    return;
  }
  if (HS_UNLIKELY(span->allocated_count == 0)) hs_fatal_pointer("free", "invalid pointer", object);
  *(void **)object = span->free_list;
  span->free_list = object;
  span->free_count++;
  span->allocated_count--;
  c->objects_out--;
  if (!span->on_list) {
    span->on_list = 1;
    nonempty_push_locked(c, span);
  }
  if (span->allocated_count == 0) {
    nonempty_remove_locked(c, span);
    c->span_count--;
    c->span_objects -= size_class_objects[size_class];
    if (idle_since_ns) pageheap_free_idle_since(span, idle_since_ns);
    else pageheap_free(span);
  }
}

static uint32_t span_uncarved(const span_t *span, uint32_t size_class) {
  return size_class_objects[size_class] - span->carved_count;
}

/* Appends `span`'s remote list to its free list.  pre: c->lock held. */
static void merge_remote_locked(central_t *c, span_t *span) {
  if (!span->remote_list) return;
  void *tail = span->remote_list;
  while (*(void **)tail) tail = *(void **)tail;
  *(void **)tail = span->free_list;
  span->free_list = span->remote_list;
  span->free_count += span->remote_count;
  c->remote_objects -= span->remote_count;
  span->remote_list = NULL;
  span->remote_count = 0;
}

uint32_t span_take_free_objects(span_t *span, uint32_t size_class, uint32_t want, void **list_out) {
  uint32_t bytes = size_class_bytes[size_class];
  uint32_t carved = HS_MIN(want, span_uncarved(span, size_class));
  uint32_t returned = HS_MIN(want - carved, span->free_count);
  void *returned_list = span->free_list;
  if (returned == span->free_count) {
    span->free_list = NULL;
  } else if (returned > 0) {
    void *last = returned_list;
    for (uint32_t i = 1; i < returned; i++) last = *(void **)last;
    span->free_list = *(void **)last;
    *(void **)last = NULL;
  }
  span->free_count -= returned;
  void *list = returned > 0 ? returned_list : NULL;
  if (carved > 0) {
    char *first = span->carve_next;
    char *last = first + (size_t)(carved - 1) * bytes;
    char *p = first;
    /* Links the objects four at a time (a refill from a fresh span links
     * a whole bin's worth: most of what a build after a teardown costs). */
    for (size_t quad = 4 * (size_t)bytes; p + quad <= last; p += quad) {
      *(void **)p = p + bytes;
      *(void **)(p + bytes) = p + 2 * (size_t)bytes;
      *(void **)(p + 2 * (size_t)bytes) = p + 3 * (size_t)bytes;
      *(void **)(p + 3 * (size_t)bytes) = p + quad;
    }
    for (; p < last; p += bytes) *(void **)p = p + bytes;
#ifdef HS_HARDENED
    for (char *q = first; q <= last; q += bytes) hs_free_tag_mark(q); /* checked at handout */
#endif
    *(void **)last = list;
    list = first;
    span->carve_next = last + bytes;
    span->carved_count += carved;
  }
  *list_out = list;
  return carved + returned;
}

/* central's list of owned spans.  pre: c->lock held. */
static void owned_insert_locked(central_t *c, span_t *span) {
  span->owned_prev = NULL;
  span->owned_next = c->owned;
  if (c->owned) c->owned->owned_prev = span;
  c->owned = span;
}

static void owned_remove_locked(central_t *c, span_t *span) {
  if (span->owned_prev) span->owned_prev->owned_next = span->owned_next;
  else c->owned = span->owned_next;
  if (span->owned_next) span->owned_next->owned_prev = span->owned_prev;
  span->owned_next = span->owned_prev = NULL;
}

span_t *central_claim(uint32_t size_class, void *owner, void **owner_pending) {
  central_t *c = &central[size_class];
  hs_lock(&c->lock);
  init_class_locked(c, size_class);
  c->touched = 1;
  bool retried = false;
  span_t *span;
  for (;;) {
    span = c->nonempty;
    if (span) break;
    span = new_span_locked(c, size_class);
    if (span) break;
    if (retried || !pageheap_limit_is_hard()) {
      hs_unlock(&c->lock);
      return NULL;
    }
    retried = true; /* as in central_remove_range */
    hs_unlock(&c->lock);
    central_drain_all();
    hs_lock(&c->lock);
  }
  nonempty_remove_locked(c, span);
  span->on_list = 0;
  span->owner = owner;
  span->owner_pending = owner_pending;
  c->objects_out += span->free_count + span_uncarved(span, size_class);
  owned_insert_locked(c, span);
  hs_unlock(&c->lock);
  return span;
}

uint32_t central_collect_pending(uint32_t size_class, void **pending, span_t **spans,
                                 uint32_t max_spans) {
  central_t *c = &central[size_class];
  uint32_t n = 0;
  hs_lock(&c->lock);
  while (*pending && n < max_spans) {
    span_t *span = *pending;
    *pending = span->pending_next;
    span->pending_next = NULL;
    span->pending = 0;
    merge_remote_locked(c, span);
    spans[n++] = span;
  }
  hs_unlock(&c->lock);
  return n;
}

void central_release_owned(uint32_t size_class, span_t *span) {
  central_t *c = &central[size_class];
  hs_lock(&c->lock);
  owned_remove_locked(c, span);
  span->owner = NULL;
  span->owner_pending = NULL;
  span->free_limit = 0;
  c->span_count--;
  c->span_objects -= size_class_objects[size_class];
  c->objects_out -= size_class_objects[size_class];
  pageheap_free(span);
  hs_unlock(&c->lock);
  pageheap_release_if_drained();
}

void central_disown(uint32_t size_class, span_t *span) {
  central_t *c = &central[size_class];
  hs_lock(&c->lock);
  merge_remote_locked(c, span);
  span->pending = 0; /* the owner discards its pending list (central_clear_pending) */
  owned_remove_locked(c, span);
  span->owner = NULL;
  span->owner_pending = NULL;
  span->free_limit = 0;
  uint32_t free_objects = span->free_count + span_uncarved(span, size_class);
  c->objects_out -= free_objects;
  span->allocated_count = span->carved_count - span->free_count;
  if (span->allocated_count == 0) {
    c->span_count--;
    c->span_objects -= size_class_objects[size_class];
    pageheap_free(span);
  } else if (free_objects > 0) {
    span->on_list = 1;
    nonempty_push_locked(c, span);
  }
  hs_unlock(&c->lock);
  pageheap_release_if_drained();
}

void central_clear_pending(uint32_t size_class, void **pending) {
  central_t *c = &central[size_class];
  hs_lock(&c->lock);
  *pending = NULL;
  hs_unlock(&c->lock);
}

int central_remove_transfer(uint32_t size_class, void **out, int count) {
  central_t *c = &central[size_class];
  if (!__atomic_load_n(&c->transfer_count, __ATOMIC_RELAXED)) return 0;
  hs_lock(&c->lock);
  c->touched = 1;
  int take = (int)HS_MIN((uint32_t)count, c->transfer_count);
  c->transfer_count -= (uint32_t)take;
  transfer_load(size_class, c->transfer_count, out, (uint32_t)take);
  hs_unlock(&c->lock);
  return take;
}

void central_insert_range(uint32_t size_class, void **objects, int count) {
  central_t *c = &central[size_class];
  hs_lock(&c->lock);
  init_class_locked(c, size_class);
  c->touched = 1;
  if (c->transfer_count + (uint32_t)count <= c->transfer_capacity) {
    transfer_store(size_class, c->transfer_count, objects, (uint32_t)count);
    c->transfer_count += (uint32_t)count;
  } else {
    for (int i = 0; i < count; i++) release_to_span_locked(c, size_class, objects[i], 0);
  }
  hs_unlock(&c->lock);
  pageheap_release_if_drained();
}

void central_release_object(uint32_t size_class, void *object) {
  central_t *c = &central[size_class];
  hs_lock(&c->lock);
  init_class_locked(c, size_class);
  release_to_span_locked(c, size_class, object, 0);
  hs_unlock(&c->lock);
  pageheap_release_if_drained();
}

bool central_holds_free_object(uint32_t size_class, const span_t *span, const void *object) {
  central_t *c = &central[size_class];
  hs_lock(&c->lock);
  bool found = span->owner ? hs_list_holds(span->remote_list, span->remote_count, object)
                           : hs_list_holds(span->free_list, span->free_count, object);
  for (uint32_t i = 0; i < c->transfer_count && !found; i++)
    found = *transfer_slot(size_class, i) == object;
  hs_unlock(&c->lock);
  return found;
}

void central_drain_all(void) {
  for (uint32_t size_class = 1; size_class < SIZE_CLASS_COUNT; size_class++) {
    central_t *c = &central[size_class];
    /* A racy peek first: locking every class would make each record resident. */
    if (!__atomic_load_n(&c->transfer_count, __ATOMIC_RELAXED)) continue;
    hs_lock(&c->lock);
    while (c->transfer_count > 0)
      release_to_span_locked(c, size_class, *transfer_slot(size_class, --c->transfer_count), 0);
    hs_unlock(&c->lock);
  }
  pageheap_release_if_drained();
}

uint64_t central_drain_idle(bool all, uint64_t idle_since_ns) {
  uint64_t drained = 0;
  for (uint32_t size_class = 1; size_class < SIZE_CLASS_COUNT; size_class++) {
    central_t *c = &central[size_class];
    /* A racy peek first, so idle classes cost no lock. */
    if (!__atomic_load_n(&c->transfer_count, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&c->touched, __ATOMIC_RELAXED))
      continue;
    hs_lock(&c->lock);
    if (all || !c->touched) {
      drained += c->transfer_count;
      while (c->transfer_count > 0)
        release_to_span_locked(c, size_class, *transfer_slot(size_class, --c->transfer_count), idle_since_ns);
    }
    c->touched = 0;
    hs_unlock(&c->lock);
  }
  pageheap_release_if_drained();
  return drained;
}

uint64_t central_transfer_objects(void) {
  uint64_t objects = 0;
  for (uint32_t size_class = 1; size_class < SIZE_CLASS_COUNT; size_class++)
    objects += __atomic_load_n(&central[size_class].transfer_count, __ATOMIC_RELAXED);
  return objects;
}

void central_read_stats_locked(uint32_t size_class, central_class_stats_t *out) {
  central_t *c = &central[size_class];
  out->span_count = c->span_count;
  out->span_objects = c->span_objects;
  out->objects_out = c->objects_out;
  out->transfer_objects = c->transfer_count + c->remote_objects;
  /* Owners change these without the lock: a racy read, as for bins. */
  uint64_t owned_free = 0;
  for (span_t *span = c->owned; span; span = span->owned_next)
    owned_free += __atomic_load_n(&span->free_count, __ATOMIC_RELAXED) +
                  size_class_objects[size_class] -
                  __atomic_load_n(&span->carved_count, __ATOMIC_RELAXED);
  out->owned_free_objects = owned_free;
}


void central_lock_all(void) {
  for (uint32_t i = 1; i < SIZE_CLASS_COUNT; i++) hs_lock(&central[i].lock);
}
void central_unlock_all(void) {
  for (uint32_t i = SIZE_CLASS_COUNT - 1; i >= 1; i--) hs_unlock(&central[i].lock);
}

void central_fork_prepare(void) {
  for (uint32_t i = 1; i < SIZE_CLASS_COUNT; i++) hs_lock(&central[i].lock);
}
void central_fork_parent(void) {
  for (uint32_t i = SIZE_CLASS_COUNT - 1; i >= 1; i--) hs_unlock(&central[i].lock);
}
void central_fork_child(void) {
  for (uint32_t i = 1; i < SIZE_CLASS_COUNT; i++) hs_lock_reset(&central[i].lock);
}
