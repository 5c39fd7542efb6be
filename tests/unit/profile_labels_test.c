/* profile_labels_test.c — samples carry the allocating thread's label set,
 * and a free on another thread (with other labels, or none) updates the
 * bucket of the allocation's labels.  At rate 1 every figure is exact:
 *   tenant=a, endpoint=/render : 1000 × 100 B, all freed by another thread
 *   tenant=b                   : 500 × 300 B, 200 of them freed (same thread)
 * Also: nested push/pop restores the outer set, a pushed key replaces its
 * old value, bad arguments are refused, and past 1024 distinct sets new ones
 * fold into overflow=true. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heapscope.h"
#include "profile.h"
#include "testlib.h"

typedef struct totals {
  double alloc_objects, alloc_bytes, inuse_objects, inuse_bytes;
} totals_t;

typedef struct query {
  const char *key1, *value1, *key2, *value2; /* key2 may be NULL */
  totals_t sum;
} query_t;

static int has_label(const prof_bucket_view_t *b, const char *key, const char *value) {
  for (uint32_t i = 0; i < b->label_count; i++)
    if (!strcmp(b->labels[i].key, key) && !strcmp(b->labels[i].value, value)) return 1;
  return 0;
}

static void visit(const prof_bucket_view_t *b, void *arg) {
  query_t *q = arg;
  if (!has_label(b, q->key1, q->value1)) return;
  if (q->key2 && !has_label(b, q->key2, q->value2)) return;
  q->sum.alloc_objects += b->alloc_objects;
  q->sum.alloc_bytes += b->alloc_bytes;
  q->sum.inuse_objects += b->alloc_objects - b->free_objects;
  q->sum.inuse_bytes += b->alloc_bytes - b->free_bytes;
}

static totals_t query(const char *k1, const char *v1, const char *k2, const char *v2) {
  query_t q = {k1, v1, k2, v2, {0, 0, 0, 0}};
  prof_enter();
  profile_for_each(visit, &q);
  prof_exit();
  return q.sum;
}

static void *blocks_a[1000];

static void *free_elsewhere(void *arg) {
  hs_label_push("tenant", "other"); /* the freeing thread's labels don't matter */
  for (int i = 0; i < 1000; i++) free(blocks_a[i]);
  hs_label_pop();
  return NULL;
}

int main(void) {
  hs_prof_set_rate(1);
  CHECK(hs_label_push("tenant", "a") == 0);
  CHECK(hs_label_push("endpoint", "/render") == 0);
  for (int i = 0; i < 1000; i++) blocks_a[i] = malloc(100);
  hs_label_pop();
  hs_label_pop();

  CHECK(hs_label_push("tenant", "b") == 0);
  void *blocks_b[500];
  for (int i = 0; i < 500; i++) blocks_b[i] = malloc(300);
  for (int i = 0; i < 200; i++) free(blocks_b[i]);
  /* Replacing a key's value, then popping, restores the outer value. */
  CHECK(hs_label_push("tenant", "c") == 0);
  void *c = malloc(40);
  hs_label_pop();
  void *b_again = malloc(300);
  hs_label_pop();

  pthread_t thread;
  pthread_create(&thread, NULL, free_elsewhere, NULL);
  pthread_join(thread, NULL);

  totals_t a = query("tenant", "a", "endpoint", "/render");
  CHECK_MSG(a.alloc_objects == 1000 && a.alloc_bytes == 100000, "tenant=a alloc %.0f objects %.0f B",
            a.alloc_objects, a.alloc_bytes);
  CHECK_MSG(a.inuse_objects == 0 && a.inuse_bytes == 0, "tenant=a inuse %.0f objects %.0f B",
            a.inuse_objects, a.inuse_bytes);
  totals_t b = query("tenant", "b", NULL, NULL);
  CHECK_MSG(b.alloc_objects == 501 && b.alloc_bytes == 501 * 300.0, "tenant=b alloc %.0f / %.0f B",
            b.alloc_objects, b.alloc_bytes);
  CHECK_MSG(b.inuse_objects == 301 && b.inuse_bytes == 301 * 300.0, "tenant=b inuse %.0f / %.0f B",
            b.inuse_objects, b.inuse_bytes);
  totals_t tc = query("tenant", "c", NULL, NULL);
  CHECK_MSG(tc.alloc_objects == 1 && tc.inuse_bytes == 40, "tenant=c alloc %.0f inuse %.0f B",
            tc.alloc_objects, tc.inuse_bytes);
  totals_t other = query("tenant", "other", NULL, NULL);
  CHECK_MSG(other.alloc_objects == 0, "the freeing thread's labels got %.0f objects",
            other.alloc_objects);
  totals_t endpoint_only = query("endpoint", "/render", NULL, NULL);
  CHECK_MSG(endpoint_only.alloc_objects == 1000, "endpoint=/render: %.0f objects",
            endpoint_only.alloc_objects);

  /* The scoped form pops when its block ends. */
  {
    HS_LABEL_SCOPE("tenant", "scoped");
    free(malloc(56));
  }
  void *after_scope = malloc(56);
  totals_t scoped = query("tenant", "scoped", NULL, NULL);
  CHECK_MSG(scoped.alloc_objects == 1, "tenant=scoped: %.0f objects, want 1", scoped.alloc_objects);
  free(after_scope);

  /* Bad arguments are refused; the stack depth is bounded. */
  CHECK(hs_label_push(NULL, "x") == -1);
  CHECK(hs_label_push("k", NULL) == -1);
  CHECK(hs_label_push("", "x") == -1);
  char long_value[200];
  memset(long_value, 'v', sizeof long_value - 1);
  long_value[sizeof long_value - 1] = 0;
  CHECK(hs_label_push("k", long_value) == -1);
  int pushed = 0;
  while (hs_label_push("depth", "x") == 0 && pushed < 100) pushed++;
  CHECK_MSG(pushed == PROF_MAX_LABELS, "pushed %d labels, limit %d", pushed, PROF_MAX_LABELS);
  for (int i = 0; i < pushed; i++) hs_label_pop();
  hs_label_pop(); /* popping an empty stack is harmless */

  /* Past 1024 distinct sets, new sets fold into overflow=true. */
  for (int i = 0; i < 1100; i++) {
    char value[16];
    snprintf(value, sizeof value, "%d", i);
    CHECK(hs_label_push("request", value) == 0);
    free(malloc(24));
    hs_label_pop();
  }
  totals_t overflow = query("overflow", "true", NULL, NULL);
  CHECK_MSG(overflow.alloc_objects >= 70, "overflow=true has %.0f objects, want >= 70",
            overflow.alloc_objects);

  free(c);
  free(b_again);
  for (int i = 200; i < 500; i++) free(blocks_b[i]);
  return testlib_done();
}
