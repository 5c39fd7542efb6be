/* demangle.c — C++ function names as `go tool pprof` shows them (see
 * demangle.h).  Demangling is libstdc++'s (__cxa_demangle, the C ABI
 * entry of the demangler g++ and binutils use); the simplification is a
 * single pass over the demangled text.  May call: libc, libstdc++. */
#include "demangle.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* libstdc++'s demangler (<cxxabi.h>, extern "C"). */
char *__cxa_demangle(const char *mangled, char *buffer, size_t *length, int *status);

/* Longer mangled names are left as they are (bounds the work on hostile
 * profiles; real names are far shorter). */
#define DEMANGLE_MAX_BYTES 4096

static bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Past the group opened at `s` ('(' or '{'), nesting counted; at the end
 * of the string if it is not closed. */
static const char *past_group(const char *s, char open, char close) {
  int depth = 0;
  for (; *s; s++) {
    if (*s == open) depth++;
    else if (*s == close && --depth == 0) return s + 1;
  }
  return s;
}

/* Past the qualifiers that may follow a parameter list. */
static const char *past_qualifiers(const char *s) {
  static const char *const qualifiers[] = {" const", " volatile", " &&", " &", " noexcept"};
  for (bool more = true; more;) {
    more = false;
    for (size_t i = 0; i < sizeof qualifiers / sizeof qualifiers[0]; i++) {
      size_t n = strlen(qualifiers[i]);
      if (strncmp(s, qualifiers[i], n) == 0 && !is_name_char(s[n])) {
        s += n;
        more = true;
      }
    }
  }
  return s;
}

void demangle_simplify(char *full) {
  const char *in = full;
  char *out = full;
  int angle = 0;      /* depth in template arguments, which are dropped */
  while (*in) {
    if (angle == 0 && strncmp(in, "operator", 8) == 0 && (in == full || !is_name_char(in[-1])) &&
        !is_name_char(in[8])) {
      memmove(out, in, 8);
      out += 8, in += 8;
      if ((in[0] == '(' && in[1] == ')') || (in[0] == '[' && in[1] == ']')) {
        *out++ = *in++;
        *out++ = *in++;
      } else if (in[0] == ' ') { /* operator new, operator delete[], operator char const* */
        for (int depth = 0; *in && (depth > 0 || *in != '('); in++) {
          if (*in == '<') depth++;
          else if (*in == '>' && depth > 0) depth--;
          else if (depth == 0) *out++ = *in;
        }
      } else { /* a symbol: the longest spelling that matches */
        static const char *const symbols[] = {
            "<<=", ">>=", "<=>", "->*", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "++", "--",
            "->",  "+=",  "-=",  "*=",  "/=", "%=", "&=", "|=", "^=", "+",  "-",  "*",  "/",  "%",
            "^",   "&",   "|",   "~",   "!",  "=",  "<",  ">",  ","};
        for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
          size_t n = strlen(symbols[i]);
          if (strncmp(in, symbols[i], n) == 0) {
            memmove(out, in, n);
            out += n, in += n;
            break;
          }
        }
        if (in[0] == ' ' && in[1] == '<') in++; /* "operator< <int>": template arguments */
      }
      continue;
    }
    char c = *in;
    if (c == '<') {
      angle++, in++;
    } else if (c == '>' && angle > 0) {
      angle--, in++;
    } else if (angle > 0) {
      in++;
    } else if (c == '{') { /* {lambda(int)#1}, {unnamed type#1}: kept whole */
      const char *end = past_group(in, '{', '}');
      while (in < end) *out++ = *in++;
    } else if (c == '(') {
      if (strncmp(in, "(anonymous namespace)", 21) == 0) {
        in += 21;
        if (strncmp(in, "::", 2) == 0) in += 2;
      } else { /* parameters, the function's or an enclosing one's */
        in = past_qualifiers(past_group(in, '(', ')'));
      }
    } else if (c == ' ' && in[1] != '[') { /* the end of a return type: the name follows */
      in++;
      out = full;
    } else if (c == ' ') { /* " [clone .isra.0]" and the like: kept */
      size_t n = strlen(in);
      memmove(out, in, n);
      out += n, in += n;
    } else {
      *out++ = *in++;
    }
  }
  *out = 0;
}

char *demangle_simplified(const char *name) {
  if (strncmp(name, "_Z", 2) != 0 || strlen(name) > DEMANGLE_MAX_BYTES) return NULL;
  int status = -1;
  char *full = __cxa_demangle(name, NULL, NULL, &status);
  if (status != 0 || !full) {
    free(full);
    return NULL;
  }
  demangle_simplify(full);
  if (!full[0]) { /* nothing left to show: keep the mangled name */
    free(full);
    return NULL;
  }
  return full;
}
