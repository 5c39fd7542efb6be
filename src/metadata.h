/* metadata.h — the allocator's own allocator: memory for spans, page-map
 * leaves and other bookkeeping, taken straight from the OS and never from
 * malloc.  Memory is never returned; freed fixed-size records are recycled
 * by their owners (see pageheap's span free list).  Guarded by its own lock,
 * the innermost in the lock order. */
#ifndef HS_METADATA_H
#define HS_METADATA_H

#include <stddef.h>
#include <stdint.h>

/* Small requests are carved from chunks of this many bytes mapped at once. */
#define METADATA_CHUNK_BYTES ((size_t)1 << 20)

/* Zeroed memory, aligned to 64 bytes; NULL when the OS refuses. */
void *metadata_alloc(size_t bytes);

/* Bytes mapped for metadata so far. */
uint64_t metadata_sys_bytes(void);

/* fork support: take, release, and reset the metadata lock. */
void metadata_fork_prepare(void);
void metadata_fork_parent(void);
void metadata_fork_child(void);

#endif /* HS_METADATA_H */
