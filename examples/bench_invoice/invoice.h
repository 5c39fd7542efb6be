/* invoice.h — the code under test in the benchmark example: renders an
 * invoice as text.  See invoice_bench.c and README.md in this directory. */
#ifndef INVOICE_H
#define INVOICE_H

#include <stddef.h>

typedef struct invoice_line {
  const char *item;
  int quantity;
  long unit_price_cents;
} invoice_line_t;

typedef struct invoice {
  const char *customer;
  const invoice_line_t *lines;
  size_t line_count;
} invoice_t;

/* The invoice as NUL-terminated text in one malloc'd buffer (caller frees);
 * NULL when out of memory. */
char *invoice_render(const invoice_t *invoice);

#endif
