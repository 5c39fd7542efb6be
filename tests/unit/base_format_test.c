/* base_format_test.c — checks src/base.c's allocation-free formatting
 * (hs_buf_*), which writes heapscope's messages and malloc_stats' report:
 * numbers at their limits, and the buffer never overrun. */
#include <stdint.h>
#include <string.h>

#include "base.h"
#include "testlib.h"

static const char *bytes_text(uint64_t v) {
  static char mem[64];
  hs_buf_t b = {mem, 0, sizeof mem - 1};
  hs_buf_bytes(&b, v);
  mem[b.len] = 0;
  return mem;
}

TEST(bytes) {
  static const struct { uint64_t v; const char *text; } cases[] = {
    {0, "0 B"},
    {1023, "1023 B"},
    {1024, "1.0 KiB"},
    {1536, "1.5 KiB"},
    {(uint64_t)10 << 20, "10.0 MiB"},
    {((uint64_t)3 << 30) + ((uint64_t)900 << 20), "3.8 GiB"},
    {(uint64_t)1 << 40, "1.0 TiB"},
    {(uint64_t)5 << 50, "5.0 PiB"},
    {(uint64_t)1 << 60, "1.0 EiB"},
    {UINT64_MAX / 10, "1.5 EiB"},
    {UINT64_MAX / 10 + 1, "1.5 EiB"}, /* the first value v * 10 would overflow */
    {(uint64_t)1 << 62, "4.0 EiB"},   /* a failed malloc's size once showed here */
    {UINT64_MAX, "15.9 EiB"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *got = bytes_text(cases[i].v);
    CHECK_MSG(strcmp(got, cases[i].text) == 0, "hs_buf_bytes(%llu) = \"%s\", want \"%s\"",
              (unsigned long long)cases[i].v, got, cases[i].text);
  }
}

TEST(numbers) {
  char mem[64];
  hs_buf_t b = {mem, 0, sizeof mem - 1};
  hs_buf_u64(&b, 0);
  hs_buf_str(&b, " ");
  hs_buf_u64(&b, UINT64_MAX);
  hs_buf_str(&b, " ");
  hs_buf_hex(&b, 0x1f);
  mem[b.len] = 0;
  CHECK_MSG(strcmp(mem, "0 18446744073709551615 0x1f") == 0, "got \"%s\"", mem);
}

TEST(never_overruns) {
  char mem[16];
  memset(mem, 'x', sizeof mem);
  hs_buf_t b = {mem, 0, 8};
  hs_buf_str(&b, "a string longer than the buffer");
  hs_buf_u64(&b, UINT64_MAX);
  hs_buf_bytes(&b, UINT64_MAX);
  CHECK_MSG(b.len <= 8, "len %zu past cap 8", b.len);
  for (size_t i = 8; i < sizeof mem; i++) CHECK_MSG(mem[i] == 'x', "byte %zu written", i);
}

int main(void) {
  RUN(bytes);
  RUN(numbers);
  RUN(never_overruns);
  return testlib_done();
}
