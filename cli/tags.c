/* tags.c — `heapscope tags`: every label key of a profile with each value's
 * total (of the chosen sample type) and share, like pprof -tags.
 * Single-threaded; uses analysis.c and units.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "units.h"

static const char tags_usage[] =
    "usage: heapscope tags [options] FILE\n"
    "  Lists the label keys of FILE's samples, and for each key its values\n"
    "  with their totals, biggest first.\n"
    "options:\n"
    "  --sample-index=NAME  as for top\n"
    "  --focus=REGEX, --ignore=REGEX, --tag KEY=VALUE   as for top\n"
    "  --json               machine-readable output\n";

typedef struct tag_entry {
  const char *key, *str, *num_unit;
  int64_t num, value;
} tag_entry;

static int compare_key_value(const void *left, const void *right) {
  const tag_entry *l = left, *r = right;
  int c = strcmp(l->key, r->key);
  if (c) return c;
  if (!l->str != !r->str) return l->str ? -1 : 1;
  if (l->str) return strcmp(l->str, r->str);
  if (l->num != r->num) return l->num < r->num ? -1 : 1;
  return strcmp(l->num_unit, r->num_unit);
}

static int64_t magnitude(int64_t v) { return v < 0 ? -v : v; }

static int compare_key_total(const void *left, const void *right) {
  const tag_entry *l = left, *r = right;
  int c = strcmp(l->key, r->key);
  if (c) return c;
  if (magnitude(l->value) != magnitude(r->value)) return magnitude(l->value) > magnitude(r->value) ? -1 : 1;
  return compare_key_value(left, right);
}

static char *value_name(const tag_entry *entry, char *buf, size_t len) {
  if (entry->str) return (char *)entry->str;
  snprintf(buf, len, "%lld%s%s", (long long)entry->num, entry->num_unit[0] ? " " : "", entry->num_unit);
  return buf;
}

int command_tags(int argc, char **argv) {
  command_options options;
  int status = command_parse("tags", tags_usage,
                             COMMAND_OPT_INDEX | COMMAND_OPT_FILTERS | COMMAND_OPT_JSON, 1, argc,
                             argv, &options);
  if (status) return status == 1 ? 0 : 2;
  analysis a;
  profile *prof = command_load_analysed("tags", options.positional[0], &options, &a);
  if (!prof) return 2;
  tag_entry *entries = calloc(prof->label_count + 1, sizeof *entries);
  if (!entries) {
    fputs("heapscope tags: out of memory\n", stderr);
    analysis_free(&a);
    profile_free(prof);
    return 2;
  }
  size_t count = 0;
  for (size_t s = 0; s < prof->sample_count; s++) {
    if (!a.sample_kept[s]) continue;
    const profile_sample *sample = &prof->samples[s];
    for (uint32_t l = 0; l < sample->label_count; l++) {
      const profile_label *label = &prof->labels[sample->label_start + l];
      tag_entry *entry = &entries[count++];
      entry->key = label->key;
      entry->str = label->str;
      entry->num = label->num;
      entry->num_unit = label->num_unit;
      entry->value = analysis_value(&a, s);
    }
  }
  /* merge equal key/value pairs */
  qsort(entries, count, sizeof *entries, compare_key_value);
  size_t merged = 0;
  for (size_t i = 0; i < count; i++) {
    if (merged && compare_key_value(&entries[merged - 1], &entries[i]) == 0)
      entries[merged - 1].value += entries[i].value;
    else
      entries[merged++] = entries[i];
  }
  qsort(entries, merged, sizeof *entries, compare_key_total);
  char value[32], percent[32], name[64];
  if (options.json) {
    printf("{\"sample_type\":");
    analysis_json_string(stdout, a.sample_type);
    printf(",\"total\":%lld,\"tags\":[", (long long)a.total);
  } else if (merged == 0) printf("no labels in %s\n", options.positional[0]);
  for (size_t i = 0; i < merged; i++) {
    const tag_entry *entry = &entries[i];
    int first_of_key = i == 0 || strcmp(entries[i - 1].key, entry->key) != 0;
    if (options.json) {
      printf("%s\n {\"key\":", i ? "," : "");
      analysis_json_string(stdout, entry->key);
      printf(",\"value\":");
      analysis_json_string(stdout, value_name(entry, name, sizeof name));
      printf(",\"total\":%lld}", (long long)entry->value);
      continue;
    }
    if (first_of_key) {
      int64_t key_total = 0;
      for (size_t j = i; j < merged && strcmp(entries[j].key, entry->key) == 0; j++)
        key_total += entries[j].value;
      printf("%s%s: total %s\n", i ? "\n" : "", entry->key,
             units_format(key_total, a.unit, 0, value, sizeof value));
    }
    printf("  %10s %7s  %s\n", units_format(entry->value, a.unit, 0, value, sizeof value),
           units_percent(entry->value, a.total, 0, percent, sizeof percent),
           value_name(entry, name, sizeof name));
  }
  if (options.json) printf("\n]}\n");
  free(entries);
  analysis_free(&a);
  profile_free(prof);
  return 0;
}
