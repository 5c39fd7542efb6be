# heapscope — build, test, install.
#   make            library (build/libheapscope.so, .a) and CLI (build/heapscope)
#   make test       every test (tests/run.sh)
#   make demo       run the bundled example under heapscope
#   make install PREFIX=/usr/local

CC       ?= cc
PREFIX   ?= /usr/local
BUILD    ?= build
PYTHON   ?= python3

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter
BASEFLAGS:= -std=c11 -D_GNU_SOURCE -g -O2 $(WARN)
# The allocator: hidden by default, exported names come from src/exports.map.
LIBFLAGS := $(BASEFLAGS) -fPIC -fvisibility=hidden -ftls-model=initial-exec -fno-semantic-interposition \
            -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc \
            -fno-builtin-realloc -fno-stack-protector -Iinclude -Isrc
TESTFLAGS:= $(BASEFLAGS) -O1 -fno-builtin -Iinclude -Itests -pthread

LIB_SRCS := $(wildcard src/*.c)
LIB_HDRS := $(wildcard src/*.h) include/heapscope.h
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
UBSAN_OBJS := $(patsubst src/%.c,$(BUILD)/ubsan/obj/%.o,$(LIB_SRCS))

# Tests: every tests/{api,stress}/NAME.c is one program, built twice:
#   build/tests/NAME         plain (glibc malloc unless LD_PRELOAD'ed)
#   build/tests/NAME.linked  linked with build/libheapscope.a (static replacement)
TEST_SRCS := $(wildcard tests/api/*.c tests/stress/*.c)
TEST_BINS := $(patsubst %.c,$(BUILD)/tests/%,$(notdir $(TEST_SRCS)))
TEST_LINKED := $(addsuffix .linked,$(TEST_BINS))
# Unit tests see the internals (-Isrc) and link the objects directly.
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit_%,$(UNIT_SRCS))
EXAMPLE_BINS := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

.PHONY: all test demo install clean sizeclasses ubsan tests
all: $(BUILD)/libheapscope.so $(BUILD)/libheapscope.a $(BUILD)/heapscope

$(BUILD)/obj/%.o: src/%.c $(LIB_HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -c $< -o $@

$(BUILD)/libheapscope.so: $(LIB_OBJS) src/exports.map
	$(CC) -shared -o $@ $(LIB_OBJS) -Wl,--version-script=src/exports.map \
	  -Wl,-z,now -Wl,-soname,libheapscope.so -pthread

# One relocatable object with every internal symbol made local, so a static
# link sees only the malloc family and hs_*.
$(BUILD)/libheapscope.a: $(LIB_OBJS)
	ld -r -o $(BUILD)/heapscope.o $(LIB_OBJS)
	objcopy --localize-hidden $(BUILD)/heapscope.o
	rm -f $@ && ar rcs $@ $(BUILD)/heapscope.o

$(BUILD)/heapscope: $(wildcard cli/*.c cli/*.h) include/heapscope.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -Iinclude -o $@ $(filter %.c,$^)

# The allocator built with UndefinedBehaviorSanitizer, for one test pass.
$(BUILD)/ubsan/obj/%.o: src/%.c $(LIB_HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -fsanitize=undefined -fno-sanitize-recover=all -c $< -o $@
$(BUILD)/ubsan/libheapscope.so: $(UBSAN_OBJS) src/exports.map
	$(CC) -shared -o $@ $(UBSAN_OBJS) -fsanitize=undefined \
	  -Wl,--version-script=src/exports.map -Wl,-soname,libheapscope.so -pthread
ubsan: $(BUILD)/ubsan/libheapscope.so

$(BUILD)/tests/%: tests/api/%.c tests/testlib.h include/heapscope.h
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) -o $@ $< -ldl
$(BUILD)/tests/%: tests/stress/%.c tests/testlib.h include/heapscope.h
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) -o $@ $< -ldl
$(BUILD)/tests/%.linked: tests/api/%.c tests/testlib.h $(BUILD)/libheapscope.a
	$(CC) $(TESTFLAGS) -rdynamic -o $@ $< $(BUILD)/libheapscope.a -ldl
$(BUILD)/tests/%.linked: tests/stress/%.c tests/testlib.h $(BUILD)/libheapscope.a
	$(CC) $(TESTFLAGS) -rdynamic -o $@ $< $(BUILD)/libheapscope.a -ldl
$(BUILD)/tests/unit_%: tests/unit/%.c $(LIB_OBJS) tests/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) -Isrc -o $@ $< $(LIB_OBJS) -ldl

$(BUILD)/examples/%: examples/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 -Iinclude -pthread -o $@ $<

tests: all ubsan $(TEST_BINS) $(TEST_LINKED) $(UNIT_BINS) $(EXAMPLE_BINS)

test: tests
	BUILD=$(BUILD) PYTHON=$(PYTHON) bash tests/run.sh

demo: all $(EXAMPLE_BINS)
	$(BUILD)/heapscope run --stats -- $(BUILD)/examples/demo

# Regenerate the size-class table (the tests check it is up to date).
sizeclasses:
	$(PYTHON) tools/gen_size_classes.py > src/size_class_table.c

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/libheapscope.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/libheapscope.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/heapscope.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(BUILD)/heapscope $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' heapscope.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/heapscope.pc

clean:
	rm -rf $(BUILD)
