/*
 * Unit tests for integrations/wa_media's pure rule: which download URL the
 * Bearer token may travel to (wa_media_url_ok). The expected answers are
 * the rule as docs/whatsapp.md "Photos" states it: https always; plain
 * http only when GSS_WA_API_BASE is plain http itself (a fake on loopback).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "integrations/wa_media.h"

#define META "https://graph.facebook.com/v21.0"
#define FAKE "http://127.0.0.1:4100/v21.0"

static void test_https_base(void **state)
{
    (void)state;
    /* Meta's media URLs are on another host: the host is not compared */
    assert_true(wa_media_url_ok(META, "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1"));
    assert_true(wa_media_url_ok(META, "HTTPS://lookaside.fbsbx.com/x"));
    assert_false(wa_media_url_ok(META, "http://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=1"));
    assert_false(wa_media_url_ok(META, "http://127.0.0.1/x"));
    assert_false(wa_media_url_ok(META, "ftp://lookaside.fbsbx.com/x"));
    assert_false(wa_media_url_ok(META, "file:///etc/passwd"));
    assert_false(wa_media_url_ok(META, "//lookaside.fbsbx.com/x"));
    assert_false(wa_media_url_ok(META, "https://"));
    assert_false(wa_media_url_ok(META, "https:"));
    assert_false(wa_media_url_ok(META, ""));
    assert_false(wa_media_url_ok(META, NULL));
}

static void test_http_base(void **state)
{
    (void)state;
    assert_true(wa_media_url_ok(FAKE, "http://127.0.0.1:4100/media/1?mid=2"));
    assert_true(wa_media_url_ok(FAKE, "https://lookaside.fbsbx.com/x"));
    assert_true(wa_media_url_ok("HTTP://127.0.0.1:4100", "http://127.0.0.1:4100/m"));
    assert_false(wa_media_url_ok(FAKE, "http://"));
    assert_false(wa_media_url_ok(FAKE, "gopher://127.0.0.1/x"));
    /* a base that only starts like http is not http */
    assert_false(wa_media_url_ok("httpx://127.0.0.1", "http://127.0.0.1/m"));
    assert_false(wa_media_url_ok("", "http://127.0.0.1/m"));
    assert_false(wa_media_url_ok(NULL, "http://127.0.0.1/m"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_https_base),
        cmocka_unit_test(test_http_base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
