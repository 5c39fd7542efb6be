/* invoice_bench.c — benchmarks for invoice.c with heapscope's harness.
 *   ./bench_invoice -count 5 > bench.txt
 *   heapscope budget check bench.txt budgets.txt
 * (ci.sh in this directory does both.) */
#include <stdlib.h>
#include <string.h>

#include "heapscope_bench.h"
#include "invoice.h"

static const invoice_line_t lines[] = {
    {"Espresso beans 1 kg", 3, 2450},  {"Milk frother", 1, 8999},
    {"Paper filters (100)", 4, 399},   {"Descaling tablets", 2, 1250},
    {"Ceramic cup", 6, 1100},          {"Grinder burr set", 1, 3400},
    {"Travel mug", 2, 1999},           {"Tamper 58 mm", 1, 2900},
};
static const invoice_t small_invoice = {"Ada Lovelace", lines, 2};
static const invoice_t large_invoice = {"Charles Babbage", lines, sizeof lines / sizeof lines[0]};

static void render(hs_bench_t *b, const invoice_t *invoice) {
  size_t length = 0;
  for (uint64_t i = 0; i < b->n; i++) {
    char *text = invoice_render(invoice);
    hs_bench_keep(text);
    length = strlen(text);
    free(text);
  }
  hs_bench_set_bytes(b, length);
}
static void bench_render_small(hs_bench_t *b) { render(b, &small_invoice); }
static void bench_render_invoice(hs_bench_t *b) { render(b, &large_invoice); }

static const hs_benchmark_t benchmarks[] = {
    {"BenchmarkRenderSmallInvoice", bench_render_small, 0},
    {"BenchmarkRenderInvoice", bench_render_invoice, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv) { return hs_bench_main(argc, argv, benchmarks); }
