/* loader.h — the program's dl_iterate_phdr calls, counted for fork
 * (loader.c). */
#ifndef HS_LOADER_H
#define HS_LOADER_H

#include <link.h>
#include <stdbool.h>

/* The fork child handler's: notes whether another thread of the parent
 * was inside a dl_iterate_phdr call when it forked. */
void loader_fork_child(void);

/* In a forked child: whether the loader's lock may be held forever (another
 * thread was inside a dl_iterate_phdr call at the fork), so that no loader
 * call may be made.  False in a process that did not fork. */
bool loader_locked_in_child(void);

#endif
