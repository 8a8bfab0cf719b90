/*
 * telegram: message builders and HTML escaping (contract in telegram.h).
 */
#include "integrations/telegram.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "core/civil.h"

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

/* The outbox payload of one HTML message: {"method", "params": {message_id
 * (an edit: > 0), text, parse_mode, link_preview_options}} as the root of
 * md; returns params, for the caller's reply_markup. */
static yyjson_mut_val *tg_msg_params(yyjson_mut_doc *md, const char *method, int64_t message_id,
                                     const struct buf *text)
{
    yyjson_mut_val *r = yyjson_mut_obj(md), *params = yyjson_mut_obj(md);
    yyjson_mut_doc_set_root(md, r);
    yyjson_mut_obj_add_str(md, r, "method", method);
    yyjson_mut_obj_add_val(md, r, "params", params);
    if (message_id > 0)
        yyjson_mut_obj_add_sint(md, params, "message_id", message_id);
    yyjson_mut_obj_add_strncpy(md, params, "text", text->data, text->len);
    yyjson_mut_obj_add_str(md, params, "parse_mode", "HTML");
    yyjson_mut_val *lp = yyjson_mut_obj(md);
    yyjson_mut_obj_add_bool(md, lp, "is_disabled", true);
    yyjson_mut_obj_add_val(md, params, "link_preview_options", lp);
    return params;
}

/* params.reply_markup = {"inline_keyboard": kb} (an array of button rows). */
static void tg_put_keyboard(yyjson_mut_doc *md, yyjson_mut_val *params, yyjson_mut_val *kb)
{
    yyjson_mut_val *markup = yyjson_mut_obj(md);
    yyjson_mut_obj_add_val(md, markup, "inline_keyboard", kb);
    yyjson_mut_obj_add_val(md, params, "reply_markup", markup);
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
    yyjson_mut_val *params = tg_msg_params(md, "sendMessage", 0, &t);
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
    tg_put_keyboard(md, params, kb);
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

int tg_wib_time(struct buf *b, const char *iso, size_t n)
{
    static const char *const dow[7] = {"Min", "Sen", "Sel", "Rab", "Kam", "Jum", "Sab"};
    static const char *const mon[12] = {"Jan", "Feb", "Mar", "Apr", "Mei", "Jun",
                                        "Jul", "Agu", "Sep", "Okt", "Nov", "Des"};
    int64_t                  t;
    struct civil_tm          tm;
    if (civil_parse_utc(iso, n, &t) < 0)
        return -1;
    civil_from_unix(t + CIVIL_WIB_OFFSET_S, &tm);
    buf_printf(b, "%s %02d %s %02d:%02d WIB", dow[tm.wday], tm.day, mon[tm.month - 1], tm.hour, tm.min);
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
    yyjson_mut_val *params =
        tg_msg_params(md, edit_message_id ? "editMessageText" : "sendMessage", edit_message_id, &t);
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
        tg_put_keyboard(md, params, kb);
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

/* ---- Sales' approval message, answered elsewhere --------------------------------- */

/* A string member, or NULL when it is absent or null; false for any other type. */
static bool opt_str(yyjson_val *o, const char *key, yyjson_val **out)
{
    yyjson_val *v = yyjson_obj_get(o, key);
    *out = yyjson_is_str(v) && yyjson_get_len(v) ? v : NULL;
    return !v || yyjson_is_null(v) || yyjson_is_str(v);
}

char *tg_approval_edit_payload(const char *data, size_t len, const char *public_url, char *err, size_t errlen)
{
    char           *out = NULL;
    struct buf      t = {0}, url = {0};
    yyjson_mut_doc *md = NULL;
    yyjson_doc     *doc = yyjson_read(data, len, 0);
    yyjson_val     *root = doc ? yyjson_doc_get_root(doc) : NULL;
    yyjson_val     *number = yyjson_obj_get(root, "number"), *customer = yyjson_obj_get(root, "customer");
    yyjson_val     *event = yyjson_obj_get(root, "event"), *by = NULL, *note = NULL, *via = NULL;
    int64_t         mid, id, version, total;
    if (!yyjson_is_obj(root) || !get_int(root, "message_id", &mid) || mid <= 0 || !get_int(root, "invoice_id", &id) ||
        id <= 0 || !get_int(root, "version", &version) || version <= 0 || !yyjson_is_str(number) ||
        !yyjson_is_str(customer) || !get_int(root, "total", &total) || !yyjson_is_str(event) ||
        !opt_str(root, "by", &by) || !opt_str(root, "note", &note) || !opt_str(root, "via", &via)) {
        set_err(err, errlen,
                "approval edit data: message_id, invoice_id, version, number, customer, total and event are required");
        goto out;
    }
    bool approved = yyjson_equals_str(event, "approved"), revise = yyjson_equals_str(event, "revise");
    if (!approved && !revise && !yyjson_equals_str(event, "replaced")) {
        set_err(err, errlen, "approval edit data: event must be approved, revise or replaced");
        goto out;
    }

    buf_puts(&t, "<b>Invoice ");
    tg_html_escape(&t, yyjson_get_str(number), yyjson_get_len(number), 0);
    buf_puts(&t, "</b>\nPelanggan: ");
    tg_html_escape(&t, yyjson_get_str(customer), yyjson_get_len(customer), TG_APPROVAL_NAME);
    buf_puts(&t, "\nTotal: ");
    tg_rupiah(&t, total);
    buf_puts(&t, "\n\n");
    if (approved) {
        buf_puts(&t, "\xE2\x9C\x85 Disetujui"); /* ✅ */
        if (by) {
            buf_puts(&t, " oleh ");
            tg_html_escape(&t, yyjson_get_str(by), yyjson_get_len(by), TG_APPROVAL_NAME);
        }
        buf_puts(&t, via && yyjson_equals_str(via, "telegram") ? " (Telegram)" : " (web)");
    } else if (revise) {
        buf_puts(&t, "\xE2\x86\xA9\xEF\xB8\x8F Revisi diminta"); /* ↩️ */
        if (by) {
            buf_puts(&t, " oleh ");
            tg_html_escape(&t, yyjson_get_str(by), yyjson_get_len(by), TG_APPROVAL_NAME);
        }
        if (note) {
            buf_puts(&t, ": ");
            tg_html_escape(&t, yyjson_get_str(note), yyjson_get_len(note), TG_APPROVAL_NOTE);
        }
    } else {
        buf_puts(&t, "\xF0\x9F\x94\x84 Diganti versi baru"); /* 🔄 */
    }

    md = yyjson_mut_doc_new(NULL);
    yyjson_mut_val *params = tg_msg_params(md, "editMessageText", mid, &t);
    /* An edit without reply_markup drops the whole keyboard; with one, the
     * keyboard becomes exactly that: either way the Approve button goes. */
    if (public_url && !strncmp(public_url, "http", 4)) {
        size_t ul = strlen(public_url);
        while (ul && public_url[ul - 1] == '/')
            ul--;
        buf_printf(&url, "%.*s/invoices/%" PRId64, (int)ul, public_url, id);
        yyjson_mut_val *kb = yyjson_mut_arr(md), *row = yyjson_mut_arr(md), *view = yyjson_mut_obj(md);
        yyjson_mut_obj_add_str(md, view, "text", "Lihat / Revisi");
        yyjson_mut_obj_add_strncpy(md, view, "url", url.data, url.len);
        yyjson_mut_arr_append(row, view);
        yyjson_mut_arr_append(kb, row);
        tg_put_keyboard(md, params, kb);
    }
    out = yyjson_mut_write(md, 0, NULL);
    if (!out)
        set_err(err, errlen, "approval edit: cannot be written as JSON");
out:
    yyjson_mut_doc_free(md);
    yyjson_doc_free(doc);
    buf_free(&t);
    buf_free(&url);
    return out;
}
