/* demo.c — a small program for `make demo`: four threads build word-count
 * tables from generated text (many small strings and nodes, a few large
 * buffers, cross-thread frees), print the most common word, and free
 * everything.  Each worker labels its allocations worker=N through
 * heapscope's label API, looked up with dlsym so the program also runs
 * without heapscope. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define WORDS_PER_THREAD 200000
#define BUCKETS 4096

typedef struct entry {
  struct entry *next;
  char *word;
  long count;
} entry_t;

typedef struct table {
  entry_t *buckets[BUCKETS];
  char *text; /* one large buffer per thread */
} table_t;

static unsigned hash(const char *s) {
  unsigned h = 2166136261u;
  while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

static void add_word(table_t *t, const char *word) {
  entry_t **slot = &t->buckets[hash(word) % BUCKETS];
  for (entry_t *e = *slot; e; e = e->next)
    if (strcmp(e->word, word) == 0) { e->count++; return; }
  entry_t *e = malloc(sizeof *e);
  e->word = strdup(word);
  e->count = 1;
  e->next = *slot;
  *slot = e;
}

static void *count_words(void *arg) {
  unsigned seed = (unsigned)(size_t)arg;
  int (*label_push)(const char *, const char *) =
      (int (*)(const char *, const char *))dlsym(RTLD_DEFAULT, "hs_label_push");
  char worker[16];
  snprintf(worker, sizeof worker, "%u", seed);
  if (label_push) label_push("worker", worker);
  table_t *t = calloc(1, sizeof *t);
  t->text = malloc((size_t)WORDS_PER_THREAD * 8);
  char *p = t->text;
  for (int i = 0; i < WORDS_PER_THREAD; i++) {
    seed = seed * 1103515245u + 12345u;
    int len = 2 + (int)((seed >> 16) % 4);
    for (int k = 0; k < len; k++) *p++ = (char)('a' + ((seed >> (k * 3)) % 6));
    *p++ = ' ';
  }
  *p = 0;
  for (char *w = strtok_r(t->text, " ", &p); w; w = strtok_r(NULL, " ", &p)) add_word(t, w);
  return t; /* freed by the main thread */
}

int main(void) {
  pthread_t threads[THREADS];
  for (size_t i = 0; i < THREADS; i++)
    pthread_create(&threads[i], NULL, count_words, (void *)(i + 1));
  const char *best = NULL;
  long best_count = 0, distinct = 0;
  table_t *tables[THREADS];
  for (int i = 0; i < THREADS; i++) {
    pthread_join(threads[i], (void **)&tables[i]);
    for (int b = 0; b < BUCKETS; b++)
      for (entry_t *e = tables[i]->buckets[b]; e; e = e->next) {
        distinct++;
        if (e->count > best_count) { best_count = e->count; best = e->word; }
      }
  }
  printf("demo: %d threads counted %d words; %ld distinct per-thread entries; "
         "most common: \"%s\" (%ld times)\n",
         THREADS, THREADS * WORDS_PER_THREAD, distinct, best, best_count);
  fflush(stdout);
  for (int i = 0; i < THREADS; i++) {
    for (int b = 0; b < BUCKETS; b++)
      for (entry_t *e = tables[i]->buckets[b], *next; e; e = next) {
        next = e->next;
        free(e->word);
        free(e);
      }
    free(tables[i]->text);
    free(tables[i]);
  }
  return 0;
}
