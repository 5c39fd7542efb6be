/* profwrite.c — the ways a profile gets written: on demand (hs_prof_write,
 * hs_prof_write_fd), at exit (HEAPSCOPE=profile=PATH), on a signal
 * (profile_signal=N: the handler only bumps a futex word; a writer thread
 * blocked on it writes), an interval (profile_interval_seconds=N: the
 * same thread's wait times out) or the memory limit (profile_at_limit=1:
 * the allocation that finds the heap at the limit bumps the word, at most
 * once a minute); at the heap's peak (peak_profile=PATH: the same thread
 * replaces PATH each time the heap's pages in use pass their high-water
 * mark by an eighth); and as the change since a snapshot (the HTTP
 * endpoint's ?seconds=N).  write_lock serializes writers and is the
 * outermost lock: it is taken before the profile lock and any allocator
 * lock.  Files go to a temporary name in the same directory and are
 * renamed, so a reader never sees half a profile.
 * May call: pprof, profile store, options, os, base, loader, pagemap (is a
 * block heapscope's), libc (malloc inside prof_enter).  See docs/profiles.md. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "heapscope.h"
#include "base.h"
#include "loader.h"
#include "options.h"
#include "os.h"
#include "pagemap.h"
#include "pprof.h"
#include "profile.h"

static hs_lock_t write_lock;
static int64_t start_time_ns;   /* CLOCK_REALTIME at start-up: duration_nanos */
static pid_t start_pid;         /* the process that read the options */
static _Atomic int writer_wakeups;  /* the writer's futex word: bumped by
                                       every request (signal, limit, peak) */
static _Atomic int option_requests; /* signal, limit: write the profile option */
static _Atomic int peak_requests;   /* profwrite_peak_reached */
static _Atomic int requests_taken;  /* the writer took every request up to
                                       this many (option + peak): exit waits */
static _Atomic int writer_busy;     /* the writer thread is writing (exit waits) */
static _Atomic int64_t limit_profile_ns; /* CLOCK_MONOTONIC of the last
                                            profile_at_limit request (0: none) */
static _Atomic int exiting;     /* exit has begun: the writer thread writes no more */
/* Set while this thread holds write_lock: exit() called from inside a write
 * (libdw gives up with error(EXIT_FAILURE) when out of memory) must not
 * wait for that write or take the lock again. */
static _Thread_local int tls_writing __attribute__((tls_model("initial-exec")));
static _Atomic uint64_t option_profile_count; /* %n */

/* ---- Snapshots and the change since one ---- */

/* A bucket's totals when the snapshot was taken.  Buckets are never freed,
 * so the address of a bucket's stack names it for the process's life. */
typedef struct snapshot_entry {
  const uintptr_t *pcs;
  double alloc_objects, alloc_bytes, free_objects, free_bytes;
} snapshot_entry_t;

struct prof_snapshot {
  snapshot_entry_t *entries; /* sorted by pcs */
  size_t count, capacity;
  bool failed;
  int64_t time_ns; /* CLOCK_REALTIME when taken */
};

static void snapshot_visit(const prof_bucket_view_t *bucket, void *arg) {
  prof_snapshot_t *snapshot = arg;
  if (snapshot->failed) return;
  if (snapshot->count == snapshot->capacity) {
    size_t capacity = snapshot->capacity ? 2 * snapshot->capacity : 256;
    snapshot_entry_t *entries = realloc(snapshot->entries, capacity * sizeof *entries);
    if (!entries) {
      snapshot->failed = true;
      return;
    }
    snapshot->entries = entries;
    snapshot->capacity = capacity;
  }
  snapshot->entries[snapshot->count++] =
      (snapshot_entry_t){bucket->pcs, bucket->alloc_objects, bucket->alloc_bytes,
                         bucket->free_objects, bucket->free_bytes};
}

static int compare_entries(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const snapshot_entry_t *)a)->pcs;
  uintptr_t y = (uintptr_t)((const snapshot_entry_t *)b)->pcs;
  return (x > y) - (x < y);
}

prof_snapshot_t *profwrite_snapshot(void) {
  prof_enter(); /* the copy is the profiler's (and realloc runs under its lock) */
  prof_snapshot_t *snapshot = calloc(1, sizeof *snapshot);
  if (snapshot) {
    snapshot->time_ns = os_clock_ns(CLOCK_REALTIME);
    profile_for_each(snapshot_visit, snapshot);
    if (snapshot->failed) {
      profwrite_snapshot_free(snapshot);
      snapshot = NULL;
      errno = ENOMEM;
    } else {
      qsort(snapshot->entries, snapshot->count, sizeof *snapshot->entries, compare_entries);
    }
  }
  prof_exit();
  return snapshot;
}

void profwrite_snapshot_free(prof_snapshot_t *snapshot) {
  if (!snapshot) return;
  prof_enter();
  free(snapshot->entries);
  free(snapshot);
  prof_exit();
}

static const prof_snapshot_t *delta_base; /* guarded by write_lock */

typedef struct delta_visit {
  prof_visit_fn visit;
  void *arg;
} delta_visit_t;

/* Passes each bucket on less its totals in delta_base (a bucket that did
 * not exist then passes whole). */
static void subtract_base(const prof_bucket_view_t *bucket, void *arg) {
  const delta_visit_t *inner = arg;
  snapshot_entry_t key = {.pcs = bucket->pcs};
  const snapshot_entry_t *then =
      bsearch(&key, delta_base->entries, delta_base->count, sizeof key, compare_entries);
  prof_bucket_view_t change = *bucket;
  if (then) {
    change.alloc_objects -= then->alloc_objects;
    change.alloc_bytes -= then->alloc_bytes;
    change.free_objects -= then->free_objects;
    change.free_bytes -= then->free_bytes;
  }
  inner->visit(&change, inner->arg);
}

static void for_each_since_base(prof_visit_fn visit, void *arg) {
  delta_visit_t inner = {visit, arg};
  profile_for_each(subtract_base, &inner);
}

int profwrite_fd_since(int fd, hs_prof_kind_t kind, const prof_snapshot_t *base) {
  if (HS_UNLIKELY(loader_locked_in_child())) {
    /* Symbolizing and compressing call the loader (dladdr, dlopen), whose
     * lock this child inherited held for good. */
    errno = EDEADLK;
    return -1;
  }
  hs_lock(&write_lock);
  tls_writing = 1;
  delta_base = base;
  int result = base ? pprof_write_buckets(fd, kind, profile_sample_rate(), for_each_since_base,
                                          base->time_ns)
                    : pprof_write_buckets(fd, kind, profile_sample_rate(), profile_for_each,
                                          start_time_ns);
  int error = errno;
  delta_base = NULL;
  tls_writing = 0;
  hs_unlock(&write_lock);
  errno = error;
  return result;
}

/* ---- On demand ---- */

HS_EXPORT int hs_prof_write_fd(int fd, hs_prof_kind_t kind) {
  return profwrite_fd_since(fd, kind, NULL);
}

HS_EXPORT int hs_prof_write(const char *path, hs_prof_kind_t kind) {
  if (!path || !*path || (kind != HS_PROF_HEAP && kind != HS_PROF_ALLOCS)) {
    errno = EINVAL;
    return -1;
  }
  prof_enter();
  int result = -1, error = ENOMEM;
  size_t length = strlen(path);
  char *temp = malloc(length + 64);
  if (temp) {
    /* Same directory (rename must not cross file systems); a name that
     * "*.pb.gz" globs do not match. */
    static _Atomic unsigned temp_serial;
    snprintf(temp, length + 64, "%s.tmp.%d.%u", path, (int)getpid(),
             atomic_fetch_add(&temp_serial, 1));
    int fd = os_fd_above_std(open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (fd < 0) {
      error = errno;
    } else {
      result = hs_prof_write_fd(fd, kind);
      error = errno;
      if (close(fd) != 0 && result == 0) {
        result = -1;
        error = errno;
      }
      if (result == 0 && rename(temp, path) != 0) {
        result = -1;
        error = errno;
      }
      if (result != 0) unlink(temp);
    }
    free(temp);
  }
  prof_exit();
  errno = error;
  return result;
}

/* ---- From the options: at exit and on a signal ---- */

/* Whether a template names a file per process (has %p). */
static bool template_has_pid(const char *template) {
  for (const char *s = template; *s; s++) {
    if (s[0] != '%') continue;
    if (s[1] == 'p') return true;
    if (s[1] == '%') s++;
  }
  return false;
}

/* Whether this process writes to a path without %p: not if main_pid names
 * another process and this one is not forked from it (a program a wrapper
 * script ran on the way, under `heapscope run -o FILE`: FILE is the
 * command's, and dozens of FILE.PID from its helpers would bury it). */
static bool writes_unnamed_path(void) {
  return !hs_options.main_pid || hs_options.main_pid == start_pid;
}

/* Expands the profile option into out: %p the pid, %n the count of profiles
 * this process wrote from the option (1, 2, ...), %% a percent sign.  A
 * process other than the main one (a forked child) whose template has no
 * %p gets ".PID" appended, so it never overwrites the main process's file.
 * Returns false if it is too long. */
static bool expand_path(const char *template, char *out, size_t size) {
  pid_t pid = getpid();
  pid_t main_pid = hs_options.main_pid ? (pid_t)hs_options.main_pid : start_pid;
  bool has_pid = false;
  size_t at = 0;
  for (const char *s = template; *s && at < size; s++) {
    int wrote = 0;
    if (s[0] == '%' && s[1] == 'p') {
      wrote = snprintf(out + at, size - at, "%d", (int)pid);
      has_pid = true;
      s++;
    } else if (s[0] == '%' && s[1] == 'n') {
      wrote = snprintf(out + at, size - at, "%llu",
                       (unsigned long long)atomic_fetch_add(&option_profile_count, 1) + 1);
      s++;
    } else {
      if (s[0] == '%' && s[1] == '%') s++;
      out[at] = *s;
      wrote = 1;
    }
    at += (size_t)wrote;
  }
  if (at < size && !has_pid && pid != main_pid)
    at += (size_t)snprintf(out + at, size - at, ".%d", (int)pid);
  if (at >= size) return false;
  out[at] = 0;
  return true;
}

/* Writes a heap profile to the path an option's template gives; a failure
 * is one line naming the option. */
static void write_profile_from(const char *option, const char *template) {
  if (!template_has_pid(template) && !writes_unnamed_path()) return;
  prof_enter(); /* strerror and friends may allocate: never sampled */
  char path[sizeof hs_options.profile_path + 64];
  if (!expand_path(template, path, sizeof path)) {
    char message[200];
    snprintf(message, sizeof message, "%s path too long after expanding %%p; no profile written",
             option);
    hs_warn(message);
  } else if (hs_prof_write(path, HS_PROF_HEAP) != 0) {
    char message[sizeof path + 200];
    snprintf(message, sizeof message, "cannot write %s %s: %s", option, path, strerror(errno));
    hs_warn(message);
  }
  prof_exit();
}

static void write_option_profile(void) {
  /* A signal without a profile path writes numbered files here. */
  write_profile_from("profile", hs_options.profile_path[0] ? hs_options.profile_path
                                                           : "heapscope.%p.%n.pb.gz");
}

/* Async-signal-safe and allocation-free: two atomic adds and one futex
 * wake, nothing else. */
static void request_write(_Atomic int *requests) {
  int saved_errno = errno;
  atomic_fetch_add_explicit(requests, 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&writer_wakeups, 1, memory_order_release);
  syscall(SYS_futex, &writer_wakeups, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  errno = saved_errno;
}

static void request_profile(void) { request_write(&option_requests); }

static void on_profile_signal(int signal_number) {
  (void)signal_number;
  request_profile();
}

/* A program at its memory limit finds it on allocation after allocation:
 * the first asks for a profile, then one a minute at most. */
#define PROFILE_AT_LIMIT_MIN_NS ((int64_t)60 * 1000000000)

void profwrite_limit_reached(void) {
  int64_t now = os_clock_ns(CLOCK_MONOTONIC);
  int64_t last = atomic_load_explicit(&limit_profile_ns, memory_order_relaxed);
  if (last != 0 && now - last < PROFILE_AT_LIMIT_MIN_NS) return;
  if (!atomic_compare_exchange_strong(&limit_profile_ns, &last, now)) return;
  request_profile();
}

void profwrite_peak_reached(void) { request_write(&peak_requests); }

static void write_peak_profile(void) {
  write_profile_from("peak_profile", hs_options.peak_profile_path);
}

/* The writer thread's writes are bracketed so that exit can wait for one in
 * flight (a program that exits as its heap peaks would otherwise leave the
 * temporary file); writer_busy then exiting, exiting then writer_busy, both
 * sequentially consistent: one side sees the other. */
static bool begin_background_write(void) {
  atomic_store(&writer_busy, 1);
  if (!atomic_load(&exiting)) return true;
  atomic_store(&writer_busy, 0);
  return false;
}

static void end_background_write(void) { atomic_store(&writer_busy, 0); }

static bool writer_wanted(void) {
  return hs_options.profile_signal || hs_options.profile_interval_seconds ||
         hs_options.profile_at_limit || hs_options.peak_profile_path[0];
}

/* Writes the peak profile on each peak request, the option's profile on
 * each other request (signal, memory limit) and, with
 * profile_interval_seconds, each time the interval has passed (counted
 * from the last periodic write: a slow write delays the next one, no
 * writes are made up).  Requests that come during a write merge into one
 * more write. */
static void *profile_writer(void *arg) {
  os_background_thread_begin();
  pthread_setname_np(pthread_self(), "heapscope-prof");
  const int *seen_at_start = arg;
  int options_seen = seen_at_start[0], peaks_seen = seen_at_start[1];
  int64_t interval_ns = hs_options.profile_interval_seconds * 1000000000;
  int64_t next_ns = os_clock_ns(CLOCK_MONOTONIC) + interval_ns;
  for (;;) {
    /* Read before the counters: a request after this read changes it, and
     * the wait below then returns at once. */
    int wakeups = atomic_load_explicit(&writer_wakeups, memory_order_acquire);
    int peaks = atomic_load_explicit(&peak_requests, memory_order_relaxed);
    int options = atomic_load_explicit(&option_requests, memory_order_relaxed);
    atomic_store(&requests_taken, peaks + options);
    if (peaks != peaks_seen || options != options_seen) {
      if (peaks != peaks_seen && begin_background_write()) {
        write_peak_profile();
        end_background_write();
      }
      if (options != options_seen && begin_background_write()) {
        write_option_profile();
        end_background_write();
      }
      peaks_seen = peaks;
      options_seen = options;
      continue;
    }
    int64_t left_ns = next_ns - os_clock_ns(CLOCK_MONOTONIC);
    if (interval_ns && left_ns <= 0) {
      if (begin_background_write()) {
        write_option_profile();
        end_background_write();
      }
      next_ns = os_clock_ns(CLOCK_MONOTONIC) + interval_ns;
      continue;
    }
    if (os_program_has_ended()) exit(0); /* the program's exit handlers run here */
    int64_t wait_ns = (int64_t)OS_PROGRAM_END_CHECK_NS;
    if (interval_ns) wait_ns = HS_MIN(wait_ns, left_ns);
    struct timespec wait = {(time_t)(wait_ns / 1000000000), (long)(wait_ns % 1000000000)};
    syscall(SYS_futex, &writer_wakeups, FUTEX_WAIT_PRIVATE, wakeups, &wait, NULL, 0);
  }
  return NULL;
}

static void start_profile_writer(void) {
  prof_enter(); /* the thread's stack and TLS are the profiler's */
  /* Counted before the thread starts: a request meanwhile is not lost. */
  static int seen_at_start[2];
  seen_at_start[0] = atomic_load(&option_requests);
  seen_at_start[1] = atomic_load(&peak_requests);
  if (os_start_thread(profile_writer, seen_at_start) != 0)
    hs_warn("cannot start the profile writer thread: no profiles on a signal or an interval");
  prof_exit();
}

void profwrite_fork_child(void) {
  hs_lock_reset(&write_lock);
  if (writer_wanted()) start_profile_writer();
}

/* Whether `bound`, the address the name malloc resolves to, serves from
 * heapscope's heap.  A program built without PIE that calls malloc has
 * that address at its own PLT entry (the function's canonical address),
 * which jumps to heapscope's: so ask the block it returns, not the
 * address. */
static bool malloc_reaches_heapscope(void *bound) {
  void *block = ((void *(*)(size_t))bound)(64);
  if (!block) return true; /* cannot tell: say nothing */
  bool ours = pagemap_span_holding(block) != NULL;
  if (ours) {
    hs_free(block);
  } else {
    void (*bound_free)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "free");
    if (bound_free) bound_free(block);
  }
  return ours;
}

/* A program, or a library the loader put before heapscope, that defines
 * malloc itself gets every call the loader binds by that name: heapscope
 * then serves and samples next to nothing, and the profile asked for
 * would come out empty with no reason given.  Says so at start-up, once,
 * in the process that writes or serves the profile. */
static void warn_if_malloc_is_elsewhere(void) {
  bool profile_wanted =
      hs_options.profile_path[0] || hs_options.http_address[0] || writer_wanted();
  if (!profile_wanted || !writes_unnamed_path()) return;
  prof_enter(); /* whatever the loader allocates here is not the program's */
  void *bound = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (bound != NULL && bound != (void *)hs_malloc && !malloc_reaches_heapscope(bound)) {
    const char *where = dladdr(bound, &info) && info.dli_fname && info.dli_fname[0]
                            ? info.dli_fname
                            : program_invocation_name; /* the program's own name is "" */
    char message[480]; /* hs_warn's line holds 512 bytes */
    snprintf(message, sizeof message,
             "malloc in this process is the one %.300s defines, not heapscope's: the "
             "allocations it serves are not profiled",
             where);
    hs_warn(message);
  }
  prof_exit();
}

void profwrite_start(void) {
  start_time_ns = os_clock_ns(CLOCK_REALTIME);
  start_pid = getpid();
  warn_if_malloc_is_elsewhere();
  if (writer_wanted()) start_profile_writer();
  int signal_number = (int)hs_options.profile_signal;
  if (!signal_number) return;
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_profile_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(signal_number, &action, NULL) != 0) {
    char message[120];
    snprintf(message, sizeof message, "profile_signal=%d: cannot handle this signal (%s)",
             signal_number, strerror(errno));
    hs_warn(message);
  }
}

/* Sleeps a millisecond at a time while wait_for() holds, up to `ms`. */
static void wait_ms_while(bool (*wait_for)(void), int ms) {
  for (int i = 0; i < ms && wait_for(); i++) {
    struct timespec pause = {0, 1000000};
    nanosleep(&pause, NULL);
  }
}

static bool requests_untaken(void) {
  return atomic_load(&requests_taken) !=
         atomic_load(&option_requests) + atomic_load(&peak_requests);
}

static bool writer_writing(void) { return atomic_load(&writer_busy) != 0; }

void profwrite_exit(void) {
  if (tls_writing) { /* exit from inside a write: it can neither end nor be waited for */
    atomic_store(&exiting, 1);
    return;
  }
  /* A request made just before exit (a short program's peak) is taken by
   * the writer thread (up to 1 s), and a write in flight ends first (up to
   * 10 s); then the writer writes no more. */
  if (writer_wanted()) wait_ms_while(requests_untaken, 1000);
  atomic_store(&exiting, 1);
  wait_ms_while(writer_writing, 10000);
  if (hs_options.profile_path[0]) write_option_profile();
}
