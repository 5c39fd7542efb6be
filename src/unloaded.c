/* unloaded.c — the libraries the program unloaded, remembered for the
 * profile writer.  A sample's stack may pass through a library that
 * dlclose has unloaded by the time the profile is written; /proc/self/maps
 * no longer shows it, so without this its frames could name no function.
 * heapscope's dlclose (in front of libc's) reads what the library is from
 * its link map and program headers before the real call — path,
 * load bias, executable segments, build ID — and remembers it in a table of
 * the last UNLOADED_MODULES_MAX; procmaps.c adds those whose segments lie
 * where nothing is mapped when a profile is written (the others are still
 * loaded, through other references), and symbolize.c reads them from the
 * file at that path (where the file changed since, the build ID tells:
 * it names nothing from it).  Libraries unloaded along with it (its
 * dependencies) are not remembered.
 *
 * Takes no loader lock (dl_iterate_phdr, dladdr): a child forked while one
 * was held would inherit it held, and hang in its first dlopen.  Guarded by
 * unloaded_lock (taken only here, around the table; never while holding an
 * allocator lock).  Not on any allocator path; allocates nothing.  May
 * call: libc (dlsym, dlinfo, sysconf), procmaps (build IDs), base. */
#include "unloaded.h"

#include <dlfcn.h>
#include <link.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "base.h"
#include "procmaps.h"

static hs_lock_t unloaded_lock;
static unloaded_module_t modules[UNLOADED_MODULES_MAX]; /* unloaded_lock: a ring */
static uint64_t module_count;                            /* unloaded_lock: ever added */

/* The program headers of a library still loaded, from the loader
 * (RTLD_DI_PHDR, glibc 2.36 and later; before that nothing is noted).
 * Returns their count, 0 if it cannot tell. */
static int program_headers(void *handle, const ElfW(Phdr) **out) {
#if __GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 36)
  int count = dlinfo(handle, RTLD_DI_PHDR, (void *)out);
  return count > 0 && *out ? count : 0;
#else
  (void)handle;
  (void)out;
  return 0;
#endif
}

/* What a library still loaded is, from its link map and program headers
 * (no loader lock: a child forked while heapscope held one would inherit
 * it held): path, load bias, executable segments, build ID.  False for the
 * main program and what it cannot read. */
static bool describe(void *handle, unloaded_module_t *out) {
  struct link_map *map = NULL;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &map) != 0 || !map || !map->l_name || !map->l_name[0] ||
      map->l_addr == 0)
    return false;
  size_t length = strlen(map->l_name);
  if (length >= sizeof out->path) return false;
  struct dl_phdr_info info = {.dlpi_addr = map->l_addr, .dlpi_name = map->l_name};
  info.dlpi_phnum = (ElfW(Half))program_headers(handle, &info.dlpi_phdr);
  if (info.dlpi_phnum == 0) return false;
  memset(out, 0, sizeof *out);
  memcpy(out->path, map->l_name, length + 1);
  out->bias = map->l_addr;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  for (int i = 0; i < info.dlpi_phnum && out->segment_count < UNLOADED_SEGMENTS_MAX; i++) {
    const ElfW(Phdr) *ph = &info.dlpi_phdr[i];
    if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) continue;
    uintptr_t low = info.dlpi_addr + ph->p_vaddr;
    unloaded_segment_t *segment = &out->segments[out->segment_count++];
    segment->start = low & ~(page - 1);
    segment->limit = (low + ph->p_memsz + page - 1) & ~(page - 1);
    segment->file_offset = ph->p_offset & ~(uint64_t)(page - 1);
  }
  out->build_id_bytes = procmaps_image_build_id(&info, out->build_id, sizeof out->build_id);
  return out->segment_count > 0;
}

/* Adds `module` to the table unless it is there already (a library loaded
 * and unloaded again and again at one address). */
static void remember(const unloaded_module_t *module) {
  hs_lock(&unloaded_lock);
  size_t held = module_count < UNLOADED_MODULES_MAX ? (size_t)module_count : UNLOADED_MODULES_MAX;
  bool known = false;
  for (size_t i = 0; i < held && !known; i++)
    known = modules[i].bias == module->bias && strcmp(modules[i].path, module->path) == 0 &&
            modules[i].build_id_bytes == module->build_id_bytes &&
            memcmp(modules[i].build_id, module->build_id, module->build_id_bytes) == 0;
  if (!known) modules[module_count++ % UNLOADED_MODULES_MAX] = *module;
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
  /* Read while the caller's reference keeps the library loaded.  The real
   * call may leave it loaded (other references): the profile writer adds
   * only what lies where nothing is mapped. */
  unloaded_module_t module;
  bool described = describe(handle, &module);
  int result = next(handle);
  if (result == 0 && described) remember(&module);
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
