/* analysis.c — sample filtering and per-function flat/cum values shared by
 * the report commands (see analysis.h).  Functions are merged by name, as
 * pprof's default "functions" granularity does; a location without symbols
 * becomes a node named by its address.  Single-threaded; libc only. */
#include "analysis.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Room for "0x" + 16 hex digits, or a "[mapping]" name (truncated). */
#define ANALYSIS_ADDRESS_NAME_BYTES 80

const char *const analysis_module_names[ANALYSIS_MODULE_COUNT] = {"user", "libc", "system",
                                                                   "heapscope"};

static uint64_t hash_string(const char *s) {
  uint64_t hash = 1469598103934665603ull;
  for (; *s; s++) hash = (hash ^ (uint8_t)*s) * 1099511628211ull;
  return hash;
}

/* Name -> node index table (open addressing over node indexes + 1). */
typedef struct name_table {
  uint32_t *slots;
  size_t mask;
} name_table;

static uint32_t node_for_name(analysis *a, name_table *table, const char *name,
                              const char *filename, analysis_module module) {
  for (size_t slot = hash_string(name) & table->mask;; slot = (slot + 1) & table->mask) {
    uint32_t entry = table->slots[slot];
    if (entry == 0) {
      analysis_node *node = &a->nodes[a->node_count];
      memset(node, 0, sizeof *node);
      node->name = name;
      node->filename = filename ? filename : "";
      node->module = module;
      table->slots[slot] = (uint32_t)++a->node_count;
      return (uint32_t)(a->node_count - 1);
    }
    if (strcmp(a->nodes[entry - 1].name, name) == 0) {
      if (!a->nodes[entry - 1].filename[0] && filename) a->nodes[entry - 1].filename = filename;
      return entry - 1;
    }
  }
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}

static analysis_module classify(const profile *prof, const profile_location *location,
                                const profile_function *fn) {
  const char *mapping = location->mapping_index != PROFILE_NO_INDEX
                            ? prof->mappings[location->mapping_index].filename
                            : "";
  const char *file = fn ? fn->filename : "";
  const char *name = fn ? fn->name : "";
  const char *base = base_name(mapping);
  if (strstr(base, "libheapscope")) return ANALYSIS_MODULE_HEAPSCOPE;
  if (starts_with(base, "libc.so") || starts_with(base, "libc-") || starts_with(base, "libm.so") ||
      starts_with(base, "libpthread") || starts_with(base, "ld-linux") ||
      starts_with(base, "libdl") || starts_with(base, "librt") || strstr(file, "glibc") ||
      starts_with(file, "/usr/include/"))
    return ANALYSIS_MODULE_LIBC;
  if (starts_with(mapping, "/lib/") || starts_with(mapping, "/lib64/") ||
      starts_with(mapping, "/usr/lib/") || starts_with(mapping, "/usr/lib64/") ||
      starts_with(name, "runtime.") || starts_with(file, "/usr/lib/go") ||
      starts_with(mapping, "[vdso]"))
    return ANALYSIS_MODULE_SYSTEM;
  return ANALYSIS_MODULE_USER;
}

/* Lists the sample type names, for error messages: "a, b, c". */
static void sample_type_list(const profile *prof, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
  for (size_t i = 0; i < prof->sample_type_count && used < len; i++) {
    int n = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", prof->sample_types[i].type);
    if (n < 0) break;
    used += (size_t)n;
  }
}

static int resolve_index(analysis *a, const profile *prof, const char *name, char *err,
                         size_t errlen) {
  if (!name) {
    a->sample_index = profile_default_sample_index(prof);
    return 0;
  }
  int index = profile_find_sample_type(prof, name);
  if (index < 0) {
    char *end;
    long number = strtol(name, &end, 10);
    if (*name && !*end && number >= 0 && (size_t)number < prof->sample_type_count) index = (int)number;
  }
  if (index < 0) {
    char list[512];
    sample_type_list(prof, list, sizeof list);
    snprintf(err, errlen, "no sample type '%s' in this profile (it has: %s)", name, list);
    return -1;
  }
  a->sample_index = index;
  return 0;
}

/* Returns 1 if the sample carries every --tag KEY=VALUE. */
static int sample_has_tags(const profile *prof, const profile_sample *sample,
                           const analysis_options *options) {
  for (size_t t = 0; t < options->tag_count; t++) {
    const char *tag = options->tags[t];
    const char *equals = strchr(tag, '=');
    size_t key_len = (size_t)(equals - tag);
    int found = 0;
    for (uint32_t l = 0; l < sample->label_count && !found; l++) {
      const profile_label *label = &prof->labels[sample->label_start + l];
      if (strlen(label->key) != key_len || memcmp(label->key, tag, key_len) != 0) continue;
      if (label->str) {
        found = strcmp(label->str, equals + 1) == 0;
      } else {
        char *end;
        long long number = strtoll(equals + 1, &end, 10);
        found = *end == 0 && number == label->num;
      }
    }
    if (!found) return 0;
  }
  return 1;
}

/* Marks which locations match a regex (function name, file name, mapping). */
static uint8_t *match_locations(const profile *prof, const regex_t *regex) {
  uint8_t *function_match = calloc(prof->function_count + 1, 1);
  uint8_t *location_match = calloc(prof->location_count + 1, 1);
  if (!function_match || !location_match) {
    free(function_match);
    free(location_match);
    return NULL;
  }
  for (size_t f = 0; f < prof->function_count; f++) {
    const profile_function *fn = &prof->functions[f];
    function_match[f] = regexec(regex, fn->name, 0, NULL, 0) == 0 ||
                        (fn->filename[0] && regexec(regex, fn->filename, 0, NULL, 0) == 0);
  }
  for (size_t l = 0; l < prof->location_count; l++) {
    const profile_location *location = &prof->locations[l];
    for (uint32_t i = 0; i < location->line_count && !location_match[l]; i++) {
      uint32_t f = prof->lines[location->line_start + i].function_index;
      if (f != PROFILE_NO_INDEX && function_match[f]) location_match[l] = 1;
    }
    if (location->mapping_index != PROFILE_NO_INDEX) {
      const char *file = prof->mappings[location->mapping_index].filename;
      if (file[0] && regexec(regex, file, 0, NULL, 0) == 0) location_match[l] = 1;
    }
  }
  free(function_match);
  return location_match;
}

static int compile(regex_t *regex, const char *pattern, const char *what, char *err, size_t errlen) {
  int status = regcomp(regex, pattern, REG_EXTENDED | REG_NOSUB);
  if (status == 0) return 0;
  char reason[128];
  regerror(status, regex, reason, sizeof reason);
  snprintf(err, errlen, "bad %s regex '%s': %s", what, pattern, reason);
  return -1;
}

/* Applies --focus/--ignore/--tag: fills a->sample_kept. */
static int filter_samples(analysis *a, const analysis_options *options, char *err, size_t errlen) {
  const profile *prof = a->prof;
  uint8_t *focus = NULL, *ignore = NULL;
  regex_t regex;
  for (size_t t = 0; t < options->tag_count; t++) {
    if (!strchr(options->tags[t], '=') || options->tags[t][0] == '=') {
      snprintf(err, errlen, "bad --tag '%s' (expected KEY=VALUE)", options->tags[t]);
      return -1;
    }
  }
  if (options->focus) {
    if (compile(&regex, options->focus, "--focus", err, errlen) != 0) return -1;
    focus = match_locations(prof, &regex);
    regfree(&regex);
    if (!focus) goto oom;
  }
  if (options->ignore) {
    if (compile(&regex, options->ignore, "--ignore", err, errlen) != 0) {
      free(focus);
      return -1;
    }
    ignore = match_locations(prof, &regex);
    regfree(&regex);
    if (!ignore) goto oom;
  }
  for (size_t s = 0; s < prof->sample_count; s++) {
    const profile_sample *sample = &prof->samples[s];
    int focused = focus == NULL, ignored = 0;
    for (uint32_t i = 0; i < sample->location_count; i++) {
      uint32_t location = prof->sample_locations[sample->location_start + i];
      if (focus && focus[location]) focused = 1;
      if (ignore && ignore[location]) ignored = 1;
    }
    a->sample_kept[s] = focused && !ignored &&
                        (options->tag_count == 0 || sample_has_tags(prof, sample, options));
  }
  free(focus);
  free(ignore);
  return 0;
oom:
  free(focus);
  snprintf(err, errlen, "out of memory");
  return -1;
}

/* Builds nodes and every location's frame list. */
static int build_frames(analysis *a, char *err, size_t errlen) {
  const profile *prof = a->prof;
  size_t max_nodes = prof->function_count + prof->location_count + 1;
  size_t frame_total = 0;
  for (size_t l = 0; l < prof->location_count; l++)
    frame_total += prof->locations[l].line_count ? prof->locations[l].line_count : 1;
  name_table table = {0};
  size_t capacity = 16;
  while (capacity < max_nodes * 2) capacity *= 2;
  table.slots = calloc(capacity, sizeof *table.slots);
  table.mask = capacity - 1;
  a->nodes = calloc(max_nodes, sizeof *a->nodes);
  a->frames = calloc(frame_total + 1, sizeof *a->frames);
  a->location_frames = calloc(prof->location_count + 1, sizeof *a->location_frames);
  a->address_names = calloc(prof->location_count + 1, ANALYSIS_ADDRESS_NAME_BYTES);
  if (!table.slots || !a->nodes || !a->frames || !a->location_frames || !a->address_names) {
    free(table.slots);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  uint32_t frame = 0;
  for (size_t l = 0; l < prof->location_count; l++) {
    const profile_location *location = &prof->locations[l];
    a->location_frames[l] = frame;
    int named = 0;
    for (uint32_t i = 0; i < location->line_count; i++) {
      const profile_line *line = &prof->lines[location->line_start + i];
      if (line->function_index == PROFILE_NO_INDEX) continue;
      const profile_function *fn = &prof->functions[line->function_index];
      const char *name = fn->name[0] ? fn->name : fn->system_name;
      if (!name[0]) continue;
      a->frames[frame].node = node_for_name(a, &table, name, fn->filename, classify(prof, location, fn));
      a->frames[frame].line = line->line;
      frame++;
      named = 1;
    }
    if (!named) {
      /* like pprof: "[binary]" when the mapping is known, else the address */
      char *name = a->address_names + l * ANALYSIS_ADDRESS_NAME_BYTES;
      const char *mapping = location->mapping_index != PROFILE_NO_INDEX
                                ? base_name(prof->mappings[location->mapping_index].filename)
                                : "";
      if (mapping[0])
        snprintf(name, ANALYSIS_ADDRESS_NAME_BYTES, "[%s]", mapping);
      else
        snprintf(name, ANALYSIS_ADDRESS_NAME_BYTES, "0x%" PRIx64, location->address);
      a->frames[frame].node = node_for_name(a, &table, name, NULL, classify(prof, location, NULL));
      a->frames[frame].line = 0;
      frame++;
    }
  }
  a->location_frames[prof->location_count] = frame;
  free(table.slots);
  return 0;
}

int analysis_build(analysis *a, const profile *prof, const analysis_options *options, char *err,
                   size_t errlen) {
  memset(a, 0, sizeof *a);
  a->prof = prof;
  if (resolve_index(a, prof, options->sample_index_name, err, errlen) != 0) return -1;
  a->sample_type = prof->sample_types[a->sample_index].type;
  a->unit = prof->sample_types[a->sample_index].unit;
  a->sample_kept = calloc(prof->sample_count + 1, 1);
  if (!a->sample_kept) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (filter_samples(a, options, err, errlen) != 0 || build_frames(a, err, errlen) != 0) {
    analysis_free(a);
    return -1;
  }
  uint64_t total_frames = 0;
  for (size_t s = 0; s < prof->sample_count; s++) {
    const profile_sample *sample = &prof->samples[s];
    uint64_t depth = 0;
    for (uint32_t i = 0; i < sample->location_count; i++) {
      uint32_t location = prof->sample_locations[sample->location_start + i];
      depth += a->location_frames[location + 1] - a->location_frames[location];
    }
    if (depth > a->max_sample_frames) a->max_sample_frames = (size_t)depth;
    total_frames += depth;
    if (total_frames > ANALYSIS_MAX_TOTAL_FRAMES) {
      snprintf(err, errlen, "the samples' stacks expand to more than %llu frames; refusing",
               (unsigned long long)ANALYSIS_MAX_TOTAL_FRAMES);
      analysis_free(a);
      return -1;
    }
  }
  for (size_t s = 0; s < prof->sample_count; s++) {
    if (!a->sample_kept[s]) continue;
    int64_t value = analysis_value(a, s);
    a->kept_count++;
    a->total += value < 0 ? -value : value;
    const profile_sample *sample = &prof->samples[s];
    uint32_t stamp = (uint32_t)s + 1;
    int leaf = 1;
    for (uint32_t i = 0; i < sample->location_count; i++) {
      uint32_t location = prof->sample_locations[sample->location_start + i];
      for (uint32_t f = a->location_frames[location]; f < a->location_frames[location + 1]; f++) {
        analysis_node *node = &a->nodes[a->frames[f].node];
        if (leaf) node->flat += value;
        leaf = 0;
        if (node->last_sample != stamp) {
          node->last_sample = stamp;
          node->cum += value;
        }
      }
    }
  }
  return 0;
}

void analysis_free(analysis *a) {
  free(a->nodes);
  free(a->frames);
  free(a->location_frames);
  free(a->sample_kept);
  free(a->address_names);
  memset(a, 0, sizeof *a);
}

static int64_t magnitude(int64_t v) { return v < 0 ? -v : v; }

static int compare_nodes(const void *left, const void *right, void *context) {
  const analysis *a = ((void **)context)[0];
  int by_cum = *(const int *)((void **)context)[1];
  const analysis_node *l = &a->nodes[*(const uint32_t *)left];
  const analysis_node *r = &a->nodes[*(const uint32_t *)right];
  int64_t lv = magnitude(by_cum ? l->cum : l->flat), rv = magnitude(by_cum ? r->cum : r->flat);
  if (lv != rv) return lv > rv ? -1 : 1;
  return strcmp(l->name, r->name);
}

uint32_t *analysis_sorted_nodes(const analysis *a, int by_cum) {
  uint32_t *order = malloc((a->node_count + 1) * sizeof *order);
  if (!order) return NULL;
  for (size_t i = 0; i < a->node_count; i++) order[i] = (uint32_t)i;
  void *context[2] = {(void *)a, &by_cum};
  qsort_r(order, a->node_count, sizeof *order, compare_nodes, context);
  return order;
}

void analysis_json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(out, "\\%c", *p);
    else if (*p < 0x20) fprintf(out, "\\u%04x", *p);
    else fputc(*p, out);
  }
  fputc('"', out);
}
