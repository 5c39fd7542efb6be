/* pprof.c — the profile store's buckets as a gzipped profile.proto: a
 * hand-written protobuf encoder (varints and length-delimited fields only),
 * the profile builder (string table, mappings, locations, functions,
 * samples) and the call into gzip.  Runs inside prof_enter on a normal
 * thread; holds the profile lock only while profile_for_each copies the
 * buckets out, then symbolizes and encodes outside it.
 * May call: profile store (for_each, prof_enter/exit), procmaps, symbolize,
 * gzip, os (the clock), pageheap (the hard limit's room for a write), libc
 * (malloc).  See docs/profiles.md for the format choices. */
#include "pprof.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gzip.h"
#include "hsmath.h"
#include "os.h"
#include "pageheap.h"
#include "procmaps.h"
#include "symbolize.h"

#define PPROF_MAX_INLINE_FRAMES 32
/* The room under a hard limit a profile write needs to symbolize with
 * libdw (a C library's debug information alone takes it ~10 MiB). */
#define PPROF_LIBDW_ROOM_BYTES ((uint64_t)64 << 20)

/* ---- Protobuf encoding (wire types 0: varint, 2: length-delimited) ---- */

typedef struct pb {
  uint8_t *data;
  size_t length, capacity;
  bool failed; /* out of memory: every later write is dropped */
} pb_t;

static bool pb_reserve(pb_t *b, size_t more) {
  if (b->failed) return false;
  if (b->length + more <= b->capacity) return true;
  size_t capacity = b->capacity ? b->capacity : 256;
  while (capacity < b->length + more) capacity *= 2;
  uint8_t *grown = realloc(b->data, capacity);
  if (!grown) {
    b->failed = true;
    return false;
  }
  b->data = grown;
  b->capacity = capacity;
  return true;
}

static void pb_varint(pb_t *b, uint64_t value) {
  if (!pb_reserve(b, 10)) return;
  while (value >= 0x80) {
    b->data[b->length++] = (uint8_t)(value | 0x80);
    value >>= 7;
  }
  b->data[b->length++] = (uint8_t)value;
}

static void pb_uint(pb_t *b, int field, uint64_t value) {
  pb_varint(b, (uint64_t)field << 3);
  pb_varint(b, value);
}

/* A scalar that proto3 leaves out when it is zero. */
static void pb_uint_nonzero(pb_t *b, int field, uint64_t value) {
  if (value) pb_uint(b, field, value);
}

static void pb_bytes(pb_t *b, int field, const void *data, size_t length) {
  pb_varint(b, (uint64_t)field << 3 | 2);
  pb_varint(b, length);
  if (!length || !pb_reserve(b, length)) return;
  memcpy(b->data + b->length, data, length);
  b->length += length;
}

/* Appends the message built in *inner as field `field`, then empties inner. */
static void pb_message(pb_t *b, int field, pb_t *inner) {
  if (inner->failed) b->failed = true;
  pb_bytes(b, field, inner->data, inner->length);
  inner->length = 0;
}

/* ---- Hashing (open addressing, power-of-two tables, 0 = empty slot) ---- */

static uint64_t hash_mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ull;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dull;
  return x ^ (x >> 33);
}

static uint64_t hash_bytes(const char *s, size_t length) {
  uint64_t h = 0x9e3779b97f4a7c15ull ^ length;
  for (size_t i = 0; i < length; i++) h = (h ^ (uint8_t)s[i]) * 0x100000001b3ull;
  return hash_mix(h);
}

/* ---- The profile being built ---- */

typedef struct string_entry {
  char *text;
  size_t length;
} string_entry_t;

typedef struct sample_copy {
  uint32_t depth, label_count;
  uint32_t *location_indexes; /* one per pc */
  int64_t (*labels)[2];       /* string indexes of key and value */
  int64_t values[4];
} sample_copy_t;

typedef struct location {
  uintptr_t pc;
  uint32_t mapping_id;  /* past the last real one: outside them all */
  uint32_t line_count;
  uint32_t *function_ids;
  int64_t *lines;
} location_t;

typedef struct function {
  int64_t name, system_name, file, start_line; /* strings as indexes */
} function_t;

typedef struct builder {
  bool failed;
  /* String table: entries[i] is string i; slots hash to index + 1. */
  string_entry_t *strings;
  size_t string_count, string_capacity;
  uint32_t *string_slots;
  size_t string_slot_count;
  /* Samples, locations (slot = index + 1, keyed by pc), functions. */
  sample_copy_t *samples;
  size_t sample_count, sample_capacity;
  location_t *locations;
  size_t location_count, location_capacity;
  uint32_t *location_slots;
  size_t location_slot_count;
  function_t *functions;
  size_t function_count, function_capacity;
  uint32_t *function_slots;
  size_t function_slot_count;
  /* Locations outside every executable mapping at write time (code since
   * unloaded): they share one mapping of their own, [low, high]. */
  size_t unmapped_count;
  uintptr_t unmapped_low, unmapped_high;
} builder_t;

/* Grows *array (of element_bytes) to hold one more element. */
static bool grow(builder_t *bd, void **array, size_t *capacity, size_t count, size_t element_bytes) {
  if (bd->failed) return false;
  if (count < *capacity) return true;
  size_t new_capacity = *capacity ? *capacity * 2 : 64;
  void *grown = realloc(*array, new_capacity * element_bytes);
  if (!grown) {
    bd->failed = true;
    return false;
  }
  *array = grown;
  *capacity = new_capacity;
  return true;
}

/* Keeps a slot table (entries are index + 1, 0 is empty) at most half
 * full, rehashing through key_hash when it grows. */
static bool slots_ensure(builder_t *bd, uint32_t **slots, size_t *slot_count, size_t used,
                         uint64_t (*key_hash)(builder_t *, uint32_t)) {
  if (bd->failed) return false;
  if ((used + 1) * 2 <= *slot_count) return true;
  size_t new_count = *slot_count ? *slot_count * 2 : 1024;
  uint32_t *fresh = calloc(new_count, sizeof *fresh);
  if (!fresh) {
    bd->failed = true;
    return false;
  }
  for (size_t i = 0; i < *slot_count; i++) {
    uint32_t entry = (*slots)[i];
    if (!entry) continue;
    size_t at = key_hash(bd, entry - 1) & (new_count - 1);
    while (fresh[at]) at = (at + 1) & (new_count - 1);
    fresh[at] = entry;
  }
  free(*slots);
  *slots = fresh;
  *slot_count = new_count;
  return true;
}

static uint64_t string_hash_at(builder_t *bd, uint32_t index) {
  return hash_bytes(bd->strings[index].text, bd->strings[index].length);
}

/* The string table index of text (NULL and "" are index 0). */
static int64_t intern(builder_t *bd, const char *text) {
  if (!text || !*text || bd->failed) return 0;
  size_t length = strlen(text);
  if (!slots_ensure(bd, &bd->string_slots, &bd->string_slot_count, bd->string_count,
                    string_hash_at))
    return 0;
  size_t mask = bd->string_slot_count - 1, at = hash_bytes(text, length) & mask;
  for (; bd->string_slots[at]; at = (at + 1) & mask) {
    string_entry_t *e = &bd->strings[bd->string_slots[at] - 1];
    if (e->length == length && memcmp(e->text, text, length) == 0) return bd->string_slots[at] - 1;
  }
  if (!grow(bd, (void **)&bd->strings, &bd->string_capacity, bd->string_count,
            sizeof *bd->strings))
    return 0;
  char *copy = malloc(length + 1);
  if (!copy) {
    bd->failed = true;
    return 0;
  }
  memcpy(copy, text, length + 1);
  bd->strings[bd->string_count] = (string_entry_t){copy, length};
  bd->string_slots[at] = (uint32_t)++bd->string_count;
  return (int64_t)bd->string_count - 1;
}

static uint64_t location_hash_at(builder_t *bd, uint32_t index) {
  return hash_mix(bd->locations[index].pc);
}

static uint32_t location_for_pc(builder_t *bd, uintptr_t pc) {
  if (!slots_ensure(bd, &bd->location_slots, &bd->location_slot_count, bd->location_count,
                    location_hash_at))
    return 0;
  size_t mask = bd->location_slot_count - 1, at = hash_mix(pc) & mask;
  for (; bd->location_slots[at]; at = (at + 1) & mask)
    if (bd->locations[bd->location_slots[at] - 1].pc == pc) return bd->location_slots[at] - 1;
  if (!grow(bd, (void **)&bd->locations, &bd->location_capacity, bd->location_count,
            sizeof *bd->locations))
    return 0;
  bd->locations[bd->location_count] = (location_t){.pc = pc};
  bd->location_slots[at] = (uint32_t)++bd->location_count;
  return (uint32_t)bd->location_count - 1;
}

static uint64_t function_hash(const function_t *f) {
  return hash_mix(hash_mix(hash_mix((uint64_t)f->name * 31 + (uint64_t)f->system_name) ^
                           (uint64_t)f->file) ^ (uint64_t)f->start_line);
}

static uint64_t function_hash_at(builder_t *bd, uint32_t index) {
  return function_hash(&bd->functions[index]);
}

/* The id (index + 1) of the function, added if new. */
static uint32_t function_id(builder_t *bd, function_t f) {
  if (!slots_ensure(bd, &bd->function_slots, &bd->function_slot_count, bd->function_count,
                    function_hash_at))
    return 0;
  size_t mask = bd->function_slot_count - 1, at = function_hash(&f) & mask;
  for (; bd->function_slots[at]; at = (at + 1) & mask)
    if (memcmp(&bd->functions[bd->function_slots[at] - 1], &f, sizeof f) == 0)
      return bd->function_slots[at];
  if (!grow(bd, (void **)&bd->functions, &bd->function_capacity, bd->function_count,
            sizeof *bd->functions))
    return 0;
  bd->functions[bd->function_count] = f;
  bd->function_slots[at] = (uint32_t)++bd->function_count;
  return (uint32_t)bd->function_count;
}

/* ---- Collecting buckets (runs under the profile lock: copy, no more) ---- */

/* Rounds to the nearest integer.  Values are negative only in a profile
 * of the change since a snapshot (fewer objects in use than then). */
static int64_t round_count(double value) {
  if (value < 0) return -round_count(-value);
  if (!(value > 0)) return 0; /* also NaN */
  if (value >= 9.2e18) return INT64_MAX;
  return hs_round_nonnegative(value);
}

static void collect_bucket(const prof_bucket_view_t *bucket, void *arg) {
  builder_t *bd = arg;
  int64_t values[4] = {round_count(bucket->alloc_objects), round_count(bucket->alloc_bytes),
                       round_count(bucket->alloc_objects - bucket->free_objects),
                       round_count(bucket->alloc_bytes - bucket->free_bytes)};
  if (!(values[0] | values[1] | values[2] | values[3])) return;
  if (!grow(bd, (void **)&bd->samples, &bd->sample_capacity, bd->sample_count,
            sizeof *bd->samples))
    return;
  sample_copy_t *s = &bd->samples[bd->sample_count];
  memset(s, 0, sizeof *s);
  memcpy(s->values, values, sizeof values);
  uint32_t depth = bucket->depth < PROF_MAX_FRAMES ? bucket->depth : PROF_MAX_FRAMES;
  s->location_indexes = malloc((depth ? depth : 1) * sizeof *s->location_indexes);
  s->labels = malloc((bucket->label_count ? bucket->label_count : 1) * sizeof *s->labels);
  if (!s->location_indexes || !s->labels) {
    free(s->location_indexes);
    free(s->labels);
    bd->failed = true;
    return;
  }
  for (uint32_t i = 0; i < depth; i++) s->location_indexes[i] = location_for_pc(bd, bucket->pcs[i]);
  for (uint32_t i = 0; i < bucket->label_count; i++) {
    s->labels[i][0] = intern(bd, bucket->labels[i].key);
    s->labels[i][1] = intern(bd, bucket->labels[i].value);
  }
  s->depth = depth;
  s->label_count = bucket->label_count;
  bd->sample_count++;
}

/* ---- Symbolizing locations (outside the profile lock) ---- */

typedef struct mapping_flags {
  bool used, functions, filenames, line_numbers, inline_frames;
} mapping_flags_t;

/* pcs are return addresses: the call is at pc - 1, which is both what we
 * symbolize and what Location.address holds, so a tool that symbolizes the
 * address again finds the call's line, not the next statement's. */
static void symbolize_locations(builder_t *bd, symbolizer_t *symbolizer, const procmaps_t *maps,
                                mapping_flags_t *flags) {
  symbolize_frame_t frames[PPROF_MAX_INLINE_FRAMES];
  for (size_t i = 0; i < bd->location_count && !bd->failed; i++) {
    location_t *loc = &bd->locations[i];
    uintptr_t address = loc->pc ? loc->pc - 1 : 0;
    long mapping = procmaps_find(maps, address);
    if (mapping >= 0) {
      loc->mapping_id = (uint32_t)mapping + 1;
    } else {
      loc->mapping_id = (uint32_t)maps->count + 1; /* the unmapped mapping */
      if (!bd->unmapped_count++ || address < bd->unmapped_low) bd->unmapped_low = address;
      if (address > bd->unmapped_high) bd->unmapped_high = address;
    }
    bool inline_expanded = false;
    int count = symbolizer ? symbolize_address(symbolizer, address, frames,
                                               PPROF_MAX_INLINE_FRAMES, &inline_expanded)
                           : 0;
    bool named = count > 0, filed = count > 0, lined = count > 0;
    for (int f = 0; f < count; f++) {
      named &= frames[f].function != NULL;
      filed &= frames[f].file != NULL;
      lined &= frames[f].line > 0;
    }
    if (named) {
      loc->function_ids = malloc((size_t)count * sizeof *loc->function_ids);
      loc->lines = malloc((size_t)count * sizeof *loc->lines);
      if (!loc->function_ids || !loc->lines) {
        bd->failed = true;
        break;
      }
      for (int f = 0; f < count; f++) {
        function_t fn = {intern(bd, frames[f].function), intern(bd, frames[f].system_name),
                         intern(bd, frames[f].file), frames[f].start_line};
        loc->function_ids[f] = function_id(bd, fn);
        loc->lines[f] = frames[f].line;
      }
      loc->line_count = (uint32_t)count;
    }
    if (mapping >= 0) {
      mapping_flags_t *m = &flags[mapping];
      if (!m->used) *m = (mapping_flags_t){true, true, true, true, true};
      m->functions &= named;
      m->filenames &= named && filed;
      m->line_numbers &= named && lined;
      m->inline_frames &= named && inline_expanded;
    }
  }
}

/* ---- Encoding ---- */

static void encode_value_type(builder_t *bd, pb_t *out, int field, pb_t *scratch,
                              const char *type, const char *unit) {
  pb_uint_nonzero(scratch, 1, (uint64_t)intern(bd, type));
  pb_uint_nonzero(scratch, 2, (uint64_t)intern(bd, unit));
  pb_message(out, field, scratch);
}

static void encode_profile(builder_t *bd, pb_t *out, hs_prof_kind_t kind, int64_t rate_bytes,
                           const procmaps_t *maps, const mapping_flags_t *flags,
                           int64_t start_time_ns) {
  pb_t scratch = {0}, inner = {0};
  static const char *const types[4][2] = {{"alloc_objects", "count"},
                                          {"alloc_space", "bytes"},
                                          {"inuse_objects", "count"},
                                          {"inuse_space", "bytes"}};
  for (int i = 0; i < 4; i++) encode_value_type(bd, out, 1, &scratch, types[i][0], types[i][1]);
  for (size_t i = 0; i < bd->sample_count; i++) {
    const sample_copy_t *s = &bd->samples[i];
    for (uint32_t d = 0; d < s->depth; d++) pb_varint(&inner, s->location_indexes[d] + 1);
    pb_message(&scratch, 1, &inner); /* location_id, packed */
    for (int v = 0; v < 4; v++) pb_varint(&inner, (uint64_t)s->values[v]);
    pb_message(&scratch, 2, &inner); /* value, packed */
    for (uint32_t l = 0; l < s->label_count; l++) {
      pb_uint_nonzero(&inner, 1, (uint64_t)s->labels[l][0]);
      pb_uint_nonzero(&inner, 2, (uint64_t)s->labels[l][1]);
      pb_message(&scratch, 3, &inner);
    }
    pb_message(out, 2, &scratch);
  }
  for (size_t i = 0; i < maps->count; i++) {
    const procmaps_entry_t *m = &maps->entries[i];
    char build_id[2 * PROCMAPS_BUILD_ID_MAX_BYTES + 1];
    for (uint32_t b = 0; b < m->build_id_bytes; b++) {
      build_id[2 * b] = "0123456789abcdef"[m->build_id[b] >> 4];
      build_id[2 * b + 1] = "0123456789abcdef"[m->build_id[b] & 15];
    }
    build_id[2 * m->build_id_bytes] = 0;
    pb_uint(&scratch, 1, i + 1);
    pb_uint_nonzero(&scratch, 2, m->start);
    pb_uint_nonzero(&scratch, 3, m->limit);
    pb_uint_nonzero(&scratch, 4, m->file_offset);
    pb_uint_nonzero(&scratch, 5, (uint64_t)intern(bd, m->path));
    pb_uint_nonzero(&scratch, 6, (uint64_t)intern(bd, build_id));
    const mapping_flags_t *f = &flags[i];
    pb_uint_nonzero(&scratch, 7, f->used && f->functions);
    pb_uint_nonzero(&scratch, 8, f->used && f->filenames);
    pb_uint_nonzero(&scratch, 9, f->used && f->line_numbers);
    pb_uint_nonzero(&scratch, 10, f->used && f->inline_frames);
    pb_message(out, 3, &scratch);
  }
  if (bd->unmapped_count) {
    /* Every location names a mapping (fleet profilers' ingesters
     * dereference it); pprof leaves a "[...]" file unsymbolized and shows
     * the location as [unmapped]. */
    pb_uint(&scratch, 1, maps->count + 1);
    pb_uint_nonzero(&scratch, 2, bd->unmapped_low);
    pb_uint(&scratch, 3, bd->unmapped_high + 1);
    pb_uint_nonzero(&scratch, 5, (uint64_t)intern(bd, "[unmapped]"));
    pb_message(out, 3, &scratch);
  }
  for (size_t i = 0; i < bd->location_count; i++) {
    const location_t *loc = &bd->locations[i];
    pb_uint(&scratch, 1, i + 1);
    pb_uint_nonzero(&scratch, 2, loc->mapping_id);
    pb_uint_nonzero(&scratch, 3, loc->pc ? loc->pc - 1 : 0);
    for (uint32_t l = 0; l < loc->line_count; l++) {
      pb_uint(&inner, 1, loc->function_ids[l]);
      pb_uint_nonzero(&inner, 2, (uint64_t)loc->lines[l]);
      pb_message(&scratch, 4, &inner);
    }
    pb_message(out, 4, &scratch);
  }
  for (size_t i = 0; i < bd->function_count; i++) {
    const function_t *f = &bd->functions[i];
    pb_uint(&scratch, 1, i + 1);
    pb_uint_nonzero(&scratch, 2, (uint64_t)f->name);
    pb_uint_nonzero(&scratch, 3, (uint64_t)f->system_name);
    pb_uint_nonzero(&scratch, 4, (uint64_t)f->file);
    pb_uint_nonzero(&scratch, 5, (uint64_t)f->start_line);
    pb_message(out, 5, &scratch);
  }
  int64_t now_ns = os_clock_ns(CLOCK_REALTIME);
  pb_uint(out, 9, (uint64_t)now_ns);
  if (start_time_ns > 0 && start_time_ns <= now_ns)
    pb_uint(out, 10, (uint64_t)(now_ns - start_time_ns));
  encode_value_type(bd, out, 11, &scratch, "space", "bytes");
  pb_uint_nonzero(out, 12, (uint64_t)rate_bytes);
  if (kind == HS_PROF_ALLOCS) pb_uint(out, 14, (uint64_t)intern(bd, "alloc_space"));
  /* The string table goes last: everything above has been interned. */
  for (size_t i = 0; i < bd->string_count; i++)
    pb_bytes(out, 6, bd->strings[i].text, bd->strings[i].length);
  if (scratch.failed || inner.failed || bd->failed) out->failed = true;
  free(scratch.data);
  free(inner.data);
}

static void builder_free(builder_t *bd) {
  for (size_t i = 0; i < bd->string_count; i++) free(bd->strings[i].text);
  for (size_t i = 0; i < bd->sample_count; i++) {
    free(bd->samples[i].location_indexes);
    free(bd->samples[i].labels);
  }
  for (size_t i = 0; i < bd->location_count; i++) {
    free(bd->locations[i].function_ids);
    free(bd->locations[i].lines);
  }
  free(bd->strings);
  free(bd->string_slots);
  free(bd->samples);
  free(bd->locations);
  free(bd->location_slots);
  free(bd->functions);
  free(bd->function_slots);
}

int pprof_write_buckets(int fd, hs_prof_kind_t kind, int64_t rate_bytes,
                        pprof_for_each_fn for_each, int64_t start_time_ns) {
  if (fd < 0 || (kind != HS_PROF_HEAP && kind != HS_PROF_ALLOCS) || !for_each) {
    errno = fd < 0 ? EBADF : EINVAL;
    return -1;
  }
  prof_enter();
  pageheap_profile_write_enter(); /* a hard limit leaves room for the write */
  builder_t bd = {0};
  procmaps_t maps = {0};
  mapping_flags_t *flags = NULL;
  pb_t out = {0};
  int result = -1, error = ENOMEM;
  /* The string table must open with "". */
  if (!grow(&bd, (void **)&bd.strings, &bd.string_capacity, 0, sizeof *bd.strings)) goto done;
  bd.strings[bd.string_count++] = (string_entry_t){NULL, 0};
  for_each(collect_bucket, &bd);
  if (bd.failed) goto done;
  if (procmaps_read(&maps) != 0) maps = (procmaps_t){0}; /* profile without mappings */
  flags = calloc(maps.count ? maps.count : 1, sizeof *flags);
  if (!flags) goto done;
  /* libdw ends the process when it runs out of memory: at a hard limit it
   * is used only with room to spare, else names come from dladdr (pprof
   * symbolizes the rest from the binaries, by build ID). */
  symbolizer_t *symbolizer =
      symbolize_begin(pageheap_profile_write_room() >= PPROF_LIBDW_ROOM_BYTES, &maps);
  symbolize_locations(&bd, symbolizer, &maps, flags);
  encode_profile(&bd, &out, kind, rate_bytes, &maps, flags, start_time_ns);
  symbolize_end(symbolizer);
  if (out.failed) goto done;
  result = gzip_write_fd(fd, out.data, out.length);
  error = errno;
done:
  free(out.data);
  free(flags);
  procmaps_free(&maps);
  builder_free(&bd);
  pageheap_profile_write_exit();
  prof_exit();
  errno = error;
  return result;
}
