/* gate_bench.c — benchmarks with a known, adjustable allocation count for
 * the budget gate and bench-compare tests (gate_test.sh, compare_test.sh).
 * BenchmarkRenderInvoice makes 8 allocations (32, 64, ..., 256 bytes: 1152
 * bytes) per op, plus GATE_EXTRA_ALLOCS more of 16 bytes each when that
 * variable is set: 1 is "one extra allocation", 8 doubles the count.
 * BenchmarkParseHeader makes 2 (24 + 40 bytes) and never changes. */
#include <stdlib.h>

#include "heapscope_bench.h"

static int extra_allocs;

static void bench_render_invoice(hs_bench_t *b) {
  for (uint64_t i = 0; i < b->n; i++) {
    void *parts[8 + 64];
    int count = 0;
    for (int k = 1; k <= 8; k++) parts[count++] = malloc(32 * (size_t)k);
    for (int k = 0; k < extra_allocs; k++) parts[count++] = malloc(16);
    for (int k = 0; k < count; k++) {
      hs_bench_keep(parts[k]);
      free(parts[k]);
    }
  }
}

static void bench_parse_header(hs_bench_t *b) {
  for (uint64_t i = 0; i < b->n; i++) {
    void *key = malloc(24), *value = malloc(40);
    hs_bench_keep(key);
    hs_bench_keep(value);
    free(value);
    free(key);
  }
}

static const hs_benchmark_t benchmarks[] = {
    {"BenchmarkRenderInvoice", bench_render_invoice, 0},
    {"BenchmarkParseHeader", bench_parse_header, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv) {
  const char *extra = getenv("GATE_EXTRA_ALLOCS");
  extra_allocs = extra ? atoi(extra) : 0;
  if (extra_allocs < 0 || extra_allocs > 64) extra_allocs = 0;
  return hs_bench_main(argc, argv, benchmarks);
}
