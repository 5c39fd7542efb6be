/* reuse_bench.c — what object pools and arenas (docs/memory.md) save, in
 * the harness's exact allocs/op: one "request" is a 256-byte record and 16
 * strings of 24..144 bytes, built and dropped.
 *   BenchmarkRequestMalloc     record and strings from malloc: 17 allocs/op
 *   BenchmarkRequestPool       record from a pool: 16 allocs/op
 *   BenchmarkRequestPoolArena  record from a pool, strings from an arena
 *                              reset per request: 0 allocs/op
 * and the record alone, to compare a pool's get+put with calloc+free:
 *   BenchmarkRecordCalloc, BenchmarkRecordPool, and the same on every CPU
 *   at once, one pool shared by all (BenchmarkRecordCallocParallel,
 *   BenchmarkRecordPoolParallel); and BenchmarkRecordPools20, twenty pools
 *   used in turn, more than a thread has magazines (docs/memory.md).
 * tests/bench/reuse_test.sh checks those counts; docs/memory.md quotes a
 * run's times. */
#include <stdlib.h>
#include <string.h>

#include "heapscope.h"
#include "heapscope_bench.h"

enum { STRINGS = 16 };

typedef struct request {
  char *fields[STRINGS];
  char header[256 - STRINGS * sizeof(char *)];
} request_t;

static size_t string_bytes(int i) { return 24 + (size_t)(i % 7) * 20; }

static void fill(request_t *r) {
  for (int i = 0; i < STRINGS; i++) memset(r->fields[i], 'a' + i, string_bytes(i) - 1);
  r->header[0] = 'h';
  hs_bench_keep(r);
}

static void bench_malloc(hs_bench_t *b) {
  for (uint64_t n = 0; n < b->n; n++) {
    request_t *r = calloc(1, sizeof *r);
    for (int i = 0; i < STRINGS; i++) r->fields[i] = malloc(string_bytes(i));
    fill(r);
    for (int i = 0; i < STRINGS; i++) free(r->fields[i]);
    free(r);
  }
}

static void bench_pool(hs_bench_t *b) {
  hs_pool_t *pool = hs_pool_create(sizeof(request_t), 64 * sizeof(request_t), NULL);
  for (uint64_t n = 0; n < b->n; n++) {
    request_t *r = hs_pool_get(pool);
    for (int i = 0; i < STRINGS; i++) r->fields[i] = malloc(string_bytes(i));
    fill(r);
    for (int i = 0; i < STRINGS; i++) free(r->fields[i]);
    hs_pool_put(pool, r);
  }
  hs_pool_destroy(pool);
}

static void bench_pool_arena(hs_bench_t *b) {
  hs_pool_t *pool = hs_pool_create(sizeof(request_t), 64 * sizeof(request_t), NULL);
  hs_arena_t *arena = hs_arena_create(4096, 4096 + 64);
  for (uint64_t n = 0; n < b->n; n++) {
    request_t *r = hs_pool_get(pool);
    for (int i = 0; i < STRINGS; i++) r->fields[i] = hs_arena_alloc(arena, string_bytes(i));
    fill(r);
    hs_arena_reset(arena);
    hs_pool_put(pool, r);
  }
  hs_arena_destroy(arena);
  hs_pool_destroy(pool);
}

static void bench_record_calloc(hs_bench_t *b) {
  for (uint64_t n = 0; n < b->n; n++) {
    request_t *r = calloc(1, sizeof *r);
    r->header[0] = 'h';
    hs_bench_keep(r);
    free(r);
  }
}

static void bench_record_pool(hs_bench_t *b) {
  hs_pool_t *pool = hs_pool_create(sizeof(request_t), 64 * sizeof(request_t), NULL);
  for (uint64_t n = 0; n < b->n; n++) {
    request_t *r = hs_pool_get(pool);
    r->header[0] = 'h';
    hs_bench_keep(r);
    hs_pool_put(pool, r);
  }
  hs_pool_destroy(pool);
}

enum { POOLS_IN_TURN = 20 };

static void bench_record_pools20(hs_bench_t *b) {
  hs_pool_t *pools[POOLS_IN_TURN];
  for (int i = 0; i < POOLS_IN_TURN; i++)
    pools[i] = hs_pool_create(sizeof(request_t), 64 * sizeof(request_t), NULL);
  for (uint64_t n = 0; n < b->n; n++) {
    hs_pool_t *pool = pools[n % POOLS_IN_TURN];
    request_t *r = hs_pool_get(pool);
    r->header[0] = 'h';
    hs_bench_keep(r);
    hs_pool_put(pool, r);
  }
  for (int i = 0; i < POOLS_IN_TURN; i++) hs_pool_destroy(pools[i]);
}

static void record_calloc_body(hs_bench_parallel_t *pb, void *arg) {
  (void)arg;
  while (hs_bench_parallel_next(pb)) {
    request_t *r = calloc(1, sizeof *r);
    r->header[0] = 'h';
    hs_bench_keep(r);
    free(r);
  }
}

static void record_pool_body(hs_bench_parallel_t *pb, void *arg) {
  hs_pool_t *pool = arg;
  while (hs_bench_parallel_next(pb)) {
    request_t *r = hs_pool_get(pool);
    r->header[0] = 'h';
    hs_bench_keep(r);
    hs_pool_put(pool, r);
  }
}

static void bench_record_calloc_parallel(hs_bench_t *b) {
  hs_bench_run_parallel(b, 0, record_calloc_body, NULL);
}

static void bench_record_pool_parallel(hs_bench_t *b) {
  hs_pool_t *pool = hs_pool_create(sizeof(request_t), 64 * sizeof(request_t), NULL);
  hs_bench_run_parallel(b, 0, record_pool_body, pool);
  hs_pool_destroy(pool);
}

static const hs_benchmark_t benchmarks[] = {
    {"BenchmarkRequestMalloc", bench_malloc, 0},
    {"BenchmarkRequestPool", bench_pool, 0},
    {"BenchmarkRequestPoolArena", bench_pool_arena, 0},
    {"BenchmarkRecordCalloc", bench_record_calloc, 0},
    {"BenchmarkRecordPool", bench_record_pool, 0},
    {"BenchmarkRecordPools20", bench_record_pools20, 0},
    {"BenchmarkRecordCallocParallel", bench_record_calloc_parallel, 0},
    {"BenchmarkRecordPoolParallel", bench_record_pool_parallel, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv) { return hs_bench_main(argc, argv, benchmarks); }
