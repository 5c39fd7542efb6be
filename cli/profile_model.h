/* profile_model.h — a pprof profile (profile.proto) decoded into flat arrays
 * with every id resolved to an index and every string index to a C string.
 * Built by profile_load/profile_decode, read-only afterwards, freed by
 * profile_free.  Single-threaded; calls proto_reader.c, http_fetch.c, zlib
 * and libc. */
#ifndef HEAPSCOPE_CLI_PROFILE_MODEL_H
#define HEAPSCOPE_CLI_PROFILE_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define PROFILE_NO_INDEX UINT32_MAX

typedef struct profile_value_type {
  const char *type; /* e.g. "alloc_space" */
  const char *unit; /* e.g. "bytes" */
} profile_value_type;

typedef struct profile_mapping {
  uint64_t id, memory_start, memory_limit, file_offset;
  const char *filename, *build_id;
} profile_mapping;

typedef struct profile_function {
  uint64_t id;
  const char *name, *system_name, *filename;
  int64_t start_line;
} profile_function;

typedef struct profile_line {
  uint32_t function_index; /* PROFILE_NO_INDEX if the line names no function */
  int64_t line;
} profile_line;

typedef struct profile_location {
  uint64_t id, address;
  uint32_t mapping_index; /* PROFILE_NO_INDEX if none */
  uint32_t line_start, line_count; /* into profile.lines; [0] is the innermost (inlined) */
} profile_location;

typedef struct profile_label {
  const char *key;
  const char *str; /* NULL for a numeric label */
  int64_t num;
  const char *num_unit;
} profile_label;

typedef struct profile_sample {
  size_t location_start; /* into profile.sample_locations; [0] is the leaf */
  uint32_t location_count;
  uint32_t label_count;
  size_t label_start; /* into profile.labels */
} profile_sample;

typedef struct profile {
  profile_value_type *sample_types;
  size_t sample_type_count;
  profile_value_type period_type;
  int64_t period, time_nanos, duration_nanos;
  const char *default_sample_type; /* "" if unset */

  profile_sample *samples;
  size_t sample_count;
  int64_t *values; /* sample i's values: values[i * sample_type_count + t] */
  uint32_t *sample_locations; /* location indexes */
  size_t sample_location_count;
  profile_label *labels;
  size_t label_count;

  profile_location *locations;
  size_t location_count;
  profile_line *lines;
  size_t line_count;
  profile_function *functions;
  size_t function_count;
  profile_mapping *mappings;
  size_t mapping_count;
  const char **comments;
  size_t comment_count;

  /* internal storage */
  char **demangled_names; /* per function: its shown name if demangled, else NULL */
  char *string_storage;
  const char **strings;
  size_t string_count;
} profile;

/* The largest uncompressed profile accepted (bounds memory on hostile input). */
#define PROFILE_MAX_BYTES ((size_t)1 << 31)

/* Decodes a profile from memory (gzip or raw, at most max_bytes once
 * unpacked).  Returns a profile or NULL with a one-line reason in err. */
profile *profile_decode(const uint8_t *data, size_t len, size_t max_bytes, char *err, size_t errlen);

/* Reads and decodes a file, or fetches a URL (http://HOST:PORT/PATH). */
profile *profile_load(const char *path, char *err, size_t errlen);

void profile_free(profile *prof);

/* Index of the sample type named `name`, or -1. */
int profile_find_sample_type(const profile *prof, const char *name);

/* pprof's default: default_sample_type if set and present, else the last. */
int profile_default_sample_index(const profile *prof);

#endif
