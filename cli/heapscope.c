/* heapscope.c — the command-line tool.  `heapscope run -- CMD` runs CMD
 * with libheapscope.so preloaded.  An ordinary program: it uses libc's
 * malloc and never links the allocator's internals. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "heapscope.h"

static const char usage_text[] =
    "usage: heapscope <command> [options]\n"
    "\n"
    "commands:\n"
    "  run [--stats] -- CMD [ARGS...]   run CMD with heapscope as its malloc;\n"
    "                                   --stats prints allocator statistics at exit\n"
    "  version                          print the version\n"
    "  help                             print this text\n";

/* Finds libheapscope.so next to this executable (build tree) or in ../lib
 * (installed tree).  Returns 0 and fills out[], or -1. */
static int find_library(char *out, size_t out_size) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return -1;
  self[n] = 0;
  char *slash = strrchr(self, '/');
  if (!slash) return -1;
  *slash = 0;
  static const char *const candidates[] = {"/libheapscope.so", "/../lib/libheapscope.so"};
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s%s", self, candidates[i]) >= (int)sizeof path) continue;
    if (access(path, R_OK) == 0 && realpath(path, out) && strlen(out) < out_size) return 0;
  }
  return -1;
}

/* Prepends `value` to the ':'- or ','-separated variable `name`. */
static int prepend_env(const char *name, const char *value, char separator) {
  const char *old = getenv(name);
  if (!old || !*old) return setenv(name, value, 1);
  size_t len = strlen(value) + 1 + strlen(old) + 1;
  char *joined = malloc(len);
  if (!joined) return -1;
  snprintf(joined, len, "%s%c%s", value, separator, old);
  int rc = setenv(name, joined, 1);
  free(joined);
  return rc;
}

static int command_run(int argc, char **argv) {
  int stats = 0, i = 0;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--stats") == 0) stats = 1;
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage_text, stdout);
      return 0;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "heapscope run: unknown option '%s' (accepted: --stats, --)\n", argv[i]);
      return 2;
    } else {
      break; /* the command itself, without a "--" */
    }
  }
  if (i >= argc) {
    fputs("heapscope run: missing command (usage: heapscope run [--stats] -- CMD [ARGS...])\n",
          stderr);
    return 2;
  }
  char library[PATH_MAX];
  if (find_library(library, sizeof library) != 0) {
    fputs("heapscope run: cannot find libheapscope.so next to the heapscope executable or in "
          "../lib\n", stderr);
    return 2;
  }
  if (prepend_env("LD_PRELOAD", library, ':') != 0 ||
      (stats && prepend_env("HEAPSCOPE", "stats_at_exit=1", ',') != 0)) {
    perror("heapscope run: setenv");
    return 2;
  }
  pid_t child = fork();
  if (child < 0) {
    perror("heapscope run: fork");
    return 2;
  }
  if (child == 0) {
    execvp(argv[i], argv + i);
    fprintf(stderr, "heapscope run: cannot run '%s': %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) {
      perror("heapscope run: waitpid");
      return 2;
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    fputs(usage_text, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "run") == 0) return command_run(argc - 2, argv + 2);
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("heapscope %d.%d.%d\n", HEAPSCOPE_VERSION_MAJOR, HEAPSCOPE_VERSION_MINOR,
           HEAPSCOPE_VERSION_PATCH);
    return 0;
  }
  fprintf(stderr, "heapscope: unknown command '%s' (run 'heapscope help')\n", argv[1]);
  return 2;
}
