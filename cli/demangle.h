/* demangle.h — C++ function names as `go tool pprof` shows them.
 *
 * heapscope's profiles keep the linker's (mangled) names, as Go's do, and
 * pprof demangles them when it reads them, simplified: no parameters, no
 * template arguments, no return type, no `(anonymous namespace)::`.  The
 * CLI shows the same names, so `top`, `list`, `--focus` and flame graphs
 * agree with pprof on a C++ program. */
#ifndef HEAPSCOPE_CLI_DEMANGLE_H
#define HEAPSCOPE_CLI_DEMANGLE_H

/* The simplified name of an Itanium-mangled C++ name ("_Z..."), in
 * memory the caller frees; NULL if `name` is not one or cannot be
 * demangled (the caller keeps `name`). */
char *demangle_simplified(const char *name);

/* The simplification alone, of a demangled name: `full` rewritten in
 * place (never longer). */
void demangle_simplify(char *full);

#endif
