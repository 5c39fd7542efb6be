/* os.c — Linux implementation of os.h: mmap and munmap for address space,
 * madvise to give pages back, /proc for RSS, pthread_create for background
 * threads.  No locks, no malloc (but pthread_create's own); callers hold
 * whatever lock protects their own bookkeeping. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t cached_page_size;

size_t os_page_size(void) {
  size_t size = __atomic_load_n(&cached_page_size, __ATOMIC_RELAXED);
  if (size == 0) {
    long value = sysconf(_SC_PAGESIZE);
    size = value > 0 ? (size_t)value : 4096;
    __atomic_store_n(&cached_page_size, size, __ATOMIC_RELAXED);
  }
  return size;
}

void *os_map(size_t bytes, size_t alignment) {
  size_t page = os_page_size();
  if (alignment < page) alignment = page;
  size_t extra = alignment > page ? alignment - page : 0;
  if (bytes + extra < bytes) { errno = ENOMEM; return NULL; }
  char *raw = mmap(NULL, bytes + extra, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) { errno = ENOMEM; return NULL; }
  if (extra == 0) return raw;
  /* Trim the unaligned head and the unused tail. */
  uintptr_t start = ((uintptr_t)raw + alignment - 1) & ~(uintptr_t)(alignment - 1);
  size_t head = start - (uintptr_t)raw;
  size_t tail = extra - head;
  if (head) munmap(raw, head);
  if (tail) munmap((char *)start + bytes, tail);
  return (void *)start;
}

int os_unmap(void *addr, size_t bytes) {
  int saved_errno = errno;
  int rc = munmap(addr, bytes);
  errno = saved_errno;
  return rc;
}

int os_release(void *addr, size_t bytes) {
  int saved_errno = errno;
  int rc = madvise(addr, bytes, MADV_DONTNEED);
  errno = saved_errno;
  return rc;
}

int os_advise_huge_pages(void *addr, size_t bytes) {
  int saved_errno = errno;
  int rc = madvise(addr, bytes, MADV_HUGEPAGE);
  errno = saved_errno;
  return rc;
}

uint64_t os_rss_bytes(void) {
  int saved_errno = errno;
  uint64_t rss = 0;
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char text[128];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n > 0) {
      text[n] = 0;
      const char *p = text;
      while (*p && *p != ' ') p++;   /* skip total size */
      while (*p == ' ') p++;
      uint64_t pages = 0;
      while (*p >= '0' && *p <= '9') pages = pages * 10 + (uint64_t)(*p++ - '0');
      rss = pages * os_page_size();
    }
  }
  errno = saved_errno;
  return rss;
}

int os_start_thread(void *(*fn)(void *), void *arg, size_t stack_bytes) {
  int saved_errno = errno;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits it */
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  if (stack_bytes) pthread_attr_setstacksize(&attributes, stack_bytes);
  pthread_t thread;
  int error = pthread_create(&thread, &attributes, fn, arg);
  pthread_attr_destroy(&attributes);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = saved_errno;
  return error;
}
