/* pagemap_test.c — how the page map labels a small-object span's pages
 * (src/pagemap.c), on a span record made up for pages no heap uses (the
 * top of the 48-bit space, above user space), for spans of a few pages
 * and of many (which take other stores):
 *  1. pagemap_set_span_locked points every page of a span that straddles
 *     two leaves at it and gives each its class byte, and leaves the pages
 *     just outside it as they were.
 *  2. pagemap_clear_classes_locked sets every page's class byte to 0 and
 *     keeps the span pointers, again only inside the span.
 * The map is read through the lookups free() and realloc() use. */
#include <stdint.h>

#include "pagemap.h"
#include "testlib.h"

enum { SPAN_CLASS = 42, NEIGHBOUR_CLASS = 9 };

static span_t span, before, after;

static void *address_of_page(uintptr_t page) { return (void *)(page << HS_PAGE_SHIFT); }

static uint32_t class_of_page(uintptr_t page) {
  uintptr_t size_class = UINT32_MAX;
  return pagemap_class_of(page << HS_PAGE_SHIFT, &size_class) ? (uint32_t)size_class : UINT32_MAX;
}

/* Checks the pages of `span` and its two neighbours against the classes
 * they should hold. */
static bool labels_are(uint32_t span_class, const char *step) {
  bool ok = true;
  for (uintptr_t i = 0; i < span.page_count; i++) {
    uintptr_t page = span.first_page + i;
    span_t *holder = pagemap_span_of(address_of_page(page));
    ok &= CHECK_MSG(holder == &span && class_of_page(page) == span_class,
                    "%s: page %zu of %zu (leaf %zu) holds span %p class %u, want %p class %u", step,
                    (size_t)i, span.page_count, (size_t)(page >> PAGEMAP_LEAF_BITS),
                    (void *)holder, class_of_page(page),
                    (void *)&span, span_class);
  }
  ok &= CHECK_MSG(pagemap_span_of(address_of_page(before.first_page)) == &before &&
                      class_of_page(before.first_page) == NEIGHBOUR_CLASS,
                  "%s: the page before the span changed", step);
  ok &= CHECK_MSG(pagemap_span_of(address_of_page(after.first_page)) == &after &&
                      class_of_page(after.first_page) == NEIGHBOUR_CLASS,
                  "%s: the page after the span changed", step);
  return ok;
}

/* A span of `pages` pages, `below` of them before the last leaf's first
 * page, and a one-page span on each side of it. */
static void label_and_clear(uintptr_t below, uintptr_t pages) {
  uintptr_t last_leaf = ((uintptr_t)1 << PAGEMAP_ROOT_BITS) - 1;
  span.first_page = (last_leaf << PAGEMAP_LEAF_BITS) - below;
  span.page_count = pages;
  before.first_page = span.first_page - 1;
  after.first_page = span.first_page + pages;
  before.page_count = after.page_count = 1;
  if (!CHECK(pagemap_ensure_locked(before.first_page, pages + 2))) return;
  pagemap_set_span_locked(&before, NEIGHBOUR_CLASS);
  pagemap_set_span_locked(&after, NEIGHBOUR_CLASS);
  pagemap_set_span_locked(&span, SPAN_CLASS);
  if (!labels_are(SPAN_CLASS, "set")) return;
  pagemap_clear_classes_locked(&span);
  labels_are(0, "cleared");
}

TEST(labels_a_span_across_two_leaves) {
  label_and_clear(3, 7);
  label_and_clear(21, 43);
}

int main(void) {
  /* One thread, on pages nothing else labels: no page-heap lock needed. */
  RUN(labels_a_span_across_two_leaves);
  return testlib_done();
}
