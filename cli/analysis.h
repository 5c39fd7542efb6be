/* analysis.h — what every report command shares: a chosen sample index,
 * sample filters (--focus, --ignore, --tag), and per-function flat and cum
 * values computed over the kept samples, pprof's way (a function counts
 * once per sample in cum; inlined frames are separate functions).
 * Single-threaded; reads a profile_model.h profile, calls libc regex. */
#ifndef HEAPSCOPE_CLI_ANALYSIS_H
#define HEAPSCOPE_CLI_ANALYSIS_H

#include <regex.h>
#include <stdint.h>
#include <stdio.h>

#include "profile_model.h"

/* Where a frame's code lives, for flame-graph colours. */
typedef enum analysis_module {
  ANALYSIS_MODULE_USER = 0,   /* the profiled program */
  ANALYSIS_MODULE_LIBC,       /* libc, libm, libpthread, the dynamic loader */
  ANALYSIS_MODULE_SYSTEM,     /* other system libraries and language runtimes */
  ANALYSIS_MODULE_HEAPSCOPE,  /* the allocator itself */
  ANALYSIS_MODULE_COUNT
} analysis_module;

extern const char *const analysis_module_names[ANALYSIS_MODULE_COUNT];

#define ANALYSIS_MAX_TAGS 16

typedef struct analysis_options {
  const char *sample_index_name; /* NULL: the profile's default */
  const char *focus, *ignore;    /* POSIX extended regexes, or NULL */
  const char *tags[ANALYSIS_MAX_TAGS]; /* "KEY=VALUE" */
  size_t tag_count;
} analysis_options;

/* One function (merged by name), or one unsymbolized address. */
typedef struct analysis_node {
  const char *name;
  const char *filename; /* "" if unknown */
  int64_t flat, cum;
  analysis_module module;
  uint32_t last_sample; /* internal: cum de-duplication stamp */
} analysis_node;

/* One frame of a location: locations expand to several when inlined. */
typedef struct analysis_frame {
  uint32_t node;
  int64_t line;
} analysis_frame;

typedef struct analysis {
  const profile *prof;
  int sample_index;
  const char *sample_type, *unit;
  analysis_node *nodes;
  size_t node_count;
  analysis_frame *frames;      /* every location's frames, leaf first */
  uint32_t *location_frames;   /* location i's frames: [location_frames[i], location_frames[i+1]) */
  uint8_t *sample_kept;        /* 1 if sample i passes the filters */
  int64_t total;               /* sum of |value| over kept samples */
  size_t kept_count;
  size_t max_sample_frames;    /* the deepest expanded stack */
  char *address_names;         /* storage for "0x..." names */
} analysis;

/* Stacks expanded (inlined frames included) over all samples may not exceed
 * this: it bounds the time spent on hostile input. */
#define ANALYSIS_MAX_TOTAL_FRAMES ((uint64_t)1 << 28)

/* Resolves the sample index and filters, computes flat/cum.  Returns 0, or -1
 * with a one-line reason in err (bad index name, bad regex, bad tag). */
int analysis_build(analysis *out, const profile *prof, const analysis_options *options,
                   char *err, size_t errlen);
void analysis_free(analysis *a);

/* The chosen value of sample i. */
static inline int64_t analysis_value(const analysis *a, size_t sample) {
  return a->prof->values[sample * a->prof->sample_type_count + (size_t)a->sample_index];
}

/* Node indexes sorted for a top listing: by |flat| (or |cum| if by_cum)
 * descending, then name.  Returns a malloc'ed array of node_count entries. */
uint32_t *analysis_sorted_nodes(const analysis *a, int by_cum);

/* Writes s as a JSON string literal. */
void analysis_json_string(FILE *out, const char *s);

#endif
