/*
 * hooks_whatsapp: the WhatsApp Cloud API webhook (issue 10, item 5;
 * docs/whatsapp.md, INTEGRATIONS.md §2).
 *
 *   GET  /hooks/whatsapp  Meta's subscription handshake: hub.mode=subscribe
 *                         and hub.verify_token equal to GSS_WA_VERIFY_TOKEN
 *                         → 200 with hub.challenge as the text/plain body;
 *                         anything else → 403; no verify token configured
 *                         → 503 (the channel is off).
 *   POST /hooks/whatsapp  a signed delivery: messages, contacts, statuses.
 *
 * The signature. X-Hub-Signature-256 is "sha256=" and the hex HMAC-SHA256,
 * keyed with the app secret, of the body bytes exactly as they came: the
 * route buffers the raw body (ROUTE_BODY_JSON keeps the bytes, nothing is
 * parsed before the handler), and the HMAC is taken over req->body before
 * any parsing, so Meta's \uXXXX escapes and "\/" are signed as sent. The
 * digests are compared in constant time. A wrong, missing or malformed
 * signature is 401 and nothing is touched; no app secret configured means
 * the channel is off: 503.
 *
 * Processing happens before the answer, in one statement (wa_ingest in
 * db/migrations/0009_whatsapp.sql, so one transaction): the handler flattens
 * the delivery into a small JSON document of the fields it needs, the
 * database stores each message once by its wamid, makes or finds the
 * customer, moves statuses forward only, and only then is Meta answered
 * 200. That is one round trip of a few milliseconds, well inside Meta's
 * patience, and a delivery that could not be stored gets 5xx, so Meta
 * sends it again instead of it being lost after a 200.
 *
 * Everything the flattening copies is cleaned on the way: NUL bytes are
 * dropped (PostgreSQL text and jsonb cannot hold them), names are trimmed
 * and capped to the customers table's 200 characters, a phone is kept only
 * in the canonical 62... form the customers table allows.
 *
 * The CS inbox's live events (docs/inbox.md "Live", store/inbox_events.h):
 * the statement is gss_inbox_ingest (db/migrations/0015_inbox.sql), which
 * runs wa_ingest and also names the customers of the messages stored new
 * by this delivery and of the statuses it carried. Once its answer is in,
 * the delivery has committed (one statement, autocommit), and each of them
 * gets one inbox.message ("in") or inbox.status. A redelivered message
 * names nobody, so it sends no event.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yyjson.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/jw.h"
#include "core/log.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "integrations/wa_media.h"
#include "store/inbox_events.h"
#include "store/pg.h"

#define WA_SIG_PREFIX    "sha256="
#define WA_CHALLENGE_MAX 256 /* bytes of hub.challenge echoed back (Meta's is a number) */
#define WA_TOKEN_MAX     256 /* bytes of hub.verify_token read */
#define WA_NAME_MAX      200 /* characters: customers.name's CHECK */
#define WA_ID_MAX        256 /* bytes of a wamid: wa_messages.wa_id's CHECK */
#define WA_USER_ID_MAX   128 /* bytes of a BSUID: customers.wa_user_id's CHECK */
#define WA_PHONE_BUF     24

/* ---- the handshake ------------------------------------------------------ */

void h_hooks_whatsapp_verify(struct http_req *req)
{
    const char *want = req->svc->cfg->wa_verify_token;
    size_t      wlen = want ? strlen(want) : 0;
    if (wlen == 0) {
        /* as for deliveries: no token, no channel (a handshake cannot succeed) */
        http_error(req, 503, "whatsapp_off", "WhatsApp is not configured (GSS_WA_VERIFY_TOKEN is empty)");
        return;
    }
    char mode[16], token[WA_TOKEN_MAX + 1], challenge[WA_CHALLENGE_MAX + 1];
    bool ok = http_query(req, "hub.mode", mode, sizeof(mode)) && !strcmp(mode, "subscribe") &&
              http_query(req, "hub.verify_token", token, sizeof(token)) && strlen(token) == wlen &&
              crypto_eq(token, want, wlen) && http_query(req, "hub.challenge", challenge, sizeof(challenge)) &&
              challenge[0];
    if (!ok) {
        http_error(req, 403, "bad_verify_token", "the verify token does not match");
        return;
    }
    http_add_header(req, "Cache-Control", "no-store");
    http_respond(req, 200, "text/plain; charset=utf-8", challenge, strlen(challenge));
}

/* ---- the signature ------------------------------------------------------ */

/* Whether the header is "sha256=<64 hex>" and the HMAC of the raw body. */
static bool signature_ok(const struct http_req *req, const char *secret)
{
    size_t       n;
    const char  *h = http_header(req, "X-Hub-Signature-256", &n);
    const size_t pl = sizeof(WA_SIG_PREFIX) - 1;
    if (!h || n != pl + 2 * CRYPTO_SHA256_LEN || memcmp(h, WA_SIG_PREFIX, pl) != 0)
        return false;
    uint8_t got[CRYPTO_SHA256_LEN], want[CRYPTO_SHA256_LEN];
    if (crypto_unhex(h + pl, 2 * CRYPTO_SHA256_LEN, got) != CRYPTO_SHA256_LEN)
        return false;
    crypto_hmac_sha256(secret, strlen(secret), req->body.data ? req->body.data : "", req->body.len, want);
    return crypto_eq(got, want, CRYPTO_SHA256_LEN);
}

/* ---- flattening --------------------------------------------------------- */

/* s without its NUL bytes, as a JSON string under key (null for NULL). */
static void put_clean(struct buf *b, const char *key, const char *s, size_t n)
{
    jw_key(b, key);
    if (!s) {
        jw_null(b);
        return;
    }
    if (!memchr(s, '\0', n)) {
        jw_strn(b, s, n);
        return;
    }
    char  *t = xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i])
            t[o++] = s[i];
    jw_strn(b, t, o);
    free(t);
}

static void put_val(struct buf *b, const char *key, yyjson_val *v)
{
    if (yyjson_is_str(v))
        put_clean(b, key, yyjson_get_str(v), yyjson_get_len(v));
    else
        put_clean(b, key, NULL, 0);
}

/* A string value of 1..max bytes, else NULL. */
static yyjson_val *str_in(yyjson_val *v, size_t max)
{
    return yyjson_is_str(v) && yyjson_get_len(v) > 0 && yyjson_get_len(v) <= max ? v : NULL;
}

/* The object's subtree as JSON for the raw column. yyjson writes a NUL
 * character as \u0000, which jsonb refuses: those escapes become U+FFFD. */
static void put_raw(struct buf *b, yyjson_val *v)
{
    jw_key(b, "raw");
    size_t len = 0;
    char  *s = yyjson_val_write(v, 0, &len);
    if (!s) {
        jw_raw(b, "{}");
        return;
    }
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 5 < len && !memcmp(s + i + 2, "0000", 4))
            memcpy(s + i + 2, "fffd", 4);
        i++; /* the escaped character is not an escape itself */
    }
    jw_raw(b, s);
    free(s);
}

/* Meta's wa_id / from / recipient_id as the customers table stores a
 * phone: 62 and 7 to 13 digits. Other countries' numbers are not kept as a
 * phone (the customer is then known by the BSUID only). */
static bool canonical_phone(yyjson_val *v, char out[WA_PHONE_BUF])
{
    if (!yyjson_is_str(v))
        return false;
    const char *s = yyjson_get_str(v);
    size_t      n = yyjson_get_len(v);
    if (n < 9 || n > 15 || s[0] != '6' || s[1] != '2')
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    memcpy(out, s, n);
    out[n] = '\0';
    return true;
}

/* Unix seconds from Meta's timestamp (a string of digits; a number is
 * taken too); now when it is missing or not one. */
static int64_t unix_ts(yyjson_val *v)
{
    if (yyjson_is_uint(v))
        return (int64_t)(yyjson_get_uint(v) > 4102444800u ? 4102444800u : yyjson_get_uint(v));
    if (yyjson_is_str(v) && yyjson_get_len(v) >= 1 && yyjson_get_len(v) <= 10) {
        const char *s = yyjson_get_str(v);
        int64_t     t = 0;
        for (size_t i = 0; i < yyjson_get_len(v); i++) {
            if (s[i] < '0' || s[i] > '9')
                return (int64_t)time(NULL);
            t = t * 10 + (s[i] - '0');
        }
        return t;
    }
    return (int64_t)time(NULL);
}

/* The profile name, trimmed, without control characters, at most
 * WA_NAME_MAX characters; else a stand-in made of what we know. */
static void put_name(struct buf *b, yyjson_val *contact, const char *phone)
{
    yyjson_val *v = yyjson_obj_get(yyjson_obj_get(contact, "profile"), "name");
    struct buf  t = {0};
    if (yyjson_is_str(v)) {
        const unsigned char *s = (const unsigned char *)yyjson_get_str(v);
        size_t               n = yyjson_get_len(v), chars = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = s[i];
            if (ch < 0x20 || ch == 0x7f)
                ch = ' ';
            if ((ch & 0xc0) != 0x80 && ++chars > WA_NAME_MAX)
                break;
            buf_putc(&t, (char)ch);
        }
        while (t.len && t.data[t.len - 1] == ' ')
            t.len--;
        size_t lead = 0;
        while (lead < t.len && t.data[lead] == ' ')
            lead++;
        if (lead < t.len) {
            jw_key(b, "name");
            jw_strn(b, t.data + lead, t.len - lead);
            buf_free(&t);
            return;
        }
    }
    buf_free(&t);
    char fallback[64];
    snprintf(fallback, sizeof(fallback), phone ? "WhatsApp +%s" : "Pelanggan WhatsApp", phone ? phone : "");
    jw_key_str(b, "name", fallback);
}

/* The contact of a message: the one with its wa_id or BSUID, else the only
 * one there is. */
static yyjson_val *contact_of(yyjson_val *contacts, yyjson_val *from, yyjson_val *uid)
{
    size_t      i, max;
    yyjson_val *c;
    yyjson_arr_foreach(contacts, i, max, c)
    {
        if ((from && yyjson_equals(yyjson_obj_get(c, "wa_id"), from)) ||
            (uid && yyjson_equals(yyjson_obj_get(c, "user_id"), uid)))
            return c;
    }
    return yyjson_arr_size(contacts) == 1 ? yyjson_arr_get_first(contacts) : NULL;
}

/* One flattened message and the key wa_ingest finds its customer by. */
struct wa_flat_msg {
    char       key[WA_USER_ID_MAX + 1]; /* the BSUID, else the canonical phone, else "" */
    size_t     key_len;
    size_t     seq; /* its place in the delivery: keeps one sender's order */
    struct buf json;
};

/* One message into the flattened document, and its sender key into *fm;
 * false if it has no usable id. */
static bool put_message(struct buf *b, struct wa_flat_msg *fm, yyjson_val *msg, yyjson_val *contacts)
{
    yyjson_val *id = str_in(yyjson_obj_get(msg, "id"), WA_ID_MAX);
    if (!id)
        return false;
    yyjson_val *from = str_in(yyjson_obj_get(msg, "from"), 32);
    yyjson_val *contact = contact_of(contacts, from, str_in(yyjson_obj_get(msg, "from_user_id"), WA_USER_ID_MAX));
    yyjson_val *uid = str_in(yyjson_obj_get(msg, "from_user_id"), WA_USER_ID_MAX);
    if (!uid)
        uid = str_in(yyjson_obj_get(contact, "user_id"), WA_USER_ID_MAX);
    if (!from)
        from = str_in(yyjson_obj_get(contact, "wa_id"), 32);
    char phone[WA_PHONE_BUF];
    bool has_phone = canonical_phone(from, phone);
    /* The key wa_ingest looks the customer up by first: the BSUID, then the
     * phone (a foreign number without one makes no customer: no key). */
    const char *k = uid ? yyjson_get_str(uid) : has_phone ? phone : "";
    fm->key_len = uid ? yyjson_get_len(uid) : strlen(k);
    memcpy(fm->key, k, fm->key_len);
    fm->key[fm->key_len] = '\0';

    /* The type as a plain word, whatever Meta sends. */
    yyjson_val *tv = yyjson_obj_get(msg, "type");
    char        type[33] = "unknown";
    if (yyjson_is_str(tv) && yyjson_get_len(tv) >= 1 && yyjson_get_len(tv) < sizeof(type)) {
        const char *s = yyjson_get_str(tv);
        bool        word = true;
        for (size_t i = 0; i < yyjson_get_len(tv); i++)
            word = word && ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_');
        if (word)
            snprintf(type, sizeof(type), "%s", s);
    }

    yyjson_val *body = NULL, *media_id = NULL, *mime = NULL, *reply = NULL;
    if (!strcmp(type, "text")) {
        body = yyjson_obj_get(yyjson_obj_get(msg, "text"), "body");
    } else if (!strcmp(type, "image")) {
        yyjson_val *img = yyjson_obj_get(msg, "image");
        media_id = yyjson_obj_get(img, "id");
        mime = yyjson_obj_get(img, "mime_type");
        body = yyjson_obj_get(img, "caption");
    } else if (!strcmp(type, "interactive")) {
        yyjson_val *in = yyjson_obj_get(msg, "interactive");
        yyjson_val *r = yyjson_obj_get(in, "button_reply");
        if (!r)
            r = yyjson_obj_get(in, "list_reply");
        reply = yyjson_obj_get(r, "id");
        body = yyjson_obj_get(r, "title");
    } else if (!strcmp(type, "button")) {
        /* a quick-reply button of a template */
        yyjson_val *bt = yyjson_obj_get(msg, "button");
        reply = yyjson_obj_get(bt, "payload");
        body = yyjson_obj_get(bt, "text");
    }

    jw_obj(b);
    put_val(b, "id", id);
    put_val(b, "from", from);
    jw_key_str(b, "phone", has_phone ? phone : NULL);
    put_val(b, "user_id", uid);
    put_name(b, contact, has_phone ? phone : NULL);
    jw_key_str(b, "type", type);
    put_val(b, "body", body);
    put_val(b, "media_id", media_id);
    put_val(b, "media_mime", mime);
    put_val(b, "reply_id", reply);
    put_val(b, "context_id", yyjson_obj_get(yyjson_obj_get(msg, "context"), "id"));
    jw_key_int(b, "ts", unix_ts(yyjson_obj_get(msg, "timestamp")));
    put_raw(b, msg);
    jw_end_obj(b);
    return true;
}

static bool put_status(struct buf *b, yyjson_val *st)
{
    yyjson_val *id = str_in(yyjson_obj_get(st, "id"), WA_ID_MAX);
    const char *s = yyjson_get_str(yyjson_obj_get(st, "status"));
    if (!id || !s || (strcmp(s, "sent") && strcmp(s, "delivered") && strcmp(s, "read") && strcmp(s, "failed")))
        return false;
    char phone[WA_PHONE_BUF];
    bool has_phone = canonical_phone(yyjson_obj_get(st, "recipient_id"), phone);
    jw_obj(b);
    put_val(b, "id", id);
    jw_key_str(b, "status", s);
    jw_key_int(b, "ts", unix_ts(yyjson_obj_get(st, "timestamp")));
    jw_key_str(b, "phone", has_phone ? phone : NULL);
    put_val(b, "user_id", str_in(yyjson_obj_get(st, "recipient_user_id"), WA_USER_ID_MAX));
    /* "131047 Re-engagement message": what last_error shows CS */
    yyjson_val *e = yyjson_arr_get_first(yyjson_obj_get(st, "errors"));
    if (e) {
        struct buf  t = {0};
        yyjson_val *code = yyjson_obj_get(e, "code");
        yyjson_val *title = yyjson_obj_get(e, "title");
        if (!yyjson_is_str(title))
            title = yyjson_obj_get(e, "message");
        if (yyjson_is_int(code))
            buf_printf(&t, "%lld", (long long)yyjson_get_sint(code));
        if (yyjson_is_str(title) && yyjson_get_len(title) <= 500)
            buf_printf(&t, "%s%.*s", t.len ? " " : "", (int)yyjson_get_len(title), yyjson_get_str(title));
        put_clean(b, "error", t.len ? t.data : "unknown error", t.len ? t.len : 13);
        buf_free(&t);
    } else {
        jw_key_str(b, "error", NULL);
    }
    put_raw(b, st);
    jw_end_obj(b);
    return true;
}

/* By sender key, then by place in the delivery (qsort is not stable). */
static int flat_msg_cmp(const void *a, const void *b)
{
    const struct wa_flat_msg *x = a, *y = b;
    size_t                    n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int                       c = memcmp(x->key, y->key, n);
    if (c)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * Walks entry[].changes[] (field "messages") into {"messages":[...],
 * "statuses":[...]}; counts what it kept. A change for another phone number
 * of the same app (GSS_WA_PHONE_NUMBER_ID set and different) is skipped.
 *
 * The messages are written sorted by sender key (the BSUID, else the
 * phone), stably, so one sender's messages keep the order Meta gave them.
 * Why: wa_ingest walks the list in order and locks each message's customer
 * (the UPDATE of last_inbound_at, or the unique-key wait of an INSERT of a
 * new one) until the delivery commits. Two deliveries naming customers X
 * and Y in opposite orders, processed at once (two gssd, or two pool
 * connections), would each hold one and wait for the other: PostgreSQL
 * kills one with 40P01, it is answered 503 and Meta redelivers, late. In
 * one order for everyone, whoever takes the first common customer first
 * takes them all first, and the other just waits. (A customer reached by
 * its BSUID in one delivery and by its phone alone in another has two keys
 * and can still meet in another order; that needs one sender to change how
 * Meta names it between two deliveries at the same instant. Statuses lock
 * outbox rows, not customers, and are not reordered.)
 */
static void flatten(yyjson_val *root, const char *our_number, struct buf *out, int *nmsg, int *nst)
{
    struct buf          msgs = {0}, sts = {0};
    struct wa_flat_msg *fm = NULL;
    size_t              nfm = 0, capfm = 0;
    jw_arr(&sts);
    size_t      i, imax, j, jmax, k, kmax;
    yyjson_val *entry, *change, *item;
    yyjson_arr_foreach(yyjson_obj_get(root, "entry"), i, imax, entry)
    {
        yyjson_arr_foreach(yyjson_obj_get(entry, "changes"), j, jmax, change)
        {
            const char *field = yyjson_get_str(yyjson_obj_get(change, "field"));
            yyjson_val *value = yyjson_obj_get(change, "value");
            if (!field || strcmp(field, "messages") || !yyjson_is_obj(value))
                continue;
            const char *pnid = yyjson_get_str(yyjson_obj_get(yyjson_obj_get(value, "metadata"), "phone_number_id"));
            if (our_number && our_number[0] && pnid && strcmp(pnid, our_number)) {
                log_warn("whatsapp", "webhook change for phone number id %.40s skipped (ours is %.40s)", pnid,
                         our_number);
                continue;
            }
            yyjson_val *contacts = yyjson_obj_get(value, "contacts");
            yyjson_arr_foreach(yyjson_obj_get(value, "messages"), k, kmax, item)
            {
                if (nfm == capfm) {
                    capfm = capfm ? capfm * 2 : 8;
                    fm = xrealloc(fm, capfm * sizeof(*fm));
                }
                struct wa_flat_msg *m = &fm[nfm];
                memset(m, 0, sizeof(*m));
                m->seq = nfm;
                if (put_message(&m->json, m, item, contacts)) {
                    nfm++;
                    (*nmsg)++;
                } else {
                    buf_free(&m->json);
                    log_warn("whatsapp", "webhook message without a usable id skipped");
                }
            }
            yyjson_arr_foreach(yyjson_obj_get(value, "statuses"), k, kmax, item)
            {
                if (put_status(&sts, item))
                    (*nst)++;
            }
        }
    }
    if (nfm > 1)
        qsort(fm, nfm, sizeof(*fm), flat_msg_cmp);
    buf_putc(&msgs, '[');
    for (size_t n = 0; n < nfm; n++) {
        if (n)
            buf_putc(&msgs, ',');
        buf_append(&msgs, fm[n].json.data, fm[n].json.len);
        buf_free(&fm[n].json);
    }
    buf_putc(&msgs, ']');
    free(fm);
    jw_end_arr(&sts);
    buf_puts(out, "{\"messages\":");
    buf_append(out, msgs.data, msgs.len);
    buf_puts(out, ",\"statuses\":");
    buf_append(out, sts.data, sts.len);
    buf_puts(out, "}");
    buf_putc(out, '\0');
    buf_free(&msgs);
    buf_free(&sts);
}

/* ---- the delivery -------------------------------------------------------- */

/* One inbox event per customer id of the list under key of inbox
 * ({"in":[ids],"status":[ids]}: gss_inbox_ingest). */
static void publish_list(struct http_req *req, yyjson_val *ids, enum inbox_event_type type)
{
    size_t      i, max;
    yyjson_val *id;
    yyjson_arr_foreach(ids, i, max, id)
    {
        struct inbox_event ev = {.type = type, .customer_id = yyjson_get_sint(id), .direction = "in"};
        if (yyjson_is_int(id))
            inbox_events_publish(req->svc->redis, req->svc->cfg->redis_prefix, &ev);
    }
}

static void publish_inbox(struct http_req *req, const char *inbox)
{
    yyjson_doc *doc = yyjson_read(inbox, strlen(inbox), 0);
    yyjson_val *root = doc ? yyjson_doc_get_root(doc) : NULL;
    publish_list(req, yyjson_obj_get(root, "in"), INBOX_EV_MESSAGE);
    publish_list(req, yyjson_obj_get(root, "status"), INBOX_EV_STATUS);
    yyjson_doc_free(doc);
}

static void on_ingested(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        /* not stored: 5xx, so that Meta delivers it again */
        h_pg_error(req, "whatsapp", err, state, msg);
        return;
    }
    const char *counts = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "{}";
    if (PQntuples(res) == 1 && PQnfields(res) >= 2 && !PQgetisnull(res, 0, 1))
        publish_inbox(req, PQgetvalue(res, 0, 1));
    http_respond_json(req, 200, counts, strlen(counts));
}

/* The same, then the photo fetcher kicked: the delivery carried a media id
 * and has committed (Meta's download URL lives about five minutes; wa_media.h). */
static void on_ingested_media(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct wa_media *wm = ((struct http_req *)ud)->svc->wa_media; /* read before the answer ends the request */
    on_ingested(ud, res, err, state, msg);
    if (err == PG_OK)
        wa_media_kick(wm);
}

void h_hooks_whatsapp(struct http_req *req)
{
    const struct gss_config *cfg = req->svc->cfg;
    if (!cfg->wa_app_secret || !cfg->wa_app_secret[0]) {
        http_error(req, 503, "whatsapp_off", "WhatsApp is not configured (GSS_WA_APP_SECRET is empty)");
        return;
    }
    if (!signature_ok(req, cfg->wa_app_secret)) {
        http_error(req, 401, "bad_signature", "X-Hub-Signature-256 is missing or does not sign this body");
        return;
    }
    yyjson_read_err rerr;
    yyjson_doc     *doc = yyjson_read_opts(req->body.data ? req->body.data : "", req->body.len, 0, NULL, &rerr);
    if (!doc || !yyjson_is_obj(yyjson_doc_get_root(doc))) {
        yyjson_doc_free(doc);
        log_warn("whatsapp", "signed webhook body is not a JSON object");
        http_error(req, 400, "invalid_json", "the body is not a JSON object");
        return;
    }
    struct buf flat = {0};
    int        nmsg = 0, nst = 0;
    flatten(yyjson_doc_get_root(doc), cfg->wa_phone_number_id, &flat, &nmsg, &nst);
    yyjson_doc_free(doc);
    if (nmsg == 0 && nst == 0) {
        /* other fields (account updates, templates): nothing we keep yet */
        buf_free(&flat);
        http_respond_json(req, 200, "{}", 2);
        return;
    }
    const char *params[1] = {flat.data};
    /* a string media_id (put_message; a message without one writes null) */
    bool media = strstr(flat.data, "\"media_id\":\"") != NULL;
    int  rc = pg_query(req->svc->pg, "SELECT counts, inbox FROM gss_inbox_ingest($1::jsonb)", 1, params,
                      media ? on_ingested_media : on_ingested, req);
    buf_free(&flat);
    if (rc < 0) {
        http_add_header(req, "Retry-After", "1");
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}
