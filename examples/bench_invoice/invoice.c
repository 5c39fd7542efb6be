/* invoice.c — renders an invoice into a growing text buffer.  Its
 * allocations per call are what the benchmark budgets gate: one buffer,
 * grown by doubling (each move is one more allocation).  Build with
 * -DINVOICE_PER_LINE_COPY to get a regression: one extra temporary
 * allocation per line, which `heapscope budget check` catches. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "invoice.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct text {
  char *data;
  size_t length, capacity;
} text_t;

static int text_appendf(text_t *t, const char *format, ...) {
  for (;;) {
    va_list ap;
    va_start(ap, format);
    int needed = vsnprintf(t->data + t->length, t->capacity - t->length, format, ap);
    va_end(ap);
    if (needed < 0) return -1;
    if ((size_t)needed < t->capacity - t->length) {
      t->length += (size_t)needed;
      return 0;
    }
    size_t capacity = t->capacity * 2;
    while (capacity - t->length <= (size_t)needed) capacity *= 2;
    char *bigger = realloc(t->data, capacity);
    if (!bigger) return -1;
    t->data = bigger;
    t->capacity = capacity;
  }
}

char *invoice_render(const invoice_t *invoice) {
  text_t t = {malloc(256), 0, 256};
  if (!t.data) return NULL;
  long total = 0;
  int failed = text_appendf(&t, "INVOICE for %s\n", invoice->customer);
  for (size_t i = 0; i < invoice->line_count && !failed; i++) {
    const invoice_line_t *line = &invoice->lines[i];
    long cents = line->quantity * line->unit_price_cents;
    total += cents;
#ifdef INVOICE_PER_LINE_COPY
    char *item = strdup(line->item); /* the regression: a needless copy */
    if (!item) { failed = 1; break; }
    failed = text_appendf(&t, "%-24s %4d x %8.2f = %10.2f\n", item, line->quantity,
                          line->unit_price_cents / 100.0, cents / 100.0);
    free(item);
#else
    failed = text_appendf(&t, "%-24s %4d x %8.2f = %10.2f\n", line->item, line->quantity,
                          line->unit_price_cents / 100.0, cents / 100.0);
#endif
  }
  if (!failed) failed = text_appendf(&t, "%-24s %30.2f\n", "TOTAL", total / 100.0);
  if (failed) {
    free(t.data);
    return NULL;
  }
  return t.data;
}
