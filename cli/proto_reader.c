/* proto_reader.c — protobuf wire-format primitives and gzip unpacking for the
 * CLI's profile reader (see profile_model.c for the profile.proto schema).
 * Everything is bounds-checked: input is untrusted.  No state, no locks;
 * calls zlib and libc only. */
#include "proto_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int proto_read_varint(proto_range *range, uint64_t *value_out) {
  uint64_t value = 0;
  for (unsigned shift = 0; shift < 70; shift += 7) {
    if (range->cursor >= range->end) return -1;
    uint8_t byte = *range->cursor++;
    if (shift == 63 && byte > 1) return -1; /* more than 64 bits */
    value |= (uint64_t)(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *value_out = value;
      return 0;
    }
  }
  return -1;
}

int proto_next_field(proto_range *range, proto_field *field, char *err, size_t errlen) {
  if (range->cursor >= range->end) return 0;
  uint64_t key;
  if (proto_read_varint(range, &key) != 0) {
    snprintf(err, errlen, "truncated or malformed field key");
    return -1;
  }
  uint64_t number = key >> 3;
  if (number == 0 || number > 536870911u) {
    snprintf(err, errlen, "invalid field number %llu", (unsigned long long)number);
    return -1;
  }
  field->field_number = (uint32_t)number;
  field->wire_type = (uint32_t)(key & 7);
  field->number = 0;
  field->bytes.cursor = field->bytes.end = NULL;
  size_t left = (size_t)(range->end - range->cursor);
  switch (field->wire_type) {
    case PROTO_WIRE_VARINT:
      if (proto_read_varint(range, &field->number) != 0) {
        snprintf(err, errlen, "truncated varint in field %u", field->field_number);
        return -1;
      }
      return 1;
    case PROTO_WIRE_FIXED64:
    case PROTO_WIRE_FIXED32: {
      size_t size = field->wire_type == PROTO_WIRE_FIXED64 ? 8 : 4;
      if (left < size) {
        snprintf(err, errlen, "truncated fixed-width value in field %u", field->field_number);
        return -1;
      }
      uint64_t value = 0;
      for (size_t i = 0; i < size; i++) value |= (uint64_t)range->cursor[i] << (8 * i);
      range->cursor += size;
      field->number = value;
      return 1;
    }
    case PROTO_WIRE_BYTES: {
      uint64_t length;
      if (proto_read_varint(range, &length) != 0) {
        snprintf(err, errlen, "truncated length in field %u", field->field_number);
        return -1;
      }
      left = (size_t)(range->end - range->cursor);
      if (length > left) {
        snprintf(err, errlen, "field %u is %llu bytes long but only %zu bytes remain (truncated?)",
                 field->field_number, (unsigned long long)length, left);
        return -1;
      }
      field->bytes.cursor = range->cursor;
      field->bytes.end = range->cursor + length;
      range->cursor += length;
      return 1;
    }
    default:
      snprintf(err, errlen, "unsupported wire type %u in field %u (not a profile.proto message?)",
               field->wire_type, field->field_number);
      return -1;
  }
}

static int unpack_gzip(const uint8_t *data, size_t len, size_t max_output_bytes, uint8_t **out,
                       size_t *out_len, char *err, size_t errlen) {
  z_stream stream;
  memset(&stream, 0, sizeof stream);
  if (inflateInit2(&stream, 15 + 16) != Z_OK) {
    snprintf(err, errlen, "cannot initialise zlib");
    return -1;
  }
  size_t capacity = len < (1u << 20) ? (1u << 20) : len * 4;
  if (capacity > max_output_bytes) capacity = max_output_bytes;
  uint8_t *buffer = malloc(capacity ? capacity : 1);
  size_t used = 0;
  int result = -1;
  if (!buffer) {
    snprintf(err, errlen, "out of memory");
    goto done;
  }
  stream.next_in = (Bytef *)data;
  stream.avail_in = 0;
  size_t consumed = 0;
  for (;;) {
    if (used == capacity) {
      if (capacity >= max_output_bytes) {
        snprintf(err, errlen, "uncompressed profile is larger than %zu MiB; refusing",
                 max_output_bytes >> 20);
        goto done;
      }
      size_t grown = capacity * 2 > max_output_bytes ? max_output_bytes : capacity * 2;
      uint8_t *bigger = realloc(buffer, grown);
      if (!bigger) {
        snprintf(err, errlen, "out of memory inflating the profile");
        goto done;
      }
      buffer = bigger;
      capacity = grown;
    }
    if (stream.avail_in == 0) {
      size_t chunk = len - consumed > (1u << 30) ? (1u << 30) : len - consumed;
      stream.next_in = (Bytef *)(data + consumed);
      stream.avail_in = (uInt)chunk;
      consumed += chunk;
    }
    size_t room = capacity - used > (1u << 30) ? (1u << 30) : capacity - used;
    stream.next_out = buffer + used;
    stream.avail_out = (uInt)room;
    int status = inflate(&stream, Z_NO_FLUSH);
    used += room - stream.avail_out;
    if (status == Z_STREAM_END) {
      /* Another gzip member may follow; anything else is an error. */
      size_t rest = stream.avail_in + (len - consumed);
      if (rest == 0) break;
      const uint8_t *next = stream.next_in;
      if (stream.avail_in == 0) next = data + consumed;
      if (rest >= 2 && next[0] == 0x1f && next[1] == 0x8b) {
        inflateReset(&stream);
        continue;
      }
      snprintf(err, errlen, "%zu bytes of trailing garbage after the gzip data", rest);
      goto done;
    }
    if (status == Z_BUF_ERROR && stream.avail_in == 0 && consumed == len) {
      snprintf(err, errlen, "truncated gzip data");
      goto done;
    }
    if (status != Z_OK && status != Z_BUF_ERROR) {
      snprintf(err, errlen, "corrupt gzip data (%s)", stream.msg ? stream.msg : "inflate failed");
      goto done;
    }
  }
  *out = buffer;
  *out_len = used;
  buffer = NULL;
  result = 0;
done:
  free(buffer);
  inflateEnd(&stream);
  return result;
}

int proto_unpack(const uint8_t *data, size_t len, size_t max_output_bytes, uint8_t **out,
                 size_t *out_len, char *err, size_t errlen) {
  if (len >= 2 && data[0] == 0x1f && data[1] == 0x8b)
    return unpack_gzip(data, len, max_output_bytes, out, out_len, err, errlen);
  if (len > max_output_bytes) {
    snprintf(err, errlen, "profile is larger than %zu MiB; refusing", max_output_bytes >> 20);
    return -1;
  }
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  if (len) memcpy(copy, data, len);
  *out = copy;
  *out_len = len;
  return 0;
}
