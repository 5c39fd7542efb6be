/* report.c — the run summary and leak report of report.h.  Sites are keyed
 * by (function, line) of the innermost frame that is not an allocator entry
 * point.  Single-threaded; uses profile_model.c, analysis.c, units.c. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "profile_model.h"
#include "units.h"

#define REPORT_TOP_SITES 10

typedef struct site {
  uint32_t node;
  int64_t line;
  int64_t values[2];
} site;

typedef struct site_table {
  site *sites;
  size_t count;
  uint32_t *slots; /* site index + 1 */
  size_t mask;
} site_table;

/* Allocator entry points that are never the interesting site themselves. */
static int is_allocator_frame(const analysis_node *node) {
  static const char *const names[] = {
      "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc",
      "memalign", "valloc", "pvalloc", "strdup", "strndup", "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t",
      "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t", "_ZnamSt11align_val_t", "operator new",
      "operator new[]", NULL};
  if (node->module == ANALYSIS_MODULE_HEAPSCOPE) return 1;
  for (size_t i = 0; names[i]; i++)
    if (strcmp(node->name, names[i]) == 0) return 1;
  return strncmp(node->name, "hs_", 3) == 0;
}

/* The site frame of sample s: the first non-allocator frame (or the leaf). */
static const analysis_frame *site_frame(const analysis *a, size_t s) {
  const profile *prof = a->prof;
  const profile_sample *sample = &prof->samples[s];
  const analysis_frame *first = NULL;
  for (uint32_t i = 0; i < sample->location_count; i++) {
    uint32_t location = prof->sample_locations[sample->location_start + i];
    for (uint32_t f = a->location_frames[location]; f < a->location_frames[location + 1]; f++) {
      if (!first) first = &a->frames[f];
      if (!is_allocator_frame(&a->nodes[a->frames[f].node])) return &a->frames[f];
    }
  }
  return first;
}

static site *site_lookup(site_table *table, uint32_t node, int64_t line) {
  uint64_t hash = ((uint64_t)node * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)line * 0xc2b2ae3d27d4eb4full);
  for (size_t slot = (size_t)(hash >> 20) & table->mask;; slot = (slot + 1) & table->mask) {
    uint32_t entry = table->slots[slot];
    if (entry == 0) {
      site *created = &table->sites[table->count];
      memset(created, 0, sizeof *created);
      created->node = node;
      created->line = line;
      table->slots[slot] = (uint32_t)++table->count;
      return created;
    }
    site *existing = &table->sites[entry - 1];
    if (existing->node == node && existing->line == line) return existing;
  }
}

/* Sums the given sample types (by index; -1 = absent) per site. */
/* Allocations the C runtime makes once for the life of the process and
 * never frees (stdio buffers, the loader's TLS and object bookkeeping,
 * locale data, atexit blocks): not the program's leaks, like LeakSanitizer's
 * default suppressions. */
static int is_runtime_allocation(const char *function) {
  static const char *const runtime_functions[] = {
      "_IO_file_doallocate", "allocate_dtv", "_dl_", "_nl_", "setlocale", "__new_exitfn",
      "__cxa_thread_atexit",
  };
  for (size_t i = 0; i < sizeof runtime_functions / sizeof runtime_functions[0]; i++)
    if (strstr(function, runtime_functions[i])) return 1;
  return 0;
}

static int collect_sites_filtered(const analysis *a, const int indexes[2], site_table *table,
                                  int skip_runtime);

static int collect_sites(const analysis *a, const int indexes[2], site_table *table) {
  return collect_sites_filtered(a, indexes, table, 0);
}

static int collect_sites_filtered(const analysis *a, const int indexes[2], site_table *table,
                                  int skip_runtime) {
  const profile *prof = a->prof;
  size_t capacity = 16;
  while (capacity < prof->sample_count * 2) capacity *= 2;
  table->sites = calloc(prof->sample_count + 1, sizeof *table->sites);
  table->slots = calloc(capacity, sizeof *table->slots);
  table->mask = capacity - 1;
  table->count = 0;
  if (!table->sites || !table->slots) return -1;
  for (size_t s = 0; s < prof->sample_count; s++) {
    const analysis_frame *frame = site_frame(a, s);
    if (!frame) continue;
    if (skip_runtime && is_runtime_allocation(a->nodes[frame->node].name)) continue;
    site *entry = site_lookup(table, frame->node, frame->line);
    for (int v = 0; v < 2; v++)
      if (indexes[v] >= 0)
        entry->values[v] += prof->values[s * prof->sample_type_count + (size_t)indexes[v]];
  }
  return 0;
}

static void site_table_free(site_table *table) {
  free(table->sites);
  free(table->slots);
}

static int sort_column;
static int compare_sites(const void *left, const void *right) {
  const site *l = left, *r = right;
  int64_t lv = l->values[sort_column], rv = r->values[sort_column];
  if (lv != rv) return lv > rv ? -1 : 1;
  if (l->values[!sort_column] != r->values[!sort_column])
    return l->values[!sort_column] > r->values[!sort_column] ? -1 : 1;
  if (l->node != r->node) return l->node < r->node ? -1 : 1;
  return l->line < r->line ? -1 : l->line > r->line;
}

static void print_site(FILE *out, const analysis *a, const site *entry) {
  const analysis_node *node = &a->nodes[entry->node];
  if (node->filename[0] && entry->line > 0)
    fprintf(out, "%s (%s:%lld)\n", node->name, node->filename, (long long)entry->line);
  else if (node->filename[0])
    fprintf(out, "%s (%s)\n", node->name, node->filename);
  else
    fprintf(out, "%s\n", node->name);
}

static int64_t total_of(const profile *prof, int index) {
  int64_t total = 0;
  if (index < 0) return 0;
  for (size_t s = 0; s < prof->sample_count; s++)
    total += prof->values[s * prof->sample_type_count + (size_t)index];
  return total;
}

/* Loads the profile and prepares an unfiltered analysis. */
static profile *load_for_report(const char *path, analysis *a) {
  char err[512];
  profile *prof = profile_load(path, err, sizeof err);
  if (!prof) {
    fprintf(stderr, "heapscope: %s: %s\n", path, err);
    return NULL;
  }
  analysis_options options;
  memset(&options, 0, sizeof options);
  if (analysis_build(a, prof, &options, err, sizeof err) != 0) {
    fprintf(stderr, "heapscope: %s: %s\n", path, err);
    profile_free(prof);
    return NULL;
  }
  return prof;
}

int report_run_summary(const char *profile_path, FILE *out) {
  analysis a;
  profile *prof = load_for_report(profile_path, &a);
  if (!prof) return -1;
  int alloc_objects = profile_find_sample_type(prof, "alloc_objects");
  int alloc_space = profile_find_sample_type(prof, "alloc_space");
  int inuse_objects = profile_find_sample_type(prof, "inuse_objects");
  int inuse_space = profile_find_sample_type(prof, "inuse_space");
  if (alloc_space < 0 && alloc_objects < 0) {
    fprintf(stderr, "heapscope: %s: not a heap profile (no alloc_space or alloc_objects)\n",
            profile_path);
    analysis_free(&a);
    profile_free(prof);
    return -1;
  }
  char count[32], bytes[32];
  fprintf(out, "heapscope: profile %s\n", profile_path);
  fprintf(out, "  allocated:      %s objects, %s\n",
          units_format(total_of(prof, alloc_objects), "count", 0, count, sizeof count),
          units_format(total_of(prof, alloc_space), "bytes", 0, bytes, sizeof bytes));
  if (inuse_objects >= 0 || inuse_space >= 0)
    fprintf(out, "  in use at exit: %s objects, %s\n",
            units_format(total_of(prof, inuse_objects), "count", 0, count, sizeof count),
            units_format(total_of(prof, inuse_space), "bytes", 0, bytes, sizeof bytes));
  site_table table;
  int indexes[2] = {alloc_space, alloc_objects};
  int result = -1;
  if (collect_sites(&a, indexes, &table) != 0) {
    fprintf(stderr, "heapscope: %s: out of memory\n", profile_path);
    goto done;
  }
  static const char *const titles[2] = {"bytes (alloc_space)", "objects (alloc_objects)"};
  for (int column = 0; column < 2; column++) {
    if (indexes[column] < 0) continue;
    sort_column = column;
    qsort(table.sites, table.count, sizeof *table.sites, compare_sites);
    int64_t total = total_of(prof, indexes[column]);
    fprintf(out, "top allocation sites by %s:\n", titles[column]);
    for (size_t i = 0; i < table.count && i < REPORT_TOP_SITES; i++) {
      const site *entry = &table.sites[i];
      if (entry->values[column] == 0) break;
      char value[32], percent[32];
      fprintf(out, "  %10s %7s  ",
              units_format(entry->values[column], column == 0 ? "bytes" : "count", 0, value,
                           sizeof value),
              units_percent(entry->values[column], total, 0, percent, sizeof percent));
      print_site(out, &a, entry);
    }
  }
  result = 0;
done:
  site_table_free(&table);
  analysis_free(&a);
  profile_free(prof);
  return result;
}

int report_leaks(const char *profile_path, FILE *out) {
  analysis a;
  profile *prof = load_for_report(profile_path, &a);
  if (!prof) return -1;
  int inuse_space = profile_find_sample_type(prof, "inuse_space");
  int inuse_objects = profile_find_sample_type(prof, "inuse_objects");
  if (inuse_space < 0 && inuse_objects < 0) {
    fprintf(stderr, "heapscope: %s: no inuse_space or inuse_objects in this profile\n",
            profile_path);
    analysis_free(&a);
    profile_free(prof);
    return -1;
  }
  site_table table;
  int indexes[2] = {inuse_space, inuse_objects};
  int result = -1;
  if (collect_sites_filtered(&a, indexes, &table, 1) != 0) {
    fprintf(stderr, "heapscope: %s: out of memory\n", profile_path);
    goto done;
  }
  sort_column = inuse_space >= 0 ? 0 : 1;
  qsort(table.sites, table.count, sizeof *table.sites, compare_sites);
  size_t live = 0;
  int64_t live_bytes = 0, live_objects = 0;
  for (size_t i = 0; i < table.count; i++) {
    if (table.sites[i].values[0] == 0 && table.sites[i].values[1] == 0) continue;
    live++;
    live_bytes += table.sites[i].values[0];
    live_objects += table.sites[i].values[1];
  }
  char bytes[32], count[32];
  if (live == 0) {
    fprintf(out, "heapscope: no leaks: nothing sampled was still in use at exit\n");
  } else {
    fprintf(out, "heapscope: %zu allocation site%s still %s %s in %s objects at exit:\n", live,
            live == 1 ? "" : "s", live == 1 ? "holds" : "hold", units_format(live_bytes, "bytes", 0, bytes, sizeof bytes),
            units_format(live_objects, "count", 0, count, sizeof count));
    for (size_t i = 0; i < table.count; i++) {
      const site *entry = &table.sites[i];
      if (entry->values[0] == 0 && entry->values[1] == 0) continue;
      fprintf(out, "  %10s %10s objects  ",
              units_format(entry->values[0], "bytes", 0, bytes, sizeof bytes),
              units_format(entry->values[1], "count", 0, count, sizeof count));
      print_site(out, &a, entry);
    }
  }
  result = live > (size_t)INT32_MAX ? INT32_MAX : (int)live;
done:
  site_table_free(&table);
  analysis_free(&a);
  profile_free(prof);
  return result;
}
