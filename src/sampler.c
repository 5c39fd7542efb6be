/* sampler.c — sample intervals, weights, profiler nesting and per-thread
 * labels.  See sampler.h for the math.  Holds no lock; label interning goes
 * through profstore.  May call: tcache, profstore, base, hsmath. */
#include "sampler.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#include "heapscope.h"
#include "hsmath.h"
#include "options.h"
#include "profile.h"
#include "profstore.h"

/* Per-thread profiler state; zero-initialised TLS is a valid empty state. */
typedef struct sampler_thread {
  uint64_t random_state;
  uint32_t profiler_depth; /* > 0: inside profiler work, never sample */
  uint32_t label_depth;
  const labelset_t *labels;
  const labelset_t *label_stack[PROF_MAX_LABELS];
} sampler_thread_t;

static _Thread_local sampler_thread_t tls_sampler __attribute__((tls_model("initial-exec")));
static _Atomic int64_t global_rate = HS_DEFAULT_SAMPLE_RATE_BYTES;

/* xorshift64*: plenty for choosing sample points. */
static uint64_t next_random(sampler_thread_t *st) {
  uint64_t x = st->random_state;
  if (HS_UNLIKELY(x == 0)) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    x = ((uint64_t)(uintptr_t)st * 0x9E3779B97F4A7C15ull) ^ (uint64_t)t.tv_nsec ^
        ((uint64_t)t.tv_sec << 32) ^ ((uint64_t)getpid() << 20);
    if (x == 0) x = 0x2545F4914F6CDD1Dull;
  }
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  st->random_state = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* An exponential draw with mean `rate`, at least 1. */
static int64_t draw_interval(int64_t rate) {
  /* 53 random bits → u in (0, 1]; −ln(u)·R is exponential with mean R. */
  double u = ((double)(next_random(&tls_sampler) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
  double gap = -hs_log(u) * (double)rate;
  if (gap < 1.0) return 1;
  if (gap > (double)(INT64_MAX / 4)) return INT64_MAX / 4;
  return (int64_t)gap;
}

/* A thread loads its counter with at most this many bytes at a time, and
 * at each load compares its rate with the global one: hs_prof_set_rate
 * reaches every thread within this many bytes of its allocations, also a
 * thread whose gap was drawn at a far lower rate or with sampling off.
 * With sampling off that is one slow call per MiB allocated. */
#define SAMPLER_RATE_RECHECK_BYTES ((int64_t)1 << 20)

/* Loads at most one counter's worth of `pool` bytes into the counter. */
static void load_counter(tcache_t *tc, int64_t pool) {
  int64_t cap = (tc->sample_rate > 0 && tc->sample_rate <= (int64_t)SIZE_CLASS_MAX_BYTES)
                    ? tc->sample_rate - 1
                    : SAMPLER_RATE_RECHECK_BYTES;
  int64_t load = pool < cap ? pool : cap;
  tc->sample_debt = pool - load;
  tcache_load_counter(tc, load);
}

static void rearm(tcache_t *tc) {
  tc->sample_rate = hs_relaxed_load(&global_rate);
  load_counter(tc, tc->sample_rate > 0 ? draw_interval(tc->sample_rate) : TCACHE_COUNTER_OFF);
}

void sampler_start_thread(tcache_t *tc) { rearm(tc); }

void sampler_fork_child(void) {
  /* A child must not repeat its parent's sample points. */
  tls_sampler.random_state = 0;
  tcache_t *tc = &tls_tcache;
  if (tc->state == TCACHE_ACTIVE) {
    tcache_load_counter(tc, tc->bytes_until_sample);
    rearm(tc);
  }
}

bool sampler_allowed(void) { return tls_sampler.profiler_depth == 0; }

double sampler_counter_expired(tcache_t *tc, size_t size) {
  int64_t pool = tc->bytes_until_sample + tc->sample_debt;
  if (pool >= 0) { /* the countdown was capped: no sample yet */
    if (HS_UNLIKELY(tc->sample_rate != hs_relaxed_load(&global_rate))) {
      /* The rate changed (hs_prof_set_rate on another thread).  What is
       * left of an exponential gap is exponential whatever has passed, so
       * a gap drawn afresh at the new rate from here keeps every
       * allocation's probability exactly p(s) at the rate in force. */
      rearm(tc);
    } else {
      load_counter(tc, pool);
    }
    return 0;
  }
  int64_t rate = tc->sample_rate;
  rearm(tc);
  if (rate <= 0 || !sampler_allowed()) return 0;
  double probability = -hs_expm1_nonpositive(-(double)(size ? size : 1) / (double)rate);
  return 1.0 / probability;
}

int64_t sampler_rate(void) { return hs_relaxed_load(&global_rate); }

void sampler_set_rate_at_start(int64_t rate) { hs_relaxed_store(&global_rate, rate < 0 ? 0 : rate); }

HS_EXPORT int64_t hs_prof_set_rate(int64_t bytes) {
  if (bytes < 0) bytes = 0;
  int64_t old = atomic_exchange_explicit(&global_rate, bytes, memory_order_relaxed);
  /* The caller's own countdown restarts now; other threads take the new
   * rate up within SAMPLER_RATE_RECHECK_BYTES of their allocations. */
  tcache_t *tc = &tls_tcache;
  if (tc->state == TCACHE_ACTIVE) {
    tcache_load_counter(tc, tc->bytes_until_sample); /* settle the byte count */
    rearm(tc);
  }
  return old;
}

int64_t profile_sample_rate(void) { return sampler_rate(); }

void prof_enter(void) { tls_sampler.profiler_depth++; }
void prof_exit(void) { tls_sampler.profiler_depth--; }

const void *sampler_current_labels(void) { return tls_sampler.labels; }

/* ---- Labels ---- */

HS_EXPORT int hs_label_push(const char *key, const char *value) {
  sampler_thread_t *st = &tls_sampler;
  if (!key || !value || !*key || strlen(key) > PROF_LABEL_MAX_BYTES ||
      strlen(value) > PROF_LABEL_MAX_BYTES || st->label_depth >= PROF_MAX_LABELS)
    return -1;
  prof_enter();
  const labelset_t *next = profstore_labels_with(st->labels, key, value);
  prof_exit();
  if (!next) return -1;
  st->label_stack[st->label_depth++] = st->labels;
  st->labels = next;
  return 0;
}

HS_EXPORT void hs_label_pop(void) {
  sampler_thread_t *st = &tls_sampler;
  if (st->label_depth > 0) st->labels = st->label_stack[--st->label_depth];
}
