/* unloaded.h — libraries the program unloaded with dlclose, remembered so
 * that a profile written later still names their code (unloaded.c).  Read
 * only by the profile writer, outside the allocator's paths. */
#ifndef HS_UNLOADED_H
#define HS_UNLOADED_H

#include <stdint.h>
#include <stddef.h>

#include "procmaps.h"

#define UNLOADED_MODULES_MAX 64 /* the table keeps the last this many */
#define UNLOADED_PATH_MAX_BYTES 512
#define UNLOADED_SEGMENTS_MAX 4

typedef struct unloaded_segment {
  uintptr_t start, limit; /* [start, limit), page-aligned as in /proc/self/maps */
  uint64_t file_offset;
} unloaded_segment_t;

typedef struct unloaded_module {
  char path[UNLOADED_PATH_MAX_BYTES];
  uintptr_t bias;                  /* dlpi_addr: where its ELF addresses were */
  uint32_t segment_count;          /* executable PT_LOAD segments */
  unloaded_segment_t segments[UNLOADED_SEGMENTS_MAX];
  uint32_t build_id_bytes;
  uint8_t build_id[PROCMAPS_BUILD_ID_MAX_BYTES];
} unloaded_module_t;

/* Copies up to `max` of the libraries dlclose was called for (unloaded,
 * or still loaded through other references), newest first, into out;
 * returns how many. */
size_t unloaded_modules_copy(unloaded_module_t *out, size_t max);

void unloaded_fork_child(void);

#endif /* HS_UNLOADED_H */
