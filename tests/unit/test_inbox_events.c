/*
 * Unit tests for store/inbox_events: the text of each inbox.* event (what
 * the browsers receive, byte for byte, since live.c passes it through), the
 * events that are refused, and the channel's name. The expected texts are
 * written by hand from the contract (inbox_events.h, docs/inbox.md "Live").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "store/inbox_events.h"

static void expect_text(const struct inbox_event *ev, const char *want)
{
    struct buf b = {0};
    assert_int_equal(inbox_events_format(&b, ev), 0);
    buf_putc(&b, '\0');
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_format(void **state)
{
    (void)state;
    expect_text(&(struct inbox_event){.type = INBOX_EV_MESSAGE, .customer_id = 1, .direction = "in"},
                "{\"type\":\"inbox.message\",\"customer_id\":1,\"direction\":\"in\"}");
    expect_text(&(struct inbox_event){.type = INBOX_EV_MESSAGE, .customer_id = 42, .direction = "out"},
                "{\"type\":\"inbox.message\",\"customer_id\":42,\"direction\":\"out\"}");
    /* no direction on the other two, even when one is given */
    expect_text(&(struct inbox_event){.type = INBOX_EV_STATUS, .customer_id = 7, .direction = "in"},
                "{\"type\":\"inbox.status\",\"customer_id\":7}");
    expect_text(&(struct inbox_event){.type = INBOX_EV_READ, .customer_id = INT64_MAX},
                "{\"type\":\"inbox.read\",\"customer_id\":9223372036854775807}");
}

static void test_refused(void **state)
{
    (void)state;
    struct buf b = {0};
    assert_int_equal(inbox_events_format(&b, NULL), -1);
    assert_int_equal(inbox_events_format(&b, &(struct inbox_event){.type = INBOX_EV_READ, .customer_id = 0}), -1);
    assert_int_equal(inbox_events_format(&b, &(struct inbox_event){.type = INBOX_EV_STATUS, .customer_id = -3}), -1);
    assert_int_equal(inbox_events_format(&b, &(struct inbox_event){.type = INBOX_EV_MESSAGE, .customer_id = 1}), -1);
    assert_int_equal(
        inbox_events_format(&b, &(struct inbox_event){.type = INBOX_EV_MESSAGE, .customer_id = 1, .direction = "up"}),
        -1);
    assert_int_equal(inbox_events_format(&b, &(struct inbox_event){.type = (enum inbox_event_type)9, .customer_id = 1}),
                     -1);
    assert_int_equal((int)b.len, 0); /* nothing was appended */
    buf_free(&b);
}

static void test_channel(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(inbox_events_channel("gss", out, sizeof(out)), 0);
    assert_string_equal(out, "gss:inbox");
    /* "abcdefgh:inbox" is 14 characters: 15 bytes needed */
    char small[14];
    assert_int_equal(inbox_events_channel("abcdefgh", small, sizeof(small)), -1);
    char exact[15];
    assert_int_equal(inbox_events_channel("abcdefgh", exact, sizeof(exact)), 0);
    assert_string_equal(exact, "abcdefgh:inbox");
}

static void test_publish_refuses_without_redis(void **state)
{
    (void)state;
    struct inbox_event ev = {.type = INBOX_EV_READ, .customer_id = 5};
    assert_int_equal(inbox_events_publish(NULL, "gss", &ev), -1);
    struct buf b = {0};
    inbox_events_metrics(&b);
    buf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "gss_inbox_events_errors_total 1\n"));
    assert_non_null(strstr(b.data, "gss_inbox_events_published_total 0\n"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_channel),
        cmocka_unit_test(test_publish_refuses_without_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
