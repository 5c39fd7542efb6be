/* hsmath.h — the three pieces of floating-point math the profiler needs
 * (natural log, expm1, rounding to an integer), so libheapscope.so does not
 * link libm.  Loading libm costs every process about 0.5 MiB of resident
 * file pages (its IFUNC resolvers run at load and fault its text in), which
 * on a small program is a quarter of its whole footprint.
 *
 * Accuracy: within a few units in the last place over the ranges the
 * sampler uses; unit_hsmath_test checks them against libm.  Depends on
 * nothing else in src/. */
#ifndef HS_HSMATH_H
#define HS_HSMATH_H

#include <stdint.h>
#include <string.h>

#define HS_LN2 0.69314718055994530942

/* 2^k as a double, for k in the normal range; 0 below it. */
static inline double hs_pow2(int k) {
  if (k < -1022) return 0.0;
  uint64_t bits = (uint64_t)(k + 1023) << 52;
  double d;
  memcpy(&d, &bits, sizeof d);
  return d;
}

/* 1/k for k = 0..HS_RECIPROCALS-1 ([0] unused), folded by the compiler:
 * the series below multiply by these instead of dividing (a division is
 * ~13 cycles, and each sample pays for about 30 of them otherwise). */
#define HS_RECIPROCALS 24
static const double hs_reciprocal[HS_RECIPROCALS] = {
    0.0,        1.0,        1.0 / 2,  1.0 / 3,  1.0 / 4,  1.0 / 5,  1.0 / 6,  1.0 / 7,
    1.0 / 8,    1.0 / 9,    1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15,
    1.0 / 16,   1.0 / 17,   1.0 / 18, 1.0 / 19, 1.0 / 20, 1.0 / 21, 1.0 / 22, 1.0 / 23};

/* ln(x) for finite x > 0 (the sampler passes x in (0, 1]).  Writes
 * x = m·2^e with m in [√½, √2), then ln m = 2·atanh(s), s = (m−1)/(m+1),
 * |s| ≤ 0.172, whose odd series has converged to double precision by s^23. */
static inline double hs_log(double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int e = (int)((bits >> 52) & 0x7ff);
  if (e == 0) { /* subnormal: scale into the normal range first */
    x *= 18014398509481984.0; /* 2^54 */
    memcpy(&bits, &x, sizeof bits);
    e = (int)((bits >> 52) & 0x7ff) - 54;
  }
  e -= 1023;
  bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull; /* m in [1, 2) */
  double m;
  memcpy(&m, &bits, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  double s = (m - 1.0) / (m + 1.0);
  double s2 = s * s;
  double series = hs_reciprocal[23];
  for (int k = 21; k >= 1; k -= 2) series = hs_reciprocal[k] + s2 * series;
  return (double)e * HS_LN2 + 2.0 * s * series;
}

/* e^x − 1 for x ≤ 0 (the sampler passes −size/rate), without the
 * cancellation of exp(x) − 1 near zero: a Taylor series for |x| < ½, and
 * e^x = 2^k·e^r with |r| ≤ ½·ln 2 below that. */
static inline double hs_expm1_nonpositive(double x) {
  if (x > -0.5) {
    double term = x, sum = x;
    for (int n = 2; n <= 18; n++) {
      term *= x * hs_reciprocal[n];
      sum += term;
    }
    return sum;
  }
  if (x < -745.0) return -1.0;
  int k = (int)(x / HS_LN2 - 0.5); /* rounds to nearest, x < 0 */
  double r = x - (double)k * HS_LN2;
  double term = 1.0, exp_r = 1.0;
  for (int n = 1; n <= 16; n++) {
    term *= r * hs_reciprocal[n];
    exp_r += term;
  }
  return exp_r * hs_pow2(k) - 1.0;
}

/* value rounded half away from zero, for 0 ≤ value < 2^63. */
static inline int64_t hs_round_nonnegative(double value) {
  int64_t whole = (int64_t)value;
  return whole + (value - (double)whole >= 0.5);
}

#endif
