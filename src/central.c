/* central.c — per-size-class central free lists.
 *
 * central_remove_range serves a thread-cache refill: first from the class's
 * transfer cache (objects recently flushed by some thread, taken as one
 * memcpy), then from spans on the class's nonempty list (their free list,
 * then never-used objects carved from the span's end), then from a new span
 * from the page heap.  central_insert_range takes a thread-cache flush: into
 * the transfer cache when it fits, otherwise each object goes back to its
 * span (found through the page map, validated), and a span whose objects
 * are all back returns to the page heap.  central_drain_idle (the
 * scavenger) empties transfer caches nobody has used since its last pass.
 *
 * Guarded by central[c].lock, one per class, each on its own cache lines.
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
  uint32_t transfer_count;          /* objects in transfer[] */
  uint32_t transfer_capacity;
  uint32_t touched;                 /* used since the last central_drain_idle */
  span_t nonempty;                  /* sentinel: spans with free objects */
  uint64_t span_count;
  uint64_t span_objects;
  uint64_t objects_out;             /* sum of allocated_count over spans */
  void *transfer[CENTRAL_TRANSFER_SLOTS];
} __attribute__((aligned(HS_CACHELINE))) central_t;

static central_t central[SIZE_CLASS_COUNT];

static void init_class_locked(central_t *c, uint32_t size_class) {
  if (c->nonempty.next) return;
  span_list_init(&c->nonempty);
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
  span->free_list = NULL;
  span->on_list = 1;
  span_list_push_front(&c->nonempty, span);
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
    memcpy(out, &c->transfer[c->transfer_count], (size_t)take * sizeof(void *));
    got = take;
  }
  uint32_t bytes = size_class_bytes[size_class];
  while (got < count) {
    span_t *span = c->nonempty.next;
    if (span == &c->nonempty) {
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
      out[got++] = object;
    }
    while (got < count && span->carve_next < span->carve_end) {
      out[got++] = span->carve_next;
      span->carve_next += bytes;
    }
    span->allocated_count += (uint32_t)(got - before);
    c->objects_out += (uint64_t)(got - before);
    if (!span->free_list && span->carve_next >= span->carve_end) {
      span_list_remove(span);
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
  size_t offset = (size_t)((char *)object - (char *)span_start(span));
  if (HS_UNLIKELY(size_class_object_index(size_class, offset) * size_class_bytes[size_class] !=
                      offset ||
                  (char *)object >= span->carve_next || span->allocated_count == 0))
    hs_fatal_pointer("free", "invalid pointer", object);
  *(void **)object = span->free_list;
  span->free_list = object;
  span->allocated_count--;
  c->objects_out--;
  if (!span->on_list) {
    span->on_list = 1;
    span_list_push_front(&c->nonempty, span);
  }
  if (span->allocated_count == 0) {
    span_list_remove(span);
    c->span_count--;
    c->span_objects -= size_class_objects[size_class];
    if (idle_since_ns) pageheap_free_idle_since(span, idle_since_ns);
    else pageheap_free(span);
  }
}

void central_insert_range(uint32_t size_class, void **objects, int count) {
  central_t *c = &central[size_class];
  hs_lock(&c->lock);
  init_class_locked(c, size_class);
  c->touched = 1;
  if (c->transfer_count + (uint32_t)count <= c->transfer_capacity) {
    memcpy(&c->transfer[c->transfer_count], objects, (size_t)count * sizeof(void *));
    c->transfer_count += (uint32_t)count;
  } else {
    for (int i = 0; i < count; i++) release_to_span_locked(c, size_class, objects[i], 0);
  }
  hs_unlock(&c->lock);
}

void central_drain_all(void) {
  for (uint32_t size_class = 1; size_class < SIZE_CLASS_COUNT; size_class++) {
    central_t *c = &central[size_class];
    hs_lock(&c->lock);
    while (c->transfer_count > 0)
      release_to_span_locked(c, size_class, c->transfer[--c->transfer_count], 0);
    hs_unlock(&c->lock);
  }
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
        release_to_span_locked(c, size_class, c->transfer[--c->transfer_count], idle_since_ns);
    }
    c->touched = 0;
    hs_unlock(&c->lock);
  }
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
  out->transfer_objects = c->transfer_count;
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
