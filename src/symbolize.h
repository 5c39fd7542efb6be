/* symbolize.h — in-process symbolization for the pprof writer: code address
 * → function, file, line, with inlined frames expanded.  Uses elfutils'
 * libdw, loaded with dlopen the first time (never a load-time dependency of
 * libheapscope.so); without it, dynamic-symbol names from dladdr only.
 * Calls malloc: use only inside prof_enter, never in a signal handler. */
#ifndef HS_SYMBOLIZE_H
#define HS_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "procmaps.h"

typedef struct symbolize_frame {
  const char *function;    /* display name (NULL: unknown) */
  const char *system_name; /* linkage name, or the same as function */
  const char *file;        /* source file (NULL: unknown) */
  int64_t start_line;      /* the function's first line (0: unknown) */
  int64_t line;            /* the line executing in this frame (0: unknown) */
} symbolize_frame_t;

typedef struct symbolizer symbolizer_t;

/* Starts a session over the process's current modules, and the libraries
 * unloaded since among `maps` (entries marked unloaded: read from their
 * files, and only where the file's build ID is still the one recorded),
 * with libdw unless `with_libdw` is false (dladdr only: libdw can need tens
 * of MiB for a library's debug information, and on running out of memory
 * it ends the process; dladdr knows nothing unloaded).  Never NULL on
 * success; NULL only if out of memory.  Strings handed out stay valid until
 * symbolize_end. */
symbolizer_t *symbolize_begin(bool with_libdw, const procmaps_t *maps);

/* Fills frames[0..n) for the instruction at address, innermost (most
 * deeply inlined) first, and returns n (0: nothing known, ≤ max_frames).
 * *inline_expanded is set when debug information was used, so the frames
 * are the complete inline chain. */
int symbolize_address(symbolizer_t *symbolizer, uintptr_t address, symbolize_frame_t *frames,
                      int max_frames, bool *inline_expanded);

void symbolize_end(symbolizer_t *symbolizer);

/* False makes later sessions skip libdw (tests of the fallback). */
extern bool symbolize_use_libdw;

#endif /* HS_SYMBOLIZE_H */
