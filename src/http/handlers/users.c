/*
 * Accounts (admin only): list, read, create, change.
 *
 * A user as JSON is {"id","username","name","role","phone","active",
 * "telegram_linked","created_at"}, built by PostgreSQL (USER_JSON) so every
 * answer has the same shape; the password hash never leaves the database.
 * Passwords are hashed on the argon2 worker pool (password_hash_async) before the
 * statement is sent. Every change writes its audit entry in the same
 * statement. Deactivating, changing the role or resetting the password ends
 * all of the user's sessions in every process (auth_kill_user) before the
 * answer, so a 200 means the old sessions are gone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "auth/auth.h"
#include "core/log.h"
#include "core/password.h"
#include "core/workers.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "store/pg.h"

#define USER_OBJ                                                                                                       \
    "json_build_object('id', u.id, 'username', u.username, 'name', u.name, 'role', u.role, 'phone', u.phone,"          \
    " 'active', u.active, 'telegram_linked', u.telegram_chat_id IS NOT NULL,"                                          \
    " 'created_at', to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
#define USER_JSON USER_OBJ "::text"

static void answer_pg_error(struct http_req *req, enum pg_err err, const char *state, const char *msg)
{
    if (pg_http_status(err, state) == 503) {
        h_pg_error(req, "users", err, state, msg);
        return;
    }
    if (state && !strcmp(state, "23505")) {
        http_error(req, 409, "username_taken", "username: already taken");
        return;
    }
    if (state && (!strcmp(state, "23514") || !strncmp(state, "22", 2))) {
        http_error(req, 422, "validation_failed", "a value is out of range");
        return;
    }
    h_pg_error(req, "users", err, state, msg);
}

/* The body held a password: do not leave it in freed memory. */
static void wipe_body(struct http_req *req)
{
    if (req->body.data)
        explicit_bzero(req->body.data, req->body.len);
}

/* ---- validation --------------------------------------------------------- */

/* The fields of a create or change, validated. Strings point into the
 * request's JSON document (doc, owned) except pw, which is copied. */
struct user_input {
    yyjson_doc *doc;
    const char *username;
    const char *name;
    const char *role;
    bool        has_phone;
    const char *phone;  /* NULL: none / clear */
    int         active; /* -1 absent, else 0/1 */
    char       *pw;     /* owned copy; wiped */
    size_t      pwlen;
};

static void input_free(struct user_input *in)
{
    if (in->pw) {
        explicit_bzero(in->pw, in->pwlen);
        free(in->pw);
        in->pw = NULL;
    }
    if (in->doc)
        yyjson_doc_free(in->doc);
    in->doc = NULL;
}

/* 1..100 characters (code points; yyjson has checked the UTF-8), no control
 * characters, not only spaces. */
static bool is_name(const char *s, size_t n)
{
    size_t chars = 0;
    bool   visible = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7f)
            return false;
        if ((ch & 0xc0) != 0x80)
            chars++;
        if (ch != ' ')
            visible = true;
    }
    return chars >= 1 && chars <= 100 && visible;
}

static bool is_phone(const char *s, size_t n)
{
    if (n < 9 || n > 15 || s[0] != '6' || s[1] != '2')
        return false;
    for (size_t i = 2; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* A string member without NUL bytes, or NULL (*bad set if present but not one). */
static const char *str_member(yyjson_val *root, const char *key, bool *present, bool *bad)
{
    yyjson_val *v = yyjson_obj_get(root, key);
    *present = v != NULL;
    if (!v)
        return NULL;
    if (!yyjson_is_str(v) || strlen(yyjson_get_str(v)) != yyjson_get_len(v)) {
        *bad = true;
        return NULL;
    }
    return yyjson_get_str(v);
}

/* Reads and checks the body. creating: username, name, role and password are
 * required and active is not accepted. On failure answers 422 (or whatever
 * http_json_body answered) and returns false. */
static bool read_input(struct http_req *req, bool creating, struct user_input *in)
{
    memset(in, 0, sizeof(*in));
    in->active = -1;
    in->doc = http_json_body(req);
    if (!in->doc)
        return false;
    yyjson_val *root = yyjson_doc_get_root(in->doc);
    const char *field = NULL, *why = NULL;
    bool        present, bad = false;

    in->username = str_member(root, "username", &present, &bad);
    if (creating && (bad || !in->username || !auth_username_valid(in->username, strlen(in->username)))) {
        field = "username";
        why = "3 to 32 characters of a-z, 0-9, _ . -";
        goto invalid;
    }
    if (!creating && present) {
        field = "username";
        why = "cannot be changed";
        goto invalid;
    }
    in->name = str_member(root, "name", &present, &bad);
    if ((present || creating) && (bad || !in->name || !is_name(in->name, strlen(in->name)))) {
        field = "name";
        why = "1 to 100 characters, no control characters";
        goto invalid;
    }
    in->role = str_member(root, "role", &present, &bad);
    if ((present || creating) && (bad || !in->role || !auth_role_parse(in->role))) {
        field = "role";
        why = "one of admin, cs, ts, sales";
        goto invalid;
    }
    yyjson_val *ph = yyjson_obj_get(root, "phone");
    if (ph) {
        in->has_phone = true;
        if (yyjson_is_null(ph) || (yyjson_is_str(ph) && yyjson_get_len(ph) == 0)) {
            in->phone = NULL; /* none, or clear it */
        } else if (yyjson_is_str(ph) && is_phone(yyjson_get_str(ph), yyjson_get_len(ph)) &&
                   strlen(yyjson_get_str(ph)) == yyjson_get_len(ph)) {
            in->phone = yyjson_get_str(ph);
        } else {
            field = "phone";
            why = "62 followed by 7 to 13 digits";
            goto invalid;
        }
    }
    yyjson_val *ac = yyjson_obj_get(root, "active");
    if (ac) {
        if (creating || !yyjson_is_bool(ac)) {
            field = "active";
            why = creating ? "new accounts are always active" : "true or false";
            goto invalid;
        }
        in->active = yyjson_get_bool(ac) ? 1 : 0;
    }
    yyjson_val *pw = yyjson_obj_get(root, "password");
    if (pw || creating) {
        if (!yyjson_is_str(pw) || password_policy_check(yyjson_get_str(pw), yyjson_get_len(pw)) < 0) {
            field = "password";
            why = "8 to 128 bytes";
            goto invalid;
        }
        in->pwlen = yyjson_get_len(pw);
        in->pw = xmalloc(in->pwlen + 1);
        memcpy(in->pw, yyjson_get_str(pw), in->pwlen);
        in->pw[in->pwlen] = '\0';
        explicit_bzero((char *)yyjson_get_str(pw), in->pwlen);
    }
    wipe_body(req);
    if (!creating && !in->name && !in->role && !in->has_phone && in->active < 0 && !in->pw) {
        http_error(req, 422, "validation_failed", "nothing to change: give name, phone, role, active or password");
        input_free(in);
        return false;
    }
    return true;

invalid:;
    char msg[160];
    snprintf(msg, sizeof(msg), "%s: %s", field, why);
    wipe_body(req);
    input_free(in);
    http_error(req, 422, "validation_failed", msg);
    return false;
}

/* ---- list and get ------------------------------------------------------- */

static void on_listed(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
        return;
    }
    struct buf b = {0};
    buf_puts(&b, "{\"users\":");
    buf_puts(&b, PQgetvalue(res, 0, 0));
    buf_putc(&b, '}');
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
}

void h_users_list(struct http_req *req)
{
    char        role[16], active[8];
    const char *params[2] = {NULL, NULL};
    if (http_query(req, "role", role, sizeof(role)) && role[0]) {
        if (!auth_role_parse(role)) {
            http_error(req, 422, "validation_failed", "role: one of admin, cs, ts, sales");
            return;
        }
        params[0] = role;
    }
    if (http_query(req, "active", active, sizeof(active)) && active[0]) {
        if (strcmp(active, "true") && strcmp(active, "false")) {
            http_error(req, 422, "validation_failed", "active: true or false");
            return;
        }
        params[1] = active;
    }
    if (pg_query(req->svc->pg,
                 "SELECT coalesce(json_agg(" USER_OBJ " ORDER BY u.id), '[]')::text FROM users u"
                 " WHERE ($1::text IS NULL OR u.role = $1) AND ($2::boolean IS NULL OR u.active = $2)",
                 2, params, on_listed, req) < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}

static void on_one(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
        return;
    }
    if (PQntuples(res) != 1) {
        http_error(req, 404, "not_found", "no such user");
        return;
    }
    const char *json = PQgetvalue(res, 0, 0);
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, json, strlen(json));
}

void h_users_get(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such user");
        return;
    }
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    const char *params[1] = {idb};
    if (pg_query(req->svc->pg, "SELECT " USER_JSON " FROM users u WHERE u.id = $1", 1, params, on_one, req) < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}

/* ---- create and change -------------------------------------------------- */

struct user_ctx {
    struct http_req  *req;
    struct user_input in;
    int64_t           id;   /* the user changed (0 when creating) */
    bool              kill; /* end the user's sessions after the change */
    char              hash[PASSWORD_ENCODED_MAX];
    char             *answer; /* owned: the user JSON to answer with */
};

static void ctx_free(struct user_ctx *cx)
{
    input_free(&cx->in);
    explicit_bzero(cx->hash, sizeof(cx->hash));
    free(cx->answer);
    free(cx);
}

static void on_created(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct user_ctx *cx = ud;
    struct http_req *req = cx->req;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
    } else {
        const char *json = PQgetvalue(res, 0, 0);
        log_info("users", "user %s created by %lld", cx->in.username, (long long)req->session->user_id);
        http_respond_json(req, 201, json, strlen(json));
    }
    ctx_free(cx);
}

static void send_create(struct user_ctx *cx)
{
    struct http_req *req = cx->req;
    char             actor[24];
    snprintf(actor, sizeof(actor), "%lld", (long long)req->session->user_id);
    const char       *params[6] = {cx->in.username, cx->in.name, cx->in.role, cx->in.phone, cx->hash, actor};
    static const char sql[] =
        "WITH u AS (INSERT INTO users (username, name, role, phone, password_hash)"
        "           VALUES ($1, $2, $3, $4, $5) RETURNING *),"
        " a AS (INSERT INTO audit_log (actor_id, entity, entity_id, action, data)"
        "       SELECT $6, 'user', u.id, 'create', jsonb_build_object('username', u.username, 'role', u.role)"
        "       FROM u)"
        " SELECT " USER_JSON " FROM u";
    if (pg_query(req->svc->pg, sql, 6, params, on_created, cx) < 0) {
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
        ctx_free(cx);
    }
}

static void send_update(struct user_ctx *cx);

static void on_hashed(void *ud, int status, const char *encoded)
{
    struct user_ctx *cx = ud;
    if (status < 0) {
        http_error(cx->req, status == UV_ECANCELED ? 503 : 500, status == UV_ECANCELED ? "unavailable" : "internal",
                   "the password could not be hashed");
        ctx_free(cx);
        return;
    }
    snprintf(cx->hash, sizeof(cx->hash), "%s", encoded);
    /* The plain password is no longer needed. */
    explicit_bzero(cx->in.pw, cx->in.pwlen);
    if (cx->id)
        send_update(cx);
    else
        send_create(cx);
}

static bool start_hash(struct user_ctx *cx)
{
    int rc = password_hash_async(cx->req->svc->argon2, cx->in.pw, cx->in.pwlen, NULL, on_hashed, cx);
    if (rc < 0) {
        if (rc == WORKERS_EFULL || rc == UV_ECANCELED) {
            http_add_header(cx->req, "Retry-After", "1");
            http_error(cx->req, 503, "unavailable", "the server is busy; try again");
        } else {
            http_error(cx->req, 500, "internal", "the password could not be hashed");
        }
        ctx_free(cx);
        return false;
    }
    return true;
}

void h_users_create(struct http_req *req)
{
    struct user_ctx *cx = xcalloc(1, sizeof(*cx));
    cx->req = req;
    if (!read_input(req, true, &cx->in)) {
        ctx_free(cx);
        return;
    }
    start_hash(cx);
}

static void on_killed(void *ud, int status)
{
    struct user_ctx *cx = ud;
    if (status < 0)
        http_error(cx->req, 503, "unavailable",
                   "the change was saved but the user's sessions could not be ended; send it again");
    else
        http_respond_json(cx->req, 200, cx->answer, strlen(cx->answer));
    ctx_free(cx);
}

static void on_updated(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct user_ctx *cx = ud;
    struct http_req *req = cx->req;
    if (err != PG_OK) {
        answer_pg_error(req, err, state, msg);
        ctx_free(cx);
        return;
    }
    if (PQntuples(res) != 1) {
        http_error(req, 404, "not_found", "no such user");
        ctx_free(cx);
        return;
    }
    cx->answer = xstrdup(PQgetvalue(res, 0, 0));
    log_info("users", "user %lld changed by %lld", (long long)cx->id, (long long)req->session->user_id);
    if (!cx->kill) {
        on_killed(cx, 0);
        return;
    }
    if (auth_kill_user(req->svc->auth, cx->id, on_killed, cx) < 0)
        on_killed(cx, -1);
}

static void send_update(struct user_ctx *cx)
{
    struct http_req         *req = cx->req;
    const struct user_input *in = &cx->in;
    char                     idb[24], actor[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)cx->id);
    snprintf(actor, sizeof(actor), "%lld", (long long)req->session->user_id);
    /* What changed, for the audit log: field names and the new role/active,
     * never a password or its hash. */
    struct buf audit = {0};
    buf_puts(&audit, "{\"fields\":[");
    const char *sep = "";
    if (in->name) {
        buf_printf(&audit, "%s\"name\"", sep);
        sep = ",";
    }
    if (in->has_phone) {
        buf_printf(&audit, "%s\"phone\"", sep);
        sep = ",";
    }
    if (in->role) {
        buf_printf(&audit, "%s\"role\"", sep);
        sep = ",";
    }
    if (in->active >= 0) {
        buf_printf(&audit, "%s\"active\"", sep);
        sep = ",";
    }
    if (in->pw)
        buf_printf(&audit, "%s\"password\"", sep);
    buf_puts(&audit, "]");
    if (in->role)
        buf_printf(&audit, ",\"role\":\"%s\"", in->role); /* validated: a plain word */
    if (in->active >= 0)
        buf_printf(&audit, ",\"active\":%s", in->active ? "true" : "false");
    buf_putc(&audit, '}');

    const char *params[9] = {
        idb,
        in->name,
        in->has_phone ? "true" : "false",
        in->phone,
        in->role,
        in->active < 0 ? NULL
        : in->active   ? "true"
                       : "false",
        in->pw ? cx->hash : NULL,
        actor,
        audit.data,
    };
    static const char sql[] = "WITH u AS (UPDATE users SET name = coalesce($2, name),"
                              "                            phone = CASE WHEN $3::boolean THEN $4 ELSE phone END,"
                              "                            role = coalesce($5, role),"
                              "                            active = coalesce($6::boolean, active),"
                              "                            password_hash = coalesce($7, password_hash),"
                              "                            updated_at = now()"
                              "           WHERE id = $1 RETURNING *),"
                              " a AS (INSERT INTO audit_log (actor_id, entity, entity_id, action, data)"
                              "       SELECT $8, 'user', u.id, 'update', $9::jsonb FROM u)"
                              " SELECT " USER_JSON " FROM u";
    int               rc = pg_query(req->svc->pg, sql, 9, params, on_updated, cx);
    buf_free(&audit);
    if (rc < 0) {
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
        ctx_free(cx);
    }
}

void h_users_update(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such user");
        return;
    }
    struct user_ctx *cx = xcalloc(1, sizeof(*cx));
    cx->req = req;
    cx->id = id;
    if (!read_input(req, false, &cx->in)) {
        ctx_free(cx);
        return;
    }
    const struct user_input *in = &cx->in;
    /* An admin who locks themselves out leaves nobody to undo it. */
    if (id == req->session->user_id && (in->active == 0 || (in->role && strcmp(in->role, "admin") != 0))) {
        http_error(req, 409, "cannot_change_self", "you cannot deactivate yourself or give up your admin role");
        ctx_free(cx);
        return;
    }
    /* A new role, a deactivation or a new password: the sessions made under
     * the old ones must not outlive the change. (Setting the same role again
     * also ends them; harmless, and it keeps a retried request effective.) */
    cx->kill = in->role || in->active == 0 || in->pw;
    if (in->pw)
        start_hash(cx);
    else
        send_update(cx);
}
