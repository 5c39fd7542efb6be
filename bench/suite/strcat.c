/* strcat.c — string building by concatenation: lines are built word by
 * word the naive way (each `line = line + " " + word` allocates a new
 * string and frees the old one; every word is a fresh strdup), the lines
 * are kept in a list and appended to a document that grows by realloc,
 * then everything is freed, document after document.
 *   strcat [documents=8000] */
#include "suite.h"

enum { LINES_PER_DOCUMENT = 100, WORDS = 64 };

static char dictionary[WORDS][16];

static char *concat3(const char *a, size_t a_len, const char *b, size_t b_len, const char *c,
                     size_t c_len) {
  size_t bytes = a_len + b_len + c_len + 1;
  char *s = suite_check_alloc(malloc(bytes), bytes);
  memcpy(s, a, a_len);
  memcpy(s + a_len, b, b_len);
  memcpy(s + a_len + b_len, c, c_len);
  s[bytes - 1] = '\0';
  return s;
}

static char *copy_string(const char *s, size_t len) {
  char *copy = suite_check_alloc(malloc(len + 1), len + 1);
  memcpy(copy, s, len + 1);
  return copy;
}

int main(int argc, char **argv) {
  suite_check_argc(argc, argv, 1, "[documents=8000]");
  long documents = suite_arg_long(argc, argv, 1, 8000, 100000000);
  suite_rng_t rng = suite_rng_make(17);
  for (int w = 0; w < WORDS; w++) {
    int len = 2 + (int)suite_rng_below(&rng, 12);
    for (int i = 0; i < len; i++) dictionary[w][i] = (char)('a' + suite_rng_below(&rng, 26));
    dictionary[w][len] = '\0';
  }
  char *lines[LINES_PER_DOCUMENT];
  size_t line_len[LINES_PER_DOCUMENT];
  uint64_t check = 0;
  long concatenations = 0;
  double start = suite_now_s();
  for (long d = 0; d < documents; d++) {
    char *document = NULL;
    size_t document_len = 0;
    for (int l = 0; l < LINES_PER_DOCUMENT; l++) {
      char *line = copy_string("", 0);
      size_t len = 0;
      int words = 3 + (int)suite_rng_below(&rng, 18);
      for (int w = 0; w < words; w++) {
        const char *entry = dictionary[suite_rng_below(&rng, WORDS)];
        size_t word_len = strlen(entry);
        char *word = copy_string(entry, word_len);
        char *longer = concat3(line, len, len ? " " : "", len ? 1 : 0, word, word_len);
        len += (len ? 1 : 0) + word_len;
        free(line);
        free(word);
        line = longer;
        concatenations++;
      }
      lines[l] = line;
      line_len[l] = len;
      size_t bytes = document_len + len + 2;
      document = suite_check_alloc(realloc(document, bytes), bytes);
      memcpy(document + document_len, line, len);
      document[document_len + len] = '\n';
      document_len += len + 1;
      document[document_len] = '\0';
    }
    check += (unsigned char)document[document_len / 2] + document_len;
    for (int l = 0; l < LINES_PER_DOCUMENT; l++) {
      check += line_len[l];
      free(lines[l]);
    }
    free(document);
  }
  suite_report("strcat", concatenations, suite_now_s() - start, check);
  return 0;
}
