/* profile_model.c — decodes pprof's profile.proto into the flat `profile`
 * of profile_model.h.  Schema (field numbers from profile.proto):
 *   Profile: 1 sample_type, 2 sample, 3 mapping, 4 location, 5 function,
 *     6 string_table, 9 time_nanos, 10 duration_nanos, 11 period_type,
 *     12 period, 13 comment, 14 default_sample_type (others skipped)
 *   ValueType: 1 type, 2 unit.  Sample: 1 location_id, 2 value, 3 label.
 *   Label: 1 key, 2 str, 3 num, 4 num_unit.  Mapping: 1 id, 2 memory_start,
 *     3 memory_limit, 4 file_offset, 5 filename, 6 build_id.
 *   Location: 1 id, 2 mapping_id, 3 address, 4 line.  Line: 1 function_id, 2 line.
 *   Function: 1 id, 2 name, 3 system_name, 4 filename, 5 start_line.
 * Fields may come in any order, so string indexes and ids are collected raw
 * and resolved at the end; every reference is checked.  A function's
 * mangled C++ name is shown demangled, as pprof shows it (demangle.h; the
 * linker's name stays in system_name when the profile gives none there).
 * Single-threaded. */
#include "profile_model.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "demangle.h"
#include "http_fetch.h"
#include "proto_reader.h"

/* A growable array of fixed-size elements. */
typedef struct vector {
  void *items;
  size_t count, capacity, item_size;
} vector;

static void *vector_push(vector *vec) {
  if (vec->count == vec->capacity) {
    size_t capacity = vec->capacity ? vec->capacity * 2 : 16;
    void *grown = realloc(vec->items, capacity * vec->item_size);
    if (!grown) return NULL;
    vec->items = grown;
    vec->capacity = capacity;
  }
  void *slot = (char *)vec->items + vec->count * vec->item_size;
  memset(slot, 0, vec->item_size);
  vec->count++;
  return slot;
}

/* Raw records: string references are still indexes, ids still ids. */
typedef struct raw_value_type { int64_t type, unit; } raw_value_type;
typedef struct raw_mapping { profile_mapping mapping; int64_t filename, build_id; } raw_mapping;
typedef struct raw_function { profile_function function; int64_t name, system_name, filename; } raw_function;
typedef struct raw_line { uint64_t function_id; int64_t line; } raw_line;
typedef struct raw_location { profile_location location; uint64_t mapping_id; } raw_location;
typedef struct raw_label { int64_t key, str, num, num_unit; } raw_label;
typedef struct raw_sample { size_t location_start, value_start, label_start; uint32_t location_count, value_count, label_count; } raw_sample;

typedef struct decoder {
  char *err;
  size_t errlen;
  vector sample_types, samples, location_ids, values, labels, mappings, functions, lines,
      locations, strings, comments;
  raw_value_type period_type;
  int64_t default_sample_type;
} decoder;

/* Records a one-line reason and returns -1. */
__attribute__((format(printf, 2, 3))) static int decode_fail(decoder *dec, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(dec->err, dec->errlen, format, args);
  va_end(args);
  return -1;
}

static int expect_wire(decoder *dec, const proto_field *field, uint32_t wire, const char *what) {
  if (field->wire_type == wire) return 0;
  return decode_fail(dec, "%s field %u has wire type %u, expected %u (not a profile.proto?)", what,
                     field->field_number, field->wire_type, wire);
}

/* Appends a varint field, packed (wire type 2) or not, to an int64 vector. */
static int push_varints(decoder *dec, const proto_field *field, vector *out, const char *what) {
  if (field->wire_type == PROTO_WIRE_VARINT) {
    int64_t *slot = vector_push(out);
    if (!slot) return decode_fail(dec, "out of memory");
    *slot = (int64_t)field->number;
    return 0;
  }
  if (expect_wire(dec, field, PROTO_WIRE_BYTES, what) != 0) return -1;
  proto_range packed = field->bytes;
  while (packed.cursor < packed.end) {
    uint64_t value;
    if (proto_read_varint(&packed, &value) != 0)
      return decode_fail(dec, "malformed packed varints in %s", what);
    int64_t *slot = vector_push(out);
    if (!slot) return decode_fail(dec, "out of memory");
    *slot = (int64_t)value;
  }
  return 0;
}

/* Iterates the fields of a sub-message; `body` handles each one. */
#define FOR_EACH_FIELD(dec, range_expr, field_var, body)                          \
  do {                                                                            \
    proto_range range_ = (range_expr);                                            \
    proto_field field_var;                                                        \
    int status_;                                                                  \
    while ((status_ = proto_next_field(&range_, &field_var, (dec)->err, (dec)->errlen)) == 1) { \
      body                                                                        \
    }                                                                             \
    if (status_ < 0) return -1;                                                   \
  } while (0)

static int decode_value_type(decoder *dec, proto_range range, raw_value_type *out) {
  FOR_EACH_FIELD(dec, range, field, {
    if (field.wire_type != PROTO_WIRE_VARINT) continue;
    if (field.field_number == 1) out->type = (int64_t)field.number;
    if (field.field_number == 2) out->unit = (int64_t)field.number;
  });
  return 0;
}

static int decode_label(decoder *dec, proto_range range) {
  raw_label *label = vector_push(&dec->labels);
  if (!label) return decode_fail(dec, "out of memory");
  FOR_EACH_FIELD(dec, range, field, {
    if (field.wire_type != PROTO_WIRE_VARINT) continue;
    switch (field.field_number) {
      case 1: label->key = (int64_t)field.number; break;
      case 2: label->str = (int64_t)field.number; break;
      case 3: label->num = (int64_t)field.number; break;
      case 4: label->num_unit = (int64_t)field.number; break;
    }
  });
  return 0;
}

static int decode_sample(decoder *dec, proto_range range) {
  raw_sample sample = {dec->location_ids.count, dec->values.count, dec->labels.count, 0, 0, 0};
  FOR_EACH_FIELD(dec, range, field, {
    if (field.field_number == 1) {
      if (push_varints(dec, &field, &dec->location_ids, "sample.location_id") != 0) return -1;
    } else if (field.field_number == 2) {
      if (push_varints(dec, &field, &dec->values, "sample.value") != 0) return -1;
    } else if (field.field_number == 3) {
      if (expect_wire(dec, &field, PROTO_WIRE_BYTES, "sample.label") != 0) return -1;
      if (decode_label(dec, field.bytes) != 0) return -1;
    }
  });
  sample.location_count = (uint32_t)(dec->location_ids.count - sample.location_start);
  sample.value_count = (uint32_t)(dec->values.count - sample.value_start);
  sample.label_count = (uint32_t)(dec->labels.count - sample.label_start);
  raw_sample *slot = vector_push(&dec->samples);
  if (!slot) return decode_fail(dec, "out of memory");
  *slot = sample;
  return 0;
}

static int decode_mapping(decoder *dec, proto_range range) {
  raw_mapping *raw = vector_push(&dec->mappings);
  if (!raw) return decode_fail(dec, "out of memory");
  FOR_EACH_FIELD(dec, range, field, {
    if (field.wire_type != PROTO_WIRE_VARINT) continue;
    switch (field.field_number) {
      case 1: raw->mapping.id = field.number; break;
      case 2: raw->mapping.memory_start = field.number; break;
      case 3: raw->mapping.memory_limit = field.number; break;
      case 4: raw->mapping.file_offset = field.number; break;
      case 5: raw->filename = (int64_t)field.number; break;
      case 6: raw->build_id = (int64_t)field.number; break;
    }
  });
  return 0;
}

static int decode_function(decoder *dec, proto_range range) {
  raw_function *raw = vector_push(&dec->functions);
  if (!raw) return decode_fail(dec, "out of memory");
  FOR_EACH_FIELD(dec, range, field, {
    if (field.wire_type != PROTO_WIRE_VARINT) continue;
    switch (field.field_number) {
      case 1: raw->function.id = field.number; break;
      case 2: raw->name = (int64_t)field.number; break;
      case 3: raw->system_name = (int64_t)field.number; break;
      case 4: raw->filename = (int64_t)field.number; break;
      case 5: raw->function.start_line = (int64_t)field.number; break;
    }
  });
  return 0;
}

static int decode_line(decoder *dec, proto_range range) {
  raw_line *line = vector_push(&dec->lines);
  if (!line) return decode_fail(dec, "out of memory");
  FOR_EACH_FIELD(dec, range, field, {
    if (field.wire_type != PROTO_WIRE_VARINT) continue;
    if (field.field_number == 1) line->function_id = field.number;
    if (field.field_number == 2) line->line = (int64_t)field.number;
  });
  return 0;
}

static int decode_location(decoder *dec, proto_range range) {
  raw_location location;
  memset(&location, 0, sizeof location);
  location.location.line_start = (uint32_t)dec->lines.count;
  FOR_EACH_FIELD(dec, range, field, {
    if (field.field_number == 4) {
      if (expect_wire(dec, &field, PROTO_WIRE_BYTES, "location.line") != 0) return -1;
      if (decode_line(dec, field.bytes) != 0) return -1;
      continue;
    }
    if (field.wire_type != PROTO_WIRE_VARINT) continue;
    if (field.field_number == 1) location.location.id = field.number;
    if (field.field_number == 2) location.mapping_id = field.number;
    if (field.field_number == 3) location.location.address = field.number;
  });
  location.location.line_count = (uint32_t)(dec->lines.count - location.location.line_start);
  raw_location *slot = vector_push(&dec->locations);
  if (!slot) return decode_fail(dec, "out of memory");
  *slot = location;
  return 0;
}

static int decode_profile_fields(decoder *dec, proto_range range) {
  FOR_EACH_FIELD(dec, range, field, {
    uint32_t n = field.field_number;
    if (n >= 1 && n <= 6) {
      if (expect_wire(dec, &field, PROTO_WIRE_BYTES, "profile") != 0) return -1;
    }
    switch (n) {
      case 1: {
        raw_value_type *type = vector_push(&dec->sample_types);
        if (!type) return decode_fail(dec, "out of memory");
        if (decode_value_type(dec, field.bytes, type) != 0) return -1;
        break;
      }
      case 2: if (decode_sample(dec, field.bytes) != 0) return -1; break;
      case 3: if (decode_mapping(dec, field.bytes) != 0) return -1; break;
      case 4: if (decode_location(dec, field.bytes) != 0) return -1; break;
      case 5: if (decode_function(dec, field.bytes) != 0) return -1; break;
      case 6: {
        proto_range *slot = vector_push(&dec->strings);
        if (!slot) return decode_fail(dec, "out of memory");
        *slot = field.bytes;
        break;
      }
      case 11:
        if (expect_wire(dec, &field, PROTO_WIRE_BYTES, "profile.period_type") != 0) return -1;
        if (decode_value_type(dec, field.bytes, &dec->period_type) != 0) return -1;
        break;
      case 13:
        if (push_varints(dec, &field, &dec->comments, "profile.comment") != 0) return -1;
        break;
      case 14:
        if (expect_wire(dec, &field, PROTO_WIRE_VARINT, "profile.default_sample_type") != 0)
          return -1;
        dec->default_sample_type = (int64_t)field.number;
        break;
      default: break; /* 7-10, 12 handled in profile_decode; unknown fields skipped */
    }
  });
  return 0;
}

/* id -> index map, open addressing (ids are never 0). */
typedef struct id_map {
  uint64_t *ids;
  uint32_t *indexes;
  size_t mask;
} id_map;

static int id_map_init(id_map *map, size_t count) {
  size_t capacity = 16;
  while (capacity < count * 2) capacity *= 2;
  map->ids = calloc(capacity, sizeof *map->ids);
  map->indexes = calloc(capacity, sizeof *map->indexes);
  map->mask = capacity - 1;
  return map->ids && map->indexes ? 0 : -1;
}

static size_t id_hash(uint64_t id) { return (size_t)((id * 0x9e3779b97f4a7c15ull) >> 17); }

/* Returns 0, or 1 if the id is already present. */
static int id_map_put(id_map *map, uint64_t id, uint32_t index) {
  for (size_t slot = id_hash(id) & map->mask;; slot = (slot + 1) & map->mask) {
    if (map->ids[slot] == id) return 1;
    if (map->ids[slot] == 0) {
      map->ids[slot] = id;
      map->indexes[slot] = index;
      return 0;
    }
  }
}

static uint32_t id_map_get(const id_map *map, uint64_t id) {
  if (id == 0) return PROFILE_NO_INDEX;
  for (size_t slot = id_hash(id) & map->mask;; slot = (slot + 1) & map->mask) {
    if (map->ids[slot] == id) return map->indexes[slot];
    if (map->ids[slot] == 0) return PROFILE_NO_INDEX;
  }
}

static void id_map_free(id_map *map) {
  free(map->ids);
  free(map->indexes);
}

static int string_at(decoder *dec, const profile *prof, int64_t index, const char **out,
                     const char *what) {
  if (index < 0 || (uint64_t)index >= prof->string_count)
    return decode_fail(dec, "%s refers to string %lld but the string table has %zu entries", what,
                       (long long)index, prof->string_count);
  *out = prof->strings[index];
  return 0;
}

/* Builds an id map over `count` records of `item_size` bytes whose uint64 id
 * is at offset 0 of each record. */
static int build_id_map(decoder *dec, id_map *map, const void *records, size_t count,
                        size_t item_size, const char *what) {
  if (id_map_init(map, count) != 0) return decode_fail(dec, "out of memory");
  for (size_t i = 0; i < count; i++) {
    uint64_t id;
    memcpy(&id, (const char *)records + i * item_size, sizeof id);
    if (id == 0) return decode_fail(dec, "%s #%zu has id 0", what, i + 1);
    if (id_map_put(map, id, (uint32_t)i) != 0)
      return decode_fail(dec, "duplicate %s id %llu", what, (unsigned long long)id);
  }
  return 0;
}

static int resolve(decoder *dec, profile *prof) {
  /* strings */
  size_t bytes = 0;
  proto_range *ranges = dec->strings.items;
  prof->string_count = dec->strings.count;
  for (size_t i = 0; i < prof->string_count; i++) bytes += (size_t)(ranges[i].end - ranges[i].cursor) + 1;
  prof->string_storage = malloc(bytes + 1);
  prof->strings = malloc((prof->string_count + 1) * sizeof *prof->strings);
  if (!prof->string_storage || !prof->strings) return decode_fail(dec, "out of memory");
  char *cursor = prof->string_storage;
  for (size_t i = 0; i < prof->string_count; i++) {
    size_t len = (size_t)(ranges[i].end - ranges[i].cursor);
    memcpy(cursor, ranges[i].cursor, len);
    cursor[len] = 0;
    prof->strings[i] = cursor;
    cursor += len + 1;
  }
  if (prof->string_count == 0 || prof->strings[0][0] != 0)
    return decode_fail(dec, "string table %s (not a pprof profile?)",
                       prof->string_count ? "does not start with an empty string" : "is empty");

  /* sample types */
  prof->sample_type_count = dec->sample_types.count;
  if (prof->sample_type_count == 0) return decode_fail(dec, "no sample types (not a pprof profile?)");
  prof->sample_types = calloc(prof->sample_type_count, sizeof *prof->sample_types);
  if (!prof->sample_types) return decode_fail(dec, "out of memory");
  raw_value_type *types = dec->sample_types.items;
  for (size_t i = 0; i < prof->sample_type_count; i++) {
    if (string_at(dec, prof, types[i].type, &prof->sample_types[i].type, "sample_type") != 0 ||
        string_at(dec, prof, types[i].unit, &prof->sample_types[i].unit, "sample_type") != 0)
      return -1;
  }
  if (string_at(dec, prof, dec->period_type.type, &prof->period_type.type, "period_type") != 0 ||
      string_at(dec, prof, dec->period_type.unit, &prof->period_type.unit, "period_type") != 0 ||
      string_at(dec, prof, dec->default_sample_type, &prof->default_sample_type,
                "default_sample_type") != 0)
    return -1;

  /* mappings, functions */
  prof->mapping_count = dec->mappings.count;
  prof->mappings = calloc(prof->mapping_count + 1, sizeof *prof->mappings);
  prof->function_count = dec->functions.count;
  prof->functions = calloc(prof->function_count + 1, sizeof *prof->functions);
  prof->demangled_names = calloc(prof->function_count + 1, sizeof *prof->demangled_names);
  if (!prof->mappings || !prof->functions || !prof->demangled_names)
    return decode_fail(dec, "out of memory");
  raw_mapping *mappings = dec->mappings.items;
  for (size_t i = 0; i < prof->mapping_count; i++) {
    prof->mappings[i] = mappings[i].mapping;
    if (string_at(dec, prof, mappings[i].filename, &prof->mappings[i].filename, "mapping") != 0 ||
        string_at(dec, prof, mappings[i].build_id, &prof->mappings[i].build_id, "mapping") != 0)
      return -1;
  }
  raw_function *functions = dec->functions.items;
  for (size_t i = 0; i < prof->function_count; i++) {
    profile_function *fn = &prof->functions[i];
    *fn = functions[i].function;
    if (string_at(dec, prof, functions[i].name, &fn->name, "function") != 0 ||
        string_at(dec, prof, functions[i].system_name, &fn->system_name, "function") != 0 ||
        string_at(dec, prof, functions[i].filename, &fn->filename, "function") != 0)
      return -1;
    char *shown = demangle_simplified(fn->name);
    if (shown) {
      if (!fn->system_name[0]) fn->system_name = fn->name;
      fn->name = shown;
      prof->demangled_names[i] = shown;
    }
  }
  id_map mapping_ids = {0}, function_ids = {0}, location_ids = {0};
  int result = -1;
  if (build_id_map(dec, &mapping_ids, prof->mappings, prof->mapping_count, sizeof *prof->mappings,
                   "mapping") != 0 ||
      build_id_map(dec, &function_ids, prof->functions, prof->function_count,
                   sizeof *prof->functions, "function") != 0)
    goto done;

  /* lines, locations */
  prof->line_count = dec->lines.count;
  prof->lines = calloc(prof->line_count + 1, sizeof *prof->lines);
  prof->location_count = dec->locations.count;
  prof->locations = calloc(prof->location_count + 1, sizeof *prof->locations);
  if (!prof->lines || !prof->locations) {
    decode_fail(dec, "out of memory");
    goto done;
  }
  raw_line *lines = dec->lines.items;
  for (size_t i = 0; i < prof->line_count; i++) {
    prof->lines[i].line = lines[i].line;
    prof->lines[i].function_index = id_map_get(&function_ids, lines[i].function_id);
    if (lines[i].function_id != 0 && prof->lines[i].function_index == PROFILE_NO_INDEX) {
      decode_fail(dec, "a line refers to unknown function id %llu",
                  (unsigned long long)lines[i].function_id);
      goto done;
    }
  }
  raw_location *locations = dec->locations.items;
  for (size_t i = 0; i < prof->location_count; i++) {
    prof->locations[i] = locations[i].location;
    prof->locations[i].mapping_index = id_map_get(&mapping_ids, locations[i].mapping_id);
    if (locations[i].mapping_id != 0 && prof->locations[i].mapping_index == PROFILE_NO_INDEX) {
      decode_fail(dec, "location %llu refers to unknown mapping id %llu",
                  (unsigned long long)locations[i].location.id,
                  (unsigned long long)locations[i].mapping_id);
      goto done;
    }
  }
  if (build_id_map(dec, &location_ids, prof->locations, prof->location_count,
                   sizeof *prof->locations, "location") != 0)
    goto done;

  /* samples */
  prof->sample_count = dec->samples.count;
  prof->samples = calloc(prof->sample_count + 1, sizeof *prof->samples);
  prof->sample_location_count = dec->location_ids.count;
  prof->sample_locations = malloc((prof->sample_location_count + 1) * sizeof *prof->sample_locations);
  prof->label_count = dec->labels.count;
  prof->labels = calloc(prof->label_count + 1, sizeof *prof->labels);
  if (!prof->samples || !prof->sample_locations || !prof->labels) {
    decode_fail(dec, "out of memory");
    goto done;
  }
  uint64_t *ids = dec->location_ids.items;
  for (size_t i = 0; i < prof->sample_location_count; i++) {
    prof->sample_locations[i] = id_map_get(&location_ids, ids[i]);
    if (prof->sample_locations[i] == PROFILE_NO_INDEX) {
      decode_fail(dec, "a sample refers to unknown location id %llu", (unsigned long long)ids[i]);
      goto done;
    }
  }
  raw_label *labels = dec->labels.items;
  for (size_t i = 0; i < prof->label_count; i++) {
    profile_label *label = &prof->labels[i];
    if (string_at(dec, prof, labels[i].key, &label->key, "label") != 0 ||
        string_at(dec, prof, labels[i].str, &label->str, "label") != 0 ||
        string_at(dec, prof, labels[i].num_unit, &label->num_unit, "label") != 0)
      goto done;
    label->num = labels[i].num;
    if (labels[i].str == 0 && (labels[i].num != 0 || labels[i].num_unit != 0)) label->str = NULL;
  }
  raw_sample *samples = dec->samples.items;
  for (size_t i = 0; i < prof->sample_count; i++) {
    if (samples[i].value_count != prof->sample_type_count) {
      decode_fail(dec, "sample %zu has %u values but the profile has %zu sample types", i + 1,
                  samples[i].value_count, prof->sample_type_count);
      goto done;
    }
    prof->samples[i].location_start = samples[i].location_start;
    prof->samples[i].location_count = samples[i].location_count;
    prof->samples[i].label_start = samples[i].label_start;
    prof->samples[i].label_count = samples[i].label_count;
  }
  /* values are contiguous and uniform, so the raw vector is the final layout */
  prof->values = dec->values.items;
  dec->values.items = NULL;
  prof->comment_count = dec->comments.count;
  prof->comments = calloc(prof->comment_count + 1, sizeof *prof->comments);
  if (!prof->comments) {
    decode_fail(dec, "out of memory");
    goto done;
  }
  int64_t *comments = dec->comments.items;
  for (size_t i = 0; i < prof->comment_count; i++)
    if (string_at(dec, prof, comments[i], &prof->comments[i], "comment") != 0) goto done;
  result = 0;
done:
  id_map_free(&mapping_ids);
  id_map_free(&function_ids);
  id_map_free(&location_ids);
  return result;
}

static void read_scalars(profile *prof, proto_range range) {
  proto_field field;
  char ignored[8];
  while (proto_next_field(&range, &field, ignored, sizeof ignored) == 1) {
    if (field.wire_type != PROTO_WIRE_VARINT) continue;
    if (field.field_number == 9) prof->time_nanos = (int64_t)field.number;
    if (field.field_number == 10) prof->duration_nanos = (int64_t)field.number;
    if (field.field_number == 12) prof->period = (int64_t)field.number;
  }
}

profile *profile_decode(const uint8_t *data, size_t len, size_t max_bytes, char *err, size_t errlen) {
  if (len == 0) {
    snprintf(err, errlen, "empty file (not a pprof profile)");
    return NULL;
  }
  uint8_t *raw = NULL;
  size_t raw_len = 0;
  if (proto_unpack(data, len, max_bytes, &raw, &raw_len, err, errlen) != 0) return NULL;
  decoder dec;
  memset(&dec, 0, sizeof dec);
  dec.err = err;
  dec.errlen = errlen;
  dec.sample_types.item_size = sizeof(raw_value_type);
  dec.samples.item_size = sizeof(raw_sample);
  dec.location_ids.item_size = sizeof(uint64_t);
  dec.values.item_size = sizeof(int64_t);
  dec.labels.item_size = sizeof(raw_label);
  dec.mappings.item_size = sizeof(raw_mapping);
  dec.functions.item_size = sizeof(raw_function);
  dec.lines.item_size = sizeof(raw_line);
  dec.locations.item_size = sizeof(raw_location);
  dec.strings.item_size = sizeof(proto_range);
  dec.comments.item_size = sizeof(int64_t);
  profile *prof = calloc(1, sizeof *prof);
  int ok = prof != NULL;
  if (!ok) snprintf(err, errlen, "out of memory");
  proto_range whole = {raw, raw + raw_len};
  if (ok && decode_profile_fields(&dec, whole) != 0) ok = 0;
  if (ok && dec.location_ids.count > UINT32_MAX / 2) {
    snprintf(err, errlen, "too many stack frames");
    ok = 0;
  }
  if (ok && resolve(&dec, prof) != 0) ok = 0;
  if (!ok && strncmp(err, "not a valid", 11) != 0 && strncmp(err, "out of memory", 13) != 0) {
    char reason[256];
    snprintf(reason, sizeof reason, "%s", err);
    snprintf(err, errlen, "not a valid pprof profile: %s", reason);
  }
  if (ok) read_scalars(prof, whole);
  /* string_storage holds copies, so the unpacked bytes can go */
  vector *all[] = {&dec.sample_types, &dec.samples, &dec.location_ids, &dec.values, &dec.labels,
                   &dec.mappings, &dec.functions, &dec.lines, &dec.locations, &dec.strings,
                   &dec.comments};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]->items);
  free(raw);
  if (!ok) {
    profile_free(prof);
    return NULL;
  }
  return prof;
}

profile *profile_load(const char *path, char *err, size_t errlen) {
  if (http_is_url(path)) {
    size_t size;
    uint8_t *data = http_fetch(path, PROFILE_MAX_BYTES, &size, err, errlen);
    if (!data) return NULL;
    profile *prof = profile_decode(data, size, PROFILE_MAX_BYTES, err, errlen);
    free(data);
    return prof;
  }
  FILE *file = fopen(path, "rb");
  if (!file) {
    snprintf(err, errlen, "cannot open: %s", strerror(errno));
    return NULL;
  }
  struct stat info;
  if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) {
    snprintf(err, errlen, "not a regular file");
    fclose(file);
    return NULL;
  }
  if ((uint64_t)info.st_size > PROFILE_MAX_BYTES) {
    snprintf(err, errlen, "file is larger than %zu MiB; refusing", PROFILE_MAX_BYTES >> 20);
    fclose(file);
    return NULL;
  }
  size_t size = (size_t)info.st_size;
  uint8_t *data = malloc(size ? size : 1);
  if (!data) {
    snprintf(err, errlen, "out of memory");
    fclose(file);
    return NULL;
  }
  size_t got = size ? fread(data, 1, size, file) : 0;
  fclose(file);
  if (got != size) {
    snprintf(err, errlen, "read error");
    free(data);
    return NULL;
  }
  profile *prof = profile_decode(data, size, PROFILE_MAX_BYTES, err, errlen);
  free(data);
  return prof;
}

void profile_free(profile *prof) {
  if (!prof) return;
  free(prof->sample_types);
  free(prof->samples);
  free(prof->values);
  free(prof->sample_locations);
  free(prof->labels);
  free(prof->locations);
  free(prof->lines);
  free(prof->functions);
  if (prof->demangled_names)
    for (size_t i = 0; i < prof->function_count; i++) free(prof->demangled_names[i]);
  free(prof->demangled_names);
  free(prof->mappings);
  free(prof->comments);
  free(prof->string_storage);
  free(prof->strings);
  free(prof);
}

int profile_find_sample_type(const profile *prof, const char *name) {
  for (size_t i = 0; i < prof->sample_type_count; i++)
    if (strcmp(prof->sample_types[i].type, name) == 0) return (int)i;
  return -1;
}

int profile_default_sample_index(const profile *prof) {
  if (prof->default_sample_type[0]) {
    int index = profile_find_sample_type(prof, prof->default_sample_type);
    if (index >= 0) return index;
  }
  return (int)prof->sample_type_count - 1;
}
