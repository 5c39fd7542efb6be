// cxx_sites.cc — allocation sites whose names pprof demangles: a member
// function, operator(), a template class's member, a template function
// (its return type comes first when demangled), a lambda, a function in
// an anonymous namespace reached through std::function, a std::map of
// std::string keys (deep template frames), and operator new itself.  The
// CLI must show them as `go tool pprof` does (heapscope_profiles_test.sh).
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace app {
struct Parser {
  std::vector<char *> kept;
  void parse_record(int n) {
    for (int i = 0; i < n; i++) kept.push_back(new char[1000]);
  }
  int operator()(int n) const {
    char *p = static_cast<char *>(malloc(n));
    p[0] = 1;
    int first = p[0];
    free(p);
    return first;
  }
};
template <typename T, int N> struct Box {
  T *make() { return new T[N]; }
};
template <typename T> T *filled(T value) {
  T *p = new T[512];
  p[0] = value;
  return p;
}
}  // namespace app

namespace {
char *hidden(int n) { return new char[n]; }
}  // namespace

int main() {
  app::Parser parser;
  parser.parse_record(2000);
  std::map<std::string, std::vector<int>> table;
  for (int i = 0; i < 300; i++) table[std::to_string(i) + " a key too long for the small buffer"].resize(100);
  app::Box<double, 512> box;
  std::vector<void *> kept;
  for (int i = 0; i < 100; i++) kept.push_back(box.make());
  for (int i = 0; i < 100; i++) kept.push_back(app::filled<long>(i));
  auto make_ints = [](int n) { return new int[n]; };
  for (int i = 0; i < 100; i++) kept.push_back(make_ints(1000));
  std::function<char *(int)> through = hidden;
  for (int i = 0; i < 100; i++) kept.push_back(through(2000));
  for (int i = 0; i < 100; i++) parser(5000);
  return 0;
}
