/* os.h — the contract with the kernel: address space in, pages out.  Every
 * size and address given here is a multiple of the OS page size (pre:), and
 * nothing here allocates or takes a lock.  Callers: metadata, pageheap, stats. */
#ifndef HS_OS_H
#define HS_OS_H

#include <stddef.h>
#include <stdint.h>

/* The kernel's page size (4 KiB on x86-64, 4–64 KiB on aarch64). */
size_t os_page_size(void);

/* Maps `bytes` of fresh zeroed read-write memory aligned to `alignment`
 * (a power of two ≥ the OS page size).  Returns NULL on failure, errno set. */
void *os_map(size_t bytes, size_t alignment);

/* Unmaps [addr, addr+bytes), from os_map.  pre: page-aligned.  Preserves
 * errno.  Returns 0 or -1. */
int os_unmap(void *addr, size_t bytes);

/* Returns [addr, addr+bytes) to the kernel; the range stays mapped and reads
 * back as zeros.  pre: page-aligned.  Preserves errno.  Returns 0 or -1. */
int os_release(void *addr, size_t bytes);

/* Resident set size of this process in bytes, from /proc/self/statm (0 if
 * unreadable).  Uses open/read only. */
uint64_t os_rss_bytes(void);

#endif /* HS_OS_H */
