#!/usr/bin/env bash
# programs_test.sh — run real Debian programs twice, once on glibc malloc and
# once with LD_PRELOAD=libheapscope.so, and require byte-identical results
# (stdout, stderr and exit status); then every workload once more with
# heapscope under HEAPSCOPE=memory_limit_bytes=8M (far below what they
# touch: the limit releases idle spans on every growth, which once broke
# the page heap's lists under realloc).
#
#   BUILD=build bash tests/programs/programs_test.sh [NAME...]
#   HS_OPTIONS=sample_rate_bytes=1 BUILD=build bash tests/programs/programs_test.sh
#     (heapscope's options for every heapscope run)
#
# HEAPSCOPE_LIB overrides the library to preload (default $PWD/$BUILD/libheapscope.so).
# Programs needed (Debian packages): python3 (python3.11-minimal), sqlite3,
# perl (perl-base), gcc (gcc-12), g++ (a C++ program: containers, threads,
# exceptions), git, coreutils (sort), tcl8.6 (tclsh).
set -u
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
case $BUILD in
  /*) LIB=${HEAPSCOPE_LIB:-$BUILD/libheapscope.so} ;;
  *) LIB=${HEAPSCOPE_LIB:-$PWD/$BUILD/libheapscope.so} ;;
esac
TIMEOUT=${PROGRAMS_TIMEOUT:-90}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hs-programs.XXXXXX") || exit 1
if [ -n "${PROGRAMS_KEEP:-}" ]; then echo "keeping $TMP"; else trap 'rm -rf "$TMP"' EXIT; fi
failed=0
passed=0

fail() { echo "FAIL $*"; failed=$((failed + 1)); }

if [ ! -f "$LIB" ]; then
  echo "FAIL programs_test: $LIB not built"
  exit 1
fi

# A fixed, minimal environment, identical for both runs except LD_PRELOAD.
# HOME is the per-run work directory (same path in both runs).
run_env() {   # run_env MODE CMD...
  local mode=$1; shift
  local pre=()
  [ "$mode" = heapscope ] && pre=(LD_PRELOAD="$LIB" ${HS_OPTIONS:+HEAPSCOPE="$HS_OPTIONS"})
  env -i PATH=/usr/bin:/bin HOME="$TMP/work" LC_ALL=C LANG=C TZ=UTC \
    PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 TMPDIR="$TMP/work/tmp" \
    GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME="A U Thor" GIT_AUTHOR_EMAIL=author@example.com \
    GIT_COMMITTER_NAME="C O Mitter" GIT_COMMITTER_EMAIL=committer@example.com \
    GIT_AUTHOR_DATE="2024-01-02T03:04:05Z" GIT_COMMITTER_DATE="2024-01-02T03:04:05Z" \
    "${pre[@]}" timeout -k 5 "$TIMEOUT" "$@"
}

# case NAME PROGRAM SCRIPT-FUNCTION: runs the function in a fresh
# $TMP/work (same path both times) with stdout/stderr captured.
check() {
  local name=$1 prog=$2 fn=$3 mode rc
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return; fi
  if [ ! -x "$prog" ]; then
    fail "$name: not installed ($prog)"
    return
  fi
  for mode in glibc heapscope; do
    rm -rf "$TMP/work" && mkdir -p "$TMP/work/tmp"
    cp -r "$TMP/data/." "$TMP/work/" 2>/dev/null
    ( cd "$TMP/work" && "$fn" "$mode" ) >"$TMP/$name.$mode.out" 2>"$TMP/$name.$mode.err"
    rc=$?
    echo "exit status $rc" >>"$TMP/$name.$mode.out"
  done
  local bad=0 s
  for s in out err; do
    if ! cmp -s "$TMP/$name.glibc.$s" "$TMP/$name.heapscope.$s"; then
      [ $bad = 0 ] && fail "$name"
      bad=1
      echo "  std$s differs (--- glibc, +++ heapscope):"
      diff -u "$TMP/$name.glibc.$s" "$TMP/$name.heapscope.$s" | head -n 25 | sed 's/^/    /'
    fi
  done
  if [ $bad = 0 ] && ! grep -qx 'exit status 0' "$TMP/$name.glibc.out"; then
    fail "$name: workload fails even without heapscope:"
    tail -n 5 "$TMP/$name.glibc.out" "$TMP/$name.glibc.err" | sed 's/^/    /'
    bad=1
  fi
  if [ $bad = 0 ]; then
    echo "ok $name ($(wc -c <"$TMP/$name.glibc.out") bytes of output)"
    passed=$((passed + 1))
  fi
}

[ $# -gt 0 ] && ONLY="$*"

# ---------------------------------------------------------------- scripts
mkdir -p "$TMP/data"

cat >"$TMP/data/work.py" <<'PY'
import hashlib, json, sys

class Shape:
    registry = []
    def __init__(self, name):
        self.name = name
        Shape.registry.append(self)
    def area(self):
        raise NotImplementedError
    def describe(self):
        return "%s(%s) area=%.4f" % (type(self).__name__, self.name, self.area())

class Rect(Shape):
    def __init__(self, name, w, h):
        super().__init__(name); self.w, self.h = w, h
    def area(self):
        return self.w * self.h

class Square(Rect):
    def __init__(self, name, s):
        super().__init__(name, s, s)

class Circle(Shape):
    def __init__(self, name, r):
        super().__init__(name); self.r = r
    def area(self):
        return 3.141592653589793 * self.r * self.r

# deterministic pseudo-random numbers (no dependence on the random module)
state = 12345
def rnd(n):
    global state
    state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
    return (state >> 33) % n

shapes = []
for i in range(30000):
    k = rnd(3)
    if k == 0: shapes.append(Rect("r%d" % i, rnd(100) + 1, rnd(100) + 1))
    elif k == 1: shapes.append(Square("s%d" % i, rnd(50) + 1))
    else: shapes.append(Circle("c%d" % i, rnd(40) + 1))
shapes.sort(key=lambda s: (-s.area(), s.name))
for s in shapes[:5] + shapes[-5:]:
    print(s.describe())
print("registry", len(Shape.registry))

words = {}
parts = []
for i in range(200000):
    w = "w%x" % rnd(5000)
    words[w] = words.get(w, 0) + 1
    parts.append(w)
text = " ".join(parts)
print("text", len(text), hashlib.sha256(text.encode()).hexdigest())
top = sorted(words.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
print("top", top)

big = {"items": [{"id": i, "name": "item-%06d" % i, "tags": ["t%d" % (i % 7), "u%d" % (i % 13)],
                  "vals": [rnd(1000) / 7.0 for _ in range(5)], "nested": {"a": i, "b": str(i) * 3}}
                 for i in range(40000)],
       "meta": {"count": 40000, "unicode": "h\u00e9llo w\u00f6rld \u2603"}}
dumped = json.dumps(big, sort_keys=True)
print("json", len(dumped), hashlib.md5(dumped.encode()).hexdigest())
back = json.loads(dumped)
assert back == big
print("json roundtrip ok", sum(x["nested"]["a"] for x in back["items"]))
rows = json.dumps([list(range(100))] * 20000)  # lists and strings grown by realloc
print("json rows", len(rows), hashlib.md5(rows.encode()).hexdigest())

lst = [rnd(1000000) for _ in range(300000)]
lst.sort()
print("sorted", lst[0], lst[len(lst) // 2], lst[-1], len(set(lst)))
sb = []
for i in range(100000):
    sb.append(("%d:" % i) + "x" * (i % 50))
s = "".join(sb)
print("strbuild", len(s), hashlib.sha1(s.encode()).hexdigest())
d = {i: [i] * (i % 20) for i in range(100000)}
for i in range(0, 100000, 3):
    del d[i]
print("dict", len(d), sum(len(v) for v in d.values()))
h = hashlib.blake2b()
for i in range(20000):
    h.update(("%d" % i).encode() * 10)
print("blake2b", h.hexdigest())
print("bytes", bytes(range(256)) * 4000 == bytes(range(256)) * 4000, file=sys.stderr)
PY
py_case() { run_env "$1" /usr/bin/python3 work.py; }

cat >"$TMP/data/work.sql" <<'SQL'
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, name TEXT, val REAL, blob BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000)
INSERT INTO t(grp, name, val, blob)
  SELECT (x * 7919) % 97, 'name-' || ((x * 104729) % 100003), (x % 1000) / 3.0, zeroblob(x % 300)
  FROM c;
CREATE INDEX t_name ON t(name);
CREATE INDEX t_grp_val ON t(grp, val);
SELECT count(*), sum(val), min(name), max(name), sum(length(blob)) FROM t;
SELECT grp, count(*), round(avg(val), 4), max(length(blob)) FROM t GROUP BY grp ORDER BY grp LIMIT 12;
SELECT name, val FROM t WHERE name LIKE 'name-999%' ORDER BY name DESC LIMIT 10;
SELECT grp, group_concat(id, ',') FROM (SELECT grp, id FROM t WHERE id % 5000 = 0 ORDER BY id) GROUP BY grp ORDER BY grp;
UPDATE t SET name = name || '-' || grp WHERE id % 3 = 0;
DELETE FROM t WHERE id % 7 = 0;
SELECT count(*), count(DISTINCT name), sum(length(name)) FROM t;
CREATE TABLE u AS SELECT grp, count(*) AS n, total(val) AS s FROM t GROUP BY grp;
SELECT a.grp, a.n, b.n FROM u a JOIN u b ON b.grp = (a.grp + 1) % 97 ORDER BY a.n DESC, a.grp LIMIT 8;
SELECT printf('%.3f', s) FROM u ORDER BY s DESC LIMIT 3;
VACUUM;
PRAGMA integrity_check;
SQL
sqlite_case() { run_env "$1" /usr/bin/sqlite3 work.db <work.sql; }

cat >"$TMP/data/work.pl" <<'PL'
use strict; use warnings;
my $s = 42;
sub rnd { $s = ($s * 1103515245 + 12345) % 2147483648; return $s % $_[0]; }
my (%h, @items);
for my $i (0 .. 99999) {
    my $k = sprintf("key-%05d-%s", rnd(20000), join("", map { chr(97 + rnd(4)) } 1 .. 3));
    push @items, $k;
    $h{$k} .= sprintf("%d,", $i);
}
print "keys ", scalar(keys %h), "\n";
my @sorted = sort { length($h{$b}) <=> length($h{$a}) or $a cmp $b } keys %h;
print "top $_ => $h{$_}\n" for @sorted[0 .. 4];
my $vowels = 0; my %pat;
for (@items) {
    $vowels += () = /[aeiou]/g;
    $pat{$1}++ if /-(\d)\d*-([a-z]{2})/;
    s/([aeiou])/uc $1/ge;
}
print "vowels $vowels\n";
print "pat $_ $pat{$_}\n" for sort keys %pat;
print "sample @items[0..3]\n";
my $big = join("\n", map { sprintf("%08.3f|%-10s|%x", $_ / 7, "r$_", $_ * 31) } 1 .. 100000);
print "big ", length($big), " ", unpack("%32C*", $big), "\n";
my @nums = sort { $a <=> $b } map { rnd(1000000) } 1 .. 100000;
print "nums $nums[0] $nums[50000] $nums[-1]\n";
my %inv; push @{ $inv{ $h{$_} =~ tr/,// } }, $_ for keys %h;
print "inv $_ ", scalar(@{ $inv{$_} }), "\n" for sort { $a <=> $b } keys %inv;
PL
perl_case() { run_env "$1" /usr/bin/perl work.pl; }

cat >"$TMP/data/prog.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct node { struct node *l, *r; unsigned key; };
static struct node *ins(struct node *t, unsigned k) {
  if (!t) { t = calloc(1, sizeof *t); t->key = k; return t; }
  if (k < t->key) t->l = ins(t->l, k); else if (k > t->key) t->r = ins(t->r, k);
  return t;
}
static unsigned long sum(struct node *t, int d) {
  if (!t) return 0;
  unsigned long s = (unsigned long)t->key * (d + 1) + sum(t->l, d + 1) + sum(t->r, d + 1);
  free(t);
  return s;
}
static int cmp(const void *a, const void *b) {
  unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
  return (x > y) - (x < y);
}
int main(void) {
  unsigned s = 1, n = 200000, *v = malloc(n * sizeof *v);
  struct node *t = NULL;
  for (unsigned i = 0; i < n; i++) { s = s * 1664525u + 1013904223u; v[i] = s >> 8; t = ins(t, v[i] % 100000); }
  qsort(v, n, sizeof *v, cmp);
  printf("min %u median %u max %u tree %lu\n", v[0], v[n / 2], v[n - 1], sum(t, 0));
  char *buf = NULL; size_t len = 0;
  for (unsigned i = 0; i < 5000; i++) {
    char tmp[32]; int k = snprintf(tmp, sizeof tmp, "%u;", v[i * 40]);
    buf = realloc(buf, len + k + 1); memcpy(buf + len, tmp, k + 1); len += k;
  }
  printf("len %zu tail %s\n", len, buf + len - 20);
  free(buf); free(v);
  return 0;
}
C
gcc_case() {
  run_env "$1" /usr/bin/gcc -O2 -Wall -o prog prog.c || return
  run_env "$1" ./prog || return
  run_env "$1" /usr/bin/gcc -O2 -S -o - prog.c
  run_env "$1" /usr/bin/gcc -O0 -g -c -o prog.o prog.c && sha256sum prog.o
}

cat >"$TMP/data/prog.cc" <<'CXX'
// C++ through libstdc++'s operators: containers, strings, exceptions, threads.
#include <algorithm>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>
#include <cstdio>
int main() {
  std::map<std::string, std::vector<int>> index;
  unsigned s = 7;
  for (int i = 0; i < 100000; i++) {
    s = s * 1103515245u + 12345u;
    index["k" + std::to_string(s % 5000)].push_back(i);
  }
  std::vector<std::unique_ptr<std::string>> owned;
  for (auto &kv : index) owned.push_back(std::make_unique<std::string>(kv.first + ":" + std::to_string(kv.second.size())));
  std::sort(owned.begin(), owned.end(), [](const auto &a, const auto &b) { return *a < *b; });
  std::vector<std::thread> workers;
  std::vector<size_t> lengths(4);
  for (int t = 0; t < 4; t++)
    workers.emplace_back([t, &lengths] {
      std::ostringstream out;
      for (int i = 0; i < 20000; i++) out << (i * (t + 1)) << ',';
      lengths[t] = out.str().size();
    });
  for (auto &w : workers) w.join();
  int caught = 0;
  for (int i = 0; i < 1000; i++) {
    try { throw std::runtime_error("error " + std::to_string(i)); } catch (const std::exception &e) { caught += e.what()[0] == 'e'; }
  }
  std::printf("keys %zu first %s last %s lengths %zu %zu %zu %zu caught %d\n", index.size(), owned.front()->c_str(),
              owned.back()->c_str(), lengths[0], lengths[1], lengths[2], lengths[3], caught);
  return 0;
}
CXX
cxx_case() {
  run_env "$1" /usr/bin/g++ -std=c++17 -O2 -pthread -o cxxprog prog.cc || return
  run_env "$1" ./cxxprog
}

git_case() {
  local m=$1 i
  g() { run_env "$m" /usr/bin/git -c init.defaultBranch=main -c core.pager=cat -c color.ui=false "$@"; }
  g init -q repo || return
  cd repo || return
  for i in 1 2 3 4 5 6; do
    seq 1 $((i * 500)) | sed "s/\$/ line of file $i/" >"f$i.txt"
    g add "f$i.txt" && g commit -q -m "add f$i" || return
  done
  sed -i 's/^1\([0-9]\) /changed \1 /' f3.txt f5.txt
  g commit -q -a -m "change some lines" || return
  g checkout -q -b topic && echo topic >>f1.txt && g commit -q -a -m topic && g checkout -q main
  g merge -q --no-ff -m "merge topic" topic || return
  g log --stat --format='%H %an <%ae> %ad %s' --date=iso-strict
  g diff HEAD~3 HEAD -- f3.txt | head -n 60
  g gc -q --aggressive || return
  g count-objects -v | grep -v -e '^size' -e 'size-pack'
  g fsck --no-progress --full 2>&1
  g rev-list --all --objects | sort
}

awk 'BEGIN { s = 7; for (i = 0; i < 200000; i++) { s = (s * 1103515245 + 12345) % 2147483648;
       printf "%d word%d %s\n", s % 1000000 - 500000, s % 5003, (s % 3 ? "x" : "yy") } }' \
  >"$TMP/data/lines.txt"
sort_case() {
  run_env "$1" /usr/bin/sort -n lines.txt | md5sum
  run_env "$1" /usr/bin/sort -u -k2,2 -k1,1n lines.txt | md5sum
  run_env "$1" /usr/bin/sort -u lines.txt | tail -n 3
  # small buffer and 2 threads: forces temporary files and a parallel merge
  run_env "$1" /usr/bin/sort --parallel=2 -S 256K -T tmp -n -k2.5 lines.txt | md5sum
}

cat >"$TMP/data/work.tcl" <<'TCL'
set seed 99
proc rnd {n} { global seed; set seed [expr {($seed * 1103515245 + 12345) % 2147483648}]; return [expr {$seed % $n}] }
set l {}
for {set i 0} {$i < 100000} {incr i} { lappend l [rnd 100000] }
set s [lsort -integer $l]
puts "sorted [lindex $s 0] [lindex $s 50000] [lindex $s end] [llength [lsort -unique $l]]"
set d [dict create]
foreach x $l { dict incr d [expr {$x % 1000}] }
set top [lrange [lsort -stride 2 -index 1 -integer -decreasing $d] 0 9]
puts "dict [dict size $d] top $top"
set str ""
for {set i 0} {$i < 50000} {incr i} { append str [format "%05d-%s;" $i [string repeat ab [expr {$i % 9}]]] }
puts "str [string length $str] [string range $str 1000 1040] [string first 49999 $str]"
set parts [split $str ";"]
set m [lmap p $parts { if {[regexp {^(\d+)-(ab)*$} $p -> n]} { string toupper $p } else continue }]
puts "parts [llength $parts] mapped [llength $m] [lindex $m end]"
set arr {}
foreach w [split [string map {; " "} $str] " "] { dict lappend arr [string length $w] $w }
dict for {k v} $arr { puts "len $k: [llength $v]" }
puts stderr "done"
TCL
tcl_case() { run_env "$1" /usr/bin/tclsh work.tcl; }

# ---------------------------------------------------------------- run
# Sanity: the preload really puts heapscope into the process.
if [ -z "${ONLY:-}" ]; then
  if LD_PRELOAD="$LIB" /bin/cat /proc/self/maps | grep -qF "$(basename "$LIB")"; then
    echo "ok preload-active"; passed=$((passed + 1))
  else
    fail "preload-active: $LIB does not appear in a preloaded process's maps"
  fi
fi

# check_all SUFFIX: every workload, named NAME.SUFFIX when SUFFIX is set.
check_all() {
  local s=${1:+.$1}
  check python3$s /usr/bin/python3 py_case
  check sqlite3$s /usr/bin/sqlite3 sqlite_case
  check perl$s    /usr/bin/perl    perl_case
  check gcc$s     /usr/bin/gcc     gcc_case
  check g++$s     /usr/bin/g++     cxx_case
  check git$s     /usr/bin/git     git_case
  check sort$s    /usr/bin/sort    sort_case
  check tclsh$s   /usr/bin/tclsh   tcl_case
}
# HS_OPTIONS from the caller (e.g. sample_rate_bytes=1: every allocation
# sampled) applies to both passes.
base_options=${HS_OPTIONS:-}
HS_OPTIONS=$base_options check_all
HS_OPTIONS=${base_options:+$base_options,}memory_limit_bytes=8M check_all limit8m

if [ $failed -gt 0 ]; then
  echo "programs_test: $failed FAILED, $passed ok"
  exit 1
fi
echo "PASS programs_test: $passed workloads identical with and without heapscope"
exit 0
