/*
 * The customer's API (docs/money.md, "Public API"): no login; the token in
 * the path is the credential, and every request pays into its address's
 * bucket first (http/ratelimit.h).
 *
 *   GET  /api/v1/public/invoices/{token}              the invoice page's data
 *   GET  /api/v1/public/invoices/{token}/invoice.pdf  its PDF (invoice_pdf.c)
 *   GET  /api/v1/public/qris.png                      GSS_PAY_QRIS_IMAGE
 *   GET  /api/v1/public/ratings/{token}               the rating page's data
 *   POST /api/v1/public/ratings/{token}               the rating, once
 *
 * A token is looked up by its SHA-256 (public_links.token_hash): the token
 * itself is never sent to PostgreSQL, never logged (the access log writes
 * [token], http/server.c), never stored. One that cannot be a token
 * (links_token_syntax) is 404 without a query. A token that matches
 * nothing costs its address 10 more (a guesser gets a few 404s, then 429s);
 * an expired one is 410 and costs nothing more: it was real.
 *
 * Nothing in these answers is a database id: technicians on the rating
 * page are numbered 1..n in slot order, and a rating names them by that
 * position. Messages are Indonesian: the customer reads them.
 *
 * One rating per ticket: `UPDATE public_links SET used_at = now() WHERE
 * id = $1 AND used_at IS NULL` decides between two posts at once (the
 * second waits for the first's row lock, then finds used_at set: 409), and
 * ratings.ticket_id is unique behind it. Once committed, the rating is
 * announced to the staff's screens (invoice.updated, action "rating").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <yyjson.h>

#include "auth/links.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/jw.h"
#include "core/log.h"
#include "http/handlers/handlers.h"
#include "http/handlers/invoice.h"
#include "http/handlers/invoice_pdf.h"
#include "http/ratelimit.h"
#include "http/services.h"
#include "store/pg.h"

#define PUB_MISS_COST   10 /* more, for a token that matches nothing */
#define PUB_MAX_TECHS   50 /* entries of a rating's techs */
#define PUB_COMMENT_MAX 1000

#define ISO INVOICE_ISO

/* ---- the common part ---------------------------------------------------------- */

/* The bucket key of the peer (the socket's address: a proxy in front would
 * need a trusted X-Forwarded-For, which gssd does not read). false when the
 * client is gone (its answer is dropped anyway). */
static bool peer_key(struct http_req *req, uint8_t key[RATELIMIT_KEY_LEN])
{
    char addr[64];
    return http_req_peer(req, addr, sizeof(addr)) && ratelimit_key_from_text(addr, key);
}

/* Every public request costs one token; an empty bucket is 429 with
 * Retry-After. true: go on. */
static bool admit(struct http_req *req)
{
    uint8_t key[RATELIMIT_KEY_LEN];
    if (!req->svc->public_rl || !peer_key(req, key))
        return true;
    int64_t wait = ratelimit_take(req->svc->public_rl, key, 1, uv_now(req->svc->loop));
    if (wait == 0)
        return true;
    char secs[24], msg[128];
    snprintf(secs, sizeof(secs), "%lld", (long long)wait);
    snprintf(msg, sizeof(msg), "Terlalu banyak permintaan. Coba lagi dalam %lld detik.", (long long)wait);
    http_add_header(req, "Retry-After", secs);
    http_error(req, 429, "rate_limited", msg);
    return false;
}

/* A token that matches nothing (or cannot be one): 404, and the address
 * pays PUB_MISS_COST more. */
static void miss(struct http_req *req)
{
    uint8_t key[RATELIMIT_KEY_LEN];
    if (req->svc->public_rl && peer_key(req, key))
        ratelimit_charge(req->svc->public_rl, key, PUB_MISS_COST, uv_now(req->svc->loop));
    http_error(req, 404, "link_not_found", "Link tidak ditemukan. Periksa kembali link yang Anda terima.");
}

static void expired(struct http_req *req)
{
    http_error(req, 410, "link_expired", "Link ini sudah kedaluwarsa. Hubungi kami untuk meminta link baru.");
}

static void unavailable(struct http_req *req)
{
    http_add_header(req, "Retry-After", "1");
    http_error(req, 503, "unavailable", "Layanan sedang tidak tersedia. Coba lagi sebentar lagi.");
}

/* What every answer about a token carries: nobody caches it, nobody gets
 * it as a Referer. */
static void private_headers(struct http_req *req)
{
    http_add_header(req, "Cache-Control", "no-store");
    http_add_header(req, "Referrer-Policy", "no-referrer");
    http_add_header(req, "X-Robots-Tag", "noindex");
}

/* The token of path parameter 0, checked: its hash as hex (the query's
 * parameter) into hash_hex. false after answering (429, or 404 for a
 * token that cannot be one, without a query). */
static bool token_param(struct http_req *req, char hash_hex[2 * LINKS_HASH_LEN + 1])
{
    if (!admit(req))
        return false;
    const struct http_str *t = &req->params[0];
    if (req->nparams < 1 || !links_token_syntax(t->p, t->n)) {
        miss(req);
        return false;
    }
    uint8_t h[LINKS_HASH_LEN];
    links_token_hash(t->p, t->n, h);
    crypto_hex(h, sizeof(h), hash_hex);
    return true;
}

static void on_pg_error(struct http_req *req, enum pg_err err, const char *state, const char *msg)
{
    if (pg_http_status(err, state) == 503) {
        unavailable(req);
        return;
    }
    log_error("public", "query failed: %s %s", state ? state : "", msg ? msg : "");
    http_error(req, 500, "internal", "Terjadi kesalahan. Coba lagi nanti.");
}

/* The start of every answer to a lookup by token: true when res holds the
 * link's row and the link is live (column 0: expired). Otherwise answered:
 * the failure, 404 for no such link (charged, see miss), 410 for an
 * expired one. */
static bool link_found(struct http_req *req, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    if (err != PG_OK)
        on_pg_error(req, err, state, msg);
    else if (PQntuples(res) == 0)
        miss(req);
    else if (PQgetvalue(res, 0, 0)[0] == 't')
        expired(req);
    else
        return true;
    return false;
}

/* A GET by token: the bucket, the token's shape, then sql ($1: its hash)
 * answered by cb. */
static void link_lookup(struct http_req *req, const char *sql, pg_cb cb)
{
    char hash[2 * LINKS_HASH_LEN + 1];
    if (!token_param(req, hash))
        return;
    const char *p[1] = {hash};
    if (!req->svc->pg || pg_query(req->svc->pg, sql, 1, p, cb, req) < 0)
        unavailable(req);
}

/* ---- GET /api/v1/public/invoices/{token} ---------------------------------------- */

enum {
    PI_EXPIRED, /* link_found's column 0 */
    PI_NUMBER,
    PI_TICKET_CODE,
    PI_STATUS,
    PI_CUST_NAME,
    PI_CUST_ADDRESS,
    PI_ISSUED,
    PI_DUE,
    PI_ITEMS,
    PI_SUBTOTAL,
    PI_DISCOUNT,
    PI_TAX_BP,
    PI_TAX,
    PI_TOTAL,
    PI_PAID,
    PI_NOTE,
    PI_INVOICE_ID, /* for the PDF route only; never written to an answer */
};

/* clang-format off */
static const char invoice_by_token_sql[] =
    "SELECT l.expires_at <= now(), i.number, t.code, i.status, c.name, coalesce(nullif(c.address, ''), t.address),"
    " " ISO("i.sent_at") ", " ISO("i.due_at") ","
    " (SELECT coalesce(json_agg(json_build_object('description', it.description, 'qty', it.qty,"
    "     'unit_price', it.unit_price, 'line_total', it.line_total) ORDER BY it.pos), '[]')"
    "   FROM invoice_items it WHERE it.invoice_id = i.id),"
    " i.subtotal, i.discount, i.tax_rate_bp, i.tax, i.total, i.paid_amount, i.note, i.id"
    " FROM public_links l JOIN invoices i ON i.id = l.invoice_id JOIN tickets t ON t.id = i.ticket_id"
    " JOIN customers c ON c.id = t.customer_id"
    " WHERE l.token_hash = decode($1::text, 'hex') AND l.kind = 'invoice'";
/* clang-format on */

static int64_t col_int(PGresult *r, int c)
{
    return strtoll(PQgetvalue(r, 0, c), NULL, 10);
}

static void key_str_or_null(struct buf *b, const char *k, PGresult *r, int c)
{
    jw_key(b, k);
    if (PQgetisnull(r, 0, c))
        jw_null(b);
    else
        jw_str(b, PQgetvalue(r, 0, c));
}

static void on_invoice(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (!link_found(req, res, err, state, msg))
        return;
    const struct gss_config *cfg = req->svc->cfg;
    struct buf               b = {0};
    jw_obj(&b);
    jw_key(&b, "company");
    jw_obj(&b);
    jw_key_str(&b, "name", cfg->company_name);
    jw_key_str(&b, "address", cfg->company_address);
    jw_key_str(&b, "phone", cfg->company_phone);
    jw_end_obj(&b);
    jw_key_str(&b, "number", PQgetvalue(res, 0, PI_NUMBER));
    jw_key_str(&b, "ticket_code", PQgetvalue(res, 0, PI_TICKET_CODE));
    jw_key_str(&b, "status", PQgetvalue(res, 0, PI_STATUS));
    jw_key(&b, "customer");
    jw_obj(&b);
    jw_key_str(&b, "name", PQgetvalue(res, 0, PI_CUST_NAME));
    jw_key_str(&b, "address", PQgetvalue(res, 0, PI_CUST_ADDRESS));
    jw_end_obj(&b);
    key_str_or_null(&b, "issued_at", res, PI_ISSUED);
    key_str_or_null(&b, "due_at", res, PI_DUE);
    jw_key(&b, "items");
    jw_raw(&b, PQgetvalue(res, 0, PI_ITEMS));
    int64_t total = col_int(res, PI_TOTAL), paid = col_int(res, PI_PAID);
    jw_key_int(&b, "subtotal", col_int(res, PI_SUBTOTAL));
    jw_key_int(&b, "discount", col_int(res, PI_DISCOUNT));
    jw_key_int(&b, "tax_rate_bp", col_int(res, PI_TAX_BP));
    jw_key_int(&b, "tax", col_int(res, PI_TAX));
    jw_key_int(&b, "total", total);
    jw_key_int(&b, "paid_amount", paid);
    jw_key_int(&b, "balance", total - paid);
    jw_key_str(&b, "note", PQgetvalue(res, 0, PI_NOTE));
    jw_key(&b, "payment");
    jw_obj(&b);
    jw_key_str(&b, "bank", cfg->pay_bank);
    jw_key_str(&b, "qris_url", req->svc->qris_png ? "/api/v1/public/qris.png" : NULL);
    jw_end_obj(&b);
    /* built here, not by PostgreSQL: the token never goes to the database */
    jw_key(&b, "pdf_url");
    buf_puts(&b, "\"/api/v1/public/invoices/");
    buf_append(&b, req->params[0].p, req->params[0].n); /* syntax-checked: base64url */
    buf_puts(&b, "/invoice.pdf\"");
    jw_end_obj(&b);
    private_headers(req);
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
}

void h_public_invoice(struct http_req *req)
{
    link_lookup(req, invoice_by_token_sql, on_invoice);
}

/* ---- GET /api/v1/public/invoices/{token}/invoice.pdf ----------------------------- */

static void on_invoice_for_pdf(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (!link_found(req, res, err, state, msg))
        return;
    private_headers(req);
    invoice_pdf_respond(req, col_int(res, PI_INVOICE_ID), true);
}

void h_public_invoice_pdf(struct http_req *req)
{
    link_lookup(req, invoice_by_token_sql, on_invoice_for_pdf);
}

/* ---- GET /api/v1/public/qris.png --------------------------------------------------- */

void h_public_qris(struct http_req *req)
{
    if (!admit(req))
        return;
    if (!req->svc->qris_png) {
        http_error(req, 404, "not_found", "Pembayaran QRIS tidak tersedia.");
        return;
    }
    /* the same image for everyone, until the next deploy */
    http_add_header(req, "Cache-Control", "public, max-age=300");
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_respond(req, 200, "image/png", req->svc->qris_png, req->svc->qris_len);
}

/* ---- GET /api/v1/public/ratings/{token} -------------------------------------------- */

/* The technicians who did the job (slots not released), numbered 1..n in
 * slot order: the GET lists them, the POST maps positions back with the
 * same order. */
#define RATING_TECHS_ORDER "ORDER BY a.slot, a.tech_id"

/* clang-format off */
static const char rating_by_token_sql[] =
    "SELECT l.expires_at <= now(),"
    " l.used_at IS NOT NULL OR EXISTS (SELECT 1 FROM ratings r WHERE r.ticket_id = l.ticket_id),"
    " t.code, " ISO("l.expires_at") ","
    " (SELECT coalesce(json_agg(json_build_object('id', x.pos, 'name', x.name) ORDER BY x.pos), '[]')"
    "   FROM (SELECT row_number() OVER (" RATING_TECHS_ORDER ") AS pos, u.name FROM assignments a"
    "         JOIN users u ON u.id = a.tech_id WHERE a.ticket_id = l.ticket_id AND a.released_at IS NULL) x)"
    " FROM public_links l JOIN tickets t ON t.id = l.ticket_id"
    " WHERE l.token_hash = decode($1::text, 'hex') AND l.kind = 'rating'";
/* clang-format on */

static void on_rating_get(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (!link_found(req, res, err, state, msg))
        return;
    struct buf b = {0};
    jw_obj(&b);
    jw_key_str(&b, "ticket_code", PQgetvalue(res, 0, 2));
    jw_key(&b, "company");
    jw_obj(&b);
    jw_key_str(&b, "name", req->svc->cfg->company_name);
    jw_end_obj(&b);
    jw_key(&b, "techs");
    jw_raw(&b, PQgetvalue(res, 0, 4));
    jw_key_bool(&b, "rated", PQgetvalue(res, 0, 1)[0] == 't');
    jw_key_str(&b, "expires_at", PQgetvalue(res, 0, 3));
    jw_end_obj(&b);
    private_headers(req);
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
}

void h_public_rating_get(struct http_req *req)
{
    link_lookup(req, rating_by_token_sql, on_rating_get);
}

/* ---- POST /api/v1/public/ratings/{token} ------------------------------------------- */

struct rate_tech {
    int64_t pos;
    int     score;
};

struct rate_ctx {
    struct pg_chain  ch;
    struct http_req *req;
    char             hash[2 * LINKS_HASH_LEN + 1];
    int              score;
    char            *comment; /* owned; "" when none */
    struct rate_tech techs[PUB_MAX_TECHS];
    int              ntechs;
    int              status; /* a refusal of our own */
    char             code[32], msg[200];
    /* the rated ticket's invoice, as the write read it, for the live event */
    char inv_id[24], ticket_id[24], number[40], inv_status[24];
};

static void rate_free(struct rate_ctx *rx)
{
    free(rx->comment);
    free(rx);
}

static int rate_refuse(struct rate_ctx *rx, int status, const char *code, const char *msg)
{
    rx->status = status;
    snprintf(rx->code, sizeof(rx->code), "%s", code);
    snprintf(rx->msg, sizeof(rx->msg), "%s", msg);
    return status;
}

/* The link (not locked: the UPDATE below decides) and the technicians'
 * ids in position order, as a PostgreSQL array text "{5,9}". */
static int s_find(struct pg_chain *ch, PGresult *prev)
{
    struct rate_ctx *rx = ch->ud;
    (void)prev;
    const char *p[1] = {rx->hash};
    /* clang-format off */
    return pg_chain_query(ch,
                          "SELECT l.id, l.expires_at <= now(),"
                          " l.used_at IS NOT NULL OR EXISTS (SELECT 1 FROM ratings r WHERE r.ticket_id = l.ticket_id),"
                          " (SELECT coalesce(array_agg(a.tech_id " RATING_TECHS_ORDER "), '{}') FROM assignments a"
                          "   WHERE a.ticket_id = l.ticket_id AND a.released_at IS NULL)"
                          " FROM public_links l WHERE l.token_hash = decode($1::text, 'hex') AND l.kind = 'rating'",
                          1, p);
    /* clang-format on */
}

/* Parses "{5,9}" into at most max ids; the count, or -1. */
static int parse_ids(const char *s, int64_t *out, int max)
{
    int n = 0;
    if (*s++ != '{')
        return -1;
    while (*s && *s != '}') {
        char   *end;
        int64_t v = strtoll(s, &end, 10);
        if (end == s || v <= 0 || n >= max)
            return -1;
        out[n++] = v;
        s = *end == ',' ? end + 1 : end;
    }
    return *s == '}' ? n : -1;
}

static int s_write(struct pg_chain *ch, PGresult *prev)
{
    struct rate_ctx *rx = ch->ud;
    if (PQntuples(prev) == 0)
        return rate_refuse(rx, 404, "link_not_found", "");
    if (PQgetvalue(prev, 0, 1)[0] == 't')
        return rate_refuse(rx, 410, "link_expired", "");
    if (PQgetvalue(prev, 0, 2)[0] == 't')
        return rate_refuse(rx, 409, "already_rated", "Penilaian untuk pekerjaan ini sudah dikirim. Terima kasih.");
    /* Nothing kept for a customer who is gone (a reset): sent again, the
     * rating is taken, instead of being told it was sent already. */
    if (http_req_gone(rx->req))
        return rate_refuse(rx, 499, "client_gone", "");
    int64_t ids[64];
    int     n = parse_ids(PQgetvalue(prev, 0, 3), ids, 64);
    if (n < 0) {
        log_error("public", "rating: unreadable technician list");
        return rate_refuse(rx, 500, "internal", "Terjadi kesalahan. Coba lagi nanti.");
    }
    /* positions to user ids; arrays as PostgreSQL array text */
    struct buf tech_ids = {0}, scores = {0};
    buf_puts(&tech_ids, "{");
    buf_puts(&scores, "{");
    for (int i = 0; i < rx->ntechs; i++) {
        if (rx->techs[i].pos > n) {
            buf_free(&tech_ids);
            buf_free(&scores);
            char msg[120];
            snprintf(msg, sizeof(msg), "techs[%d].id: tidak ada teknisi nomor %lld", i, (long long)rx->techs[i].pos);
            return rate_refuse(rx, 422, "validation_failed", msg);
        }
        buf_printf(&tech_ids, "%s%lld", i ? "," : "", (long long)ids[rx->techs[i].pos - 1]);
        buf_printf(&scores, "%s%d", i ? "," : "", rx->techs[i].score);
    }
    buf_puts(&tech_ids, "}");
    buf_puts(&scores, "}");
    char score[8];
    snprintf(score, sizeof(score), "%d", rx->score);
    const char *p[5] = {PQgetvalue(prev, 0, 0), score, rx->comment, tech_ids.data, scores.data};
    /* $1 link, $2 score, $3 comment, $4 tech ids, $5 their scores. No row
     * from u: another post took the link first (it waited for that one's
     * lock, then saw used_at). */
    /* clang-format off */
    int rc = pg_chain_query(ch,
        "WITH u AS ("
        "  UPDATE public_links SET used_at = now() WHERE id = $1::bigint AND used_at IS NULL"
        "  RETURNING id, ticket_id, invoice_id),"
        " r AS ("
        "  INSERT INTO ratings (ticket_id, link_id, score, comment)"
        "  SELECT u.ticket_id, u.id, $2::smallint, $3::text FROM u RETURNING id, ticket_id),"
        " x AS (SELECT * FROM unnest($4::bigint[], $5::smallint[]) AS x(tech_id, score)),"
        " rt AS (INSERT INTO rating_techs (rating_id, tech_id, score) SELECT r.id, x.tech_id, x.score FROM r, x),"
        " a AS ("
        "  INSERT INTO audit_log (actor_id, entity, entity_id, action, data)"
        "  SELECT NULL, 'ticket', r.ticket_id, 'rating.create',"
        "         jsonb_build_object('invoice_id', u.invoice_id, 'score', $2::int, 'comment', $3::text,"
        "           'techs', (SELECT coalesce(jsonb_agg(jsonb_build_object('tech_id', x.tech_id, 'score', x.score)), '[]')"
        "                     FROM x))"
        "  FROM r, u)"
        "SELECT (SELECT count(*) FROM r), iv.id, iv.ticket_id, iv.number, iv.status"
        " FROM (SELECT 1) one LEFT JOIN (u JOIN invoices iv ON iv.id = u.invoice_id) ON true",
        5, p);
    /* clang-format on */
    buf_free(&tech_ids);
    buf_free(&scores);
    return rc;
}

static int s_check(struct pg_chain *ch, PGresult *prev)
{
    struct rate_ctx *rx = ch->ud;
    if (PQntuples(prev) != 1 || atoi(PQgetvalue(prev, 0, 0)) != 1)
        return rate_refuse(rx, 409, "already_rated", "Penilaian untuk pekerjaan ini sudah dikirim. Terima kasih.");
    if (!PQgetisnull(prev, 0, 1)) {
        snprintf(rx->inv_id, sizeof(rx->inv_id), "%s", PQgetvalue(prev, 0, 1));
        snprintf(rx->ticket_id, sizeof(rx->ticket_id), "%s", PQgetvalue(prev, 0, 2));
        snprintf(rx->number, sizeof(rx->number), "%s", PQgetvalue(prev, 0, 3));
        snprintf(rx->inv_status, sizeof(rx->inv_status), "%s", PQgetvalue(prev, 0, 4));
    }
    return 0;
}

static const pg_step rate_steps[] = {s_find, s_write, s_check, NULL};

static void rate_done(struct pg_chain *ch, int stop, enum pg_err err, const char *sqlstate, const char *msg)
{
    struct rate_ctx *rx = ch->ud;
    struct http_req *req = rx->req;
    if (err == PG_ERR_SQL && sqlstate && strcmp(sqlstate, "23505") == 0) {
        /* ratings.ticket_id: a rating got in by another way */
        http_error(req, 409, "already_rated", "Penilaian untuk pekerjaan ini sudah dikirim. Terima kasih.");
    } else if (err != PG_OK) {
        on_pg_error(req, err, sqlstate, msg);
    } else if (stop) {
        if (rx->status == 404)
            miss(req);
        else if (rx->status == 410)
            expired(req);
        else
            http_error(req, rx->status ? rx->status : 500, rx->code[0] ? rx->code : "internal",
                       rx->msg[0] ? rx->msg : "Terjadi kesalahan. Coba lagi nanti.");
    } else {
        log_info("public", "rating %d received", rx->score);
        /* committed: the invoice page shows the rating (links.rated, rating) */
        if (rx->inv_id[0])
            invoice_publish(req, rx->inv_id, rx->ticket_id, rx->number, rx->inv_status, "rating");
        private_headers(req);
        http_respond_json(req, 201, "{\"rated\":true}", 14);
    }
    rate_free(rx);
}

/* The body's checks that need no database: 422 with the field's path
 * first. NULL when fine. */
static const char *validate(yyjson_val *root, struct rate_ctx *rx, char *msg, size_t len)
{
    if (!yyjson_is_obj(root))
        return "isi permintaan harus objek JSON";
    yyjson_val *score = yyjson_obj_get(root, "score");
    if (!yyjson_is_int(score) || yyjson_get_sint(score) < 1 || yyjson_get_sint(score) > 5)
        return "score: nilai 1 sampai 5 wajib diisi";
    rx->score = (int)yyjson_get_sint(score);
    yyjson_val *comment = yyjson_obj_get(root, "comment");
    if (comment && !yyjson_is_null(comment)) {
        if (!yyjson_is_str(comment))
            return "comment: harus teks";
        const char *s = yyjson_get_str(comment);
        size_t      n = yyjson_get_len(comment);
        if (memchr(s, '\0', n))
            return "comment: karakter NUL tidak diperbolehkan";
        if (invoice_text_chars(s, n) > PUB_COMMENT_MAX)
            return "comment: paling banyak 1000 karakter";
        rx->comment = xstrndup(s, n);
    }
    yyjson_val *techs = yyjson_obj_get(root, "techs");
    if (techs && !yyjson_is_null(techs)) {
        if (!yyjson_is_arr(techs))
            return "techs: harus daftar";
        if (yyjson_arr_size(techs) > PUB_MAX_TECHS)
            return "techs: terlalu banyak";
        size_t      idx, max;
        yyjson_val *t;
        yyjson_arr_foreach(techs, idx, max, t)
        {
            yyjson_val *id = yyjson_obj_get(t, "id"), *sc = yyjson_obj_get(t, "score");
            if (!yyjson_is_obj(t) || !yyjson_is_int(id) || yyjson_get_sint(id) < 1) {
                snprintf(msg, len, "techs[%zu].id: nomor teknisi wajib diisi", idx);
                return msg;
            }
            if (!yyjson_is_int(sc) || yyjson_get_sint(sc) < 1 || yyjson_get_sint(sc) > 5) {
                snprintf(msg, len, "techs[%zu].score: nilai 1 sampai 5 wajib diisi", idx);
                return msg;
            }
            for (int j = 0; j < rx->ntechs; j++)
                if (rx->techs[j].pos == yyjson_get_sint(id)) {
                    snprintf(msg, len, "techs[%zu].id: teknisi nomor %lld sudah dinilai", idx,
                             (long long)yyjson_get_sint(id));
                    return msg;
                }
            rx->techs[rx->ntechs].pos = yyjson_get_sint(id);
            rx->techs[rx->ntechs].score = (int)yyjson_get_sint(sc);
            rx->ntechs++;
        }
    }
    return NULL;
}

void h_public_rating_post(struct http_req *req)
{
    struct rate_ctx *rx = xcalloc(1, sizeof(*rx));
    rx->req = req;
    if (!token_param(req, rx->hash)) {
        rate_free(rx);
        return;
    }
    yyjson_doc *doc = http_json_body(req);
    if (!doc) {
        rate_free(rx);
        return;
    }
    char        msg[160];
    const char *bad = validate(yyjson_doc_get_root(doc), rx, msg, sizeof(msg));
    yyjson_doc_free(doc);
    if (bad) {
        http_error(req, 422, "validation_failed", bad);
        rate_free(rx);
        return;
    }
    if (!rx->comment)
        rx->comment = xstrdup("");
    if (!req->svc->pg || pg_chain_start(&rx->ch, req->svc->pg, 0, rate_steps, rate_done, rx) < 0) {
        rate_free(rx);
        unavailable(req);
    }
}
