/* os.h — the contract with the kernel: address space in, pages out, the
 * clock, background threads.  Every size and address given here is a
 * multiple of the OS page size (pre:), and nothing here allocates or takes
 * a lock, except os_start_thread.  Callers: metadata, pageheap, stats,
 * scavenger, profwrite, pprof, httpserver. */
#ifndef HS_OS_H
#define HS_OS_H

#include <stdbool.h>
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

/* Resizes the mapping [addr, addr+old_bytes) to new_bytes with mremap,
 * moving it (its pages, not copies) where it cannot grow in place; the
 * new address, or NULL (ENOMEM) with the mapping unchanged. */
void *os_remap(void *addr, size_t old_bytes, size_t new_bytes);
/* The same, to exactly `to` (MREMAP_FIXED); `to` or NULL. */
void *os_remap_to(void *addr, size_t old_bytes, size_t new_bytes, void *to);

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

/* A descriptor heapscope just opened, moved above the standard streams:
 * a program that closed stdin, stdout or stderr gets the number back at
 * its own next open (or dup2s a file there) and must not find heapscope's
 * file in its place, nor have heapscope write to or close its own.  `fd`
 * is returned as it is when it is 3 or more; else a close-on-exec
 * duplicate of 3 or more, and `fd` is closed if it still names the same
 * file (a dup2 of the program's onto it between the open and the move is
 * left alone).  -1 with errno when no duplicate can be had (`fd`
 * is closed then).  Preserves errno otherwise. */
int os_fd_above_std(int fd);

/* clock_gettime(clock) in nanoseconds; CLOCK_MONOTONIC's if `clock` fails.
 * Inline: the page heap stamps every span it takes back. */
static inline int64_t os_clock_ns(clockid_t clock) {
  struct timespec ts = {0, 0};
  if (clock_gettime(clock, &ts) != 0 && clock != CLOCK_MONOTONIC) return os_clock_ns(CLOCK_MONOTONIC);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Starts a detached thread running fn(arg), with every signal blocked (the
 * program's signals go to the program's threads) and the default stack
 * (the program's exit handlers may run on it: below).  fn names itself: a
 * detached thread may be gone before this returns.  The one call here that
 * allocates (pthread_create): pre: no allocator lock held.  Returns 0 or
 * an error number; errno is preserved. */
int os_start_thread(void *(*fn)(void *), void *arg);

/* ---- The end of the process ----
 * glibc ends a process when its last thread ends, as if that thread called
 * exit(0).  heapscope's long-lived background threads never end, so once
 * every program thread has ended (main called pthread_exit, the others
 * returned) they would keep the process alive: a zombie main thread and
 * threads that block every signal, which only SIGKILL ends.  So each
 * long-lived background thread calls os_background_thread_begin first (and
 * os_background_thread_end if it returns), waits at most
 * OS_PROGRAM_END_CHECK_NS at a time, and on each wake asks
 * os_program_has_ended; the caller told yes leaves profiler work and calls
 * exit(0), which runs the program's atexit handlers and heapscope's exit
 * work as glibc's last thread would have.  The test reads /proc by path
 * only (readlink, stat), never through a descriptor of its own, so it
 * cannot take a number the program is about to reuse.  A short-lived thread (an HTTP
 * connection's) need not count itself: an uncounted thread only delays the
 * end until it has gone. */
#define OS_PROGRAM_END_CHECK_NS ((uint64_t)250 * 1000 * 1000)

void os_background_thread_begin(void);
void os_background_thread_end(void);

/* True, to one caller only, once the main thread has ended and every
 * thread left is a counted background thread: /proc/self/cwd, the main
 * thread's, no longer resolves (a thread past its exit has no file-system
 * context) and /proc/self/task counts one thread more than
 * the count (its link count is 2 + the threads, the main thread's zombie
 * among them).  Reads /proc at most twice every OS_PROGRAM_END_CHECK_NS
 * (false in between) and is false where /proc cannot be read.  Preserves
 * errno. */
bool os_program_has_ended(void);

/* The process's threads, heapscope's among them; 0 where /proc cannot be
 * read.  One stat of /proc/self/task (no descriptor).  Preserves errno. */
uint64_t os_process_threads(void);

/* The child of fork has no background threads (fork handler). */
void os_fork_child(void);

#endif /* HS_OS_H */
