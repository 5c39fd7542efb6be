/* symbolize.c — address → (function, file, line) frames, innermost first,
 * for the pprof writer.  libdw is dlopen'ed once, the first time a profile
 * is written, so libheapscope.so (preloaded into every process) never
 * depends on it at load time; without it, dladdr gives dynamic-symbol names.
 * No lock of its own: callers serialize sessions (the pprof writer's lock).
 * Not on any allocator path (libdw allocates; callers are in prof_enter).
 * Libraries unloaded since their samples (procmaps entries marked unloaded)
 * are reported to libdw from their files, at their old load bias.
 * May call: libc (dlopen, dladdr, malloc), libdw through dlsym'd pointers,
 * os. */
#include "symbolize.h"

#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os.h"

bool symbolize_use_libdw = true;

/* The libdw functions used here, resolved with dlsym. */
#define LIBDW_FUNCTIONS(X)                                                                   \
  X(dwfl_begin) X(dwfl_end) X(dwfl_report_begin) X(dwfl_report_end) X(dwfl_linux_proc_report) \
  X(dwfl_linux_proc_find_elf) X(dwfl_module_build_id) X(dwfl_addrmodule)                     \
  X(dwfl_module_addrinfo) X(dwfl_module_addrdie) X(dwfl_module_getsrc) X(dwfl_lineinfo)      \
  X(dwfl_line_comp_dir) X(dwfl_report_elf)                                                   \
  X(dwarf_getscopes) X(dwarf_getscopes_die) X(dwarf_tag) X(dwarf_diename)                    \
  X(dwarf_attr_integrate) X(dwarf_formstring) X(dwarf_formudata) X(dwarf_decl_line)          \
  X(dwarf_decl_file) X(dwarf_diecu) X(dwarf_getsrcfiles) X(dwarf_filesrc)

#define LIBDW_POINTER(name) __typeof__(name) *name;
static struct { LIBDW_FUNCTIONS(LIBDW_POINTER) } libdw;
static bool libdw_loaded;
static pthread_once_t libdw_once = PTHREAD_ONCE_INIT;

static void libdw_load(void) {
  void *handle = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!handle) return;
#define LIBDW_RESOLVE(name) \
  if (!(*(void **)&libdw.name = dlsym(handle, #name))) return;
  LIBDW_FUNCTIONS(LIBDW_RESOLVE)
  libdw_loaded = true;
}

/* Separate debug information by build ID only (/usr/lib/debug/.build-id),
 * never over the network: the standard callback may ask a debuginfod
 * server, which has no place inside a profile write. */
static int find_debuginfo_by_build_id(Dwfl_Module *module, void **userdata, const char *module_name,
                                      Dwarf_Addr base, const char *file_name,
                                      const char *debuglink_file, GElf_Word debuglink_crc,
                                      char **debuginfo_file_name) {
  const unsigned char *bits;
  GElf_Addr vaddr;
  int length = libdw.dwfl_module_build_id(module, &bits, &vaddr);
  if (length < 2 || length > 64) return -1;
  char path[200];
  int at = snprintf(path, sizeof path, "/usr/lib/debug/.build-id/%02x/", bits[0]);
  for (int i = 1; i < length; i++) at += snprintf(path + at, sizeof path - (size_t)at, "%02x", bits[i]);
  snprintf(path + at, sizeof path - (size_t)at, ".debug");
  int fd = os_fd_above_std(open(path, O_RDONLY | O_CLOEXEC));
  if (fd >= 0) *debuginfo_file_name = strdup(path);
  return fd;
}

static Dwfl_Callbacks dwfl_callbacks;

struct symbolizer {
  Dwfl *dwfl;           /* NULL: dladdr only */
  Dwfl_Module **stale;  /* unloaded libraries whose file changed since: unused */
  size_t stale_count;
  char **paths;         /* absolute file names made here, freed at the end */
  size_t path_count, path_capacity;
};

/* file made absolute against the compilation directory, as pprof -list
 * needs to find sources from anywhere.  Falls back to file as given. */
static const char *absolute_path(symbolizer_t *symbolizer, const char *directory,
                                 const char *file) {
  if (!file || file[0] == '/' || !directory || !*directory) return file;
  if (symbolizer->path_count == symbolizer->path_capacity) {
    size_t capacity = symbolizer->path_capacity ? symbolizer->path_capacity * 2 : 64;
    char **grown = realloc(symbolizer->paths, capacity * sizeof *grown);
    if (!grown) return file;
    symbolizer->paths = grown;
    symbolizer->path_capacity = capacity;
  }
  size_t a = strlen(directory), b = strlen(file);
  char *path = malloc(a + b + 2);
  if (!path) return file;
  memcpy(path, directory, a);
  path[a] = '/';
  memcpy(path + a + 1, file, b + 1);
  symbolizer->paths[symbolizer->path_count++] = path;
  return path;
}

/* Reports each unloaded library of `maps` once (its segments share a
 * path and bias) from its file, and lists in *stale (malloc'd, *count of
 * them) those whose file's build ID is no longer the recorded one (replaced
 * since).  False if out of memory: a stale module could not be listed. */
static bool report_unloaded(Dwfl *dwfl, const procmaps_t *maps, Dwfl_Module ***stale,
                            size_t *count) {
  *stale = NULL;
  *count = 0;
  for (size_t i = 0; maps && i < maps->count; i++) {
    const procmaps_entry_t *entry = &maps->entries[i];
    if (!entry->unloaded) continue;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = maps->entries[j].unloaded && maps->entries[j].bias == entry->bias &&
             strcmp(maps->entries[j].path, entry->path) == 0;
    if (seen) continue;
    /* ET_DYN with add_p_vaddr: its segments at bias + p_vaddr, as loaded. */
    Dwfl_Module *module =
        libdw.dwfl_report_elf(dwfl, entry->path, entry->path, -1, entry->bias, true);
    if (!module) continue;
    const unsigned char *bits;
    GElf_Addr vaddr;
    int length = libdw.dwfl_module_build_id(module, &bits, &vaddr);
    if (length >= 0 && (uint32_t)length == entry->build_id_bytes &&
        memcmp(bits, entry->build_id, entry->build_id_bytes) == 0)
      continue;
    Dwfl_Module **grown = realloc(*stale, (*count + 1) * sizeof *grown);
    if (!grown) return false;
    *stale = grown;
    (*stale)[(*count)++] = module;
  }
  return true;
}

symbolizer_t *symbolize_begin(bool with_libdw, const procmaps_t *maps) {
  symbolizer_t *symbolizer = calloc(1, sizeof *symbolizer);
  if (!symbolizer) return NULL;
  if (!with_libdw || !symbolize_use_libdw) return symbolizer;
  pthread_once(&libdw_once, libdw_load);
  if (!libdw_loaded) return symbolizer;
  dwfl_callbacks.find_elf = libdw.dwfl_linux_proc_find_elf;
  dwfl_callbacks.find_debuginfo = find_debuginfo_by_build_id;
  Dwfl *dwfl = libdw.dwfl_begin(&dwfl_callbacks);
  if (!dwfl) return symbolizer;
  libdw.dwfl_report_begin(dwfl);
  int failed = libdw.dwfl_linux_proc_report(dwfl, getpid());
  Dwfl_Module **stale = NULL;
  size_t stale_count = 0;
  bool listed = failed == 0 && report_unloaded(dwfl, maps, &stale, &stale_count);
  if (libdw.dwfl_report_end(dwfl, NULL, NULL) != 0 || !listed) {
    free(stale);
    libdw.dwfl_end(dwfl);
    return symbolizer;
  }
  symbolizer->dwfl = dwfl;
  symbolizer->stale = stale;
  symbolizer->stale_count = stale_count;
  return symbolizer;
}

void symbolize_end(symbolizer_t *symbolizer) {
  if (!symbolizer) return;
  if (symbolizer->dwfl) libdw.dwfl_end(symbolizer->dwfl);
  free(symbolizer->stale);
  for (size_t i = 0; i < symbolizer->path_count; i++) free(symbolizer->paths[i]);
  free(symbolizer->paths);
  free(symbolizer);
}

static const char *die_string(Dwarf_Die *die, unsigned int attribute) {
  Dwarf_Attribute storage;
  return libdw.dwarf_formstring(libdw.dwarf_attr_integrate(die, attribute, &storage));
}

/* One function-like DIE (subprogram or inlined instance) as a frame. */
static void describe_function(Dwarf_Die *die, symbolize_frame_t *frame) {
  const char *name = libdw.dwarf_diename(die);
  const char *linkage = die_string(die, DW_AT_linkage_name);
  if (!linkage) linkage = die_string(die, DW_AT_MIPS_linkage_name);
  /* C++: both names mangled, so pprof demangles them the same way. */
  frame->function = linkage ? linkage : name;
  frame->system_name = frame->function;
  int line;
  if (libdw.dwarf_decl_line(die, &line) == 0) frame->start_line = line;
  const char *file = libdw.dwarf_decl_file(die);
  if (file) frame->file = file;
}

/* The inline chain from DWARF scopes; returns the frame count (0: none). */
static int describe_scopes(symbolizer_t *symbolizer, Dwfl_Module *module, Dwarf_Addr address,
                           const char *file, int line, symbolize_frame_t *frames, int max_frames) {
  Dwarf_Addr bias;
  Dwarf_Die *cu = libdw.dwfl_module_addrdie(module, address, &bias);
  if (!cu) return 0;
  Dwarf_Die *scopes = NULL, *chain = NULL;
  int count = 0;
  /* dwarf_getscopes finds the innermost scope; dwarf_getscopes_die then
   * gives its physical parents (the concrete inlined instances, not their
   * abstract origins), which is the inline chain. */
  if (libdw.dwarf_getscopes(cu, address - bias, &scopes) <= 0) goto done;
  int depth = libdw.dwarf_getscopes_die(&scopes[0], &chain);
  Dwarf_Files *files = NULL;
  size_t file_count = 0;
  Dwarf_Die cu_die;
  const char *directory = NULL;
  if (depth > 0 && libdw.dwarf_diecu(&chain[0], &cu_die, NULL, NULL)) {
    libdw.dwarf_getsrcfiles(&cu_die, &files, &file_count);
    directory = die_string(&cu_die, DW_AT_comp_dir);
  }
  for (int i = 0; i < depth && count < max_frames; i++) {
    int tag = libdw.dwarf_tag(&chain[i]);
    if (tag != DW_TAG_subprogram && tag != DW_TAG_inlined_subroutine) continue;
    symbolize_frame_t *frame = &frames[count++];
    memset(frame, 0, sizeof *frame);
    describe_function(&chain[i], frame);
    if (file) frame->file = file; /* the line's own file beats the declaration's */
    frame->file = absolute_path(symbolizer, directory, frame->file);
    frame->line = line;
    if (tag == DW_TAG_subprogram) break;
    /* The caller's position is where this instance was inlined. */
    Dwarf_Attribute storage;
    Dwarf_Word value;
    line = 0;
    file = NULL;
    if (libdw.dwarf_formudata(libdw.dwarf_attr_integrate(&chain[i], DW_AT_call_line, &storage),
                              &value) == 0)
      line = (int)value;
    if (files &&
        libdw.dwarf_formudata(libdw.dwarf_attr_integrate(&chain[i], DW_AT_call_file, &storage),
                              &value) == 0 &&
        value < file_count)
      file = libdw.dwarf_filesrc(files, value, NULL, NULL);
  }
done:
  free(scopes);
  free(chain);
  return count;
}

int symbolize_address(symbolizer_t *symbolizer, uintptr_t address, symbolize_frame_t *frames,
                      int max_frames, bool *inline_expanded) {
  *inline_expanded = false;
  if (max_frames <= 0) return 0;
  memset(&frames[0], 0, sizeof frames[0]);
  if (symbolizer->dwfl) {
    Dwfl_Module *module = libdw.dwfl_addrmodule(symbolizer->dwfl, address);
    if (!module) return 0;
    for (size_t i = 0; i < symbolizer->stale_count; i++)
      if (symbolizer->stale[i] == module) return 0;
    const char *file = NULL;
    int line = 0;
    Dwfl_Line *line_record = libdw.dwfl_module_getsrc(module, address);
    if (line_record) file = libdw.dwfl_lineinfo(line_record, NULL, &line, NULL, NULL, NULL);
    int count = describe_scopes(symbolizer, module, address, file, line, frames, max_frames);
    if (count > 0) {
      *inline_expanded = true;
      return count;
    }
    /* No DWARF function here: the ELF symbol tables, and the line if any. */
    GElf_Off offset;
    GElf_Sym symbol;
    const char *name =
        libdw.dwfl_module_addrinfo(module, address, &offset, &symbol, NULL, NULL, NULL);
    if (!name && !file) return 0;
    frames[0].function = frames[0].system_name = name;
    frames[0].file =
        line_record ? absolute_path(symbolizer, libdw.dwfl_line_comp_dir(line_record), file) : NULL;
    frames[0].line = line;
    return 1;
  }
  Dl_info info;
  if (!dladdr((void *)address, &info) || !info.dli_sname) return 0;
  frames[0].function = frames[0].system_name = info.dli_sname;
  return 1;
}
