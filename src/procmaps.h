/* procmaps.h — the process's executable mappings for a pprof profile:
 * /proc/self/maps parsed, main binary first, each with the GNU build ID of
 * the loaded object it belongs to, and the libraries unloaded since.  Used
 * by the pprof writer, and by unloaded.c for build IDs, outside the
 * allocator's paths (it calls malloc).  See docs/profiles.md. */
#ifndef HS_PROCMAPS_H
#define HS_PROCMAPS_H

#include <link.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROCMAPS_BUILD_ID_MAX_BYTES 64

typedef struct procmaps_entry {
  uintptr_t start, limit;   /* [start, limit) */
  uint64_t file_offset;
  char *path;               /* malloc'd; "" if anonymous; " (deleted)" trimmed */
  bool is_main;             /* part of the main executable */
  bool unloaded;            /* a library unloaded since (unloaded.c): not in
                               the maps file, its file read from path */
  uintptr_t bias;           /* unloaded: its load bias */
  uint32_t build_id_bytes;  /* 0: no NT_GNU_BUILD_ID note found */
  uint8_t build_id[PROCMAPS_BUILD_ID_MAX_BYTES];
} procmaps_entry_t;

typedef struct procmaps {
  procmaps_entry_t *entries;
  size_t count;
} procmaps_t;

/* Parses the text of a maps file, keeping executable entries in address
 * order and trimming " (deleted)".  Returns 0, or -1 (ENOMEM). */
int procmaps_parse(const char *text, size_t length, procmaps_t *out);

/* Reads /proc/self/maps, marks the main executable's entries and fills in
 * build IDs from the loaded images (dl_iterate_phdr: nothing is opened but
 * the maps file), adds the executable segments of libraries unloaded since
 * (unloaded.c) where nothing is mapped now, and puts the main executable
 * first.  Returns 0, or -1 with errno. */
int procmaps_read(procmaps_t *out);

/* The GNU build ID of a loaded image (its PT_NOTE segments) into out (at
 * most `max` bytes); returns its length, 0 if none. */
uint32_t procmaps_image_build_id(const struct dl_phdr_info *info, uint8_t *out, size_t max);

/* The index of the entry containing address, or -1. */
long procmaps_find(const procmaps_t *maps, uintptr_t address);

void procmaps_free(procmaps_t *maps);

#endif /* HS_PROCMAPS_H */
