/* diff.c — `heapscope diff BASE NEW`: per-function change between two
 * profiles, like pprof -diff_base: deltas (NEW - BASE) with percentages of
 * the base total, biggest movers first, new and vanished functions marked.
 * Single-threaded; uses analysis.c and units.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "units.h"

static const char diff_usage[] =
    "usage: heapscope diff [options] BASE NEW\n"
    "  Shows how each function changed from profile BASE to profile NEW:\n"
    "  delta flat and cum (NEW - BASE) with their percentage of BASE's total,\n"
    "  both flat values, and the change relative to the function's own BASE\n"
    "  value ('new' / 'gone' for functions present in only one profile).\n"
    "options:\n"
    "  -n N                 show only the N biggest movers\n"
    "  --sample-index=NAME  as for top (default: BASE's default sample type)\n"
    "  --cum                rank by cum change instead of flat change\n"
    "  --focus=REGEX, --ignore=REGEX, --tag KEY=VALUE   as for top, on both\n"
    "  --json               machine-readable output\n";

typedef struct diff_row {
  const char *name;
  int64_t base_flat, base_cum, new_flat, new_cum;
  int in_base, in_new;
} diff_row;

typedef struct diff_table {
  diff_row *rows;
  size_t count;
  uint32_t *slots;
  size_t mask;
} diff_table;

static uint64_t hash_name(const char *s) {
  uint64_t hash = 1469598103934665603ull;
  for (; *s; s++) hash = (hash ^ (uint8_t)*s) * 1099511628211ull;
  return hash;
}

static diff_row *row_for(diff_table *table, const char *name) {
  for (size_t slot = hash_name(name) & table->mask;; slot = (slot + 1) & table->mask) {
    uint32_t entry = table->slots[slot];
    if (entry == 0) {
      diff_row *row = &table->rows[table->count];
      memset(row, 0, sizeof *row);
      row->name = name;
      table->slots[slot] = (uint32_t)++table->count;
      return row;
    }
    if (strcmp(table->rows[entry - 1].name, name) == 0) return &table->rows[entry - 1];
  }
}

static int rank_by_cum;
static int64_t magnitude(int64_t v) { return v < 0 ? -v : v; }
static int compare_rows(const void *left, const void *right) {
  const diff_row *l = left, *r = right;
  int64_t lv = rank_by_cum ? l->new_cum - l->base_cum : l->new_flat - l->base_flat;
  int64_t rv = rank_by_cum ? r->new_cum - r->base_cum : r->new_flat - r->base_flat;
  if (magnitude(lv) != magnitude(rv)) return magnitude(lv) > magnitude(rv) ? -1 : 1;
  int64_t lc = rank_by_cum ? l->new_flat - l->base_flat : l->new_cum - l->base_cum;
  int64_t rc = rank_by_cum ? r->new_flat - r->base_flat : r->new_cum - r->base_cum;
  if (magnitude(lc) != magnitude(rc)) return magnitude(lc) > magnitude(rc) ? -1 : 1;
  return strcmp(l->name, r->name);
}

static const char *row_status(const diff_row *row) {
  if (!row->in_base) return "new";
  if (!row->in_new) return "gone";
  return "changed";
}

/* The change relative to the function's own base value, e.g. "+100%". */
static char *row_change(const diff_row *row, char *buf, size_t len) {
  int64_t base = rank_by_cum ? row->base_cum : row->base_flat;
  int64_t now = rank_by_cum ? row->new_cum : row->new_flat;
  if (!row->in_base) snprintf(buf, len, "new");
  else if (!row->in_new) snprintf(buf, len, "gone");
  else if (base == 0) snprintf(buf, len, "-");
  else units_percent(now - base, magnitude(base), 1, buf, len);
  return buf;
}

static void print_json(const analysis *base, const analysis *now, const diff_row *rows, size_t shown) {
  printf("{\"sample_type\":");
  analysis_json_string(stdout, base->sample_type);
  printf(",\"unit\":");
  analysis_json_string(stdout, base->unit);
  printf(",\"base_total\":%lld,\"new_total\":%lld,\"functions\":[", (long long)base->total,
         (long long)now->total);
  for (size_t i = 0; i < shown; i++) {
    const diff_row *row = &rows[i];
    printf("%s\n {\"function\":", i ? "," : "");
    analysis_json_string(stdout, row->name);
    printf(",\"status\":\"%s\",\"base_flat\":%lld,\"new_flat\":%lld,\"delta_flat\":%lld,"
           "\"base_cum\":%lld,\"new_cum\":%lld,\"delta_cum\":%lld}",
           row_status(row), (long long)row->base_flat, (long long)row->new_flat,
           (long long)(row->new_flat - row->base_flat), (long long)row->base_cum,
           (long long)row->new_cum, (long long)(row->new_cum - row->base_cum));
  }
  printf("\n]}\n");
}

static void print_text(const command_options *options, const analysis *base, const analysis *now,
                       const diff_row *rows, size_t shown, size_t changed) {
  const char *unit = base->unit;
  char a[32], b[32], c[32], d[32], e[32], f[32], g[32];
  printf("Type: %s (%s)\n", base->sample_type, unit);
  printf("Base: %s, total %s; new: %s, total %s (%s)\n", options->positional[0],
         units_format(base->total, unit, 0, a, sizeof a), options->positional[1],
         units_format(now->total, unit, 0, b, sizeof b),
         units_percent(now->total - base->total, base->total, 1, c, sizeof c));
  if (shown < changed) printf("Showing top %zu changes out of %zu\n", shown, changed);
  printf("%11s %8s %11s %8s %10s %10s %8s  %s\n", "flat delta", "flat%", "cum delta", "cum%",
         "base flat", "new flat", "change", "function");
  for (size_t i = 0; i < shown; i++) {
    const diff_row *row = &rows[i];
    printf("%11s %8s %11s %8s %10s %10s %8s  %s\n",
           units_format(row->new_flat - row->base_flat, unit, 1, a, sizeof a),
           units_percent(row->new_flat - row->base_flat, base->total, 1, b, sizeof b),
           units_format(row->new_cum - row->base_cum, unit, 1, c, sizeof c),
           units_percent(row->new_cum - row->base_cum, base->total, 1, d, sizeof d),
           units_format(row->base_flat, unit, 0, e, sizeof e),
           units_format(row->new_flat, unit, 0, f, sizeof f), row_change(row, g, sizeof g),
           row->name);
  }
}

int command_diff(int argc, char **argv) {
  command_options options;
  int status = command_parse("diff", diff_usage,
                             COMMAND_OPT_LIMIT | COMMAND_OPT_INDEX | COMMAND_OPT_CUM |
                                 COMMAND_OPT_FILTERS | COMMAND_OPT_JSON,
                             2, argc, argv, &options);
  if (status) return status == 1 ? 0 : 2;
  int result = 2;
  profile *base_prof = command_load("diff", options.positional[0]);
  profile *new_prof = base_prof ? command_load("diff", options.positional[1]) : NULL;
  analysis base, now;
  int have_base = 0, have_new = 0;
  diff_table table = {0};
  if (!new_prof) goto done;
  if (command_analyse("diff", &base, base_prof, &options) != 0) goto done;
  have_base = 1;
  /* the new profile is read with the same sample type, by name */
  command_options new_options = options;
  new_options.analysis.sample_index_name = base.sample_type;
  if (command_analyse("diff", &now, new_prof, &new_options) != 0) goto done;
  have_new = 1;
  size_t capacity = 16;
  while (capacity < (base.node_count + now.node_count) * 2) capacity *= 2;
  table.rows = calloc(base.node_count + now.node_count + 1, sizeof *table.rows);
  table.slots = calloc(capacity, sizeof *table.slots);
  table.mask = capacity - 1;
  if (!table.rows || !table.slots) {
    fputs("heapscope diff: out of memory\n", stderr);
    goto done;
  }
  for (size_t i = 0; i < base.node_count; i++) {
    const analysis_node *node = &base.nodes[i];
    if (node->flat == 0 && node->cum == 0) continue;
    diff_row *row = row_for(&table, node->name);
    row->base_flat = node->flat;
    row->base_cum = node->cum;
    row->in_base = 1;
  }
  for (size_t i = 0; i < now.node_count; i++) {
    const analysis_node *node = &now.nodes[i];
    if (node->flat == 0 && node->cum == 0) continue;
    diff_row *row = row_for(&table, node->name);
    row->new_flat = node->flat;
    row->new_cum = node->cum;
    row->in_new = 1;
  }
  size_t changed = 0;
  for (size_t i = 0; i < table.count; i++) {
    const diff_row *row = &table.rows[i];
    if (row->new_flat != row->base_flat || row->new_cum != row->base_cum) table.rows[changed++] = *row;
  }
  rank_by_cum = options.by_cum;
  qsort(table.rows, changed, sizeof *table.rows, compare_rows);
  size_t shown = options.limit >= 0 && (size_t)options.limit < changed ? (size_t)options.limit : changed;
  if (options.json) print_json(&base, &now, table.rows, shown);
  else print_text(&options, &base, &now, table.rows, shown, changed);
  result = 0;
done:
  free(table.rows);
  free(table.slots);
  if (have_new) analysis_free(&now);
  if (have_base) analysis_free(&base);
  profile_free(new_prof);
  profile_free(base_prof);
  return result;
}
