/*
 * money: integer Rupiah (DESIGN.md §1: BIGINT, computed server-side).
 *
 * The Rupiah has no minor unit in use, so an amount is an int64_t count of
 * Rupiah and nothing here ever touches floating point. Every sum and product
 * is checked for overflow; out-of-range input is refused, never clamped, so
 * an invoice total is either right or an error.
 *
 * Limits (the validation the invoice API applies, docs/money.md):
 *   items       1 .. MONEY_ITEMS_MAX (50) lines
 *   qty         1 .. MONEY_QTY_MAX (10 000)
 *   unit_price  0 .. MONEY_PRICE_MAX (10^12, one trillion Rupiah)
 *   subtotal    at most MONEY_SUBTOTAL_MAX (10^12)
 *   discount    0 .. subtotal
 *   tax rate    0 .. MONEY_TAX_RATE_MAX (10 000 basis points = 100 %)
 * A line total is therefore at most 10^16, and a sum of lines is checked.
 *
 * The invoice's totals (money_invoice_compute):
 *   line_total = qty x unit_price;  subtotal = sum of line totals
 *   taxable    = subtotal - discount
 *   tax        = taxable x rate_bp / 10 000, rounded half-up to a Rupiah
 *   total      = taxable + tax
 *
 * Errors: 0 on success, a negative MONEY_E* on failure; outputs are written
 * only on success. money_err_code names an error for the 422 body.
 *
 * Memory and threads: no allocation, no state; safe from any thread.
 */
#ifndef GSS_DOMAIN_MONEY_H
#define GSS_DOMAIN_MONEY_H

#include <stddef.h>
#include <stdint.h>

#define MONEY_QTY_MAX      10000
#define MONEY_PRICE_MAX    1000000000000LL
#define MONEY_ITEMS_MAX    50
#define MONEY_SUBTOTAL_MAX 1000000000000LL
#define MONEY_TAX_RATE_MAX 10000

/* Room for the longest formatted amount, "-Rp 9.223.372.036.854.775.808" and its NUL. */
#define MONEY_IDR_MAX 32

enum {
    MONEY_OK = 0,
    MONEY_EQTY = -1,      /* qty outside 1..MONEY_QTY_MAX */
    MONEY_EPRICE = -2,    /* unit_price outside 0..MONEY_PRICE_MAX */
    MONEY_EOVERFLOW = -3, /* a sum does not fit int64 */
    MONEY_ELINE = -4,     /* a negative line total */
    MONEY_EDISCOUNT = -5, /* discount outside 0..subtotal */
    MONEY_ERATE = -6,     /* tax rate outside 0..MONEY_TAX_RATE_MAX */
    MONEY_EAMOUNT = -7,   /* a negative amount where none may be */
    MONEY_EITEMS = -8,    /* not 1..MONEY_ITEMS_MAX lines */
    MONEY_ESUBTOTAL = -9, /* the subtotal exceeds MONEY_SUBTOTAL_MAX */
};

/* One invoice line: qty and unit_price in, line_total out. */
struct money_item {
    int64_t qty;
    int64_t unit_price;
    int64_t line_total;
};

/* An invoice's amounts (integer Rupiah). */
struct money_totals {
    int64_t subtotal;
    int64_t discount;
    int64_t taxable; /* subtotal - discount */
    int64_t tax;
    int64_t total; /* taxable + tax */
};

/* *out = qty * unit_price. */
int money_line_total(int64_t qty, int64_t unit_price, int64_t *out);

/* *subtotal = sum of the n line totals (each >= 0; line_totals may be NULL
 * when n is 0), *total = *subtotal - discount. */
int money_invoice_total(const int64_t *line_totals, size_t n, int64_t discount, int64_t *subtotal, int64_t *total);

/* *tax = taxable x rate_bp / 10 000 rounded half-up (0.5 Rupiah goes up):
 * floor((taxable x rate_bp + 5 000) / 10 000), computed without ever forming
 * the product, so any taxable up to INT64_MAX works. taxable >= 0
 * (MONEY_EAMOUNT), rate_bp 0..MONEY_TAX_RATE_MAX (MONEY_ERATE). */
int money_tax(int64_t taxable, int64_t rate_bp, int64_t *tax);

/* Validates and totals a whole invoice, in the order docs/money.md lists
 * the limits: the number of lines (MONEY_EITEMS), then each line's qty
 * (MONEY_EQTY) and unit_price (MONEY_EPRICE), then the subtotal
 * (MONEY_ESUBTOTAL), the discount (MONEY_EDISCOUNT: 0..subtotal) and the
 * rate (MONEY_ERATE). On a line's error *bad (when not NULL) is its index.
 * On success every items[i].line_total and *out are written; on failure
 * nothing is. */
int money_invoice_compute(struct money_item *items, size_t n, int64_t discount, int64_t rate_bp,
                          struct money_totals *out, size_t *bad);

/* "invalid_qty", "invalid_unit_price", "amount_overflow", "invalid_line_total",
 * "invalid_discount", "invalid_tax_rate", "invalid_amount" (MONEY_EAMOUNT),
 * "invalid_items", "subtotal_too_large"; "ok" for 0; "invalid_amount" for
 * anything else. */
const char *money_err_code(int err);

/* Formats v the Indonesian way: "Rp 1.250.000", "-Rp 5.000", "Rp 0".
 * MONEY_IDR_MAX bytes are always enough; when n is too small out becomes ""
 * (when n > 0) rather than a truncated, wrong-looking amount. */
void money_format_idr(int64_t v, char *out, size_t n);

#endif
