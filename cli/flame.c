/* flame.c — `heapscope flame FILE -o OUT.svg|OUT.html`: merges the kept
 * samples into a call tree (root at the bottom, callees above, siblings in
 * name order) and writes it as a static SVG or, via flame_html.c, as a
 * self-contained interactive HTML page.  Frames are coloured by module.
 * Single-threaded; uses analysis.c and units.c. */
#include "flame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "commands.h"
#include "units.h"

static const char flame_usage[] =
    "usage: heapscope flame [options] FILE -o OUT.svg|OUT.html\n"
    "  Draws a flame graph of FILE's chosen sample type: each box is a\n"
    "  function, as wide as the memory (or objects) allocated in it and its\n"
    "  callees; callers below, callees above.  OUT.html is interactive\n"
    "  (click to zoom, search, hover for detail) and needs no network; OUT.svg\n"
    "  is a static picture for documents.  Colours: warm = the program,\n"
    "  blue = libc, green = other system libraries/runtimes, purple = heapscope.\n"
    "options:\n"
    "  -o FILE              output file; the format follows its extension\n"
    "  --sample-index=NAME  as for top\n"
    "  --focus=REGEX, --ignore=REGEX, --tag KEY=VALUE   as for top\n";

/* Most frames the writers emit; narrower ones are dropped first. */
#define FLAME_MAX_OUTPUT_FRAMES 100000
#define FLAME_SVG_WIDTH 1200
#define FLAME_FRAME_HEIGHT 16

typedef struct child_table {
  uint32_t *slots; /* frame index + 1 */
  size_t mask;
} child_table;

static size_t child_hash(uint32_t parent, uint32_t node) {
  uint64_t key = ((uint64_t)parent << 32) | node;
  return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 24);
}

/* Grows the frame array and the child table when needed. */
static int tree_reserve(flame_tree *tree, size_t *capacity, child_table *table) {
  if (tree->count < *capacity && tree->count * 2 < table->mask) return 0;
  if (tree->count >= *capacity) {
    size_t grown = *capacity * 2;
    flame_frame *frames = realloc(tree->frames, grown * sizeof *frames);
    if (!frames) return -1;
    tree->frames = frames;
    *capacity = grown;
  }
  if (tree->count * 2 >= table->mask) {
    size_t size = (table->mask + 1) * 2;
    uint32_t *slots = calloc(size, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 1; i < tree->count; i++) {
      size_t slot = child_hash(tree->frames[i].parent, tree->frames[i].node) & (size - 1);
      while (slots[slot]) slot = (slot + 1) & (size - 1);
      slots[slot] = (uint32_t)i + 1;
    }
    free(table->slots);
    table->slots = slots;
    table->mask = size - 1;
  }
  return 0;
}

static int64_t child_of(flame_tree *tree, size_t *capacity, child_table *table, uint32_t parent,
                        uint32_t node) {
  if (tree_reserve(tree, capacity, table) != 0) return -1;
  size_t slot = child_hash(parent, node) & table->mask;
  for (;; slot = (slot + 1) & table->mask) {
    uint32_t entry = table->slots[slot];
    if (entry == 0) break;
    const flame_frame *frame = &tree->frames[entry - 1];
    if (frame->parent == parent && frame->node == node) return entry - 1;
  }
  uint32_t index = (uint32_t)tree->count++;
  flame_frame *frame = &tree->frames[index];
  memset(frame, 0, sizeof *frame);
  frame->node = node;
  frame->parent = parent;
  frame->depth = tree->frames[parent].depth + 1;
  if (frame->depth > tree->max_depth) tree->max_depth = frame->depth;
  table->slots[slot] = index + 1;
  return index;
}

static const flame_tree *sort_tree;
static int compare_children(const void *left, const void *right) {
  const flame_frame *l = &sort_tree->frames[*(const uint32_t *)left];
  const flame_frame *r = &sort_tree->frames[*(const uint32_t *)right];
  return strcmp(sort_tree->a->nodes[l->node].name, sort_tree->a->nodes[r->node].name);
}

/* Links children (sorted by name) through first_child/next_sibling. */
static int link_children(flame_tree *tree) {
  uint32_t *order = malloc(tree->count * sizeof *order);
  if (!order) return -1;
  for (size_t i = 0; i + 1 < tree->count; i++) order[i] = (uint32_t)i + 1;
  sort_tree = tree;
  /* sort by (parent, name): stable grouping via two keys */
  size_t n = tree->count - 1;
  qsort(order, n, sizeof *order, compare_children);
  for (size_t i = n; i-- > 0;) {
    flame_frame *frame = &tree->frames[order[i]];
    frame->next_sibling = tree->frames[frame->parent].first_child;
    tree->frames[frame->parent].first_child = order[i];
  }
  free(order);
  return 0;
}

int flame_build(flame_tree *tree, const analysis *a) {
  const profile *prof = a->prof;
  memset(tree, 0, sizeof *tree);
  tree->a = a;
  size_t capacity = 1024;
  child_table table = {calloc(4096, sizeof(uint32_t)), 4095};
  tree->frames = calloc(capacity, sizeof *tree->frames);
  if (!table.slots || !tree->frames) goto oom;
  tree->count = 1;
  uint32_t *stack = malloc((a->max_sample_frames + 1) * sizeof *stack);
  if (!stack) goto oom;
  for (size_t s = 0; s < prof->sample_count; s++) {
    int64_t value = analysis_value(a, s);
    if (!a->sample_kept[s] || value <= 0) continue;
    const profile_sample *sample = &prof->samples[s];
    size_t depth = 0;
    for (uint32_t i = 0; i < sample->location_count; i++) {
      uint32_t location = prof->sample_locations[sample->location_start + i];
      for (uint32_t f = a->location_frames[location]; f < a->location_frames[location + 1]; f++)
        stack[depth++] = a->frames[f].node;
    }
    tree->frames[0].value += value;
    uint32_t parent = 0;
    while (depth-- > 0) {
      int64_t child = child_of(tree, &capacity, &table, parent, stack[depth]);
      if (child < 0) {
        free(stack);
        goto oom;
      }
      tree->frames[child].value += value;
      parent = (uint32_t)child;
    }
  }
  free(stack);
  free(table.slots);
  return link_children(tree);
oom:
  free(table.slots);
  return -1;
}

/* The smallest value worth drawing so that at most `limit` frames remain. */
int64_t flame_output_threshold(const flame_tree *tree, int64_t at_least, size_t limit) {
  int64_t threshold = at_least > 0 ? at_least : 1;
  for (;;) {
    size_t kept = 0;
    for (size_t i = 0; i < tree->count; i++) kept += tree->frames[i].value >= threshold;
    if (kept <= limit) return threshold;
    threshold *= 2;
  }
}

/* Colour of a frame: a hue family per module, varied by a hash of the name. */
void flame_colour(analysis_module module, const char *name, char *buf, size_t len) {
  unsigned hash = 2166136261u;
  for (const char *p = name; *p; p++) hash = (hash ^ (uint8_t)*p) * 16777619u;
  unsigned v1 = hash % 64, v2 = (hash >> 8) % 64, v3 = (hash >> 16) % 64;
  int r, g, b;
  switch (module) {
    case ANALYSIS_MODULE_LIBC: r = 80 + (int)v1; g = 140 + (int)v2; b = 220 + (int)(v3 % 36); break;
    case ANALYSIS_MODULE_SYSTEM: r = 60 + (int)v1; g = 180 + (int)(v2 % 60); b = 90 + (int)v3; break;
    case ANALYSIS_MODULE_HEAPSCOPE: r = 160 + (int)v1; g = 100 + (int)v2; b = 210 + (int)(v3 % 40); break;
    default: r = 205 + (int)(v1 % 50); g = 80 + (int)(v2 * 2); b = 40 + (int)(v3 % 40); break;
  }
  snprintf(buf, len, "rgb(%d,%d,%d)", r, g, b);
}

static void write_xml_text(FILE *out, const char *s, size_t max_chars) {
  size_t n = 0;
  for (; *s && n < max_chars; s++, n++) {
    switch (*s) {
      case '<': fputs("&lt;", out); break;
      case '>': fputs("&gt;", out); break;
      case '&': fputs("&amp;", out); break;
      case '"': fputs("&quot;", out); break;
      default:
        if ((unsigned char)*s < 0x20) fputc(' ', out);
        else fputc(*s, out);
    }
  }
  if (*s && max_chars >= 2) fputs("..", out);
}

static void write_svg_frame(FILE *out, const flame_tree *tree, uint32_t index, double x,
                            double scale, double height) {
  const flame_frame *frame = &tree->frames[index];
  const analysis *a = tree->a;
  const char *name = index == 0 ? "all" : a->nodes[frame->node].name;
  analysis_module module = index == 0 ? ANALYSIS_MODULE_USER : a->nodes[frame->node].module;
  double width = (double)frame->value * scale;
  double y = height - 30 - (double)(frame->depth + 1) * FLAME_FRAME_HEIGHT;
  char colour[32], value[32], percent[32];
  flame_colour(module, name, colour, sizeof colour);
  fprintf(out, "<g><title>");
  write_xml_text(out, name, 4096);
  fprintf(out, " (%s, %s, %s)</title>", units_format(frame->value, a->unit, 0, value, sizeof value),
          units_percent(frame->value, tree->frames[0].value, 0, percent, sizeof percent),
          analysis_module_names[module]);
  fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" fill=\"%s\" rx=\"2\"/>",
          x + 10, y, width, FLAME_FRAME_HEIGHT - 1, colour);
  size_t fits = width > 10 ? (size_t)((width - 6) / 7) : 0;
  if (fits >= 3) {
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", x + 13, y + 11.5);
    write_xml_text(out, name, strlen(name) > fits ? fits - 2 : fits);
    fputs("</text>", out);
  }
  fputs("</g>\n", out);
}

int64_t *flame_frame_starts(const flame_tree *tree) {
  int64_t *starts = calloc(tree->count + 1, sizeof *starts);
  if (!starts) return NULL;
  /* a parent always has a smaller index than its children */
  for (size_t i = 0; i < tree->count; i++) {
    int64_t next = starts[i];
    for (uint32_t child = tree->frames[i].first_child; child; child = tree->frames[child].next_sibling) {
      starts[child] = next;
      next += tree->frames[child].value;
    }
  }
  return starts;
}

static int write_svg(FILE *out, const flame_tree *tree, const char *title) {
  int64_t total = tree->frames[0].value;
  double scale = total > 0 ? (double)(FLAME_SVG_WIDTH - 20) / (double)total : 0;
  /* frames narrower than 0.1 pixel are invisible */
  int64_t threshold = flame_output_threshold(tree, (int64_t)((double)total / ((FLAME_SVG_WIDTH - 20) * 10.0)),
                                       FLAME_MAX_OUTPUT_FRAMES);
  double height = (double)(tree->max_depth + 1) * FLAME_FRAME_HEIGHT + 70;
  fprintf(out, "<?xml version=\"1.0\" standalone=\"no\"?>\n"
               "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
               "height=\"%.0f\" viewBox=\"0 0 %d %.0f\" font-family=\"Verdana, sans-serif\" "
               "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"#f8f8f4\"/>\n"
               "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">",
          FLAME_SVG_WIDTH, height, FLAME_SVG_WIDTH, height, FLAME_SVG_WIDTH / 2);
  write_xml_text(out, title, 4096);
  fputs("</text>\n", out);
  static const char *const legend[] = {"program", "libc", "system libraries", "heapscope"};
  for (int m = 0; m < ANALYSIS_MODULE_COUNT; m++) {
    char colour[32];
    flame_colour((analysis_module)m, "", colour, sizeof colour);
    fprintf(out, "<rect x=\"%d\" y=\"%.0f\" width=\"12\" height=\"12\" fill=\"%s\"/>"
                 "<text x=\"%d\" y=\"%.0f\">%s</text>\n",
            10 + m * 160, height - 18, colour, 26 + m * 160, height - 8, legend[m]);
  }
  int64_t *starts = flame_frame_starts(tree);
  if (!starts) return -1;
  for (size_t i = 0; i < tree->count; i++)
    if (tree->frames[i].value >= threshold)
      write_svg_frame(out, tree, (uint32_t)i, (double)starts[i] * scale, scale, height);
  free(starts);
  fputs("</svg>\n", out);
  return 0;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int command_flame(int argc, char **argv) {
  command_options options;
  int status = command_parse("flame", flame_usage,
                             COMMAND_OPT_INDEX | COMMAND_OPT_FILTERS | COMMAND_OPT_OUTPUT, 1, argc,
                             argv, &options);
  if (status) return status == 1 ? 0 : 2;
  if (!options.output) {
    fputs("heapscope flame: missing -o OUT.svg or -o OUT.html\n", stderr);
    return 2;
  }
  int html = ends_with(options.output, ".html") || ends_with(options.output, ".htm");
  if (!html && !ends_with(options.output, ".svg")) {
    fprintf(stderr, "heapscope flame: output '%s' must end in .svg or .html\n", options.output);
    return 2;
  }
  analysis a;
  profile *prof = command_load_analysed("flame", options.positional[0], &options, &a);
  if (!prof) return 2;
  int result = 2;
  flame_tree tree;
  if (flame_build(&tree, &a) != 0) {
    fputs("heapscope flame: out of memory\n", stderr);
    goto done;
  }
  FILE *out = fopen(options.output, "w");
  if (!out) {
    fprintf(stderr, "heapscope flame: cannot write %s: %s\n", options.output, strerror(errno));
    goto done;
  }
  char title[512], total[32];
  int written;
  snprintf(title, sizeof title, "%s: %s, total %s", options.positional[0], a.sample_type,
           units_format(tree.frames[0].value, a.unit, 0, total, sizeof total));
  if (html) {
    int64_t threshold = flame_output_threshold(&tree, tree.frames[0].value / 200000, FLAME_MAX_OUTPUT_FRAMES);
    written = flame_write_html(out, &tree, threshold, title);
  } else {
    written = write_svg(out, &tree, title);
  }
  if ((ferror(out) | fclose(out)) || written != 0) {
    fprintf(stderr, "heapscope flame: error writing %s\n", options.output);
    goto done;
  }
  result = 0;
done:
  free(tree.frames);
  analysis_free(&a);
  profile_free(prof);
  return result;
}
