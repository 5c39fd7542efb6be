/* units.c — value formatting for the CLI reports (see units.h). */
#include "units.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct unit_scale {
  const char *suffix;
  double factor;
} unit_scale;

static const unit_scale byte_scales[] = {{"TiB", 1099511627776.0}, {"GiB", 1073741824.0},
                                         {"MiB", 1048576.0},       {"KiB", 1024.0},
                                         {"B", 1.0},               {NULL, 0}};
static const unit_scale count_scales[] = {{"G", 1e9}, {"M", 1e6}, {"k", 1e3}, {"", 1.0}, {NULL, 0}};
static const unit_scale time_scales[] = {{"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1.0}, {NULL, 0}};

static const unit_scale *scales_for(const char *unit) {
  if (strcmp(unit, "bytes") == 0 || strcmp(unit, "byte") == 0 || strcmp(unit, "B") == 0)
    return byte_scales;
  if (strcmp(unit, "nanoseconds") == 0 || strcmp(unit, "ns") == 0) return time_scales;
  return count_scales;
}

char *units_format(int64_t value, const char *unit, int show_plus, char *buf, size_t len) {
  if (value == 0) {
    snprintf(buf, len, "0");
    return buf;
  }
  const unit_scale *scales = scales_for(unit);
  double magnitude = fabs((double)value);
  const unit_scale *chosen = NULL;
  for (const unit_scale *s = scales; s->suffix; s++) {
    chosen = s;
    if (magnitude >= s->factor) break;
  }
  const char *sign = value < 0 ? "-" : show_plus ? "+" : "";
  char number[64];
  if (chosen->factor == 1.0) {
    snprintf(number, sizeof number, "%.0f", magnitude);
  } else {
    snprintf(number, sizeof number, "%.2f", magnitude / chosen->factor);
    size_t n = strlen(number);
    if (n > 3 && strcmp(number + n - 3, ".00") == 0) number[n - 3] = 0;
  }
  /* counts in a unit other than "count"/"objects" keep their unit name */
  const char *tail = "";
  if (scales == count_scales && unit[0] && strcmp(unit, "count") != 0 && strcmp(unit, "objects") != 0)
    tail = unit;
  snprintf(buf, len, "%s%s%s%s%s", sign, number, chosen->suffix, tail[0] ? " " : "", tail);
  return buf;
}

char *units_percent(int64_t value, int64_t total, int show_plus, char *buf, size_t len) {
  double ratio = total ? (double)value / (double)total * 100.0 : 0.0;
  double magnitude = fabs(ratio);
  const char *sign = ratio < 0 ? "-" : (show_plus && ratio > 0) ? "+" : "";
  if (magnitude >= 99.995 && magnitude <= 100.005) snprintf(buf, len, "%s100%%", sign);
  else if (magnitude >= 1.0 || magnitude == 0) snprintf(buf, len, "%s%.2f%%", sign, magnitude);
  else if (magnitude >= 0.01) snprintf(buf, len, "%s%.2f%%", sign, magnitude);
  else snprintf(buf, len, "%s%.2g%%", sign, magnitude);
  return buf;
}
