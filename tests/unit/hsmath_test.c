/* hsmath_test.c — checks src/hsmath.h (the profiler's own log, expm1 and
 * rounding, which spare libheapscope.so a libm dependency) against libm
 * over the ranges the sampler and the pprof writer use, and checks that the
 * built library really does not need libm. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hsmath.h"
#include "testlib.h"

/* |got − want| in units of want's magnitude (absolute near zero). */
static double relative_error(double got, double want) {
  double scale = fabs(want) > 1e-300 ? fabs(want) : 1.0;
  return fabs(got - want) / scale;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double uniform01(void) { /* in (0, 1], as the sampler draws it */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return ((double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) + 1.0) / 9007199254740992.0;
}

TEST(log_matches_libm) {
  double worst = 0;
  double fixed[] = {1.0, 0.5, 0.25, 1e-300, 4.9e-324, 1.0 / 9007199254740992.0, 0.7071067811865476,
                    0.7071067811865475, 1.4142135623730951, 2.0, 10.0, 1e300, 0.999999999999};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
    double err = fixed[i] == 1.0 ? fabs(hs_log(1.0)) : relative_error(hs_log(fixed[i]), log(fixed[i]));
    CHECK_MSG(err < 1e-15 || (fixed[i] == 1.0 && err == 0), "log(%.17g) = %.17g, libm %.17g",
              fixed[i], hs_log(fixed[i]), log(fixed[i]));
  }
  for (int i = 0; i < 2000000; i++) {
    double u = uniform01();
    double err = relative_error(hs_log(u), log(u));
    if (err > worst) worst = err;
    if (!CHECK_MSG(err < 1e-15 || fabs(hs_log(u) - log(u)) < 1e-16, "log(%.17g) = %.17g, libm %.17g",
                   u, hs_log(u), log(u)))
      break;
  }
  printf("hs_log: worst relative error %.3g over 2M draws in (0, 1]\n", worst);
}

TEST(expm1_matches_libm) {
  double worst = 0;
  /* −size/rate for sizes 1 B .. 1 TiB against rates 1 B .. 1 GiB, and the range edges. */
  for (double size = 1; size <= 1099511627776.0; size *= 1.37) {
    for (double rate = 1; rate <= 1073741824.0; rate *= 3.1) {
      double x = -size / rate;
      double err = relative_error(hs_expm1_nonpositive(x), expm1(x));
      if (err > worst) worst = err;
      if (!CHECK_MSG(err < 1e-15, "expm1(%.17g) = %.17g, libm %.17g", x,
                     hs_expm1_nonpositive(x), expm1(x)))
        return;
    }
  }
  /* and uniformly over (−3, 0], where the two branches meet */
  for (int i = 0; i < 2000000; i++) {
    double x = -3.0 * (1.0 - uniform01());
    double err = relative_error(hs_expm1_nonpositive(x), expm1(x));
    if (err > worst) worst = err;
    if (!CHECK_MSG(err < 1e-15, "expm1(%.17g) = %.17g, libm %.17g", x, hs_expm1_nonpositive(x),
                   expm1(x)))
      return;
  }
  double edges[] = {0.0, -0.0, -1e-300, -1e-17, -0.4999999, -0.5, -0.5000001, -1, -20, -700, -745.5, -1e308};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
    CHECK_MSG(relative_error(hs_expm1_nonpositive(edges[i]), expm1(edges[i])) < 1e-15,
              "expm1(%.17g) = %.17g, libm %.17g", edges[i], hs_expm1_nonpositive(edges[i]),
              expm1(edges[i]));
  printf("hs_expm1_nonpositive: worst relative error %.3g\n", worst);
}

TEST(round_matches_llround) {
  double values[] = {0, 0.49999999999999994, 0.5, 1.5, 2.5, 3.4999, 1e6 + 0.5, 4503599627370495.5,
                     9007199254740993.0, 9.1e18};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    CHECK_MSG(hs_round_nonnegative(values[i]) == llround(values[i]), "round(%.17g) = %lld, libm %lld",
              values[i], (long long)hs_round_nonnegative(values[i]), (long long)llround(values[i]));
  for (int i = 0; i < 100000; i++) {
    double v = uniform01() * 1e9;
    if (!CHECK(hs_round_nonnegative(v) == llround(v))) break;
  }
}

/* The point of hsmath.h: libheapscope.so must not pull libm in. */
TEST(library_needs_no_libm) {
  /* This test lives in BUILD/tests/; the library in BUILD/. */
  char lib[4096];
  ssize_t n = readlink("/proc/self/exe", lib, sizeof lib - 32);
  if (!CHECK(n > 0)) return;
  lib[n] = 0;
  char *slash = strrchr(lib, '/');
  if (!CHECK(slash != NULL)) return;
  strcpy(slash, "/../libheapscope.so");
  if (!CHECK_MSG(access(lib, R_OK) == 0, "no library at %s", lib)) return;
  char command[4200];
  snprintf(command, sizeof command, "readelf -d '%s'", lib);
  FILE *out = popen(command, "r");
  if (!CHECK(out != NULL)) return;
  char line[512];
  int needed = 0, libm = 0;
  while (fgets(line, sizeof line, out)) {
    if (!strstr(line, "(NEEDED)")) continue;
    needed++;
    if (strstr(line, "libm.so")) libm = 1;
  }
  CHECK(pclose(out) == 0);
  CHECK_MSG(needed > 0, "readelf listed no NEEDED entries for %s", lib);
  CHECK_MSG(!libm, "%s needs libm", lib);
}

int main(void) {
  RUN(log_matches_libm);
  RUN(expm1_matches_libm);
  RUN(round_matches_llround);
  RUN(library_needs_no_libm);
  return testlib_done();
}
