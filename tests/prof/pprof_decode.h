/* pprof_decode.h — a small, independent profile.proto reader for tests of
 * the pprof writer: gunzips with the gzip program (so the gzip framing is
 * checked by someone else's code), then decodes the fields heapscope
 * writes.  Header-only; test code, so it allocates freely and is strict:
 * any malformed input makes decode fail. */
#ifndef HEAPSCOPE_PPROF_DECODE_H
#define HEAPSCOPE_PPROF_DECODE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DECODE_MAX 4096

typedef struct decoded_label { int64_t key, str, num; } decoded_label_t;
typedef struct decoded_sample {
  uint64_t location_ids[256]; int depth;
  int64_t values[8]; int value_count;
  decoded_label_t labels[16]; int label_count;
} decoded_sample_t;
typedef struct decoded_mapping {
  uint64_t id, start, limit, offset; int64_t filename, build_id;
  bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
} decoded_mapping_t;
typedef struct decoded_line { uint64_t function_id; int64_t line; } decoded_line_t;
typedef struct decoded_location {
  uint64_t id, mapping_id, address; decoded_line_t lines[32]; int line_count;
} decoded_location_t;
typedef struct decoded_function { uint64_t id; int64_t name, system_name, filename, start_line; } decoded_function_t;
typedef struct decoded_value_type { int64_t type, unit; } decoded_value_type_t;

typedef struct decoded_profile {
  decoded_value_type_t sample_types[8]; int sample_type_count;
  decoded_sample_t *samples; int sample_count;
  decoded_mapping_t *mappings; int mapping_count;
  decoded_location_t *locations; int location_count;
  decoded_function_t *functions; int function_count;
  char **strings; int string_count;
  int64_t time_nanos, duration_nanos, period, default_sample_type;
  decoded_value_type_t period_type;
} decoded_profile_t;

typedef struct decode_cursor { const uint8_t *p, *end; bool bad; int wire; /* of the last field */ } decode_cursor_t;

static inline uint64_t decode_varint(decode_cursor_t *c) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (c->p >= c->end) { c->bad = true; return 0; }
    uint8_t byte = *c->p++;
    v |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return v;
  }
  c->bad = true;
  return 0;
}

/* Next field: returns false at the end.  For wire type 2, *sub is the body. */
static inline bool decode_field(decode_cursor_t *c, int *field, uint64_t *value, decode_cursor_t *sub) {
  if (c->bad || c->p >= c->end) return false;
  uint64_t key = decode_varint(c);
  *field = (int)(key >> 3);
  c->wire = (int)(key & 7);
  switch (key & 7) {
    case 0: *value = decode_varint(c); return !c->bad;
    case 2: {
      uint64_t length = decode_varint(c);
      if (c->bad || length > (uint64_t)(c->end - c->p)) { c->bad = true; return false; }
      sub->p = c->p; sub->end = c->p + length; sub->bad = false; sub->wire = 0;
      c->p += length;
      *value = length;
      return true;
    }
    default: c->bad = true; return false;
  }
}

static inline void decode_value_type(decode_cursor_t sub, decoded_value_type_t *out) {
  int f; uint64_t v; decode_cursor_t s;
  while (decode_field(&sub, &f, &v, &s)) {
    if (f == 1) out->type = (int64_t)v;
    if (f == 2) out->unit = (int64_t)v;
  }
}

/* Packed or single varint values into out[*count]. */
static inline void decode_repeated(decode_cursor_t *c, uint64_t value, decode_cursor_t *sub,
                                   bool packed, uint64_t *out, int *count, int max) {
  if (!packed) { if (*count < max) out[(*count)++] = value; return; }
  while (sub->p < sub->end && !sub->bad) {
    uint64_t v = decode_varint(sub);
    if (*count < max) out[(*count)++] = v;
  }
  if (sub->bad) c->bad = true;
}

#define DECODE_PUSH(array, count) \
  ((array) = realloc((array), ((count) + 1) * sizeof *(array)), memset(&(array)[count], 0, sizeof *(array)), &(array)[(count)++])

static inline bool decode_profile(const uint8_t *data, size_t length, decoded_profile_t *out) {
  memset(out, 0, sizeof *out);
  decode_cursor_t c = {data, data + length, false, 0}, sub, s2, s3;
  int f, f2; uint64_t v, v2;
  while (decode_field(&c, &f, &v, &sub)) {
    switch (f) {
      case 1: if (out->sample_type_count < 8) decode_value_type(sub, &out->sample_types[out->sample_type_count++]); break;
      case 2: {
        decoded_sample_t *smp = DECODE_PUSH(out->samples, out->sample_count);
        while (decode_field(&sub, &f2, &v2, &s2)) {
          bool p2 = sub.wire == 2;
          if (f2 == 1) decode_repeated(&sub, v2, &s2, p2, smp->location_ids, &smp->depth, 256);
          if (f2 == 2) {
            uint64_t vals[8]; int n = 0;
            decode_repeated(&sub, v2, &s2, p2, vals, &n, 8);
            for (int i = 0; i < n && smp->value_count < 8; i++) smp->values[smp->value_count++] = (int64_t)vals[i];
          }
          if (f2 == 3 && smp->label_count < 16) {
            decoded_label_t *l = &smp->labels[smp->label_count++];
            int f3; uint64_t v3; decode_cursor_t s4;
            s3 = s2;
            while (decode_field(&s3, &f3, &v3, &s4)) {
              if (f3 == 1) l->key = (int64_t)v3;
              if (f3 == 2) l->str = (int64_t)v3;
              if (f3 == 3) l->num = (int64_t)v3;
            }
            if (s3.bad) c.bad = true;
          }
        }
        if (sub.bad) c.bad = true;
        break;
      }
      case 3: {
        decoded_mapping_t *m = DECODE_PUSH(out->mappings, out->mapping_count);
        while (decode_field(&sub, &f2, &v2, &s2)) {
          switch (f2) {
            case 1: m->id = v2; break;
            case 2: m->start = v2; break;
            case 3: m->limit = v2; break;
            case 4: m->offset = v2; break;
            case 5: m->filename = (int64_t)v2; break;
            case 6: m->build_id = (int64_t)v2; break;
            case 7: m->has_functions = v2; break;
            case 8: m->has_filenames = v2; break;
            case 9: m->has_line_numbers = v2; break;
            case 10: m->has_inline_frames = v2; break;
          }
        }
        if (sub.bad) c.bad = true;
        break;
      }
      case 4: {
        decoded_location_t *loc = DECODE_PUSH(out->locations, out->location_count);
        while (decode_field(&sub, &f2, &v2, &s2)) {
          if (f2 == 1) loc->id = v2;
          if (f2 == 2) loc->mapping_id = v2;
          if (f2 == 3) loc->address = v2;
          if (f2 == 4 && loc->line_count < 32) {
            decoded_line_t *ln = &loc->lines[loc->line_count++];
            int f3; uint64_t v3; decode_cursor_t s4;
            s3 = s2;
            while (decode_field(&s3, &f3, &v3, &s4)) {
              if (f3 == 1) ln->function_id = v3;
              if (f3 == 2) ln->line = (int64_t)v3;
            }
            if (s3.bad) c.bad = true;
          }
        }
        if (sub.bad) c.bad = true;
        break;
      }
      case 5: {
        decoded_function_t *fn = DECODE_PUSH(out->functions, out->function_count);
        while (decode_field(&sub, &f2, &v2, &s2)) {
          if (f2 == 1) fn->id = v2;
          if (f2 == 2) fn->name = (int64_t)v2;
          if (f2 == 3) fn->system_name = (int64_t)v2;
          if (f2 == 4) fn->filename = (int64_t)v2;
          if (f2 == 5) fn->start_line = (int64_t)v2;
        }
        if (sub.bad) c.bad = true;
        break;
      }
      case 6: {
        char **slot = DECODE_PUSH(out->strings, out->string_count);
        *slot = malloc(v + 1);
        memcpy(*slot, sub.p, v);
        (*slot)[v] = 0;
        break;
      }
      case 9: out->time_nanos = (int64_t)v; break;
      case 10: out->duration_nanos = (int64_t)v; break;
      case 11: decode_value_type(sub, &out->period_type); break;
      case 12: out->period = (int64_t)v; break;
      case 14: out->default_sample_type = (int64_t)v; break;
    }
  }
  if (c.bad) return false;
  /* Every string index must be in the table. */
  return out->string_count > 0;
}

/* Reads FILE through `gzip -dc` and decodes it. */
static inline bool decode_profile_file(const char *path, decoded_profile_t *out) {
  char command[1200];
  snprintf(command, sizeof command, "gzip -dc '%s'", path);
  FILE *pipe = popen(command, "r");
  if (!pipe) return false;
  size_t length = 0, capacity = 1 << 16;
  uint8_t *data = malloc(capacity);
  size_t got;
  while ((got = fread(data + length, 1, capacity - length, pipe)) > 0) {
    length += got;
    if (length == capacity) data = realloc(data, capacity *= 2);
  }
  int status = pclose(pipe);
  bool ok = status == 0 && decode_profile(data, length, out);
  free(data);
  return ok;
}

/* The string at index i, or "<bad index>". */
static inline const char *decoded_string(const decoded_profile_t *p, int64_t i) {
  return i >= 0 && i < p->string_count ? p->strings[i] : "<bad index>";
}

static inline const decoded_location_t *decoded_location(const decoded_profile_t *p, uint64_t id) {
  for (int i = 0; i < p->location_count; i++) if (p->locations[i].id == id) return &p->locations[i];
  return NULL;
}
static inline const decoded_function_t *decoded_function(const decoded_profile_t *p, uint64_t id) {
  for (int i = 0; i < p->function_count; i++) if (p->functions[i].id == id) return &p->functions[i];
  return NULL;
}
static inline const decoded_mapping_t *decoded_mapping(const decoded_profile_t *p, uint64_t id) {
  for (int i = 0; i < p->mapping_count; i++) if (p->mappings[i].id == id) return &p->mappings[i];
  return NULL;
}

#endif /* HEAPSCOPE_PPROF_DECODE_H */
