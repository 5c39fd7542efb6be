/* heapscope.c — the command-line tool.  `heapscope run -- CMD` runs CMD
 * with libheapscope.so preloaded.  An ordinary program: it uses libc's
 * malloc and never links the allocator's internals. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "heapscope.h"
#include "bench_cli.h"
#include "report.h"
#include "commands.h"

static const char usage_text[] =
    "usage: heapscope <command> [options]\n"
    "\n"
    "commands:\n"
    "  run [-o FILE] [--rate BYTES] [--leaks] [--stats] [--http ADDR] -- CMD [ARGS...]\n"
    "                                   run CMD with heapscope as its malloc and profiler;\n"
    "                                   prints the top allocation sites at exit\n"
    "  budget check|ratchet|init ...    gate benchmark output on allocation budgets\n"
    "  bench-compare OLD NEW            compare two benchmark outputs (ns/op, B/op, allocs/op)\n"
    "  top FILE                         functions by allocation (pprof's top)\n"
    "  list REGEX FILE                  source lines of matching functions\n"
    "  diff BASE NEW                    per-function change between two profiles\n"
    "  flame FILE -o OUT.html|OUT.svg   flame graph\n"
    "  tags FILE                        label keys and values with their totals\n"
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

/* The file execvp would run for `command`: itself if it names a path, else
 * the first executable regular file of that name in $PATH (execvp's
 * default when unset).  Returns 0 and fills out[], or -1. */
static int find_command(const char *command, char *out, size_t out_size) {
  if (strchr(command, '/')) return snprintf(out, out_size, "%s", command) < (int)out_size ? 0 : -1;
  const char *path = getenv("PATH");
  if (!path) path = "/bin:/usr/bin";
  for (const char *dir = path;; dir++) {
    const char *end = strchrnul(dir, ':');
    int n = end == dir ? snprintf(out, out_size, "%s", command)
                       : snprintf(out, out_size, "%.*s/%s", (int)(end - dir), dir, command);
    struct stat st;
    if (n < (int)out_size && stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
      return 0;
    if (!*end) return -1;
    dir = end;
  }
}

/* Why the ELF program open at `fd` would run in the loader's secure mode
 * (the kernel's AT_SECURE), where LD_PRELOAD entries that name a path are
 * ignored, or NULL if it would not: set-user-ID to a user other than ours,
 * set-group-ID to another group (the set-group-ID bit counts only with
 * group execute), or, for a user other than root, file capabilities.  On a
 * file system mounted nosuid none of these takes effect. */
static const char *secure_mode_reason(int fd) {
  struct stat st;
  struct statvfs fs;
  if (fstat(fd, &st) != 0 || (fstatvfs(fd, &fs) == 0 && (fs.f_flag & ST_NOSUID))) return NULL;
  if ((st.st_mode & S_ISUID) && st.st_uid != getuid())
    return "is set-user-ID to another user, so the loader runs it in secure mode and ignores "
           "LD_PRELOAD";
  if ((st.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP) && st.st_gid != getgid())
    return "is set-group-ID to another group, so the loader runs it in secure mode and ignores "
           "LD_PRELOAD";
  if (getuid() != 0 && fgetxattr(fd, "security.capability", NULL, 0) >= 0)
    return "has file capabilities, so the loader runs it in secure mode and ignores LD_PRELOAD";
  return NULL;
}

/* Why LD_PRELOAD cannot reach the malloc of the ELF program at `path`, or
 * NULL when it can or when `path` is no ELF program heapscope can judge (a
 * script, an unreadable file: execvp has the last word on those).  A
 * program without an interpreter (PT_INTERP) is statically linked, static
 * PIE included: the dynamic loader, which reads LD_PRELOAD, never runs.
 * A 32-bit program gets no 64-bit library (the loader says so and runs it
 * without).  A program that would run in the loader's secure mode (below)
 * never loads a preload given by path. */
static const char *unreachable_reason(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  unsigned char ident[EI_NIDENT];
  const char *reason = NULL;
  if (pread(fd, ident, sizeof ident, 0) != (ssize_t)sizeof ident ||
      memcmp(ident, ELFMAG, SELFMAG) != 0) {
    close(fd);
    return NULL;
  }
  if (ident[EI_CLASS] != ELFCLASS64) {
    close(fd);
    return ident[EI_CLASS] == ELFCLASS32
               ? "is a 32-bit program: the loader would run it without the 64-bit "
                 "libheapscope.so"
               : NULL;
  }
  Elf64_Ehdr header;
  if (pread(fd, &header, sizeof header, 0) == (ssize_t)sizeof header &&
      (header.e_type == ET_EXEC || header.e_type == ET_DYN) &&
      header.e_phentsize == sizeof(Elf64_Phdr)) {
    bool interpreter = false, complete = true;
    for (unsigned i = 0; i < header.e_phnum && !interpreter; i++) {
      Elf64_Phdr segment;
      if (pread(fd, &segment, sizeof segment, (off_t)(header.e_phoff + (uint64_t)i * sizeof segment)) !=
          (ssize_t)sizeof segment) {
        complete = false;
        break;
      }
      interpreter = segment.p_type == PT_INTERP;
    }
    if (complete && !interpreter)
      reason = "is statically linked, so the dynamic loader that would preload heapscope "
               "never runs in it: build it without -static";
  }
  if (!reason) reason = secure_mode_reason(fd);
  close(fd);
  return reason;
}

/* Adds `value` to the ':'- or ','-separated variable `name`, first (for
 * LD_PRELOAD) or last (for HEAPSCOPE, where the last setting wins). */
static int add_to_env(const char *name, const char *value, char separator, int first) {
  const char *old = getenv(name);
  if (!old || !*old) return setenv(name, value, 1);
  size_t len = strlen(value) + 1 + strlen(old) + 1;
  char *joined = malloc(len);
  if (!joined) return -1;
  if (first) snprintf(joined, len, "%s%c%s", value, separator, old);
  else snprintf(joined, len, "%s%c%s", old, separator, value);
  int rc = setenv(name, joined, 1);
  free(joined);
  return rc;
}

static const char run_usage[] =
    "usage: heapscope run [-o FILE] [--rate BYTES] [--leaks] [--stats] [--http ADDR] -- CMD "
    "[ARGS...]\n"
    "  -o FILE       write the profile to FILE (default heapscope.<pid>.pb.gz; %p is the pid);\n"
    "                other programs CMD runs write nothing to it, unless FILE has %p\n"
    "  --rate BYTES  mean bytes between samples (default 524288; 1 = every allocation)\n"
    "  --leaks       report what is still allocated at exit, by site, and exit 1 if\n"
    "                anything is (samples every allocation unless --rate is given)\n"
    "  --stats       print the allocator's statistics at exit\n"
    "  --http ADDR   serve /debug/pprof/heap, /debug/pprof/allocs and /metrics on this\n"
    "                loopback address (PORT, 127.0.0.1:PORT; 0: any port, printed) from\n"
    "                CMD's process only, not from the programs it starts\n";

/* Parses a positive decimal byte count; -1 if it is not one. */
static long long parse_bytes(const char *text) {
  char *end;
  errno = 0;
  long long value = strtoll(text, &end, 10);
  if (errno || end == text || *end || value < 0) return -1;
  return value;
}

/* FILE with "%p" replaced by pid. */
static void expand_pid(const char *pattern, long pid, char *out, size_t size) {
  size_t n = 0;
  for (const char *p = pattern; *p && n + 1 < size; p++) {
    if (p[0] == '%' && p[1] == 'p') {
      n += (size_t)snprintf(out + n, size - n, "%ld", pid);
      if (n >= size) n = size - 1;
      p++;
    } else {
      out[n++] = *p;
    }
  }
  out[n] = 0;
}

/* --http with port 0 (any): the port chosen here, once, so that CMD's
 * process keeps one address when a wrapper script execs into the program
 * (each image would otherwise bind a port of its own and print it, and
 * the first printed would go dead); heapscope run prints it instead.
 * `http` as it is otherwise, or where no port can be had here (the
 * library then says what is wrong). */
static void choose_http_port(const char *http, char *out, size_t size) {
  snprintf(out, size, "%s", http);
  const char *colon = strrchr(http, ':');
  if (strcmp(colon ? colon + 1 : http, "0") != 0) return;
  bool v6 = strcmp(http, "[::1]:0") == 0;
  char host[64] = "127.0.0.1";
  if (v6) snprintf(host, sizeof host, "::1");
  else if (colon && colon > http && strncmp(http, "localhost:", 10) != 0)
    snprintf(host, sizeof host, "%.*s", (int)(colon - http), http);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST}, *found;
  if (getaddrinfo(host, "0", &hints, &found) != 0) return;
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_storage bound;
  socklen_t length = sizeof bound;
  char port[16];
  if (fd >= 0 && bind(fd, found->ai_addr, found->ai_addrlen) == 0 &&
      getsockname(fd, (struct sockaddr *)&bound, &length) == 0 &&
      getnameinfo((struct sockaddr *)&bound, length, NULL, 0, port, sizeof port, NI_NUMERICSERV) == 0)
    snprintf(out, size, v6 ? "[%s]:%s" : "%s:%s", host, port);
  if (fd >= 0) close(fd);
  freeaddrinfo(found);
}

/* CMD's pid while `heapscope run` waits for it (0 before). */
static volatile sig_atomic_t run_child;

/* Termination signals someone sent `heapscope run` (kill, a supervisor)
 * go on to CMD, which decides how to end; heapscope run stays to print
 * the summary once CMD has ended.  Those the terminal sent (Ctrl-C,
 * Ctrl-\, a hangup; si_code SI_KERNEL) already went to CMD too, as to
 * every process of the foreground group: not sent twice. */
static void forward_to_child(int signal_number, siginfo_t *info, void *context) {
  (void)context;
  int saved_errno = errno;
  if (run_child > 0 && info->si_code != SI_KERNEL) kill((pid_t)run_child, signal_number);
  errno = saved_errno;
}

static void forward_termination_signals(void) {
  static const int forwarded[] = {SIGTERM, SIGINT, SIGQUIT, SIGHUP};
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_sigaction = forward_to_child;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
    sigaction(forwarded[i], &action, NULL);
}

static int command_run(int argc, char **argv) {
  int stats = 0, leaks = 0, i = 0;
  const char *output = "heapscope.%p.pb.gz", *http = NULL;
  long long rate = -1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--stats") == 0) {
      stats = 1;
    } else if (strcmp(argv[i], "--leaks") == 0) {
      leaks = 1;
    } else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--rate") == 0 ||
               strcmp(argv[i], "--http") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "heapscope run: %s needs a value\n%s", argv[i], run_usage);
        return 2;
      }
      if (argv[i][1] == 'o') {
        output = argv[++i];
      } else if (argv[i][2] == 'h') {
        http = argv[++i];
      } else if ((rate = parse_bytes(argv[++i])) < 0) {
        fprintf(stderr, "heapscope run: --rate takes a byte count (0 = off, 1 = every "
                        "allocation), not '%s'\n", argv[i]);
        return 2;
      }
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(run_usage, stdout);
      return 0;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "heapscope run: unknown option '%s'\n%s", argv[i], run_usage);
      return 2;
    } else {
      break; /* the command itself, without a "--" */
    }
  }
  if (i >= argc) {
    fprintf(stderr, "heapscope run: missing command\n%s", run_usage);
    return 2;
  }
  if (!*output || strchr(output, ',')) {
    fprintf(stderr, "heapscope run: -o '%s': the file name must be non-empty and have no ','\n",
            output);
    return 2;
  }
  if (http && (!*http || strchr(http, ',') || strlen(http) > 100)) {
    fprintf(stderr, "heapscope run: --http '%s': an address such as 6060 or 127.0.0.1:6060\n",
            http);
    return 2;
  }
  char program[PATH_MAX];
  const char *reason = find_command(argv[i], program, sizeof program) == 0
                           ? unreachable_reason(program) : NULL;
  if (reason) {
    fprintf(stderr, "heapscope run: %s %s\n", program, reason);
    return 2;
  }
  if (leaks && rate < 0) rate = 1;
  if (rate < 0) rate = 524288;

  char library[PATH_MAX];
  if (find_library(library, sizeof library) != 0) {
    fputs("heapscope run: cannot find libheapscope.so next to the heapscope executable or in "
          "../lib\n", stderr);
    return 2;
  }
  /* An absolute profile path, so a CMD that changes directory still writes
   * where we will look. */
  char profile_path[PATH_MAX + 64], cwd[PATH_MAX];
  if (output[0] == '/' || !getcwd(cwd, sizeof cwd)) snprintf(profile_path, sizeof profile_path, "%s", output);
  else snprintf(profile_path, sizeof profile_path, "%s/%s", cwd, output);
  char options[PATH_MAX + 128];
  snprintf(options, sizeof options, "profile=%s,sample_rate_bytes=%lld%s", profile_path, rate,
           stats ? ",stats_at_exit=1" : "");
  if (add_to_env("LD_PRELOAD", library, ':', 1) != 0 ||
      add_to_env("HEAPSCOPE", options, ',', 0) != 0) {
    perror("heapscope run: setenv");
    return 2;
  }
  char http_address[128] = "";
  if (http) choose_http_port(http, http_address, sizeof http_address);
  forward_termination_signals(); /* CMD gets the default actions back at exec */
  pid_t child = fork();
  if (child < 0) {
    perror("heapscope run: fork");
    return 2;
  }
  run_child = child;
  if (child == 0) {
    /* CMD's process serves and writes FILE, whatever it execs into (a
     * wrapper script's `exec` keeps the pid); the programs it runs do not
     * (its forked children write FILE.PID). */
    char main_options[160];
    int n = snprintf(main_options, sizeof main_options, "main_pid=%d", (int)getpid());
    if (http) snprintf(main_options + n, sizeof main_options - (size_t)n, ",http=%s", http_address);
    if (add_to_env("HEAPSCOPE", main_options, ',', 0) != 0) {
      perror("heapscope run: setenv");
      _exit(127);
    }
    execvp(argv[i], argv + i);
    fprintf(stderr, "heapscope run: cannot run '%s': %s\n", argv[i], strerror(errno));
    _exit(127);
  }
  if (http && strcmp(http, http_address) != 0) /* the port chosen here: say which */
    fprintf(stderr, "heapscope: serving http://%s/debug/pprof/ (pid %d)\n", http_address, (int)child);
  int status;
  while (waitpid(child, &status, 0) < 0) {
    if (errno != EINTR) {
      perror("heapscope run: waitpid");
      return 2;
    }
  }
  int exit_code = WIFEXITED(status) ? WEXITSTATUS(status)
                  : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
  if (exit_code == 127 && WIFEXITED(status)) return exit_code; /* exec failed */

  char written[PATH_MAX + 64];
  expand_pid(profile_path, (long)child, written, sizeof written);
  if (access(written, R_OK) != 0) {
    fprintf(stderr, "heapscope run: %s wrote no profile (%s: %s)%s\n", argv[i], written,
            strerror(errno),
            WIFSIGNALED(status) ? "; it was killed by a signal before exit" : "");
    return exit_code ? exit_code : 1;
  }
  fprintf(stderr, "heapscope: profile written to %s\n", written);
  if (report_run_summary(written, stderr) != 0 && !exit_code) exit_code = 1;
  if (leaks) {
    int live_sites = report_leaks(written, stderr);
    if (live_sites != 0 && exit_code == 0) exit_code = 1;
  }
  return exit_code;
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
      strcmp(argv[1], "-h") == 0) {
    fputs(usage_text, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "run") == 0) return command_run(argc - 2, argv + 2);
  if (strcmp(argv[1], "budget") == 0) return budget_command(argc - 2, argv + 2);
  if (strcmp(argv[1], "bench-compare") == 0) return bench_compare_command(argc - 2, argv + 2);
  if (strcmp(argv[1], "top") == 0) return command_top(argc - 2, argv + 2);
  if (strcmp(argv[1], "list") == 0) return command_list(argc - 2, argv + 2);
  if (strcmp(argv[1], "diff") == 0) return command_diff(argc - 2, argv + 2);
  if (strcmp(argv[1], "flame") == 0) return command_flame(argc - 2, argv + 2);
  if (strcmp(argv[1], "tags") == 0) return command_tags(argc - 2, argv + 2);
  if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
    printf("heapscope %d.%d.%d\n", HEAPSCOPE_VERSION_MAJOR, HEAPSCOPE_VERSION_MINOR,
           HEAPSCOPE_VERSION_PATCH);
    return 0;
  }
  fprintf(stderr, "heapscope: unknown command '%s' (run 'heapscope help')\n", argv[1]);
  return 2;
}
