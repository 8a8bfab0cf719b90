/*
 * Unit tests for integrations/telegram: HTML escaping, Rupiah amounts, the
 * approve button's callback data, and Sales' approval message. Expected
 * texts are written out by hand here, never produced by the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <yyjson.h>

#include "core/buf.h"
#include "integrations/telegram.h"

static char *esc(const char *s, size_t max)
{
    struct buf b = {0};
    tg_html_escape(&b, s, strlen(s), max);
    buf_putc(&b, '\0');
    return buf_steal(&b);
}

static void test_escape(void **state)
{
    (void)state;
    char *a = esc("AC <Daikin> & \"Sharp\" 'x'", 0);
    assert_string_equal(a, "AC &lt;Daikin&gt; &amp; &quot;Sharp&quot; 'x'");
    free(a);
    char *b = esc("</b><script>", 0);
    assert_string_equal(b, "&lt;/b&gt;&lt;script&gt;");
    free(b);
    /* cut by code points, never inside one: "José 😀 AC" to 5 characters */
    char *c = esc("Jos\xC3\xA9 \xF0\x9F\x98\x80 AC", 5);
    assert_string_equal(c, "Jos\xC3\xA9 \xE2\x80\xA6");
    free(c);
    char *d = esc("a&b", 2);
    assert_string_equal(d, "a&amp;\xE2\x80\xA6");
    free(d);
    char *e = esc("", 0);
    assert_string_equal(e, "");
    free(e);
}

static char *rp(int64_t v)
{
    struct buf b = {0};
    tg_rupiah(&b, v);
    buf_putc(&b, '\0');
    return buf_steal(&b);
}

static void test_rupiah(void **state)
{
    (void)state;
    static const struct {
        int64_t     v;
        const char *want;
    } cases[] = {
        {0, "Rp 0"},
        {5, "Rp 5"},
        {999, "Rp 999"},
        {1000, "Rp 1.000"},
        {50000, "Rp 50.000"},
        {1350000, "Rp 1.350.000"},
        {-50000, "-Rp 50.000"},
        {INT64_MAX, "Rp 9.223.372.036.854.775.807"},
        {INT64_MIN, "-Rp 9.223.372.036.854.775.808"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = rp(cases[i].v);
        assert_string_equal(s, cases[i].want);
        free(s);
    }
}

static void test_approve_data(void **state)
{
    (void)state;
    char out[TG_CALLBACK_MAX + 1];
    assert_int_equal(tg_approve_data(out, 1234, 3), 0);
    assert_string_equal(out, "ap:1234:3");
    assert_int_equal(tg_approve_data(out, INT64_MAX, INT64_MAX), 0);
    assert_true(strlen(out) <= TG_CALLBACK_MAX);
    assert_int_equal(tg_approve_data(out, 0, 1), -1);
    assert_int_equal(tg_approve_data(out, 5, -1), -1);

    int64_t id = 0, ver = 0;
    assert_true(tg_parse_approve_data("ap:1234:3", 9, &id, &ver));
    assert_int_equal(id, 1234);
    assert_int_equal(ver, 3);
    /* the shortest, six bytes: a young database's first invoice */
    assert_true(tg_parse_approve_data("ap:2:1", 6, &id, &ver));
    assert_int_equal(id, 2);
    assert_int_equal(ver, 1);
    static const char *const bad[] = {
        "ap:1234",
        "ap:1234:",
        "ap::3",
        "ap:0:1",
        "ap:01:1",
        "ap:1:0",
        "ap:-1:1",
        "ap:1:+2",
        "ap:1:2:3",
        "ap:1:2 ",
        "xp:1:2",
        "AP:1:2",
        "ap:1x:2",
        "ap:1:2x",
        "",
        "ap:",
        "ap:1:1234567890123456789", /* 19 digits */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(tg_parse_approve_data(bad[i], strlen(bad[i]), &id, &ver));
}

static const char DATA[] =
    "{\"invoice_id\":55,\"version\":2,\"number\":\"INV/2026/12/0007\",\"customer\":\"PT <Maju> & Jaya\","
    "\"items\":[{\"description\":\"Ganti kompresor AC 1 PK\",\"qty\":1,\"unit_price\":1250000,\"line_total\":1250000},"
    "{\"description\":\"Isi freon R32 <2kg>\",\"qty\":2,\"unit_price\":50000,\"line_total\":100000}],"
    "\"subtotal\":1350000,\"discount\":50000,\"tax\":143000,\"total\":1443000}";

static void test_approval_payload(void **state)
{
    (void)state;
    char  err[160] = "";
    char *p = tg_approval_payload(DATA, strlen(DATA), "https://gss.example.co.id/", err, sizeof(err));
    assert_non_null(p);
    yyjson_doc *doc = yyjson_read(p, strlen(p), 0);
    assert_non_null(doc);
    yyjson_val *root = yyjson_doc_get_root(doc);
    assert_string_equal(yyjson_get_str(yyjson_obj_get(root, "method")), "sendMessage");
    yyjson_val *params = yyjson_obj_get(root, "params");
    assert_null(yyjson_obj_get(params, "chat_id")); /* the row's target gives it */
    assert_string_equal(yyjson_get_str(yyjson_obj_get(params, "parse_mode")), "HTML");
    assert_string_equal(yyjson_get_str(yyjson_obj_get(params, "text")), "<b>Draft Invoice Menunggu Approval</b>\n"
                                                                        "\n"
                                                                        "No: <b>INV/2026/12/0007</b>\n"
                                                                        "Pelanggan: PT &lt;Maju&gt; &amp; Jaya\n"
                                                                        "\n"
                                                                        "1. Ganti kompresor AC 1 PK\n"
                                                                        "    1 \xC3\x97 Rp 1.250.000 = Rp 1.250.000\n"
                                                                        "2. Isi freon R32 &lt;2kg&gt;\n"
                                                                        "    2 \xC3\x97 Rp 50.000 = Rp 100.000\n"
                                                                        "\n"
                                                                        "Subtotal: Rp 1.350.000\n"
                                                                        "Diskon: -Rp 50.000\n"
                                                                        "PPN: Rp 143.000\n"
                                                                        "<b>Total: Rp 1.443.000</b>");
    yyjson_val *kb = yyjson_obj_get(yyjson_obj_get(params, "reply_markup"), "inline_keyboard");
    assert_int_equal(yyjson_arr_size(kb), 2);
    yyjson_val *ap = yyjson_arr_get(yyjson_arr_get(kb, 0), 0), *view = yyjson_arr_get(yyjson_arr_get(kb, 1), 0);
    assert_string_equal(yyjson_get_str(yyjson_obj_get(ap, "text")), "Approve");
    assert_string_equal(yyjson_get_str(yyjson_obj_get(ap, "callback_data")), "ap:55:2");
    assert_null(yyjson_obj_get(ap, "url"));
    assert_string_equal(yyjson_get_str(yyjson_obj_get(view, "text")), "Lihat / Revisi");
    assert_string_equal(yyjson_get_str(yyjson_obj_get(view, "url")), "https://gss.example.co.id/invoices/55");
    assert_null(yyjson_obj_get(view, "callback_data"));
    yyjson_doc_free(doc);
    free(p);
}

static void test_approval_many_items_and_no_discount(void **state)
{
    (void)state;
    struct buf d = {0};
    buf_puts(&d, "{\"invoice_id\":9,\"version\":1,\"number\":\"N\",\"customer\":\"C\",\"items\":[");
    for (int i = 0; i < 25; i++) {
        buf_printf(&d, "%s{\"description\":\"", i ? "," : "");
        for (int k = 0; k < 300; k++)
            buf_putc(&d, 'x');
        buf_puts(&d, "\",\"qty\":1,\"unit_price\":1,\"line_total\":1}");
    }
    buf_puts(&d, "],\"subtotal\":25,\"discount\":0,\"tax\":0,\"total\":25}");
    char  err[160];
    char *p = tg_approval_payload(d.data, d.len, "https://gss.example.co.id", err, sizeof(err));
    assert_non_null(p);
    yyjson_doc *doc = yyjson_read(p, strlen(p), 0);
    const char *text = yyjson_get_str(yyjson_obj_get(yyjson_obj_get(yyjson_doc_get_root(doc), "params"), "text"));
    assert_non_null(strstr(text, "\n20. "));
    assert_null(strstr(text, "\n21. "));
    assert_non_null(strstr(text, "\xE2\x80\xA6 dan 5 baris lagi\n"));
    assert_null(strstr(text, "Diskon"));
    /* within Telegram's 4096 characters (all ASCII here but the ellipses and ×) */
    assert_true(strlen(text) < TG_TEXT_MAX);
    yyjson_doc_free(doc);
    free(p);
    buf_free(&d);
}

static void test_approval_bad_data(void **state)
{
    (void)state;
    char                     err[160];
    static const char *const bad[] = {
        "",
        "[]",
        "{\"invoice_id\":0,\"version\":1,\"number\":\"N\",\"customer\":\"C\",\"items\":[],\"subtotal\":0,\"discount\":"
        "0,"
        "\"tax\":0,\"total\":0}",
        "{\"invoice_id\":1,\"version\":1,\"number\":\"N\",\"customer\":\"C\",\"items\":[{\"qty\":1}],\"subtotal\":0,"
        "\"discount\":0,\"tax\":0,\"total\":0}",
        "{\"invoice_id\":1,\"version\":1,\"number\":\"N\",\"items\":[],\"subtotal\":0,\"discount\":0,\"tax\":0,"
        "\"total\":0}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_null(tg_approval_payload(bad[i], strlen(bad[i]), "https://gss.example.co.id", err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
    assert_null(tg_approval_payload(DATA, strlen(DATA), "", err, sizeof(err)));
}

/* ---- job broadcasts ---- */

static char *wib(const char *iso)
{
    struct buf b = {0};
    if (tg_wib_time(&b, iso, strlen(iso)) < 0) {
        buf_free(&b);
        return NULL;
    }
    buf_putc(&b, '\0');
    return buf_steal(&b);
}

static void test_wib_time(void **state)
{
    (void)state;
    char *a = wib("2030-06-03T02:00:00Z"); /* a Monday, 09:00 in Jakarta */
    assert_string_equal(a, "Sen 03 Jun 09:00 WIB");
    free(a);
    char *b = wib("2026-12-01T18:30:00Z"); /* past midnight in Jakarta: Wednesday the 2nd */
    assert_string_equal(b, "Rab 02 Des 01:30 WIB");
    free(b);
    char *c = wib("2024-02-28T17:05:00Z"); /* leap day, a Thursday */
    assert_string_equal(c, "Kam 29 Feb 00:05 WIB");
    free(c);
    char *d = wib("2024-12-31T23:59:59Z"); /* new year in Jakarta */
    assert_string_equal(d, "Rab 01 Jan 06:59 WIB");
    free(d);
    assert_null(wib("2030-06-03 02:00:00"));
    assert_null(wib("2030-06-03T02:00:00+07:00"));
    assert_null(wib("2030-13-03T02:00:00Z"));
    assert_null(wib(""));
}

static const char JOB_OPEN[] =
    "{\"id\":42,\"code\":\"TCK-20301203-0007\",\"problem\":\"AC <Daikin> & \\\"bocor\\\"\",\"area\":\"Kebayoran\","
    "\"scheduled_at\":\"2030-06-03T02:00:00Z\",\"needed\":3,\"filled\":1,\"state\":\"open\",\"urgent\":false,"
    "\"round\":1}";

static yyjson_doc *job_doc(const char *job, int64_t edit, const struct tg_job_links *l)
{
    char  err[200] = "";
    char *p = tg_job_payload(job, strlen(job), edit, l, err, sizeof(err));
    assert_non_null(p);
    yyjson_doc *d = yyjson_read(p, strlen(p), 0);
    free(p);
    assert_non_null(d);
    return d;
}

static const char *sget(yyjson_val *o, const char *path)
{
    return yyjson_get_str(yyjson_ptr_get(o, path));
}

static void test_job_open(void **state)
{
    (void)state;
    struct tg_job_links l = {"https://gss.example.com/", "gss_bot", NULL};
    yyjson_doc         *d = job_doc(JOB_OPEN, 0, &l);
    yyjson_val         *r = yyjson_doc_get_root(d);
    assert_string_equal(sget(r, "/method"), "sendMessage");
    assert_null(yyjson_ptr_get(r, "/params/chat_id"));
    assert_null(yyjson_ptr_get(r, "/params/message_id"));
    assert_string_equal(sget(r, "/params/parse_mode"), "HTML");
    assert_true(yyjson_get_bool(yyjson_ptr_get(r, "/params/link_preview_options/is_disabled")));
    assert_string_equal(sget(r, "/params/text"),
                        "\xF0\x9F\x94\xA7 <b>JOB BARU</b> <b>TCK-20301203-0007</b>\n\n"
                        "\xF0\x9F\x93\x8D Area: Kebayoran\n"
                        "\xF0\x9F\x9B\xA0 Masalah: AC &lt;Daikin&gt; &amp; &quot;bocor&quot;\n"
                        "\xF0\x9F\x97\x93 Jadwal: Sen 03 Jun 09:00 WIB\n\n"
                        "\xF0\x9F\x91\xA5 Teknisi: 1/3 terisi");
    yyjson_val *kb = yyjson_ptr_get(r, "/params/reply_markup/inline_keyboard");
    assert_int_equal(yyjson_arr_size(kb), 1);
    assert_int_equal(yyjson_arr_size(yyjson_arr_get(kb, 0)), 1);
    assert_string_equal(sget(r, "/params/reply_markup/inline_keyboard/0/0/text"), "Ambil Job");
    /* no Mini App configured: the plain web page, without a double '/' */
    assert_string_equal(sget(r, "/params/reply_markup/inline_keyboard/0/0/url"), "https://gss.example.com/jobs/42");
    yyjson_doc_free(d);

    /* with a Mini App: the Direct Link one, the username's '@' dropped */
    struct tg_job_links m = {"https://gss.example.com", "@gss_bot", "claim"};
    d = job_doc(JOB_OPEN, 0, &m);
    assert_string_equal(sget(yyjson_doc_get_root(d), "/params/reply_markup/inline_keyboard/0/0/url"),
                        "https://t.me/gss_bot/claim?startapp=job_42");
    yyjson_doc_free(d);
}

static void test_job_states(void **state)
{
    (void)state;
    struct tg_job_links l = {"https://gss.example.com", NULL, NULL};
    /* full, as an edit: the text says PENUH, the button is disabled and the
     * keyboard is carried again */
    const char full[] = "{\"id\":42,\"code\":\"TCK-1\",\"problem\":\"x\",\"area\":\"\",\"scheduled_at\":"
                        "\"2030-06-03T02:00:00Z\",\"needed\":3,\"filled\":3,\"state\":\"full\",\"urgent\":false}";
    yyjson_doc *d = job_doc(full, 77, &l);
    yyjson_val *r = yyjson_doc_get_root(d);
    assert_string_equal(sget(r, "/method"), "editMessageText");
    assert_int_equal(yyjson_get_sint(yyjson_ptr_get(r, "/params/message_id")), 77);
    assert_non_null(strstr(sget(r, "/params/text"), "\xE2\x9C\x85 <b>PENUH</b> (3/3)"));
    assert_non_null(strstr(sget(r, "/params/text"), "Area: -\n")); /* no area: a dash */
    assert_null(strstr(sget(r, "/params/text"), "terisi"));
    yyjson_val *b = yyjson_ptr_get(r, "/params/reply_markup/inline_keyboard/0/0");
    assert_string_equal(sget(b, "/text"), "PENUH");
    assert_true(yyjson_is_obj(yyjson_obj_get(b, "disabled")));
    assert_int_equal(yyjson_obj_size(yyjson_obj_get(b, "disabled")), 0);
    assert_null(yyjson_obj_get(b, "url"));
    assert_int_equal(yyjson_obj_size(b), 2);
    yyjson_doc_free(d);

    /* cancelled: no keyboard at all (an edit without one removes it) */
    const char canc[] = "{\"id\":42,\"code\":\"TCK-1\",\"problem\":\"x\",\"area\":\"A\",\"scheduled_at\":"
                        "\"2030-06-03T02:00:00Z\",\"needed\":3,\"filled\":2,\"state\":\"cancelled\",\"urgent\":false}";
    d = job_doc(canc, 5, &l);
    r = yyjson_doc_get_root(d);
    assert_non_null(strstr(sget(r, "/params/text"), "\xE2\x9D\x8C <b>DIBATALKAN</b>"));
    assert_null(yyjson_ptr_get(r, "/params/reply_markup"));
    yyjson_doc_free(d);

    /* a replacement's round: URGENT */
    const char urg[] = "{\"id\":9,\"code\":\"TCK-9\",\"problem\":\"p\",\"area\":\"A\",\"scheduled_at\":"
                       "\"2030-06-03T02:00:00Z\",\"needed\":2,\"filled\":1,\"state\":\"open\",\"urgent\":true,"
                       "\"round\":2}";
    d = job_doc(urg, 0, &l);
    r = yyjson_doc_get_root(d);
    const char *t = sget(r, "/params/text");
    assert_memory_equal(t, "\xF0\x9F\x9A\xA8 <b>URGENT \xE2\x80\x94 PENGGANTI</b> <b>TCK-9</b> (putaran 2)\n",
                        strlen("\xF0\x9F\x9A\xA8 <b>URGENT \xE2\x80\x94 PENGGANTI</b> <b>TCK-9</b> (putaran 2)\n"));
    assert_null(strstr(t, "JOB BARU"));
    assert_non_null(strstr(t, "Teknisi: 1/2 terisi"));
    yyjson_doc_free(d);
}

static void test_job_bad(void **state)
{
    (void)state;
    struct tg_job_links l = {"https://gss.example.com", NULL, NULL};
    char                err[200];
    const char         *bad[] = {
        "",
        "[]",
        "{\"id\":42}",
        /* a state it does not know */
        "{\"id\":1,\"code\":\"T\",\"problem\":\"x\",\"area\":\"\",\"scheduled_at\":\"2030-06-03T02:00:00Z\","
                "\"needed\":1,\"filled\":0,\"state\":\"gone\",\"urgent\":false}",
        /* urgent not a boolean */
        "{\"id\":1,\"code\":\"T\",\"problem\":\"x\",\"area\":\"\",\"scheduled_at\":\"2030-06-03T02:00:00Z\","
                "\"needed\":1,\"filled\":0,\"state\":\"open\",\"urgent\":1}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        char *p = tg_job_payload(bad[i], strlen(bad[i]), 0, &l, err, sizeof(err));
        assert_null(p);
        assert_true(err[0] != '\0');
    }
    /* an open job with nowhere for its button to go */
    struct tg_job_links none = {"", "gss_bot", NULL};
    err[0] = '\0';
    assert_null(tg_job_payload(JOB_OPEN, strlen(JOB_OPEN), 0, &none, err, sizeof(err)));
    assert_non_null(strstr(err, "no public URL"));
    /* a long problem is cut, and never inside an entity */
    struct buf j = {0};
    buf_puts(&j, "{\"id\":1,\"code\":\"T\",\"area\":\"\",\"scheduled_at\":\"2030-06-03T02:00:00Z\",\"needed\":1,"
                 "\"filled\":0,\"state\":\"open\",\"urgent\":false,\"problem\":\"");
    for (int i = 0; i < 300; i++)
        buf_putc(&j, '&');
    buf_puts(&j, "\"}");
    yyjson_doc *d = job_doc(j.data, 0, &l);
    const char *t = sget(yyjson_doc_get_root(d), "/params/text");
    const char *m = strstr(t, "Masalah: ");
    assert_non_null(m);
    size_t amps = 0;
    for (const char *q = m + 9; !strncmp(q, "&amp;", 5); q += 5)
        amps++;
    assert_int_equal(amps, 200);
    assert_memory_equal(m + 9 + 200 * 5, "\xE2\x80\xA6\n", 4);
    yyjson_doc_free(d);
    buf_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_rupiah),
        cmocka_unit_test(test_approve_data),
        cmocka_unit_test(test_approval_payload),
        cmocka_unit_test(test_approval_many_items_and_no_discount),
        cmocka_unit_test(test_approval_bad_data),
        cmocka_unit_test(test_wib_time),
        cmocka_unit_test(test_job_open),
        cmocka_unit_test(test_job_states),
        cmocka_unit_test(test_job_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
