/* unwind.h — stack capture for the sampler.  Walks the DWARF call-frame
 * information in each module's .eh_frame (so programs built without frame
 * pointers, like Debian's, unwind fully), caching the unwind rule of every
 * return address so a repeated stack costs two loads per frame.  Never
 * calls malloc.  See docs/profiling.md. */
#ifndef HS_UNWIND_H
#define HS_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

/* Fills pcs[] with up to `max` return addresses, innermost first, of the
 * frames above this function's own (pcs[0] returns into its caller).
 * Returns the number of frames.  For the tests: the walk from a known
 * frame. */
int unwind_capture(uintptr_t *pcs, int max);

/* The sampler's capture: the same for the frames above a public entry
 * point, whose __builtin_dwarf_cfa() is `entry_cfa`, without walking
 * heapscope's own frames (the list is unwind_capture's from the return
 * address into the entry point's caller on).  `caller_rbp` is RBP as the entry point's caller left it:
 * read it in code built with -ffixed-rbp (malloc.c), where no frame from
 * the entry point down writes RBP. */
int unwind_capture_caller(uintptr_t *pcs, int max, uintptr_t entry_cfa, uintptr_t caller_rbp);

/* Notes the modules the loader lists now as ones that stay loaded: call
 * at the process's first allocation, before any dlopen can list a module
 * that may be unloaded later.  Later calls do nothing. */
void unwind_note_startup_modules(void);

/* Lists the modules loaded now and maps the rule cache, so the first sample
 * does not pay for it; safe to call more than once. */
void unwind_warm_up(void);

/* Fork's gate on heapscope's dl_iterate_phdr calls, the unwinder's and
 * the profile writer's (procmaps): a child forked during one would inherit
 * the loader's write lock held (unwind.c says why).  unwind_loader_enter
 * returns false while a fork is under way: make no call.  true: make it,
 * then call unwind_loader_leave. */
bool unwind_loader_enter(void);
void unwind_loader_leave(void);

/* fork support.  unwind_fork_quiesce comes first of all the prepare
 * handlers, before any allocator or profiler lock is taken: it waits until
 * no dl_iterate_phdr call inside the gate is in flight and lets none start
 * until fork returns (a capture then stops at its first frame that needs
 * the loader). */
void unwind_fork_quiesce(void);
void unwind_fork_prepare(void);
void unwind_fork_parent(void);
void unwind_fork_child(void);

#endif /* HS_UNWIND_H */
