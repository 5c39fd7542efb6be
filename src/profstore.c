/* profstore.c — buckets and label sets (see profstore.h).
 *
 * A bucket is found by hashing its stack and its (interned, so comparable by
 * address) label set.  Totals are doubles: each sample adds its own weight,
 * so a bucket's counts are sums of per-sample unbiased estimates, never
 * rounded until a profile is written.  Guarded by profile_lock.
 * May call: metadata, base. */
#include "profstore.h"

#include <string.h>

#include "base.h"
#include "metadata.h"

/* The bucket table starts at one page and doubles when it holds as many
 * buckets as slots: it is read at random, so a table sized for the worst
 * case would make a page resident per bucket in every profiled program. */
#define BUCKET_TABLE_MIN_BITS 9
#define BUCKET_TABLE_MAX_BITS 20
#define LABEL_TABLE_BITS 10

struct prof_bucket {
  prof_bucket_t *next; /* hash chain */
  uint64_t hash;
  const labelset_t *labels;
  uint32_t depth;
  double alloc_objects, alloc_bytes;
  double free_objects, free_bytes;
  uintptr_t pcs[];
};

static hs_lock_t profile_lock;
static prof_bucket_t **bucket_table;   /* guarded by profile_lock */
static uint32_t bucket_table_bits;     /* guarded by profile_lock */
static uint64_t bucket_count;          /* guarded by profile_lock */
static labelset_t **label_table;       /* guarded by profile_lock */
static uint32_t label_set_count;       /* guarded by profile_lock */
static const labelset_t *overflow_set; /* guarded by profile_lock */

static uint64_t hash_bytes(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static uint64_t hash_stack(const uintptr_t *pcs, int depth, const labelset_t *labels) {
  uint64_t h = 0xcbf29ce484222325ull ^ (uint64_t)(uintptr_t)labels;
  for (int i = 0; i < depth; i++) h = (h ^ pcs[i]) * 0x9E3779B97F4A7C15ull, h ^= h >> 29;
  return h;
}

static bool ensure_tables_locked(void) {
  if (!bucket_table) {
    bucket_table = metadata_alloc(sizeof(void *) << BUCKET_TABLE_MIN_BITS);
    bucket_table_bits = BUCKET_TABLE_MIN_BITS;
  }
  if (!label_table) label_table = metadata_alloc(sizeof(void *) << LABEL_TABLE_BITS);
  return bucket_table && label_table;
}

/* Doubles the bucket table once it holds as many buckets as slots.  The old
 * table stays in metadata (which never frees): all the old ones together are
 * smaller than the new one.  Keeps the old table if no memory is left. */
static void grow_bucket_table_locked(void) {
  if (bucket_count < ((uint64_t)1 << bucket_table_bits) || bucket_table_bits >= BUCKET_TABLE_MAX_BITS)
    return;
  uint32_t bits = bucket_table_bits + 1;
  prof_bucket_t **table = metadata_alloc(sizeof(void *) << bits);
  if (!table) return;
  for (size_t i = 0; i < ((size_t)1 << bucket_table_bits); i++) {
    for (prof_bucket_t *b = bucket_table[i], *next; b; b = next) {
      next = b->next;
      prof_bucket_t **slot = &table[b->hash >> (64 - bits)];
      b->next = *slot;
      *slot = b;
    }
  }
  bucket_table = table;
  bucket_table_bits = bits;
}

prof_bucket_t *profstore_record_alloc(const uintptr_t *pcs, int depth, const labelset_t *labels,
                                      double weight, uint64_t size) {
  uint64_t hash = hash_stack(pcs, depth, labels);
  hs_lock(&profile_lock);
  prof_bucket_t *bucket = NULL;
  if (ensure_tables_locked()) {
    prof_bucket_t **slot = &bucket_table[hash >> (64 - bucket_table_bits)];
    for (bucket = *slot; bucket; bucket = bucket->next)
      if (bucket->hash == hash && bucket->labels == labels && bucket->depth == (uint32_t)depth &&
          memcmp(bucket->pcs, pcs, sizeof(uintptr_t) * (size_t)depth) == 0)
        break;
    if (!bucket) {
      bucket = metadata_alloc(sizeof(prof_bucket_t) + sizeof(uintptr_t) * (size_t)depth);
      if (bucket) {
        bucket->hash = hash;
        bucket->labels = labels;
        bucket->depth = (uint32_t)depth;
        memcpy(bucket->pcs, pcs, sizeof(uintptr_t) * (size_t)depth);
        bucket->next = *slot;
        *slot = bucket;
        bucket_count++;
        grow_bucket_table_locked();
      }
    }
    if (bucket) {
      bucket->alloc_objects += weight;
      bucket->alloc_bytes += weight * (double)size;
    }
  }
  hs_unlock(&profile_lock);
  return bucket;
}

void profstore_record_free(prof_bucket_t *bucket, double weight, uint64_t size) {
  hs_lock(&profile_lock);
  bucket->free_objects += weight;
  bucket->free_bytes += weight * (double)size;
  hs_unlock(&profile_lock);
}

void profile_for_each(prof_visit_fn visit, void *arg) {
  hs_lock(&profile_lock);
  if (bucket_table) {
    for (size_t i = 0; i < ((size_t)1 << bucket_table_bits); i++) {
      for (prof_bucket_t *b = bucket_table[i]; b; b = b->next) {
        prof_bucket_view_t view = {
            .pcs = b->pcs,
            .depth = b->depth,
            .labels = b->labels ? b->labels->labels : NULL,
            .label_count = b->labels ? b->labels->count : 0,
            .alloc_objects = b->alloc_objects,
            .alloc_bytes = b->alloc_bytes,
            .free_objects = b->free_objects,
            .free_bytes = b->free_bytes,
        };
        visit(&view, arg);
      }
    }
  }
  hs_unlock(&profile_lock);
}

/* ---- Label sets ---- */

static uint64_t hash_labels(const prof_label_t *labels, uint32_t count) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (uint32_t i = 0; i < count; i++) {
    h = hash_bytes(h, labels[i].key, strlen(labels[i].key) + 1);
    h = hash_bytes(h, labels[i].value, strlen(labels[i].value) + 1);
  }
  return h;
}

static bool same_labels(const labelset_t *set, const prof_label_t *labels, uint32_t count) {
  if (set->count != count) return false;
  for (uint32_t i = 0; i < count; i++)
    if (strcmp(set->labels[i].key, labels[i].key) || strcmp(set->labels[i].value, labels[i].value))
      return false;
  return true;
}

/* Copies labels[0..count) into a new set in metadata.  pre: profile_lock. */
static labelset_t *new_set_locked(const prof_label_t *labels, uint32_t count, uint64_t hash) {
  size_t bytes = sizeof(labelset_t) + sizeof(prof_label_t) * count;
  for (uint32_t i = 0; i < count; i++)
    bytes += strlen(labels[i].key) + strlen(labels[i].value) + 2;
  labelset_t *set = metadata_alloc(bytes);
  if (!set) return NULL;
  set->hash = hash;
  set->count = count;
  char *strings = (char *)&set->labels[count];
  for (uint32_t i = 0; i < count; i++) {
    size_t k = strlen(labels[i].key) + 1, v = strlen(labels[i].value) + 1;
    memcpy(strings, labels[i].key, k);
    set->labels[i].key = strings;
    strings += k;
    memcpy(strings, labels[i].value, v);
    set->labels[i].value = strings;
    strings += v;
  }
  return set;
}

const labelset_t *profstore_labels_with(const labelset_t *base, const char *key, const char *value) {
  prof_label_t merged[PROF_MAX_LABELS + 1];
  uint32_t count = 0;
  bool placed = false;
  for (uint32_t i = 0; base && i < base->count; i++) {
    int order = strcmp(base->labels[i].key, key);
    if (!placed && order >= 0) {
      merged[count++] = (prof_label_t){key, value};
      placed = true;
      if (order == 0) continue; /* replaced */
    }
    if (count < PROF_MAX_LABELS + 1) merged[count++] = base->labels[i];
  }
  if (!placed) merged[count++] = (prof_label_t){key, value};
  uint64_t hash = hash_labels(merged, count);

  hs_lock(&profile_lock);
  const labelset_t *result = NULL;
  if (ensure_tables_locked()) {
    labelset_t **slot = &label_table[hash >> (64 - LABEL_TABLE_BITS)];
    for (labelset_t *set = *slot; set; set = set->next)
      if (set->hash == hash && same_labels(set, merged, count)) { result = set; break; }
    if (!result && label_set_count < PROFSTORE_MAX_LABEL_SETS) {
      labelset_t *set = new_set_locked(merged, count, hash);
      if (set) {
        set->next = *slot;
        *slot = set;
        label_set_count++;
        result = set;
      }
    } else if (!result) {
      if (!overflow_set) {
        static const prof_label_t overflow_label = {"overflow", "true"};
        overflow_set = new_set_locked(&overflow_label, 1, hash_labels(&overflow_label, 1));
        hs_warn("more than 1024 distinct label sets: further sets are counted under the label "
                "overflow=true");
      }
      result = overflow_set;
    }
  }
  hs_unlock(&profile_lock);
  return result;
}

void profstore_fork_prepare(void) { hs_lock(&profile_lock); }
void profstore_fork_parent(void) { hs_unlock(&profile_lock); }
void profstore_fork_child(void) { hs_lock_reset(&profile_lock); }
