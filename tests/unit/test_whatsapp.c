/*
 * Unit tests for integrations/whatsapp (the customer's invoice message)
 * and the WhatsApp channel's use of it (outbox_channels.c wa_build): the
 * template outside the 24-hour window, cta_url inside it, the tokens, the
 * BSUID recipient. Expected tokens are computed here with mbedTLS from the
 * documented derivation (auth/links.h), never by the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <yyjson.h>

#include "auth/links.h"
#include "core/buf.h"
#include "integrations/outbox.h"
#include "integrations/outbox_channels.h"
#include "integrations/whatsapp.h"

#define KEY_HEX   "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define INV_NONCE "0102030405060708090a0b0c0d0e0f10"
#define RAT_NONCE "f0e0d0c0b0a090807060504030201000"

/* base64url(HMAC-SHA256(key, "gss-link-v1:" kind ":" nonce)[0..24)) */
static void expect_token(const char *kind, const char *nonce_hex, char out[33])
{
    uint8_t key[32], nonce[16], mac[32];
    for (int i = 0; i < 32; i++)
        sscanf(KEY_HEX + 2 * i, "%2hhx", &key[i]);
    for (int i = 0; i < 16; i++)
        sscanf(nonce_hex + 2 * i, "%2hhx", &nonce[i]);
    char   msg[64];
    size_t ml = (size_t)snprintf(msg, sizeof(msg), "gss-link-v1:%s:", kind);
    memcpy(msg + ml, nonce, 16);
    ml += 16;
    assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, 32, (uint8_t *)msg, ml, mac),
                     0);
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int               k = 0;
    for (int i = 0; i < 24; i += 3) {
        uint32_t v = (uint32_t)mac[i] << 16 | (uint32_t)mac[i + 1] << 8 | mac[i + 2];
        out[k++] = a[v >> 18 & 63];
        out[k++] = a[v >> 12 & 63];
        out[k++] = a[v >> 6 & 63];
        out[k++] = a[v & 63];
    }
    out[k] = '\0';
}

static struct links keys;

static int setup(void **state)
{
    (void)state;
    char err[128];
    return links_init(&keys, KEY_HEX, err, sizeof(err)) == 0 ? 0 : -1;
}

static const struct wa_links_conf conf = {"https://gss.test", "gss_invoice", "id"};

static char *param(const char *s, size_t max, const char *dflt)
{
    struct buf b = {0};
    wa_param_text(&b, s, strlen(s), max, dflt);
    buf_putc(&b, '\0');
    return buf_steal(&b);
}

static void test_param_text(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
        size_t      max;
    } cases[] = {
        {"Budi Santoso", "Budi Santoso", 0},
        {"  Budi\n\tSantoso     Jr  ", "Budi Santoso Jr", 0},
        {"a     b", "a b", 0}, /* five spaces are refused by Meta (132018) */
        {"Jos\xC3\xA9 \xF0\x9F\x98\x80", "Jos\xC3\xA9 \xF0\x9F\x98\x80", 0},
        {"abcdef", "abc\xE2\x80\xA6", 3},
        {"\n \t", "Pelanggan", 0},
        {"", "Pelanggan", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *p = param(cases[i].in, cases[i].max, "Pelanggan");
        assert_string_equal(p, cases[i].out);
        free(p);
    }
}

static void test_date_id(void **state)
{
    (void)state;
    char d[40];
    assert_int_equal(wa_date_id("2026-12-08T03:00:00Z", d, sizeof(d)), 0);
    assert_string_equal(d, "8 Desember 2026");
    /* 17:00 UTC is midnight in Jakarta: the next day */
    assert_int_equal(wa_date_id("2026-12-31T17:00:00Z", d, sizeof(d)), 0);
    assert_string_equal(d, "1 Januari 2027");
    assert_int_equal(wa_date_id("2028-02-28T20:00:00Z", d, sizeof(d)), 0);
    assert_string_equal(d, "29 Februari 2028");
    assert_int_equal(wa_date_id("2026-05-01T16:59:59Z", d, sizeof(d)), 0);
    assert_string_equal(d, "1 Mei 2026");
    static const char *const bad[] = {"",
                                      "2026-12-08",
                                      "2026-13-01T00:00:00Z",
                                      "2026-12-08T03:00:00+07",
                                      "2026-12-08 03:00:00Z",
                                      "2026-12-32T00:00:00Z",
                                      "2026-12-08T03:00:00Zx"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(wa_date_id(bad[i], d, sizeof(d)), -1);
        assert_string_equal(d, "");
    }
    assert_int_equal(wa_date_id(NULL, d, sizeof(d)), -1);
}

static void test_bsuid(void **state)
{
    (void)state;
    assert_true(wa_bsuid_ok("ID.1234567890123456"));
    assert_true(wa_bsuid_ok("US.ENT.11815799212886844830"));
    assert_false(wa_bsuid_ok(""));
    assert_false(wa_bsuid_ok("ID 123"));
    assert_false(wa_bsuid_ok("ID/123"));
    char long_id[WA_BSUID_MAX + 2];
    memset(long_id, 'a', sizeof(long_id) - 1);
    long_id[WA_BSUID_MAX + 1] = '\0';
    assert_false(wa_bsuid_ok(long_id));
    long_id[WA_BSUID_MAX] = '\0';
    assert_true(wa_bsuid_ok(long_id));
}

static yyjson_val *path(yyjson_val *v, const char *p)
{
    return yyjson_ptr_get(v, p);
}

static const char *str_at(yyjson_val *root, const char *p)
{
    return yyjson_get_str(path(root, p));
}

static char *links_msg(bool open, const char *extra)
{
    struct buf b = {0};
    buf_printf(&b,
               "{\"customer\":\"Budi\\nSantoso\",\"number\":\"INV-2612-0001\",\"total\":1250000,"
               "\"due_at\":\"2026-12-08T03:00:00Z\",\"window_open\":%s,"
               "\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\"},"
               "\"rating\":{\"nonce_hex\":\"" RAT_NONCE "\",\"used\":false}%s}",
               open ? "true" : "false", extra ? extra : "");
    return buf_steal(&b);
}

static void test_template_when_closed(void **state)
{
    (void)state;
    char inv[33], rat[33], err[200] = "";
    expect_token("invoice", INV_NONCE, inv);
    expect_token("rating", RAT_NONCE, rat);
    char *in = links_msg(false, NULL);
    char *m = wa_links_message(in, strlen(in), &keys, &conf, err, sizeof(err));
    assert_non_null(m);
    yyjson_doc *d = yyjson_read(m, strlen(m), 0);
    yyjson_val *r = yyjson_doc_get_root(d);
    assert_string_equal(str_at(r, "/type"), "template");
    assert_string_equal(str_at(r, "/template/name"), "gss_invoice");
    assert_string_equal(str_at(r, "/template/language/code"), "id");
    assert_null(path(r, "/to"));
    assert_string_equal(str_at(r, "/template/components/0/type"), "body");
    assert_int_equal(yyjson_arr_size(path(r, "/template/components/0/parameters")), 3);
    assert_string_equal(str_at(r, "/template/components/0/parameters/0/type"), "text");
    assert_string_equal(str_at(r, "/template/components/0/parameters/0/text"), "Budi Santoso");
    assert_string_equal(str_at(r, "/template/components/0/parameters/1/text"), "INV-2612-0001");
    assert_string_equal(str_at(r, "/template/components/0/parameters/2/text"), "Rp 1.250.000");
    assert_string_equal(str_at(r, "/template/components/1/type"), "button");
    assert_string_equal(str_at(r, "/template/components/1/sub_type"), "url");
    assert_string_equal(str_at(r, "/template/components/1/index"), "0");
    assert_string_equal(str_at(r, "/template/components/1/parameters/0/text"), inv);
    assert_string_equal(str_at(r, "/template/components/2/index"), "1");
    assert_string_equal(str_at(r, "/template/components/2/parameters/0/text"), rat);
    assert_null(strstr(m, "https://")); /* the suffix only: the template holds the URL */
    yyjson_doc_free(d);
    free(m);
    free(in);

    /* no rating link: the template's second button cannot be filled */
    const char *no_rating = "{\"customer\":\"B\",\"number\":\"N\",\"total\":1,\"window_open\":false,"
                            "\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\"},\"rating\":null}";
    assert_null(wa_links_message(no_rating, strlen(no_rating), &keys, &conf, err, sizeof(err)));
    assert_non_null(strstr(err, "rating link"));
}

static void test_cta_when_open(void **state)
{
    (void)state;
    char inv[33], rat[33], err[200] = "", url[128];
    expect_token("invoice", INV_NONCE, inv);
    expect_token("rating", RAT_NONCE, rat);
    char *in = links_msg(true, ",\"balance\":250000");
    char *m = wa_links_message(in, strlen(in), &keys, &conf, err, sizeof(err));
    assert_non_null(m);
    yyjson_doc *d = yyjson_read(m, strlen(m), 0);
    yyjson_val *r = yyjson_doc_get_root(d);
    assert_string_equal(str_at(r, "/type"), "interactive");
    assert_string_equal(str_at(r, "/interactive/type"), "cta_url");
    assert_string_equal(str_at(r, "/interactive/action/name"), "cta_url");
    assert_string_equal(str_at(r, "/interactive/action/parameters/display_text"), "Lihat Tagihan");
    snprintf(url, sizeof(url), "https://gss.test/i/%s", inv);
    assert_string_equal(str_at(r, "/interactive/action/parameters/url"), url);
    const char *body = str_at(r, "/interactive/body/text");
    assert_non_null(strstr(body, "Halo Budi Santoso,"));
    assert_non_null(strstr(body, "Tagihan INV-2612-0001 sebesar Rp 1.250.000"));
    assert_non_null(strstr(body, "Sisa yang belum dibayar: Rp 250.000."));
    assert_non_null(strstr(body, "Jatuh tempo: 8 Desember 2026."));
    snprintf(url, sizeof(url), "https://gss.test/r/%s", rat);
    assert_non_null(strstr(body, url));
    assert_true(strlen(body) <= WA_CTA_BODY_MAX);
    yyjson_doc_free(d);
    free(m);
    free(in);

    /* a used rating link is not offered again */
    const char *used = "{\"customer\":\"B\",\"number\":\"N\",\"total\":1,\"window_open\":true,"
                       "\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\"},"
                       "\"rating\":{\"nonce_hex\":\"" RAT_NONCE "\",\"used\":true}}";
    m = wa_links_message(used, strlen(used), &keys, &conf, err, sizeof(err));
    assert_non_null(m);
    assert_null(strstr(m, "/r/"));
    assert_null(strstr(m, "penilaian"));
    free(m);

    /* a very long name is cut: the body stays within Meta's 1024 */
    struct buf b = {0};
    buf_puts(&b, "{\"customer\":\"");
    for (int i = 0; i < 2000; i++)
        buf_putc(&b, 'x');
    buf_puts(&b, "\",\"number\":\"N\",\"total\":1,\"window_open\":true,\"invoice\":{\"nonce_hex\":\"" INV_NONCE
                 "\"},\"rating\":{\"nonce_hex\":\"" RAT_NONCE "\",\"used\":false}}");
    m = wa_links_message(b.data, b.len, &keys, &conf, err, sizeof(err));
    assert_non_null(m);
    d = yyjson_read(m, strlen(m), 0);
    assert_true(strlen(str_at(yyjson_doc_get_root(d), "/interactive/body/text")) <= WA_CTA_BODY_MAX);
    yyjson_doc_free(d);
    free(m);
    buf_free(&b);
}

/* The stored hash (SHA-256 of the token's 32 characters) as hex. */
static void token_hash_hex(const char *token, char out[65])
{
    uint8_t h[32];
    assert_int_equal(mbedtls_sha256((const uint8_t *)token, strlen(token), h, 0), 0);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void test_stored_hash(void **state)
{
    (void)state;
    char inv[33], rat[33], hi[65], hr[65], err[200] = "";
    expect_token("invoice", INV_NONCE, inv);
    expect_token("rating", RAT_NONCE, rat);
    token_hash_hex(inv, hi);
    token_hash_hex(rat, hr);
    struct buf b = {0};
    buf_printf(&b,
               "{\"number\":\"N\",\"total\":1,\"window_open\":false,"
               "\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\",\"hash_hex\":\"%s\"},"
               "\"rating\":{\"nonce_hex\":\"" RAT_NONCE "\",\"hash_hex\":\"%s\",\"used\":false}}",
               hi, hr);
    char *m = wa_links_message(b.data, b.len, &keys, &conf, err, sizeof(err));
    assert_non_null(m);
    assert_non_null(strstr(m, inv));
    free(m);
    /* a hash the current key does not give: the key changed */
    buf_reset(&b);
    hr[0] = hr[0] == '0' ? '1' : '0';
    buf_printf(&b,
               "{\"number\":\"N\",\"total\":1,\"window_open\":false,"
               "\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\",\"hash_hex\":\"%s\"},"
               "\"rating\":{\"nonce_hex\":\"" RAT_NONCE "\",\"hash_hex\":\"%s\",\"used\":false}}",
               hi, hr);
    assert_null(wa_links_message(b.data, b.len, &keys, &conf, err, sizeof(err)));
    assert_non_null(strstr(err, "GSS_LINK_KEY"));
    assert_null(strstr(err, inv));
    buf_free(&b);
}

static void test_bad_links_msg(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "[]",
        "{\"invoice\":null,\"number\":\"N\",\"total\":1,\"window_open\":true}",
        "{\"number\":\"N\",\"total\":1,\"window_open\":true}",
        "{\"invoice\":{\"nonce_hex\":\"zz\"},\"number\":\"N\",\"total\":1,\"window_open\":true}",
        "{\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\"},\"total\":1,\"window_open\":true}",
        "{\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\"},\"number\":\"N\",\"total\":\"1\",\"window_open\":true}",
        "{\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\"},\"number\":\"N\",\"total\":1}",
        "{\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\"},\"number\":\"N\",\"total\":1,\"window_open\":true,"
        "\"customer\":5}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char  err[200] = "";
        char *m = wa_links_message(bad[i], strlen(bad[i]), &keys, &conf, err, sizeof(err));
        if (m)
            fail_msg("case %zu built: %s", i, m);
        assert_true(err[0] != '\0');
    }
    const char *ok =
        "{\"invoice\":{\"nonce_hex\":\"" INV_NONCE "\"},\"number\":\"N\",\"total\":1,\"window_open\":true}";
    struct wa_links_conf nourl = {"", "gss_invoice", "id"};
    char                 err[200] = "";
    assert_null(wa_links_message(ok, strlen(ok), &keys, &nourl, err, sizeof(err)));
    assert_non_null(strstr(err, "GSS_PUBLIC_URL"));
}

/* ---- the channel (outbox_channels.c wa_build) ---------------------------- */

struct built {
    int                   rc;
    struct outbox_req     req;
    struct outbox_verdict v;
};

static void build(const struct outbox_channel *ch, const char *target, const char *payload, struct built *b)
{
    memset(b, 0, sizeof(*b));
    struct outbox_row row = {.id = 1, .kind = "invoice.sent", .target = target, .payload = payload};
    b->v.delay_ms = -1;
    b->rc = ch->build(ch->ctx, &row, &b->req, &b->v);
}

static void built_free(struct built *b)
{
    outbox_req_clear(&b->req);
    outbox_verdict_clear(&b->v);
}

static void test_channel(void **state)
{
    (void)state;
    char inv[33];
    expect_token("invoice", INV_NONCE, inv);
    struct outbox_channel ch;
    outbox_wa_channel(&ch, "EAAsecret", "https://graph.example/v21.0", "1098");
    char      *lm = links_msg(false, NULL);
    struct buf p = {0};
    buf_printf(&p, "{\"links_msg\":%s}", lm);
    free(lm);
    struct built b;
    /* without the setter: waits, nothing sent */
    build(&ch, "wa:6281234567890", p.data, &b);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.v.outcome, OUTBOX_WAIT);
    built_free(&b);

    outbox_wa_links(&ch, &keys, "https://gss.test/", "gss_invoice", "id");
    build(&ch, "wa:6281234567890", p.data, &b);
    assert_int_equal(b.rc, 0);
    buf_putc(&b.req.body, '\0');
    yyjson_doc *d = yyjson_read(b.req.body.data, b.req.body.len - 1, 0);
    yyjson_val *r = yyjson_doc_get_root(d);
    assert_string_equal(str_at(r, "/messaging_product"), "whatsapp");
    assert_string_equal(str_at(r, "/to"), "6281234567890");
    assert_null(path(r, "/recipient"));
    assert_string_equal(str_at(r, "/type"), "template");
    assert_string_equal(str_at(r, "/template/components/1/parameters/0/text"), inv);
    yyjson_doc_free(d);
    built_free(&b);

    /* a customer who hides the number: "recipient", no "to" */
    build(&ch, "wa-user:ID.1234567890123456", p.data, &b);
    assert_int_equal(b.rc, 0);
    buf_putc(&b.req.body, '\0');
    d = yyjson_read(b.req.body.data, b.req.body.len - 1, 0);
    r = yyjson_doc_get_root(d);
    assert_string_equal(str_at(r, "/recipient"), "ID.1234567890123456");
    assert_null(path(r, "/to"));
    yyjson_doc_free(d);
    built_free(&b);
    build(&ch, "wa-user:ID 12", p.data, &b);
    assert_int_equal(b.v.outcome, OUTBOX_FAILED);
    built_free(&b);
    build(&ch, "wa-user:ID.1", "{\"message\":{\"to\":\"6281234567890\",\"type\":\"text\"}}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_FAILED);
    built_free(&b);

    /* no such invoice: the renderer left the stored payload; parked */
    build(&ch, "wa:6281234567890", "{\"invoice_id\":7,\"invoice_link_id\":3,\"rating_link_id\":4}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_WAIT);
    assert_non_null(strstr(b.v.detail, "invoice is not in the database"));
    built_free(&b);

    /* a gone invoice link fails, with the reason for CS */
    build(&ch, "wa:6281234567890", "{\"links_msg\":{\"invoice\":null}}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_FAILED);
    assert_non_null(strstr(b.v.detail, "link is gone"));
    built_free(&b);
    buf_free(&p);

    /* 131062: no BSUID recipient for this message -> failed */
    struct outbox_row     row = {.id = 1, .kind = "x", .target = "wa-user:ID.1", .payload = "{}"};
    const char            ans[] = "{\"error\":{\"message\":\"(#131062) not supported\",\"code\":131062}}";
    struct ihttp_response res = {
        .err = IHTTP_OK, .status = 400, .body = ans, .body_len = sizeof(ans) - 1, .retry_after_s = -1, .error = ""};
    struct outbox_verdict v;
    memset(&v, 0, sizeof(v));
    ch.classify(ch.ctx, &row, &res, &v);
    assert_int_equal(v.outcome, OUTBOX_FAILED);
    assert_non_null(strstr(v.detail, "131062"));
    outbox_verdict_clear(&v);
    outbox_channel_free(&ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_param_text),    cmocka_unit_test(test_date_id),
        cmocka_unit_test(test_bsuid),         cmocka_unit_test(test_template_when_closed),
        cmocka_unit_test(test_cta_when_open), cmocka_unit_test(test_bad_links_msg),
        cmocka_unit_test(test_channel),       cmocka_unit_test(test_stored_hash),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
