/*
 * Unit tests for domain/money: line totals at and past the limits, invoice
 * sums with discounts and overflow, error codes, and the Rupiah format
 * (dots every three digits, the sign, int64's extremes, short buffers);
 * the tax (basis points, half-up) and a whole invoice's validation and
 * totals (docs/money.md's limits). Expected values are worked out by hand
 * in the comments beside them.
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
    assert_string_equal(money_err_code(MONEY_ERATE), "invalid_tax_rate");
    assert_string_equal(money_err_code(MONEY_EAMOUNT), "invalid_amount");
    assert_string_equal(money_err_code(MONEY_EITEMS), "invalid_items");
    assert_string_equal(money_err_code(MONEY_ESUBTOTAL), "subtotal_too_large");
    assert_string_equal(money_err_code(-99), "invalid_amount");
    assert_string_equal(money_err_code(3), "invalid_amount");
    /* Errors are negative, one convention per layer. */
    assert_true(MONEY_EQTY < 0 && MONEY_EPRICE < 0 && MONEY_EOVERFLOW < 0 && MONEY_ELINE < 0 && MONEY_EDISCOUNT < 0);
    assert_true(MONEY_ERATE < 0 && MONEY_EAMOUNT < 0 && MONEY_EITEMS < 0 && MONEY_ESUBTOTAL < 0);
}

/* One line of 1 x Rp 0 (a subtotal of 0, so any discount is too much). */
static struct money_item *free_line_zero(void)
{
    static struct money_item z[1];
    z[0] = (struct money_item){1, 0, -1};
    return z;
}

/* Tax: every expected value below is worked out by hand in its comment
 * (taxable x rate / 10 000, then half a Rupiah or more goes up). */
static void test_tax(void **state)
{
    (void)state;
    int64_t tax = -7;

    /* PPN 11 % on Rp 1.300.000: 1 300 000 x 0.11 = 143 000 exactly. */
    assert_int_equal(money_tax(1300000, 1100, &tax), MONEY_OK);
    assert_int_equal(tax, 143000);
    /* 1 200 000 x 0.11 = 132 000 (the docs' example invoice). */
    assert_int_equal(money_tax(1200000, 1100, &tax), MONEY_OK);
    assert_int_equal(tax, 132000);
    /* Half a Rupiah goes up: 5 x 10 % = 0.5 -> 1; 15 x 10 % = 1.5 -> 2;
     * 25 x 10 % = 2.5 -> 3 (half-up, not to even). */
    assert_int_equal(money_tax(5, 1000, &tax), MONEY_OK);
    assert_int_equal(tax, 1);
    assert_int_equal(money_tax(15, 1000, &tax), MONEY_OK);
    assert_int_equal(tax, 2);
    assert_int_equal(money_tax(25, 1000, &tax), MONEY_OK);
    assert_int_equal(tax, 3);
    /* Just under half goes down: 4 x 10 % = 0.4 -> 0; 1 x 49.99 % = 0.4999 -> 0;
     * 4 999 x 0.01 % = 0.4999 -> 0; 5 000 x 0.01 % = 0.5 -> 1. */
    assert_int_equal(money_tax(4, 1000, &tax), MONEY_OK);
    assert_int_equal(tax, 0);
    assert_int_equal(money_tax(1, 4999, &tax), MONEY_OK);
    assert_int_equal(tax, 0);
    assert_int_equal(money_tax(1, 5000, &tax), MONEY_OK);
    assert_int_equal(tax, 1);
    assert_int_equal(money_tax(4999, 1, &tax), MONEY_OK);
    assert_int_equal(tax, 0);
    assert_int_equal(money_tax(5000, 1, &tax), MONEY_OK);
    assert_int_equal(tax, 1);
    /* 999 x 0.11 = 109.89 -> 110. */
    assert_int_equal(money_tax(999, 1100, &tax), MONEY_OK);
    assert_int_equal(tax, 110);

    /* Rate 0: no tax, whatever the amount. Rate 10 000 (100 %): the amount. */
    assert_int_equal(money_tax(1000000000000LL, 0, &tax), MONEY_OK);
    assert_int_equal(tax, 0);
    assert_int_equal(money_tax(0, 1100, &tax), MONEY_OK);
    assert_int_equal(tax, 0);
    assert_int_equal(money_tax(1000000000000LL, 10000, &tax), MONEY_OK);
    assert_int_equal(tax, 1000000000000LL);
    assert_int_equal(money_tax(7, 10000, &tax), MONEY_OK);
    assert_int_equal(tax, 7);

    /* The largest invoice: 10^12 x 0.11 = 1.1 x 10^11;
     * 999 999 999 999 x 0.11 = 109 999 999 999.89 -> 110 000 000 000. */
    assert_int_equal(money_tax(1000000000000LL, 1100, &tax), MONEY_OK);
    assert_int_equal(tax, 110000000000LL);
    assert_int_equal(money_tax(999999999999LL, 1100, &tax), MONEY_OK);
    assert_int_equal(tax, 110000000000LL);

    /* Far past the limits, no product overflows:
     *   INT64_MAX x 100 %   = INT64_MAX;
     *   INT64_MAX x 50 %    = 4 611 686 018 427 387 903.5 -> ...904;
     *   INT64_MAX x 0.01 %  = 922 337 203 685 477.5807 -> 922 337 203 685 478;
     *   INT64_MAX x 11 %    = 101 457 092 405 402 533 877 / 100
     *                       = 1 014 570 924 054 025 338.77 -> ...339. */
    assert_int_equal(money_tax(INT64_MAX, 10000, &tax), MONEY_OK);
    assert_int_equal(tax, INT64_MAX);
    assert_int_equal(money_tax(INT64_MAX, 5000, &tax), MONEY_OK);
    assert_int_equal(tax, 4611686018427387904LL);
    assert_int_equal(money_tax(INT64_MAX, 1, &tax), MONEY_OK);
    assert_int_equal(tax, 922337203685478LL);
    assert_int_equal(money_tax(INT64_MAX, 1100, &tax), MONEY_OK);
    assert_int_equal(tax, 1014570924054025339LL);

    /* Refusals leave the output alone. */
    tax = -7;
    assert_int_equal(money_tax(-1, 1100, &tax), MONEY_EAMOUNT);
    assert_int_equal(money_tax(INT64_MIN, 1100, &tax), MONEY_EAMOUNT);
    assert_int_equal(money_tax(100, -1, &tax), MONEY_ERATE);
    assert_int_equal(money_tax(100, 10001, &tax), MONEY_ERATE);
    assert_int_equal(money_tax(100, INT64_MAX, &tax), MONEY_ERATE);
    assert_int_equal(money_tax(100, INT64_MIN, &tax), MONEY_ERATE);
    assert_int_equal(tax, -7);
}

static void assert_totals(const struct money_totals *t, int64_t sub, int64_t disc, int64_t taxable, int64_t tax,
                          int64_t total)
{
    assert_int_equal(t->subtotal, sub);
    assert_int_equal(t->discount, disc);
    assert_int_equal(t->taxable, taxable);
    assert_int_equal(t->tax, tax);
    assert_int_equal(t->total, total);
}

static void test_compute(void **state)
{
    (void)state;
    struct money_totals t;
    size_t              bad = 99;

    /* The tests' sample invoice: 1 x 1 250 000 + 2 x 50 000 = 1 350 000,
     * less 50 000 = 1 300 000, PPN 11 % = 143 000, total 1 443 000. */
    struct money_item two[] = {{1, 1250000, -1}, {2, 50000, -1}};
    assert_int_equal(money_invoice_compute(two, 2, 50000, 1100, &t, &bad), MONEY_OK);
    assert_totals(&t, 1350000, 50000, 1300000, 143000, 1443000);
    assert_int_equal(two[0].line_total, 1250000);
    assert_int_equal(two[1].line_total, 100000);
    /* No tax: total = subtotal - discount. */
    assert_int_equal(money_invoice_compute(two, 2, 50000, 0, &t, &bad), MONEY_OK);
    assert_totals(&t, 1350000, 50000, 1300000, 0, 1300000);

    /* The docs' example: 1 250 000 less 50 000 = 1 200 000, tax 132 000. */
    struct money_item one[] = {{1, 1250000, 0}};
    assert_int_equal(money_invoice_compute(one, 1, 50000, 1100, &t, NULL), MONEY_OK);
    assert_totals(&t, 1250000, 50000, 1200000, 132000, 1332000);

    /* A discount equal to the subtotal: total 0 and 0 tax, at any rate. */
    assert_int_equal(money_invoice_compute(two, 2, 1350000, 1100, &t, &bad), MONEY_OK);
    assert_totals(&t, 1350000, 1350000, 0, 0, 0);
    assert_int_equal(money_invoice_compute(two, 2, 1350000, 10000, &t, &bad), MONEY_OK);
    assert_totals(&t, 1350000, 1350000, 0, 0, 0);

    /* Rounding through the whole invoice: 3 x 333 = 999, 11 % = 109.89 -> 110;
     * 1 x 5 at 10 % = 0.5 -> 1; 1 x 4 at 10 % = 0.4 -> 0. */
    struct money_item r1[] = {{3, 333, 0}};
    assert_int_equal(money_invoice_compute(r1, 1, 0, 1100, &t, &bad), MONEY_OK);
    assert_totals(&t, 999, 0, 999, 110, 1109);
    struct money_item r2[] = {{1, 5, 0}};
    assert_int_equal(money_invoice_compute(r2, 1, 0, 1000, &t, &bad), MONEY_OK);
    assert_totals(&t, 5, 0, 5, 1, 6);
    struct money_item r3[] = {{1, 4, 0}};
    assert_int_equal(money_invoice_compute(r3, 1, 0, 1000, &t, &bad), MONEY_OK);
    assert_totals(&t, 4, 0, 4, 0, 4);
    /* A free line is a line: 1 x 0. */
    struct money_item free_line[] = {{1, 0, -1}};
    assert_int_equal(money_invoice_compute(free_line, 1, 0, 1100, &t, &bad), MONEY_OK);
    assert_totals(&t, 0, 0, 0, 0, 0);
    assert_int_equal(free_line[0].line_total, 0);

    /* The largest amounts: one line of 10^12 at 100 % tax is 2 x 10^12;
     * 10 000 x 10^8 = 10^12 is the largest subtotal too; two halves of
     * 5 x 10^11 make exactly 10^12. */
    struct money_item max1[] = {{1, 1000000000000LL, 0}};
    assert_int_equal(money_invoice_compute(max1, 1, 0, 10000, &t, &bad), MONEY_OK);
    assert_totals(&t, 1000000000000LL, 0, 1000000000000LL, 1000000000000LL, 2000000000000LL);
    assert_int_equal(money_invoice_compute(max1, 1, 1000000000000LL, 10000, &t, &bad), MONEY_OK);
    assert_totals(&t, 1000000000000LL, 1000000000000LL, 0, 0, 0);
    struct money_item max2[] = {{10000, 100000000LL, 0}};
    assert_int_equal(money_invoice_compute(max2, 1, 0, 1100, &t, &bad), MONEY_OK);
    assert_totals(&t, 1000000000000LL, 0, 1000000000000LL, 110000000000LL, 1110000000000LL);
    struct money_item halves[] = {{1, 500000000000LL, 0}, {1, 500000000000LL, 0}};
    assert_int_equal(money_invoice_compute(halves, 2, 0, 0, &t, &bad), MONEY_OK);
    assert_int_equal(t.subtotal, 1000000000000LL);

    /* 50 lines are allowed: 50 x (2 x 1 000) = 100 000, 11 % = 11 000. */
    struct money_item fifty[51];
    for (size_t i = 0; i < 51; i++)
        fifty[i] = (struct money_item){2, 1000, -1};
    assert_int_equal(money_invoice_compute(fifty, 50, 0, 1100, &t, &bad), MONEY_OK);
    assert_totals(&t, 100000, 0, 100000, 11000, 111000);
    assert_int_equal(fifty[49].line_total, 2000);
}

static void test_compute_refusals(void **state)
{
    (void)state;
    struct money_totals t = {-7, -7, -7, -7, -7};
    size_t              bad = 99;

    /* Too few, too many lines. */
    struct money_item fifty_one[51];
    for (size_t i = 0; i < 51; i++)
        fifty_one[i] = (struct money_item){1, 1000, -1};
    assert_int_equal(money_invoice_compute(fifty_one, 51, 0, 1100, &t, &bad), MONEY_EITEMS);
    assert_int_equal(money_invoice_compute(fifty_one, 0, 0, 1100, &t, &bad), MONEY_EITEMS);
    assert_int_equal(money_invoice_compute(NULL, 1, 0, 1100, &t, &bad), MONEY_EITEMS);
    assert_int_equal(fifty_one[0].line_total, -1);

    /* A bad line names its index; the lines before it stay untouched. */
    struct money_item q[] = {{1, 1000, -1}, {1, 1000, -1}, {0, 1000, -1}};
    assert_int_equal(money_invoice_compute(q, 3, 0, 1100, &t, &bad), MONEY_EQTY);
    assert_int_equal(bad, 2);
    assert_int_equal(q[0].line_total, -1);
    struct money_item q2[] = {{10001, 1, -1}};
    assert_int_equal(money_invoice_compute(q2, 1, 0, 1100, &t, &bad), MONEY_EQTY);
    assert_int_equal(bad, 0);
    struct money_item p[] = {{1, 1000, -1}, {1, 1000000000001LL, -1}};
    assert_int_equal(money_invoice_compute(p, 2, 0, 1100, &t, &bad), MONEY_EPRICE);
    assert_int_equal(bad, 1);
    struct money_item pn[] = {{1, -1, -1}};
    assert_int_equal(money_invoice_compute(pn, 1, 0, 1100, &t, &bad), MONEY_EPRICE);
    /* qty x price past int64 never gets as far as a product. */
    struct money_item ov[] = {{INT64_MAX, INT64_MAX, -1}};
    assert_int_equal(money_invoice_compute(ov, 1, 0, 1100, &t, &bad), MONEY_EQTY);

    /* The subtotal: 10^12 + 1 is one Rupiah too many; so is a valid
     * largest line (10 000 x 10^12 = 10^16), and 10 000 x (10^8 + 1). */
    struct money_item s1[] = {{1, 500000000000LL, -1}, {1, 500000000001LL, -1}};
    assert_int_equal(money_invoice_compute(s1, 2, 0, 0, &t, &bad), MONEY_ESUBTOTAL);
    struct money_item s2[] = {{10000, 1000000000000LL, -1}};
    assert_int_equal(money_invoice_compute(s2, 1, 0, 0, &t, &bad), MONEY_ESUBTOTAL);
    struct money_item s3[] = {{10000, 100000001LL, -1}};
    assert_int_equal(money_invoice_compute(s3, 1, 0, 0, &t, &bad), MONEY_ESUBTOTAL);
    /* 50 lines of 10^16 each: 5 x 10^17, which fits int64 and is refused. */
    struct money_item s4[50];
    for (size_t i = 0; i < 50; i++)
        s4[i] = (struct money_item){10000, 1000000000000LL, -1};
    assert_int_equal(money_invoice_compute(s4, 50, 0, 0, &t, &bad), MONEY_ESUBTOTAL);
    assert_int_equal(s4[0].line_total, -1);

    /* The discount: one Rupiah more than the subtotal, or negative. */
    struct money_item d[] = {{2, 500, -1}};
    assert_int_equal(money_invoice_compute(d, 1, 1001, 0, &t, &bad), MONEY_EDISCOUNT);
    assert_int_equal(money_invoice_compute(d, 1, -1, 0, &t, &bad), MONEY_EDISCOUNT);
    assert_int_equal(money_invoice_compute(d, 1, INT64_MAX, 0, &t, &bad), MONEY_EDISCOUNT);
    assert_int_equal(money_invoice_compute(free_line_zero(), 1, 1, 0, &t, &bad), MONEY_EDISCOUNT);

    /* The rate. */
    assert_int_equal(money_invoice_compute(d, 1, 0, 10001, &t, &bad), MONEY_ERATE);
    assert_int_equal(money_invoice_compute(d, 1, 0, -1, &t, &bad), MONEY_ERATE);

    /* Nothing was written by any refusal. */
    assert_int_equal(d[0].line_total, -1);
    assert_int_equal(t.subtotal, -7);
    assert_int_equal(t.total, -7);
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
        cmocka_unit_test(test_format),     cmocka_unit_test(test_format_short_buffer), cmocka_unit_test(test_tax),
        cmocka_unit_test(test_compute),    cmocka_unit_test(test_compute_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
