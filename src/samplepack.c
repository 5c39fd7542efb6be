/* samplepack.c — sampled small objects packed by size class (see
 * samplepack.h).
 *
 * Each class up to SAMPLEPACK_MAX_BYTES has a list of its packs with a free
 * slot; a pack is a one-page SPAN_LARGE span from the page heap and a
 * record from metadata holding one slot record per object the page holds
 * (bucket, weight, recorded size; a NULL bucket is a free slot or one not
 * yet recorded, told apart by `live`).  Pack records are never freed: an
 * emptied pack's record goes on its class's spare list with its slot array,
 * which fits the class's next pack.  One emptied pack keeps its page (for
 * its class, or, with another record, for any), so a loop that allocates
 * and frees one sampled object does not take a page from the page heap and
 * give it back each time.
 *
 * A pack's span counts its live objects at their class's size in
 * requested_bytes (hs_stats's heap_alloc: small objects at their class's
 * size, sampled or not); the page heap's stats walk reads it beside
 * span->sample_pack, so heap_alloc and heap_alloc_rounded come from one
 * reading.
 *
 * Guarded by pack_lock, taken with no other lock held; while it is held
 * only metadata is called (the page heap and the profile store are called
 * outside it).  May call: pageheap, pagemap, metadata, size_class,
 * profstore, base. */
#include "samplepack.h"

#include <stdatomic.h>
#include <string.h>

#include "base.h"
#include "metadata.h"
#include "pageheap.h"
#include "pagemap.h"
#include "profstore.h"
#include "size_class.h"

_Static_assert(SAMPLEPACK_MAX_BYTES <= HS_PAGE_BYTES, "a pack holds at least one object");

typedef struct sample_slot {
  void *bucket;      /* the sample's profile bucket; NULL until recorded */
  double weight;     /* the sample's weight */
  uint16_t bytes;    /* the size the sample recorded */
  uint16_t live;     /* handed out and not freed */
  uint16_t next_free; /* index + 1 of the next free slot; 0: none */
} sample_slot_t;

typedef struct sample_pack {
  span_t *span;                       /* NULL on the spare list */
  struct sample_pack *next, *prev;    /* its class's open or spare list */
  uint32_t size_class;
  uint16_t slots;                     /* objects the page holds */
  uint16_t live;                      /* of them handed out */
  uint16_t carved;                    /* slots used at least once */
  uint16_t free_head;                 /* index + 1 of a free used slot; 0: none */
  bool open;                          /* on its class's open list */
  sample_slot_t slot[];
} sample_pack_t;

static hs_lock_t pack_lock;
/* Per class: packs with a free slot, and records of emptied packs. */
static sample_pack_t *open_packs[SIZE_CLASS_COUNT];  /* pack_lock */
static sample_pack_t *spare_packs[SIZE_CLASS_COUNT]; /* pack_lock */
static sample_pack_t *kept_empty;                    /* pack_lock: empty, page kept */
/* Live samples in packs: written under pack_lock, read without it. */
static _Atomic uint64_t live_objects;

/* pre: pack_lock held, so a load and a store suffice (hs_relaxed_add's
 * locked add would cost the sample a second locked instruction). */
static void live_objects_add(int64_t delta) {
  hs_relaxed_store(&live_objects, hs_relaxed_load(&live_objects) + (uint64_t)delta);
}

static void list_push(sample_pack_t **head, sample_pack_t *pack) {
  pack->prev = NULL;
  pack->next = *head;
  if (*head) (*head)->prev = pack;
  *head = pack;
}

static void list_remove(sample_pack_t **head, sample_pack_t *pack) {
  if (pack->prev) pack->prev->next = pack->next;
  else *head = pack->next;
  if (pack->next) pack->next->prev = pack->prev;
  pack->next = pack->prev = NULL;
}

/* pre: pack_lock held.  A pack of `size_class` with a free slot: an open
 * one, or the kept empty one (of this class as it was, or with this
 * class's record); NULL if neither. */
static sample_pack_t *open_pack_locked(uint32_t size_class);

/* pre: pack_lock held.  A new open pack of `size_class` on one-page SPAN_LARGE
 * `span`; NULL (span untouched) if no record can be had. */
static sample_pack_t *new_pack_locked(uint32_t size_class, span_t *span) {
  uint16_t slots = (uint16_t)(HS_PAGE_BYTES / size_class_bytes[size_class]);
  sample_pack_t *pack = spare_packs[size_class];
  if (pack) list_remove(&spare_packs[size_class], pack);
  else pack = metadata_alloc(sizeof(sample_pack_t) + sizeof(sample_slot_t) * slots);
  if (!pack) return NULL;
  memset(pack, 0, sizeof(sample_pack_t) + sizeof(sample_slot_t) * slots);
  pack->span = span;
  pack->size_class = size_class;
  pack->slots = slots;
  pack->open = true;
  __atomic_store_n(&span->requested_bytes, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&span->sample_pack, pack, __ATOMIC_RELEASE); /* after its zero request */
  list_push(&open_packs[size_class], pack);
  return pack;
}

static sample_pack_t *open_pack_locked(uint32_t size_class) {
  sample_pack_t *pack = open_packs[size_class];
  if (pack || !kept_empty) return pack;
  pack = kept_empty;
  if (pack->size_class == size_class) {
    kept_empty = NULL;
    pack->open = true;
    list_push(&open_packs[size_class], pack);
    return pack;
  }
  sample_pack_t *made = new_pack_locked(size_class, pack->span);
  if (!made) return NULL; /* the kept pack stays as it was */
  kept_empty = NULL;
  pack->span = NULL;
  list_push(&spare_packs[pack->size_class], pack);
  return made;
}

void *samplepack_alloc(uint32_t size_class, size_t size, bool zero) {
  span_t *unused = NULL;
  hs_lock(&pack_lock);
  sample_pack_t *pack = open_pack_locked(size_class);
  if (!pack) {
    hs_unlock(&pack_lock); /* the page heap is called with no lock held */
    span_t *span = pageheap_alloc(1, 1, SPAN_LARGE, 0);
    if (!span) return NULL;
    hs_lock(&pack_lock);
    pack = open_packs[size_class]; /* opened meanwhile by another thread */
    if (pack) unused = span;
    else if (!(pack = new_pack_locked(size_class, span))) unused = span;
  }
  char *object = NULL;
  if (pack) {
    uint32_t index;
    if (pack->free_head) {
      index = pack->free_head - 1u;
      pack->free_head = pack->slot[index].next_free;
    } else {
      index = pack->carved++;
    }
    sample_slot_t *slot = &pack->slot[index];
    slot->live = 1;
    slot->bucket = NULL;
    slot->next_free = 0;
    if (++pack->live == pack->slots) {
      pack->open = false;
      list_remove(&open_packs[size_class], pack);
    }
    object = (char *)span_start(pack->span) + (size_t)index * size_class_bytes[size_class];
    slot->bytes = (uint16_t)size;
    __atomic_store_n(&pack->span->requested_bytes,
                     pack->span->requested_bytes + size_class_bytes[size_class], __ATOMIC_RELAXED);
    live_objects_add(1);
  }
  hs_unlock(&pack_lock);
  if (unused) pageheap_free(unused);
  if (object && zero) memset(object, 0, size);
  return object;
}

/* The slot `ptr` starts in `pack`, or NULL. */
static sample_slot_t *slot_of(const sample_pack_t *pack, const void *ptr) {
  size_t offset = (size_t)((const char *)ptr - (const char *)span_start(pack->span));
  uint32_t index = size_class_object_index(pack->size_class, offset);
  if (index * size_class_bytes[pack->size_class] != offset || index >= pack->carved) return NULL;
  return (sample_slot_t *)&pack->slot[index];
}

void samplepack_set_sample(void *object, void *bucket, double weight) {
  /* No lock: until the object is handed out no other thread knows this
   * slot, and the program's own hand-over of it orders these stores
   * before any free of it, which reads them under pack_lock. */
  sample_slot_t *slot = slot_of(pagemap_span_of(object)->sample_pack, object);
  slot->bucket = bucket;
  slot->weight = weight;
}

enum samplepack_lookup samplepack_lookup(const span_t *span, const void *ptr) {
  hs_lock(&pack_lock);
  const sample_pack_t *pack = span->sample_pack;
  const sample_slot_t *slot = pack ? slot_of(pack, ptr) : NULL;
  enum samplepack_lookup result =
      !slot ? SAMPLEPACK_NOT_SLOT : slot->live ? SAMPLEPACK_LIVE : SAMPLEPACK_FREE_SLOT;
  hs_unlock(&pack_lock);
  return result;
}

size_t samplepack_usable_bytes(const span_t *span) {
  return size_class_bytes[span->sample_pack->size_class];
}

void samplepack_free(span_t *span, void *ptr, const char *call) {
  hs_lock(&pack_lock);
  sample_pack_t *pack = span->sample_pack;
  sample_slot_t *slot = pack ? slot_of(pack, ptr) : NULL;
  if (HS_UNLIKELY(!slot || !slot->live)) {
    hs_unlock(&pack_lock);
    hs_fatal_pointer(call, slot ? "double free" : "invalid pointer", ptr);
  }
  void *bucket = slot->bucket;
  double weight = slot->weight;
  size_t bytes = slot->bytes;
  slot->live = 0;
  slot->bucket = NULL;
  slot->next_free = pack->free_head;
  pack->free_head = (uint16_t)(slot - pack->slot + 1);
  __atomic_store_n(&span->requested_bytes,
                   span->requested_bytes - size_class_bytes[pack->size_class], __ATOMIC_RELAXED);
  live_objects_add(-1);
  span_t *give_back = NULL;
  if (!pack->open) {
    pack->open = true;
    list_push(&open_packs[pack->size_class], pack);
  }
  if (--pack->live == 0) {
    /* Emptied: kept (in place of the one kept before), its page given back
     * with its record on the class's spare list. */
    list_remove(&open_packs[pack->size_class], pack);
    pack->open = false;
    sample_pack_t *old = kept_empty;
    kept_empty = pack;
    if (old) {
      give_back = old->span;
      __atomic_store_n(&give_back->sample_pack, NULL, __ATOMIC_RELAXED);
      old->span = NULL;
      list_push(&spare_packs[old->size_class], old);
    }
  }
  hs_unlock(&pack_lock);
  if (bucket) profstore_record_free(bucket, weight, bytes);
  if (give_back) {
    pageheap_free(give_back);
    pageheap_release_if_drained();
  }
}

uint64_t samplepack_live_objects(void) {
  return hs_relaxed_load(&live_objects);
}

void samplepack_fork_prepare(void) { hs_lock(&pack_lock); }
void samplepack_fork_parent(void) { hs_unlock(&pack_lock); }
void samplepack_fork_child(void) { hs_lock_reset(&pack_lock); }
