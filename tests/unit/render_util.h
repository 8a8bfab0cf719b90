/*
 * render_util: what the render unit tests (test_render.c for the letter and
 * the QR code, test_render_invoice.c for the invoice) share. Not a test
 * itself (no test_ prefix): tests/CMakeLists.txt links it into both.
 *
 * The PDFs are judged by independent tools, never by the code under test:
 * qpdf (structure, page count), pdftotext (words, their order and their
 * boxes), pdftoppm and zbarimg (the QR code as a phone would read it). A
 * missing tool fails the test (ru_require_tool): nothing skips.
 *
 * Files: ru_tmp_setup makes one directory per test group (under
 * $GSS_TEST_TMP, else /tmp) and ru_tmp_teardown removes it with every file
 * in it; ru_tmp_path names a file there.
 *
 * Memory: a struct buf passed in is appended to and stays the caller's;
 * it is NUL-terminated after every helper that fills it.
 *
 * Threads: only ru_check_threads starts threads, and none of these helpers
 * may be called from them (cmocka's asserts are not thread-safe). Failures
 * are cmocka failures of the running test; the helpers return only when
 * their checks passed. The assert_contains and assert_lacks macros extend
 * cmocka's own vocabulary, so they keep its names rather than the prefix.
 */
#ifndef GSS_TESTS_RENDER_UTIL_H
#define GSS_TESTS_RENDER_UTIL_H

#include <stddef.h>

#include "core/buf.h"

/* A render_*_pdf call with its document behind a void pointer, so the
 * checks below serve the letter and the invoice alike. */
typedef int (*ru_render_fn)(const void *doc, struct buf *out, char *err, size_t errlen);

/* ---- files and tools -------------------------------------------------------- */

/* The group's directory, <tmp>/<prefix>-XXXXXX. 0, or -1 (cmocka's answer
 * for a failed group setup). */
int ru_tmp_setup(const char *prefix);

/* Removes the directory and the files in it. Returns 0. */
int ru_tmp_teardown(void);

/* "<the group's directory>/<name>" into out. */
void ru_tmp_path(char *out, size_t n, const char *name);

/* Fails the test (never skips) when tool is not on PATH. */
void ru_require_tool(const char *tool);

/* Runs cmd through the shell, appending its stdout to out (when not NULL).
 * Returns its exit status, -1 when it did not exit normally. */
int ru_run(const char *cmd, struct buf *out);

void ru_write_file(const char *path, const void *data, size_t n);
void ru_read_file(const char *path, struct buf *out);

/* ---- text ------------------------------------------------------------------- */

/* Whether b holds needle; how many times (overlapping ones too). */
int    ru_contains(const struct buf *b, const char *needle);
size_t ru_count(const struct buf *b, const char *needle);

#define assert_contains(b, s)                                                                                          \
    do {                                                                                                               \
        if (!ru_contains((b), (s)))                                                                                    \
            fail_msg("expected \"%s\" in the text:\n%s", (s), (b)->data ? (b)->data : "");                             \
    } while (0)

#define assert_lacks(b, s)                                                                                             \
    do {                                                                                                               \
        if (ru_contains((b), (s)))                                                                                     \
            fail_msg("did not expect \"%s\" in the text:\n%s", (s), (b)->data);                                        \
    } while (0)

/* ---- the PDF, judged by the tools ------------------------------------------- */

/* Renders doc, checks the result looks like a PDF (more than 1000 bytes,
 * "%PDF-") and writes it to the group's directory as name; its path into
 * path. Fails the test with render's message when it fails. */
void ru_render_to(ru_render_fn render, const void *doc, const char *name, char *path, size_t pathlen);

/* qpdf --check passes; qpdf's page count. */
void ru_qpdf_check(const char *path);
int  ru_npages(const char *path);

/* pdftotext with opts ("-raw", "-bbox", ...) into out. Its stderr (poppler
 * warns about libharu's ToUnicode CMap, which it still reads) is dropped. */
void ru_pdf_text(const char *path, const char *opts, struct buf *out);

/*
 * pdftotext's words (UTF-8) with every run of white space made one space,
 * so a phrase the layout wraps is still found; pages first..last, 0 for
 * all. mode "" reads in pdftotext's reading order, as a customer's copy and
 * paste would; "-raw" in the content stream's order (a table row's cells in
 * turn, a label before its amount), which a watermark or a tilted stamp
 * cannot reorder.
 */
void ru_words(const char *path, int first, int last, const char *mode, struct buf *out);

/* Every QR code zbarimg finds on page `page` at 150 dpi (a cheap printer),
 * one per line, trailing newline cut; returns zbarimg's exit status (0:
 * found, 4: none found). */
int ru_qr_codes(const char *path, int page, struct buf *out);

/* Every word of pdftotext -bbox lies inside the 20 mm side margins of an
 * A4 page (half a point of slack for rounding), and there are at least
 * min_words of them. */
void ru_assert_within_margins(const char *path, int min_words);

/* ---- the contract every render_*_pdf keeps ---------------------------------- */

/* Rendering into a buffer that holds "XYZ" appends exactly the PDF that
 * rendering alone gives, and keeps buf's NUL after it. */
void ru_check_appends(ru_render_fn render, const void *doc);

/* Documents rendered at once on four threads, three each, are byte for
 * byte the one rendered alone: no call sees another's state. */
void ru_check_threads(ru_render_fn render, const void *doc);

#endif
