# heapscope — build, test, install.
#   make            library (build/libheapscope.so, .a) and CLI (build/heapscope)
#   make test       every test (tests/run.sh)
#   make demo       run the bundled example under heapscope
#   make hardened   build/hardened/libheapscope.so (every handout checks the free tag)
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

# What the allocator itself links beyond libc: nothing (no libm: src/hsmath.h).
LIB_LIBS :=
LIB_SRCS := $(wildcard src/*.c)
LIB_HDRS := $(wildcard src/*.h) include/heapscope.h
LIB_OBJS := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS))
UBSAN_OBJS := $(patsubst src/%.c,$(BUILD)/ubsan/obj/%.o,$(LIB_SRCS))
HARDENED_OBJS := $(patsubst src/%.c,$(BUILD)/hardened/obj/%.o,$(LIB_SRCS))

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
# Profile tests (tests/prof/*_test.sh): each tests/prof/NAME.c is built as the
# issue's acceptance asks (-O1 -g -fomit-frame-pointer) twice: NAME with the
# library objects linked in (internals reachable), NAME.plain for LD_PRELOAD
# (not for fake_*.c, which call internals).
PROF_FLAGS := $(BASEFLAGS) -O1 -g -fomit-frame-pointer -fno-builtin -Iinclude -Itests -Isrc -pthread
PROF_BINS := $(patsubst tests/prof/%.c,$(BUILD)/tests/prof/%,$(wildcard tests/prof/*.c))
PROF_PLAIN := $(addsuffix .plain,$(filter-out $(BUILD)/tests/prof/fake_%,$(PROF_BINS)))

.PHONY: all test demo install clean sizeclasses ubsan hardened tests bench-prof bench cli-tests fuzz \
        bench-suite bench-suite-bins
all: $(BUILD)/libheapscope.so $(BUILD)/libheapscope.a $(BUILD)/heapscope

# malloc.c (the entry points and every path from them to a sample) never
# writes RBP, so a sample reads RBP as the entry point's caller left it and
# its stack walk starts in that caller's frame (unwind_capture_caller);
# tests/unit/fixed_rbp_test.sh checks the code.
FIXED_RBP_OBJS := $(foreach dir,obj ubsan/obj hardened/obj,$(BUILD)/$(dir)/malloc.o)
$(FIXED_RBP_OBJS): LIBFLAGS += -ffixed-rbp

$(BUILD)/obj/%.o: src/%.c $(LIB_HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -c $< -o $@

$(BUILD)/libheapscope.so: $(LIB_OBJS) src/exports.map
	$(CC) -shared -o $@ $(LIB_OBJS) -Wl,--version-script=src/exports.map \
	  -Wl,-z,now -Wl,-soname,libheapscope.so -pthread $(LIB_LIBS)

# One relocatable object with every internal symbol made local, so a static
# link sees only the malloc family and hs_*.
$(BUILD)/libheapscope.a: $(LIB_OBJS)
	ld -r -o $(BUILD)/heapscope.o $(LIB_OBJS)
	objcopy --localize-hidden $(BUILD)/heapscope.o
	rm -f $@ && ar rcs $@ $(BUILD)/heapscope.o

$(BUILD)/heapscope: $(wildcard cli/*.c cli/*.h) include/heapscope.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -Iinclude -o $@ $(filter %.c,$^) -lm -lz -lstdc++

# Benchmark harness (include/heapscope_bench.h, docs/benchmarks.md):
# build/libheapscope_bench.a, the programs tests/bench/*.c and the worked
# example examples/bench_invoice/, linked with it and libheapscope.a.
BENCH_LIB := $(BUILD)/libheapscope_bench.a
BENCH_BINS := $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c)) \
              $(BUILD)/examples/bench_invoice
$(BUILD)/bench/obj/bench.o: bench/harness/bench.c include/heapscope_bench.h include/heapscope.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -Iinclude -pthread -c $< -o $@
$(BENCH_LIB): $(BUILD)/bench/obj/bench.o
	rm -f $@ && ar rcs $@ $<
$(BUILD)/bench/%: tests/bench/%.c $(BENCH_LIB) $(BUILD)/libheapscope.a include/heapscope_bench.h tests/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -Iinclude -Itests -pthread -o $@ $< $(BENCH_LIB) $(BUILD)/libheapscope.a -lm -ldl
$(BUILD)/examples/bench_invoice: $(wildcard examples/bench_invoice/*.[ch]) $(BENCH_LIB) $(BUILD)/libheapscope.a
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -Iinclude -pthread -o $@ $(filter %.c,$^) $(BENCH_LIB) $(BUILD)/libheapscope.a -lm
bench: $(BENCH_LIB) $(BENCH_BINS)

# Allocator benchmark suite (bench/suite/*.c, docs/performance.md): one
# program per workload, run under heapscope and the peer allocators by
# bench/run.sh.  `make bench-suite` runs it (~15 min; QUICK=1 for a short
# pass); `make test` only smoke-runs the programs (tests/bench/suite_smoke_test.sh).
SUITE_FLAGS := $(BASEFLAGS) -fno-builtin-malloc -fno-builtin-free -fno-builtin-calloc \
               -fno-builtin-realloc -pthread
SUITE_BINS := $(patsubst bench/suite/%.c,$(BUILD)/bench-suite/%,$(wildcard bench/suite/*.c))
$(BUILD)/bench-suite/%: bench/suite/%.c bench/suite/suite.h
	@mkdir -p $(dir $@)
	$(CC) $(SUITE_FLAGS) -o $@ $< -lm
bench-suite-bins: $(SUITE_BINS)
bench-suite: all $(SUITE_BINS)
	BUILD=$(BUILD) bash bench/run.sh $(if $(QUICK),--quick)

# CLI profile tools (docs/cli.md): a helper for tests/cli/heapscope_profiles_test.sh and
# the profile reader's libFuzzer target; `make fuzz` runs it FUZZ_SECONDS.
CLI_READER_SRCS := cli/proto_reader.c cli/profile_model.c cli/http_fetch.c cli/analysis.c cli/units.c \
                   cli/report.c cli/flame.c cli/flame_html.c cli/command_options.c cli/demangle.c
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
$(BUILD)/cli-tests/report_check: tests/cli/report_check.c $(CLI_READER_SRCS) $(wildcard cli/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -Icli -o $@ $(filter %.c,$^) -lm -lz -lstdc++
$(BUILD)/fuzz/profile_fuzz: tests/fuzz/profile_fuzz.c $(CLI_READER_SRCS) $(wildcard cli/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	  -fno-sanitize-recover=undefined -Icli -o $@ $(filter %.c,$^) -lm -lz -lstdc++
cli-tests: $(BUILD)/cli-tests/report_check $(BUILD)/fuzz/profile_fuzz
fuzz: $(BUILD)/fuzz/profile_fuzz
	@mkdir -p $(BUILD)/fuzz/corpus
	$(BUILD)/fuzz/profile_fuzz -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=2048 \
	  -max_len=65536 $(BUILD)/fuzz/corpus tests/fuzz/corpus

# The allocator built with UndefinedBehaviorSanitizer, for one test pass.
$(BUILD)/ubsan/obj/%.o: src/%.c $(LIB_HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -fsanitize=undefined -fno-sanitize-recover=all -c $< -o $@
$(BUILD)/ubsan/libheapscope.so: $(UBSAN_OBJS) src/exports.map
	$(CC) -shared -o $@ $(UBSAN_OBJS) -fsanitize=undefined \
	  -Wl,--version-script=src/exports.map -Wl,-soname,libheapscope.so -pthread
ubsan: $(BUILD)/ubsan/libheapscope.so

# The hardened build (docs/design.md, Error detection): every object handed
# out has its free tag checked.  tests/run.sh runs death_test's cases for it.
$(BUILD)/hardened/obj/%.o: src/%.c $(LIB_HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAGS) -DHS_HARDENED -c $< -o $@
$(BUILD)/hardened/libheapscope.so: $(HARDENED_OBJS) src/exports.map
	$(CC) -shared -o $@ $(HARDENED_OBJS) -Wl,--version-script=src/exports.map \
	  -Wl,-z,now -Wl,-soname,libheapscope.so -pthread $(LIB_LIBS)
hardened: $(BUILD)/hardened/libheapscope.so

$(BUILD)/tests/%: tests/api/%.c tests/testlib.h include/heapscope.h
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) -o $@ $< -ldl
$(BUILD)/tests/%: tests/stress/%.c tests/testlib.h $(wildcard tests/stress/*.h) include/heapscope.h
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) -o $@ $< -ldl
# They interpose dl_iterate_phdr, which the preloaded library must see.
$(BUILD)/tests/loader_lock_test $(BUILD)/tests/fork_loader_test: TESTFLAGS += -rdynamic
$(BUILD)/tests/%.linked: tests/api/%.c tests/testlib.h $(BUILD)/libheapscope.a
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) -rdynamic -o $@ $< $(BUILD)/libheapscope.a -ldl $(LIB_LIBS)
$(BUILD)/tests/%.linked: tests/stress/%.c tests/testlib.h $(wildcard tests/stress/*.h) $(BUILD)/libheapscope.a
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) -rdynamic -o $@ $< $(BUILD)/libheapscope.a -ldl $(LIB_LIBS)
$(BUILD)/tests/unit_%: tests/unit/%.c $(LIB_OBJS) tests/testlib.h $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(TESTFLAGS) $(UNIT_CFLAGS) -Isrc -o $@ $< $(LIB_OBJS) -ldl -lm $(UNIT_LIBS)
# Linked with zlib: a library the loader lists at start-up.
$(BUILD)/tests/unit_unwind_startup_test: UNIT_LIBS := -lz
$(BUILD)/tests/unit_unwind_caller_test: UNIT_CFLAGS := -ffixed-rbp

$(BUILD)/tests/prof/%: tests/prof/%.c $(LIB_OBJS) $(wildcard tests/prof/*.h) tests/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(PROF_FLAGS) -rdynamic -o $@ $< $(LIB_OBJS) -ldl $(LIB_LIBS)
$(BUILD)/tests/prof/%.plain: tests/prof/%.c $(wildcard tests/prof/*.h) tests/testlib.h
	@mkdir -p $(dir $@)
	$(CC) $(PROF_FLAGS) -o $@ $< -ldl
# These export functions named as zlib's, as a program carrying its own
# zlib does (foreign_zlib_test.sh); the linked builds are -rdynamic anyway.
$(BUILD)/tests/prof/zlib_%.plain: PROF_FLAGS += -rdynamic
$(BUILD)/tests/prof/zlib_clash_libz $(BUILD)/tests/prof/zlib_clash_libz.plain: \
  PROF_FLAGS += -Wl,--no-as-needed -lz
$(BUILD)/tests/prof/zlib_clash_libz $(BUILD)/tests/prof/zlib_clash_libz.plain: tests/prof/zlib_clash.c

$(BUILD)/examples/%: examples/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 -Iinclude -pthread -o $@ $< -ldl

tests: all ubsan hardened $(TEST_BINS) $(TEST_LINKED) $(UNIT_BINS) $(EXAMPLE_BINS) bench bench-suite-bins $(PROF_BINS) $(PROF_PLAIN) cli-tests

test: tests
	BUILD=$(BUILD) PYTHON=$(PYTHON) bash tests/run.sh

demo: all $(EXAMPLE_BINS)
	@echo "== heapscope run: the demo program, profiled (one sample per 4 KiB allocated)"
	$(BUILD)/heapscope run -o $(BUILD)/demo.pb.gz --rate 4096 -- $(BUILD)/examples/demo
	@echo; echo "== heapscope top: functions by bytes allocated (flat and cumulative)"
	$(BUILD)/heapscope top -n 6 --sample-index=alloc_space $(BUILD)/demo.pb.gz
	@echo; echo "== heapscope tags: the same bytes split by the worker label"
	$(BUILD)/heapscope tags --sample-index=alloc_space $(BUILD)/demo.pb.gz
	$(BUILD)/heapscope flame --sample-index=alloc_space $(BUILD)/demo.pb.gz -o $(BUILD)/demo-flame.html
	@echo; echo "Open $(BUILD)/demo-flame.html for a flame graph; go tool pprof reads $(BUILD)/demo.pb.gz too."

# The profiler's overhead, measured (a benchmark: prints figures, asserts nothing).
$(BUILD)/bench/prof_overhead: bench/prof_overhead.c $(BUILD)/libheapscope.a include/heapscope.h
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O2 -fno-builtin -Iinclude -pthread -o $@ $< $(BUILD)/libheapscope.a $(LIB_LIBS)
bench-prof: $(BUILD)/bench/prof_overhead
	$(BUILD)/bench/prof_overhead

# Regenerate the size-class table (the tests check it is up to date).
sizeclasses:
	$(PYTHON) tools/gen_size_classes.py > src/size_class_table.c

install: all $(BENCH_LIB)
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include \
	  $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/libheapscope.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 $(BUILD)/libheapscope.a $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/heapscope.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 include/heapscope_bench.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BENCH_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/heapscope $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' heapscope.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/heapscope.pc

clean:
	rm -rf $(BUILD)
