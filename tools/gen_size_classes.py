#!/usr/bin/env python3
"""gen_size_classes.py -- owns heapscope's size-class table.

Prints the C file src/size_class_table.c to stdout:
    python3 tools/gen_size_classes.py > src/size_class_table.c   (make sizeclasses)
It checks every constraint below itself and exits 1 with a message on stderr
(printing nothing on stdout) if one is violated.

Constraints
  * Page = 8 KiB (HS_PAGE_SHIFT 13, heapscope's page, not the OS page);
    largest class = 256 KiB (SIZE_CLASS_MAX_BYTES 262144).
  * Class 0 is reserved (bytes 0, "not a small object").  Classes 1..N-1 are
    strictly increasing multiples of 16, starting at 16 and ending at 262144.
    N (SIZE_CLASS_COUNT, class 0 included) <= 128 so a class fits 7 bits.
  * Every power of two 16..262144 is a class: an object of a class whose size
    is a multiple of A, in a page-aligned span, is A-aligned (aligned alloc).
  * Classes above SIZE_CLASS_SMALL_LOOKUP_MAX (1024) are multiples of 128, so
    the coarse lookup table indexed by (size+127)>>7 is exact.
  * Rounding waste: class i >= 2 serves requests as small as bytes[i-1]+1, so
    max_waste(i) = (bytes[i] - bytes[i-1] - 1) / bytes[i] must be <= 12.5% for
    every class above 128 bytes.  Up to 128 every multiple of 16 is a class:
    the 16-byte alignment floor makes 12.5% impossible there (e.g. 17 -> 32),
    but the absolute waste is at most 15 bytes.  Classes are chosen greedily,
    each the largest step allowed (fewest classes), capped at the next power of
    two so those are all included.
  * Pages per span: the smallest p in 1..32 whose tail waste
    (p*8192 mod bytes) / (p*8192) <= 12.5% and whose span holds at least
    min(8, 262144 // bytes) objects (at least 1).
  * Objects per span = p*8192 // bytes.  Batch (objects moved between a thread
    cache and a central list at once) = clamp(65536 // bytes, 2, 32).
  * Division by magic: for every offset in [0, p*8192),
    (offset * (uint64_t)div_magic) >> SIZE_CLASS_DIV_SHIFT == offset // bytes,
    with div_magic = ceil(2^SHIFT / bytes) a uint32 (product < 2^18 * 2^32).
    SHIFT is 35, the largest for which class 16's magic (2^31) fits 32 bits;
    the rounding error of a magic is harmless iff offset * (magic*bytes -
    2^SHIFT) < 2^SHIFT over the span, which a few classes near 256 KiB miss,
    so the greedy step also skips (by 128) any candidate whose magic is not
    exact.  Verified for every offset of every class (see magic_ok).
  * Multiple test: size_class_multiple_magic = ceil(2^64 / bytes); an offset
    in a span is a multiple of bytes iff offset * magic (mod 2^64) < magic,
    one multiply and one compare on free's path (see
    choose_multiple_magics for why it is exact there).
  * Lookup: size_class_index_small[(size+15)>>4] for sizes 0..1024 and
    size_class_index_large[(size+127)>>7] for 1025..262144 give the smallest
    class >= size (size 0 -> class 1); verified for every size 0..262144.
"""

import sys

PAGE_SHIFT = 13
PAGE = 1 << PAGE_SHIFT
MAX_BYTES = 262144
SMALL_LOOKUP_MAX = 1024
ALIGN_SMALL = 16          # class granularity up to SMALL_LOOKUP_MAX
ALIGN_LARGE = 128         # class granularity above it
DENSE_MAX = 128           # every multiple of 16 up to here is a class
MAX_WASTE = 0.125         # rounding waste and span tail waste bound
MAX_PAGES = 32
MIN_OBJECTS = 8
BATCH_BYTES = 8192          # objects moved per transfer: 8 KiB worth, clamped below
BATCH_MIN, BATCH_MAX = 2, 32
MAX_COUNT = 128
DIV_SHIFT = 35            # see the docstring; magic for 16 is 2^31
SMALL_ENTRIES = SMALL_LOOKUP_MAX // 16 + 1         # 65
LARGE_ENTRIES = MAX_BYTES // 128 + 1               # 2049


def fail(msg):
    sys.stderr.write("gen_size_classes.py: constraint violated: %s\n" % msg)
    sys.exit(1)


def require(cond, msg):
    if not cond:
        fail(msg)


def max_waste(classes, i):
    """Worst rounding waste of class i >= 2 (request bytes[i-1]+1)."""
    return (classes[i] - classes[i - 1] - 1) / classes[i]


def choose_pages(size):
    """Smallest page count meeting the tail-waste and object-count bounds, or None."""
    want = max(1, min(MIN_OBJECTS, MAX_BYTES // size))
    for p in range(1, MAX_PAGES + 1):
        span = p * PAGE
        if (span % size) / span <= MAX_WASTE and span // size >= want:
            return p
    return None


def magic_of(size):
    return -(-(1 << DIV_SHIFT) // size)       # ceil(2^DIV_SHIFT / size)


def usable(size):
    """A candidate class needs a page count and an exact division magic."""
    p = choose_pages(size)
    return p is not None and magic_of(size) < 1 << 32 and \
        magic_ok(size, magic_of(size), DIV_SHIFT, p * PAGE)


def choose_classes():
    classes = [0]
    classes += list(range(ALIGN_SMALL, DENSE_MAX + 1, ALIGN_SMALL))
    while classes[-1] < MAX_BYTES:
        prev = classes[-1]
        # Largest b with (b - prev - 1) / b <= MAX_WASTE, i.e. b <= (prev+1)/(1-MAX_WASTE),
        # computed exactly: b*7 <= (prev+1)*8; capped at the next power of two.
        b = min((prev + 1) * 8 // 7, 1 << prev.bit_length(), MAX_BYTES)
        align = ALIGN_SMALL if b <= SMALL_LOOKUP_MAX else ALIGN_LARGE
        b -= b % align
        while b > prev and not usable(b):
            b -= align
        require(b > prev, "no usable class after %d" % prev)
        classes.append(b)
    return classes


def magic_ok(size, m, shift, limit):
    """True if (off*m) >> shift == off // size for every off in [0, limit).

    f(off) = (off*m) >> shift is monotone non-decreasing in off and so is
    off // size.  If f(k*size) == k and f(last) == k where last is the final
    offset of that quotient's run (min((k+1)*size, limit) - 1), then f is
    squeezed between k and k on the whole run, so checking both ends of every
    run covers every offset."""
    k = 0
    while k * size < limit:
        first = k * size
        last = min(first + size, limit) - 1
        if (first * m) >> shift != k or (last * m) >> shift != k:
            return False
        k += 1
    return True


def choose_magics(classes, pages):
    magics = [0]
    for i in range(1, len(classes)):
        size, limit = classes[i], pages[i] * PAGE
        m = magic_of(size)
        require(m < 1 << 32, "class %d magic %d exceeds 32 bits" % (i, m))
        require((limit - 1) * m < 1 << 64, "class %d magic product exceeds 64 bits" % i)
        require(magic_ok(size, m, DIV_SHIFT, limit), "class %d magic %d inexact" % (i, m))
        magics.append(m)
    return magics


def choose_multiple_magics(classes, pages):
    """Per class c = ceil(2^64 / bytes): offset is a multiple of bytes iff
    (offset * c) mod 2^64 < c.  With e = bytes*c - 2^64 (0 <= e < bytes) and
    offset = q*bytes + r, (offset * c) mod 2^64 = q*e + r*c as long as that
    stays below 2^64, which (q + 1) * e < c ensures for r < bytes; then r = 0
    gives q*e < c and r >= 1 gives at least c.  Checked for the largest q in
    a span."""
    magics = [0]
    for i in range(1, len(classes)):
        size, limit = classes[i], pages[i] * PAGE
        c = ((1 << 64) - 1) // size + 1
        e = size * c - (1 << 64)
        require(0 <= e < size and c < 1 << 64, "class %d multiple magic out of range" % i)
        require((limit // size + 1) * e < c, "class %d multiple magic inexact" % i)
        magics.append(c)
    return magics


def smallest_class(classes, size):
    for i in range(1, len(classes)):
        if classes[i] >= size:
            return i
    fail("no class holds %d bytes" % size)


def build_lookup(classes):
    small = [smallest_class(classes, j * 16) for j in range(SMALL_ENTRIES)]
    large = [smallest_class(classes, j * 128) for j in range(LARGE_ENTRIES)]
    # Verify every size against a direct scan (one pass, classes ascending).
    c = 1
    for size in range(0, MAX_BYTES + 1):
        while classes[c] < size:
            c += 1
        got = small[(size + 15) >> 4] if size <= SMALL_LOOKUP_MAX else large[(size + 127) >> 7]
        require(got == c, "lookup for size %d gives class %d, want %d" % (size, got, c))
    return small, large


def check(classes, pages, objects, batch):
    n = len(classes)
    require(n <= MAX_COUNT, "%d classes > %d" % (n, MAX_COUNT))
    require(classes[0] == 0 and classes[1] == 16 and classes[-1] == MAX_BYTES,
            "classes must start at 16 and end at %d" % MAX_BYTES)
    for i in range(1, n):
        b = classes[i]
        require(b % 16 == 0, "class %d (%d) not a multiple of 16" % (i, b))
        require(b <= SMALL_LOOKUP_MAX or b % 128 == 0,
                "class %d (%d) above %d not a multiple of 128" % (i, b, SMALL_LOOKUP_MAX))
        if i >= 2:
            require(b > classes[i - 1], "classes not increasing at %d" % i)
            if b > DENSE_MAX:
                require(max_waste(classes, i) <= MAX_WASTE,
                        "class %d (%d) waste %.2f%%" % (i, b, 100 * max_waste(classes, i)))
        span = pages[i] * PAGE
        require(1 <= pages[i] <= MAX_PAGES, "class %d pages %d" % (i, pages[i]))
        require((span % b) / span <= MAX_WASTE, "class %d tail waste" % i)
        require(1 <= objects[i] <= 65535 and objects[i] * b <= span, "class %d objects" % i)
        require(BATCH_MIN <= batch[i] <= BATCH_MAX, "class %d batch" % i)
    for b in range(16, DENSE_MAX + 1, 16):
        require(b in classes, "multiple of 16 %d missing" % b)
    p = 16
    while p <= MAX_BYTES:
        require(p in classes, "power of two %d missing" % p)
        p *= 2


def c_array(ctype, name, values, per_line):
    lines = ["const %s %s[%d] = {" % (ctype, name, len(values))]
    for k in range(0, len(values), per_line):
        lines.append("  " + ", ".join(str(v) for v in values[k:k + per_line]) + ",")
    lines.append("};")
    return "\n".join(lines)


def main():
    classes = choose_classes()
    n = len(classes)
    pages = [0] + [choose_pages(b) for b in classes[1:]]
    require(None not in pages[1:], "a class has no page count in 1..%d" % MAX_PAGES)
    objects = [0] + [pages[i] * PAGE // classes[i] for i in range(1, n)]
    batch = [0] + [max(BATCH_MIN, min(BATCH_MAX, BATCH_BYTES // b)) for b in classes[1:]]
    check(classes, pages, objects, batch)
    shift = DIV_SHIFT
    magics = choose_magics(classes, pages)
    multiple_magics = choose_multiple_magics(classes, pages)
    small, large = build_lookup(classes)
    worst = max(max_waste(classes, i) for i in range(2, n) if classes[i] > DENSE_MAX)

    out = []
    out.append("/* Generated by tools/gen_size_classes.py — DO NOT EDIT. "
               "Regenerate: make sizeclasses")
    out.append(" *")
    out.append(" * %d classes (class 0 reserved), page %d bytes, SIZE_CLASS_DIV_SHIFT %d." %
               (n, PAGE, shift))
    out.append(" * Worst rounding waste above %d bytes: %.3f%% (bound 12.5%%)." % (DENSE_MAX, 100 * worst))
    out.append(" *")
    out.append(" * class    bytes pages bytes/span objects tail%  maxwaste%  batch")
    for i in range(1, n):
        span = pages[i] * PAGE
        mw = "%8.3f%%" % (100 * max_waste(classes, i)) if i >= 2 else "%9s" % "-"
        out.append(" * %5d %8d %5d %10d %7d %5.2f%% %s %5d" %
                   (i, classes[i], pages[i], span, objects[i],
                    100 * (span % classes[i]) / span, mw, batch[i]))
    out.append(" */")
    out.append("")
    out.append('#include "size_class.h"')
    out.append("")
    out.append("_Static_assert(%d == SIZE_CLASS_COUNT, \"size_class.h SIZE_CLASS_COUNT: regenerate size classes\");" % n)
    out.append("_Static_assert(%d == SIZE_CLASS_DIV_SHIFT, \"size_class.h SIZE_CLASS_DIV_SHIFT: regenerate size classes\");" % shift)
    out.append("_Static_assert(%d == HS_PAGE_SHIFT, \"size_class.h HS_PAGE_SHIFT: regenerate size classes\");" % PAGE_SHIFT)
    out.append("_Static_assert(%d == SIZE_CLASS_MAX_BYTES, \"size_class.h SIZE_CLASS_MAX_BYTES: regenerate size classes\");" % MAX_BYTES)
    out.append("_Static_assert(%d == SIZE_CLASS_SMALL_LOOKUP_MAX, \"size_class.h SIZE_CLASS_SMALL_LOOKUP_MAX: regenerate size classes\");" % SMALL_LOOKUP_MAX)
    out.append("")
    out.append(c_array("uint32_t", "size_class_bytes", classes, 8))
    out.append("_Static_assert(sizeof(size_class_bytes) / sizeof(size_class_bytes[0]) == SIZE_CLASS_COUNT, \"regenerate size classes\");")
    out.append("")
    out.append(c_array("uint8_t", "size_class_pages", pages, 16))
    out.append("")
    out.append(c_array("uint16_t", "size_class_objects", objects, 12))
    out.append("")
    out.append(c_array("uint8_t", "size_class_batch", batch, 16))
    out.append("")
    out.append(c_array("uint32_t", "size_class_div_magic", ["%uu" % m for m in magics], 6))
    out.append("")
    out.append(c_array("uint64_t", "size_class_multiple_magic", ["%uu" % m for m in multiple_magics], 4))
    out.append("")
    out.append(c_array("uint8_t", "size_class_index_small", small, 16))
    out.append("")
    out.append(c_array("uint8_t", "size_class_index_large", large, 16))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
