/*
 * Unit tests for core/buf (growth, append, printf around the capacity
 * boundary, JSON escaping, consume, steal, reset, free-then-reuse, the x*
 * allocators) and core/jw (automatic commas, keys, escaping, null for NULL
 * and non-finite numbers, int64 extremes). Every jw output is parsed back
 * with yyjson, so "valid JSON with these values" is what is checked, not
 * only the exact bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yyjson.h>

#include "core/buf.h"
#include "core/jw.h"

/* The buffer's invariants: len < cap, NUL after the data. */
static void assert_buf_ok(const struct buf *b)
{
    if (b->cap == 0) {
        assert_null(b->data);
        assert_int_equal(b->len, 0);
        return;
    }
    assert_non_null(b->data);
    assert_true(b->len < b->cap);
    assert_int_equal(b->data[b->len], '\0');
}

static void assert_buf_eq(const struct buf *b, const char *want)
{
    assert_buf_ok(b);
    assert_int_equal(b->len, strlen(want));
    if (b->len)
        assert_memory_equal(b->data, want, b->len);
}

/* ---- buf: growth and appends ---------------------------------------------- */

static void test_zero_is_empty(void **state)
{
    (void)state;
    struct buf b = {0};
    assert_buf_ok(&b);
    /* An empty append still leaves a C string behind. */
    buf_append(&b, NULL, 0);
    assert_non_null(b.data);
    assert_buf_eq(&b, "");
    buf_free(&b);
}

static void test_append_grows(void **state)
{
    (void)state;
    struct buf b = {0};
    char       want[5000];

    for (size_t i = 0; i < sizeof(want) - 1; i++) {
        want[i] = (char)('a' + i % 26);
        size_t old_cap = b.cap;
        buf_putc(&b, want[i]);
        want[i + 1] = '\0';
        assert_buf_eq(&b, want);
        /* Growth doubles, so appends are amortised O(1). */
        if (b.cap != old_cap && old_cap != 0)
            assert_int_equal(b.cap, old_cap * 2);
    }
    buf_free(&b);

    /* One big append sizes the buffer at once, with room for the NUL. */
    char big[3000];
    memset(big, 'z', sizeof(big));
    buf_puts(&b, "x");
    buf_append(&b, big, sizeof(big));
    assert_int_equal(b.len, 3001);
    assert_true(b.cap >= 3002);
    assert_int_equal(b.data[0], 'x');
    assert_memory_equal(b.data + 1, big, sizeof(big));
    assert_buf_ok(&b);

    /* Binary data, NUL bytes included, is kept as is. */
    buf_reset(&b);
    buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    buf_free(&b);
}

static void test_reserve(void **state)
{
    (void)state;
    struct buf b = {0};

    buf_puts(&b, "hi");
    buf_reserve(&b, 1000);
    assert_true(b.cap >= 2 + 1000 + 1);
    assert_buf_eq(&b, "hi");
    /* What was reserved is used without moving the data. */
    char  *data = b.data;
    size_t cap = b.cap;
    for (int i = 0; i < 1000; i++)
        buf_putc(&b, '.');
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.len, 1002);
    assert_buf_ok(&b);
    /* A reserve that already fits changes nothing. */
    buf_reset(&b);
    buf_reserve(&b, 10);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    buf_free(&b);
}

/* ---- buf: printf ------------------------------------------------------------ */

static void vwrap(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vwrap(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(b, fmt, ap);
    va_end(ap);
}

static void test_printf(void **state)
{
    (void)state;
    struct buf b = {0};

    buf_printf(&b, "%d-%s-%c", 42, "x", 'y');
    assert_buf_eq(&b, "42-x-y");
    buf_printf(&b, "%s", "");
    assert_buf_eq(&b, "42-x-y");
    buf_printf(&b, "|%05.1f|%llx", 3.14159, 0xbeefULL);
    assert_buf_eq(&b, "42-x-y|003.1|beef");
    buf_free(&b);

    /* Output longer than the first allocation, from an empty buffer. */
    char *s = malloc(5001);
    assert_non_null(s);
    memset(s, 'q', 5000);
    s[5000] = '\0';
    buf_printf(&b, "<%s>%d", s, 7);
    assert_int_equal(b.len, 5003);
    assert_int_equal(b.data[0], '<');
    assert_memory_equal(b.data + 1, s, 5000);
    assert_memory_equal(b.data + 5001, ">7", 3);
    assert_buf_ok(&b);
    buf_free(&b);

    /* Every output length on both sides of the free space, after every
     * prefix length around the first capacity (256): the vsnprintf retry
     * must produce exactly the same text. */
    char want[1200];
    for (size_t pre = 180; pre < 270; pre += 3) {
        for (size_t n = 0; n < 600; n += 7) {
            memset(want, 'p', pre);
            for (size_t i = 0; i < n; i++)
                want[pre + i] = (char)('0' + i % 10);
            want[pre + n] = '\0';
            buf_free(&b); /* from scratch, so the first capacity is in play */
            buf_append(&b, want, pre);
            vwrap(&b, "%.*s", (int)n, want + pre);
            assert_buf_eq(&b, want);
        }
    }
    buf_free(&b);
    free(s);
}

/* ---- buf: JSON escaping ----------------------------------------------------- */

static void escaped(const char *in, size_t n, const char *want)
{
    struct buf b = {0};
    buf_puts(&b, "pre");
    buf_json_escape(&b, in, n);
    assert_int_equal(b.len, 3 + strlen(want));
    assert_memory_equal(b.data, "pre", 3);
    assert_string_equal(b.data + 3, want);
    buf_free(&b);
}

static void test_json_escape(void **state)
{
    (void)state;
    escaped("plain text", 10, "plain text");
    escaped("", 0, "");
    escaped("a\"b", 3, "a\\\"b");
    escaped("a\\b", 3, "a\\\\b");
    escaped("\\\"", 2, "\\\\\\\"");
    escaped("l1\nl2\r\tx", 8, "l1\\nl2\\r\\tx");
    escaped("\b\f", 2, "\\u0008\\u000c");
    escaped("\x01\x1f", 2, "\\u0001\\u001f");
    escaped("\x7f", 1, "\\u007f");
    escaped("a\0b", 3, "a\\u0000b");
    escaped(" ~/</", 5, " ~/</");
    escaped("caf\xc3\xa9 \xe2\x82\xac", 9, "caf\xc3\xa9 \xe2\x82\xac"); /* UTF-8 passes through */
    escaped("abc", 2, "ab");                                            /* n, not strlen */

    /* Every byte 0x00..0x7f, escaped and quoted, is a JSON string that
     * parses back to the same bytes; and no raw control byte is left. */
    char all[128];
    for (int i = 0; i < 128; i++)
        all[i] = (char)i;
    struct buf b = {0};
    buf_putc(&b, '"');
    buf_json_escape(&b, all, sizeof(all));
    buf_putc(&b, '"');
    for (size_t i = 0; i < b.len; i++)
        assert_true((unsigned char)b.data[i] >= 0x20 && (unsigned char)b.data[i] != 0x7f);
    yyjson_doc *doc = yyjson_read(b.data, b.len, 0);
    assert_non_null(doc);
    yyjson_val *v = yyjson_doc_get_root(doc);
    assert_true(yyjson_is_str(v));
    assert_int_equal(yyjson_get_len(v), sizeof(all));
    assert_memory_equal(yyjson_get_str(v), all, sizeof(all));
    yyjson_doc_free(doc);
    buf_free(&b);
}

/* ---- buf: consume, steal, reset, free ---------------------------------------- */

static void test_consume(void **state)
{
    (void)state;
    struct buf b = {0};

    buf_consume(&b, 5); /* on an empty, unallocated buf */
    assert_buf_ok(&b);

    buf_puts(&b, "hello world");
    buf_consume(&b, 0);
    assert_buf_eq(&b, "hello world");
    buf_consume(&b, 6);
    assert_buf_eq(&b, "world");
    buf_consume(&b, 4);
    assert_buf_eq(&b, "d");
    buf_puts(&b, "ata");
    assert_buf_eq(&b, "data");
    buf_consume(&b, 4);
    assert_buf_eq(&b, "");
    buf_puts(&b, "again");
    buf_consume(&b, 100);
    assert_buf_eq(&b, "");
    assert_true(b.cap > 0); /* the memory is kept for the next input */

    /* Overlapping moves: what is left is longer than what is dropped. */
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%03d", i);
    buf_consume(&b, 3 * 100);
    assert_int_equal(b.len, 2700);
    assert_memory_equal(b.data, "100101102", 9);
    buf_consume(&b, 3 * 400);
    assert_int_equal(b.len, 1500);
    assert_memory_equal(b.data, "500501502", 9);
    assert_memory_equal(b.data + 1497, "999", 4);
    assert_buf_ok(&b);
    buf_free(&b);
}

static void test_steal(void **state)
{
    (void)state;
    struct buf b = {0};

    buf_puts(&b, "owned by the caller");
    char *p = buf_steal(&b);
    assert_string_equal(p, "owned by the caller");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    /* The buf is reusable, and does not share memory with p. */
    buf_puts(&b, "next");
    assert_ptr_not_equal(b.data, p);
    assert_string_equal(p, "owned by the caller");
    free(p);
    buf_free(&b);

    /* Stealing an empty buf still gives a freeable C string. */
    p = buf_steal(&b);
    assert_non_null(p);
    assert_string_equal(p, "");
    free(p);
    assert_buf_ok(&b);
}

static void test_reset_and_free(void **state)
{
    (void)state;
    struct buf b = {0};

    buf_reset(&b); /* never allocated */
    assert_buf_ok(&b);

    buf_puts(&b, "some text");
    char  *data = b.data;
    size_t cap = b.cap;
    buf_reset(&b);
    assert_buf_eq(&b, "");
    assert_ptr_equal(b.data, data); /* memory kept */
    assert_int_equal(b.cap, cap);

    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    buf_free(&b); /* twice is harmless */

    /* Freed is the same as new. */
    buf_printf(&b, "%s %d", "reuse", 2);
    assert_buf_eq(&b, "reuse 2");
    buf_free(&b);
}

static void test_xalloc(void **state)
{
    (void)state;
    char *p = xstrndup("abcdef", 3);
    assert_string_equal(p, "abc");
    free(p);
    p = xstrndup("a\0bc", 4); /* n bytes copied, NUL appended */
    assert_memory_equal(p, "a\0bc\0", 5);
    free(p);
    p = xstrdup("");
    assert_string_equal(p, "");
    free(p);
    unsigned char *z = xcalloc(64, 4);
    for (int i = 0; i < 256; i++)
        assert_int_equal(z[i], 0);
    free(z);
    /* Zero sizes still return memory that free() takes. */
    free(xmalloc(0));
    free(xcalloc(0, 8));
    p = xrealloc(NULL, 10);
    memcpy(p, "123456789", 10);
    p = xrealloc(p, 100000);
    assert_string_equal(p, "123456789");
    free(p);
}

/* ---- jw --------------------------------------------------------------------- */

/* Parses b's content as JSON; fails the test if it is not. */
static yyjson_doc *parse(const struct buf *b)
{
    yyjson_read_err e;
    yyjson_doc     *doc = yyjson_read_opts(b->data, b->len, 0, NULL, &e);
    if (!doc)
        fail_msg("invalid JSON at %zu (%s): %s", e.pos, e.msg, b->data);
    return doc;
}

static void test_jw_nested(void **state)
{
    (void)state;
    struct buf b = {0};

    jw_obj(&b);
    jw_key_int(&b, "id", 7);
    jw_key_str(&b, "code", "T-1");
    jw_key(&b, "tags");
    jw_arr(&b);
    jw_str(&b, "a");
    jw_str(&b, "b");
    jw_arr(&b);
    jw_end_arr(&b);
    jw_arr(&b);
    jw_int(&b, 1);
    jw_end_arr(&b);
    jw_obj(&b);
    jw_end_obj(&b);
    jw_end_arr(&b);
    jw_key(&b, "inner");
    jw_obj(&b);
    jw_key_bool(&b, "ok", true);
    jw_key_bool(&b, "no", false);
    jw_key(&b, "nothing");
    jw_null(&b);
    jw_key(&b, "deeper");
    jw_obj(&b);
    jw_key(&b, "list");
    jw_arr(&b);
    jw_obj(&b);
    jw_key_int(&b, "x", 1);
    jw_end_obj(&b);
    jw_obj(&b);
    jw_key_int(&b, "x", 2);
    jw_end_obj(&b);
    jw_end_arr(&b);
    jw_end_obj(&b);
    jw_end_obj(&b);
    jw_key(&b, "raw");
    jw_raw(&b, "{\"r\":[1,2]}");
    jw_key_dbl(&b, "d", 0.5);
    jw_end_obj(&b);

    assert_string_equal(b.data, "{\"id\":7,\"code\":\"T-1\",\"tags\":[\"a\",\"b\",[],[1],{}],"
                                "\"inner\":{\"ok\":true,\"no\":false,\"nothing\":null,"
                                "\"deeper\":{\"list\":[{\"x\":1},{\"x\":2}]}},\"raw\":{\"r\":[1,2]},\"d\":0.5}");

    yyjson_doc *doc = parse(&b);
    yyjson_val *root = yyjson_doc_get_root(doc);
    assert_int_equal(yyjson_obj_size(root), 6);
    assert_int_equal(yyjson_get_sint(yyjson_obj_get(root, "id")), 7);
    assert_string_equal(yyjson_get_str(yyjson_obj_get(root, "code")), "T-1");
    yyjson_val *tags = yyjson_obj_get(root, "tags");
    assert_int_equal(yyjson_arr_size(tags), 5);
    assert_string_equal(yyjson_get_str(yyjson_arr_get(tags, 1)), "b");
    assert_int_equal(yyjson_arr_size(yyjson_arr_get(tags, 2)), 0);
    assert_int_equal(yyjson_get_sint(yyjson_arr_get(yyjson_arr_get(tags, 3), 0)), 1);
    assert_true(yyjson_is_obj(yyjson_arr_get(tags, 4)));
    yyjson_val *inner = yyjson_obj_get(root, "inner");
    assert_true(yyjson_is_true(yyjson_obj_get(inner, "ok")));
    assert_true(yyjson_is_false(yyjson_obj_get(inner, "no")));
    assert_true(yyjson_is_null(yyjson_obj_get(inner, "nothing")));
    yyjson_val *list = yyjson_obj_get(yyjson_obj_get(inner, "deeper"), "list");
    assert_int_equal(yyjson_get_sint(yyjson_obj_get(yyjson_arr_get(list, 1), "x")), 2);
    assert_int_equal(yyjson_get_sint(yyjson_arr_get(yyjson_obj_get(yyjson_obj_get(root, "raw"), "r"), 1)), 2);
    assert_true(yyjson_get_num(yyjson_obj_get(root, "d")) == 0.5);
    yyjson_doc_free(doc);
    buf_free(&b);
}

static void test_jw_empty_and_top_level(void **state)
{
    (void)state;
    struct buf b = {0};

    jw_obj(&b);
    jw_end_obj(&b);
    assert_string_equal(b.data, "{}");
    buf_reset(&b);

    jw_arr(&b);
    jw_end_arr(&b);
    assert_string_equal(b.data, "[]");
    buf_reset(&b);

    /* Arrays of scalars of every kind. */
    jw_arr(&b);
    jw_int(&b, 1);
    jw_dbl(&b, 2.5);
    jw_bool(&b, true);
    jw_null(&b);
    jw_str(&b, "s");
    jw_raw(&b, "[]");
    jw_strn(&b, "xyz", 2);
    jw_end_arr(&b);
    assert_string_equal(b.data, "[1,2.5,true,null,\"s\",[],\"xy\"]");
    yyjson_doc_free(parse(&b));
    buf_reset(&b);

    /* A scalar alone is a JSON document too. */
    jw_str(&b, "only");
    assert_string_equal(b.data, "\"only\"");
    buf_free(&b);
}

static void test_jw_escaping_and_null(void **state)
{
    (void)state;
    struct buf  b = {0};
    const char *nasty = "q\"b\\n\nt\tc\x01\x1f"
                        "d\x7f"
                        "e\xc3\xa9";

    jw_obj(&b);
    jw_key_str(&b, nasty, nasty);
    jw_key_str(&b, "null", NULL);
    jw_key(&b, "nul");
    jw_strn(&b, "a\0b", 3);
    jw_key(&b, "list");
    jw_arr(&b);
    jw_str(&b, NULL);
    jw_str(&b, "");
    jw_str(&b, NULL);
    jw_end_arr(&b);
    jw_key(&b, "{[:");
    jw_str(&b, ":");
    jw_key_str(&b, "after", "colon");
    jw_end_obj(&b);

    yyjson_doc *doc = parse(&b);
    yyjson_val *root = yyjson_doc_get_root(doc);
    assert_int_equal(yyjson_obj_size(root), 6);
    assert_string_equal(yyjson_get_str(yyjson_obj_get(root, nasty)), nasty);
    assert_true(yyjson_is_null(yyjson_obj_get(root, "null")));
    yyjson_val *nul = yyjson_obj_get(root, "nul");
    assert_int_equal(yyjson_get_len(nul), 3);
    assert_memory_equal(yyjson_get_str(nul), "a\0b", 3);
    yyjson_val *list = yyjson_obj_get(root, "list");
    assert_int_equal(yyjson_arr_size(list), 3);
    assert_true(yyjson_is_null(yyjson_arr_get(list, 0)));
    assert_string_equal(yyjson_get_str(yyjson_arr_get(list, 1)), "");
    assert_true(yyjson_is_null(yyjson_arr_get(list, 2)));
    assert_string_equal(yyjson_get_str(yyjson_obj_get(root, "{[:")), ":");
    assert_string_equal(yyjson_get_str(yyjson_obj_get(root, "after")), "colon");
    yyjson_doc_free(doc);
    buf_free(&b);
}

static void test_jw_numbers(void **state)
{
    (void)state;
    struct buf    b = {0};
    const int64_t ints[] = {0,         1,         -1,           42, INT32_MAX, INT32_MIN, (int64_t)INT32_MAX + 1,
                            INT64_MAX, INT64_MIN, INT64_MIN + 1};
    const double  dbls[] = {0.0,   -0.0,    0.1,           -2.5,   1.0 / 3.0,
                            1e300, -1e-300, 123456789.125, 5e-324, 1.7976931348623157e308};
    const double  bad[] = {NAN, INFINITY, -INFINITY};

    jw_obj(&b);
    jw_key(&b, "i");
    jw_arr(&b);
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        jw_int(&b, ints[i]);
    jw_end_arr(&b);
    jw_key(&b, "d");
    jw_arr(&b);
    for (size_t i = 0; i < sizeof(dbls) / sizeof(dbls[0]); i++)
        jw_dbl(&b, dbls[i]);
    jw_end_arr(&b);
    jw_key(&b, "bad");
    jw_arr(&b);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        jw_dbl(&b, bad[i]);
    jw_end_arr(&b);
    jw_key_dbl(&b, "nan", NAN);
    jw_key_int(&b, "min", INT64_MIN);
    jw_end_obj(&b);

    assert_non_null(strstr(b.data, "9223372036854775807,-9223372036854775808,-9223372036854775807]"));
    assert_non_null(strstr(b.data, "\"bad\":[null,null,null],\"nan\":null"));

    yyjson_doc *doc = parse(&b);
    yyjson_val *root = yyjson_doc_get_root(doc);
    yyjson_val *iv = yyjson_obj_get(root, "i");
    assert_int_equal(yyjson_arr_size(iv), sizeof(ints) / sizeof(ints[0]));
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        yyjson_val *v = yyjson_arr_get(iv, i);
        assert_true(yyjson_is_int(v));
        assert_true(yyjson_get_sint(v) == ints[i]);
    }
    /* Doubles round-trip exactly (%.17g). */
    yyjson_val *dv = yyjson_obj_get(root, "d");
    assert_int_equal(yyjson_arr_size(dv), sizeof(dbls) / sizeof(dbls[0]));
    for (size_t i = 0; i < sizeof(dbls) / sizeof(dbls[0]); i++) {
        double got = yyjson_get_num(yyjson_arr_get(dv, i));
        if (memcmp(&got, &dbls[i], sizeof(got)) != 0 && !(got == 0.0 && dbls[i] == 0.0))
            fail_msg("double %zu: wrote %.17g, read back %.17g", i, dbls[i], got);
    }
    yyjson_val *bv = yyjson_obj_get(root, "bad");
    for (size_t i = 0; i < 3; i++)
        assert_true(yyjson_is_null(yyjson_arr_get(bv, i)));
    assert_true(yyjson_is_null(yyjson_obj_get(root, "nan")));
    assert_true(yyjson_get_sint(yyjson_obj_get(root, "min")) == INT64_MIN);
    yyjson_doc_free(doc);
    buf_free(&b);
}

/* A large document: jw over a buf that grows many times stays valid. */
static void test_jw_large(void **state)
{
    (void)state;
    struct buf b = {0};

    jw_arr(&b);
    for (int i = 0; i < 2000; i++) {
        jw_obj(&b);
        jw_key_int(&b, "n", i);
        jw_key_str(&b, "s", i % 2 ? "odd \"one\"" : NULL);
        jw_end_obj(&b);
    }
    jw_end_arr(&b);
    yyjson_doc *doc = parse(&b);
    yyjson_val *root = yyjson_doc_get_root(doc);
    assert_int_equal(yyjson_arr_size(root), 2000);
    yyjson_val *last = yyjson_arr_get(root, 1999);
    assert_int_equal(yyjson_get_sint(yyjson_obj_get(last, "n")), 1999);
    assert_string_equal(yyjson_get_str(yyjson_obj_get(last, "s")), "odd \"one\"");
    assert_true(yyjson_is_null(yyjson_obj_get(yyjson_arr_get(root, 10), "s")));
    yyjson_doc_free(doc);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_is_empty),
        cmocka_unit_test(test_append_grows),
        cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_consume),
        cmocka_unit_test(test_steal),
        cmocka_unit_test(test_reset_and_free),
        cmocka_unit_test(test_xalloc),
        cmocka_unit_test(test_jw_nested),
        cmocka_unit_test(test_jw_empty_and_top_level),
        cmocka_unit_test(test_jw_escaping_and_null),
        cmocka_unit_test(test_jw_numbers),
        cmocka_unit_test(test_jw_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
