/*
 * Unit tests for http/static: static_load of a temporary folder (files,
 * subfolders, dotfiles, node_modules, symlinks in and out, a FIFO, the
 * depth limit), static_lookup by URL path, MIME types by extension, the
 * content-hash ETag, reloading and static_free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/crypto.h"
#include "http/static.h"

/* ---- a scratch folder ------------------------------------------------------ */

struct scratch {
    char root[256]; /* the temporary folder; everything below is removed */
    char web[300];  /* root/web: what static_load reads */
};

static void put(const char *dir, const char *rel, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    /* mkdir -p of the parents */
    for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST)
            fail_msg("mkdir %s: %s", path, strerror(errno));
        *p = '/';
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        fail_msg("open %s: %s", path, strerror(errno));
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void puts_file(const char *dir, const char *rel, const char *text)
{
    put(dir, rel, text, strlen(text));
}

static void link_to(const char *dir, const char *rel, const char *target)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    if (symlink(target, path) < 0)
        fail_msg("symlink %s: %s", path, strerror(errno));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static struct scratch *scratch_new(void)
{
    struct scratch *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    const char *tmp = getenv("TMPDIR");
    snprintf(s->root, sizeof(s->root), "%s/gss-static-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(s->root));
    snprintf(s->web, sizeof(s->web), "%s/web", s->root);
    assert_int_equal(mkdir(s->web, 0755), 0);
    return s;
}

static void scratch_free(struct scratch *s)
{
    nftw(s->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(s);
}

/* cmocka fixtures: a fresh folder per test, removed even when it fails. */
static int setup(void **state)
{
    *state = scratch_new();
    return 0;
}

static int teardown(void **state)
{
    scratch_free(*state);
    return 0;
}

/* The ETag static.c must produce: the first 10 bytes of SHA-256, in hex,
 * in quotes. */
static void etag_of(const void *data, size_t len, char out[24])
{
    uint8_t h[32];
    char    hex[65];
    crypto_sha256(data, len, h);
    crypto_hex(h, 32, hex);
    snprintf(out, 24, "\"%.20s\"", hex);
}

static const struct static_file *find(const struct static_files *sf, const char *path)
{
    return static_lookup(sf, path, strlen(path));
}

static void assert_file(const struct static_files *sf, const char *path, const char *content, const char *mime)
{
    const struct static_file *f = find(sf, path);
    if (!f)
        fail_msg("%s not loaded", path);
    assert_string_equal(f->path, path);
    assert_int_equal(f->len, strlen(content));
    assert_memory_equal(f->data, content, f->len + 1); /* NUL-terminated too */
    assert_string_equal(f->mime, mime);
    char want[24];
    etag_of(content, strlen(content), want);
    assert_string_equal(f->etag, want);
}

/* ---- the web folder -------------------------------------------------------- */

#define HTML "text/html; charset=utf-8"
#define JS   "text/javascript; charset=utf-8"
#define CSS  "text/css; charset=utf-8"
#define BIN  "application/octet-stream"

static void test_load_tree(void **state)
{
    struct scratch     *s = *state;
    struct static_files sf;

    puts_file(s->web, "index.html", "<!doctype html><p>hi</p>");
    puts_file(s->web, "app.js", "console.log(1);\n");
    puts_file(s->web, "style.CSS", "p{color:red}");
    puts_file(s->web, "sub/page.HTML", "<p>page</p>");
    puts_file(s->web, "sub/deeper/data.json", "{\"a\":1}");
    puts_file(s->web, "sub/index.html", "<p>sub index</p>");
    puts_file(s->web, "LICENSE", "MIT");
    put(s->web, "empty.txt", "", 0);
    const char bin[] = {'\x89', 'P', 'N', 'G', '\0', '\r', '\n', '\x1a'};
    put(s->web, "img/logo.png", bin, sizeof(bin));

    assert_int_equal(static_load(&sf, s->web), 0);
    assert_int_equal(sf.n, 9);
    assert_file(&sf, "/index.html", "<!doctype html><p>hi</p>", HTML);
    assert_file(&sf, "/app.js", "console.log(1);\n", JS);
    assert_file(&sf, "/style.CSS", "p{color:red}", CSS);
    assert_file(&sf, "/sub/page.HTML", "<p>page</p>", HTML);
    assert_file(&sf, "/sub/deeper/data.json", "{\"a\":1}", "application/json");
    assert_file(&sf, "/sub/index.html", "<p>sub index</p>", HTML);
    assert_file(&sf, "/LICENSE", "MIT", BIN);
    assert_file(&sf, "/empty.txt", "", "text/plain; charset=utf-8");

    /* Binary content is kept byte for byte. */
    const struct static_file *png = find(&sf, "/img/logo.png");
    assert_non_null(png);
    assert_int_equal(png->len, sizeof(bin));
    assert_memory_equal(png->data, bin, sizeof(bin));
    assert_string_equal(png->mime, "image/png");

    /* html is set for HTML only (the server adds CSP to those). */
    assert_true(find(&sf, "/index.html")->html);
    assert_true(find(&sf, "/sub/page.HTML")->html);
    assert_false(find(&sf, "/app.js")->html);
    assert_false(png->html);

    size_t total = 0;
    for (size_t i = 0; i < sf.cap; i++)
        if (sf.files[i].path)
            total += sf.files[i].len;
    assert_int_equal(sf.bytes, total);
    assert_int_equal(total, 24 + 16 + 12 + 11 + 7 + 16 + 3 + 0 + 8);

    /* Lookups are exact URL paths: no index resolution, no case folding,
     * no relative forms (those are the server's job, before the lookup). */
    static const char *const absent[] = {"/",
                                         "",
                                         "index.html",
                                         "/INDEX.HTML",
                                         "/sub",
                                         "/sub/",
                                         "/sub/deeper",
                                         "//index.html",
                                         "/./index.html",
                                         "/sub/../index.html",
                                         "/index.htm",
                                         "/index.html/",
                                         "/web/index.html",
                                         "/app.js?x=1"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        if (find(&sf, absent[i]))
            fail_msg("\"%s\" found", absent[i]);

    /* (p, len): the path need not be NUL-terminated. */
    assert_non_null(static_lookup(&sf, "/app.jsXYZ", 7));
    assert_null(static_lookup(&sf, "/app.jsXYZ", 6));
    assert_null(static_lookup(&sf, "/app.jsXYZ", 8));

    static_free(&sf);
}

/* Only regular files inside the folder are ever loaded: no dotfiles or
 * dot-folders, no node_modules, no symlink (in or out), no FIFO (which
 * would also block an open()). */
static void test_hidden_and_links(void **state)
{
    struct scratch     *s = *state;
    struct static_files sf;
    char                target[600];

    puts_file(s->web, "app.js", "ok");
    puts_file(s->web, ".env", "SECRET=1");
    puts_file(s->web, ".git/config", "[core]");
    puts_file(s->web, "sub/.htpasswd", "admin:x");
    puts_file(s->web, "node_modules/lib/index.js", "module.exports=1");
    puts_file(s->root, "outside/secret.txt", "top secret");
    snprintf(target, sizeof(target), "%s/outside/secret.txt", s->root);
    link_to(s->web, "secret.txt", target);
    link_to(s->web, "rel.txt", "../outside/secret.txt");
    snprintf(target, sizeof(target), "%s/outside", s->root);
    link_to(s->web, "outdir", target);
    link_to(s->web, "alias.js", "app.js"); /* inside, but still a link */
    link_to(s->web, "dangling.js", "nowhere.js");
    char fifo[600];
    snprintf(fifo, sizeof(fifo), "%s/pipe.txt", s->web);
    assert_int_equal(mkfifo(fifo, 0644), 0);

    assert_int_equal(static_load(&sf, s->web), 0);
    assert_int_equal(sf.n, 1);
    assert_file(&sf, "/app.js", "ok", JS);
    static const char *const absent[] = {
        "/.env",        "/.git/config", "/sub/.htpasswd",     "/node_modules/lib/index.js",
        "/secret.txt",  "/rel.txt",     "/outdir/secret.txt", "/alias.js",
        "/dangling.js", "/pipe.txt",    "/outside/secret.txt"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++)
        if (find(&sf, absent[i]))
            fail_msg("\"%s\" was loaded", absent[i]);
    /* No content from outside anywhere in the table. */
    for (size_t i = 0; i < sf.cap; i++)
        if (sf.files[i].path)
            assert_null(strstr(sf.files[i].data, "top secret"));
    static_free(&sf);
}

/* Folders deeper than STATIC_MAX_DEPTH (8) below the root are not read. */
static void test_depth_limit(void **state)
{
    struct scratch     *s = *state;
    struct static_files sf;
    char                rel[256] = "", url[256];

    for (int d = 0; d <= 10; d++) {
        char name[300];
        snprintf(name, sizeof(name), "%sf%d.txt", rel, d);
        puts_file(s->web, name, "x");
        size_t l = strlen(rel);
        snprintf(rel + l, sizeof(rel) - l, "d%d/", d + 1);
    }
    assert_int_equal(static_load(&sf, s->web), 0);
    strcpy(rel, "");
    for (int d = 0; d <= 10; d++) {
        snprintf(url, sizeof(url), "/%sf%d.txt", rel, d);
        if (d <= 8)
            assert_non_null(find(&sf, url));
        else
            assert_null(find(&sf, url));
        size_t l = strlen(rel);
        snprintf(rel + l, sizeof(rel) - l, "d%d/", d + 1);
    }
    assert_int_equal(sf.n, 9);
    static_free(&sf);
}

/* Enough files to grow the open-addressed table several times. */
static void test_many_files(void **state)
{
    struct scratch     *s = *state;
    struct static_files sf;
    char                name[64], body[64];

    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof(name), "%s/f%03d.js", i % 3 ? "a" : "b/c", i);
        snprintf(body, sizeof(body), "file %d", i);
        puts_file(s->web, name, body);
    }
    assert_int_equal(static_load(&sf, s->web), 0);
    assert_int_equal(sf.n, 300);
    assert_true(sf.cap >= 2 * sf.n);
    assert_int_equal(sf.cap & (sf.cap - 1), 0);
    for (int i = 0; i < 300; i++) {
        char url[64];
        snprintf(url, sizeof(url), "/%s/f%03d.js", i % 3 ? "a" : "b/c", i);
        snprintf(body, sizeof(body), "file %d", i);
        assert_file(&sf, url, body, JS);
        snprintf(url, sizeof(url), "/%s/f%03d.js", i % 3 ? "b/c" : "a", i);
        assert_null(find(&sf, url));
    }
    static_free(&sf);
}

/* ---- MIME and ETag --------------------------------------------------------- */

static void test_mime(void **state)
{
    (void)state;
    static const struct {
        const char *path, *mime;
    } cases[] = {
        {"/index.html", HTML},
        {"/INDEX.HTML", HTML},
        {"/a.HtMl", HTML},
        {"/app.js", JS},
        {"/app.JS", JS},
        {"/mod.mjs", JS},
        {"/s.css", CSS},
        {"/d.json", "application/json"},
        {"/i.svg", "image/svg+xml"},
        {"/i.png", "image/png"},
        {"/i.jpg", "image/jpeg"},
        {"/i.JPEG", "image/jpeg"},
        {"/i.webp", "image/webp"},
        {"/favicon.ico", "image/x-icon"},
        {"/site.webmanifest", "application/manifest+json"},
        {"/r.txt", "text/plain; charset=utf-8"},
        {"/f.woff2", "font/woff2"},
        {"/doc.pdf", "application/pdf"},
        {"/app.js.map", "application/json"},
        {"/archive.tar.gz", BIN},
        {"/README", BIN},
        {"/file.", BIN},
        {"/.html", HTML},
        {"/x.htmlx", BIN},
        {"/x.htm", BIN},
        {"/dir.js/file", BIN}, /* the dot is in a folder name, not the file's */
        {"/dir.html/", BIN},
        {"noslash.css", CSS},
        {"", BIN},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        if (strcmp(static_mime(cases[i].path), cases[i].mime) != 0)
            fail_msg("%s: %s, want %s", cases[i].path, static_mime(cases[i].path), cases[i].mime);
}

static void test_etag(void **state)
{
    struct scratch     *s = *state;
    struct static_files sf, sf2;

    puts_file(s->web, "a.js", "same bytes");
    puts_file(s->web, "sub/b.css", "same bytes");
    puts_file(s->web, "c.js", "same bytez");
    puts_file(s->web, "d.js", "");
    assert_int_equal(static_load(&sf, s->web), 0);

    const struct static_file *a = find(&sf, "/a.js"), *b = find(&sf, "/sub/b.css"), *c = find(&sf, "/c.js"),
                             *d = find(&sf, "/d.js");
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_non_null(d);
    /* A quoted strong validator: '"' + 20 hex digits + '"'. */
    assert_int_equal(strlen(a->etag), 22);
    assert_int_equal(a->etag[0], '"');
    assert_int_equal(a->etag[21], '"');
    for (int i = 1; i < 21; i++)
        assert_non_null(strchr("0123456789abcdef", a->etag[i]));
    /* By content, not by name or type. */
    assert_string_equal(a->etag, b->etag);
    assert_string_not_equal(a->etag, c->etag);
    assert_string_not_equal(a->etag, d->etag);
    char want[24];
    etag_of("", 0, want);
    assert_string_equal(d->etag, want); /* "e3b0c44298fc1c149afb" */

    /* Stable across loads of unchanged files; changed by a content change. */
    assert_int_equal(static_load(&sf2, s->web), 0);
    assert_string_equal(find(&sf2, "/a.js")->etag, a->etag);
    assert_string_equal(find(&sf2, "/c.js")->etag, c->etag);
    static_free(&sf2);
    puts_file(s->web, "a.js", "new bytes");
    assert_int_equal(static_load(&sf2, s->web), 0);
    assert_string_not_equal(find(&sf2, "/a.js")->etag, a->etag);
    assert_string_equal(find(&sf2, "/sub/b.css")->etag, b->etag);
    assert_file(&sf2, "/a.js", "new bytes", JS);
    static_free(&sf2);

    static_free(&sf);
}

/* ---- errors and free --------------------------------------------------------- */

static void test_missing_and_free(void **state)
{
    struct scratch     *s = *state;
    struct static_files sf;
    char                path[600];

    /* A folder that is not there (or not a folder) fails, leaving an empty
     * table that lookups and static_free accept. */
    snprintf(path, sizeof(path), "%s/nope", s->root);
    assert_int_equal(static_load(&sf, path), -1);
    assert_int_equal(sf.n, 0);
    assert_null(find(&sf, "/index.html"));
    static_free(&sf);
    puts_file(s->root, "plain", "x");
    snprintf(path, sizeof(path), "%s/plain", s->root);
    assert_int_equal(static_load(&sf, path), -1);
    static_free(&sf);

    /* An empty folder loads to an empty table. */
    assert_int_equal(static_load(&sf, s->web), 0);
    assert_int_equal(sf.n, 0);
    assert_int_equal(sf.bytes, 0);
    assert_null(find(&sf, "/"));
    static_free(&sf);

    /* Free leaves an empty table behind; twice is harmless. */
    puts_file(s->web, "x.js", "x");
    assert_int_equal(static_load(&sf, s->web), 0);
    assert_non_null(find(&sf, "/x.js"));
    static_free(&sf);
    assert_null(sf.files);
    assert_int_equal(sf.cap, 0);
    assert_int_equal(sf.n, 0);
    assert_int_equal(sf.bytes, 0);
    assert_null(find(&sf, "/x.js"));
    static_free(&sf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hidden_and_links, setup, teardown),
        cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_files, setup, teardown),
        cmocka_unit_test(test_mime),
        cmocka_unit_test_setup_teardown(test_etag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_and_free, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
