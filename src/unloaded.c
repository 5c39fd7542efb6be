/* unloaded.c — the libraries the program unloaded, remembered for the
 * profile writer.  A sample's stack may pass through a library that
 * dlclose has unloaded by the time the profile is written; /proc/self/maps
 * no longer shows it, so without this its frames could name no function.
 * heapscope's dlclose (in front of libc's) lists the loaded images before
 * and after the real call; each image gone is remembered — its path, load
 * bias, executable segments and build ID — in a table of the last
 * UNLOADED_MODULES_MAX, and procmaps.c and symbolize.c treat it as a
 * mapping whose file is still on disk (where the file changed since, the
 * build ID tells: symbolize.c names nothing from it).
 *
 * Guarded by unloaded_lock (taken only here, around the table; never while
 * holding an allocator lock).  Not on any allocator path: dlclose's own
 * work runs inside prof_enter, so it is never sampled.  May call: libc
 * (dlsym, dl_iterate_phdr, malloc), procmaps (build IDs), profile
 * (prof_enter), base. */
#include "unloaded.h"

#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "procmaps.h"
#include "profile.h"

#define UNLOADED_MODULES_MAX 32

static hs_lock_t unloaded_lock;
static unloaded_module_t modules[UNLOADED_MODULES_MAX]; /* unloaded_lock: a ring */
static uint64_t module_count;                            /* unloaded_lock: ever added */

typedef struct image_list {
  unloaded_module_t *images;
  size_t count, capacity;
  bool full_records; /* false: path and bias only (the list after the call) */
} image_list_t;

static int list_image(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)size;
  image_list_t *list = arg;
  /* The main program ("") is never unloaded. */
  if (!info->dlpi_name || !info->dlpi_name[0]) return 0;
  if (list->count == list->capacity) {
    size_t capacity = list->capacity ? 2 * list->capacity : 32;
    unloaded_module_t *grown = realloc(list->images, capacity * sizeof *grown);
    if (!grown) return 1; /* stop: the list is partial (see dlclose) */
    list->images = grown;
    list->capacity = capacity;
  }
  unloaded_module_t *image = &list->images[list->count++];
  size_t length = strlen(info->dlpi_name);
  if (length >= sizeof image->path) length = sizeof image->path - 1; /* compared only */
  memcpy(image->path, info->dlpi_name, length);
  image->path[length] = 0;
  image->bias = info->dlpi_addr;
  image->segment_count = 0;
  image->build_id_bytes = 0;
  if (!list->full_records) return 0;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  for (int i = 0; i < info->dlpi_phnum && image->segment_count < UNLOADED_SEGMENTS_MAX; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t low = info->dlpi_addr + ph->p_vaddr;
    unloaded_segment_t *segment = &image->segments[image->segment_count++];
    segment->start = low & ~(page - 1);
    segment->limit = (low + ph->p_memsz + page - 1) & ~(page - 1);
    segment->file_offset = ph->p_offset & ~(uint64_t)(page - 1);
  }
  image->build_id_bytes = procmaps_image_build_id(info, image->build_id, sizeof image->build_id);
  return 0;
}

static bool same_image(const unloaded_module_t *a, const unloaded_module_t *b) {
  return a->bias == b->bias && strcmp(a->path, b->path) == 0;
}

/* Adds `image` to the table unless it is there already (a library loaded
 * and unloaded again and again at one address). */
static void remember(const unloaded_module_t *image) {
  if (image->segment_count == 0 || strlen(image->path) >= sizeof image->path - 1) return;
  hs_lock(&unloaded_lock);
  size_t held = module_count < UNLOADED_MODULES_MAX ? (size_t)module_count : UNLOADED_MODULES_MAX;
  bool known = false;
  for (size_t i = 0; i < held && !known; i++)
    known = same_image(&modules[i], image) && modules[i].build_id_bytes == image->build_id_bytes &&
            memcmp(modules[i].build_id, image->build_id, image->build_id_bytes) == 0;
  if (!known) modules[module_count++ % UNLOADED_MODULES_MAX] = *image;
  hs_unlock(&unloaded_lock);
}

HS_EXPORT int dlclose(void *handle) {
  static int (*next_dlclose)(void *);
  int (*next)(void *) = __atomic_load_n(&next_dlclose, __ATOMIC_ACQUIRE);
  if (!next) {
    next = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
    if (!next) return -1; /* no dlclose behind this one: nothing can be unloaded */
    __atomic_store_n(&next_dlclose, next, __ATOMIC_RELEASE);
  }
  image_list_t before = {.full_records = true};
  prof_enter();
  bool listed = dl_iterate_phdr(list_image, &before) == 0;
  prof_exit();
  /* Outside prof_enter: the library's destructors allocate as the program. */
  int result = next(handle);
  prof_enter();
  image_list_t after = {.full_records = false};
  if (result == 0 && listed && dl_iterate_phdr(list_image, &after) == 0) {
    for (size_t i = 0; i < before.count; i++) {
      bool still_loaded = false;
      for (size_t j = 0; j < after.count && !still_loaded; j++)
        still_loaded = same_image(&before.images[i], &after.images[j]);
      if (!still_loaded) remember(&before.images[i]);
    }
  }
  free(before.images);
  free(after.images);
  prof_exit();
  return result;
}

size_t unloaded_modules_copy(unloaded_module_t *out, size_t max) {
  hs_lock(&unloaded_lock);
  size_t held = module_count < UNLOADED_MODULES_MAX ? (size_t)module_count : UNLOADED_MODULES_MAX;
  size_t copied = 0;
  for (; copied < held && copied < max; copied++)
    out[copied] = modules[(module_count - 1 - copied) % UNLOADED_MODULES_MAX];
  hs_unlock(&unloaded_lock);
  return copied;
}

void unloaded_fork_child(void) { hs_lock_reset(&unloaded_lock); }
