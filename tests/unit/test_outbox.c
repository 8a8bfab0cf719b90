/*
 * Unit tests for integrations/outbox (the pure parts) and
 * integrations/outbox_channels: the backoff, the sliding-window limiter
 * (including Telegram's 20 per minute into a group, which the integration
 * test cannot wait for), and each channel's request building and reading of
 * answers, from payloads and answers written here by hand after the APIs'
 * documentation (../shared/INTEGRATIONS.md), not taken from the code.
 * The sender itself (transactions, journal, crashes) is tested against
 * PostgreSQL and the fakes in tests/integration/outbox.test.mjs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "integrations/outbox.h"
#include "integrations/outbox_channels.h"

#define TOKEN "7000000001:AAsecret-token"

/* ---- backoff ----------------------------------------------------------------------- */

static void test_backoff(void **state)
{
    (void)state;
    /* attempt n: from base * 2^(n-2) to base * 2^(n-1) */
    assert_int_equal(outbox_backoff_ms(2000, 1, 0), 1000);
    assert_int_equal(outbox_backoff_ms(2000, 1, 1000), 2000);
    assert_int_equal(outbox_backoff_ms(2000, 1, 1001), 1000); /* wraps: rnd is taken modulo the span */
    assert_int_equal(outbox_backoff_ms(2000, 2, 0), 2000);
    assert_int_equal(outbox_backoff_ms(2000, 2, 2000), 4000);
    assert_int_equal(outbox_backoff_ms(2000, 5, 0), 16000);
    assert_int_equal(outbox_backoff_ms(2000, 5, 16000), 32000);
    /* capped at an hour, however many attempts */
    assert_int_equal(outbox_backoff_ms(2000, 40, 0), 1800000);
    assert_int_equal(outbox_backoff_ms(2000, 1000, 1800000), 3600000);
    /* every value in range for many draws, and growing on average */
    uint64_t r = 88172645463325252ull;
    for (int n = 1; n <= 8; n++) {
        int64_t lo = 1000LL << (n - 1), hi = 2000LL << (n - 1);
        for (int i = 0; i < 200; i++) {
            r ^= r << 13, r ^= r >> 7, r ^= r << 17;
            int64_t d = outbox_backoff_ms(2000, n, r);
            assert_true(d >= lo && d <= hi);
        }
    }
}

/* ---- the limiter -------------------------------------------------------------------- */

#define M OUTBOX_RATE_MARGIN_MS

static void test_limiter_global(void **state)
{
    (void)state;
    struct outbox_limiter *l = outbox_limiter_new((struct outbox_rate){30, 1000});
    struct outbox_rate     one = {1, 1000};
    assert_int_equal(outbox_limiter_budget(l, 0), 30);
    char key[32];
    for (int i = 0; i < 30; i++) {
        snprintf(key, sizeof(key), "tg:-%d", i + 1);
        outbox_limiter_record(l, key, &one, 1, 100);
    }
    assert_int_equal(outbox_limiter_budget(l, 100), 0);
    assert_int_equal(outbox_limiter_budget(l, 1100 + M - 1), 0);
    assert_int_equal(outbox_limiter_global_next(l, 500), 1100 + M);
    assert_int_equal(outbox_limiter_budget(l, 1100 + M), 30);
    /* The batch was answered at 400: counted from there. */
    outbox_limiter_settle(l, 100, 400);
    assert_int_equal(outbox_limiter_global_next(l, 500), 1400 + M);
    assert_int_equal(outbox_limiter_budget(l, 1100 + M), 0);
    /* Ten more at 1500: only they hold the window then. */
    for (int i = 0; i < 10; i++)
        outbox_limiter_record(l, "tg:-99", &one, 1, 1500);
    assert_int_equal(outbox_limiter_budget(l, 1500), 20);
    /* settle touches only the sends since the given time */
    outbox_limiter_settle(l, 1500, 1600);
    assert_int_equal(outbox_limiter_budget(l, 2600 + M - 1), 20);
    assert_int_equal(outbox_limiter_budget(l, 2600 + M), 30);
    outbox_limiter_free(l);
}

struct seen {
    char     keys[8][32];
    uint64_t at[8];
    int      n;
};

static void on_seen(void *ud, const char *key, uint64_t at)
{
    struct seen *s = ud;
    if (s->n < 8) {
        snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
        s->at[s->n++] = at;
    }
}

static void test_limiter_targets(void **state)
{
    (void)state;
    struct outbox_limiter *l = outbox_limiter_new((struct outbox_rate){1000, 1000});
    struct outbox_rate     group[2] = {{1, 1000}, {20, 60000}}, chat = {1, 1000}, pair = {1, 6000};
    /* unknown key: now */
    assert_int_equal(outbox_limiter_next(l, "tg:5", 777), 777);
    /* a private chat: one per second, counted from the answer */
    outbox_limiter_record(l, "tg:5", &chat, 1, 1000);
    assert_int_equal(outbox_limiter_next(l, "tg:5", 1500), 2000 + M);
    outbox_limiter_answered(l, "tg:5", 1300);
    assert_int_equal(outbox_limiter_next(l, "tg:5", 1500), 2300 + M);
    outbox_limiter_answered(l, "tg:5", 1200); /* never backwards */
    assert_int_equal(outbox_limiter_next(l, "tg:5", 1500), 2300 + M);
    /* a group: once a second, and twenty a minute */
    uint64_t t = 10000, first = t;
    for (int i = 0; i < 20; i++) {
        uint64_t at = outbox_limiter_next(l, "tg:-100", t);
        assert_int_equal(at, t); /* allowed when asked, a little over a second apart */
        outbox_limiter_record(l, "tg:-100", group, 2, t);
        t += 1000 + M;
    }
    /* the 21st waits for the first to leave the minute */
    assert_int_equal(outbox_limiter_next(l, "tg:-100", t), first + 60000 + M);
    /* WhatsApp: one per 6 s to one number */
    outbox_limiter_record(l, "wa:6281", &pair, 1, 5000);
    assert_int_equal(outbox_limiter_next(l, "wa:6281", 5001), 11000 + M);
    /* a 429 holds the key back to its retry_after */
    outbox_limiter_block(l, "tg:7", 40000);
    assert_int_equal(outbox_limiter_next(l, "tg:7", 100), 40000);
    /* the blocked list: what is held back at 12000, with when it frees */
    struct seen s = {0};
    outbox_limiter_blocked(l, 12000, on_seen, &s);
    int found = 0;
    for (int i = 0; i < s.n; i++) {
        if (!strcmp(s.keys[i], "tg:7"))
            found++, assert_int_equal(s.at[i], 40000);
        else if (!strcmp(s.keys[i], "tg:-100"))
            found++, assert_int_equal(s.at[i], first + 60000 + M);
        else if (!strcmp(s.keys[i], "tg:5"))
            fail_msg("tg:5 is free at 12000");
        else if (!strcmp(s.keys[i], "wa:6281"))
            fail_msg("wa:6281 is free at 12000 (11000 + the margin)");
    }
    assert_int_equal(found, 2);
    /* much later nothing is held back, and the old keys are gone */
    memset(&s, 0, sizeof(s));
    outbox_limiter_blocked(l, 200000, on_seen, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(outbox_limiter_next(l, "tg:-100", 200000), 200000);
    outbox_limiter_free(l);
}

/* ---- Telegram ----------------------------------------------------------------------- */

struct built {
    int                   rc;
    struct outbox_req     req;
    struct outbox_verdict v;
};

static void build(const struct outbox_channel *ch, const char *kind, const char *target, const char *payload,
                  struct built *b)
{
    memset(b, 0, sizeof(*b));
    struct outbox_row row = {.id = 1, .kind = kind, .target = target, .payload = payload};
    b->v.delay_ms = -1;
    b->rc = ch->build(ch->ctx, &row, &b->req, &b->v);
}

static void built_free(struct built *b)
{
    outbox_req_clear(&b->req);
    outbox_verdict_clear(&b->v);
}

static char *body_str(struct built *b)
{
    buf_putc(&b->req.body, '\0');
    b->req.body.len--;
    return b->req.body.data;
}

static void test_tg_build(void **state)
{
    (void)state;
    struct outbox_channel ch;
    outbox_tg_channel(&ch, TOKEN, "http://127.0.0.1:9/api/");
    assert_string_equal(ch.name, "telegram");
    assert_null(ch.off_reason);
    assert_int_equal(ch.global.n, 30);
    struct built b;

    build(&ch, "job.new", "tg:-1001234567890",
          "{\"method\":\"sendMessage\",\"params\":{\"text\":\"<b>Job</b> &amp; é\",\"parse_mode\":\"HTML\"}}", &b);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.req.url, "http://127.0.0.1:9/api/bot" TOKEN "/sendMessage");
    assert_string_equal(b.req.headers[0], "Content-Type: application/json");
    assert_null(b.req.headers[1]);
    char *body = body_str(&b);
    assert_non_null(strstr(body, "\"chat_id\":-1001234567890"));
    assert_non_null(strstr(body, "\"text\":\"<b>Job</b> &amp; \xc3\xa9\""));
    assert_non_null(strstr(body, "\"parse_mode\":\"HTML\""));
    built_free(&b);

    /* a chat_id already there must be the target's; a @channel is a string */
    build(&ch, "x", "tg:-42",
          "{\"method\":\"editMessageText\",\"params\":{\"chat_id\":-42,\"message_id\":7,\"text\":\"a\"}}", &b);
    assert_int_equal(b.rc, 0);
    assert_non_null(strstr(b.req.url, "/editMessageText"));
    assert_non_null(strstr(body_str(&b), "\"chat_id\":-42"));
    built_free(&b);
    build(&ch, "x", "tg:@gss_channel", "{\"method\":\"sendMessage\",\"params\":{\"text\":\"a\"}}", &b);
    assert_int_equal(b.rc, 0);
    assert_non_null(strstr(body_str(&b), "\"chat_id\":\"@gss_channel\""));
    built_free(&b);
    build(&ch, "x", "tg:-42", "{\"method\":\"sendMessage\",\"params\":{\"chat_id\":-43,\"text\":\"a\"}}", &b);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.v.outcome, OUTBOX_FAILED);
    assert_non_null(strstr(b.v.detail, "differs from the target"));
    built_free(&b);

    /* the money issue's rows: ids only; and a target with no builder yet */
    build(&ch, "invoice.pending_approval", "role:sales",
          "{\"invoice_id\":1,\"number\":\"INV-2612-0001\",\"version\":1}", &b);
    assert_int_equal(b.rc, -1);
    assert_int_equal(b.v.outcome, OUTBOX_WAIT);
    assert_non_null(strstr(b.v.detail, "invoice.pending_approval waits for its message builder"));
    built_free(&b);
    build(&ch, "x", "role:sales", "{\"method\":\"sendMessage\",\"params\":{\"text\":\"a\"}}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_WAIT);
    built_free(&b);

    /* malformed: failed, never sent */
    static const char *const bad[] = {
        "{\"method\":\"send/../Message\",\"params\":{}}",
        "{\"method\":7,\"params\":{}}",
        "{\"method\":\"sendMessage\",\"params\":[1]}",
        "{\"method\":\"sendMessage\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        build(&ch, "x", "tg:1", bad[i], &b);
        assert_int_equal(b.rc, -1);
        assert_int_equal(b.v.outcome, OUTBOX_FAILED);
        built_free(&b);
    }
    build(&ch, "x", "tg:12ab", "{\"method\":\"sendMessage\",\"params\":{}}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_FAILED);
    built_free(&b);

    /* the limits: groups get the minute window too */
    struct outbox_rate r[OUTBOX_RATES];
    assert_int_equal(ch.target_rates(ch.ctx, "tg:12345", r), 1);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].window_ms, 1000);
    assert_int_equal(ch.target_rates(ch.ctx, "tg:-100123", r), 2);
    assert_int_equal(r[1].n, 20);
    assert_int_equal(r[1].window_ms, 60000);
    outbox_channel_free(&ch);

    outbox_tg_channel(&ch, "", "https://api.telegram.org");
    assert_string_equal(ch.off_reason, "channel off: GSS_TELEGRAM_TOKEN unset");
    outbox_channel_free(&ch);
}

static void classify(const struct outbox_channel *ch, const char *payload, long status, const char *body,
                     enum ihttp_err err, struct outbox_verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->delay_ms = -1;
    struct outbox_row     row = {.id = 1, .kind = "k", .target = "tg:-42", .payload = payload};
    struct ihttp_response res = {.err = err,
                                 .status = status,
                                 .retry_after_s = -1,
                                 .body = body,
                                 .body_len = strlen(body),
                                 .error = err ? "Operation timed out" : "",
                                 .request_sent = true};
    ch->classify(ch->ctx, &row, &res, v);
    assert_null(strstr(v->detail, TOKEN)); /* the token never reaches last_error */
}

static void test_tg_classify(void **state)
{
    (void)state;
    struct outbox_channel ch;
    outbox_tg_channel(&ch, TOKEN, "http://127.0.0.1:9");
    const char           *p = "{\"method\":\"sendMessage\",\"params\":{\"chat_id\":-42,\"text\":\"a\"}}";
    struct outbox_verdict v;

    classify(&ch, p, 200,
             "{\"ok\":true,\"result\":{\"message_id\":321,\"chat\":{\"id\":-42,\"type\":\"group\"},\"date\":1,\"text\":"
             "\"a\"}}",
             IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_SENT);
    assert_string_equal(v.provider_id, "-42:321");
    classify(&ch, p, 200, "{\"ok\":true,\"result\":true}", IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_SENT);
    assert_string_equal(v.provider_id, "");

    classify(&ch, p, 429,
             "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 7\","
             "\"parameters\":{\"retry_after\":7}}",
             IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_false(v.counts);
    assert_int_equal(v.delay_ms, 7000);

    classify(&ch, p, 400,
             "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: group chat was upgraded to a supergroup "
             "chat\",\"parameters\":{\"migrate_to_chat_id\":-1009876543210}}",
             IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_false(v.counts);
    assert_int_equal(v.delay_ms, 0);
    assert_string_equal(v.new_target, "tg:-1009876543210");
    assert_non_null(strstr(v.new_payload, "\"chat_id\":-1009876543210"));
    assert_null(strstr(v.new_payload, "-42"));
    assert_non_null(strstr(v.new_payload, "\"method\":\"sendMessage\""));
    outbox_verdict_clear(&v);

    classify(&ch, p, 400,
             "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message is not modified: specified new "
             "message content and reply markup are exactly the same\"}",
             IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_SENT);

    classify(&ch, p, 401, "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}", IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_true(v.channel_down);
    assert_false(v.counts);
    assert_true(v.delay_ms >= 10000);

    classify(&ch, p, 403,
             "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was blocked by the user\"}", IHTTP_OK,
             &v);
    assert_int_equal(v.outcome, OUTBOX_UNREACHABLE);
    assert_string_equal(v.detail, "403: Forbidden: bot was blocked by the user");

    classify(&ch, p, 502, "<html><head><title>502 Bad Gateway</title></head></html>", IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_true(v.counts);
    assert_int_equal(v.delay_ms, -1); /* the sender's backoff */
    assert_non_null(strstr(v.detail, "HTTP 502"));

    classify(
        &ch, p, 400,
        "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: can't parse entities: Unclosed start tag\"}",
        IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_FAILED);
    assert_non_null(strstr(v.detail, "can't parse entities"));

    classify(&ch, p, 0, "", IHTTP_ERR_TIMEOUT, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_true(v.counts);
    assert_non_null(strstr(v.detail, "timeout"));
    outbox_channel_free(&ch);
}

/* ---- WhatsApp ---------------------------------------------------------------------- */

static void test_wa(void **state)
{
    (void)state;
    struct outbox_channel ch;
    outbox_wa_channel(&ch, "EAAsecret", "https://graph.example/v21.0/", "1098");
    assert_null(ch.off_reason);
    struct built b;
    build(&ch, "x", "wa:6281234567890", "{\"message\":{\"type\":\"text\",\"text\":{\"body\":\"Halo\"}}}", &b);
    assert_int_equal(b.rc, 0);
    assert_string_equal(b.req.url, "https://graph.example/v21.0/1098/messages");
    assert_string_equal(b.req.headers[1], "Authorization: Bearer EAAsecret");
    char *body = body_str(&b);
    assert_non_null(strstr(body, "\"messaging_product\":\"whatsapp\""));
    assert_non_null(strstr(body, "\"to\":\"6281234567890\""));
    assert_non_null(strstr(body, "\"body\":\"Halo\""));
    built_free(&b);
    build(&ch, "x", "wa:6281234567890", "{\"message\":{\"to\":\"6289999999999\",\"type\":\"text\"}}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_FAILED);
    built_free(&b);
    build(&ch, "x", "wa:6281234567890", "{\"message\":{\"messaging_product\":\"sms\"}}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_FAILED);
    built_free(&b);
    build(&ch, "invoice.sent", "wa:6281234567890", "{\"invoice_id\":1,\"invoice_link_id\":3}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_WAIT);
    assert_non_null(strstr(b.v.detail, "invoice.sent waits for its message builder"));
    built_free(&b);
    build(&ch, "x", "wa:+62812", "{\"message\":{}}", &b);
    assert_int_equal(b.v.outcome, OUTBOX_FAILED);
    built_free(&b);

    struct outbox_rate r[OUTBOX_RATES];
    assert_int_equal(ch.target_rates(ch.ctx, "wa:6281234567890", r), 1);
    assert_int_equal(r[0].n, 1);
    assert_int_equal(r[0].window_ms, 6000);

    const char           *p = "{\"message\":{}}";
    struct outbox_verdict v;
    classify(&ch, p, 200,
             "{\"messaging_product\":\"whatsapp\",\"contacts\":[{\"input\":\"6281\",\"wa_id\":\"6281\"}],"
             "\"messages\":[{\"id\":\"wamid.HBgL+/=\"}]}",
             IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_SENT);
    assert_string_equal(v.provider_id, "wamid.HBgL+/=");
#define WAERR(code)                                                                                                    \
    "{\"error\":{\"message\":\"m\",\"type\":\"OAuthException\",\"code\":" #code ",\"fbtrace_id\":\"x\"}}"
    classify(&ch, p, 400, WAERR(131056), IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_false(v.counts);
    assert_true(v.delay_ms >= 6000);
    classify(&ch, p, 400, WAERR(130429), IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_false(v.counts);
    classify(&ch, p, 400, WAERR(131047), IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_FAILED);
    assert_non_null(strstr(v.detail, "131047"));
    assert_non_null(strstr(v.detail, "24-hour window"));
    classify(&ch, p, 400, WAERR(131026), IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_UNREACHABLE);
    classify(&ch, p, 401, WAERR(190), IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_true(v.channel_down);
    assert_false(v.counts);
    assert_null(strstr(v.detail, "EAAsecret"));
    classify(&ch, p, 400, WAERR(100), IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_FAILED);
    classify(&ch, p, 500, WAERR(131000), IHTTP_OK, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_true(v.counts);
    classify(&ch, p, 0, "", IHTTP_ERR_CONN_LOST, &v);
    assert_int_equal(v.outcome, OUTBOX_RETRY);
    assert_true(v.counts);
    outbox_channel_free(&ch);

    outbox_wa_channel(&ch, "", "https://graph.facebook.com/v21.0", "1098");
    assert_string_equal(ch.off_reason, "channel off: GSS_WA_TOKEN unset");
    outbox_channel_free(&ch);
    outbox_wa_channel(&ch, "EAA", "https://graph.facebook.com/v21.0", "");
    assert_string_equal(ch.off_reason, "channel off: GSS_WA_PHONE_NUMBER_ID unset");
    outbox_channel_free(&ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff),  cmocka_unit_test(test_limiter_global), cmocka_unit_test(test_limiter_targets),
        cmocka_unit_test(test_tg_build), cmocka_unit_test(test_tg_classify),    cmocka_unit_test(test_wa),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
