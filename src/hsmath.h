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

/* c[0] + c[1]·x + … + c[16]·x^16 by Estrin's scheme: pairs, then pairs of
 * pairs by x², x⁴, x⁸, x^16.  The longest chain is five multiply-adds, not
 * the sixteen of Horner's rule, whose steps each wait for the last; a
 * sample pays for two of these polynomials, and Horner made them a third
 * of a sample's time (malloc(65536)+free under perf). */
static inline double hs_poly16(double x, const double c[17]) {
  double x2 = x * x, x4 = x2 * x2, x8 = x4 * x4, x16 = x8 * x8;
  double p01 = c[0] + x * c[1], p23 = c[2] + x * c[3], p45 = c[4] + x * c[5];
  double p67 = c[6] + x * c[7], p89 = c[8] + x * c[9], p1011 = c[10] + x * c[11];
  double p1213 = c[12] + x * c[13], p1415 = c[14] + x * c[15];
  double low = (p01 + x2 * p23) + x4 * (p45 + x2 * p67);
  double high = (p89 + x2 * p1011) + x4 * (p1213 + x2 * p1415);
  return low + x8 * high + x16 * c[16];
}

/* 1/(2k+1), k = 0..16: the series of atanh(s)/s in s². */
static const double hs_atanh_series[17] = {
    1.0,      1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11, 1.0 / 13, 1.0 / 15, 1.0 / 17,
    1.0 / 19, 1.0 / 21, 1.0 / 23, 1.0 / 25, 1.0 / 27, 1.0 / 29, 1.0 / 31, 1.0 / 33};

/* 1/n!, n = 0..16, and 1/(n+2)!, n = 0..16: the series of e^x and of
 * (e^x − 1 − x)/x². */
static const double hs_exp_series[17] = {
    1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
    1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0,
    1.0 / 87178291200.0, 1.0 / 1307674368000.0, 1.0 / 20922789888000.0};
static const double hs_expm1_series[17] = {
    1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
    1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800.0,
    1.0 / 87178291200.0, 1.0 / 1307674368000.0, 1.0 / 20922789888000.0,
    1.0 / 355687428096000.0, 1.0 / 6402373705728000.0};

/* ln(x) for finite x > 0 (the sampler passes x in (0, 1]).  Writes
 * x = m·2^e with m in [√½, √2), then ln m = 2·atanh(s), s = (m−1)/(m+1),
 * |s| ≤ 0.172: the series in s² has converged to double precision well
 * before its 17th term (s^32/33 < 2^-85). */
static inline double hs_log(double x) {
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int e = (int)((bits >> 52) & 0x7ff);
  if (e == 0) { /* subnormal: scale into the normal range first */
    x *= 18014398509481984.0; /* 2^54 */
    memcpy(&bits, &x, sizeof bits);
    e = (int)((bits >> 52) & 0x7ff) - 54;
  }
  /* m in [1, 2), or in [½, 1) with e one more when its bits exceed √2's
   * (0x6a09e667f3bcd): a select, not a branch, since a uniform draw takes
   * either side nearly half the time. */
  uint64_t fraction = bits & 0x000fffffffffffffull;
  uint64_t above_root2 = fraction > 0x6a09e667f3bcdull;
  e += (int)above_root2 - 1023;
  bits = fraction | ((0x3ffull - above_root2) << 52);
  double m;
  memcpy(&m, &bits, sizeof m);
  double s = (m - 1.0) / (m + 1.0);
  return (double)e * HS_LN2 + 2.0 * s * hs_poly16(s * s, hs_atanh_series);
}

/* e^x − 1 for x ≤ 0 (the sampler passes −size/rate), without the
 * cancellation of exp(x) − 1 near zero: x + x²·(the series of
 * (e^x − 1 − x)/x²) for |x| < ½, and e^x = 2^k·e^r with |r| ≤ ½·ln 2
 * below that. */
static inline double hs_expm1_nonpositive(double x) {
  if (x > -0.5) return x + x * x * hs_poly16(x, hs_expm1_series);
  if (x < -745.0) return -1.0;
  int k = (int)(x * (1.0 / HS_LN2) - 0.5); /* rounds to nearest, x < 0 */
  double r = x - (double)k * HS_LN2;
  return hs_poly16(r, hs_exp_series) * hs_pow2(k) - 1.0;
}

/* value rounded half away from zero, for 0 ≤ value < 2^63. */
static inline int64_t hs_round_nonnegative(double value) {
  int64_t whole = (int64_t)value;
  return whole + (value - (double)whole >= 0.5);
}

#endif
