/* list.c — `heapscope list REGEX FILE`: for each function matching REGEX,
 * its source lines annotated with per-line flat and cum values, like pprof
 * -list.  Source files are read from the paths in the profile, or under
 * --source-dir.  Single-threaded; uses analysis.c and units.c. */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "units.h"

static const char list_usage[] =
    "usage: heapscope list [options] REGEX FILE\n"
    "  For each function whose name matches REGEX, prints its source with the\n"
    "  flat and cum value of every line.  Source files are read from the paths\n"
    "  recorded in the profile; when missing there, they are looked up under\n"
    "  --source-dir (by trailing path components).\n"
    "options:\n"
    "  --sample-index=NAME  as for top\n"
    "  --source-dir=DIR     where to look for source files\n"
    "  --focus=REGEX, --ignore=REGEX, --tag KEY=VALUE   as for top\n";

#define LIST_CONTEXT_LINES 2

typedef struct line_stat {
  int64_t line, flat, cum;
  uint32_t last_sample;
} line_stat;

typedef struct function_lines {
  uint32_t node;
  line_stat *lines;
  size_t count, capacity;
} function_lines;

static const analysis *sort_analysis;
static const int32_t *sort_slot;
static int compare_frames(const void *left, const void *right) {
  const analysis_frame *l = &sort_analysis->frames[*(const uint32_t *)left];
  const analysis_frame *r = &sort_analysis->frames[*(const uint32_t *)right];
  int32_t ls = sort_slot[l->node], rs = sort_slot[r->node];
  if (ls != rs) return ls < rs ? -1 : 1;
  return l->line < r->line ? -1 : l->line > r->line;
}

/* Index of each frame's line_stat within its function (-1 if the function
 * is not listed), resolved once per frame by sorting, so that neither this
 * nor the per-sample loop searches.  Fills every listed function's lines. */
static int64_t *frame_stat_indexes(const analysis *a, const int32_t *slot, function_lines *functions) {
  size_t frame_count = a->location_frames[a->prof->location_count];
  int64_t *indexes = malloc((frame_count + 1) * sizeof *indexes);
  uint32_t *order = malloc((frame_count + 1) * sizeof *order);
  if (!indexes || !order) {
    free(indexes);
    free(order);
    return NULL;
  }
  size_t listed = 0;
  for (size_t f = 0; f < frame_count; f++) {
    indexes[f] = -1;
    if (slot[a->frames[f].node] >= 0) order[listed++] = (uint32_t)f;
  }
  sort_analysis = a;
  sort_slot = slot;
  qsort(order, listed, sizeof *order, compare_frames);
  for (size_t i = 0; i < listed; i++) {
    const analysis_frame *frame = &a->frames[order[i]];
    function_lines *fn = &functions[slot[frame->node]];
    if (fn->count == 0 || fn->lines[fn->count - 1].line != frame->line) {
      if (fn->count == fn->capacity) {
        size_t capacity = fn->capacity ? fn->capacity * 2 : 8;
        line_stat *grown = realloc(fn->lines, capacity * sizeof *grown);
        if (!grown) {
          free(indexes);
          free(order);
          return NULL;
        }
        fn->lines = grown;
        fn->capacity = capacity;
      }
      line_stat *stat = &fn->lines[fn->count++];
      memset(stat, 0, sizeof *stat);
      stat->line = frame->line;
    }
    indexes[order[i]] = (int64_t)fn->count - 1;
  }
  free(order);
  return indexes;
}

/* Opens the source file: as recorded, then under source_dir with ever
 * shorter trailing parts of the recorded path. */
static FILE *open_source(const char *path, const char *source_dir, char *found, size_t len) {
  FILE *file = fopen(path, "r");
  if (file) {
    snprintf(found, len, "%s", path);
    return file;
  }
  if (!source_dir) return NULL;
  for (const char *tail = path; tail; tail = strchr(tail + 1, '/')) {
    const char *part = tail[0] == '/' ? tail + 1 : tail;
    if (!*part) break;
    snprintf(found, len, "%s/%s", source_dir, part);
    file = fopen(found, "r");
    if (file) return file;
  }
  return NULL;
}

static void print_function(const analysis *a, const function_lines *fn, const char *source_dir) {
  const analysis_node *node = &a->nodes[fn->node];
  char flat[32], cum[32], percent[32], found[4096];
  printf("ROUTINE ======================== %s in %s\n", node->name,
         node->filename[0] ? node->filename : "(unknown file)");
  printf("%10s %10s (flat, cum) %s of total\n", units_format(node->flat, a->unit, 0, flat, sizeof flat),
         units_format(node->cum, a->unit, 0, cum, sizeof cum),
         units_percent(node->cum, a->total, 0, percent, sizeof percent));
  FILE *source = node->filename[0] ? open_source(node->filename, source_dir, found, sizeof found) : NULL;
  if (!source) {
    printf("  (source file %s not found%s; showing line numbers only)\n",
           node->filename[0] ? node->filename : "unknown",
           source_dir ? " here or under --source-dir" : "; try --source-dir");
    for (size_t i = 0; i < fn->count; i++)
      printf("%10s %10s %6lld\n", units_format(fn->lines[i].flat, a->unit, 0, flat, sizeof flat),
             units_format(fn->lines[i].cum, a->unit, 0, cum, sizeof cum),
             (long long)fn->lines[i].line);
    return;
  }
  int64_t first = fn->count ? fn->lines[0].line : 1, last = fn->count ? fn->lines[fn->count - 1].line : 1;
  first = first > LIST_CONTEXT_LINES ? first - LIST_CONTEXT_LINES : 1;
  last += LIST_CONTEXT_LINES;
  char text[4096];
  int64_t number = 0;
  size_t next = 0;
  int at_line_start = 1;
  while (fgets(text, sizeof text, source)) {
    int whole_line = strchr(text, '\n') != NULL;
    if (at_line_start) number++;
    int print_prefix = at_line_start;
    at_line_start = whole_line;
    if (number < first) continue;
    if (number > last) break;
    if (print_prefix) {
      while (next < fn->count && fn->lines[next].line < number) next++;
      if (next < fn->count && fn->lines[next].line == number)
        printf("%10s %10s %6lld: ", units_format(fn->lines[next].flat, a->unit, 0, flat, sizeof flat),
               units_format(fn->lines[next].cum, a->unit, 0, cum, sizeof cum), (long long)number);
      else
        printf("%10s %10s %6lld: ", ".", ".", (long long)number);
    }
    fputs(text, stdout);
    if (!whole_line && feof(source)) fputc('\n', stdout);
  }
  fclose(source);
}

int command_list(int argc, char **argv) {
  command_options options;
  int status = command_parse("list", list_usage,
                             COMMAND_OPT_INDEX | COMMAND_OPT_FILTERS | COMMAND_OPT_SOURCE_DIR, 2,
                             argc, argv, &options);
  if (status) return status == 1 ? 0 : 2;
  regex_t regex;
  int rc = regcomp(&regex, options.positional[0], REG_EXTENDED | REG_NOSUB);
  if (rc != 0) {
    char reason[128];
    regerror(rc, &regex, reason, sizeof reason);
    fprintf(stderr, "heapscope list: bad regex '%s': %s\n", options.positional[0], reason);
    return 2;
  }
  analysis a;
  profile *prof = command_load_analysed("list", options.positional[1], &options, &a);
  if (!prof) {
    regfree(&regex);
    return 2;
  }
  int32_t *slot = malloc((a.node_count + 1) * sizeof *slot);
  function_lines *functions = calloc(a.node_count + 1, sizeof *functions);
  size_t matched = 0;
  int64_t *stat_index = NULL;
  int result = 2;
  if (!slot || !functions) goto oom;
  for (size_t i = 0; i < a.node_count; i++) {
    slot[i] = -1;
    if (a.nodes[i].cum == 0 && a.nodes[i].flat == 0) continue;
    if (regexec(&regex, a.nodes[i].name, 0, NULL, 0) != 0) continue;
    slot[i] = (int32_t)matched;
    functions[matched++].node = (uint32_t)i;
  }
  if (matched == 0) {
    fprintf(stderr, "heapscope list: no function with samples matches '%s'\n", options.positional[0]);
    goto done;
  }
  stat_index = frame_stat_indexes(&a, slot, functions);
  if (!stat_index) goto oom;
  for (size_t s = 0; s < prof->sample_count; s++) {
    if (!a.sample_kept[s]) continue;
    const profile_sample *sample = &prof->samples[s];
    int64_t value = analysis_value(&a, s);
    int leaf = 1;
    for (uint32_t i = 0; i < sample->location_count; i++) {
      uint32_t location = prof->sample_locations[sample->location_start + i];
      for (uint32_t f = a.location_frames[location]; f < a.location_frames[location + 1]; f++) {
        const analysis_frame *frame = &a.frames[f];
        int32_t index = slot[frame->node];
        int is_leaf = leaf;
        leaf = 0;
        if (index < 0) continue;
        line_stat *stat = &functions[index].lines[stat_index[f]];
        if (is_leaf) stat->flat += value;
        if (stat->last_sample != (uint32_t)s + 1) {
          stat->last_sample = (uint32_t)s + 1;
          stat->cum += value;
        }
      }
    }
  }
  for (size_t i = 0; i < matched; i++) {
    print_function(&a, &functions[i], options.source_dir);
  }
  result = 0;
  goto done;
oom:
  fputs("heapscope list: out of memory\n", stderr);
done:
  if (functions)
    for (size_t i = 0; i < matched; i++) free(functions[i].lines);
  free(functions);
  free(slot);
  free(stat_index);
  regfree(&regex);
  analysis_free(&a);
  profile_free(prof);
  return result;
}
