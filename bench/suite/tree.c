/* tree.c — tree and graph building and teardown, an espresso/cfrac-like
 * mix of many small objects with related lifetimes: each step builds a
 * binary tree (nodes of 40 B with a payload of 16 B .. 256 B), keeps the
 * last 4 trees alive (the oldest is torn down), builds short-lived depth-4
 * trees along the way, and builds a graph whose adjacency lists grow by
 * realloc, then frees it.
 * Given a second argument 1 it also prints how often, walking the newest
 * kept tree in the order it was built, the next node (and the next
 * payload) lies within 4 KiB of the previous one, and on how many distinct
 * 4 KiB pages its nodes and payloads lie (together, then each apart): the
 * allocator's address locality, which decides how much of the walk hits
 * cache lines and TLB entries already loaded.  (Its time then includes
 * the walk and the count.)
 * Given 2 it also prints the seconds spent in each phase of the steps:
 * walking the oldest kept tree without freeing it, then freeing it (the
 * walk just loaded its lines, so this phase is mostly free's own cost),
 * building the next, and the short-lived trees.  (Its time then includes
 * the walks and the clock reads.)
 *   tree [steps=1200] [1: report locality | 2: report phase times] */
#include "suite.h"

enum { TREE_DEPTH = 14, KEPT_TREES = 4, GRAPH_NODES = 2000, GRAPH_EDGES = 8000 };

typedef struct node {
  struct node *left, *right;
  unsigned char *payload;
  size_t payload_bytes;
  uint64_t value;
} node_t;

static node_t *tree_build(int depth, suite_rng_t *rng) {
  node_t *n = suite_check_alloc(malloc(sizeof *n), sizeof *n);
  n->payload_bytes = 16 + suite_rng_below(rng, 241);
  n->payload = suite_check_alloc(malloc(n->payload_bytes), n->payload_bytes);
  n->payload[0] = (unsigned char)depth;
  n->value = (uint64_t)depth;
  n->left = depth > 0 ? tree_build(depth - 1, rng) : NULL;
  n->right = depth > 0 ? tree_build(depth - 1, rng) : NULL;
  return n;
}

static uint64_t tree_free(node_t *n) {
  if (n == NULL) return 0;
  uint64_t sum = n->value + n->payload[0] + tree_free(n->left) + tree_free(n->right);
  free(n->payload);
  free(n);
  return sum;
}

/* The walk tree_free makes, without the frees. */
static uint64_t tree_sum(const node_t *n) {
  if (n == NULL) return 0;
  return n->value + n->payload[0] + tree_sum(n->left) + tree_sum(n->right);
}

/* The clock, read only when phase times are reported (report 2). */
static double phase_now(long report) { return report == 2 ? suite_now_s() : 0; }

typedef struct graph_node {
  uint32_t *edges;
  size_t edge_count;
} graph_node_t;

static uint64_t graph_build_and_free(suite_rng_t *rng) {
  graph_node_t *nodes = suite_check_alloc(calloc(GRAPH_NODES, sizeof *nodes), 1);
  for (int e = 0; e < GRAPH_EDGES; e++) {
    graph_node_t *from = &nodes[suite_rng_below(rng, GRAPH_NODES)];
    size_t bytes = (from->edge_count + 1) * sizeof *from->edges;
    from->edges = suite_check_alloc(realloc(from->edges, bytes), bytes);
    from->edges[from->edge_count++] = (uint32_t)suite_rng_below(rng, GRAPH_NODES);
  }
  uint64_t sum = 0;
  for (int i = 0; i < GRAPH_NODES; i++) {
    if (nodes[i].edge_count > 0) sum += nodes[i].edges[0];
    free(nodes[i].edges);
  }
  free(nodes);
  return sum;
}

typedef struct locality {
  uintptr_t last_node, last_payload;
  long nodes, near_nodes, near_payloads;
  uintptr_t *node_pages, *payload_pages; /* each node's and payload's page, in walk order */
} locality_t;

static int within_4k(uintptr_t a, uintptr_t b) { return (a > b ? a - b : b - a) <= 4096; }

static void locality_walk(const node_t *n, locality_t *l) {
  if (n == NULL) return;
  l->near_nodes += within_4k((uintptr_t)n, l->last_node);
  l->near_payloads += within_4k((uintptr_t)n->payload, l->last_payload);
  l->last_node = (uintptr_t)n;
  l->last_payload = (uintptr_t)n->payload;
  l->node_pages[l->nodes] = (uintptr_t)n >> 12;
  l->payload_pages[l->nodes] = (uintptr_t)n->payload >> 12;
  l->nodes++;
  locality_walk(n->left, l);
  locality_walk(n->right, l);
}

static int compare_pages(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* Sorts pages[0, count) and returns how many distinct values it holds. */
static long distinct_pages(uintptr_t *pages, long count) {
  qsort(pages, (size_t)count, sizeof *pages, compare_pages);
  long distinct = 0;
  for (long i = 0; i < count; i++) distinct += i == 0 || pages[i] != pages[i - 1];
  return distinct;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 2, "[steps=1200] [1: report locality | 2: report phase times]");
  long steps = suite_arg_long(argc, argv, 1, 1200, 10000000);
  long report = suite_arg_long(argc, argv, 2, 0, 2);
  suite_rng_t rng = suite_rng_make(23);
  node_t *kept[KEPT_TREES] = {0};
  uint64_t check = 0;
  double walk_s = 0, free_s = 0, build_s = 0, small_s = 0;
  double start = suite_now_s();
  for (long s = 0; s < steps; s++) {
    int depth = TREE_DEPTH - 4 + (int)suite_rng_below(&rng, 4);
    double t0 = phase_now(report);
    if (report == 2) check += tree_sum(kept[s % KEPT_TREES]);
    double t1 = phase_now(report);
    check += tree_free(kept[s % KEPT_TREES]);
    double t2 = phase_now(report);
    kept[s % KEPT_TREES] = tree_build(depth, &rng);
    double t3 = phase_now(report);
    for (int t = 0; t < 64; t++) check += tree_free(tree_build(4, &rng));
    double t4 = phase_now(report);
    walk_s += t1 - t0;
    free_s += t2 - t1;
    build_s += t3 - t2;
    small_s += t4 - t3;
    if (s % 4 == 0) check += graph_build_and_free(&rng);
  }
  if (report == 2)
    printf("tree_phases walk_s=%.4f free_s=%.4f build_s=%.4f short_lived_s=%.4f\n", walk_s,
           free_s, build_s, small_s);
  if (report == 1 && steps > 0) {
    locality_t l = {0};
    size_t most_nodes = ((size_t)1 << TREE_DEPTH) - 1; /* depth TREE_DEPTH - 1 at most */
    uintptr_t *pages = suite_check_alloc(malloc(2 * most_nodes * sizeof *pages), 1);
    l.node_pages = pages;
    l.payload_pages = pages + most_nodes;
    locality_walk(kept[(steps - 1) % KEPT_TREES], &l);
    /* The payloads' pages right after the nodes': each half, then the whole. */
    memmove(pages + l.nodes, l.payload_pages, (size_t)l.nodes * sizeof *pages);
    long node_pages = distinct_pages(pages, l.nodes);
    long payload_pages = distinct_pages(pages + l.nodes, l.nodes);
    long all_pages = distinct_pages(pages, 2 * l.nodes);
    printf("tree_locality nodes=%ld next_node_within_4k=%.1f%% next_payload_within_4k=%.1f%% "
           "pages_4k=%ld node_pages_4k=%ld payload_pages_4k=%ld\n",
           l.nodes, 100.0 * (double)l.near_nodes / (double)l.nodes,
           100.0 * (double)l.near_payloads / (double)l.nodes, all_pages, node_pages, payload_pages);
    free(pages);
  }
  for (int k = 0; k < KEPT_TREES; k++) check += tree_free(kept[k]);
  suite_report("tree", steps, suite_now_s() - start, check);
  return 0;
}
