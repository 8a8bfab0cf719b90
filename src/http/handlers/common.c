/*
 * common: what several handlers answer the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/roles.h"
#include "auth/session.h"
#include "core/buf.h"
#include "core/log.h"
#include "domain/states.h"
#include "http/handlers/handlers.h"

void h_pg_error(struct http_req *req, const char *who, enum pg_err err, const char *state, const char *msg)
{
    /* One rule for every handler (store/pg.c: pg_http_status): a store that
     * is down, a connection lost mid-statement, a timeout or a serialization
     * failure is the service being unavailable (503, try again), never a
     * 500. */
    int status = pg_http_status(err, state);
    if (status == 503) {
        if (state && state[0] && err == PG_ERR_SQL)
            log_warn(who, "query not completed: %s %s", state, msg ? msg : "");
        http_add_header(req, "Retry-After", "1");
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
        return;
    }
    log_error(who, "query failed: %s %s", state ? state : "", msg ? msg : "");
    http_error(req, 500, "internal", "the request failed");
}

unsigned h_actor(const struct auth_session *s)
{
    switch (s ? s->role : 0) {
    case ROLE_ADMIN: return DOM_ACTOR_ADMIN;
    case ROLE_CS: return DOM_ACTOR_CS;
    case ROLE_TS: return DOM_ACTOR_TS;
    case ROLE_SALES: return DOM_ACTOR_SALES;
    default: return 0;
    }
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

bool h_search_query(struct http_req *req, char *q, size_t qlen, size_t max_chars, const char **out)
{
    char msg[48];
    snprintf(msg, sizeof(msg), "q: at most %zu characters", max_chars);
    /* http_query decodes %00 into the value and ends it with a NUL of its
     * own: q is filled with a non-NUL byte first, so that the last NUL is
     * that end and one before it a decoded %00 (strlen would stop there
     * and turn "?q=%00" into no query at all, answering everything). */
    memset(q, 0x01, qlen);
    if (!http_query(req, "q", q, qlen)) {
        /* longer than qlen bytes is more than max_chars characters, whatever they are */
        if (http_query_present(req, "q")) {
            http_error(req, 422, "validation_failed", msg);
            return false;
        }
        q[0] = '\0';
    }
    size_t qn = qlen - 1, qs = 0, chars = 0;
    while (qn > 0 && q[qn] != '\0')
        qn--;
    /* Trim: a search box often keeps a stray space. */
    while (qn > 0 && is_blank(q[qn - 1]))
        q[--qn] = '\0';
    while (qs < qn && is_blank(q[qs]))
        qs++;
    for (size_t i = qs; i < qn; i++) {
        unsigned char ch = (unsigned char)q[i];
        if (ch < 0x20 || ch == 0x7f) { /* NUL, tab or escape inside: no name or number holds one */
            http_error(req, 422, "validation_failed", "q: no control characters");
            return false;
        }
        if ((ch & 0xc0) != 0x80) /* a code point starts at every non-continuation byte */
            chars++;
    }
    if (chars > max_chars) {
        http_error(req, 422, "validation_failed", msg);
        return false;
    }
    *out = q + qs;
    return true;
}

bool h_query_limit(struct http_req *req, int def, int max, char out[H_LIMIT_BUF])
{
    snprintf(out, H_LIMIT_BUF, "%d", def);
    if (!http_query_present(req, "limit"))
        return true;
    char lim[8];
    bool ok = http_query(req, "limit", lim, sizeof(lim)) && lim[0] && strlen(lim) <= 3 &&
              strspn(lim, "0123456789") == strlen(lim);
    int l = ok ? atoi(lim) : 0;
    if (l < 1 || l > max) {
        char msg[64];
        snprintf(msg, sizeof(msg), "limit: a whole number from 1 to %d", max);
        http_error(req, 422, "validation_failed", msg);
        return false;
    }
    snprintf(out, H_LIMIT_BUF, "%d", l);
    return true;
}

char *h_like_escape(const char *q)
{
    struct buf b = {0};
    for (const char *p = q; *p; p++) {
        if (*p == '%' || *p == '_' || *p == '\\')
            buf_putc(&b, '\\');
        buf_putc(&b, *p);
    }
    buf_putc(&b, '\0');
    return buf_steal(&b);
}

int h_phone_digits(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    bool   plus = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == ' ' || ch == '-' || ch == '.' || ch == '(' || ch == ')')
            continue;
        if (ch == '+' && o == 0 && !plus) {
            plus = true;
            continue;
        }
        if (ch < '0' || ch > '9' || o + 3 > outlen) /* room for "62" and the NUL */
            return -1;
        if (o == 0 && ch == '0') {
            out[o++] = '6';
            out[o++] = '2';
        } else {
            out[o++] = ch;
        }
    }
    if (o == 0)
        return -1;
    out[o] = '\0';
    return (int)o;
}
