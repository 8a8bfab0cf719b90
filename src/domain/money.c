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

const char *money_err_code(int err)
{
    switch (err) {
    case MONEY_OK: return "ok";
    case MONEY_EQTY: return "invalid_qty";
    case MONEY_EPRICE: return "invalid_unit_price";
    case MONEY_EOVERFLOW: return "amount_overflow";
    case MONEY_ELINE: return "invalid_line_total";
    case MONEY_EDISCOUNT: return "invalid_discount";
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
