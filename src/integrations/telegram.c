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

/* ---- job broadcasts -------------------------------------------------------- */

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm): no
 * timegm, no TZ environment. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

int tg_wib_time(struct buf *b, const char *iso, size_t n)
{
    char s[32];
    int  y, mo, d, h, mi, sec = 0, used = 0;
    if (n == 0 || n >= sizeof(s))
        return -1;
    memcpy(s, iso, n);
    s[n] = '\0';
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 || used != 19 ||
        strcmp(s + used, "Z") != 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 ||
        y < 1970)
        return -1;
    /* Asia/Jakarta is UTC+7 all year (no daylight saving since 1964) */
    int64_t t = (days_from_civil(y, mo, d) * 24 + h + 7) * 60 + mi;
    int64_t days = t / 1440;
    int     mins = (int)(t % 1440);
    static const char *const dow[7] = {"Kam", "Jum", "Sab", "Min", "Sen", "Sel", "Rab"}; /* 1970-01-01: Thursday */
    static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "Mei", "Jun",
                                        "Jul", "Agu", "Sep", "Okt", "Nov", "Des"};
    int                      yy, mm, dd;
    civil_from_days(days, &yy, &mm, &dd);
    buf_printf(b, "%s %02d %s %02d:%02d WIB", dow[days % 7], dd, mon[mm - 1], mins / 60, mins % 60);
    return 0;
}

static bool get_bool(yyjson_val *o, const char *key, bool *out)
{
    yyjson_val *v = yyjson_obj_get(o, key);
    if (!yyjson_is_bool(v))
        return false;
    *out = yyjson_get_bool(v);
    return true;
}

/* A startapp parameter / Mini App short name / bot username: only these
 * characters go into the t.me link unescaped. */
static bool link_word(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= 64 &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

char *tg_job_payload(const char *job, size_t len, int64_t edit_message_id, const struct tg_job_links *links,
                     char *err, size_t errlen)
{
    char           *out = NULL;
    struct buf      t = {0}, url = {0};
    yyjson_mut_doc *md = NULL;
    yyjson_doc     *doc = yyjson_read(job, len, 0);
    yyjson_val     *root = doc ? yyjson_doc_get_root(doc) : NULL;
    yyjson_val     *code = yyjson_obj_get(root, "code"), *problem = yyjson_obj_get(root, "problem");
    yyjson_val     *area = yyjson_obj_get(root, "area"), *sched = yyjson_obj_get(root, "scheduled_at");
    yyjson_val     *state = yyjson_obj_get(root, "state");
    int64_t         id, needed, filled, round = 1;
    bool            urgent = false;
    if (!yyjson_is_obj(root) || !get_int(root, "id", &id) || id <= 0 || !yyjson_is_str(code) ||
        !yyjson_is_str(problem) || !yyjson_is_str(area) || !yyjson_is_str(sched) || !yyjson_is_str(state) ||
        !get_int(root, "needed", &needed) || !get_int(root, "filled", &filled) || !get_bool(root, "urgent", &urgent)) {
        set_err(err, errlen, "job data: id, code, problem, area, scheduled_at, needed, filled, state, urgent required");
        goto out;
    }
    if (yyjson_obj_get(root, "round") && !get_int(root, "round", &round)) {
        set_err(err, errlen, "job data: round must be an integer");
        goto out;
    }
    const char *st = yyjson_get_str(state);
    bool        open = !strcmp(st, "open"), full = !strcmp(st, "full"), cancelled = !strcmp(st, "cancelled");
    bool        closed = !strcmp(st, "closed");
    if (!open && !full && !cancelled && !closed) {
        set_err(err, errlen, "job data: state must be open, full, cancelled or closed");
        goto out;
    }
    if (edit_message_id < 0) {
        set_err(err, errlen, "job message: a negative message id");
        goto out;
    }
    /* the button's target: the Direct Link Mini App, else the web page */
    const char *bot = links && links->bot_username ? links->bot_username : "";
    if (bot[0] == '@')
        bot++;
    const char *app = links && links->miniapp ? links->miniapp : "";
    const char *pub = links && links->public_url ? links->public_url : "";
    if (app[0] && link_word(app) && link_word(bot)) {
        buf_printf(&url, "https://t.me/%s/%s?startapp=job_%" PRId64, bot, app, id);
    } else if (!strncmp(pub, "http://", 7) || !strncmp(pub, "https://", 8)) {
        size_t ul = strlen(pub);
        while (ul && pub[ul - 1] == '/')
            ul--;
        buf_printf(&url, "%.*s/jobs/%" PRId64, (int)ul, pub, id);
    } else if (open) {
        set_err(err, errlen, "job message: no Mini App (GSS_TELEGRAM_MINIAPP and GSS_TELEGRAM_BOT_USERNAME) and no "
                             "public URL for the claim button");
        goto out;
    }

    if (urgent)
        buf_puts(&t, "\xF0\x9F\x9A\xA8 <b>URGENT \xE2\x80\x94 PENGGANTI</b> "); /* 🚨 … — … */
    else
        buf_puts(&t, "\xF0\x9F\x94\xA7 <b>JOB BARU</b> "); /* 🔧 */
    buf_puts(&t, "<b>");
    tg_html_escape(&t, yyjson_get_str(code), yyjson_get_len(code), TG_JOB_CODE);
    buf_puts(&t, "</b>");
    if (round > 1)
        buf_printf(&t, " (putaran %" PRId64 ")", round);
    buf_puts(&t, "\n\n\xF0\x9F\x93\x8D Area: "); /* 📍 */
    if (yyjson_get_len(area))
        tg_html_escape(&t, yyjson_get_str(area), yyjson_get_len(area), TG_JOB_AREA);
    else
        buf_puts(&t, "-");
    buf_puts(&t, "\n\xF0\x9F\x9B\xA0 Masalah: "); /* 🛠 */
    tg_html_escape(&t, yyjson_get_str(problem), yyjson_get_len(problem), TG_JOB_PROBLEM);
    buf_puts(&t, "\n\xF0\x9F\x97\x93 Jadwal: "); /* 🗓 */
    if (tg_wib_time(&t, yyjson_get_str(sched), yyjson_get_len(sched)) < 0)
        tg_html_escape(&t, yyjson_get_str(sched), yyjson_get_len(sched), 40);
    buf_puts(&t, "\n\n");
    if (open)
        buf_printf(&t, "\xF0\x9F\x91\xA5 Teknisi: %" PRId64 "/%" PRId64 " terisi", filled, needed); /* 👥 */
    else if (full)
        buf_printf(&t, "\xE2\x9C\x85 <b>PENUH</b> (%" PRId64 "/%" PRId64 ")", filled, needed); /* ✅ */
    else if (cancelled)
        buf_puts(&t, "\xE2\x9D\x8C <b>DIBATALKAN</b>"); /* ❌ */
    else
        buf_puts(&t, "\xE2\x9C\x85 <b>SELESAI</b>");

    md = yyjson_mut_doc_new(NULL);
    yyjson_mut_val *r = yyjson_mut_obj(md), *params = yyjson_mut_obj(md);
    yyjson_mut_doc_set_root(md, r);
    yyjson_mut_obj_add_str(md, r, "method", edit_message_id ? "editMessageText" : "sendMessage");
    yyjson_mut_obj_add_val(md, r, "params", params);
    if (edit_message_id)
        yyjson_mut_obj_add_sint(md, params, "message_id", edit_message_id);
    yyjson_mut_obj_add_strncpy(md, params, "text", t.data, t.len);
    yyjson_mut_obj_add_str(md, params, "parse_mode", "HTML");
    yyjson_mut_val *lp = yyjson_mut_obj(md);
    yyjson_mut_obj_add_bool(md, lp, "is_disabled", true);
    yyjson_mut_obj_add_val(md, params, "link_preview_options", lp);
    /* An edit without reply_markup drops the keyboard: every edit carries
     * it again, and only a cancelled or finished job goes without one. */
    if (open || full) {
        yyjson_mut_val *b = yyjson_mut_obj(md), *row = yyjson_mut_arr(md), *kb = yyjson_mut_arr(md);
        if (open) {
            yyjson_mut_obj_add_str(md, b, "text", "Ambil Job");
            yyjson_mut_obj_add_strncpy(md, b, "url", url.data, url.len);
        } else {
            /* Bot API 10.3: a button that does nothing */
            yyjson_mut_obj_add_str(md, b, "text", "PENUH");
            yyjson_mut_obj_add_val(md, b, "disabled", yyjson_mut_obj(md));
        }
        yyjson_mut_arr_append(row, b);
        yyjson_mut_arr_append(kb, row);
        yyjson_mut_val *markup = yyjson_mut_obj(md);
        yyjson_mut_obj_add_val(md, markup, "inline_keyboard", kb);
        yyjson_mut_obj_add_val(md, params, "reply_markup", markup);
    }
    out = yyjson_mut_write(md, 0, NULL);
    if (!out)
        set_err(err, errlen, "job message: cannot be written as JSON");
out:
    yyjson_mut_doc_free(md);
    yyjson_doc_free(doc);
    buf_free(&t);
    buf_free(&url);
    return out;
}
