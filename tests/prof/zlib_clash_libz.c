/* zlib_clash_libz.c — zlib_clash.c in a program linked with libz.so.1, so
 * zlib's entry points are in the global scope while the program's own
 * crc32 is too: the profile writer must still use no zlib.  Built with
 * -rdynamic and libz both ways (see the Makefile). */
#define ZLIB_CLASH_WITH_LIBZ
#include "zlib_clash.c"
