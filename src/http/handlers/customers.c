/*
 * Customers: the registry CS picks from when opening a ticket. Rows come
 * from CS (source "manual", here) or from WhatsApp (source "wa", made by
 * the webhook when an unknown number writes in).
 *
 * Phone numbers are stored in one canonical form, "62" and 7 to 13 digits
 * (the schema's CHECK), so that the same person typed as "0812-3456-7890",
 * "+62 812 3456 7890" or arriving from WhatsApp as "6281234567890" is one
 * row: the UNIQUE index on phone then catches duplicates. A search query
 * that looks like a phone number is normalised the same way, so a CS agent
 * can type the number as the customer says it.
 *
 * A customer as JSON is {"id","name","phone","address","source",
 * "created_at","updated_at"} (customer_json). Every change writes its audit
 * entry in the same statement.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "auth/session.h"
#include "core/jw.h"
#include "core/log.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "store/pg.h"

#define CUSTOMER_COLS                                                                                                  \
    "c.id, c.name, c.phone, c.address, c.source,"                                                                      \
    " to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"                                     \
    " to_char(c.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

#define CUSTOMER_NAME_MAX    200 /* characters; the schema's CHECK */
#define CUSTOMER_ADDRESS_MAX 500 /* characters */
#define CUSTOMER_Q_MAX       200 /* characters of a search query */
#define CUSTOMER_LIMIT_MAX   200 /* rows of a search */
#define CUSTOMER_PHONE_BUF   24  /* canonical phone plus NUL, with room to spare */

static void customer_json(struct buf *b, PGresult *r, int row)
{
    jw_obj(b);
    jw_key_int(b, "id", strtoll(PQgetvalue(r, row, 0), NULL, 10));
    jw_key_str(b, "name", PQgetvalue(r, row, 1));
    jw_key_str(b, "phone", PQgetvalue(r, row, 2));
    jw_key_str(b, "address", PQgetvalue(r, row, 3));
    jw_key_str(b, "source", PQgetvalue(r, row, 4));
    jw_key_str(b, "created_at", PQgetvalue(r, row, 5));
    jw_key_str(b, "updated_at", PQgetvalue(r, row, 6));
    jw_end_obj(b);
}

static void answer_pg_error(struct http_req *req, enum pg_err err, const char *state, const char *msg)
{
    if (pg_http_status(err, state) == 503) {
        h_pg_error(req, "customers", err, state, msg);
        return;
    }
    /* Validation mirrors the schema, so this is a gap between the two
     * (or text PostgreSQL refuses, such as invalid UTF-8 in a query). */
    if (state && (!strcmp(state, "23514") || !strncmp(state, "22", 2))) {
        http_error(req, 422, "validation_failed", "a value is out of range or not valid text");
        return;
    }
    h_pg_error(req, "customers", err, state, msg);
}

/* ---- phone numbers ------------------------------------------------------ */

/* The canonical form of a phone number ("62" and 7 to 13 digits, as the
 * schema's CHECK wants) into out; false if s is not one. */
static bool phone_normalize(const char *s, size_t n, char out[CUSTOMER_PHONE_BUF])
{
    int len = h_phone_digits(s, n, out, CUSTOMER_PHONE_BUF);
    return len >= 9 && len <= 15 && out[0] == '6' && out[1] == '2';
}

/* ---- text fields -------------------------------------------------------- */

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* An owned copy of s without its leading and trailing white space, or NULL
 * when the rest is empty, has more than max characters (code points; yyjson
 * has checked the UTF-8) or holds a control character (tab, CR and LF are
 * allowed when multiline, for addresses). */
static char *clean_text(const char *s, size_t n, size_t max, bool multiline, bool allow_empty, bool *bad)
{
    while (n > 0 && is_space(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_space(s[n - 1]))
        n--;
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if ((ch < 0x20 && !(multiline && is_space((char)ch))) || ch == 0x7f)
            goto invalid;
        if ((ch & 0xc0) != 0x80)
            chars++;
    }
    if (chars > max || (chars == 0 && !allow_empty))
        goto invalid;
    return xstrndup(s, n);
invalid:
    *bad = true;
    return NULL;
}

/* ---- the body of a create or change ------------------------------------- */

/* The validated fields; every string is an owned copy. NULL / empty phone:
 * not given. */
struct customer_input {
    char *name;
    char *address;
    char  phone[CUSTOMER_PHONE_BUF];
};

static void input_free(struct customer_input *in)
{
    free(in->name);
    free(in->address);
    in->name = in->address = NULL;
}

/* Reads and checks the body. creating: name and phone are required. On
 * failure answers (422, or what http_json_body answered) and returns false. */
static bool read_input(struct http_req *req, bool creating, struct customer_input *in)
{
    memset(in, 0, sizeof(*in));
    yyjson_doc *doc = http_json_body(req);
    if (!doc)
        return false;
    yyjson_val *root = yyjson_doc_get_root(doc);
    const char *why = NULL;
    bool        bad = false;

    yyjson_val *v = yyjson_obj_get(root, "name");
    if (v || creating) {
        if (yyjson_is_str(v))
            in->name = clean_text(yyjson_get_str(v), yyjson_get_len(v), CUSTOMER_NAME_MAX, false, false, &bad);
        if (!in->name) {
            why = "name: 1 to 200 characters, not blank, no control characters";
            goto invalid;
        }
    }
    v = yyjson_obj_get(root, "phone");
    if (v || creating) {
        if (!yyjson_is_str(v) || !phone_normalize(yyjson_get_str(v), yyjson_get_len(v), in->phone)) {
            in->phone[0] = '\0';
            why = "phone: a mobile or landline number such as 0812-3456-7890 or +62 812 3456 7890"
                  " (62 and 7 to 13 digits once spaces, dashes, dots and parentheses are removed)";
            goto invalid;
        }
    }
    v = yyjson_obj_get(root, "address");
    if (v) {
        if (yyjson_is_null(v))
            in->address = xstrdup(""); /* null clears it, as an empty string does */
        else if (yyjson_is_str(v))
            in->address = clean_text(yyjson_get_str(v), yyjson_get_len(v), CUSTOMER_ADDRESS_MAX, true, true, &bad);
        if (!in->address) {
            why = "address: at most 500 characters, no control characters other than line breaks";
            goto invalid;
        }
    }
    yyjson_doc_free(doc);
    if (!creating && !in->name && !in->phone[0] && !in->address) {
        http_error(req, 422, "validation_failed", "nothing to change: give name, phone or address");
        return false;
    }
    return true;

invalid:
    yyjson_doc_free(doc);
    input_free(in);
    http_error(req, 422, "validation_failed", why);
    return false;
}

/* ---- a phone number that is already someone's ---------------------------- */

static void on_taken_lookup(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    (void)state;
    (void)msg;
    /* Whatever the lookup says, the answer is 409; the id is a courtesy
     * that lets the caller open the existing customer. */
    struct buf b = {0};
    jw_obj(&b);
    jw_key(&b, "error");
    jw_obj(&b);
    jw_key_str(&b, "code", "phone_taken");
    if (err == PG_OK && PQntuples(res) == 1) {
        int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        char    m[96];
        snprintf(m, sizeof(m), "phone: already registered to customer %lld", (long long)id);
        jw_key_str(&b, "message", m);
        jw_key_int(&b, "existing_id", id);
    } else {
        jw_key_str(&b, "message", "phone: already registered to another customer");
    }
    jw_end_obj(&b);
    jw_end_obj(&b);
    http_respond_json(req, 409, b.data, b.len);
    buf_free(&b);
}

/* After a unique violation on phone: find its holder, then answer 409. */
static void answer_taken(struct http_req *req, const char *phone)
{
    const char *params[1] = {phone};
    if (pg_query(req->svc->pg, "SELECT id FROM customers WHERE phone = $1", 1, params, on_taken_lookup, req) < 0)
        on_taken_lookup(req, NULL, PG_ERR_DOWN, NULL, NULL);
}

/* ---- create and change -------------------------------------------------- */

/* One create or change in flight. Owns itself; freed by its callback. */
struct customer_ctx {
    struct http_req *req;
    int              status;                    /* 201 for a create, 200 for a change */
    char             phone[CUSTOMER_PHONE_BUF]; /* the phone sent, for a 409's lookup */
};

static void on_written(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct customer_ctx *cx = ud;
    struct http_req     *req = cx->req;
    if (err != PG_OK) {
        if (err == PG_ERR_SQL && state && !strcmp(state, "23505"))
            answer_taken(req, cx->phone);
        else
            answer_pg_error(req, err, state, msg);
    } else if (PQntuples(res) != 1) {
        http_error(req, 404, "not_found", "no such customer");
    } else {
        struct buf b = {0};
        customer_json(&b, res, 0);
        http_respond_json(req, cx->status, b.data, b.len);
        buf_free(&b);
    }
    free(cx);
}

void h_customers_create(struct http_req *req)
{
    struct customer_input in;
    if (!read_input(req, true, &in))
        return;
    char actor[24];
    snprintf(actor, sizeof(actor), "%lld", (long long)req->session->user_id);
    const char       *params[4] = {in.name, in.phone, in.address ? in.address : "", actor};
    static const char sql[] =
        "WITH c AS (INSERT INTO customers (name, phone, address, source)"
        "           VALUES ($1, $2, $3, 'manual') RETURNING *),"
        " a AS (INSERT INTO audit_log (actor_id, entity, entity_id, action, data)"
        "       SELECT $4, 'customer', c.id, 'create',"
        "              jsonb_build_object('name', c.name, 'phone', c.phone, 'source', c.source) FROM c)"
        " SELECT " CUSTOMER_COLS " FROM c";
    struct customer_ctx *cx = xcalloc(1, sizeof(*cx));
    cx->req = req;
    cx->status = 201;
    memcpy(cx->phone, in.phone, sizeof(cx->phone));
    int rc = pg_query(req->svc->pg, sql, 4, params, on_written, cx);
    input_free(&in);
    if (rc < 0) {
        free(cx);
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}

void h_customers_update(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such customer");
        return;
    }
    struct customer_input in;
    if (!read_input(req, false, &in))
        return;
    char idb[24], actor[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    snprintf(actor, sizeof(actor), "%lld", (long long)req->session->user_id);
    /* The audit entry names the fields sent (fixed words, no user text). */
    char        fields[64];
    const char *sep = "";
    size_t      fl = (size_t)snprintf(fields, sizeof(fields), "{\"fields\":[");
    if (in.name) {
        fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl, "%s\"name\"", sep);
        sep = ",";
    }
    if (in.phone[0]) {
        fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl, "%s\"phone\"", sep);
        sep = ",";
    }
    if (in.address)
        fl += (size_t)snprintf(fields + fl, sizeof(fields) - fl, "%s\"address\"", sep);
    snprintf(fields + fl, sizeof(fields) - fl, "]}");

    const char          *params[6] = {idb, in.name, in.phone[0] ? in.phone : NULL, in.address, actor, fields};
    static const char    sql[] = "WITH c AS (UPDATE customers SET name = coalesce($2, name),"
                                 "                                phone = coalesce($3, phone),"
                                 "                                address = coalesce($4, address),"
                                 "                                updated_at = now()"
                                 "           WHERE id = $1 RETURNING *),"
                                 " a AS (INSERT INTO audit_log (actor_id, entity, entity_id, action, data)"
                                 "       SELECT $5, 'customer', c.id, 'update', $6::jsonb FROM c)"
                                 " SELECT " CUSTOMER_COLS " FROM c";
    struct customer_ctx *cx = xcalloc(1, sizeof(*cx));
    cx->req = req;
    cx->status = 200;
    memcpy(cx->phone, in.phone, sizeof(cx->phone));
    int rc = pg_query(req->svc->pg, sql, 6, params, on_written, cx);
    input_free(&in);
    if (rc < 0) {
        free(cx);
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
    }
}

/* ---- list and get ------------------------------------------------------- */

static void on_listed(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        if (err == PG_ERR_SQL && state && !strncmp(state, "22", 2))
            http_error(req, 422, "validation_failed", "q: not valid text");
        else
            answer_pg_error(req, err, state, msg);
        return;
    }
    struct buf b = {0};
    jw_obj(&b);
    jw_key(&b, "customers");
    jw_arr(&b);
    for (int i = 0; i < PQntuples(res); i++)
        customer_json(&b, res, i);
    jw_end_arr(&b);
    jw_end_obj(&b);
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
}

void h_customers_list(struct http_req *req)
{
    char        q[CUSTOMER_Q_MAX * 4 + 1], limit[H_LIMIT_BUF];
    const char *qt;
    if (!h_search_query(req, q, sizeof(q), CUSTOMER_Q_MAX, &qt) || !h_query_limit(req, 50, CUSTOMER_LIMIT_MAX, limit))
        return;
    char  digits[CUSTOMER_PHONE_BUF];
    bool  by_phone = qt[0] && h_phone_digits(qt, strlen(qt), digits, sizeof(digits)) > 0;
    char *pattern = qt[0] ? h_like_escape(qt) : NULL;
    /* The name matches case-insensitively anywhere; a query that reads as
     * (part of) a phone number also matches the canonical phone anywhere. */
    const char       *params[3] = {pattern, by_phone ? digits : NULL, limit};
    static const char sql[] = "SELECT " CUSTOMER_COLS " FROM customers c"
                              " WHERE $1::text IS NULL"
                              "    OR c.name ILIKE '%' || $1 || '%' ESCAPE '\\'"
                              "    OR ($2::text IS NOT NULL AND strpos(c.phone, $2) > 0)"
                              " ORDER BY lower(c.name), c.id LIMIT $3::int";
    int               rc = pg_query(req->svc->pg, sql, 3, params, on_listed, req);
    free(pattern);
    if (rc < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}

static void on_got(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
        return;
    }
    if (PQntuples(res) != 1) {
        http_error(req, 404, "not_found", "no such customer");
        return;
    }
    struct buf b = {0};
    customer_json(&b, res, 0);
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
}

void h_customers_get(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such customer");
        return;
    }
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    const char *params[1] = {idb};
    if (pg_query(req->svc->pg, "SELECT " CUSTOMER_COLS " FROM customers c WHERE c.id = $1", 1, params, on_got, req) < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}
