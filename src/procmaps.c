/* procmaps.c — executable mappings of this process, for pprof's Mapping
 * messages: /proc/self/maps parsed, the main executable marked and put
 * first, build IDs taken from the PT_NOTE segments of the loaded images.
 * Libraries unloaded since (unloaded.c) are added where nothing is mapped
 * now.  No lock: each call builds its own table.  Not on any allocator
 * path (it calls malloc; the pprof writer runs it inside prof_enter).
 * May call: libc (open/read, dl_iterate_phdr, malloc), os, unloaded, unwind
 * (fork's gate on loader calls). */
#include "procmaps.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "os.h"
#include "unloaded.h"
#include "unwind.h"

static const char *parse_hex(const char *s, const char *end, uint64_t *out) {
  uint64_t value = 0;
  const char *start = s;
  for (; s < end; s++) {
    int digit;
    if (*s >= '0' && *s <= '9') digit = *s - '0';
    else if (*s >= 'a' && *s <= 'f') digit = *s - 'a' + 10;
    else if (*s >= 'A' && *s <= 'F') digit = *s - 'A' + 10;
    else break;
    value = value << 4 | (uint64_t)digit;
  }
  *out = value;
  return s == start ? NULL : s;
}

static const char *skip_field(const char *s, const char *end) {
  while (s < end && *s != ' ') s++;
  while (s < end && *s == ' ') s++;
  return s;
}

/* One line "start-limit perms offset dev inode   path"; false if malformed
 * or not executable. */
static bool parse_line(const char *s, const char *end, procmaps_entry_t *entry, size_t *path_bytes,
                       const char **path) {
  uint64_t start, limit, offset;
  if (!(s = parse_hex(s, end, &start)) || s >= end || *s != '-') return false;
  if (!(s = parse_hex(s + 1, end, &limit)) || s >= end || *s != ' ') return false;
  const char *perms = s + 1;
  if (end - perms < 5 || perms[2] != 'x') return false;
  s = skip_field(perms, end);
  if (!(s = parse_hex(s, end, &offset))) return false;
  s = skip_field(s, end); /* offset's trailing spaces */
  s = skip_field(s, end); /* dev */
  s = skip_field(s, end); /* inode */
  static const char deleted[] = " (deleted)";
  size_t length = (size_t)(end - s);
  if (length >= sizeof deleted - 1 && memcmp(end - (sizeof deleted - 1), deleted, sizeof deleted - 1) == 0)
    length -= sizeof deleted - 1;
  memset(entry, 0, sizeof *entry);
  entry->start = (uintptr_t)start;
  entry->limit = (uintptr_t)limit;
  entry->file_offset = offset;
  *path = s;
  *path_bytes = length;
  return limit > start;
}

int procmaps_parse(const char *text, size_t length, procmaps_t *out) {
  out->entries = NULL;
  out->count = 0;
  size_t capacity = 0;
  const char *end = text + length;
  for (const char *line = text; line < end;) {
    const char *line_end = memchr(line, '\n', (size_t)(end - line));
    if (!line_end) line_end = end;
    procmaps_entry_t entry;
    const char *path;
    size_t path_bytes;
    if (parse_line(line, line_end, &entry, &path_bytes, &path)) {
      if (out->count == capacity) {
        capacity = capacity ? capacity * 2 : 32;
        procmaps_entry_t *grown = realloc(out->entries, capacity * sizeof *grown);
        if (!grown) goto fail;
        out->entries = grown;
      }
      if (!(entry.path = malloc(path_bytes + 1))) goto fail;
      memcpy(entry.path, path, path_bytes);
      entry.path[path_bytes] = 0;
      out->entries[out->count++] = entry;
    }
    line = line_end + 1;
  }
  return 0;
fail:
  procmaps_free(out);
  errno = ENOMEM;
  return -1;
}

/* ---- Build IDs and the main executable, from the loaded images ---- */

typedef struct image_scan {
  procmaps_t *maps;
  bool first; /* dl_iterate_phdr reports the main program first */
} image_scan_t;

/* Finds NT_GNU_BUILD_ID in one PT_NOTE segment; returns its length or 0. */
static uint32_t find_build_id(const uint8_t *note, size_t size, uint8_t *out) {
  size_t at = 0;
  while (at + sizeof(ElfW(Nhdr)) <= size) {
    const ElfW(Nhdr) *header = (const ElfW(Nhdr) *)(note + at);
    size_t name_at = at + sizeof *header;
    size_t desc_at = name_at + ((header->n_namesz + 3) & ~(size_t)3);
    size_t next = desc_at + ((header->n_descsz + 3) & ~(size_t)3);
    if (next > size) return 0;
    if (header->n_type == NT_GNU_BUILD_ID && header->n_namesz == 4 &&
        memcmp(note + name_at, "GNU", 4) == 0 && header->n_descsz > 0 &&
        header->n_descsz <= PROCMAPS_BUILD_ID_MAX_BYTES) {
      memcpy(out, note + desc_at, header->n_descsz);
      return header->n_descsz;
    }
    at = next;
  }
  return 0;
}

uint32_t procmaps_image_build_id(const struct dl_phdr_info *info, uint8_t *out, size_t max) {
  uint8_t build_id[PROCMAPS_BUILD_ID_MAX_BYTES];
  uint32_t build_id_bytes = 0;
  for (int i = 0; i < info->dlpi_phnum && !build_id_bytes; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_NOTE)
      build_id_bytes = find_build_id((const uint8_t *)(info->dlpi_addr + ph->p_vaddr),
                                     ph->p_memsz, build_id);
  }
  if (build_id_bytes > max) return 0;
  memcpy(out, build_id, build_id_bytes);
  return build_id_bytes;
}

static int scan_image(struct dl_phdr_info *info, size_t size, void *arg) {
  image_scan_t *scan = arg;
  bool is_main = scan->first;
  scan->first = false;
  uint8_t build_id[PROCMAPS_BUILD_ID_MAX_BYTES];
  uint32_t build_id_bytes = procmaps_image_build_id(info, build_id, sizeof build_id);
  /* Every mapping that overlaps one of this image's loadable segments. */
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    uintptr_t low = info->dlpi_addr + ph->p_vaddr, high = low + ph->p_memsz;
    for (size_t m = 0; m < scan->maps->count; m++) {
      procmaps_entry_t *entry = &scan->maps->entries[m];
      if (entry->start >= high || entry->limit <= low) continue;
      entry->is_main = is_main;
      entry->build_id_bytes = build_id_bytes;
      memcpy(entry->build_id, build_id, build_id_bytes);
    }
  }
  return 0;
}

/* The executable segments of libraries dlclose was called for, newest
 * first, each where no entry lies now: those unloaded since (one still
 * loaded lies where its own entries are; an address a later library took
 * names that library's code, as the maps file does).  Best effort: on
 * ENOMEM the table is left as it is. */
static void add_unloaded(procmaps_t *out) {
  unloaded_module_t *modules = malloc(UNLOADED_MODULES_MAX * sizeof *modules);
  if (!modules) return;
  size_t count = unloaded_modules_copy(modules, UNLOADED_MODULES_MAX);
  for (size_t m = 0; m < count; m++) {
    const unloaded_module_t *module = &modules[m];
    for (uint32_t g = 0; g < module->segment_count; g++) {
      const unloaded_segment_t *segment = &module->segments[g];
      bool taken = false;
      for (size_t e = 0; e < out->count && !taken; e++)
        taken = out->entries[e].start < segment->limit && out->entries[e].limit > segment->start;
      if (taken) continue;
      procmaps_entry_t *grown = realloc(out->entries, (out->count + 1) * sizeof *grown);
      char *path = strdup(module->path);
      if (!grown || !path) {
        if (grown) out->entries = grown;
        free(path);
        free(modules);
        return;
      }
      out->entries = grown;
      procmaps_entry_t *entry = &out->entries[out->count++];
      memset(entry, 0, sizeof *entry);
      entry->start = segment->start;
      entry->limit = segment->limit;
      entry->file_offset = segment->file_offset;
      entry->path = path;
      entry->unloaded = true;
      entry->bias = module->bias;
      entry->build_id_bytes = module->build_id_bytes;
      memcpy(entry->build_id, module->build_id, module->build_id_bytes);
    }
  }
  free(modules);
}

/* Marks build IDs and the main program from the loaded images, inside
 * fork's gate on loader calls (unwind.h): waits while a fork is under way,
 * at most about a second (a program writing a profile from a fork handler
 * of its own would wait for itself), then goes without. */
static void scan_images(procmaps_t *out) {
  for (int waits = 0; !unwind_loader_enter(); waits++) {
    if (waits == 10000) return;
    struct timespec pause = {0, 100 * 1000};
    nanosleep(&pause, NULL);
  }
  image_scan_t scan = {out, true};
  dl_iterate_phdr(scan_image, &scan);
  unwind_loader_leave();
}

static int compare_entries(const void *a, const void *b) {
  const procmaps_entry_t *x = a, *y = b;
  if (x->is_main != y->is_main) return x->is_main ? -1 : 1;
  return x->start < y->start ? -1 : x->start > y->start;
}

int procmaps_read(procmaps_t *out) {
  out->entries = NULL;
  out->count = 0;
  int fd = os_fd_above_std(open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
  if (fd < 0) return -1;
  size_t length = 0, capacity = 64 * 1024;
  char *text = malloc(capacity);
  for (;;) {
    if (!text) {
      close(fd);
      errno = ENOMEM;
      return -1;
    }
    ssize_t got = read(fd, text + length, capacity - length);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      int saved = errno;
      free(text);
      close(fd);
      errno = saved;
      return -1;
    }
    if (got == 0) break;
    length += (size_t)got;
    if (length == capacity) {
      char *grown = realloc(text, capacity *= 2);
      if (!grown) free(text);
      text = grown;
    }
  }
  close(fd);
  int result = procmaps_parse(text, length, out);
  free(text);
  if (result != 0) return -1;
  scan_images(out);
  add_unloaded(out);
  qsort(out->entries, out->count, sizeof *out->entries, compare_entries);
  return 0;
}

long procmaps_find(const procmaps_t *maps, uintptr_t address) {
  for (size_t i = 0; i < maps->count; i++)
    if (address >= maps->entries[i].start && address < maps->entries[i].limit) return (long)i;
  return -1;
}

void procmaps_free(procmaps_t *maps) {
  for (size_t i = 0; i < maps->count; i++) free(maps->entries[i].path);
  free(maps->entries);
  maps->entries = NULL;
  maps->count = 0;
}
