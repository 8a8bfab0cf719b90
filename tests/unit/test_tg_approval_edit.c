/*
 * Unit tests for Sales' approval message edited once its question is
 * answered elsewhere (integrations/telegram.h tg_approval_edit_payload, and
 * the telegram channel's tg_build reading the rows that
 * db/migrations/0016_approval_edits.sql renders). Expected texts are
 * written out by hand here, never produced by the code under test.
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
#include "integrations/outbox.h"
#include "integrations/outbox_channels.h"
#include "integrations/telegram.h"

#define PUBLIC "https://gss.example.com"
#define TOKEN  "7000000009:AAunit-approval-edit"

#define DATA(event, extra)                                                                                             \
    "{\"message_id\":77,\"invoice_id\":12,\"number\":\"INV-2612-0003\",\"version\":2,"                                 \
    "\"customer\":\"PT <Maju> & Jaya\",\"total\":1300000,\"event\":\"" event "\"" extra "}"

struct edit {
    yyjson_doc *doc;
    yyjson_val *params;
    const char *text;
};

static void edit_read(struct edit *e, char *payload)
{
    assert_non_null(payload);
    e->doc = yyjson_read(payload, strlen(payload), 0);
    free(payload);
    assert_non_null(e->doc);
    yyjson_val *root = yyjson_doc_get_root(e->doc);
    assert_true(yyjson_equals_str(yyjson_obj_get(root, "method"), "editMessageText"));
    e->params = yyjson_obj_get(root, "params");
    assert_int_equal(yyjson_get_sint(yyjson_obj_get(e->params, "message_id")), 77);
    assert_true(yyjson_equals_str(yyjson_obj_get(e->params, "parse_mode"), "HTML"));
    assert_null(yyjson_obj_get(e->params, "chat_id")); /* the row's target gives it */
    e->text = yyjson_get_str(yyjson_obj_get(e->params, "text"));
    assert_non_null(e->text);
}

/* The keyboard is exactly [[Lihat / Revisi → PUBLIC/invoices/12]]. */
static void assert_view_only(const struct edit *e)
{
    yyjson_val *kb = yyjson_obj_get(yyjson_obj_get(e->params, "reply_markup"), "inline_keyboard");
    assert_int_equal(yyjson_arr_size(kb), 1);
    yyjson_val *row = yyjson_arr_get(kb, 0);
    assert_int_equal(yyjson_arr_size(row), 1);
    yyjson_val *b = yyjson_arr_get(row, 0);
    assert_true(yyjson_equals_str(yyjson_obj_get(b, "text"), "Lihat / Revisi"));
    assert_true(yyjson_equals_str(yyjson_obj_get(b, "url"), PUBLIC "/invoices/12"));
    assert_null(yyjson_obj_get(b, "callback_data"));
}

static void test_approved(void **state)
{
    (void)state;
    static const char d[] = DATA("approved", ",\"by\":\"Sari <Sales>\",\"via\":\"web\",\"note\":null");
    char              err[160] = "";
    struct edit       e;
    edit_read(&e, tg_approval_edit_payload(d, strlen(d), PUBLIC "/", err, sizeof(err)));
    assert_string_equal(e.text, "<b>Invoice INV-2612-0003</b>\nPelanggan: PT &lt;Maju&gt; &amp; Jaya\n"
                                "Total: Rp 1.300.000\n\n\xE2\x9C\x85 Disetujui oleh Sari &lt;Sales&gt; (web)");
    assert_view_only(&e);
    yyjson_doc_free(e.doc);

    static const char t[] = DATA("approved", ",\"by\":\"Sari\",\"via\":\"telegram\"");
    edit_read(&e, tg_approval_edit_payload(t, strlen(t), PUBLIC, err, sizeof(err)));
    assert_non_null(strstr(e.text, "\n\n\xE2\x9C\x85 Disetujui oleh Sari (Telegram)"));
    assert_view_only(&e);
    yyjson_doc_free(e.doc);

    /* nobody known (the account is gone): no "oleh" */
    static const char n[] = DATA("approved", ",\"by\":null");
    edit_read(&e, tg_approval_edit_payload(n, strlen(n), PUBLIC, err, sizeof(err)));
    assert_non_null(strstr(e.text, "\n\n\xE2\x9C\x85 Disetujui (web)"));
    yyjson_doc_free(e.doc);
}

static void test_revise_and_replaced(void **state)
{
    (void)state;
    static const char d[] = DATA("revise", ",\"by\":\"Sari\",\"via\":\"web\",\"note\":\"Diskon </b><i>50%\"");
    char              err[160] = "";
    struct edit       e;
    edit_read(&e, tg_approval_edit_payload(d, strlen(d), PUBLIC, err, sizeof(err)));
    assert_non_null(
        strstr(e.text, "\n\n\xE2\x86\xA9\xEF\xB8\x8F Revisi diminta oleh Sari: Diskon &lt;/b&gt;&lt;i&gt;50%"));
    assert_view_only(&e);
    yyjson_doc_free(e.doc);

    /* a long note is cut at TG_APPROVAL_NOTE characters, ending in "…" */
    struct buf b = {0};
    buf_puts(&b, "{\"message_id\":77,\"invoice_id\":12,\"number\":\"N\",\"version\":2,\"customer\":\"C\",\"total\":0,"
                 "\"event\":\"revise\",\"by\":\"S\",\"note\":\"");
    for (int i = 0; i < 700; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "\"}");
    edit_read(&e, tg_approval_edit_payload(b.data, b.len, PUBLIC, err, sizeof(err)));
    const char *colon = strstr(e.text, "oleh S: ");
    assert_non_null(colon);
    assert_int_equal(strlen(colon + 8), 500 + 3); /* 500 'x' and the three bytes of "…" */
    assert_string_equal(colon + 8 + 500, "\xE2\x80\xA6");
    yyjson_doc_free(e.doc);
    buf_free(&b);

    static const char r[] = DATA("replaced", "");
    edit_read(&e, tg_approval_edit_payload(r, strlen(r), PUBLIC, err, sizeof(err)));
    assert_non_null(strstr(e.text, "\n\n\xF0\x9F\x94\x84 Diganti versi baru"));
    assert_null(strstr(e.text, "Disetujui"));
    assert_view_only(&e);
    yyjson_doc_free(e.doc);

    /* no public URL: no keyboard at all (the edit drops the Approve button all the same) */
    edit_read(&e, tg_approval_edit_payload(r, strlen(r), "", err, sizeof(err)));
    assert_null(yyjson_obj_get(e.params, "reply_markup"));
    yyjson_doc_free(e.doc);
}

static void test_bad_data(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        DATA("deleted", ""),           /* an event it does not know */
        DATA("approved", ",\"by\":5"), /* by: a string or null */
        "{\"invoice_id\":12,\"number\":\"N\",\"version\":2,\"customer\":\"C\",\"total\":0,\"event\":\"replaced\"}",
        "{\"message_id\":0,\"invoice_id\":12,\"number\":\"N\",\"version\":2,\"customer\":\"C\",\"total\":0,"
        "\"event\":\"replaced\"}",
        "{\"message_id\":7,\"invoice_id\":12,\"number\":3,\"version\":2,\"customer\":\"C\",\"total\":0,"
        "\"event\":\"replaced\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[160] = "";
        assert_null(tg_approval_edit_payload(bad[i], strlen(bad[i]), PUBLIC, err, sizeof(err)));
        assert_true(err[0] != '\0');
    }
}

struct built {
    int                   rc;
    struct outbox_req     req;
    struct outbox_verdict v;
};

static void build(const struct outbox_channel *ch, const char *kind, const char *payload, struct built *b)
{
    memset(b, 0, sizeof(*b));
    struct outbox_row row = {.id = 1, .kind = kind, .target = "tg:5550001", .payload = payload};
    b->v.delay_ms = -1;
    b->rc = ch->build(ch->ctx, &row, &b->req, &b->v);
}

static void test_tg_build(void **state)
{
    (void)state;
    struct outbox_channel ch;
    outbox_tg_channel(&ch, TOKEN, "http://127.0.0.1:9");
    outbox_tg_public_url(&ch, PUBLIC "/");
    struct built b;

    build(&ch, "invoice.approval_edit", "{\"approval_edit\":" DATA("approved", ",\"by\":\"Sari\",\"via\":\"web\"") "}",
          &b);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.req.url, "http://127.0.0.1:9/bot" TOKEN "/editMessageText");
    yyjson_doc *doc = yyjson_read(b.req.body.data, b.req.body.len, 0);
    assert_non_null(doc);
    yyjson_val *root = yyjson_doc_get_root(doc);
    assert_int_equal(yyjson_get_sint(yyjson_obj_get(root, "chat_id")), 5550001);
    assert_int_equal(yyjson_get_sint(yyjson_obj_get(root, "message_id")), 77);
    assert_non_null(strstr(yyjson_get_str(yyjson_obj_get(root, "text")), "Disetujui oleh Sari (web)"));
    yyjson_doc_free(doc);
    outbox_req_clear(&b.req);
    outbox_verdict_clear(&b.v);

    /* the renderer's verdicts: skip is cancelled, wait is looked at again soon */
    build(&ch, "invoice.approval_edit", "{\"approval_skip\":\"edited by the Approve press on it\"}", &b);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.v.outcome, OUTBOX_CANCELLED);
    assert_string_equal(b.v.detail, "edited by the Approve press on it");
    assert_null(b.req.url);
    build(&ch, "invoice.pending_approval", "{\"approval_wait\":\"waiting for the approval fan-out\"}", &b);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.v.outcome, OUTBOX_WAIT);
    assert_int_equal(b.v.delay_ms, 1500);
    assert_null(b.req.url);
    /* the renderer's own wait (a message in a retry's backoff), within 1.5 s .. 5 min */
    build(&ch, "invoice.approval_edit", "{\"approval_wait\":\"w\",\"wait_ms\":60000}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_WAIT);
    assert_int_equal(b.v.delay_ms, 60000);
    build(&ch, "invoice.approval_edit", "{\"approval_wait\":\"w\",\"wait_ms\":86400000}", &b);
    assert_int_equal(b.v.delay_ms, 1500);
    build(&ch, "invoice.approval_edit", "{\"approval_wait\":\"w\",\"wait_ms\":5}", &b);
    assert_int_equal(b.v.delay_ms, 1500);
    /* data that is not of the shape: failed, saying so */
    build(&ch, "invoice.approval_edit", "{\"approval_edit\":{\"message_id\":77}}", &b);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.v.outcome, OUTBOX_FAILED);
    assert_non_null(strstr(b.v.detail, "bad approval edit payload"));
    outbox_channel_free(&ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_approved),
        cmocka_unit_test(test_revise_and_replaced),
        cmocka_unit_test(test_bad_data),
        cmocka_unit_test(test_tg_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
