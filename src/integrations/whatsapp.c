/*
 * whatsapp: the customer's message builders (contract in whatsapp.h).
 */
#include "integrations/whatsapp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include <mbedtls/platform_util.h>

#include "auth/links.h"
#include "core/civil.h"
#include "domain/money.h"

/* A buf's text (bufs keep a NUL after their bytes once anything was appended). */
static const char *cs(const struct buf *b)
{
    return b->data ? b->data : "";
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (errlen)
        snprintf(err, errlen, "%s", msg);
}

void wa_param_text(struct buf *b, const char *s, size_t n, size_t max_chars, const char *dflt)
{
    size_t start = b->len, chars = 0;
    bool   space = false; /* a space is owed before the next visible character */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == ' ') {
            space = b->len > start; /* none at the start: trimmed */
            continue;
        }
        if ((c & 0xC0) != 0x80) { /* a code point starts here */
            if (max_chars && chars + (space ? 1 : 0) >= max_chars) {
                buf_puts(b, "\xE2\x80\xA6"); /* … */
                return;
            }
            if (space) {
                buf_putc(b, ' ');
                chars++;
                space = false;
            }
            chars++;
        }
        buf_putc(b, (char)c);
    }
    if (b->len == start && dflt)
        buf_puts(b, dflt);
}

int wa_date_id(const char *iso, char *out, size_t n)
{
    static const char *const months[12] = {"Januari", "Februari", "Maret",     "April",   "Mei",      "Juni",
                                           "Juli",    "Agustus",  "September", "Oktober", "November", "Desember"};
    int64_t                  t;
    struct civil_tm          tm;
    if (n)
        out[0] = '\0';
    if (!iso || civil_parse_utc(iso, strlen(iso), &t) < 0)
        return -1;
    civil_from_unix(t + CIVIL_WIB_OFFSET_S, &tm);
    if ((size_t)snprintf(out, n, "%d %s %" PRId64, tm.day, months[tm.month - 1], tm.year) >= n) {
        if (n)
            out[0] = '\0';
        return -1;
    }
    return 0;
}

bool wa_bsuid_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= WA_BSUID_MAX &&
           strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == n;
}

/* n bytes from exactly 2n hex digits; -1 otherwise. */
static int unhex(const char *hex, uint8_t *out, size_t n)
{
    if (!hex || strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= (unsigned)(c - 'A' + 10);
            else
                return -1;
        }
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* A link's token from {"nonce_hex": "<32 hex>", "hash_hex": "<64 hex>"?}:
 * 0; -1 when it is not that shape; -2 when the token derived under the
 * current key does not have the stored hash (the key changed). */
static int link_token(const struct links *keys, enum links_kind kind, yyjson_val *link, char out[LINKS_TOKEN_SIZE])
{
    uint8_t     nonce[LINKS_NONCE_LEN], want[LINKS_HASH_LEN], have[LINKS_HASH_LEN];
    yyjson_val *hash = yyjson_obj_get(link, "hash_hex");
    out[0] = '\0';
    if (unhex(yyjson_get_str(yyjson_obj_get(link, "nonce_hex")), nonce, sizeof(nonce)) < 0 ||
        (hash && unhex(yyjson_get_str(hash), want, sizeof(want)) < 0) || links_token(keys, kind, nonce, out) < 0)
        return -1;
    if (hash) {
        links_token_hash(out, strlen(out), have);
        if (!links_hash_eq(have, want)) {
            mbedtls_platform_zeroize(out, LINKS_TOKEN_SIZE);
            return -2;
        }
    }
    return 0;
}

static yyjson_mut_val *text_param(yyjson_mut_doc *md, const char *text)
{
    yyjson_mut_val *p = yyjson_mut_obj(md);
    yyjson_mut_obj_add_str(md, p, "type", "text");
    yyjson_mut_obj_add_strcpy(md, p, "text", text);
    return p;
}

static void add_url_button(yyjson_mut_doc *md, yyjson_mut_val *comps, const char *index, const char *token)
{
    yyjson_mut_val *b = yyjson_mut_arr_add_obj(md, comps);
    yyjson_mut_obj_add_str(md, b, "type", "button");
    yyjson_mut_obj_add_str(md, b, "sub_type", "url");
    yyjson_mut_obj_add_str(md, b, "index", index); /* a string, as Meta documents it */
    yyjson_mut_val *ps = yyjson_mut_obj_add_arr(md, b, "parameters");
    yyjson_mut_arr_append(ps, text_param(md, token)); /* only the URL's suffix: {{1}} */
}

char *wa_links_message(const char *links_msg, size_t len, const struct links *keys, const struct wa_links_conf *conf,
                       char *err, size_t errlen)
{
    char            inv_tok[LINKS_TOKEN_SIZE] = "", rat_tok[LINKS_TOKEN_SIZE] = "";
    char           *out = NULL;
    struct buf      t = {0};
    yyjson_mut_doc *md = NULL;
    yyjson_doc     *doc = yyjson_read(links_msg, len, 0);
    yyjson_val     *root = doc ? yyjson_doc_get_root(doc) : NULL;
    yyjson_val     *customer = yyjson_obj_get(root, "customer"), *number = yyjson_obj_get(root, "number");
    yyjson_val     *total = yyjson_obj_get(root, "total"), *balance = yyjson_obj_get(root, "balance");
    yyjson_val     *due = yyjson_obj_get(root, "due_at"), *open = yyjson_obj_get(root, "window_open");
    yyjson_val     *inv = yyjson_obj_get(root, "invoice"), *rat = yyjson_obj_get(root, "rating");
    if (!yyjson_is_obj(root)) {
        set_err(err, errlen, "links_msg is not a JSON object");
        goto out;
    }
    if (!yyjson_is_obj(inv)) {
        set_err(err, errlen, "the invoice's link is gone (no invoice or link row): send the invoice again");
        goto out;
    }
    if (!yyjson_is_str(number) || !yyjson_get_len(number) || !yyjson_is_int(total) || !yyjson_is_bool(open) ||
        (customer && !yyjson_is_str(customer)) || (balance && !yyjson_is_int(balance)) ||
        (due && !yyjson_is_str(due)) || (rat && !yyjson_is_null(rat) && !yyjson_is_obj(rat))) {
        set_err(err, errlen, "links_msg needs number, total and window_open (and customer, balance, due_at typed)");
        goto out;
    }
    if (!conf || !conf->public_url || !conf->public_url[0]) {
        set_err(err, errlen, "GSS_PUBLIC_URL unset: the links need it");
        goto out;
    }
    int li = link_token(keys, LINKS_INVOICE, inv, inv_tok);
    int lr = yyjson_is_obj(rat) ? link_token(keys, LINKS_RATING, rat, rat_tok) : 0;
    if (li == -2 || lr == -2) {
        set_err(err, errlen,
                "the links no longer match GSS_LINK_KEY (the key changed, or none is set and gssd restarted):"
                " press Kirim Ulang to send new links");
        goto out;
    }
    if (li < 0 || lr < 0) {
        set_err(err, errlen, "a link's nonce_hex (32 hex digits) or hash_hex (64) is malformed");
        goto out;
    }
    bool        window_open = yyjson_get_bool(open);
    bool        rating = rat_tok[0] && !yyjson_get_bool(yyjson_obj_get(rat, "used"));
    const char *cname = customer ? yyjson_get_str(customer) : "";
    size_t      clen = customer ? yyjson_get_len(customer) : 0;
    char        amount[MONEY_IDR_MAX], rest[MONEY_IDR_MAX], date[40] = "";
    money_format_idr(yyjson_get_sint(total), amount, sizeof(amount));
    if (due)
        wa_date_id(yyjson_get_str(due), date, sizeof(date)); /* unreadable: no date line */

    md = yyjson_mut_doc_new(NULL);
    yyjson_mut_val *msg = yyjson_mut_obj(md);
    yyjson_mut_doc_set_root(md, msg);
    if (!window_open) {
        /* Outside the 24-hour window only an approved template may go. The
         * template (docs/whatsapp.md "Sending") has {{1}} name, {{2}}
         * number, {{3}} total, and two URL buttons whose URLs end in {{1}}. */
        if (!rat_tok[0]) {
            set_err(err, errlen, "the rating link is gone: the invoice template's second button needs it");
            goto out;
        }
        yyjson_mut_obj_add_str(md, msg, "type", "template");
        yyjson_mut_val *tp = yyjson_mut_obj_add_obj(md, msg, "template");
        yyjson_mut_obj_add_strcpy(md, tp, "name", conf->template_name ? conf->template_name : "");
        yyjson_mut_val *lang = yyjson_mut_obj_add_obj(md, tp, "language");
        yyjson_mut_obj_add_strcpy(md, lang, "code", conf->template_lang ? conf->template_lang : "id");
        yyjson_mut_val *comps = yyjson_mut_obj_add_arr(md, tp, "components");
        yyjson_mut_val *body = yyjson_mut_arr_add_obj(md, comps);
        yyjson_mut_obj_add_str(md, body, "type", "body");
        yyjson_mut_val *ps = yyjson_mut_obj_add_arr(md, body, "parameters");
        wa_param_text(&t, cname, clen, WA_PARAM_NAME_MAX, "Pelanggan");
        yyjson_mut_arr_append(ps, text_param(md, cs(&t)));
        buf_reset(&t);
        wa_param_text(&t, yyjson_get_str(number), yyjson_get_len(number), 60, "-");
        yyjson_mut_arr_append(ps, text_param(md, cs(&t)));
        yyjson_mut_arr_append(ps, text_param(md, amount));
        add_url_button(md, comps, "0", inv_tok);
        add_url_button(md, comps, "1", rat_tok);
    } else {
        /* Inside the window: free-form, one link button (cta_url); the
         * rating link goes in the text (a cta_url has one button only). */
        wa_param_text(&t, cname, clen, WA_TEXT_NAME_MAX, "Pelanggan");
        struct buf b = {0};
        buf_printf(&b, "Halo %s,\n\nTagihan ", cs(&t));
        buf_reset(&t);
        wa_param_text(&t, yyjson_get_str(number), yyjson_get_len(number), 60, "-");
        buf_printf(&b, "%s sebesar %s sudah terbit.", cs(&t), amount);
        if (balance && yyjson_get_sint(balance) > 0) {
            money_format_idr(yyjson_get_sint(balance), rest, sizeof(rest));
            buf_printf(&b, " Sisa yang belum dibayar: %s.", rest);
        }
        if (date[0])
            buf_printf(&b, " Jatuh tempo: %s.", date);
        buf_puts(&b, "\nRincian dan cara pembayaran ada di tombol Lihat Tagihan.");
        if (rating)
            buf_printf(&b, "\n\nMohon beri penilaian untuk layanan kami: %s/r/%s", conf->public_url, rat_tok);
        buf_puts(&b, "\n\nTerima kasih.");
        yyjson_mut_obj_add_str(md, msg, "type", "interactive");
        yyjson_mut_val *ia = yyjson_mut_obj_add_obj(md, msg, "interactive");
        yyjson_mut_obj_add_str(md, ia, "type", "cta_url");
        yyjson_mut_val *body = yyjson_mut_obj_add_obj(md, ia, "body");
        yyjson_mut_obj_add_strncpy(md, body, "text", b.data, b.len);
        mbedtls_platform_zeroize(b.data, b.len);
        buf_free(&b);
        yyjson_mut_val *act = yyjson_mut_obj_add_obj(md, ia, "action");
        yyjson_mut_obj_add_str(md, act, "name", "cta_url");
        yyjson_mut_val *par = yyjson_mut_obj_add_obj(md, act, "parameters");
        yyjson_mut_obj_add_str(md, par, "display_text", "Lihat Tagihan");
        buf_reset(&t);
        buf_printf(&t, "%s/i/%s", conf->public_url, inv_tok);
        yyjson_mut_obj_add_strcpy(md, par, "url", cs(&t));
        mbedtls_platform_zeroize(t.data, t.len);
    }
    out = yyjson_mut_write(md, 0, NULL);
    if (!out)
        set_err(err, errlen, "the message cannot be written as JSON");
out:
    mbedtls_platform_zeroize(inv_tok, sizeof(inv_tok));
    mbedtls_platform_zeroize(rat_tok, sizeof(rat_tok));
    yyjson_mut_doc_free(md); /* its copies of the tokens are freed unwiped: they leave in the request anyway */
    yyjson_doc_free(doc);
    buf_free(&t);
    return out;
}
