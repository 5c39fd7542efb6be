/* os.c — Linux implementation of os.h: mmap and munmap for address space,
 * madvise to give pages back, /proc for RSS and for the end of the
 * process, pthread_create for background threads.  No locks, no malloc
 * (but pthread_create's own); callers hold whatever lock protects their
 * own bookkeeping. */
#include "os.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
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

void *os_remap(void *addr, size_t old_bytes, size_t new_bytes) {
  void *moved = mremap(addr, old_bytes, new_bytes, MREMAP_MAYMOVE);
  if (moved == MAP_FAILED) { errno = ENOMEM; return NULL; }
  return moved;
}

void *os_remap_to(void *addr, size_t old_bytes, size_t new_bytes, void *to) {
  void *moved = mremap(addr, old_bytes, new_bytes, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  if (moved == MAP_FAILED) { errno = ENOMEM; return NULL; }
  return moved;
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
  int fd = os_fd_above_std(open("/proc/self/statm", O_RDONLY | O_CLOEXEC));
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

int os_start_thread(void *(*fn)(void *), void *arg) {
  int saved_errno = errno;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the new thread inherits it */
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int error = pthread_create(&thread, &attributes, fn, arg);
  pthread_attr_destroy(&attributes);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  errno = saved_errno;
  return error;
}

int os_fd_above_std(int fd) {
  if (fd < 0 || fd > 2) return fd;
  int saved_errno = errno;
  int above = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (above < 0) {
    saved_errno = errno == EINVAL ? EMFILE : errno; /* RLIMIT_NOFILE of 3 or less */
    close(fd);
    errno = saved_errno;
    return -1;
  }
  struct stat was, is;
  if (fstat(fd, &was) == 0 && fstat(above, &is) == 0 && was.st_dev == is.st_dev &&
      was.st_ino == is.st_ino)
    close(fd);
  errno = saved_errno;
  return above;
}

/* ---- The end of the process ---- */

static _Atomic uint32_t background_threads;
/* Bumped after each begin's and end's change of the count: a reading of
 * /proc with no bump across it saw the count it was compared with.  The
 * count is never above the threads that exist (a thread counts itself once
 * it runs and uncounts itself before it ends), so a reading can only err
 * towards "not yet". */
static _Atomic uint64_t background_changes;
static _Atomic int64_t last_end_check_ns;
static _Atomic int end_claimed;

void os_background_thread_begin(void) {
  atomic_fetch_add(&background_threads, 1);
  atomic_fetch_add(&background_changes, 1);
}

void os_background_thread_end(void) {
  atomic_fetch_sub(&background_threads, 1);
  atomic_fetch_add(&background_changes, 1);
}

void os_fork_child(void) {
  atomic_store(&background_threads, 0);
  atomic_fetch_add(&background_changes, 1);
  atomic_store(&last_end_check_ns, 0);
  atomic_store(&end_claimed, 0);
}

/* Whether the main thread has ended: /proc/self/cwd is the main thread's,
 * and its readlink fails with ENOENT once that thread is past its exit
 * (do_exit drops the thread's file-system context before it becomes a
 * zombie), while it resolves for a live one.  By path: no descriptor is
 * opened. */
static bool main_thread_ended(void) {
  char target[8];
  return readlink("/proc/self/cwd", target, sizeof target) < 0 && errno == ENOENT;
}

/* The link count of /proc/self/task is 2 + the threads (a zombie main
 * thread counts until the process ends). */
uint64_t os_process_threads(void) {
  int saved_errno = errno;
  struct stat st;
  uint64_t threads = 0;
  if (stat("/proc/self/task", &st) == 0 && st.st_nlink >= 3) threads = (uint64_t)st.st_nlink - 2;
  errno = saved_errno;
  return threads;
}

bool os_program_has_ended(void) {
  int64_t now = os_clock_ns(CLOCK_MONOTONIC);
  if (now - atomic_load(&last_end_check_ns) < (int64_t)OS_PROGRAM_END_CHECK_NS / 2) return false;
  atomic_store(&last_end_check_ns, now);
  int saved_errno = errno;
  uint64_t changes = atomic_load(&background_changes);
  uint64_t counted = atomic_load(&background_threads);
  bool ended = os_process_threads() == counted + 1 && main_thread_ended() &&
               atomic_load(&background_changes) == changes;
  errno = saved_errno;
  int expected = 0;
  return ended && atomic_compare_exchange_strong(&end_claimed, &expected, 1);
}
