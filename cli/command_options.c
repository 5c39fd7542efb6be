/* command_options.c — argument parsing and profile loading shared by the
 * profile commands (see commands.h).  Accepts "--opt=value" and
 * "--opt value"; single-threaded; libc only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"

/* If argv[*i] is option `long_name` (or `short_name`), stores its value
 * (inline after '=' or the next argument) and returns 1; 0 if not this
 * option; -1 if the value is missing. */
static int option_value(int argc, char **argv, int *i, const char *long_name,
                        const char *short_name, const char **value) {
  const char *arg = argv[*i];
  const char *names[2] = {long_name, short_name};
  for (int n = 0; n < 2; n++) {
    if (!names[n]) continue;
    size_t len = strlen(names[n]);
    if (strncmp(arg, names[n], len) != 0) continue;
    if (arg[len] == '=') {
      *value = arg + len + 1;
      return 1;
    }
    if (arg[len] == 0) {
      if (*i + 1 >= argc) return -1;
      *value = argv[++*i];
      return 1;
    }
  }
  return 0;
}

int command_parse(const char *name, const char *usage, unsigned accepted, size_t positional,
                  int argc, char **argv, command_options *out) {
  memset(out, 0, sizeof *out);
  out->limit = -1;
  int only_operands = 0;
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    const char *value = NULL;
    int found;
    if (only_operands || arg[0] != '-' || arg[1] == 0) {
      if (out->positional_count >= positional) {
        fprintf(stderr, "heapscope %s: unexpected argument '%s' (see heapscope %s --help)\n", name,
                arg, name);
        return 2;
      }
      out->positional[out->positional_count++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      only_operands = 1;
      continue;
    }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage, stdout);
      return 1;
    }
#define TRY(flag, long_name, short_name)                                               \
  if ((accepted & (flag)) &&                                                           \
      (found = option_value(argc, argv, &i, long_name, short_name, &value)) != 0) {    \
    if (found < 0) {                                                                   \
      fprintf(stderr, "heapscope %s: option %s needs a value\n", name, arg);           \
      return 2;                                                                        \
    }
    TRY(COMMAND_OPT_LIMIT, "-n", "--nodecount")
      char *end;
      out->limit = strtol(value, &end, 10);
      if (!*value || *end || out->limit < 0) {
        fprintf(stderr, "heapscope %s: -n needs a non-negative number, not '%s'\n", name, value);
        return 2;
      }
      continue;
    }
    TRY(COMMAND_OPT_INDEX, "--sample-index", "--sample_index")
      out->analysis.sample_index_name = value;
      continue;
    }
    TRY(COMMAND_OPT_FILTERS, "--focus", NULL)
      out->analysis.focus = value;
      continue;
    }
    TRY(COMMAND_OPT_FILTERS, "--ignore", NULL)
      out->analysis.ignore = value;
      continue;
    }
    TRY(COMMAND_OPT_FILTERS, "--tag", NULL)
      if (out->analysis.tag_count >= ANALYSIS_MAX_TAGS) {
        fprintf(stderr, "heapscope %s: at most %d --tag options\n", name, ANALYSIS_MAX_TAGS);
        return 2;
      }
      out->analysis.tags[out->analysis.tag_count++] = value;
      continue;
    }
    TRY(COMMAND_OPT_OUTPUT, "-o", "--output")
      out->output = value;
      continue;
    }
    TRY(COMMAND_OPT_SOURCE_DIR, "--source-dir", NULL)
      out->source_dir = value;
      continue;
    }
#undef TRY
    if ((accepted & COMMAND_OPT_CUM) && strcmp(arg, "--cum") == 0) {
      out->by_cum = 1;
      continue;
    }
    if ((accepted & COMMAND_OPT_JSON) && strcmp(arg, "--json") == 0) {
      out->json = 1;
      continue;
    }
    fprintf(stderr, "heapscope %s: unknown option '%s' (see heapscope %s --help)\n", name, arg,
            name);
    return 2;
  }
  if (out->positional_count < positional) {
    fprintf(stderr, "heapscope %s: missing argument (see heapscope %s --help)\n", name, name);
    return 2;
  }
  return 0;
}

profile *command_load(const char *name, const char *path) {
  char err[512];
  profile *prof = profile_load(path, err, sizeof err);
  if (!prof) fprintf(stderr, "heapscope %s: %s: %s\n", name, path, err);
  return prof;
}

int command_analyse(const char *name, analysis *out, const profile *prof,
                    const command_options *options) {
  char err[768];
  if (analysis_build(out, prof, &options->analysis, err, sizeof err) == 0) return 0;
  fprintf(stderr, "heapscope %s: %s\n", name, err);
  return -1;
}

profile *command_load_analysed(const char *name, const char *path,
                               const command_options *options, analysis *out) {
  profile *prof = command_load(name, path);
  if (prof && command_analyse(name, out, prof, options) != 0) {
    profile_free(prof);
    return NULL;
  }
  return prof;
}
