/* commands.h — the profile commands of the heapscope CLI (top, list, diff,
 * flame, tags) and the option parsing they share.  Each command_* takes the
 * arguments after its name and returns the exit status: 0 success, 2 usage
 * or input error (one line on stderr).  Single-threaded; ordinary libc. */
#ifndef HEAPSCOPE_CLI_COMMANDS_H
#define HEAPSCOPE_CLI_COMMANDS_H

#include "analysis.h"
#include "profile_model.h"

int command_top(int argc, char **argv);
int command_diff(int argc, char **argv);
int command_list(int argc, char **argv);
int command_flame(int argc, char **argv);
int command_tags(int argc, char **argv);

/* Which options a command accepts. */
enum {
  COMMAND_OPT_LIMIT = 1 << 0,      /* -n N */
  COMMAND_OPT_INDEX = 1 << 1,      /* --sample-index=NAME */
  COMMAND_OPT_CUM = 1 << 2,        /* --cum */
  COMMAND_OPT_FILTERS = 1 << 3,    /* --focus, --ignore, --tag */
  COMMAND_OPT_JSON = 1 << 4,       /* --json */
  COMMAND_OPT_OUTPUT = 1 << 5,     /* -o FILE */
  COMMAND_OPT_SOURCE_DIR = 1 << 6, /* --source-dir DIR */
};

#define COMMAND_MAX_POSITIONAL 4

typedef struct command_options {
  analysis_options analysis;
  long limit; /* -1: all */
  int by_cum, json;
  const char *output, *source_dir;
  const char *positional[COMMAND_MAX_POSITIONAL];
  size_t positional_count;
} command_options;

/* Parses argv.  Returns 0 (go on), 1 (--help was printed: exit 0) or 2
 * (usage error printed).  `positional` is how many operands are required. */
int command_parse(const char *name, const char *usage, unsigned accepted, size_t positional,
                  int argc, char **argv, command_options *out);

/* Loads a profile; on failure prints "heapscope NAME: PATH: reason". */
profile *command_load(const char *name, const char *path);

/* Builds the analysis; on failure prints "heapscope NAME: reason". */
int command_analyse(const char *name, analysis *out, const profile *prof,
                    const command_options *options);

/* command_load, then command_analyse into *out: the profile, or NULL with
 * the message printed and nothing left to free. */
profile *command_load_analysed(const char *name, const char *path,
                               const command_options *options, analysis *out);

#endif
