/* proto_reader.h — protobuf wire-format reading for the CLI's profile reader:
 * bounds-checked varints and fields over a byte range, and gzip/zlib input
 * unpacking.  No state, no locks; calls only zlib and libc. */
#ifndef HEAPSCOPE_CLI_PROTO_READER_H
#define HEAPSCOPE_CLI_PROTO_READER_H

#include <stddef.h>
#include <stdint.h>

/* A byte range being read; `cursor` advances, `end` is one past the last byte. */
typedef struct proto_range {
  const uint8_t *cursor;
  const uint8_t *end;
} proto_range;

/* Wire types (protobuf encoding). */
enum {
  PROTO_WIRE_VARINT = 0,
  PROTO_WIRE_FIXED64 = 1,
  PROTO_WIRE_BYTES = 2,
  PROTO_WIRE_FIXED32 = 5,
};

/* One field read by proto_next_field.  For PROTO_WIRE_BYTES, `bytes` is the
 * payload; for the other wire types, `number` holds the value. */
typedef struct proto_field {
  uint32_t field_number;
  uint32_t wire_type;
  uint64_t number;
  proto_range bytes;
} proto_field;

/* Reads one varint (at most 10 bytes).  Returns 0, or -1 if truncated/overlong. */
int proto_read_varint(proto_range *range, uint64_t *value_out);

/* Reads the next field of a message.  Returns 1 with *field filled, 0 at the
 * end of the range, -1 on malformed input (message in err, errlen bytes). */
int proto_next_field(proto_range *range, proto_field *field, char *err, size_t errlen);

/* Inflates gzip (possibly several concatenated members) or zlib data; raw
 * protobuf is returned as a copy.  At most max_output_bytes are produced.
 * Returns 0 with *out (malloc'ed, caller frees) and *out_len, or -1 + err. */
int proto_unpack(const uint8_t *data, size_t len, size_t max_output_bytes, uint8_t **out,
                 size_t *out_len, char *err, size_t errlen);

#endif
