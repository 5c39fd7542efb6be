/* scavenger.c — the release policy, and where it runs: a background
 * thread, or the program's own thread while the program has only one.
 *
 * A step: (1) every half delay, empty the transfer caches nobody used since
 * the previous pass (their spans go back to the page heap, idle since that
 * pass); (2) release free pages idle for at least `scavenger_delay_ms`,
 * oldest first, keeping a reserve of 2 MiB + heap_inuse/8 of the most
 * recently freed pages, for a bounded time of madvise; (3) near the memory
 * limit (within 1/8), drain every transfer cache, ask every thread cache to
 * trim, and release idle pages regardless of age and reserve until the
 * footprint is 1/8 under the limit.  Each step says when the next is due,
 * so that its madvise CPU time stays under `scavenger_cpu_percent` of one
 * CPU, and otherwise when the next page becomes old enough (at most
 * 250 ms later).
 *
 * Where steps run (option `scavenger`): from the first slow path after the
 * heap passed 16 MiB, a background thread runs them — but by default
 * (scavenger=1) only once the process has a second thread (the program's,
 * or another of heapscope's).  Until then each step runs on the program's
 * thread, from a slow path, when due (with a shorter madvise budget): a
 * single-threaded program stays single-threaded, as under glibc, so its
 * unshare(CLONE_NEWUSER), a seccomp filter of its that forbids clone, and
 * its forks (Python warns at a fork with threads) work as they would.
 * scavenger=2 starts the thread regardless; scavenger=0 leaves the steps
 * to the host (hs_background_step).  Between naps the thread ends the
 * process once the program's threads are gone (os_program_has_ended).
 *
 * Guarded by step_lock (one step at a time; outermost: a step on the
 * program's thread only tries it, from a slow path holding no allocator
 * lock).  May call: pageheap, central, tcache, options, os, base,
 * prof_enter (the thread's work is never sampled).  See docs/memory.md. */
#include "scavenger.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "heapscope.h"
#include "base.h"
#include "central.h"
#include "options.h"
#include "os.h"
#include "pageheap.h"
#include "profile.h"
#include "tcache.h"

#define MS_NS ((uint64_t)1000000)
/* Madvise time per step before it yields (and then waits so that its
 * share of a CPU stays at scavenger_cpu_percent): the thread's, and the
 * shorter one of a step inside a program's malloc or free. */
#define SCAVENGER_STEP_WORK_NS (5 * MS_NS)
#define SCAVENGER_INLINE_WORK_NS (1 * MS_NS)
#define SCAVENGER_RESERVE_MIN_BYTES ((uint64_t)2 << 20)
#define SCAVENGER_IDLE_SLEEP_NS (250 * MS_NS)
#define SCAVENGER_MIN_SLEEP_NS (1 * MS_NS)
#define SCAVENGER_PRESSURE_SLEEP_NS (50 * MS_NS)
#define SCAVENGER_TRIM_INTERVAL_NS (250 * MS_NS)

enum { THREAD_NOT_STARTED = 0, THREAD_STARTING, THREAD_RUNNING, THREAD_FAILED };

static _Atomic int thread_state;
static _Atomic int process_ready; /* the library constructor has run */
static hs_lock_t step_lock;
static uint64_t last_pass_ns;     /* step_lock: the previous central pass */
static uint64_t last_trim_ns;     /* step_lock */
static _Atomic uint64_t stat_cycles, stat_released, stat_drained, stat_trims;
/* When the next step on the program's thread is due (coarse clock). */
static _Atomic uint64_t inline_due_ns;

typedef struct step_result {
  uint64_t released_bytes;
  uint64_t drained_objects;
  uint64_t work_ns;         /* CPU time spent releasing */
  uint64_t sleep_ns;        /* what the background thread should sleep */
  bool pressure;
} step_result_t;

/* CPU time of the calling thread: the pacing counts work the thread really
 * did, so a busy machine (which stretches wall time) does not slow it more. */
static uint64_t thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t delay_ns(void) { return (uint64_t)hs_options.scavenger_delay_ms * MS_NS; }

static void trace_line(const step_result_t *r) {
  pageheap_stats_t ph;
  pageheap_read_stats(&ph);
  char mem[400];
  hs_buf_t b = {mem, 0, sizeof mem - 1};
  hs_buf_str(&b, "heapscope: scav t_ms=");
  hs_buf_u64(&b, pageheap_now_ns() / MS_NS);
  hs_buf_str(&b, " released_kib=");
  hs_buf_u64(&b, r->released_bytes >> 10);
  hs_buf_str(&b, " drained_objects=");
  hs_buf_u64(&b, r->drained_objects);
  hs_buf_str(&b, " work_us=");
  hs_buf_u64(&b, r->work_ns / 1000);
  hs_buf_str(&b, " heap_inuse_kib=");
  hs_buf_u64(&b, (ph.sys_bytes - ph.free_bytes) >> 10);
  hs_buf_str(&b, " heap_idle_kib=");
  hs_buf_u64(&b, ph.free_bytes >> 10);
  hs_buf_str(&b, " heap_released_kib=");
  hs_buf_u64(&b, ph.released_bytes >> 10);
  hs_buf_str(&b, " rss_kib=");
  hs_buf_u64(&b, os_rss_bytes() >> 10);
  hs_buf_str(&b, " limit_kib=");
  hs_buf_u64(&b, pageheap_limit() >> 10);
  hs_buf_str(&b, r->pressure ? " pressure=1\n" : " pressure=0\n");
  hs_write_all(2, b.data, b.len);
}

/* One step of the policy.  pre: step_lock held.  `work_budget_ns` bounds
 * the paced release work (the eager limit work is never bounded). */
static void step_locked(step_result_t *r, uint64_t work_budget_ns) {
  memset(r, 0, sizeof *r);
  uint64_t now = pageheap_now_ns();
  uint64_t delay = delay_ns();
  pageheap_stats_t ph;
  pageheap_read_stats(&ph);
  uint64_t limit = pageheap_limit();
  uint64_t footprint = ph.sys_bytes - ph.released_bytes;
  r->pressure = limit && footprint > limit - limit / 8;

  /* (1) Transfer caches idle for a whole pass interval. */
  if (r->pressure || now - last_pass_ns >= delay / 2) {
    r->drained_objects = central_drain_idle(r->pressure, r->pressure ? 0 : last_pass_ns);
    last_pass_ns = now;
  }
  /* (3) Near the limit: every cache trims, idle pages go regardless. */
  if (r->pressure) {
    if (now - last_trim_ns >= SCAVENGER_TRIM_INTERVAL_NS) {
      tcache_request_trim();
      last_trim_ns = now;
      hs_relaxed_add(&stat_trims, 1);
    }
    pageheap_read_stats(&ph);
    footprint = ph.sys_bytes - ph.released_bytes;
    uint64_t target = limit - limit / 8;
    if (footprint > target) r->released_bytes += pageheap_release(footprint - target, UINT64_MAX, 0);
  }
  /* (2) Pages idle for `delay`, oldest first, above the reserve, paced. */
  pageheap_read_stats(&ph);
  uint64_t keep = SCAVENGER_RESERVE_MIN_BYTES + (ph.sys_bytes - ph.free_bytes) / 8;
  uint64_t idle_before = now > delay ? now - delay : 0;
  uint64_t start = thread_cpu_ns();
  bool more = false;
  for (;;) {
    uint64_t released = pageheap_release((uint64_t)4 << 20, idle_before, keep);
    r->released_bytes += released;
    r->work_ns = thread_cpu_ns() - start;
    if (released == 0) break;
    if (r->work_ns >= work_budget_ns) { more = true; break; }
  }

  /* When to come back. */
  if (r->pressure) {
    r->sleep_ns = SCAVENGER_PRESSURE_SLEEP_NS;
  } else if (more) {
    uint64_t percent = (uint64_t)hs_options.scavenger_cpu_percent;
    r->sleep_ns = r->work_ns * (100 - percent) / percent;
  } else {
    r->sleep_ns = SCAVENGER_IDLE_SLEEP_NS;
    pageheap_read_stats(&ph);
    uint64_t unreleased = ph.free_bytes - ph.released_bytes;
    if (ph.oldest_idle_ns && unreleased > keep) {
      uint64_t due = ph.oldest_idle_ns + delay;
      r->sleep_ns = due > now ? HS_MIN(due - now, r->sleep_ns) : SCAVENGER_MIN_SLEEP_NS;
    }
    if (central_transfer_objects() > 0) r->sleep_ns = HS_MIN(r->sleep_ns, delay / 2);
  }
  r->sleep_ns = HS_MAX(r->sleep_ns, SCAVENGER_MIN_SLEEP_NS);

  if (r->released_bytes || r->drained_objects) {
    hs_relaxed_add(&stat_cycles, 1);
    hs_relaxed_add(&stat_released, r->released_bytes);
    hs_relaxed_add(&stat_drained, r->drained_objects);
    if (hs_options.scavenger_trace) trace_line(r);
  }
}

uint64_t scavenger_step(void) {
  step_result_t r;
  hs_lock(&step_lock);
  step_locked(&r, SCAVENGER_STEP_WORK_NS);
  hs_unlock(&step_lock);
  return r.released_bytes;
}

uint64_t scavenger_release_all(void) {
  tcache_t *tc = &tls_tcache;
  if (tc->state == TCACHE_ACTIVE) tcache_trim(tc);
  tcache_request_trim();
  hs_relaxed_add(&stat_trims, 1);
  central_drain_all();
  return pageheap_release_all();
}

/* For a hard limit about to refuse a large allocation (no lock held). */
static void reclaim_for_limit(void) {
  tcache_t *tc = &tls_tcache;
  if (tc->state == TCACHE_ACTIVE) tcache_trim(tc);
  tcache_request_trim();
  central_drain_all();
}

static void *scavenger_main(void *arg) {
  (void)arg;
  prof_enter(); /* never sampled, never in a profile */
  os_background_thread_begin();
  pthread_setname_np(pthread_self(), "hs-scavenger");
  for (;;) {
    step_result_t r;
    hs_lock(&step_lock);
    step_locked(&r, SCAVENGER_STEP_WORK_NS);
    hs_unlock(&step_lock);
    /* In naps, to end the process in time once the program has ended. */
    for (uint64_t left = r.sleep_ns; left;) {
      uint64_t nap = HS_MIN(left, OS_PROGRAM_END_CHECK_NS);
      struct timespec ts = {(time_t)(nap / 1000000000u), (long)(nap % 1000000000u)};
      while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
      }
      left -= nap;
      if (os_program_has_ended()) {
        prof_exit(); /* the program's exit handlers run here */
        exit(0);
      }
    }
  }
  return NULL;
}

static void start_thread(void) {
  int expected = THREAD_NOT_STARTED;
  if (!atomic_compare_exchange_strong(&thread_state, &expected, THREAD_STARTING)) return;
  prof_enter(); /* what libc allocates for the thread is heapscope's */
  int rc = os_start_thread(scavenger_main, NULL);
  prof_exit();
  hs_relaxed_store(&thread_state, rc == 0 ? THREAD_RUNNING : THREAD_FAILED);
}

void scavenger_slow_path(void) {
  if (hs_relaxed_load(&thread_state) == THREAD_RUNNING || !hs_relaxed_load(&process_ready) ||
      hs_options.scavenger == SCAVENGER_HOST || !hs_relaxed_load(&pageheap_scavenger_wanted))
    return;
  uint64_t now = (uint64_t)os_clock_ns(CLOCK_MONOTONIC_COARSE);
  if (now < hs_relaxed_load(&inline_due_ns)) return;
  if (hs_relaxed_load(&thread_state) == THREAD_NOT_STARTED &&
      (hs_options.scavenger == SCAVENGER_THREAD || os_process_threads() >= 2)) {
    start_thread();
    if (hs_relaxed_load(&thread_state) == THREAD_RUNNING) return;
  }
  /* One thread, or the thread could not be started: a step here. */
  if (!hs_trylock(&step_lock)) return;
  step_result_t r;
  step_locked(&r, SCAVENGER_INLINE_WORK_NS);
  hs_relaxed_store(&inline_due_ns, now + r.sleep_ns);
  hs_unlock(&step_lock);
}

void scavenger_read_stats(scavenger_stats_t *out) {
  out->cycles = hs_relaxed_load(&stat_cycles);
  out->released_bytes = hs_relaxed_load(&stat_released);
  out->drained_objects = hs_relaxed_load(&stat_drained);
  out->trim_requests = hs_relaxed_load(&stat_trims);
  out->thread_running = hs_relaxed_load(&thread_state) == THREAD_RUNNING;
}

/* The child of fork has no scavenger thread: its steps run on its one
 * thread until it has two (or it starts a thread at once, scavenger=2).
 * A step the parent was running is not running in the child. */
static void scavenger_fork_child(void) {
  hs_lock_reset(&step_lock);
  hs_relaxed_store(&thread_state, THREAD_NOT_STARTED);
  hs_relaxed_store(&inline_due_ns, 0);
}

/* Runs once the loader is done with the library: from here on a slow path
 * may create the thread.  Creating it here instead would give every process
 * a thread, even those that never allocate much. */
__attribute__((constructor)) static void scavenger_init(void) {
  pthread_atfork(NULL, NULL, scavenger_fork_child);
  pageheap_set_reclaim_hook(reclaim_for_limit);
  hs_relaxed_store(&process_ready, 1);
}

/* ---- Public API ---- */

HS_EXPORT uint64_t hs_background_step(void) { return scavenger_step(); }

HS_EXPORT uint64_t hs_set_memory_limit(uint64_t bytes) { return pageheap_set_limit(bytes); }
