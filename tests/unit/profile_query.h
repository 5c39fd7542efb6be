/* profile_query.h — for the unit tests that read the profile store: the
 * totals of the buckets whose labels include key=value. */
#ifndef HS_TESTS_PROFILE_QUERY_H
#define HS_TESTS_PROFILE_QUERY_H

#include <string.h>

#include "profile.h"

typedef struct profile_totals {
  double alloc_objects, alloc_bytes, inuse_objects, inuse_bytes;
} profile_totals_t;

typedef struct profile_query {
  const char *key, *value;
  profile_totals_t sum;
} profile_query_t;

static void profile_query_visit(const prof_bucket_view_t *b, void *arg) {
  profile_query_t *q = arg;
  for (uint32_t i = 0; i < b->label_count; i++) {
    if (strcmp(b->labels[i].key, q->key) || strcmp(b->labels[i].value, q->value)) continue;
    q->sum.alloc_objects += b->alloc_objects;
    q->sum.alloc_bytes += b->alloc_bytes;
    q->sum.inuse_objects += b->alloc_objects - b->free_objects;
    q->sum.inuse_bytes += b->alloc_bytes - b->free_bytes;
    return;
  }
}

/* The totals of the buckets labelled key=value (inside prof_enter, so the
 * query itself is never sampled). */
static inline profile_totals_t profile_query_label(const char *key, const char *value) {
  profile_query_t q = {.key = key, .value = value};
  prof_enter();
  profile_for_each(profile_query_visit, &q);
  prof_exit();
  return q.sum;
}

#endif /* HS_TESTS_PROFILE_QUERY_H */
