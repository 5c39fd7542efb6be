/* metadata.c — bump allocation of bookkeeping memory from 1 MiB chunks
 * mapped by os.c; requests of a chunk or more are mapped on their own.
 * Guarded by metadata_lock (innermost lock: nothing is called while it is
 * held except os_map).  May call: os, base. */
#include "metadata.h"

#include "base.h"
#include "os.h"

static hs_lock_t metadata_lock;
static char *chunk_next;   /* guarded by metadata_lock */
static char *chunk_end;    /* guarded by metadata_lock */
static _Atomic uint64_t sys_bytes;

void *metadata_alloc(size_t bytes) {
  bytes = (bytes + HS_CACHELINE - 1) & ~(size_t)(HS_CACHELINE - 1);
  if (bytes >= METADATA_CHUNK_BYTES / 4) {
    size_t page = os_page_size();
    size_t mapped = (bytes + page - 1) & ~(page - 1);
    void *p = os_map(mapped, page);
    if (p) hs_relaxed_add(&sys_bytes, mapped);
    return p;
  }
  hs_lock(&metadata_lock);
  if ((size_t)(chunk_end - chunk_next) < bytes) {
    char *chunk = os_map(METADATA_CHUNK_BYTES, os_page_size());
    if (!chunk) { hs_unlock(&metadata_lock); return NULL; }
    hs_relaxed_add(&sys_bytes, METADATA_CHUNK_BYTES);
    chunk_next = chunk;
    chunk_end = chunk + METADATA_CHUNK_BYTES;
  }
  void *p = chunk_next;
  chunk_next += bytes;
  hs_unlock(&metadata_lock);
  return p;
}

uint64_t metadata_sys_bytes(void) { return hs_relaxed_load(&sys_bytes); }

void metadata_fork_prepare(void) { hs_lock(&metadata_lock); }
void metadata_fork_parent(void) { hs_unlock(&metadata_lock); }
void metadata_fork_child(void) { hs_lock_reset(&metadata_lock); }
