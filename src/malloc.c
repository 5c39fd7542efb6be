/* malloc.c — heapscope's entry points: the malloc family under glibc's
 * names and under hs_ names (aliases of one another), the fast paths, the
 * single slow-path dispatcher, start-up and fork.
 *
 * Allocation, small (≤ SIZE_CLASS_MAX_BYTES): size → class by table, pop the
 * thread cache's bin, subtract the size from bytes_until_sample.  Any miss —
 * empty bin, counter below zero, cache not yet attached — goes to
 * malloc_slow, which attaches the cache, refills the bin from the spans
 * the thread owns (tcache.c), or serves a large object from the page heap.
 * Free: one page-map byte gives the class; push on the bin unless it is full,
 * the pointer is misaligned, or the object is marked free already (its free
 * tag, below).  A full bin sends the object to its span's free list if the
 * thread owns the span, else onto its class's foreign list.  Anything else
 * goes to free_slow, which validates the pointer and does the rest.
 * Free tags: while a small object is free its second word holds
 * hs_free_key, a random value drawn at start-up; every free sets it and the
 * one path that hands small objects out (malloc_inline's pop, alloc_small)
 * clears it (and, in the hardened build, first checks it).  A free (or
 * realloc) that finds it set goes to check_tagged, which looks for the
 * object on the free lists this thread can see and aborts if it is there;
 * not found, the key was the program's own data (read from freed memory)
 * or the object is free in another thread's cache, and the call goes on.
 * Realloc: the same page-map byte settles a small block that still fits its
 * class; realloc_slow grows large blocks in place or moves with headroom.
 * The fast paths take no lock, make no system call, do no atomic
 * read-modify-write and call nothing that can allocate.
 *
 * Sampling: when the countdown runs out, count_malloc asks the sampler for a
 * weight and alloc_sampled gives the object a slot of a page shared with
 * other samples of its class (up to 1 KiB: samplepack.c) or a span of its
 * own, records the stack above the public entry point's frame (every entry
 * passes __builtin_dwarf_cfa() down) and keeps the bucket in the slot or
 * the span; free_slow records the free.  The walk starts in the entry
 * point's caller, not in heapscope's own frames: this file is built with
 * -ffixed-rbp, so at the sample RBP still holds the caller's value (no VLA
 * or alloca here, which would make RBP a frame pointer:
 * tests/unit/fixed_rbp_test.sh).  See
 * docs/profiling.md.
 *
 * Holds no lock itself; see docs/design.md for the order of the others.
 * May call: tcache, central, pageheap, pagemap, size_class, sampler, unwind,
 * profstore, pprof (process hooks), scavenger, unloaded and loader (fork), options, os,
 * base. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "heapscope.h"
#include "base.h"
#include "central.h"
#include "httpserver.h"
#include "loader.h"
#include "metadata.h"
#include "options.h"
#include "os.h"
#include "pageheap.h"
#include "pagemap.h"
#include "pprof.h"
#include "scavenger.h"
#include "profile.h"
#include "profstore.h"
#include "sampler.h"
#include "samplepack.h"
#include "size_class.h"
#include "tcache.h"
#include "unloaded.h"
#include "unwind.h"

#define HS_ALIAS(name) __attribute__((alias(#name), visibility("default")))

/* A thread keeps the span of its last freed sample, up to this many pages
 * (the 64 KiB class), for its next sample of as many pages: a sample then
 * skips the page heap's lock, search and page-map labels both when it is
 * made and when it is freed. */
#define MALLOC_SAMPLE_SPARE_MAX_PAGES 8
/* A bigger span, up to the largest class's, only when the thread's sample
 * freed before it had as many pages: a thread that samples one size over
 * and over (its buffers of 256 KiB, say) keeps one; a thread that passed
 * through the sizes once (then idled) only where two sizes it sampled in
 * turn took as many pages.  Larger spans go back to the page heap. */
#define MALLOC_SAMPLE_SPARE_REPEAT_MAX_PAGES (SIZE_CLASS_MAX_BYTES >> HS_PAGE_SHIFT)

/* Whether the sampled span being freed becomes this thread's spare (see
 * above); notes its pages for the next.  pre: tc->state == TCACHE_ACTIVE. */
static bool keeps_sample_spare(tcache_t *tc, size_t pages) {
  uint32_t freed_before = tc->owner->sample_freed_pages;
  tc->owner->sample_freed_pages = (uint32_t)HS_MIN(pages, (size_t)UINT32_MAX);
  return pages <= MALLOC_SAMPLE_SPARE_MAX_PAGES ||
         (pages <= MALLOC_SAMPLE_SPARE_REPEAT_MAX_PAGES && pages == freed_before);
}

/* ---- Free tags (base.h) ---- */

/* The hardened build (make hardened) also keeps every object on a free list
 * tagged, carved ones included (central.c), and checks the tag of each
 * object it hands out: an object handed out twice (freed twice while the
 * first free waited in another thread's cache) or written after its free
 * is caught at its next handout. */
/* It also checks that every freed small object starts an object of its
 * span, on the paths that push it onto a list of this thread's without
 * looking at its span (the bin, the foreign list): the default build
 * checks only its alignment there, so a pointer 16-byte aligned inside a
 * small object goes into the bin, and is caught only if the bin flushes
 * it to its span before a malloc hands it out, overlapping its neighbours
 * (the anchors' fast paths do not check either). */
#ifdef HS_HARDENED
#define HANDOUT_TAG_OK(object) hs_free_tag_set(object)
#define FREED_START_OK(span, object) span_holds_carved_object(span, object)
#else
#define HANDOUT_TAG_OK(object) true
#define FREED_START_OK(span, object) true
#endif

/* An object about to be handed out: checked (hardened build), its tag
 * cleared. */
HS_INLINE void free_tag_handout(void *object) {
  if (HS_UNLIKELY(!HANDOUT_TAG_OK(object)))
    hs_fatal_pointer("malloc", "free object overwritten or freed twice", object);
  hs_free_tag_clear(object);
}

static void free_key_init(void) {
  uint64_t random[2] = {0, 0};
  const void *at_random = (const void *)getauxval(AT_RANDOM); /* 16 bytes from the kernel */
  if (at_random) memcpy(random, at_random, sizeof random);
  uint64_t key = random[1] ^ (random[0] >> 7) ^ (uint64_t)(uintptr_t)&hs_free_key ^
                 (uint64_t)os_clock_ns(CLOCK_MONOTONIC) * 0x9e3779b97f4a7c15u;
  hs_free_key = (uintptr_t)(key | 1);
}

/* ---- Start-up ---- */

enum { INIT_NONE = 0, INIT_RUNNING = 1, INIT_DONE = 2 };
static _Atomic int init_state;
static int options_seen_environ;

HS_NOINLINE HS_COLD static void global_init(void) {
  int expected = INIT_NONE;
  if (atomic_compare_exchange_strong(&init_state, &expected, INIT_RUNNING)) {
    /* Nothing here allocates, so no recursion is possible. */
    extern char **environ;
    options_seen_environ = environ != NULL;
    free_key_init();
    options_init();
    sampler_set_rate_at_start(hs_options.sample_rate_bytes);
    tcache_global_init();
    atomic_store_explicit(&init_state, INIT_DONE, memory_order_release);
    /* Before any dlopen can list a module (it allocates first); may
     * allocate (the loader's first use), so after init is done. */
    unwind_note_startup_modules();
  } else {
    while (atomic_load_explicit(&init_state, memory_order_acquire) != INIT_DONE) sched_yield();
  }
}

static void attach_tcache(tcache_t *tc) {
  if (atomic_load_explicit(&init_state, memory_order_acquire) != INIT_DONE) global_init();
  tcache_attach(tc);
  if (tc->state == TCACHE_ACTIVE) sampler_start_thread(tc);
}

/* The calling thread's cache, attached if this is its first allocation. */
HS_INLINE tcache_t *current_tcache(void) {
  tcache_t *tc = &tls_tcache;
  if (HS_UNLIKELY(tc->state == TCACHE_UNBORN)) attach_tcache(tc);
  return tc;
}

/* The same for a free: a thread's first frees leave it UNBORN (their
 * objects go back to their spans; tcache_free_attaches says why). */
HS_INLINE tcache_t *tcache_for_free(void) {
  tcache_t *tc = &tls_tcache;
  if (HS_UNLIKELY(tc->state == TCACHE_UNBORN) && tcache_free_attaches(tc)) attach_tcache(tc);
  return tc;
}

/* Counts an allocation of `requested` bytes about to be served; returns the
 * weight of its sample, or 0 when it is not sampled (see sampler.h). */
static double count_malloc(tcache_t *tc, size_t requested) {
  if (HS_UNLIKELY(tc->state != TCACHE_ACTIVE)) {
    tcache_count_orphan_malloc(requested);
    return 0;
  }
  tc->malloc_count++;
  int64_t rate = tc->sample_rate;
  if (rate > 0 && (uint64_t)HS_MAX(requested, (size_t)1) >= (uint64_t)rate) {
    tc->requested_before += requested; /* exact, outside the countdown */
    return sampler_allowed() ? 1.0 : 0;
  }
  tc->bytes_until_sample -= (int64_t)requested;
  if (HS_LIKELY(tc->bytes_until_sample >= 0)) return 0;
  return sampler_counter_expired(tc, requested);
}

/* Takes back the count of an allocation of `requested` bytes that then
 * failed (ENOMEM).  The thread's requested total is requested_before plus
 * what the countdown ran through, modulo 2^64: taking the bytes off
 * requested_before takes them off the total wherever they were counted
 * (the countdown itself is left as it ran). */
static void uncount_malloc(tcache_t *tc, size_t requested) {
  if (tc->state == TCACHE_ACTIVE) {
    tc->malloc_count--;
    tc->requested_before -= requested;
  } else {
    tcache_uncount_orphan_malloc(requested);
  }
}

static void count_free(tcache_t *tc) {
  if (HS_LIKELY(tc->state == TCACHE_ACTIVE)) tc->free_count++;
  else tcache_count_orphan_free();
}

/* ---- Slow paths ---- */

/* A small object for the program, its free tag cleared. */
static void *alloc_small(tcache_t *tc, uint32_t size_class) {
  void *object;
  if (HS_LIKELY(tc->state == TCACHE_ACTIVE)) {
    tcache_bin_t *bin = &tc->bins[size_class];
    object = bin->head;
    if (object) {
      bin->head = *(void **)object;
      bin->count--;
    } else {
      object = tcache_refill(tc, size_class);
    }
  } else if (!central_remove_range(size_class, &object, 1)) {
    object = NULL;
  }
  if (object) free_tag_handout(object);
  return object;
}

/* Set by realloc around the allocation a growing block moves to: a large
 * one of PAGEHEAP_MAPPED_ALONE_BYTES or more gets a mapping of its own,
 * which its next growth moves with mremap (realloc_slow), or, where the
 * OS refuses a new mapping (RLIMIT_AS), pages from the page heap. */
static _Thread_local bool tls_realloc_growing __attribute__((tls_model("initial-exec")));

static void *alloc_large(size_t size, size_t align_pages, bool zero) {
  size_t pages = (HS_MAX(size, (size_t)1) + HS_PAGE_BYTES - 1) >> HS_PAGE_SHIFT;
  span_t *span = HS_UNLIKELY(tls_realloc_growing) && align_pages == 1 &&
                         (uint64_t)pages << HS_PAGE_SHIFT >= PAGEHEAP_MAPPED_ALONE_BYTES
                     ? pageheap_alloc_mapped_alone(pages)
                     : NULL;
  if (!span) span = pageheap_alloc(pages, align_pages, SPAN_LARGE, 0);
  if (!span) return NULL;
  span->requested_bytes = size;
  void *object = span_start(span);
  if (zero && !span->zeroed) memset(object, 0, size);
  return object;
}

/* `size` bytes served the unsampled way: in `room` (≥ size) bytes, aligned
 * to `alignment` when that is more than HS_MIN_ALIGN (then room == size).
 * Not counted here. */
HS_INLINE void *alloc_unsampled(tcache_t *tc, size_t size, size_t room, size_t alignment, bool zero) {
  void *object;
  if (alignment > HS_MIN_ALIGN) {
    if (size <= SIZE_CLASS_MAX_BYTES && alignment <= HS_PAGE_BYTES) {
      /* Spans start on page boundaries, so every object of a class whose
       * size is a multiple of the alignment is aligned.  Powers of two up
       * to the largest class are classes, so the search always ends. */
      uint32_t size_class = size_class_of(HS_MAX(size, alignment));
      while (size_class_bytes[size_class] & (alignment - 1)) size_class++;
      object = alloc_small(tc, size_class);
    } else {
      object = alloc_large(size, HS_MAX(alignment >> HS_PAGE_SHIFT, (size_t)1), false);
    }
    if (object && zero) memset(object, 0, size);
  } else if (room <= SIZE_CLASS_MAX_BYTES) {
    object = alloc_small(tc, size_class_of(room));
    if (object && zero) memset(object, 0, size);
  } else {
    object = alloc_large(room, 1, zero);
    if (object && room != size) pagemap_span_of(object)->requested_bytes = size;
  }
  return object;
}

/* A sampled allocation: a slot of a page of sampled objects of its class
 * when that class is packed (samplepack.h), else a span of its own (either
 * way free finds the sample with no lookup: the page map says "not a small
 * object" and the span, or the slot, holds the bucket), and the stack above
 * `boundary_cfa` recorded in the profile as `size` bytes.  `room` (≥ size)
 * is the space the unsampled path would have served; 0 for aligned
 * requests, whose `alignment` is as for alloc_unsampled.  When room is in
 * the small-object range the object's usable size is its class's size, as
 * it would have been unsampled, so realloc moves it to the same classes as
 * its peers.  Where neither a slot nor a span can be had, the object is
 * served unsampled. */
HS_NOINLINE HS_COLD static void *alloc_sampled(size_t size, size_t room, size_t alignment,
                                               bool zero, double weight,
                                               uintptr_t boundary_cfa) {
  prof_enter();
  tcache_t *tc = &tls_tcache;
  size_t align_pages = HS_MAX(alignment >> HS_PAGE_SHIFT, (size_t)1);
  uint32_t usable_as_small =
      room && room <= SIZE_CLASS_MAX_BYTES ? size_class_bytes[size_class_of(room)] : 0;
  size_t bytes = usable_as_small ? usable_as_small : HS_MAX(size, room);
  uint32_t pack_class = usable_as_small ? size_class_of(room) : 0;
  void *object = samplepack_packs(pack_class) ? samplepack_alloc(pack_class, size, zero) : NULL;
  span_t *spare = tc->sample_spare;
  if (object) {
    /* a slot of a page shared with other samples of its class */
  } else if (spare && align_pages == 1 &&
      spare->page_count == (bytes + HS_PAGE_BYTES - 1) >> HS_PAGE_SHIFT) {
    /* The span this thread's last sample of as many pages lived on: no
     * page-heap round trip (most of a sample's cost). */
    tc->sample_spare = NULL;
    __atomic_store_n(&spare->sample_spare, 0, __ATOMIC_RELEASE); /* before the request */
    __atomic_store_n(&spare->requested_bytes, size, __ATOMIC_RELEASE);
    object = span_start(spare);
    if (zero) memset(object, 0, size);
  } else {
    object = alloc_large(bytes, align_pages, zero);
    if (object) pagemap_span_of(object)->requested_bytes = size;
  }
  if (HS_UNLIKELY(!object)) {
    /* No span of its own to be had (the OS refuses more metadata or pages,
     * as under RLIMIT_AS): the program still gets its memory the way it
     * would have unsampled, and the sample is lost. */
    object = alloc_unsampled(tc, size, room ? room : size, alignment, zero);
    if (!object) uncount_malloc(tc, size);
    prof_exit();
    return object;
  }
  uintptr_t pcs[PROF_MAX_FRAMES];
  /* This file is built with -ffixed-rbp (Makefile): RBP still holds what
   * the entry point's caller left in it. */
  uintptr_t caller_rbp;
  __asm__ volatile("mov %%rbp, %0" : "=r"(caller_rbp));
  int depth = unwind_capture_caller(pcs, PROF_MAX_FRAMES, boundary_cfa, caller_rbp);
  prof_bucket_t *bucket =
      profstore_record_alloc(pcs, depth, sampler_current_labels(), weight, size);
  span_t *span = pagemap_span_of(object);
  if (span->sample_pack) {
    samplepack_set_sample(object, bucket, weight);
    prof_exit();
    return object;
  }
  span->sample_bucket = bucket;
  span->sample_weight = weight;
  span->sample_bytes = size;
  span->sample_usable_bytes = usable_as_small;
  prof_exit();
  return object;
}

/* Serves `size` bytes, zeroed if asked; counts (and may sample) it.
 * `boundary_cfa` is the frame address of the public entry point. */
HS_NOINLINE static void *malloc_slow(size_t size, bool zero, uintptr_t boundary_cfa) {
  tcache_t *tc = current_tcache();
  if (HS_UNLIKELY(size > PTRDIFF_MAX)) {
    errno = ENOMEM;
    return NULL;
  }
  double weight = count_malloc(tc, size);
  if (HS_UNLIKELY(weight > 0)) return alloc_sampled(size, size, 0, zero, weight, boundary_cfa);
  void *object = alloc_unsampled(tc, size, size, 0, zero);
  if (HS_UNLIKELY(!object)) uncount_malloc(tc, size);
  return object;
}

/* The size class of a small object after checking that `ptr` is the start of
 * one; 0 for the start of a large object or a live sample on a page of
 * them (samplepack.h); aborts on anything else. */
static uint32_t checked_class(const void *ptr, span_t *span, const char *call) {
  if (HS_UNLIKELY(!span)) hs_fatal_pointer(call, "invalid pointer", ptr);
  if (HS_LIKELY(span->state == SPAN_SMALL)) {
    uint32_t size_class = span->size_class;
    size_t offset = (size_t)((const char *)ptr - (const char *)span_start(span));
    uint32_t index = size_class_object_index(size_class, offset);
    if (HS_UNLIKELY(index * size_class_bytes[size_class] != offset ||
                    index >= size_class_objects[size_class]))
      hs_fatal_pointer(call, "invalid pointer", ptr);
    return size_class;
  }
  if (span->state == SPAN_LARGE && span->sample_pack) {
    enum samplepack_lookup found = samplepack_lookup(span, ptr);
    if (HS_LIKELY(found == SAMPLEPACK_LIVE)) return 0;
    hs_fatal_pointer(call, found == SAMPLEPACK_FREE_SLOT ? "double free" : "invalid pointer", ptr);
  }
  if (span->state == SPAN_LARGE && ptr == span_start(span)) {
    if (HS_UNLIKELY(span->sample_spare)) hs_fatal_pointer(call, "double free", ptr);
    return 0;
  }
  if (span->state == SPAN_FREE && ptr == span_start(span))
    hs_fatal_pointer(call, "double free", ptr);
  hs_fatal_pointer(call, "invalid pointer", ptr);
}

/* The usable size of the object at the start of large span `span`: a
 * sampled object that would have been small has its class's size. */
static size_t large_usable_bytes(const span_t *span) {
  if (span->sample_pack) return samplepack_usable_bytes(span);
  return span->sample_bucket && span->sample_usable_bytes ? span->sample_usable_bytes
                                                          : span_bytes(span);
}

/* A call `call` on small object `ptr` of `span` whose free tag is set:
 * aborts with `what` if the object is on a free list this thread can see
 * (its bin, its foreign list, the span's own lists, the class's transfer
 * cache); otherwise returns and the call goes on (free tags, above). */
HS_NOINLINE HS_COLD static void check_tagged(const char *call, const char *what, void *ptr,
                                            tcache_t *tc, span_t *span, uint32_t size_class) {
  bool found = false;
  if (tc->state == TCACHE_ACTIVE) {
    const tcache_bin_t *bin = &tc->bins[size_class];
    const tcache_foreign_t *foreign = &tc->owner->foreign[size_class];
    found = hs_list_holds(bin->head, bin->count, ptr) ||
            hs_list_holds(foreign->head, foreign->count, ptr) ||
            (span->owner == tc->owner && hs_list_holds(span->free_list, span->free_count, ptr));
  }
  if (found || central_holds_free_object(size_class, span, ptr)) hs_fatal_pointer(call, what, ptr);
}

/* Frees large span `span` (counted already): records a sample's free,
 * keeps a sampled span as the thread's spare where it may, and gives the
 * rest to the page heap; `outgrown`: realloc moved a growing block out of
 * it (pageheap_free_outgrown). */
static void free_large(tcache_t *tc, span_t *span, bool outgrown) {
  if (HS_UNLIKELY(span->sample_bucket != NULL)) {
    profstore_record_free(span->sample_bucket, span->sample_weight, span->sample_bytes);
    span->sample_bucket = NULL;
    if (tc->state == TCACHE_ACTIVE && keeps_sample_spare(tc, span->page_count)) {
      /* kept for this thread's next sample of as many pages, in place
       * of the one kept before; marked before its request is cleared
       * (pageheap_read_stats) */
      span_t *old = tc->sample_spare;
      __atomic_store_n(&span->sample_spare, 1, __ATOMIC_RELEASE);
      __atomic_store_n(&span->requested_bytes, 0, __ATOMIC_RELEASE);
      tc->sample_spare = span;
      if (!old) return;
      __atomic_store_n(&old->sample_spare, 0, __ATOMIC_RELEASE);
      span = old;
      outgrown = false;
    }
  }
  if (outgrown) pageheap_free_outgrown(span);
  else pageheap_free(span);
  pageheap_release_if_drained();
  if (HS_UNLIKELY(hs_relaxed_load(&pageheap_scavenger_wanted))) scavenger_slow_path();
}

HS_NOINLINE static void free_slow(void *ptr) {
  if (!ptr) return;
  span_t *span = pagemap_span_holding(ptr);
  if (span && span->state == SPAN_LARGE && span->sample_pack) {
    count_free(tcache_for_free());
    samplepack_free(span, ptr, "free"); /* checks the pointer itself */
    return;
  }
  uint32_t size_class = checked_class(ptr, span, "free");
  tcache_t *tc = tcache_for_free();
  count_free(tc);
  if (size_class == 0) {
    free_large(tc, span, false);
    return;
  }
  if (HS_UNLIKELY(hs_free_tag_set(ptr)))
    check_tagged("free", "double free", ptr, tc, span, size_class);
  hs_free_tag_mark(ptr);
  if (tc->state == TCACHE_ACTIVE) {
    if (span->owner == tc->owner) {
      tcache_free_owned(tc, size_class, span, ptr);
      return;
    }
    tcache_push_slow(tc, size_class, ptr);
  } else {
    central_release_object(size_class, ptr); /* no cache (yet, or any more) */
  }
}

/* `room` bytes for a request of `size` (≤ room) bytes: counted and sampled
 * as `size`. */
HS_NOINLINE static void *alloc_with_room(size_t room, size_t size, uintptr_t boundary_cfa) {
  tcache_t *tc = current_tcache();
  double weight = count_malloc(tc, size);
  if (HS_UNLIKELY(weight > 0)) return alloc_sampled(size, room, 0, false, weight, boundary_cfa);
  void *object = alloc_unsampled(tc, size, room, 0, false);
  if (HS_UNLIKELY(!object)) uncount_malloc(tc, size);
  return object;
}

/* An aligned request with alignment > HS_MIN_ALIGN (a power of two). */
HS_NOINLINE static void *alloc_aligned_slow(size_t alignment, size_t size,
                                            uintptr_t boundary_cfa) {
  if (HS_UNLIKELY(size > PTRDIFF_MAX || alignment > PTRDIFF_MAX - size)) {
    errno = ENOMEM;
    return NULL;
  }
  tcache_t *tc = current_tcache();
  double weight = count_malloc(tc, size);
  if (HS_UNLIKELY(weight > 0))
    return alloc_sampled(size, 0, alignment, false, weight, boundary_cfa);
  void *object = alloc_unsampled(tc, size, size, alignment, false);
  if (HS_UNLIKELY(!object)) uncount_malloc(tc, size);
  return object;
}

/* ---- Fast paths ---- */

/* The malloc fast path, inlined into every public entry point that
 * allocates.  `boundary_cfa` is __builtin_dwarf_cfa() of that entry point:
 * the profiler records only the frames above it. */
HS_INLINE void *malloc_inline(size_t size, bool zero, uintptr_t boundary_cfa) {
  tcache_t *tc = tcache_self();
  tcache_bin_t *bin = &tc->bins[size_class_of(size)]; /* past the largest: bins[0] */
  void *object = bin->head;
  /* Wraps for a size past the largest class, whose bin is empty anyway. */
  int64_t left = (int64_t)((uint64_t)tc->bytes_until_sample - size);
  if (HS_LIKELY(object != NULL && left >= 0 && HANDOUT_TAG_OK(object))) {
    void *next = *(void **)object;
    hs_free_tag_clear(object);
    tc->bytes_until_sample = left;
    bin->head = next;
    __builtin_prefetch(next); /* the next malloc of this class reads it */
    bin->count--;
    tc->malloc_count++;
    if (zero) memset(object, 0, size);
    return object;
  }
  return malloc_slow(size, zero, boundary_cfa);
}

HS_EXPORT void *hs_malloc(size_t size) {
  return malloc_inline(size, false, (uintptr_t)__builtin_dwarf_cfa());
}

/* The rest of a free past the bin: an object of an owned span that its
 * span's free_limit stopped (the span on the full list, or the object its
 * last one out) goes to tcache_free_owned, which moves the span or gives
 * it back; another small object onto its class's foreign list; anything
 * else to free_slow.  `span` is only read for a small object. */
HS_NOINLINE __attribute__((noclone)) static void free_past_bin_slow(void *ptr, tcache_t *tc,
                                                                   span_t *span,
                                                                   uintptr_t size_class) {
  tcache_owner_t *owner = tc->owner; /* NULL unless the cache is ACTIVE */
  /* The free tag is read only once the pointer is aligned: then the word
   * lies in the same page as the object's first. */
  if (HS_LIKELY(size_class != 0 && owner != NULL && ((uintptr_t)ptr & (HS_MIN_ALIGN - 1)) == 0 &&
                !hs_free_tag_set(ptr))) {
    if (span->owner == owner) {
      hs_free_tag_mark(ptr);
      tc->free_count++;
      tcache_free_owned(tc, (uint32_t)size_class, span, ptr); /* checks, moves, gives back */
      return;
    }
    tcache_foreign_t *foreign = &owner->foreign[size_class];
    if (HS_LIKELY(foreign->count < size_class_batch[size_class] && FREED_START_OK(span, ptr))) {
      hs_free_tag_mark(ptr);
      *(void **)ptr = foreign->head;
      foreign->head = ptr;
      foreign->count++;
      tc->free_count++;
      return;
    }
  }
  free_slow(ptr);
}

HS_EXPORT void hs_free(void *ptr) {
  uintptr_t address = (uintptr_t)ptr;
  uintptr_t size_class;
  pagemap_leaf_t *leaf = pagemap_class_of(address, &size_class);
  if (HS_UNLIKELY(leaf == NULL)) {
    free_slow(ptr);
    return;
  }
  tcache_t *tc = tcache_self();
  tcache_bin_t *bin = &tc->bins[size_class];
  /* bins[0] (not a small object) has max_count 0, so it always misses. */
  if (HS_LIKELY(bin->count < bin->max_count && (address & (HS_MIN_ALIGN - 1)) == 0 &&
                !hs_free_tag_set(ptr) &&
                FREED_START_OK(leaf->span[pagemap_slot_of(address)], ptr))) {
    hs_free_tag_mark(ptr);
    *(void **)ptr = bin->head;
    bin->head = ptr;
    bin->count++;
    tc->free_count++;
    return;
  }
  /* Past the bin: an object of a span this thread owns goes back on the
   * span's free list; most frees of a long teardown come here.  One test
   * of the span's free_limit (tcache.c) stands for "not on the full list,
   * and not its last object out"; a span nobody owns has limit 0, so an
   * owner that matches only by being NULL on both sides fails it.  The
   * span record keeps all this reads and writes in its first line. */
  span_t *span = leaf->span[pagemap_slot_of(address)];
  if (HS_LIKELY(size_class != 0)) { /* small spans label every page */
    void *first = span->free_list;
    uint32_t freed = span->free_count + 1;
    if (HS_LIKELY(span->owner == tc->owner && freed < span->free_limit &&
                  span_holds_carved_object(span, ptr) && !hs_free_tag_set(ptr))) {
      hs_free_tag_mark(ptr);
      *(void **)ptr = first;
      span->free_list = ptr;
      span->free_count = freed;
      tc->free_count++;
      return;
    }
  }
  free_past_bin_slow(ptr, tc, span, size_class);
}

/* ---- The rest of the family ---- */

HS_EXPORT void *hs_calloc(size_t count, size_t size) {
  size_t total;
  if (HS_UNLIKELY(__builtin_mul_overflow(count, size, &total))) {
    errno = ENOMEM;
    return NULL;
  }
  return malloc_inline(total, true, (uintptr_t)__builtin_dwarf_cfa());
}

HS_EXPORT size_t hs_malloc_usable_size(const void *ptr) {
  if (!ptr) return 0;
  span_t *span = pagemap_span_holding(ptr);
  uint32_t size_class = checked_class(ptr, span, "malloc_usable_size");
  return size_class ? size_class_bytes[size_class] : large_usable_bytes(span);
}

static void *realloc_slow(void *ptr, size_t size, uintptr_t boundary_cfa);

/* realloc of a block past the largest class, or of a sampled one (on a
 * span of its own): one that still fits stays, as in realloc_slow but
 * without its checks of small objects.  A buffer grown a little at a time
 * reallocs here at every step.  The rest goes on to realloc_slow. */
HS_NOINLINE static void *realloc_large(void *ptr, size_t size, uintptr_t boundary_cfa) {
  span_t *span = pagemap_span_of(ptr);
  if (span && span->state == SPAN_LARGE && span_start(span) == ptr && !span->sample_spare &&
      !span->sample_pack) {
    size_t usable = large_usable_bytes(span);
    if (size <= usable && size >= usable / 2) {
      span->requested_bytes = size; /* a sampled block's sample keeps sample_bytes */
      return ptr;
    }
  }
  return realloc_slow(ptr, size, boundary_cfa);
}

HS_INLINE void *realloc_inline(void *ptr, size_t size, uintptr_t boundary_cfa) {
  if (!ptr) return malloc_inline(size, false, boundary_cfa);
  if (size == 0) { /* glibc: frees and returns NULL */
    hs_free(ptr);
    return NULL;
  }
  /* Fast path, the shape of free's: a small object whose class still fits
   * the new size (and is not more than twice it) stays where it is. */
  uintptr_t address = (uintptr_t)ptr;
  uintptr_t size_class;
  if (HS_LIKELY(pagemap_class_of(address, &size_class) != NULL)) {
    size_t class_bytes = size_class_bytes[size_class]; /* 0 for class 0 */
    if (HS_LIKELY(size <= class_bytes && size >= class_bytes / 2 &&
                  (address & (HS_MIN_ALIGN - 1)) == 0 && !hs_free_tag_set(ptr)))
      return ptr;
    if (size_class == 0) return realloc_large(ptr, size, boundary_cfa);
  }
  return realloc_slow(ptr, size, boundary_cfa);
}

/* Everything realloc's fast path and realloc_large do not settle:
 * validation, a small block whose free tag is set, a large block growing
 * into the pages after it, moves.  (A large block that fits reached
 * realloc_large first; the first test below still serves small ones.) */
HS_NOINLINE static void *realloc_slow(void *ptr, size_t size, uintptr_t boundary_cfa) {
  span_t *span = pagemap_span_holding(ptr);
  uint32_t size_class = checked_class(ptr, span, "realloc");
  if (size_class != 0 && HS_UNLIKELY(hs_free_tag_set(ptr)))
    check_tagged("realloc", "freed pointer", ptr, &tls_tcache, span, size_class);
  size_t usable = size_class ? size_class_bytes[size_class] : large_usable_bytes(span);
  /* A block that stays where it is counts as neither an allocation nor a
   * free: when it fits and shrinking would not save much, or when a large
   * block can take the free pages that follow it (no copy). */
  if ((size <= usable && size >= usable / 2) ||
      (size_class == 0 && size > usable && size <= PTRDIFF_MAX &&
       !(span->sample_bucket && span->sample_usable_bytes) && /* moves as if small */
       !span->sample_pack &&
       pageheap_grow_in_place(span, (size + HS_PAGE_BYTES - 1) >> HS_PAGE_SHIFT))) {
    /* A sampled block keeps the size its sample recorded (sample_bytes). */
    if (size_class == 0 && !span->sample_pack) span->requested_bytes = size;
    return ptr;
  }
  /* A growing block that must move gets room to grow by a quarter more
   * before it moves again, so a buffer grown a little at a time is copied
   * O(log n) times, not once per size class.  Only `size` is counted as
   * requested (and sampled). */
  size_t room = size;
  if (size > usable && usable <= PTRDIFF_MAX / 2 && size < usable + usable / 4)
    room = usable + usable / 4;
  bool growing_large = size_class == 0 && !span->sample_pack && size > usable;
  if (growing_large && span->mapped_alone && size <= PTRDIFF_MAX &&
      pageheap_remap_alone(span, (room + HS_PAGE_BYTES - 1) >> HS_PAGE_SHIFT)) {
    /* A block in a mapping of its own moves its pages with mremap, not a
     * copy of them: counted, as growth in place is, as neither an
     * allocation nor a free.  (Refused, it moves by a copy, below.) */
    span->requested_bytes = size;
    return span_start(span);
  }
  tls_realloc_growing = growing_large;
  void *moved = room == size ? malloc_inline(size, false, boundary_cfa)
                             : alloc_with_room(room, size, boundary_cfa);
  tls_realloc_growing = false;
  if (!moved) return NULL; /* the old block is left intact */
  memcpy(moved, ptr, HS_MIN(size, usable));
  if (growing_large) {
    tcache_t *tc = tcache_for_free();
    count_free(tc);
    free_large(tc, span, true);
  } else {
    hs_free(ptr);
  }
  return moved;
}

HS_EXPORT void *hs_realloc(void *ptr, size_t size) {
  return realloc_inline(ptr, size, (uintptr_t)__builtin_dwarf_cfa());
}

HS_EXPORT void *hs_reallocarray(void *ptr, size_t count, size_t size) {
  size_t total;
  if (HS_UNLIKELY(__builtin_mul_overflow(count, size, &total))) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc_inline(ptr, total, (uintptr_t)__builtin_dwarf_cfa());
}

/* pre: alignment is a power of two. */
HS_INLINE void *alloc_aligned(size_t alignment, size_t size, uintptr_t boundary_cfa) {
  if (alignment <= HS_MIN_ALIGN) return malloc_inline(size, false, boundary_cfa);
  return alloc_aligned_slow(alignment, size, boundary_cfa);
}

static bool is_power_of_two(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

HS_EXPORT void *hs_aligned_alloc(size_t alignment, size_t size) {
  if (!is_power_of_two(alignment)) { /* C17: unsupported alignment */
    errno = EINVAL;
    return NULL;
  }
  return alloc_aligned(alignment, size, (uintptr_t)__builtin_dwarf_cfa());
}

HS_EXPORT void *hs_memalign(size_t alignment, size_t size) {
  if (alignment > SIZE_MAX / 2 + 1) {
    errno = EINVAL;
    return NULL;
  }
  if (!is_power_of_two(alignment)) { /* glibc rounds up */
    size_t rounded = HS_MIN_ALIGN;
    while (rounded < alignment) rounded <<= 1;
    alignment = rounded;
  }
  return alloc_aligned(alignment, size, (uintptr_t)__builtin_dwarf_cfa());
}

HS_EXPORT int hs_posix_memalign(void **out, size_t alignment, size_t size) {
  if (!is_power_of_two(alignment) || alignment % sizeof(void *) != 0) return EINVAL;
  int saved_errno = errno;
  void *object = alloc_aligned(alignment, size, (uintptr_t)__builtin_dwarf_cfa());
  if (!object) {
    errno = saved_errno;
    return ENOMEM;
  }
  *out = object;
  return 0;
}

HS_EXPORT void *hs_valloc(size_t size) {
  return alloc_aligned(os_page_size(), size, (uintptr_t)__builtin_dwarf_cfa());
}

HS_EXPORT void *hs_pvalloc(size_t size) {
  size_t page = os_page_size();
  size_t rounded = (size + page - 1) & ~(page - 1);
  if (rounded < size) {
    errno = ENOMEM;
    return NULL;
  }
  return alloc_aligned(page, rounded ? rounded : page, (uintptr_t)__builtin_dwarf_cfa());
}

HS_EXPORT void hs_free_sized(void *ptr, size_t size) { hs_free(ptr); }
HS_EXPORT void hs_free_aligned_sized(void *ptr, size_t alignment, size_t size) { hs_free(ptr); }

HS_EXPORT void hs_release_free_memory(void) { scavenger_release_all(); }

HS_EXPORT hs_thread_counters_t hs_thread_counters(void) {
  const tcache_t *tc = &tls_tcache;
  hs_thread_counters_t counters = {0, 0, 0};
  if (tc->state == TCACHE_ACTIVE) {
    counters.mallocs = tc->malloc_count;
    counters.frees = tc->free_count;
    counters.requested_bytes = tcache_requested_bytes(tc);
  }
  return counters;
}

HS_EXPORT const char *hs_version(void) { return "0.1.0"; }

/* ---- glibc's names ---- */

void *malloc(size_t size) HS_ALIAS(hs_malloc);
void free(void *ptr) HS_ALIAS(hs_free);
void *calloc(size_t count, size_t size) HS_ALIAS(hs_calloc);
void *realloc(void *ptr, size_t size) HS_ALIAS(hs_realloc);
void *reallocarray(void *ptr, size_t count, size_t size) HS_ALIAS(hs_reallocarray);
int posix_memalign(void **out, size_t alignment, size_t size) HS_ALIAS(hs_posix_memalign);
void *aligned_alloc(size_t alignment, size_t size) HS_ALIAS(hs_aligned_alloc);
void *memalign(size_t alignment, size_t size) HS_ALIAS(hs_memalign);
void *valloc(size_t size) HS_ALIAS(hs_valloc);
void *pvalloc(size_t size) HS_ALIAS(hs_pvalloc);
void cfree(void *ptr) HS_ALIAS(hs_free);
void free_sized(void *ptr, size_t size) HS_ALIAS(hs_free_sized);
void free_aligned_sized(void *ptr, size_t alignment, size_t size) HS_ALIAS(hs_free_aligned_sized);
void *__libc_malloc(size_t size) HS_ALIAS(hs_malloc);
void __libc_free(void *ptr) HS_ALIAS(hs_free);
void *__libc_calloc(size_t count, size_t size) HS_ALIAS(hs_calloc);
void *__libc_realloc(void *ptr, size_t size) HS_ALIAS(hs_realloc);
void *__libc_memalign(size_t alignment, size_t size) HS_ALIAS(hs_memalign);

HS_EXPORT size_t malloc_usable_size(void *ptr) { return hs_malloc_usable_size(ptr); }

/* ---- fork and process start/exit ---- */

static void fork_prepare(void) {
  unwind_fork_quiesce(); /* first: it waits, holding none of our locks */
  profstore_fork_prepare();
  unwind_fork_prepare();
  tcache_fork_prepare();
  central_fork_prepare();
  samplepack_fork_prepare();
  pageheap_fork_prepare();
  metadata_fork_prepare();
}

static void fork_parent(void) {
  metadata_fork_parent();
  pageheap_fork_parent();
  samplepack_fork_parent();
  central_fork_parent();
  tcache_fork_parent();
  unwind_fork_parent();
  profstore_fork_parent();
}

static void fork_child(void) {
  os_fork_child();
  loader_fork_child(); /* before unwind_fork_child, which reads it */
  metadata_fork_child();
  pageheap_fork_child();
  samplepack_fork_child();
  central_fork_child();
  tcache_fork_child();
  unwind_fork_child();
  profstore_fork_child();
  sampler_fork_child();
  unloaded_fork_child();
  profwrite_fork_child(); /* last: it may start a thread, which allocates */
}

__attribute__((constructor)) static void heapscope_start(void) {
  if (atomic_load_explicit(&init_state, memory_order_acquire) != INIT_DONE) global_init();
  /* A first malloc from the loader can come before libc set environ. */
  if (!options_seen_environ) options_init();
  pthread_atfork(fork_prepare, fork_parent, fork_child);
  /* The unwinder's first use walks the loader's module list: do it now,
   * outside any malloc, rather than inside the first sample. */
  if (sampler_rate() > 0) unwind_warm_up();
  profwrite_start();
  if (hs_options.profile_at_limit) pageheap_set_limit_hook(profwrite_limit_reached);
  if (hs_options.peak_profile_path[0]) pageheap_set_peak_hook(profwrite_peak_reached);
  if (hs_options.huge_pages) pageheap_use_huge_pages();
  httpserver_start();
}

__attribute__((destructor)) static void heapscope_exit(void) {
  if (hs_options.stats_at_exit) malloc_stats();
  profwrite_exit();
}
