/* flame.h — the call tree behind `heapscope flame` and the writers that
 * render it (flame.c: tree + SVG; flame_html.c: interactive HTML).
 * Single-threaded; built on analysis.c. */
#ifndef HEAPSCOPE_CLI_FLAME_H
#define HEAPSCOPE_CLI_FLAME_H

#include <stdint.h>
#include <stdio.h>

#include "analysis.h"

/* One frame of the merged call tree; index 0 is the root ("all"). */
typedef struct flame_frame {
  uint32_t node;   /* analysis node (unused for the root) */
  uint32_t parent; /* index of the parent frame */
  uint32_t first_child, next_sibling; /* 0 = none (the root is never a child) */
  uint32_t depth;
  int64_t value;   /* this frame and everything it called */
} flame_frame;

typedef struct flame_tree {
  const analysis *a;
  flame_frame *frames;
  size_t count;
  uint32_t max_depth;
} flame_tree;

/* Builds the tree from the kept samples of `a`.  Returns 0 or -1 (memory). */
int flame_build(flame_tree *tree, const analysis *a);

/* Each frame's left edge in value units (malloc'ed; NULL if out of memory). */
int64_t *flame_frame_starts(const flame_tree *tree);

/* The smallest value to draw so that at most `limit` frames remain. */
int64_t flame_output_threshold(const flame_tree *tree, int64_t at_least, size_t limit);

/* "rgb(r,g,b)": a hue family per module, varied by the name. */
void flame_colour(analysis_module module, const char *name, char *buf, size_t len);

/* Writes the interactive HTML page for frames with value >= min_value. */
int flame_write_html(FILE *out, const flame_tree *tree, int64_t min_value, const char *title);

#endif
