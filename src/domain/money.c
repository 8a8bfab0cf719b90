#include "domain/money.h"

#include <string.h>

int money_line_total(int64_t qty, int64_t unit_price, int64_t *out)
{
    int64_t v;

    if (qty < 1 || qty > MONEY_QTY_MAX)
        return MONEY_EQTY;
    if (unit_price < 0 || unit_price > MONEY_PRICE_MAX)
        return MONEY_EPRICE;
    /* Cannot overflow within the limits (10^16 < 2^63); checked anyway so
     * that raising a limit can never make a silent wrap. */
    if (__builtin_mul_overflow(qty, unit_price, &v))
        return MONEY_EOVERFLOW;
    *out = v;
    return MONEY_OK;
}

int money_invoice_total(const int64_t *line_totals, size_t n, int64_t discount, int64_t *subtotal, int64_t *total)
{
    int64_t sum = 0;

    for (size_t i = 0; i < n; i++) {
        if (line_totals[i] < 0)
            return MONEY_ELINE;
        if (__builtin_add_overflow(sum, line_totals[i], &sum))
            return MONEY_EOVERFLOW;
    }
    if (discount < 0 || discount > sum)
        return MONEY_EDISCOUNT;
    *subtotal = sum;
    *total = sum - discount;
    return MONEY_OK;
}

int money_tax(int64_t taxable, int64_t rate_bp, int64_t *tax)
{
    if (taxable < 0)
        return MONEY_EAMOUNT;
    if (rate_bp < 0 || rate_bp > MONEY_TAX_RATE_MAX)
        return MONEY_ERATE;
    /* taxable = q x 10 000 + r, so taxable x rate = q x rate x 10 000 +
     * r x rate: the whole part q x rate is exact (at most taxable, as rate
     * <= 10 000) and only r x rate (< 10^8) needs rounding. Same result as
     * floor((taxable x rate + 5 000) / 10 000), with no product that could
     * overflow. */
    int64_t q = taxable / 10000, r = taxable % 10000, whole, v;
    if (__builtin_mul_overflow(q, rate_bp, &whole) || __builtin_add_overflow(whole, (r * rate_bp + 5000) / 10000, &v))
        return MONEY_EOVERFLOW;
    *tax = v;
    return MONEY_OK;
}

int money_invoice_compute(struct money_item *items, size_t n, int64_t discount, int64_t rate_bp,
                          struct money_totals *out, size_t *bad)
{
    int64_t sum = 0, line, tax, total;
    int     rc;

    if (n < 1 || n > MONEY_ITEMS_MAX || !items)
        return MONEY_EITEMS;
    for (size_t i = 0; i < n; i++) {
        if ((rc = money_line_total(items[i].qty, items[i].unit_price, &line)) != MONEY_OK) {
            if (bad)
                *bad = i;
            return rc;
        }
        /* 50 lines of at most 10^16 cannot overflow; checked anyway */
        if (__builtin_add_overflow(sum, line, &sum))
            return MONEY_EOVERFLOW;
    }
    if (sum > MONEY_SUBTOTAL_MAX)
        return MONEY_ESUBTOTAL;
    if (discount < 0 || discount > sum)
        return MONEY_EDISCOUNT;
    if ((rc = money_tax(sum - discount, rate_bp, &tax)) != MONEY_OK)
        return rc;
    if (__builtin_add_overflow(sum - discount, tax, &total))
        return MONEY_EOVERFLOW;
    /* Only now, so that a refusal leaves the caller's lines as they were. */
    for (size_t i = 0; i < n; i++)
        items[i].line_total = items[i].qty * items[i].unit_price;
    out->subtotal = sum;
    out->discount = discount;
    out->taxable = sum - discount;
    out->tax = tax;
    out->total = total;
    return MONEY_OK;
}

const char *money_err_code(int err)
{
    switch (err) {
    case MONEY_OK: return "ok";
    case MONEY_EQTY: return "invalid_qty";
    case MONEY_EPRICE: return "invalid_unit_price";
    case MONEY_EOVERFLOW: return "amount_overflow";
    case MONEY_ELINE: return "invalid_line_total";
    case MONEY_EDISCOUNT: return "invalid_discount";
    case MONEY_ERATE: return "invalid_tax_rate";
    case MONEY_EITEMS: return "invalid_items";
    case MONEY_ESUBTOTAL: return "subtotal_too_large";
    default: return "invalid_amount";
    }
}

void money_format_idr(int64_t v, char *out, size_t n)
{
    char  tmp[MONEY_IDR_MAX];
    char *p = tmp + sizeof(tmp);
    /* Through uint64_t, so that INT64_MIN has a magnitude to print. */
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int      digits = 0;

    /* Right to left: a dot before every third digit from the end. */
    *--p = '\0';
    do {
        if (digits && digits % 3 == 0)
            *--p = '.';
        *--p = (char)('0' + mag % 10);
        mag /= 10;
        digits++;
    } while (mag);
    *--p = ' ';
    *--p = 'p';
    *--p = 'R';
    if (v < 0)
        *--p = '-';

    size_t len = (size_t)(tmp + sizeof(tmp) - p); /* with the NUL */
    if (n == 0)
        return;
    if (len > n) {
        out[0] = '\0';
        return;
    }
    memcpy(out, p, len);
}
