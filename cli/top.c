/* top.c — `heapscope top`: functions ranked by flat (or cum) value, in
 * pprof's columns, or as JSON.  Single-threaded; uses analysis.c, units.c. */
#include <stdio.h>
#include <stdlib.h>

#include "commands.h"
#include "units.h"

static const char top_usage[] =
    "usage: heapscope top [options] FILE\n"
    "  Lists functions by their flat value (allocated or in use at that\n"
    "  function itself) with pprof's columns: flat flat% sum% cum cum% function.\n"
    "options:\n"
    "  -n N                 show only the top N functions\n"
    "  --sample-index=NAME  alloc_space, alloc_objects, inuse_space, inuse_objects\n"
    "                       (any sample type of FILE; default: the profile's default)\n"
    "  --cum                sort by cum instead of flat\n"
    "  --focus=REGEX        keep samples with a frame matching REGEX (function or file)\n"
    "  --ignore=REGEX       drop samples with a frame matching REGEX\n"
    "  --tag KEY=VALUE      keep samples labelled KEY=VALUE (repeatable)\n"
    "  --json               machine-readable output\n";

static void print_json(const analysis *a, const uint32_t *order, size_t shown) {
  printf("{\"sample_type\":");
  analysis_json_string(stdout, a->sample_type);
  printf(",\"unit\":");
  analysis_json_string(stdout, a->unit);
  printf(",\"total\":%lld,\"samples\":%zu,\"functions\":[", (long long)a->total, a->kept_count);
  for (size_t i = 0; i < shown; i++) {
    const analysis_node *node = &a->nodes[order[i]];
    printf("%s\n {\"function\":", i ? "," : "");
    analysis_json_string(stdout, node->name);
    printf(",\"file\":");
    analysis_json_string(stdout, node->filename);
    printf(",\"module\":\"%s\",\"flat\":%lld,\"cum\":%lld}", analysis_module_names[node->module],
           (long long)node->flat, (long long)node->cum);
  }
  printf("\n]}\n");
}

int command_top(int argc, char **argv) {
  command_options options;
  int status = command_parse("top", top_usage,
                             COMMAND_OPT_LIMIT | COMMAND_OPT_INDEX | COMMAND_OPT_CUM |
                                 COMMAND_OPT_FILTERS | COMMAND_OPT_JSON,
                             1, argc, argv, &options);
  if (status) return status == 1 ? 0 : 2;
  analysis a;
  profile *prof = command_load_analysed("top", options.positional[0], &options, &a);
  if (!prof) return 2;
  uint32_t *order = analysis_sorted_nodes(&a, options.by_cum);
  if (!order) {
    fputs("heapscope top: out of memory\n", stderr);
    return 2;
  }
  /* only functions that appear in kept samples */
  size_t present = 0;
  for (size_t i = 0; i < a.node_count; i++) {
    const analysis_node *node = &a.nodes[order[i]];
    if (node->flat != 0 || node->cum != 0) order[present++] = order[i];
  }
  size_t shown = options.limit >= 0 && (size_t)options.limit < present ? (size_t)options.limit : present;
  if (options.json) {
    print_json(&a, order, shown);
  } else {
    char total[32], shown_sum[32], percent[32], flat[32], cum[32], flat_pct[32], sum_pct[32],
        cum_pct[32];
    int64_t flat_shown = 0;
    for (size_t i = 0; i < shown; i++) flat_shown += a.nodes[order[i]].flat;
    printf("Type: %s (%s)\n", a.sample_type, a.unit);
    printf("Showing nodes accounting for %s, %s of %s total\n",
           units_format(flat_shown, a.unit, 0, shown_sum, sizeof shown_sum),
           units_percent(flat_shown, a.total, 0, percent, sizeof percent),
           units_format(a.total, a.unit, 0, total, sizeof total));
    if (shown < present) printf("Showing top %zu functions out of %zu\n", shown, present);
    printf("%10s %6s %6s %10s %6s  %s\n", "flat", "flat%", "sum%", "cum", "cum%", "function");
    int64_t sum = 0;
    for (size_t i = 0; i < shown; i++) {
      const analysis_node *node = &a.nodes[order[i]];
      sum += node->flat;
      printf("%10s %6s %6s %10s %6s  %s\n", units_format(node->flat, a.unit, 0, flat, sizeof flat),
             units_percent(node->flat, a.total, 0, flat_pct, sizeof flat_pct),
             units_percent(sum, a.total, 0, sum_pct, sizeof sum_pct),
             units_format(node->cum, a.unit, 0, cum, sizeof cum),
             units_percent(node->cum, a.total, 0, cum_pct, sizeof cum_pct), node->name);
    }
  }
  free(order);
  analysis_free(&a);
  profile_free(prof);
  return 0;
}
