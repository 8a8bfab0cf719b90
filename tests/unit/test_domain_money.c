/*
 * Unit tests for domain/money: line totals at and past the limits, invoice
 * sums with discounts and overflow, error codes, and the Rupiah format
 * (dots every three digits, the sign, int64's extremes, short buffers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "domain/money.h"

static void test_line_total(void **state)
{
    (void)state;
    int64_t out = -7;

    assert_int_equal(money_line_total(3, 250000, &out), MONEY_OK);
    assert_int_equal(out, 750000);
    assert_int_equal(money_line_total(1, 0, &out), MONEY_OK);
    assert_int_equal(out, 0);
    assert_int_equal(money_line_total(1, 1000000000000LL, &out), MONEY_OK);
    assert_int_equal(out, 1000000000000LL);
    /* The largest line: 10 000 x 10^12 = 10^16. */
    assert_int_equal(money_line_total(10000, 1000000000000LL, &out), MONEY_OK);
    assert_int_equal(out, 10000000000000000LL);

    out = -7;
    assert_int_equal(money_line_total(0, 1000, &out), MONEY_EQTY);
    assert_int_equal(money_line_total(-1, 1000, &out), MONEY_EQTY);
    assert_int_equal(money_line_total(10001, 1000, &out), MONEY_EQTY);
    assert_int_equal(money_line_total(INT64_MAX, 2, &out), MONEY_EQTY);
    assert_int_equal(money_line_total(INT64_MIN, 2, &out), MONEY_EQTY);
    assert_int_equal(money_line_total(1, -1, &out), MONEY_EPRICE);
    assert_int_equal(money_line_total(1, 1000000000001LL, &out), MONEY_EPRICE);
    assert_int_equal(money_line_total(2, INT64_MAX, &out), MONEY_EPRICE);
    assert_int_equal(money_line_total(2, INT64_MIN, &out), MONEY_EPRICE);
    /* qty is checked first. */
    assert_int_equal(money_line_total(0, -1, &out), MONEY_EQTY);
    assert_int_equal(out, -7); /* untouched on every error */
}

static void test_invoice_total(void **state)
{
    (void)state;
    int64_t sub = -7, tot = -7;
    int64_t lines[] = {750000, 500000};

    assert_int_equal(money_invoice_total(lines, 2, 0, &sub, &tot), MONEY_OK);
    assert_int_equal(sub, 1250000);
    assert_int_equal(tot, 1250000);
    assert_int_equal(money_invoice_total(lines, 2, 250000, &sub, &tot), MONEY_OK);
    assert_int_equal(sub, 1250000);
    assert_int_equal(tot, 1000000);
    assert_int_equal(money_invoice_total(lines, 2, 1250000, &sub, &tot), MONEY_OK);
    assert_int_equal(tot, 0);

    /* No lines. */
    assert_int_equal(money_invoice_total(NULL, 0, 0, &sub, &tot), MONEY_OK);
    assert_int_equal(sub, 0);
    assert_int_equal(tot, 0);

    sub = tot = -7;
    assert_int_equal(money_invoice_total(NULL, 0, 1, &sub, &tot), MONEY_EDISCOUNT);
    assert_int_equal(money_invoice_total(lines, 2, 1250001, &sub, &tot), MONEY_EDISCOUNT);
    assert_int_equal(money_invoice_total(lines, 2, -1, &sub, &tot), MONEY_EDISCOUNT);
    assert_int_equal(money_invoice_total(lines, 2, INT64_MIN, &sub, &tot), MONEY_EDISCOUNT);

    int64_t neg[] = {1000, -1};
    assert_int_equal(money_invoice_total(neg, 2, 0, &sub, &tot), MONEY_ELINE);

    /* Overflow: INT64_MAX alone fits, one Rupiah more does not. */
    int64_t big[] = {INT64_MAX, 1};
    assert_int_equal(money_invoice_total(big, 2, 0, &sub, &tot), MONEY_EOVERFLOW);
    assert_int_equal(sub, -7);
    assert_int_equal(tot, -7);
    assert_int_equal(money_invoice_total(big, 1, 0, &sub, &tot), MONEY_OK);
    assert_int_equal(sub, INT64_MAX);
    assert_int_equal(money_invoice_total(big, 1, INT64_MAX, &sub, &tot), MONEY_OK);
    assert_int_equal(tot, 0);

    /* 1000 maximal lines: 10^19 > 9.22 x 10^18. 922 of them fit. */
    static int64_t many[1000];
    for (size_t i = 0; i < 1000; i++)
        many[i] = 10000000000000000LL;
    assert_int_equal(money_invoice_total(many, 1000, 0, &sub, &tot), MONEY_EOVERFLOW);
    assert_int_equal(money_invoice_total(many, 922, 0, &sub, &tot), MONEY_OK);
    assert_int_equal(sub, 9220000000000000000LL);
    assert_int_equal(money_invoice_total(many, 923, 0, &sub, &tot), MONEY_EOVERFLOW);
}

static void test_err_codes(void **state)
{
    (void)state;
    assert_string_equal(money_err_code(MONEY_OK), "ok");
    assert_string_equal(money_err_code(MONEY_EQTY), "invalid_qty");
    assert_string_equal(money_err_code(MONEY_EPRICE), "invalid_unit_price");
    assert_string_equal(money_err_code(MONEY_EOVERFLOW), "amount_overflow");
    assert_string_equal(money_err_code(MONEY_ELINE), "invalid_line_total");
    assert_string_equal(money_err_code(MONEY_EDISCOUNT), "invalid_discount");
    assert_string_equal(money_err_code(-99), "invalid_amount");
    assert_string_equal(money_err_code(3), "invalid_amount");
    /* Errors are negative, one convention per layer. */
    assert_true(MONEY_EQTY < 0 && MONEY_EPRICE < 0 && MONEY_EOVERFLOW < 0 && MONEY_ELINE < 0 && MONEY_EDISCOUNT < 0);
}

static void assert_idr(int64_t v, const char *want)
{
    char out[MONEY_IDR_MAX];
    memset(out, 'x', sizeof(out));
    money_format_idr(v, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_format(void **state)
{
    (void)state;
    assert_idr(0, "Rp 0");
    assert_idr(5, "Rp 5");
    assert_idr(999, "Rp 999");
    assert_idr(1000, "Rp 1.000");
    assert_idr(10000, "Rp 10.000");
    assert_idr(100000, "Rp 100.000");
    assert_idr(999999, "Rp 999.999");
    assert_idr(1000000, "Rp 1.000.000");
    assert_idr(1250000, "Rp 1.250.000");
    assert_idr(1000000000000LL, "Rp 1.000.000.000.000");
    assert_idr(-1, "-Rp 1");
    assert_idr(-5000, "-Rp 5.000");
    assert_idr(-1250000, "-Rp 1.250.000");
    assert_idr(INT64_MAX, "Rp 9.223.372.036.854.775.807");
    assert_idr(INT64_MIN, "-Rp 9.223.372.036.854.775.808");
    /* The longest output fits MONEY_IDR_MAX with room to spare. */
    assert_true(strlen("-Rp 9.223.372.036.854.775.808") + 1 <= MONEY_IDR_MAX);
}

static void test_format_short_buffer(void **state)
{
    (void)state;
    char out[16];

    /* "Rp 1.000" is 8 characters and its NUL. */
    memset(out, 'x', sizeof(out));
    money_format_idr(1000, out, 9);
    assert_string_equal(out, "Rp 1.000");
    memset(out, 'x', sizeof(out));
    money_format_idr(1000, out, 8);
    assert_string_equal(out, ""); /* never "Rp 1.00" */
    memset(out, 'x', sizeof(out));
    money_format_idr(-5000, out, 1);
    assert_int_equal(out[0], '\0');
    assert_int_equal(out[1], 'x');
    memset(out, 'x', sizeof(out));
    money_format_idr(5, out, 0);
    assert_int_equal(out[0], 'x'); /* nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_total), cmocka_unit_test(test_invoice_total),       cmocka_unit_test(test_err_codes),
        cmocka_unit_test(test_format),     cmocka_unit_test(test_format_short_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
