/* hello.c: a C program logging through ul.
 *
 * From the repository root (README.md, "From C and C++"):
 *
 *   cargo build --release -p ul-capi -p ul-writer
 *   cc capi/examples/hello.c -I capi/include -L target/release -lul_capi \
 *       -Wl,-rpath,"$PWD/target/release" -o hello
 *   ./target/release/ul-writer --shm /dev/shm/ul-hello --dir ./logs-hello &
 *   ./hello /dev/shm/ul-hello
 *
 * Logs a few records, checks that bad arguments are refused with the
 * documented codes (and logs what ul_last_error() said), then flushes.
 * Exits 0 on success, 1 with a message on stderr otherwise.
 */
#include <stdio.h>
#include <string.h>

#include "ul.h"

static int expect(UlStatus got, UlStatus want, const char *what) {
    if (got != want) {
        fprintf(stderr, "%s: got status %d, want %d (%s)\n", what, (int)got, (int)want,
                ul_last_error());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *shm = argc > 1 ? argv[1] : "/dev/shm/ul";
    if (ul_init(shm) != UL_STATUS_OK) {
        fprintf(stderr, "%s\n", ul_last_error());
        return 1;
    }
    int bad = 0;
    bad |= expect(ul_log(UL_LEVEL_INFO, "CService", "hello from C"), UL_STATUS_OK, "ul_log");
    bad |= expect(ul_log(UL_LEVEL_WARN, NULL, "no source given"), UL_STATUS_OK, "ul_log NULL source");

    /* A message that is not NUL-terminated: a slice of a larger buffer. */
    const char *buf = "request 42 done; trailing bytes not logged";
    bad |= expect(ul_log_n(UL_LEVEL_ERROR, "CService", 8, buf, strlen("request 42 done")),
                  UL_STATUS_OK, "ul_log_n");

    /* Bad arguments come back as codes, never a crash. */
    bad |= expect(ul_log(UL_LEVEL_INFO, "CService", NULL), UL_STATUS_NULL_ARGUMENT, "NULL message");
    ul_log(UL_LEVEL_INFO, "CService", ul_last_error());
    bad |= expect(ul_log(UL_LEVEL_INFO, "CService", "bad \xff byte"), UL_STATUS_INVALID_UTF8,
                  "invalid UTF-8");
    ul_log(UL_LEVEL_INFO, "CService", ul_last_error());
    bad |= expect(ul_log(42, "CService", "level 42"), UL_STATUS_INVALID_LEVEL, "level 42");
    ul_log(UL_LEVEL_INFO, "CService", ul_last_error());

    if (ul_enabled(UL_LEVEL_DEBUG)) {
        char line[64];
        snprintf(line, sizeof line, "formatted in C: %d + %d = %d", 2, 3, 2 + 3);
        bad |= expect(ul_log(UL_LEVEL_DEBUG, "CService", line), UL_STATUS_OK, "formatted");
    }
    if (!ul_writer_alive()) {
        fprintf(stderr, "no ul-writer serves %s\n", shm);
        bad = 1;
    }
    if (ul_flush(10000) != UL_STATUS_OK) {
        fprintf(stderr, "%s\n", ul_last_error());
        return 1;
    }
    return bad;
}
