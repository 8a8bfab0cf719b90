/*
 * Unit tests for store/invoice_events: the text of an invoice.updated
 * event (what the browsers receive, byte for byte, since live.c passes it
 * through) and the channel's name. The expected texts are written by hand
 * from the contract (invoice_events.h, docs/money.md "Live events").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "store/invoice_events.h"

static void test_format(void **state)
{
    (void)state;
    struct invoice_event ev = {
        .id = 7, .ticket_id = 12, .number = "INV-2612-0001", .status = "approved", .action = "approve"};
    struct buf b = {0};
    invoice_events_format(&b, &ev);
    assert_string_equal(b.data, "{\"type\":\"invoice.updated\",\"data\":{\"id\":7,\"ticket_id\":12,"
                                "\"number\":\"INV-2612-0001\",\"status\":\"approved\",\"action\":\"approve\"}}");
    buf_free(&b);

    /* big ids stay integers; text is escaped; NULL is null */
    struct invoice_event big = {.id = INT64_MAX, .ticket_id = 1, .number = "A\"B", .status = NULL, .action = "close"};
    invoice_events_format(&b, &big);
    assert_string_equal(b.data, "{\"type\":\"invoice.updated\",\"data\":{\"id\":9223372036854775807,\"ticket_id\":1,"
                                "\"number\":\"A\\\"B\",\"status\":null,\"action\":\"close\"}}");
    buf_free(&b);
}

static void test_channel(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(invoice_events_channel("gss", out, sizeof(out)), 0);
    assert_string_equal(out, "gss:invoice");
    assert_int_equal(invoice_events_channel("gsst_x_1", out, sizeof(out)), 0);
    assert_string_equal(out, "gsst_x_1:invoice");
    /* "abcdefgh:invoice" is 16 characters: 17 bytes needed */
    char small[16];
    assert_int_equal(invoice_events_channel("abcdefgh", small, sizeof(small)), -1);
    char exact[17];
    assert_int_equal(invoice_events_channel("abcdefgh", exact, sizeof(exact)), 0);
    assert_string_equal(exact, "abcdefgh:invoice");
}

static void test_publish_refuses_without_redis(void **state)
{
    (void)state;
    struct invoice_event ev = {
        .id = 7, .ticket_id = 12, .number = "INV-2612-0001", .status = "draft", .action = "create"};
    assert_int_equal(invoice_events_publish(NULL, "gss", &ev), -1);
    struct buf b = {0};
    invoice_events_metrics(&b);
    assert_non_null(strstr(b.data, "gss_invoice_events_errors_total 1\n"));
    assert_non_null(strstr(b.data, "gss_invoice_events_published_total 0\n"));
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_channel),
        cmocka_unit_test(test_publish_refuses_without_redis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
