#include "render_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* A4 width and the 20 mm side margins both documents promise, in points. */
#define A4_W   595.276
#define MARGIN (20 * 72 / 25.4)

static char tmpdir[512];

/* ---- files and tools -------------------------------------------------------- */

int ru_tmp_setup(const char *prefix)
{
    const char *base = getenv("GSS_TEST_TMP");
    snprintf(tmpdir, sizeof(tmpdir), "%s/%s-XXXXXX", base && *base ? base : "/tmp", prefix);
    return mkdtemp(tmpdir) ? 0 : -1;
}

int ru_tmp_teardown(void)
{
    DIR *dir = opendir(tmpdir);
    if (dir) {
        struct dirent *e;
        char           p[1024];
        while ((e = readdir(dir)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(dir);
    }
    rmdir(tmpdir);
    return 0;
}

void ru_tmp_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

void ru_require_tool(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", tool);
    if (system(cmd) != 0)
        fail_msg("required tool '%s' is missing: install it (scripts/deps.sh --test)", tool);
}

int ru_run(const char *cmd, struct buf *out)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char   chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        if (out)
            buf_append(out, chunk, n);
    int st = pclose(p);
    if (out) { /* data is never NULL for the callers' strstr and atoi */
        buf_putc(out, '\0');
        out->len--;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void ru_write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

void ru_read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char   chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(out, chunk, n);
    fclose(f);
}

/* ---- text ------------------------------------------------------------------- */

int ru_contains(const struct buf *b, const char *needle)
{
    return b->len && strstr(b->data, needle) != NULL;
}

size_t ru_count(const struct buf *b, const char *needle)
{
    size_t n = 0;
    for (const char *p = b->data; p && (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* ---- the PDF, judged by the tools ------------------------------------------- */

void ru_render_to(ru_render_fn render, const void *doc, const char *name, char *path, size_t pathlen)
{
    struct buf b = {0};
    char       err[512];
    if (render(doc, &b, err, sizeof(err)) != 0)
        fail_msg("rendering %s: %s", name, err);
    assert_true(b.len > 1000);
    assert_memory_equal(b.data, "%PDF-", 5);
    ru_tmp_path(path, pathlen, name);
    ru_write_file(path, b.data, b.len);
    buf_free(&b);
}

void ru_qpdf_check(const char *path)
{
    char       cmd[2048];
    struct buf out = {0};
    snprintf(cmd, sizeof(cmd), "qpdf --check '%s' 2>&1", path);
    int st = ru_run(cmd, &out);
    if (st != 0)
        fail_msg("qpdf --check failed (%d):\n%s", st, out.data ? out.data : "");
    buf_free(&out);
}

int ru_npages(const char *path)
{
    char       cmd[2048];
    struct buf out = {0};
    snprintf(cmd, sizeof(cmd), "qpdf --show-npages '%s'", path);
    assert_int_equal(ru_run(cmd, &out), 0);
    int n = atoi(out.data);
    buf_free(&out);
    return n;
}

void ru_pdf_text(const char *path, const char *opts, struct buf *out)
{
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "pdftotext %s '%s' - 2>/dev/null", opts, path);
    assert_int_equal(ru_run(cmd, out), 0);
}

void ru_words(const char *path, int first, int last, const char *mode, struct buf *out)
{
    char       opts[128], range[64] = "";
    struct buf raw = {0};
    if (first)
        snprintf(range, sizeof(range), "-f %d -l %d", first, last);
    snprintf(opts, sizeof(opts), "-enc UTF-8 %s %s", mode, range);
    ru_pdf_text(path, opts, &raw);
    int space = 0;
    for (size_t i = 0; i < raw.len; i++) {
        char ch = raw.data[i];
        if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t' || ch == '\f') {
            space = 1;
            continue;
        }
        if (space && out->len)
            buf_putc(out, ' ');
        space = 0;
        buf_putc(out, ch);
    }
    buf_putc(out, '\0');
    out->len--;
    buf_free(&raw);
}

int ru_qr_codes(const char *path, int page, struct buf *out)
{
    char cmd[4096], png[1024];
    snprintf(png, sizeof(png), "%s-p%d", path, page);
    snprintf(cmd, sizeof(cmd), "pdftoppm -r 150 -png -f %d -l %d -singlefile '%s' '%s' 2>/dev/null", page, page, path,
             png);
    assert_int_equal(ru_run(cmd, NULL), 0);
    snprintf(cmd, sizeof(cmd), "zbarimg --raw -q '%s.png' 2>/dev/null", png);
    int st = ru_run(cmd, out);
    while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == '\r'))
        out->data[--out->len] = '\0';
    return st;
}

void ru_assert_within_margins(const char *path, int min_words)
{
    struct buf html = {0};
    ru_pdf_text(path, "-bbox", &html);
    const char *p = html.data;
    int         n = 0;
    while ((p = strstr(p, "<word xMin=\"")) != NULL) {
        double      xmin = atof(p + strlen("<word xMin=\""));
        const char *q = strstr(p, "xMax=\"");
        assert_non_null(q);
        double xmax = atof(q + strlen("xMax=\""));
        if (xmin < MARGIN - 0.5 || xmax > A4_W - MARGIN + 0.5) {
            const char *e = strchr(p, '\n');
            fail_msg("word outside the margins: %.*s", (int)(e ? e - p : 80), p);
        }
        n++;
        p = q;
    }
    if (n < min_words)
        fail_msg("only %d words in %s", n, path);
    buf_free(&html);
}

/* ---- the contract every render_*_pdf keeps ---------------------------------- */

void ru_check_appends(ru_render_fn render, const void *doc)
{
    struct buf b = {0}, alone = {0};
    char       err[512];

    buf_puts(&b, "XYZ");
    assert_int_equal(render(doc, &b, err, sizeof(err)), 0);
    assert_int_equal(render(doc, &alone, err, sizeof(err)), 0);
    assert_int_equal(b.len, 3 + alone.len);
    assert_memory_equal(b.data, "XYZ%PDF-", 8);
    assert_memory_equal(b.data + 3, alone.data, alone.len);
    assert_int_equal(b.data[b.len], '\0'); /* buf's invariant */
    buf_free(&b);
    buf_free(&alone);
}

struct job {
    ru_render_fn      render;
    const void       *doc;
    const struct buf *want;
    int               ok; /* set by the thread: no cmocka assert there */
};

static void *render_thread(void *arg)
{
    struct job *j = arg;
    j->ok = 1;
    for (int i = 0; i < 3; i++) {
        struct buf b = {0};
        char       err[512];
        if (j->render(j->doc, &b, err, sizeof(err)) != 0 || b.len != j->want->len ||
            memcmp(b.data, j->want->data, b.len) != 0)
            j->ok = 0;
        buf_free(&b);
    }
    return NULL;
}

void ru_check_threads(ru_render_fn render, const void *doc)
{
    struct buf want = {0};
    char       err[512];
    if (render(doc, &want, err, sizeof(err)) != 0)
        fail_msg("rendering alone: %s", err);

    pthread_t  th[4];
    struct job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct job){render, doc, &want, 0};
        assert_int_equal(pthread_create(&th[i], NULL, render_thread, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(jobs[i].ok);
    }
    buf_free(&want);
}
