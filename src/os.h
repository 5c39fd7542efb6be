/* os.h — the contract with the kernel: address space in, pages out, the
 * clock, background threads.  Every size and address given here is a
 * multiple of the OS page size (pre:), and nothing here allocates or takes
 * a lock, except os_start_thread.  Callers: metadata, pageheap, stats,
 * scavenger, profwrite, pprof, httpserver. */
#ifndef HS_OS_H
#define HS_OS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* The kernel's page size (4 KiB on x86-64, 4–64 KiB on aarch64). */
size_t os_page_size(void);

/* Maps `bytes` of fresh zeroed read-write memory aligned to `alignment`
 * (a power of two ≥ the OS page size), subject to the kernel's overcommit
 * policy as glibc's mappings are (no MAP_NORESERVE).  Returns NULL on
 * failure, errno set. */
void *os_map(size_t bytes, size_t alignment);

/* Unmaps [addr, addr+bytes), from os_map.  pre: page-aligned.  Preserves
 * errno.  Returns 0 or -1. */
int os_unmap(void *addr, size_t bytes);

/* Returns [addr, addr+bytes) to the kernel; the range stays mapped and reads
 * back as zeros.  pre: page-aligned.  Preserves errno.  Returns 0 or -1. */
int os_release(void *addr, size_t bytes);

/* Asks the kernel to back [addr, addr+bytes) with transparent huge pages
 * (MADV_HUGEPAGE) when it can.  pre: page-aligned.  Preserves errno.
 * Returns 0, or -1 where the kernel has no transparent huge pages. */
int os_advise_huge_pages(void *addr, size_t bytes);

/* Resident set size of this process in bytes, from /proc/self/statm (0 if
 * unreadable).  Uses open/read only. */
uint64_t os_rss_bytes(void);

/* clock_gettime(clock) in nanoseconds; CLOCK_MONOTONIC's if `clock` fails.
 * Inline: the page heap stamps every span it takes back. */
static inline int64_t os_clock_ns(clockid_t clock) {
  struct timespec ts = {0, 0};
  if (clock_gettime(clock, &ts) != 0 && clock != CLOCK_MONOTONIC) return os_clock_ns(CLOCK_MONOTONIC);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Starts a detached thread running fn(arg), with every signal blocked (the
 * program's signals go to the program's threads) and a stack of
 * stack_bytes (0: the default).  fn names itself: a detached thread may be
 * gone before this returns.  The one call here that allocates
 * (pthread_create): pre: no allocator lock held.  Returns 0 or an error
 * number; errno is preserved. */
int os_start_thread(void *(*fn)(void *), void *arg, size_t stack_bytes);

#endif /* HS_OS_H */
