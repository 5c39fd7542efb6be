/* base.c — the slow halves of base.h: futex waits for hs_lock, message
 * formatting into fixed buffers for stderr, and the free tags' key.
 * Nothing here allocates, so any layer (and the abort path of a corrupted
 * heap) can call it. */
#include "base.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

uintptr_t hs_free_key;

static void futex_wait(_Atomic int *addr, int value) {
  syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

void hs_lock_wait(hs_lock_t *lock) {
  /* Spin briefly: critical sections are short, and a sleeping holder on a
   * 2-core machine is better met by a futex wait than by burning the core. */
  for (int spin = 0; spin < 100; spin++) {
    int expected = 0;
    if (hs_relaxed_load(&lock->state) == 0 &&
        atomic_compare_exchange_weak_explicit(&lock->state, &expected, 1, memory_order_acquire,
                                              memory_order_relaxed))
      return;
    __builtin_ia32_pause();
  }
  int saved_errno = errno;
  while (atomic_exchange_explicit(&lock->state, 2, memory_order_acquire) != 0)
    futex_wait(&lock->state, 2);
  errno = saved_errno;
}

void hs_lock_wake(hs_lock_t *lock) {
  int saved_errno = errno;
  syscall(SYS_futex, &lock->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  errno = saved_errno;
}

void hs_buf_str(hs_buf_t *b, const char *s) {
  while (*s && b->len < b->cap) b->data[b->len++] = *s++;
}

void hs_buf_u64(hs_buf_t *b, uint64_t v) {
  char tmp[24];
  int n = 0;
  do { tmp[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n > 0 && b->len < b->cap) b->data[b->len++] = tmp[--n];
}

void hs_buf_hex(hs_buf_t *b, uint64_t v) {
  char tmp[20];
  int n = 0;
  do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
  hs_buf_str(b, "0x");
  while (n > 0 && b->len < b->cap) b->data[b->len++] = tmp[--n];
}

void hs_buf_bytes(hs_buf_t *b, uint64_t v) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  uint64_t scaled10; /* tenths of the unit */
  if (v <= UINT64_MAX / 10) {
    scaled10 = v * 10;
  } else { /* above 1.8e18 bytes: in KiB first, which loses only bytes */
    scaled10 = v / 1024 * 10;
    unit = 1;
  }
  while (scaled10 >= 10240 && unit < 6) { scaled10 /= 1024; unit++; }
  hs_buf_u64(b, scaled10 / 10);
  if (unit > 0) { hs_buf_str(b, "."); hs_buf_u64(b, scaled10 % 10); }
  hs_buf_str(b, " ");
  hs_buf_str(b, units[unit]);
}

void hs_write_all(int fd, const char *data, size_t len) {
  int saved_errno = errno;
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data += n;
    len -= (size_t)n;
  }
  errno = saved_errno;
}

void hs_fatal_pointer(const char *call, const char *what, const void *ptr) {
  char mem[160];
  hs_buf_t b = {mem, 0, sizeof mem};
  hs_buf_str(&b, "heapscope: ");
  hs_buf_str(&b, call);
  hs_buf_str(&b, "(): ");
  hs_buf_str(&b, what);
  hs_buf_str(&b, " ");
  hs_buf_hex(&b, (uintptr_t)ptr);
  hs_buf_str(&b, "\n");
  hs_write_all(2, b.data, b.len);
  abort();
}

void hs_warn(const char *message) {
  char mem[512];
  hs_buf_t b = {mem, 0, sizeof mem};
  hs_buf_str(&b, "heapscope: ");
  hs_buf_str(&b, message);
  hs_buf_str(&b, "\n");
  hs_write_all(2, b.data, b.len);
}
