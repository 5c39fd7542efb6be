/* profile_fuzz.c — libFuzzer target for the CLI's profile reader: decodes
 * arbitrary bytes (gzip or raw) as profile.proto and, when that succeeds,
 * runs every analysis the commands run (each sample index, focus/ignore/tag
 * filters, the flame tree and its HTML writer).  Built by `make fuzz` with
 * clang -fsanitize=fuzzer,address,undefined; seeds in tests/fuzz/corpus/.
 * With -DPROFILE_FUZZ_REPLAY it is a plain program that runs its arguments
 * (files) through the same code, for compilers without libFuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "flame.h"
#include "profile_model.h"

/* Keeps gzip bombs within the fuzzer's memory limit. */
#define FUZZ_MAX_UNPACKED_BYTES ((size_t)64 << 20)

static void exercise(const profile *prof, const analysis_options *options, FILE *sink) {
  analysis a;
  char err[512];
  if (analysis_build(&a, prof, options, err, sizeof err) != 0) return;
  uint32_t *order = analysis_sorted_nodes(&a, 0);
  if (order && a.node_count) fprintf(sink, "%s %lld\n", a.nodes[order[0]].name, (long long)a.total);
  free(order);
  flame_tree tree;
  if (flame_build(&tree, &a) == 0) {
    int64_t threshold = flame_output_threshold(&tree, tree.frames[0].value / 1000, 5000);
    flame_write_html(sink, &tree, threshold, "fuzz");
  }
  free(tree.frames);
  analysis_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char err[512];
  profile *prof = profile_decode(data, size, FUZZ_MAX_UNPACKED_BYTES, err, sizeof err);
  if (!prof) return 0;
  FILE *sink = fopen("/dev/null", "w");
  if (!sink) abort();
  analysis_options options;
  memset(&options, 0, sizeof options);
  exercise(prof, &options, sink);
  for (size_t i = 0; i < prof->sample_type_count && i < 8; i++) {
    options.sample_index_name = prof->sample_types[i].type;
    exercise(prof, &options, sink);
  }
  memset(&options, 0, sizeof options);
  options.focus = "main|a";
  options.ignore = "runtime\\.";
  options.tags[0] = "bytes=512";
  options.tags[1] = "thread=worker";
  options.tag_count = 2;
  exercise(prof, &options, sink);
  fclose(sink);
  profile_free(prof);
  return 0;
}

#ifdef PROFILE_FUZZ_REPLAY
int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    FILE *file = fopen(argv[i], "rb");
    if (!file) {
      fprintf(stderr, "profile_fuzz: cannot open %s\n", argv[i]);
      return 2;
    }
    static uint8_t buffer[1 << 24];
    size_t n = fread(buffer, 1, sizeof buffer, file);
    fclose(file);
    LLVMFuzzerTestOneInput(buffer, n);
  }
  printf("profile_fuzz: replayed %d inputs\n", argc - 1);
  return 0;
}
#endif
