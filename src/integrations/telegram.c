/*
 * telegram: message builders and HTML escaping (contract in telegram.h).
 */
#include "integrations/telegram.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

void tg_html_escape(struct buf *b, const char *s, size_t n, size_t max_chars)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* a code point starts at every byte that is not a continuation byte */
        if ((c & 0xC0) != 0x80) {
            if (max_chars && chars == max_chars) {
                buf_puts(b, "\xE2\x80\xA6"); /* … */
                return;
            }
            chars++;
        }
        switch (c) {
        case '&': buf_puts(b, "&amp;"); break;
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        default: buf_putc(b, (char)c);
        }
    }
}

void tg_rupiah(struct buf *b, int64_t amount)
{
    /* the magnitude as unsigned: INT64_MIN has no positive int64 */
    uint64_t v = amount < 0 ? (uint64_t)0 - (uint64_t)amount : (uint64_t)amount;
    char     digits[24];
    int      n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
    if (amount < 0)
        buf_putc(b, '-');
    buf_puts(b, "Rp ");
    for (int i = 0; i < n; i++) {
        if (i && (n - i) % 3 == 0)
            buf_putc(b, '.'); /* Indonesian thousands separator */
        buf_putc(b, digits[i]);
    }
}

int tg_approve_data(char out[TG_CALLBACK_MAX + 1], int64_t invoice_id, int64_t version)
{
    if (invoice_id <= 0 || version <= 0)
        return -1;
    snprintf(out, TG_CALLBACK_MAX + 1, "ap:%" PRId64 ":%" PRId64, invoice_id, version);
    return 0;
}

/* A positive decimal without a sign or leading zero, at most 18 digits
 * (no overflow). Advances *p. */
static bool read_pos(const char **p, const char *end, int64_t *out)
{
    const char *s = *p;
    if (s >= end || *s < '1' || *s > '9')
        return false;
    int64_t v = 0;
    int     k = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        if (++k > 18)
            return false;
        v = v * 10 + (*s - '0');
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

bool tg_parse_approve_data(const char *s, size_t n, int64_t *invoice_id, int64_t *version)
{
    const char *p = s, *end = s + n;
    int64_t     id, ver;
    if (n < 6 || n > TG_CALLBACK_MAX || memcmp(s, "ap:", 3) != 0) /* "ap:1:1" is the shortest */
        return false;
    p += 3;
    if (!read_pos(&p, end, &id) || p >= end || *p != ':')
        return false;
    p++;
    if (!read_pos(&p, end, &ver) || p != end)
        return false;
    *invoice_id = id;
    *version = ver;
    return true;
}

static bool get_int(yyjson_val *o, const char *key, int64_t *out)
{
    yyjson_val *v = yyjson_obj_get(o, key);
    if (yyjson_is_sint(v)) {
        *out = yyjson_get_sint(v);
        return true;
    }
    if (yyjson_is_uint(v) && yyjson_get_uint(v) <= (uint64_t)INT64_MAX) {
        *out = (int64_t)yyjson_get_uint(v);
        return true;
    }
    return false;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (errlen)
        snprintf(err, errlen, "%s", msg);
}

/* One line of the list: "1. <description>\n    2 × Rp 50.000 = Rp 100.000\n". */
static bool item_line(struct buf *t, size_t pos, yyjson_val *it)
{
    yyjson_val *d = yyjson_obj_get(it, "description");
    int64_t     qty, price, line;
    if (!yyjson_is_str(d) || !get_int(it, "qty", &qty) || !get_int(it, "unit_price", &price) ||
        !get_int(it, "line_total", &line))
        return false;
    buf_printf(t, "%zu. ", pos);
    tg_html_escape(t, yyjson_get_str(d), yyjson_get_len(d), TG_APPROVAL_DESC);
    buf_printf(t, "\n    %" PRId64 " \xC3\x97 ", qty); /* × */
    tg_rupiah(t, price);
    buf_puts(t, " = ");
    tg_rupiah(t, line);
    buf_putc(t, '\n');
    return true;
}

char *tg_approval_payload(const char *data, size_t len, const char *public_url, char *err, size_t errlen)
{
    char           *out = NULL;
    struct buf      t = {0}, url = {0};
    yyjson_mut_doc *md = NULL;
    yyjson_doc     *doc = yyjson_read(data, len, 0);
    yyjson_val     *root = doc ? yyjson_doc_get_root(doc) : NULL;
    yyjson_val     *number = yyjson_obj_get(root, "number"), *customer = yyjson_obj_get(root, "customer");
    yyjson_val     *items = yyjson_obj_get(root, "items");
    int64_t         id, version, subtotal, discount, tax, total;
    char            cb[TG_CALLBACK_MAX + 1];
    if (!yyjson_is_obj(root) || !get_int(root, "invoice_id", &id) || !get_int(root, "version", &version) ||
        !yyjson_is_str(number) || !yyjson_is_str(customer) || !yyjson_is_arr(items) ||
        !get_int(root, "subtotal", &subtotal) || !get_int(root, "discount", &discount) || !get_int(root, "tax", &tax) ||
        !get_int(root, "total", &total) || tg_approve_data(cb, id, version) < 0) {
        set_err(err, errlen, "approval data: invoice_id, version, number, customer, items and totals are required");
        goto out;
    }
    if (!public_url || strncmp(public_url, "http", 4) != 0) {
        set_err(err, errlen, "approval message: no public URL for the invoice's button");
        goto out;
    }

    buf_puts(&t, "<b>Draft Invoice Menunggu Approval</b>\n\nNo: <b>");
    tg_html_escape(&t, yyjson_get_str(number), yyjson_get_len(number), 0);
    buf_puts(&t, "</b>\nPelanggan: ");
    tg_html_escape(&t, yyjson_get_str(customer), yyjson_get_len(customer), TG_APPROVAL_NAME);
    buf_puts(&t, "\n\n");
    size_t          n = yyjson_arr_size(items), i = 0;
    yyjson_val     *it;
    yyjson_arr_iter iter = yyjson_arr_iter_with(items);
    while ((it = yyjson_arr_iter_next(&iter)) && i < TG_APPROVAL_ITEMS) {
        if (!item_line(&t, ++i, it)) {
            set_err(err, errlen, "approval data: an item needs description, qty, unit_price and line_total");
            goto out;
        }
    }
    if (n > i)
        buf_printf(&t, "\xE2\x80\xA6 dan %zu baris lagi\n", n - i);
    buf_puts(&t, "\nSubtotal: ");
    tg_rupiah(&t, subtotal);
    if (discount) {
        buf_puts(&t, "\nDiskon: ");
        tg_rupiah(&t, -discount);
    }
    buf_puts(&t, "\nPPN: ");
    tg_rupiah(&t, tax);
    buf_puts(&t, "\n<b>Total: ");
    tg_rupiah(&t, total);
    buf_puts(&t, "</b>");

    size_t ul = strlen(public_url);
    while (ul && public_url[ul - 1] == '/')
        ul--;
    buf_printf(&url, "%.*s/invoices/%" PRId64, (int)ul, public_url, id);

    md = yyjson_mut_doc_new(NULL);
    yyjson_mut_val *r = yyjson_mut_obj(md), *params = yyjson_mut_obj(md);
    yyjson_mut_doc_set_root(md, r);
    yyjson_mut_obj_add_str(md, r, "method", "sendMessage");
    yyjson_mut_obj_add_val(md, r, "params", params);
    yyjson_mut_obj_add_strncpy(md, params, "text", t.data, t.len);
    yyjson_mut_obj_add_str(md, params, "parse_mode", "HTML");
    yyjson_mut_val *lp = yyjson_mut_obj(md);
    yyjson_mut_obj_add_bool(md, lp, "is_disabled", true);
    yyjson_mut_obj_add_val(md, params, "link_preview_options", lp);
    yyjson_mut_val *kb = yyjson_mut_arr(md), *row1 = yyjson_mut_arr(md), *row2 = yyjson_mut_arr(md);
    yyjson_mut_val *ap = yyjson_mut_obj(md), *view = yyjson_mut_obj(md);
    yyjson_mut_obj_add_str(md, ap, "text", "Approve");
    yyjson_mut_obj_add_strcpy(md, ap, "callback_data", cb);
    yyjson_mut_obj_add_str(md, view, "text", "Lihat / Revisi");
    yyjson_mut_obj_add_strncpy(md, view, "url", url.data, url.len);
    yyjson_mut_arr_append(row1, ap);
    yyjson_mut_arr_append(row2, view);
    yyjson_mut_arr_append(kb, row1);
    yyjson_mut_arr_append(kb, row2);
    yyjson_mut_val *markup = yyjson_mut_obj(md);
    yyjson_mut_obj_add_val(md, markup, "inline_keyboard", kb);
    yyjson_mut_obj_add_val(md, params, "reply_markup", markup);
    out = yyjson_mut_write(md, 0, NULL);
    if (!out)
        set_err(err, errlen, "approval message: cannot be written as JSON");
out:
    yyjson_mut_doc_free(md);
    yyjson_doc_free(doc);
    buf_free(&t);
    buf_free(&url);
    return out;
}
