/*
 * Unit tests for store/blobs: content-named files written off the loop.
 *
 * The hashes are the FIPS 180-2 test vectors, not values computed by the
 * code under test; file contents are read back with plain stdio. Every
 * test runs a fresh loop in a fresh folder and ends with uv_loop_close() == 0.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "store/blobs.h"

#define ABC_SHA "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

struct seen {
    int  calls;
    int  status;
    char sha[65];
    char rel[BLOBS_REL_MAX];
};

static void on_put(void *ud, int status, const char *sha_hex, const char *rel)
{
    struct seen *s = ud;
    s->calls++;
    s->status = status;
    snprintf(s->sha, sizeof(s->sha), "%s", sha_hex);
    snprintf(s->rel, sizeof(s->rel), "%s", rel);
}

static char *make_dir(void)
{
    char  tmpl[] = "/tmp/gss-blobs-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s/tmp", d);
    assert_int_equal(mkdir(tmp, 0750), 0);
    return strdup(d);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int  n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static void rm_rf(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void put_and_run(const char *dir, const char *data, size_t n, const char *expect, struct seen *s)
{
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(blobs_put(&loop, dir, data, n, expect, on_put, s), 0);
    assert_int_equal(s->calls, 0); /* never inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(s->calls, 1);
}

static void test_put_stores_by_content(void **state)
{
    (void)state;
    char       *dir = make_dir();
    struct seen s = {0};
    put_and_run(dir, "abc", 3, NULL, &s);
    assert_int_equal(s.status, 0);
    assert_string_equal(s.sha, ABC_SHA);
    /* yyyy/mm of now (UTC), then the hash */
    time_t    t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    char want[BLOBS_REL_MAX];
    snprintf(want, sizeof(want), "%04d/%02d/" ABC_SHA, tm.tm_year + 1900, tm.tm_mon + 1);
    assert_string_equal(s.rel, want);
    char path[400], got[8] = {0};
    snprintf(path, sizeof(path), "%s/%s", dir, s.rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(got, 1, sizeof(got), f), 3);
    fclose(f);
    assert_memory_equal(got, "abc", 3);
    char tmp[400];
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
    assert_int_equal(count_entries(tmp), 0); /* no .part left */

    /* the same bytes again: the same file, still the same content */
    struct seen s2 = {0};
    put_and_run(dir, "abc", 3, ABC_SHA, &s2);
    assert_int_equal(s2.status, 0);
    assert_string_equal(s2.rel, s.rel);
    rm_rf(dir);
    free(dir);
}

static void test_put_refuses_wrong_hash(void **state)
{
    (void)state;
    char       *dir = make_dir();
    struct seen s = {0};
    /* the expected hash is the empty string's: "abc" is not it */
    put_and_run(dir, "abc", 3, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", &s);
    assert_int_equal(s.status, BLOBS_ERR_SHA);
    assert_string_equal(s.sha, ABC_SHA);     /* what the bytes were */
    assert_int_equal(count_entries(dir), 1); /* only tmp/: nothing written */
    char tmp[400];
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
    assert_int_equal(count_entries(tmp), 0);
    rm_rf(dir);
    free(dir);
}

static void test_put_reports_a_missing_folder(void **state)
{
    (void)state;
    char *dir = make_dir();
    char  tmp[400];
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
    assert_int_equal(rmdir(tmp), 0);
    struct seen s = {0};
    put_and_run(dir, "abc", 3, NULL, &s);
    assert_int_equal(s.status, UV_ENOENT);
    assert_int_equal(count_entries(dir), 0);
    rm_rf(dir);
    free(dir);
}

static void test_sniff(void **state)
{
    (void)state;
    const unsigned char jpg[] = {0xff, 0xd8, 0xff, 0xe0};
    const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_string_equal(blobs_sniff(jpg, sizeof(jpg)), "image/jpeg");
    assert_string_equal(blobs_sniff(png, sizeof(png)), "image/png");
    assert_string_equal(blobs_sniff((const unsigned char *)"%PDF-1.7", 8), "application/pdf");
    assert_null(blobs_sniff(png, 7)); /* cut short */
    assert_null(blobs_sniff((const unsigned char *)"<html>", 6));
    assert_null(blobs_sniff(jpg, 0));
}

static void test_part_names(void **state)
{
    (void)state;
    char a[300], b[300], pid[32];
    blobs_part_path("/up", a, sizeof(a));
    blobs_part_path("/up", b, sizeof(b));
    assert_string_not_equal(a, b); /* random */
    assert_int_equal(strncmp(a, "/up/tmp/", 8), 0);
    assert_string_equal(a + strlen(a) - 5, ".part");
    snprintf(pid, sizeof(pid), "-%d-", (int)getpid());
    assert_non_null(strstr(a, pid));
    assert_null(strchr(a + 8, '/'));
}

/* <base>/ddd.../ddd... exactly len bytes long, made on disk (components of
 * 100 to 200 bytes), with its tmp folder. */
static char *make_long_dir(const char *base, size_t len)
{
    assert_true(strlen(base) + 2 <= len);
    char *d = calloc(1, len + 1);
    assert_non_null(d);
    snprintf(d, len + 1, "%s", base);
    for (size_t have = strlen(d); have < len; have = strlen(d)) {
        size_t rem = len - have, part = rem > 201 ? 100 : rem - 1;
        d[have] = '/';
        memset(d + have + 1, 'd', part);
        d[have + 1 + part] = '\0';
        assert_int_equal(mkdir(d, 0750), 0);
    }
    assert_int_equal(strlen(d), len);
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s/tmp", d);
    assert_int_equal(mkdir(tmp, 0750), 0);
    return d;
}

/* A folder whose names may not fit on some host (a 63-byte host name) is
 * refused up front, clearly, and nothing is written: before, a 399-byte
 * folder was taken and the .part name cut short silently on such a host. */
static void test_put_refuses_a_too_long_folder(void **state)
{
    (void)state;
    char     *base = make_dir();
    char     *dir = make_long_dir(base, 399);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct seen s = {0};
    int         rc = blobs_put(&loop, dir, "abc", 3, NULL, on_put, &s);
    assert_int_equal(rc, UV_ENAMETOOLONG);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(s.calls, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
    assert_int_equal(count_entries(tmp), 0);
    assert_int_equal(count_entries(dir), 1); /* tmp only */
    rm_rf(base);
    free(dir);
    free(base);
}

/* The longest folder taken (384 bytes) stores the file whole. */
static void test_put_takes_the_longest_folder(void **state)
{
    (void)state;
    char       *base = make_dir();
    char       *dir = make_long_dir(base, 384);
    struct seen s = {0};
    put_and_run(dir, "abc", 3, NULL, &s);
    assert_int_equal(s.status, 0);
    assert_string_equal(s.sha, ABC_SHA);
    char path[1024], got[8] = "";
    snprintf(path, sizeof(path), "%s/%s", dir, s.rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(got, 1, sizeof(got), f), 3);
    fclose(f);
    assert_memory_equal(got, "abc", 3);
    rm_rf(base);
    free(dir);
    free(base);
}

/* A .part name that does not fit is refused, never cut short. */
static void test_part_name_too_long(void **state)
{
    (void)state;
    char out[64];
    memset(out, 'x', sizeof(out));
    assert_int_equal(blobs_part_path("/a/folder/long/enough/to/fill/the/buffer", out, sizeof(out)), UV_ENAMETOOLONG);
    assert_string_equal(out, "");
    char ok[300];
    assert_int_equal(blobs_part_path("/up", ok, sizeof(ok)), 0);
    assert_string_equal(ok + strlen(ok) - 5, ".part");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_stores_by_content),
        cmocka_unit_test(test_put_refuses_wrong_hash),
        cmocka_unit_test(test_put_reports_a_missing_folder),
        cmocka_unit_test(test_sniff),
        cmocka_unit_test(test_part_names),
        cmocka_unit_test(test_put_refuses_a_too_long_folder),
        cmocka_unit_test(test_put_takes_the_longest_folder),
        cmocka_unit_test(test_part_name_too_long),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
