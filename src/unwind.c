/* unwind.c — a DWARF call-frame-information unwinder for x86-64.
 *
 * For each return address the rule to step to the caller is: the caller's
 * stack pointer (the canonical frame address, CFA) is RSP or RBP plus an
 * offset; the return address is at CFA − 8; RBP is either unchanged or saved
 * at CFA + offset.  Rules come from interpreting the FDE that covers the
 * address (found through the module's .eh_frame_hdr binary-search table) and
 * are cached in a 2-way set-associative table read without locks (written
 * under unwind_lock): an entry stores (pc XOR rule, rule), so a torn entry
 * never validates.  A rule also carries the generation it was computed in;
 * the generation moves on whenever the loader has unloaded a module since
 * the generation began, so a library loaded where another was (a plugin
 * reloaded after a rebuild) is never unwound with the old one's rules.
 * Asking the loader (dl_iterate_phdr: its lock, ~170 instructions and six
 * atomic read-modify-writes with the fork gate's) is most of a capture's
 * cost, and most frames need no answer: rules of modules that are never
 * unloaded (those the loader listed when heapscope started: the program,
 * its libraries, libc, heapscope) are marked permanent and valid in every
 * generation, and a capture asks for the generation only at its first
 * frame in another module (a rule missing from the cache is computed
 * without a loader call too when the module table, however old, places
 * its address in a permanent module).
 *
 * A sample's capture (unwind_capture_caller) starts in the frame of the
 * code that called malloc, from the entry point's CFA and the caller's RBP
 * (malloc.c reads it), so heapscope's own frames are never walked.
 *
 * Anything unusual — CFA or register expressions (PLT stubs, signal
 * trampolines), an undefined return address (the outermost frame), an
 * address outside every module — ends the walk rather than guessing.
 *
 * Guarded by unwind_lock for cache misses (module table, FDE parsing); hits
 * take no lock.  unwind_lock is taken inside the loader's lock (from a
 * dl_iterate_phdr callback) or with it not held, never the loader's lock
 * inside unwind_lock (lock_and_refresh says why).  May call: metadata, os,
 * base, loader; dl_iterate_phdr (once at start-up, at most once per
 * capture for the loader's unload count, and on misses). */
#include "unwind.h"

#include <link.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "base.h"
#include "loader.h"
#include "metadata.h"
#include "os.h"

#define UNWIND_CACHE_BITS 14 /* entries: 256 KiB */
#define UNWIND_CACHE_SET_BITS (UNWIND_CACHE_BITS - 1)
#define UNWIND_MAX_MODULES 1024
#define UNWIND_MAX_STARTUP_MODULES 256
#define UNWIND_MAX_STEPS 256
#define UNWIND_MAX_FRAME_BYTES ((uintptr_t)64 << 20)

/* x86-64 DWARF register numbers. */
enum { REG_RBP = 6, REG_RSP = 7, REG_RA = 16 };

/* A rule packed in 64 bits. */
#define RULE_PERMANENT ((uint64_t)1 << 31) /* the module is never unloaded */
#define RULE_VALID ((uint64_t)1 << 32)
#define RULE_CFA_RBP ((uint64_t)1 << 33)
#define RULE_RBP_SAVED ((uint64_t)1 << 34)
#define RULE_STOP ((uint64_t)1 << 35)
#define RULE_GENERATION_SHIFT 36 /* bits 36..47 */
#define RULE_GENERATION_MASK ((uint64_t)0xfff << RULE_GENERATION_SHIFT)
#define RULE_CFA_OFFSET(r) ((int32_t)((uint32_t)(r) & 0x7fffffff)) /* 8..INT32_MAX */
#define RULE_RBP_OFFSET(r) ((int16_t)(uint16_t)((r) >> 48))

typedef struct cache_entry {
  _Atomic uint64_t key; /* pc ^ rule */
  _Atomic uint64_t rule;
} cache_entry_t;

typedef struct module {
  uintptr_t start, end;         /* executable segment(s) */
  const uint8_t *eh_frame_hdr;  /* NULL: no unwind table */
  bool permanent;               /* never unloaded: its rules need no generation */
} module_t;

static cache_entry_t *rule_cache;           /* 2^UNWIND_CACHE_BITS entries */
static hs_lock_t unwind_lock;
static module_t *modules;                   /* guarded by unwind_lock */
static int module_count;                    /* guarded by unwind_lock */
/* The loader's counts of modules loaded and unloaded (dlpi_adds, dlpi_subs). */
typedef struct loader_counts {
  unsigned long long adds, subs;
} loader_counts_t;
static loader_counts_t modules_counts = {~0ull, ~0ull}; /* when the table was built */
/* The rules valid now carry rule_generation (in RULE_GENERATION_MASK's
 * bits); it moves on when generation_subs, the loader's unload count it
 * was started at, is out of date.  Written under unwind_lock. */
static _Atomic uint64_t rule_generation;
static _Atomic unsigned long long generation_subs;
/* The modules the loader listed at start-up (unwind_note_startup_modules),
 * each known by its load bias and program headers, which no module loaded
 * later can share while it stays loaded; published by the count. */
typedef struct startup_module {
  uintptr_t bias;
  const void *phdr;
} startup_module_t;
static startup_module_t startup_modules[UNWIND_MAX_STARTUP_MODULES];
static _Atomic int startup_module_count;
/* heapscope's dl_iterate_phdr calls in flight, and whether fork has
 * closed the gate to new ones (unwind_loader_enter). */
static _Atomic int loader_calls;
static _Atomic int loader_closed;
/* Set in the thread that forks while its fork holds unwind_lock
 * (unwind_fork_prepare to the parent or child handler): a capture it
 * makes in that window takes no lock, and stops where a rule is missing
 * (the profile writer's image listing does one in tests/unit/pprof_test.c). */
static _Thread_local bool tls_fork_holds_lock __attribute__((tls_model("initial-exec")));

/* ---- Reading DWARF data ---- */

static uint64_t read_uleb(const uint8_t **p, const uint8_t *end) {
  uint64_t value = 0;
  int shift = 0;
  while (*p < end) {
    uint8_t byte = *(*p)++;
    if (shift < 64) value |= (uint64_t)(byte & 0x7f) << shift;
    shift += 7;
    if (!(byte & 0x80)) break;
  }
  return value;
}

static int64_t read_sleb(const uint8_t **p, const uint8_t *end) {
  int64_t value = 0;
  int shift = 0;
  uint8_t byte = 0;
  while (*p < end) {
    byte = *(*p)++;
    if (shift < 64) value |= (int64_t)((uint64_t)(byte & 0x7f) << shift);
    shift += 7;
    if (!(byte & 0x80)) break;
  }
  if (shift < 64 && (byte & 0x40)) value |= -((int64_t)1 << shift);
  return value;
}

/* Reads a pointer in DW_EH_PE encoding `enc`; `data_base` serves datarel. */
static bool read_encoded(const uint8_t **p, const uint8_t *end, uint8_t enc, uintptr_t data_base,
                         uintptr_t *out) {
  if (enc == 0xff) { *out = 0; return true; } /* DW_EH_PE_omit */
  const uint8_t *start = *p;
  uintptr_t value;
  switch (enc & 0x0f) {
    case 0x00: if (end - *p < 8) return false; memcpy(&value, *p, 8); *p += 8; break;
    case 0x01: value = (uintptr_t)read_uleb(p, end); break;
    case 0x02: { uint16_t v; if (end - *p < 2) return false; memcpy(&v, *p, 2); *p += 2; value = v; break; }
    case 0x03: { uint32_t v; if (end - *p < 4) return false; memcpy(&v, *p, 4); *p += 4; value = v; break; }
    case 0x04: { uint64_t v; if (end - *p < 8) return false; memcpy(&v, *p, 8); *p += 8; value = (uintptr_t)v; break; }
    case 0x09: value = (uintptr_t)read_sleb(p, end); break;
    case 0x0a: { int16_t v; if (end - *p < 2) return false; memcpy(&v, *p, 2); *p += 2; value = (uintptr_t)(intptr_t)v; break; }
    case 0x0b: { int32_t v; if (end - *p < 4) return false; memcpy(&v, *p, 4); *p += 4; value = (uintptr_t)(intptr_t)v; break; }
    case 0x0c: { int64_t v; if (end - *p < 8) return false; memcpy(&v, *p, 8); *p += 8; value = (uintptr_t)v; break; }
    default: return false;
  }
  switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: value += (uintptr_t)start; break; /* pcrel */
    case 0x30: value += data_base; break;        /* datarel */
    default: return false;
  }
  if (enc & 0x80) return false; /* indirect: not used for FDE addresses */
  *out = value;
  return true;
}

/* ---- Modules ---- */

/* True for the modules that are never unloaded: those listed at start-up,
 * and in any case the program (the first the loader lists), the libc that
 * serves this library and this library. */
static bool module_is_permanent(const struct dl_phdr_info *info, uintptr_t start, uintptr_t end) {
  int startup = atomic_load_explicit(&startup_module_count, memory_order_acquire);
  for (int i = 0; i < startup; i++)
    if (startup_modules[i].bias == info->dlpi_addr && startup_modules[i].phdr == info->dlpi_phdr)
      return true;
  uintptr_t libc_code = (uintptr_t)&abort, own_code = (uintptr_t)&unwind_capture;
  return module_count == 0 || (libc_code >= start && libc_code < end) ||
         (own_code >= start && own_code < end);
}

static int note_startup_module(struct dl_phdr_info *info, size_t size, void *count) {
  int *noted = count;
  if (*noted >= UNWIND_MAX_STARTUP_MODULES) return 1;
  startup_modules[(*noted)++] = (startup_module_t){info->dlpi_addr, info->dlpi_phdr};
  return 0;
}

static int collect_module(struct dl_phdr_info *info, size_t size, void *arg) {
  if (module_count >= UNWIND_MAX_MODULES) return 1;
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  const uint8_t *hdr = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
      uintptr_t start = info->dlpi_addr + ph->p_vaddr;
      if (start < lo) lo = start;
      if (start + ph->p_memsz > hi) hi = start + ph->p_memsz;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      hdr = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
    }
  }
  if (hi > lo) modules[module_count] = (module_t){lo, hi, hdr, module_is_permanent(info, lo, hi)};
  module_count += hi > lo;
  return 0;
}

static int read_unloads(struct dl_phdr_info *info, size_t size, void *arg) {
  *(unsigned long long *)arg = info->dlpi_subs;
  return 1;
}

/* Every dl_iterate_phdr call of heapscope's sits between
 * unwind_loader_enter (false: fork is under way, make no call) and
 * unwind_loader_leave.  The loader holds its write lock through the call,
 * and glibc's fork resets only its other lock in the child: a child forked
 * meanwhile inherits the write lock held, and its first sample would wait
 * for it forever.  So fork first closes the gate and waits for the calls in
 * flight (unwind_fork_quiesce), holding no lock of ours while it waits: a
 * call in flight may be waiting for the loader's lock, held by a thread
 * whose own dl_iterate_phdr callback is inside malloc.  Sequentially
 * consistent: a caller that counted itself in before fork closed the gate
 * is waited for. */
bool unwind_loader_enter(void) {
  atomic_fetch_add(&loader_calls, 1);
  if (HS_LIKELY(!atomic_load(&loader_closed))) return true;
  atomic_fetch_sub(&loader_calls, 1);
  return false;
}
void unwind_loader_leave(void) { atomic_fetch_sub(&loader_calls, 1); }

/* The loader's count of modules unloaded; false while fork is under way. */
static bool loader_unloads(unsigned long long *subs) {
  if (!unwind_loader_enter()) return false;
  *subs = 0;
  dl_iterate_phdr(read_unloads, subs);
  unwind_loader_leave();
  return true;
}

/* Called by dl_iterate_phdr for each module, under the loader's lock:
 * takes unwind_lock at the first and, if modules were loaded or unloaded
 * since the table was built (an unloaded module's range must not be
 * looked up: its unwind table is gone), rebuilds the table from this and
 * the following calls; else stops.  *locked says the lock is held.
 *
 * unwind_lock may be taken under the loader's lock, never the loader's
 * lock under unwind_lock: a program may malloc inside a dl_iterate_phdr
 * callback of its own, and a sample there needs unwind_lock while holding
 * the loader's (tests/stress/loader_lock_test.c). */
static int lock_and_refresh(struct dl_phdr_info *info, size_t size, void *locked) {
  if (!*(bool *)locked) {
    hs_lock(&unwind_lock);
    *(bool *)locked = true;
    if (modules && info->dlpi_adds == modules_counts.adds && info->dlpi_subs == modules_counts.subs)
      return 1;
    if (!modules) modules = metadata_alloc(sizeof(module_t) * UNWIND_MAX_MODULES);
    if (!modules) return 1;
    module_count = 0;
    modules_counts = (loader_counts_t){info->dlpi_adds, info->dlpi_subs};
  }
  return collect_module(info, size, NULL);
}

/* Takes unwind_lock with the module table up to date; false (no lock
 * taken) while fork is under way. */
static bool lock_with_modules(void) {
  if (!unwind_loader_enter()) return false;
  bool locked = false;
  dl_iterate_phdr(lock_and_refresh, &locked);
  unwind_loader_leave();
  if (!locked) hs_lock(&unwind_lock); /* the loader reported no module */
  return true;
}

/* pre: unwind_lock held, the table up to date (lock_with_modules). */
static const module_t *find_module_locked(uintptr_t pc) {
  for (int i = 0; i < module_count; i++)
    if (pc >= modules[i].start && pc < modules[i].end) return &modules[i];
  return NULL;
}

/* ---- FDE lookup and interpretation ---- */

typedef struct reg_rule {
  uint8_t kind;   /* 0 same value, 1 saved at CFA + offset, 2 unknown/undefined */
  int64_t offset;
} reg_rule_t;

typedef struct frame_state {
  int cfa_reg;
  int64_t cfa_offset;
  bool cfa_unsupported;
  reg_rule_t rbp, ra;
} frame_state_t;

typedef struct cie {
  uint64_t code_align;
  int64_t data_align;
  uint64_t ra_reg;
  uint8_t fde_encoding;
  bool augmented;
  const uint8_t *insns, *insns_end;
} cie_t;

static bool parse_cie(const uint8_t *p, cie_t *cie) {
  uint32_t length32;
  memcpy(&length32, p, 4);
  if (length32 == 0 || length32 == 0xffffffff) return false;
  const uint8_t *end = p + 4 + length32;
  p += 8; /* length, CIE id */
  uint8_t version = *p++;
  const char *aug = (const char *)p;
  while (p < end && *p) p++;
  p++;
  cie->code_align = read_uleb(&p, end);
  cie->data_align = read_sleb(&p, end);
  cie->ra_reg = version == 1 ? *p++ : read_uleb(&p, end);
  cie->fde_encoding = 0; /* absptr */
  cie->augmented = aug[0] == 'z';
  if (cie->augmented) {
    uint64_t aug_len = read_uleb(&p, end);
    const uint8_t *aug_end = p + aug_len;
    for (const char *a = aug + 1; *a && p < aug_end; a++) {
      uintptr_t ignored;
      switch (*a) {
        case 'R': cie->fde_encoding = *p++; break;
        case 'L': p++; break;
        case 'P': { uint8_t enc = *p++; if (!read_encoded(&p, aug_end, enc & 0x7f, 0, &ignored)) return false; break; }
        case 'S': break;
        default: return false;
      }
    }
    p = aug_end;
  } else if (aug[0]) {
    return false;
  }
  cie->insns = p;
  cie->insns_end = end;
  return true;
}

static void set_rule(frame_state_t *s, uint64_t reg, uint8_t kind, int64_t offset) {
  if (reg == REG_RBP) s->rbp = (reg_rule_t){kind, offset};
  else if (reg == REG_RA) s->ra = (reg_rule_t){kind, offset};
}

/* Runs CFA instructions [p, end) until the row covering `pc` is reached.
 * `initial` is the state after the CIE's instructions (for restore). */
static bool run_cfa(const uint8_t *p, const uint8_t *end, const cie_t *cie, uintptr_t loc,
                    uintptr_t pc, frame_state_t *s, const frame_state_t *initial) {
  frame_state_t saved[8];
  int saved_count = 0;
  while (p < end) {
    uint8_t op = *p++;
    uint64_t reg, delta = 0;
    switch (op >> 6) {
      case 1: delta = (op & 0x3f) * cie->code_align; goto advance;
      case 2: reg = op & 0x3f; set_rule(s, reg, 1, (int64_t)read_uleb(&p, end) * cie->data_align); continue;
      case 3:
        reg = op & 0x3f;
        if (initial) set_rule(s, reg, reg == REG_RBP ? initial->rbp.kind : initial->ra.kind,
                              reg == REG_RBP ? initial->rbp.offset : initial->ra.offset);
        continue;
    }
    switch (op) {
      case 0x00: continue;
      case 0x01: {
        uintptr_t to;
        if (!read_encoded(&p, end, cie->fde_encoding, 0, &to)) return false;
        if (to > pc) return true;
        loc = to;
        continue;
      }
      case 0x02: delta = *p++ * cie->code_align; goto advance;
      case 0x03: { uint16_t v; memcpy(&v, p, 2); p += 2; delta = v * cie->code_align; goto advance; }
      case 0x04: { uint32_t v; memcpy(&v, p, 4); p += 4; delta = v * cie->code_align; goto advance; }
      case 0x05: reg = read_uleb(&p, end); set_rule(s, reg, 1, (int64_t)read_uleb(&p, end) * cie->data_align); continue;
      case 0x06:
        reg = read_uleb(&p, end);
        if (initial) set_rule(s, reg, reg == REG_RBP ? initial->rbp.kind : initial->ra.kind,
                              reg == REG_RBP ? initial->rbp.offset : initial->ra.offset);
        continue;
      case 0x07: set_rule(s, read_uleb(&p, end), 2, 0); continue;
      case 0x08: set_rule(s, read_uleb(&p, end), 0, 0); continue;
      case 0x09: reg = read_uleb(&p, end); read_uleb(&p, end); set_rule(s, reg, 2, 0); continue;
      case 0x0a: if (saved_count < 8) saved[saved_count++] = *s; continue;
      case 0x0b: if (saved_count > 0) *s = saved[--saved_count]; continue;
      case 0x0c: s->cfa_reg = (int)read_uleb(&p, end); s->cfa_offset = (int64_t)read_uleb(&p, end); s->cfa_unsupported = false; continue;
      case 0x0d: s->cfa_reg = (int)read_uleb(&p, end); continue;
      case 0x0e: s->cfa_offset = (int64_t)read_uleb(&p, end); continue;
      case 0x0f: { uint64_t len = read_uleb(&p, end); p += len; s->cfa_unsupported = true; continue; }
      case 0x10: case 0x16: { reg = read_uleb(&p, end); uint64_t len = read_uleb(&p, end); p += len; set_rule(s, reg, 2, 0); continue; }
      case 0x11: reg = read_uleb(&p, end); set_rule(s, reg, 1, read_sleb(&p, end) * cie->data_align); continue;
      case 0x12: s->cfa_reg = (int)read_uleb(&p, end); s->cfa_offset = read_sleb(&p, end) * cie->data_align; s->cfa_unsupported = false; continue;
      case 0x13: s->cfa_offset = read_sleb(&p, end) * cie->data_align; continue;
      case 0x14: case 0x15: reg = read_uleb(&p, end); (op == 0x14 ? (void)read_uleb(&p, end) : (void)read_sleb(&p, end)); set_rule(s, reg, 2, 0); continue;
      case 0x2e: read_uleb(&p, end); continue;
      case 0x2f: reg = read_uleb(&p, end); set_rule(s, reg, 1, -(int64_t)read_uleb(&p, end) * cie->data_align); continue;
      default: return false;
    }
  advance:
    if (loc + delta > pc) return true;
    loc += delta;
  }
  return true;
}

/* Finds the FDE covering pc in `module` and computes its packed rule. */
static uint64_t compute_rule_locked(const module_t *module, uintptr_t pc) {
  const uint8_t *hdr = module->eh_frame_hdr;
  if (!hdr || hdr[0] != 1 || hdr[3] != 0x3b) return RULE_VALID | RULE_STOP;
  const uint8_t *p = hdr + 4, *far = hdr + 16;
  uintptr_t eh_frame, count;
  if (!read_encoded(&p, far, hdr[1], (uintptr_t)hdr, &eh_frame) ||
      !read_encoded(&p, far, hdr[2], (uintptr_t)hdr, &count) || count == 0)
    return RULE_VALID | RULE_STOP;
  const int32_t *table = (const int32_t *)p;
  uintptr_t lo = 0, hi = count; /* last entry with start <= pc */
  if ((uintptr_t)hdr + (intptr_t)table[0] > pc) return RULE_VALID | RULE_STOP;
  while (hi - lo > 1) {
    uintptr_t mid = lo + (hi - lo) / 2;
    if ((uintptr_t)hdr + (intptr_t)table[2 * mid] <= pc) lo = mid; else hi = mid;
  }
  const uint8_t *fde = hdr + (intptr_t)table[2 * lo + 1];
  uint32_t length32;
  memcpy(&length32, fde, 4);
  if (length32 == 0 || length32 == 0xffffffff) return RULE_VALID | RULE_STOP;
  const uint8_t *fde_end = fde + 4 + length32;
  int32_t cie_offset;
  memcpy(&cie_offset, fde + 4, 4);
  cie_t cie;
  if (!parse_cie(fde + 4 - cie_offset, &cie)) return RULE_VALID | RULE_STOP;
  p = fde + 8;
  uintptr_t pc_begin, pc_range;
  if (!read_encoded(&p, fde_end, cie.fde_encoding, 0, &pc_begin) ||
      !read_encoded(&p, fde_end, cie.fde_encoding & 0x0f, 0, &pc_range))
    return RULE_VALID | RULE_STOP;
  if (pc < pc_begin || pc >= pc_begin + pc_range) return RULE_VALID | RULE_STOP;
  if (cie.augmented) {
    uint64_t aug_len = read_uleb(&p, fde_end);
    p += aug_len;
  }
  frame_state_t state = {.cfa_reg = REG_RSP, .cfa_offset = 8, .rbp = {0, 0}, .ra = {1, -8}};
  if (!run_cfa(cie.insns, cie.insns_end, &cie, pc_begin, UINTPTR_MAX, &state, NULL))
    return RULE_VALID | RULE_STOP;
  frame_state_t initial = state;
  if (!run_cfa(p, fde_end, &cie, pc_begin, pc, &state, &initial)) return RULE_VALID | RULE_STOP;
  if (state.cfa_unsupported || (state.cfa_reg != REG_RSP && state.cfa_reg != REG_RBP) ||
      state.cfa_offset < 8 || state.cfa_offset > INT32_MAX || state.ra.kind != 1 ||
      state.ra.offset != -8 || state.rbp.kind == 2 ||
      (state.rbp.kind == 1 && (state.rbp.offset < INT16_MIN || state.rbp.offset > INT16_MAX)))
    return RULE_VALID | RULE_STOP;
  uint64_t rule = RULE_VALID | (uint32_t)(int32_t)state.cfa_offset;
  if (state.cfa_reg == REG_RBP) rule |= RULE_CFA_RBP;
  if (state.rbp.kind == 1) rule |= RULE_RBP_SAVED | ((uint64_t)(uint16_t)(int16_t)state.rbp.offset << 48);
  return rule;
}

/* The table is 2-way set-associative: a set of two entries for each 32
 * bytes of code.  Within a 64 KiB stretch of code the set follows the
 * address, so a page of the table covers 4 KiB of code and the return
 * addresses of a program's hot paths fill a few pages rather than one page
 * each (direct-mapped with an entry per 4 bytes of code, a page covered
 * 1 KiB: bench/suite/strcat made 6-13 pages resident, now 5); stretches
 * start at scattered sets.  Two ways keep two calls within 32 bytes of each other
 * both cached; a third displaces the older of the two. */
static cache_entry_t *cache_set(uintptr_t pc) {
  uint64_t stretch = (uint64_t)(pc >> 16) * 0x9E3779B97F4A7C15ull;
  uint64_t set = (pc >> 5) + (stretch >> (64 - UNWIND_CACHE_SET_BITS));
  return &rule_cache[2 * (set & (((uint64_t)1 << UNWIND_CACHE_SET_BITS) - 1))];
}

/* A capture's generation, asked of the loader at its first frame whose
 * rule is not permanent (known: asked). */
typedef struct capture_generation {
  bool known;
  uint64_t value;
} capture_generation_t;

static bool current_generation(uint64_t *out);

/* Asks for the capture's generation if it has not yet; false while fork
 * is under way. */
static bool know_generation(capture_generation_t *generation) {
  if (HS_LIKELY(generation->known)) return true;
  generation->known = current_generation(&generation->value);
  return generation->known;
}

/* True if `entry` holds a rule for `pc` (*rule_out: it). */
static bool entry_matches(const cache_entry_t *entry, uintptr_t pc, uint64_t *rule_out) {
  uint64_t rule = atomic_load_explicit(&entry->rule, memory_order_relaxed);
  uint64_t key = atomic_load_explicit(&entry->key, memory_order_relaxed);
  *rule_out = rule;
  return (rule & RULE_VALID) && (key ^ rule) == pc;
}

/* True if `entry` holds the rule for `pc` valid in `generation`. */
static bool entry_holds(const cache_entry_t *entry, uintptr_t pc, uint64_t generation,
                        uint64_t *rule_out) {
  return entry_matches(entry, pc, rule_out) &&
         ((*rule_out & RULE_PERMANENT) || (*rule_out & RULE_GENERATION_MASK) == generation);
}

static void entry_store(cache_entry_t *entry, uintptr_t pc, uint64_t rule) {
  atomic_store_explicit(&entry->rule, rule, memory_order_relaxed);
  atomic_store_explicit(&entry->key, pc ^ rule, memory_order_relaxed);
}

/* pre: unwind_lock held.  Caches `rule` for `pc` in `set`: the newest in
 * way 0, the one it displaces in way 1 (a racing reader sees a torn
 * entry, which never validates, and recomputes). */
static void store_rule_locked(cache_entry_t *set, uintptr_t pc, uint64_t rule) {
  uint64_t older = atomic_load_explicit(&set[0].rule, memory_order_relaxed);
  uintptr_t older_pc = (uintptr_t)(atomic_load_explicit(&set[0].key, memory_order_relaxed) ^ older);
  if (older & RULE_VALID) entry_store(&set[1], older_pc, older);
  entry_store(&set[0], pc, rule);
}

/* A rule missing from the cache for a `pc` that the module table, however
 * old, places in a permanent module: such a module is never unloaded, so
 * its entry still holds and the rule needs no loader call.  False, with
 * nothing cached, for any other pc.  Out of line: inlined, it cost the
 * cached path of every frame an instruction. */
HS_NOINLINE HS_COLD static bool permanent_rule(uintptr_t pc, cache_entry_t *set,
                                               uint64_t *rule_out) {
  if (tls_fork_holds_lock) return false;
  hs_lock(&unwind_lock);
  const module_t *module = find_module_locked(pc);
  bool permanent = module && module->permanent;
  if (permanent) {
    *rule_out = compute_rule_locked(module, pc) | RULE_PERMANENT;
    store_rule_locked(set, pc, *rule_out);
  }
  hs_unlock(&unwind_lock);
  return permanent;
}

/* The rule for `pc`: a permanent one as cached or computed, any other
 * valid in the capture's generation (asked for here if need be). */
HS_INLINE uint64_t rule_for(uintptr_t pc, capture_generation_t *capture) {
  cache_entry_t *set = cache_set(pc);
  uint64_t rule;
  for (int way = 0; way < 2; way++) {
    if (!entry_matches(&set[way], pc, &rule)) continue;
    if (HS_LIKELY(rule & RULE_PERMANENT)) return rule;
    if (!know_generation(capture)) return RULE_VALID | RULE_STOP; /* fork under way */
    if ((rule & RULE_GENERATION_MASK) == capture->value) return rule;
  }
  if (permanent_rule(pc, set, &rule)) return rule;
  if (!know_generation(capture)) return RULE_VALID | RULE_STOP;
  uint64_t generation = capture->value;
  if (!lock_with_modules()) return RULE_VALID | RULE_STOP; /* fork under way: stop here */
  /* Another thread may have cached it meanwhile: not again, nor twice. */
  if (entry_holds(&set[0], pc, generation, &rule) || entry_holds(&set[1], pc, generation, &rule)) {
    hs_unlock(&unwind_lock);
    return rule;
  }
  const module_t *module = find_module_locked(pc);
  rule = module ? compute_rule_locked(module, pc) | (module->permanent ? RULE_PERMANENT : 0)
                : (RULE_VALID | RULE_STOP);
  rule |= generation;
  store_rule_locked(set, pc, rule);
  hs_unlock(&unwind_lock);
  return rule;
}

static bool ensure_cache(void) {
  if (HS_LIKELY(__atomic_load_n(&rule_cache, __ATOMIC_ACQUIRE) != NULL)) return true;
  if (tls_fork_holds_lock) return false;
  hs_lock(&unwind_lock);
  if (!rule_cache) {
    cache_entry_t *cache = metadata_alloc(sizeof(cache_entry_t) << UNWIND_CACHE_BITS);
    __atomic_store_n(&rule_cache, cache, __ATOMIC_RELEASE);
  }
  hs_unlock(&unwind_lock);
  return rule_cache != NULL;
}

/* pre: unwind_lock held.  Zeroes every entry, giving the whole pages back
 * to the OS (they read back as zeros). */
static void empty_cache_locked(void) {
  uintptr_t start = (uintptr_t)rule_cache, end = start + (sizeof(cache_entry_t) << UNWIND_CACHE_BITS);
  uintptr_t page = os_page_size();
  uintptr_t lo = (start + page - 1) & ~(page - 1), hi = end & ~(page - 1);
  if (lo >= hi) lo = hi = end;
  else os_release((void *)lo, hi - lo);
  for (cache_entry_t *e = rule_cache; (uintptr_t)e < lo; e++) entry_store(e, 0, 0);
  for (cache_entry_t *e = (cache_entry_t *)hi; (uintptr_t)e < end; e++) entry_store(e, 0, 0);
}

/* The generation whose rules are valid now: the next one if the loader
 * has unloaded a module since the generation began.  After 4096
 * generations the table is emptied, so an old generation's entries never
 * validate again. */
static bool current_generation(uint64_t *out) {
  unsigned long long subs;
  if (!loader_unloads(&subs)) return false;
  if (HS_LIKELY(subs == atomic_load_explicit(&generation_subs, memory_order_acquire))) {
    *out = atomic_load_explicit(&rule_generation, memory_order_relaxed);
    return true;
  }
  hs_lock(&unwind_lock);
  if (subs != atomic_load_explicit(&generation_subs, memory_order_relaxed)) {
    uint64_t next = (atomic_load_explicit(&rule_generation, memory_order_relaxed) +
                     ((uint64_t)1 << RULE_GENERATION_SHIFT)) & RULE_GENERATION_MASK;
    if (next == 0) empty_cache_locked();
    atomic_store_explicit(&rule_generation, next, memory_order_relaxed);
    atomic_store_explicit(&generation_subs, subs, memory_order_release);
  }
  *out = atomic_load_explicit(&rule_generation, memory_order_relaxed);
  hs_unlock(&unwind_lock);
  return true;
}

/* Steps out of the frame that `pc` returns into (whose stack pointer is
 * `sp`, RBP `bp`) and up the stack, filling pcs[depth..max) with the
 * return addresses of the frames above.  A return address may sit just
 * past its call's function (noreturn callees): each rule is looked up at
 * pc - 1, inside the call. */
HS_NOINLINE static int walk(uintptr_t *pcs, int depth, int max, uintptr_t pc, uintptr_t sp,
                            uintptr_t bp) {
  capture_generation_t generation = {false, 0};
  for (int step = 0; step < UNWIND_MAX_STEPS && depth < max; step++) {
    uint64_t rule = rule_for(pc - 1, &generation);
    if (rule & RULE_STOP) break;
    uintptr_t cfa = ((rule & RULE_CFA_RBP) ? bp : sp) + (intptr_t)RULE_CFA_OFFSET(rule);
    if (cfa <= sp || cfa - sp > UNWIND_MAX_FRAME_BYTES || (cfa & 7)) break;
    uintptr_t return_address = *(const uintptr_t *)(cfa - 8);
    if (rule & RULE_RBP_SAVED) bp = *(const uintptr_t *)(cfa + RULE_RBP_OFFSET(rule));
    sp = cfa;
    pc = return_address;
    if (pc < 4096) break;
    pcs[depth++] = pc;
  }
  return depth;
}

__attribute__((noinline)) int unwind_capture(uintptr_t *pcs, int max) {
  if (!ensure_cache()) return 0;
  /* pc: the address after the lea, as a call's return address would be
   * (the lea changes no stack, so pc - 1 has the same rule). */
  uintptr_t pc, sp, bp;
  __asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
                   : "=r"(pc), "=r"(sp), "=r"(bp));
  return walk(pcs, 0, max, pc, sp, bp);
}

/* The walk starts in the frame of the entry point's caller: its stack
 * pointer is the entry point's CFA, its pc the return address below that,
 * and `caller_rbp` its RBP, which the caller of this function read where
 * it still held the entry point's caller's value (unwind.h).  Heapscope's
 * own frames are not walked. */
__attribute__((noinline)) int unwind_capture_caller(uintptr_t *pcs, int max, uintptr_t entry_cfa,
                                                    uintptr_t caller_rbp) {
  uintptr_t sp;
  __asm__ volatile("mov %%rsp, %0" : "=r"(sp));
  if (max <= 0 || entry_cfa <= sp || entry_cfa - sp > UNWIND_MAX_FRAME_BYTES || (entry_cfa & 7) ||
      !ensure_cache())
    return 0;
  uintptr_t pc = *(const uintptr_t *)(entry_cfa - 8);
  if (pc < 4096) return 0;
  pcs[0] = pc;
  return walk(pcs, 1, max, pc, entry_cfa, caller_rbp);
}

/* Every module listed now is one loaded at start-up if no dlopen has
 * added one yet: so at the process's first allocation, as dlopen
 * allocates the new module's record before listing it. */
void unwind_note_startup_modules(void) {
  if (atomic_load(&startup_module_count) != 0 || !unwind_loader_enter()) return;
  int noted = 0;
  dl_iterate_phdr(note_startup_module, &noted);
  unwind_loader_leave();
  atomic_store_explicit(&startup_module_count, noted, memory_order_release);
}

static int warm_module(struct dl_phdr_info *info, size_t size, void *arg) { return 0; }

void unwind_warm_up(void) {
  if (!ensure_cache() || !unwind_loader_enter()) return;
  dl_iterate_phdr(warm_module, NULL); /* the loader's own first-use work */
  unwind_loader_leave();
  if (lock_with_modules()) hs_unlock(&unwind_lock);
  /* No capture here: the loader's frames it would walk appear in no sample,
   * and each would make a page of the rule cache resident. */
}

/* Waits at most about a second: a thread that forks from inside its own
 * dl_iterate_phdr callback holds the loader's lock, and a call in flight
 * waiting for it would never end. */
void unwind_fork_quiesce(void) {
  atomic_store(&loader_closed, 1);
  for (int spin = 0; atomic_load(&loader_calls) != 0 && spin < 100 + 10000; spin++) {
    if (spin < 100) {
      __builtin_ia32_pause();
    } else {
      struct timespec pause = {0, 100 * 1000};
      nanosleep(&pause, NULL);
    }
  }
}
void unwind_fork_prepare(void) {
  hs_lock(&unwind_lock);
  tls_fork_holds_lock = true;
}
/* A child forked while another thread of the program was inside a loader
 * call keeps the gate closed for good (loader.h): its samples have no
 * stack, where a loader call would wait forever; so does such a child
 * after a fork of its own. */
void unwind_fork_parent(void) {
  tls_fork_holds_lock = false;
  hs_unlock(&unwind_lock);
  atomic_store(&loader_closed, loader_locked_in_child() ? 1 : 0);
}
void unwind_fork_child(void) {
  tls_fork_holds_lock = false;
  hs_lock_reset(&unwind_lock);
  atomic_store(&loader_calls, 0);
  atomic_store(&loader_closed, loader_locked_in_child() ? 1 : 0);
}
