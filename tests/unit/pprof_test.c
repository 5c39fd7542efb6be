/* pprof_test.c — the pprof writer (src/pprof.c, symbolize.c, procmaps.c,
 * gzip.c, profwrite.c) fed fake buckets whose pcs are real return addresses
 * in this program, so symbolization, line numbers and inline expansion are
 * really exercised.  The output is gunzipped by gzip(1) and decoded by
 * tests/prof/pprof_decode.h, an independent reader.  PPROF_TEST_KEEP=1 keeps
 * the profiles (in /tmp/hs_pprof_test.*) for a look with go tool pprof. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "prof/pprof_decode.h"

#include "gzip.h"
#include "options.h"
#include "pprof.h"
#include "procmaps.h"
#include "symbolize.h"
#include "unwind.h"

#define NOINLINE __attribute__((noinline, noclone))

static NOINLINE uintptr_t capture(void) {
  uintptr_t pc = (uintptr_t)__builtin_return_address(0);
  __asm__ volatile("" ::: "memory");
  return pc;
}

/* Each *_LINE is the line of a call, recorded on that same line. */
enum { PLAIN_DECL_LINE = __LINE__ }; static NOINLINE uintptr_t site_plain(int *line) {
  uintptr_t pc = capture(); *line = __LINE__;
  return pc;
}

enum { LEAF_DECL_LINE = __LINE__ }; static inline __attribute__((always_inline)) uintptr_t inlined_leaf(int *line) {
  uintptr_t pc = capture(); *line = __LINE__;
  return pc;
}

enum { OUTER_DECL_LINE = __LINE__ }; static NOINLINE uintptr_t site_outer(int *leaf_line, int *call_line) {
  uintptr_t pc = inlined_leaf(leaf_line); *call_line = __LINE__;
  return pc;
}

/* ---- A fake profile store ---- */

static prof_bucket_view_t fake_buckets[8];
static int fake_bucket_count;

static void fake_for_each(prof_visit_fn visit, void *arg) {
  for (int i = 0; i < fake_bucket_count; i++) visit(&fake_buckets[i], arg);
}

static char temp_dir[] = "/tmp/hs_pprof_test.XXXXXX";

static bool write_fake(const char *name, hs_prof_kind_t kind, decoded_profile_t *out) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", temp_dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  CHECK(fd >= 0);
  int result = pprof_write_buckets(fd, kind, 524288, fake_for_each, 1);
  CHECK_MSG(result == 0, "errno %d", errno);
  close(fd);
  bool ok = decode_profile_file(path, out);
  CHECK_MSG(ok, "%s does not decode", path);
  return ok;
}

static const decoded_location_t *location_at(const decoded_profile_t *p, uintptr_t pc) {
  for (int i = 0; i < p->location_count; i++)
    if (p->locations[i].address == pc - 1) return &p->locations[i];
  return NULL;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Line l of a location: function name, file, line, start line. */
static void check_line(const decoded_profile_t *p, const decoded_location_t *loc, int l,
                       const char *function, int line, int start_line) {
  CHECK_MSG(loc && l < loc->line_count, "location has %d lines", loc ? loc->line_count : -1);
  if (!loc || l >= loc->line_count) return;
  const decoded_function_t *fn = decoded_function(p, loc->lines[l].function_id);
  CHECK(fn != NULL);
  if (!fn) return;
  CHECK_MSG(strcmp(decoded_string(p, fn->name), function) == 0, "name %s, want %s",
            decoded_string(p, fn->name), function);
  CHECK(strcmp(decoded_string(p, fn->system_name), function) == 0);
  /* Absolute (the compilation directory joined on), so -list finds it. */
  const char *file = decoded_string(p, fn->filename);
  CHECK_MSG(file[0] == '/' && ends_with(file, "/tests/unit/pprof_test.c") && access(file, R_OK) == 0,
            "file %s", file);
  CHECK_MSG(loc->lines[l].line == line, "%s: line %lld, want %d", function,
            (long long)loc->lines[l].line, line);
  CHECK_MSG(fn->start_line == start_line, "%s: start line %lld, want %d", function,
            (long long)fn->start_line, start_line);
}

/* Structural rules every profile must keep. */
static void check_well_formed(const decoded_profile_t *p, int64_t rate) {
  CHECK(p->string_count > 0 && p->strings[0][0] == 0);
  static const char *const types[4][2] = {
      {"alloc_objects", "count"}, {"alloc_space", "bytes"},
      {"inuse_objects", "count"}, {"inuse_space", "bytes"}};
  CHECK(p->sample_type_count == 4);
  for (int i = 0; i < 4 && i < p->sample_type_count; i++) {
    CHECK(strcmp(decoded_string(p, p->sample_types[i].type), types[i][0]) == 0);
    CHECK(strcmp(decoded_string(p, p->sample_types[i].unit), types[i][1]) == 0);
  }
  CHECK(strcmp(decoded_string(p, p->period_type.type), "space") == 0);
  CHECK(strcmp(decoded_string(p, p->period_type.unit), "bytes") == 0);
  CHECK(p->period == rate);
  for (int i = 0; i < p->sample_count; i++) {
    CHECK(p->samples[i].value_count == 4);
    for (int d = 0; d < p->samples[i].depth; d++)
      CHECK(decoded_location(p, p->samples[i].location_ids[d]) != NULL);
    for (int l = 0; l < p->samples[i].label_count; l++)
      CHECK(p->samples[i].labels[l].key > 0 && p->samples[i].labels[l].key < p->string_count &&
            p->samples[i].labels[l].str > 0 && p->samples[i].labels[l].str < p->string_count);
  }
  for (int i = 0; i < p->location_count; i++) {
    const decoded_location_t *loc = &p->locations[i];
    /* Every location names a mapping that holds its address (fleet
     * profilers' ingesters dereference it). */
    const decoded_mapping_t *m = decoded_mapping(p, loc->mapping_id);
    CHECK_MSG(m && loc->address >= m->start && loc->address < m->limit,
              "location %llu at %#llx: mapping %llu", (unsigned long long)loc->id,
              (unsigned long long)loc->address, (unsigned long long)loc->mapping_id);
    for (int l = 0; l < loc->line_count; l++)
      CHECK(decoded_function(p, loc->lines[l].function_id) != NULL);
  }
  for (int i = 0; i < p->function_count; i++)
    CHECK(p->functions[i].name < p->string_count && p->functions[i].filename < p->string_count);
  for (int i = 0; i < p->mapping_count; i++) {
    CHECK(p->mappings[i].id == (uint64_t)i + 1 && p->mappings[i].start < p->mappings[i].limit);
    CHECK(p->mappings[i].filename < p->string_count && p->mappings[i].build_id < p->string_count);
  }
}

/* The main executable's path as the kernel reports it. */
static void self_path(char *out, size_t size) {
  ssize_t n = readlink("/proc/self/exe", out, size - 1);
  out[n > 0 ? n : 0] = 0;
}

static NOINLINE void test_symbolized_profile(void) {
  int plain_line, leaf_line, call_line;
  uintptr_t pc_plain = site_plain(&plain_line);
  uintptr_t pc_inline = site_outer(&leaf_line, &call_line);
  uintptr_t pc_caller = (uintptr_t)__builtin_return_address(0);
  uintptr_t pc_libc = (uintptr_t)&getpid + 2;
  static const prof_label_t labels[2] = {{"worker", "a"}, {"phase", "load"}};
  /* Code unloaded since its sample: addresses in no executable mapping
   * (a page kept mapped without access, so that nothing the writer maps
   * can land there). */
  char *gone = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(gone != MAP_FAILED);
  uintptr_t pc_gone_low = (uintptr_t)gone + 17, pc_gone_high = (uintptr_t)gone + 4000;
  uintptr_t stack1[2] = {pc_plain, pc_caller}, stack2[2] = {pc_inline, pc_caller},
            stack3[1] = {pc_libc}, stack4[3] = {pc_gone_high, pc_gone_low, pc_caller};
  fake_bucket_count = 5;
  fake_buckets[0] = (prof_bucket_view_t){stack1, 2, labels, 2, 2.6, 1000.4, 1.2, 500.0};
  fake_buckets[1] = (prof_bucket_view_t){stack2, 2, NULL, 0, 10, 4096, 10, 4096};
  fake_buckets[2] = (prof_bucket_view_t){stack3, 1, NULL, 0, 1, 16, 0, 0};
  fake_buckets[3] = (prof_bucket_view_t){stack3, 1, NULL, 0, 0, 0, 0, 0}; /* omitted */
  fake_buckets[4] = (prof_bucket_view_t){stack4, 3, NULL, 0, 1, 64, 1, 64};

  struct timespec before;
  clock_gettime(CLOCK_REALTIME, &before);
  decoded_profile_t p;
  if (!write_fake("heap.pb.gz", HS_PROF_HEAP, &p)) return;
  check_well_formed(&p, 524288);
  CHECK(p.default_sample_type == 0);
  int64_t before_ns = (int64_t)before.tv_sec * 1000000000 + before.tv_nsec;
  CHECK(p.time_nanos >= before_ns && p.time_nanos < before_ns + 60 * 1000000000LL);
  CHECK(p.duration_nanos == p.time_nanos - 1); /* start_time_ns was 1 */

  /* Values rounded; inuse = alloc - free; the all-zero bucket left out. */
  CHECK_MSG(p.sample_count == 4, "%d samples", p.sample_count);
  int64_t want[4][4] = {{3, 1000, 1, 500}, {10, 4096, 0, 0}, {1, 16, 1, 16}, {1, 64, 0, 0}};
  for (int i = 0; i < 4 && i < p.sample_count; i++)
    for (int v = 0; v < 4; v++)
      CHECK_MSG(p.samples[i].values[v] == want[i][v], "sample %d value %d: %lld", i, v,
                (long long)p.samples[i].values[v]);
  if (p.sample_count >= 1) {
    const decoded_sample_t *s = &p.samples[0];
    CHECK(s->depth == 2 && s->label_count == 2);
    CHECK(strcmp(decoded_string(&p, s->labels[0].key), "worker") == 0);
    CHECK(strcmp(decoded_string(&p, s->labels[0].str), "a") == 0);
    CHECK(strcmp(decoded_string(&p, s->labels[1].key), "phase") == 0);
    CHECK(strcmp(decoded_string(&p, s->labels[1].str), "load") == 0);
    CHECK(decoded_location(&p, s->location_ids[0]) == location_at(&p, pc_plain));
  }

  /* Mappings: main executable first, with its build ID, all flags true. */
  char exe[1024];
  self_path(exe, sizeof exe);
  CHECK(p.mapping_count >= 2);
  if (p.mapping_count >= 1) {
    const decoded_mapping_t *m = &p.mappings[0];
    CHECK_MSG(strcmp(decoded_string(&p, m->filename), exe) == 0, "first mapping %s, want %s",
              decoded_string(&p, m->filename), exe);
    CHECK(pc_plain - 1 >= m->start && pc_plain - 1 < m->limit);
    CHECK_MSG(strlen(decoded_string(&p, m->build_id)) == 40, "build id '%s'",
              decoded_string(&p, m->build_id));
    CHECK(m->has_functions && m->has_filenames && m->has_line_numbers && m->has_inline_frames);
  }

  /* A plain call site: one line; an inlined one: the chain, innermost first. */
  const decoded_location_t *plain = location_at(&p, pc_plain);
  CHECK(plain && plain->line_count == 1 && plain->mapping_id == 1);
  check_line(&p, plain, 0, "site_plain", plain_line, PLAIN_DECL_LINE);
  const decoded_location_t *inl = location_at(&p, pc_inline);
  CHECK_MSG(inl && inl->line_count == 2, "inline location has %d lines",
            inl ? inl->line_count : -1);
  check_line(&p, inl, 0, "inlined_leaf", leaf_line, LEAF_DECL_LINE);
  check_line(&p, inl, 1, "site_outer", call_line, OUTER_DECL_LINE);
  const decoded_location_t *caller = location_at(&p, pc_caller);
  CHECK(caller && caller->line_count >= 1);

  /* libc: a name from its symbol table; flags say exactly what is known. */
  const decoded_location_t *libc = location_at(&p, pc_libc);
  CHECK(libc && libc->line_count >= 1 && libc->mapping_id > 1);
  if (libc && libc->line_count >= 1) {
    const decoded_function_t *fn = decoded_function(&p, libc->lines[0].function_id);
    CHECK_MSG(fn && strstr(decoded_string(&p, fn->name), "getpid"), "libc frame %s",
              fn ? decoded_string(&p, fn->name) : "?");
    const decoded_mapping_t *m = decoded_mapping(&p, libc->mapping_id);
    CHECK(m && m->has_functions);
    CHECK(m && m->has_filenames == (fn && fn->filename != 0));
    CHECK(m && strstr(decoded_string(&p, m->filename), "libc.so"));
  }

  /* Addresses outside every mapping: one mapping of their own, named so
   * that pprof does not look for a file, without functions. */
  const decoded_location_t *gone_low = location_at(&p, pc_gone_low);
  const decoded_location_t *gone_high = location_at(&p, pc_gone_high);
  CHECK(gone_low && gone_high && gone_low->line_count == 0 && gone_high->line_count == 0);
  if (gone_low && gone_high) {
    CHECK(gone_low->mapping_id == gone_high->mapping_id);
    CHECK(gone_low->mapping_id == (uint64_t)p.mapping_count); /* after the real ones */
    const decoded_mapping_t *m = decoded_mapping(&p, gone_low->mapping_id);
    CHECK(m && strcmp(decoded_string(&p, m->filename), "[unmapped]") == 0);
    CHECK(m && m->start == pc_gone_low - 1 && m->limit == pc_gone_high);
    CHECK(m && !m->has_functions && !m->has_filenames && m->build_id == 0);
  }
  munmap(gone, 4096);

  decoded_profile_t a;
  if (write_fake("allocs.pb.gz", HS_PROF_ALLOCS, &a)) {
    check_well_formed(&a, 524288);
    CHECK(strcmp(decoded_string(&a, a.default_sample_type), "alloc_space") == 0);
  }

  /* Without libdw and zlib: dynamic symbols only, stored gzip blocks. */
  symbolize_use_libdw = false;
  gzip_use_zlib = false;
  decoded_profile_t f;
  if (write_fake("fallback.pb.gz", HS_PROF_HEAP, &f)) {
    check_well_formed(&f, 524288);
    const decoded_location_t *plain_f = location_at(&f, pc_plain);
    CHECK(plain_f && plain_f->line_count == 0); /* static: not in .dynsym */
    CHECK(f.mapping_count >= 1 && !f.mappings[0].has_functions && !f.mappings[0].has_filenames &&
          !f.mappings[0].has_line_numbers && !f.mappings[0].has_inline_frames);
    const decoded_location_t *libc_f = location_at(&f, pc_libc);
    CHECK(libc_f && libc_f->line_count == 1);
    if (libc_f && libc_f->line_count == 1) {
      const decoded_function_t *fn = decoded_function(&f, libc_f->lines[0].function_id);
      CHECK(fn && strstr(decoded_string(&f, fn->name), "getpid") && fn->filename == 0);
      const decoded_mapping_t *m = decoded_mapping(&f, libc_f->mapping_id);
      CHECK(m && m->has_functions && !m->has_filenames && !m->has_inline_frames);
    }
  }
  symbolize_use_libdw = true;
  gzip_use_zlib = true;
}

static void test_errors_and_files(void) {
  errno = 0;
  CHECK(pprof_write_buckets(-1, HS_PROF_HEAP, 1, fake_for_each, 0) == -1 && errno == EBADF);
  CHECK(pprof_write_buckets(2, (hs_prof_kind_t)7, 1, fake_for_each, 0) == -1 && errno == EINVAL);
  CHECK(hs_prof_write(NULL, HS_PROF_HEAP) == -1 && errno == EINVAL);
  CHECK(hs_prof_write("", HS_PROF_HEAP) == -1 && errno == EINVAL);
  char path[300];
  snprintf(path, sizeof path, "%s/no/such/dir/x.pb.gz", temp_dir);
  CHECK(hs_prof_write(path, HS_PROF_HEAP) == -1 && errno == ENOENT);
  /* A real write through the store, then nothing but the result remains. */
  snprintf(path, sizeof path, "%s/store.pb.gz", temp_dir);
  CHECK(hs_prof_write(path, HS_PROF_ALLOCS) == 0);
  decoded_profile_t p;
  CHECK(decode_profile_file(path, &p));
  check_well_formed(&p, hs_prof_set_rate(524288));
  DIR *dir = opendir(temp_dir);
  int temps = 0;
  for (struct dirent *e; dir && (e = readdir(dir));) temps += strstr(e->d_name, ".tmp.") != NULL;
  if (dir) closedir(dir);
  CHECK_MSG(temps == 0, "%d temporary files left", temps);
}

static void test_procmaps_parse(void) {
  static const char text[] =
      "55d0a0000000-55d0a0001000 r--p 00000000 08:01 123   /usr/bin/prog\n"
      "55d0a0001000-55d0a0005000 r-xp 00001000 08:01 123   /usr/bin/prog\n"
      "7f0000000000-7f0000002000 r-xp 0001a000 08:01 77    /tmp/my lib.so (deleted)\n"
      "7f0000100000-7f0000101000 rwxp 00000000 00:00 0 \n"
      "7ffff7fc1000-7ffff7fc3000 r-xp 00000000 00:00 0                          [vdso]\n"
      "garbage line\n";
  procmaps_t maps;
  CHECK(procmaps_parse(text, sizeof text - 1, &maps) == 0);
  CHECK_MSG(maps.count == 4, "%zu entries", maps.count);
  if (maps.count == 4) {
    CHECK(maps.entries[0].start == 0x55d0a0001000 && maps.entries[0].limit == 0x55d0a0005000);
    CHECK(maps.entries[0].file_offset == 0x1000 && strcmp(maps.entries[0].path, "/usr/bin/prog") == 0);
    CHECK(strcmp(maps.entries[1].path, "/tmp/my lib.so") == 0 && maps.entries[1].file_offset == 0x1a000);
    CHECK(strcmp(maps.entries[2].path, "") == 0);
    CHECK(strcmp(maps.entries[3].path, "[vdso]") == 0);
    CHECK(procmaps_find(&maps, 0x7f0000001fff) == 1 && procmaps_find(&maps, 0x7f0000002000) == -1);
  }
  procmaps_free(&maps);
  /* The live process: main executable first, marked, with a build ID. */
  CHECK(procmaps_read(&maps) == 0);
  char exe[1024];
  self_path(exe, sizeof exe);
  CHECK(maps.count >= 2 && maps.entries[0].is_main && strcmp(maps.entries[0].path, exe) == 0);
  CHECK(maps.count >= 1 && maps.entries[0].build_id_bytes == 20);
  long at = procmaps_find(&maps, (uintptr_t)&capture);
  CHECK(at >= 0 && maps.entries[at].is_main);
  at = procmaps_find(&maps, (uintptr_t)&getpid);
  CHECK(at > 0 && !maps.entries[at].is_main && maps.entries[at].build_id_bytes > 0);
  procmaps_free(&maps);
  /* While a fork is under way (its gate on loader calls closed, as the
   * prepare handlers leave it) the images are not listed: after waiting
   * about a second for the fork, the maps come without build IDs. */
  unwind_fork_quiesce();
  unwind_fork_prepare();
  struct timespec before, after;
  clock_gettime(CLOCK_MONOTONIC, &before);
  CHECK(procmaps_read(&maps) == 0);
  clock_gettime(CLOCK_MONOTONIC, &after);
  unwind_fork_parent();
  double waited_s = (double)(after.tv_sec - before.tv_sec) + (after.tv_nsec - before.tv_nsec) * 1e-9;
  CHECK_MSG(waited_s >= 0.9, "waited %.3f s for the fork", waited_s);
  size_t with_build_id = 0;
  for (size_t i = 0; i < maps.count; i++) with_build_id += maps.entries[i].build_id_bytes > 0;
  CHECK_MSG(maps.count >= 2 && with_build_id == 0, "%zu of %zu entries have build IDs",
            with_build_id, maps.count);
  procmaps_free(&maps);
  CHECK(procmaps_read(&maps) == 0 && maps.count >= 1 && maps.entries[0].build_id_bytes == 20);
  procmaps_free(&maps);
}

static void test_gzip_both_ways(void) {
  enum { BYTES = 200000 }; /* several stored blocks */
  uint8_t *data = malloc(BYTES);
  uint32_t x = 12345;
  for (int i = 0; i < BYTES; i++) data[i] = (uint8_t)((x = x * 1103515245 + 12345) >> 24) & 0x3f;
  for (int use_zlib = 0; use_zlib < 2; use_zlib++) {
    gzip_use_zlib = use_zlib;
    char path[300], command[700];
    snprintf(path, sizeof path, "%s/data%d.gz", temp_dir, use_zlib);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(gzip_write_fd(fd, data, BYTES) == 0);
    close(fd);
    snprintf(command, sizeof command, "gzip -dc '%s'", path);
    FILE *pipe = popen(command, "r");
    uint8_t *back = malloc(BYTES + 1);
    size_t got = fread(back, 1, BYTES + 1, pipe);
    CHECK_MSG(pclose(pipe) == 0, "gzip rejects %s", path);
    CHECK(got == BYTES && memcmp(back, data, BYTES) == 0);
    struct stat st;
    stat(path, &st);
    if (use_zlib) CHECK(st.st_size < BYTES); /* really compressed */
    free(back);
  }
  gzip_use_zlib = true;
  free(data);
}

static void test_options(void) {
  hs_options_t o;
  memset(&o, 0, sizeof o);
  CHECK(options_parse("profile=/tmp/a b/x.%p.pb.gz,profile_signal=12", &o) == 0);
  CHECK(strcmp(o.profile_path, "/tmp/a b/x.%p.pb.gz") == 0 && o.profile_signal == 12);
  CHECK(options_parse("profile_signal=99", &o) == 1 && o.profile_signal == 12);
  CHECK(options_parse("profile=", &o) == 0 && o.profile_path[0] == 0);
  char longer[1100];
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = 0;
  memcpy(longer, "profile=", 8);
  CHECK(options_parse(longer, &o) == 1 && o.profile_path[0] == 0);
  CHECK(options_parse("main_pid=4242", &o) == 0 && o.main_pid == 4242);
  CHECK(options_parse("main_pid=-1", &o) == 1 && o.main_pid == 4242);
  CHECK(options_parse("huge_pages=1", &o) == 0 && o.huge_pages == 1);
  CHECK(options_parse("huge_pages=2", &o) == 1 && o.huge_pages == 1);
}

int main(void) {
  if (!mkdtemp(temp_dir)) {
    perror("mkdtemp");
    return 1;
  }
  test_procmaps_parse();
  test_gzip_both_ways();
  test_symbolized_profile();
  test_errors_and_files();
  test_options();
  char command[200];
  snprintf(command, sizeof command, "rm -rf '%s'", temp_dir);
  if (!getenv("PPROF_TEST_KEEP") && testlib_failures() == 0 && system(command) != 0) CHECK(0);
  return testlib_done();
}
