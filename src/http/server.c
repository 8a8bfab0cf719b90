/*
 * server.c: HTTP/1.1 connections on libuv + llhttp.
 *
 * Reading: every read lands in the connection's `in` buffer and is parsed
 * from there; the parser copies what it keeps (URL, headers, body) into the
 * request, and the parsed bytes are dropped from `in` at once. When a
 * request is complete the parser pauses, so a pipelined next request stays
 * in `in` until the current one is answered; then parsing resumes in the
 * same loop (never by recursion: a handler that answers synchronously just
 * lets conn_process go round again).
 *
 * Writing: an answer is first tried with uv_try_write, which for small
 * answers on an idle socket writes everything without allocating a write
 * request; the rest goes through uv_write with a heap copy owned by the
 * write until its callback.
 *
 * Closing: http_conn_close waits for queued writes, shuts down the sending
 * side, then drains and discards input for a short linger before uv_close,
 * so a client still sending a rejected body sees our 413 instead of a reset.
 * Memory is freed only in the close callback; a request still in a
 * handler's hands is detached (req->conn = NULL) and freed when answered.
 */
#include "http/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth/links.h"
#include "auth/session.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "http/conn.h"
#include "http/services.h"

#define TQ_LINGER      3
#define LINGER_MS      2000
#define OUT_HIGH_WATER (256 * 1024)
#define IN_HIGH_WATER  (64 * 1024)

const double http_latency_bounds[16] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

static llhttp_settings_t parser_settings;
static void              conn_process(struct http_conn *c);
static void              dispatch(struct http_conn *c);
static void              conn_finish_close(struct http_conn *c);
static void              conn_start_reading(struct http_conn *c);
static void              flush_log(struct http_server *srv);

/* ---- small helpers ------------------------------------------------------ */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *cached_date(struct http_server *srv)
{
    time_t t = time(NULL);
    if ((uint64_t)t != srv->date_sec) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(srv->date, sizeof(srv->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        srv->date_sec = (uint64_t)t;
    }
    return srv->date;
}

const char *http_status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 499: return "Client Closed Request"; /* never on the wire: the client is gone (nginx's code) */
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 507: return "Insufficient Storage";
    default: return "Unknown";
    }
}

/* ---- requests ----------------------------------------------------------- */

static struct http_req *req_new(struct http_conn *c)
{
    struct http_req *r = xcalloc(1, sizeof(*r));
    r->conn = c;
    r->svc = c->srv->svc;
    r->start_ns = now_ns();
    return r;
}

static void req_free(struct http_req *r)
{
    if (!r)
        return;
    buf_free(&r->url);
    buf_free(&r->hdrbuf);
    buf_free(&r->body);
    buf_free(&r->extra_headers);
    auth_session_release(r->session);
    free(r);
}

const char *http_header(const struct http_req *req, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (unsigned i = 0; i < req->nhdrs; i++) {
        const struct http_header *h = &req->hdrs[i];
        if (h->name_len == nl && strncasecmp(req->hdrbuf.data + h->name_off, name, nl) == 0) {
            if (len)
                *len = h->val_len;
            return req->hdrbuf.data + h->val_off;
        }
    }
    return NULL;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

bool http_query(const struct http_req *req, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (!req->query.p)
        return false;
    const char *p = req->query.p, *end = req->query.p + req->query.n;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - p) == nl && memcmp(p, name, nl) == 0) {
            size_t o = 0;
            for (const char *v = eq ? eq + 1 : stop; v < stop; v++) {
                char ch = *v;
                if (ch == '+') {
                    ch = ' ';
                } else if (ch == '%' && stop - v >= 3 && hexval(v[1]) >= 0 && hexval(v[2]) >= 0) {
                    ch = (char)(hexval(v[1]) * 16 + hexval(v[2]));
                    v += 2;
                }
                if (o + 1 >= outlen) {
                    if (outlen)
                        out[0] = '\0'; /* too long: no value rather than a cut one */
                    return false;
                }
                out[o++] = ch;
            }
            out[o] = '\0';
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

bool http_query_present(const struct http_req *req, const char *name)
{
    char   one[1];
    size_t nl = strlen(name);
    if (http_query(req, name, one, sizeof(one)))
        return true; /* present and empty */
    const char *p = req->query.p, *end = req->query.p + req->query.n;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - p) == nl && memcmp(p, name, nl) == 0)
            return true;
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

int64_t http_param_id(const struct http_req *req, unsigned i)
{
    if (i >= req->nparams || req->params[i].n == 0 || req->params[i].n > 18)
        return -1;
    int64_t v = 0;
    for (size_t k = 0; k < req->params[i].n; k++) {
        char ch = req->params[i].p[k];
        if (ch < '0' || ch > '9')
            return -1;
        v = v * 10 + (ch - '0');
    }
    return v > 0 ? v : -1;
}

int http_idempotency_key(const struct http_req *req, char out[72])
{
    size_t      n;
    const char *v = http_header(req, "Idempotency-Key", &n);
    out[0] = '\0';
    if (!v)
        return 0;
    if (n == 0 || n > 64)
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return -1;
    }
    memcpy(out, v, n);
    out[n] = '\0';
    return 1;
}

bool http_req_gone(const struct http_req *req)
{
    return req->conn == NULL;
}

bool http_req_is_upgrade(const struct http_req *req)
{
    return req->conn && req->conn->parser.upgrade;
}

void http_add_header(struct http_req *req, const char *name, const char *value)
{
    buf_printf(&req->extra_headers, "%s: %s\r\n", name, value);
}

/* ---- metrics and the request log --------------------------------------- */

/* Link tokens are credentials (docs/money.md): the access log never holds
 * one. The path is judged as the router and the static files see it,
 * percent-decoded (the static files serve /%69/{token} as the invoice
 * page), so no spelling of a path slips past, and written back in one
 * canonical form: printable ASCII as it is, any other byte (and '%', '"',
 * '\') as %XX. A segment that may hold a token is written [token]: the one
 * after /i/, /r/, /api/v1/public/invoices/ and /api/v1/public/ratings/,
 * whatever it holds, and any segment with a token's shape wherever it
 * stands. A path longer than LOG_PATH_MAX decoded bytes ends in [cut]. */
#define LOG_PATH_MAX 1024

static int log_hex(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static bool log_seg_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

static void log_path(struct buf *b, const char *p, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char              d[LOG_PATH_MAX];
    size_t            dn = 0, i = 0;
    while (i < n && dn < sizeof(d)) {
        int hi = i + 2 < n ? log_hex(p[i + 1]) : -1, lo = i + 2 < n ? log_hex(p[i + 2]) : -1;
        if (p[i] == '%' && hi >= 0 && lo >= 0) {
            d[dn++] = (char)(hi << 4 | lo);
            i += 3;
        } else {
            d[dn++] = p[i++];
        }
    }
    bool cut = i < n;
    if (cut)
        while (dn > 0 && d[dn - 1] != '/')
            dn--; /* a segment cut short could be most of a token: none of it */

    /* The segments: seg[k] is the k-th, counted from the text before the
     * first '/' (empty for an absolute path); the first six decide. */
    const char *seg[6] = {0};
    size_t      segn[6] = {0}, nseg = 0;
    for (size_t s = 0; s <= dn && nseg < 6;) {
        const char *slash = memchr(d + s, '/', dn - s);
        size_t      e = slash ? (size_t)(slash - d) : dn;
        seg[nseg] = d + s;
        segn[nseg++] = e - s;
        s = e + 1;
    }
    size_t secret = SIZE_MAX; /* the segment after a link prefix */
    if (nseg > 2 && (log_seg_is(seg[1], segn[1], "i") || log_seg_is(seg[1], segn[1], "r")))
        secret = 2;
    else if (nseg > 5 && log_seg_is(seg[1], segn[1], "api") && log_seg_is(seg[2], segn[2], "v1") &&
             log_seg_is(seg[3], segn[3], "public") &&
             (log_seg_is(seg[4], segn[4], "invoices") || log_seg_is(seg[4], segn[4], "ratings")))
        secret = 5;

    for (size_t s = 0, k = 0; s <= dn; k++) {
        const char *slash = memchr(d + s, '/', dn - s);
        size_t      e = slash ? (size_t)(slash - d) : dn;
        if (k > 0)
            buf_putc(b, '/');
        if (e > s && (k == secret || links_token_syntax(d + s, e - s))) {
            buf_puts(b, "[token]");
        } else {
            for (size_t j = s; j < e; j++) {
                unsigned char c = (unsigned char)d[j];
                if (c > 0x20 && c < 0x7f && c != '%' && c != '"' && c != '\\') {
                    buf_putc(b, (char)c);
                } else {
                    char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
                    buf_append(b, esc, 3);
                }
            }
        }
        s = e + 1;
    }
    if (cut)
        buf_puts(b, "[cut]");
}

static void record(struct http_server *srv, struct http_req *req, int status, size_t bytes)
{
    double secs = (double)(now_ns() - req->start_ns) / 1e9;
    if (req->route)
        router_count((struct http_route *)req->route, req->method, status);
    for (int i = 0; i < 16; i++)
        if (secs <= http_latency_bounds[i])
            srv->latency_buckets[i]++;
    srv->latency_sum += secs;
    srv->latency_count++;
    if (!srv->log_requests)
        return;
    /* Built by hand into the batch buffer, without printf: one write per
     * loop turn, not one per request, and the second-resolution part of the
     * timestamp formatted once per second. */
    struct buf     *b = &srv->logbuf;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if ((uint64_t)ts.tv_sec != srv->log_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(srv->log_when, sizeof(srv->log_when), "%Y-%m-%dT%H:%M:%S", &tm);
        srv->log_sec = (uint64_t)ts.tv_sec;
    }
    long ms = ts.tv_nsec / 1000000;
    char msb[5] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10), (char)('0' + ms % 10), 'Z'};
    buf_puts(b, "{\"ts\":\"");
    buf_puts(b, srv->log_when);
    buf_append(b, msb, 5);
    buf_puts(b, "\",\"level\":\"info\",\"msg\":\"request\",\"rid\":\"");
    buf_puts(b, req->rid);
    buf_puts(b, "\",\"method\":\"");
    buf_puts(b, req->method_str ? req->method_str : "?");
    buf_puts(b, "\",\"path\":\"");
    log_path(b, req->path.p ? req->path.p : "", req->path.n);
    buf_puts(b, "\",\"status\":");
    buf_put_u64(b, (uint64_t)status);
    buf_puts(b, ",\"bytes\":");
    buf_put_u64(b, bytes);
    uint64_t us = (uint64_t)(secs * 1e6 + 0.5);
    char     frac[4] = {'.', (char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10)};
    buf_puts(b, ",\"dur_ms\":");
    buf_put_u64(b, us / 1000);
    buf_append(b, frac, 4);
    if (req->session) {
        buf_puts(b, ",\"user\":");
        buf_put_u64(b, (uint64_t)auth_session_user_id(req->session));
    }
    buf_puts(b, "}\n");
    if (b->len > 64 * 1024)
        flush_log(srv);
}

static void flush_log(struct http_server *srv)
{
    const char *p = srv->logbuf.data;
    size_t      left = srv->logbuf.len;
    while (left) {
        ssize_t n = write(STDERR_FILENO, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        p += n;
        left -= (size_t)n;
    }
    buf_reset(&srv->logbuf);
}

static void on_prepare(uv_prepare_t *h)
{
    struct http_server *srv = h->data;
    if (srv->logbuf.len)
        flush_log(srv);
}

/* ---- writing ------------------------------------------------------------ */

struct write_req {
    uv_write_t w;
    char      *data;
};

static void on_write(uv_write_t *w, int status)
{
    struct write_req *wr = (struct write_req *)w;
    struct http_conn *c = w->handle->data;
    free(wr->data);
    free(wr);
    c->writes--;
    if (c->closed)
        return;
    if (status < 0) {
        http_conn_abort(c);
        return;
    }
    if (c->writes == 0) {
        if (c->state == CS_CLOSING)
            conn_finish_close(c);
        else if (c->state == CS_WAIT_WRITE) {
            c->state = CS_READ;
            conn_process(c);
        }
    }
}

void http_conn_write_owned(struct http_conn *c, char *data, size_t len)
{
    if (c->closed) {
        free(data);
        return;
    }
    size_t off = 0;
    if (c->writes == 0) {
        uv_buf_t b = uv_buf_init(data, (unsigned)len);
        int      n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n > 0)
            off = (size_t)n;
        else if (n < 0 && n != UV_EAGAIN) {
            free(data);
            http_conn_abort(c);
            return;
        }
    }
    if (off == len) {
        free(data);
        return;
    }
    struct write_req *wr = xmalloc(sizeof(*wr));
    wr->data = data;
    uv_buf_t b = uv_buf_init(data + off, (unsigned)(len - off));
    if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &b, 1, on_write) < 0) {
        free(data);
        free(wr);
        http_conn_abort(c);
        return;
    }
    c->writes++;
}

/* ---- answering ---------------------------------------------------------- */

static void conn_after_answer(struct http_conn *c, bool keep)
{
    if (!keep || c->srv->draining) {
        http_conn_close(c);
        return;
    }
    c->state = CS_READ;
    if (c->in_parse)
        return; /* conn_process is on the stack and goes round again */
    conn_process(c);
}

/* owned: body is a malloc'd buffer the answer takes over (sent as its
 * own write after the head, never copied); else it is copied. */
static void respond(struct http_req *req, int status, const char *content_type, const void *body, size_t len,
                    bool owned);

void http_respond(struct http_req *req, int status, const char *content_type, const void *body, size_t len)
{
    respond(req, status, content_type, body, len, false);
}

void http_respond_owned(struct http_req *req, int status, const char *content_type, char *body, size_t len)
{
    respond(req, status, content_type, body, len, true);
}

static void respond(struct http_req *req, int status, const char *content_type, const void *body, size_t len,
                    bool owned)
{
    if (req->answered) {
        log_error("bug", "second answer to request %s ignored", req->rid);
        if (owned)
            free((void *)body);
        return;
    }
    req->answered = true;
    struct http_conn   *c = req->conn;
    struct http_server *srv = c ? c->srv : req->svc->http;
    record(srv, req, status, len);
    if (!c) {
        req_free(req);
        if (owned)
            free((void *)body);
        return;
    }
    if (c->in_request)
        timerq_disarm(&c->tnode); /* the body clock; the close path arms its own */
    /* Answered before its body was read to the end (a refusal at the end
     * of the headers, a streamed upload cut short): the rest of the body
     * is still on the wire, so the connection cannot carry another request. */
    bool keep = req->keepalive && !c->close_after && !srv->draining && !c->parser.upgrade && !c->in_request;
    req->held = false;
    req->on_body_data = NULL;
    req->on_body_end = NULL;
    c->streaming = false;
    c->stream_hold = false;
    bool       head = req->method == HTTP_M_HEAD;
    bool       nobody = head || status == 304 || status == 204;
    struct buf out = {0};
    buf_reserve(&out, 256 + (nobody || owned ? 0 : len));
    /* Assembled without printf: this runs for every answer. */
    char code[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10), (char)('0' + status % 10), ' '};
    buf_append(&out, "HTTP/1.1 ", 9);
    buf_append(&out, code, 4);
    buf_puts(&out, http_status_text(status));
    buf_append(&out, "\r\nDate: ", 8);
    buf_puts(&out, cached_date(srv));
    buf_append(&out, "\r\nX-Request-Id: ", 16);
    buf_puts(&out, req->rid);
    buf_append(&out, "\r\n", 2);
    if (content_type) {
        buf_append(&out, "Content-Type: ", 14);
        buf_puts(&out, content_type);
        buf_append(&out, "\r\n", 2);
    }
    if (status != 304 && status != 204) {
        buf_append(&out, "Content-Length: ", 16);
        buf_put_u64(&out, len);
        buf_append(&out, "\r\n", 2);
    }
    if (!keep)
        buf_puts(&out, "Connection: close\r\n");
    else if (req->http_minor == 0)
        buf_puts(&out, "Connection: keep-alive\r\n");
    if (req->extra_headers.len)
        buf_append(&out, req->extra_headers.data, req->extra_headers.len);
    buf_append(&out, "\r\n", 2);
    if (!nobody && len && !owned)
        buf_append(&out, body, len);
    c->req = NULL;
    req_free(req);
    size_t n = out.len;
    http_conn_write_owned(c, buf_steal(&out), n);
    if (owned) {
        /* after the head, in order (writes are queued in order); a failed
         * head write closed the connection, and then this one only frees */
        if (!nobody && len)
            http_conn_write_owned(c, (char *)body, len);
        else
            free((void *)body);
    }
    if (!c->closed)
        conn_after_answer(c, keep);
}

void http_respond_json(struct http_req *req, int status, const char *json, size_t len)
{
    http_respond(req, status, "application/json", json, len);
}

void http_error(struct http_req *req, int status, const char *code, const char *message)
{
    struct buf b = {0};
    buf_puts(&b, "{\"error\":{\"code\":\"");
    buf_json_escape(&b, code, strlen(code));
    buf_puts(&b, "\",\"message\":\"");
    buf_json_escape(&b, message, strlen(message));
    buf_puts(&b, "\"}}");
    http_respond_json(req, status, b.data, b.len);
    buf_free(&b);
}

/* An error found while parsing: the request is answered, then the connection closes. */
static void conn_fail(struct http_conn *c, int status, const char *code, const char *message)
{
    struct http_req *req = c->req;
    if (!req) {
        req = c->req = req_new(c);
        req->method_str = "?";
    }
    if (!req->rid[0])
        snprintf(req->rid, sizeof(req->rid), "%s-%llx", c->srv->rid_prefix, (unsigned long long)++c->srv->rid_counter);
    if (!req->route)
        req->route = &c->srv->unmatched_route;
    req->keepalive = false;
    c->close_after = true;
    c->state = CS_HANDLING;
    http_error(req, status, code, message);
}

/* ---- closing ------------------------------------------------------------ */

static void on_close(uv_handle_t *h)
{
    struct http_conn   *c = h->data;
    struct http_server *srv = c->srv;
    if (c->ws && c->ws_on_close)
        c->ws_on_close(c->ws);
    if (c->req) {
        struct http_req *r = c->req;
        c->req = NULL;
        if (r->held && !r->answered) {
            /* the auth step or a handler holds it: detach, it frees on its answer */
            r->conn = NULL;
            if (c->streaming && r->on_body_end) {
                http_body_end_cb end = r->on_body_end;
                r->on_body_data = NULL;
                r->on_body_end = NULL;
                end(r, UV_ECONNRESET, r->body_ud);
            }
        } else {
            req_free(r);
        }
    }
    buf_free(&c->in);
    timerq_disarm(&c->tnode); /* never leave a freed node linked in the queue */
    if (c->prev)
        c->prev->next = c->next;
    else if (srv->conns == c)
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->counted)
        srv->nconns--;
    free(c);
    if (srv->draining && srv->nconns == 0 && srv->on_drained) {
        void (*cb)(struct http_server *) = srv->on_drained;
        srv->on_drained = NULL;
        cb(srv);
    }
}

void http_conn_abort(struct http_conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    timerq_disarm(&c->tnode);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void on_linger_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct http_conn *c = s->data;
    (void)b;
    if (nread < 0)
        http_conn_abort(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b);

static void on_shutdown(uv_shutdown_t *sh, int status)
{
    struct http_conn *c = sh->data;
    if (c->closed)
        return;
    if (status < 0) {
        http_conn_abort(c);
        return;
    }
    /* Discard whatever the client still sends until it closes or the linger ends. */
    uv_read_stop((uv_stream_t *)&c->tcp);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_linger_read) < 0) {
        http_conn_abort(c);
        return;
    }
    timerq_arm(&c->srv->tq, &c->tnode, TQ_LINGER);
}

static void conn_finish_close(struct http_conn *c)
{
    c->shut.data = c;
    if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) < 0)
        http_conn_abort(c);
}

/* Output is queued and the client must read it: give up (on_timeout) only
 * after an idle timeout in which the queue did not shrink at all, so a client
 * that stops reading cannot hold the connection and its output forever, and a
 * slow one that keeps reading is not cut off. */
static void conn_arm_flush_timer(struct http_conn *c)
{
    c->wq_mark = c->tcp.write_queue_size;
    timerq_arm(&c->srv->tq, &c->tnode, TQ_IDLE);
}

void http_conn_close(struct http_conn *c)
{
    if (c->closed || c->state == CS_CLOSING)
        return;
    c->state = CS_CLOSING;
    timerq_disarm(&c->tnode);
    if (c->writes == 0)
        conn_finish_close(c);
    else
        conn_arm_flush_timer(c);
}

/* ---- parser callbacks --------------------------------------------------- */

static struct http_conn *conn_of(llhttp_t *p)
{
    return p->data;
}

static int count_header_bytes(struct http_conn *c, size_t len)
{
    c->header_bytes += (unsigned)len;
    if (c->header_bytes > HTTP_MAX_HEADER_BYTES) {
        c->err_status = 431;
        c->err_code = "headers_too_large";
        return -1;
    }
    return 0;
}

static int on_message_begin(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    req_free(c->req);
    c->req = req_new(c);
    c->header_bytes = 0;
    c->in_field = false;
    c->in_trailer = false;
    c->in_request = true;
    timerq_arm(&c->srv->tq, &c->tnode, TQ_HEADER);
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    if (count_header_bytes(c, len) < 0)
        return HPE_USER;
    buf_append(&c->req->url, at, len);
    return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    struct http_req  *r = c->req;
    if (count_header_bytes(c, len) < 0)
        return HPE_USER;
    /* A chunked body's trailer: counted against the header cap, never
     * stored. The auth step and the handler have already read the headers
     * (a streamed handler still holds pointers into hdrbuf, which a realloc
     * would move), and a trailer must not add a field they never saw. */
    if (c->in_trailer)
        return 0;
    if (!c->in_field) {
        if (r->nhdrs == HTTP_MAX_HEADERS) {
            c->err_status = 431;
            c->err_code = "headers_too_large";
            return HPE_USER;
        }
        struct http_header *h = &r->hdrs[r->nhdrs++];
        h->name_off = (uint32_t)r->hdrbuf.len;
        h->name_len = 0;
        h->val_off = h->val_len = 0;
        c->in_field = true;
    }
    struct http_header *h = &r->hdrs[r->nhdrs - 1];
    buf_append(&r->hdrbuf, at, len);
    h->name_len += (uint32_t)len;
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    struct http_req  *r = c->req;
    if (count_header_bytes(c, len) < 0)
        return HPE_USER;
    if (c->in_trailer)
        return 0; /* see on_header_field */
    struct http_header *h = &r->hdrs[r->nhdrs - 1];
    if (c->in_field) {
        c->in_field = false;
        h->val_off = (uint32_t)r->hdrbuf.len;
        h->val_len = 0;
    }
    buf_append(&r->hdrbuf, at, len);
    h->val_len += (uint32_t)len;
    return 0;
}

/* "<process prefix>-<counter in hex>", without printf (every request). */
static void make_rid(struct http_server *srv, char out[72])
{
    static const char hex[] = "0123456789abcdef";
    size_t            n = strlen(srv->rid_prefix);
    memcpy(out, srv->rid_prefix, n);
    out[n++] = '-';
    uint64_t v = ++srv->rid_counter;
    char     tmp[16];
    int      k = 0;
    do {
        tmp[k++] = hex[v & 15];
        v >>= 4;
    } while (v);
    while (k)
        out[n++] = tmp[--k];
    out[n] = '\0';
}

static bool valid_rid(const char *s, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

/* 100 Continue, when the client waits for it: only once the request may
 * send its body. -1 if the write failed and the connection is gone. */
static int send_continue(struct http_conn *c)
{
    size_t      el;
    const char *expect = http_header(c->req, "Expect", &el);
    if (!expect || el != 12 || strncasecmp(expect, "100-continue", 12) != 0 || c->body_cap <= 0)
        return 0;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    http_conn_write_owned(c, xstrndup(cont, sizeof(cont) - 1), sizeof(cont) - 1);
    /* The write failed and aborted the connection (client gone): stop
     * here. Going on would re-arm the timer of a connection about to be
     * freed (left linked in the timer queue) and run its handler. */
    return c->closed ? -1 : 0;
}

/* No more of a streamed body is taken, and the handler still holds the
 * request (it answers later). The connection cannot carry another request
 * (the rest of the body may be on the wire), so nothing more is parsed or
 * read: CS_HANDLING keeps conn_process and on_read off it, no timer runs
 * (the handler answers at once, by contract), and the connection closes
 * after the answer (in_request). Without this the parser went on: the rest
 * of the body was buffered into req->body and, at its end, dispatch ran the
 * handler a second time; or an error answered the handler's request under
 * it (conn_fail), a use-after-free when the handler answered too. */
static void stream_detach(struct http_conn *c)
{
    if (c->req) {
        c->req->on_body_data = NULL;
        c->req->on_body_end = NULL;
    }
    c->streaming = false;
    c->stream_hold = false;
    if (c->closed || c->state == CS_CLOSING)
        return;
    c->close_after = true;
    c->state = CS_HANDLING;
    timerq_disarm(&c->tnode);
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* A streamed body that will not complete: the handler hears why (and
 * answers). Returns HPE_USER for a parser callback to stop with. */
static int stream_stop(struct http_conn *c, int status)
{
    struct http_req *r = c->req;
    c->streaming = false;
    c->stream_hold = false;
    if (r && r->on_body_end) {
        http_body_end_cb end = r->on_body_end;
        r->on_body_data = NULL;
        r->on_body_end = NULL;
        end(r, status, r->body_ud); /* may answer, which frees r */
    }
    if (!c->closed && c->state != CS_CLOSING)
        stream_detach(c); /* not answered yet */
    return HPE_USER;
}

int http_body_stream(struct http_req *req, http_body_data_cb on_data, http_body_end_cb on_end, void *ud)
{
    struct http_conn *c = req->conn;
    if (!c || req->answered || req->route->body != ROUTE_BODY_STREAM || c->state != CS_HANDLING || !c->in_request)
        return -1;
    /* Before the callbacks are set: a handler told -1 hears nothing more
     * (on_close would otherwise call its on_end for a body it gave up). */
    if (send_continue(c) < 0)
        return -1;
    req->on_body_data = on_data;
    req->on_body_end = on_end;
    req->body_ud = ud;
    c->streaming = true;
    c->streamed = 0;
    c->state = CS_READ;
    c->stream_hold = false;
    conn_start_reading(c);
    /* Body bytes that came with the headers are parsed on the next turn
     * (TQ_KICK, which then starts the body clock): never call back from
     * inside this function. */
    timerq_arm(&c->srv->tq, &c->tnode, c->in.len ? TQ_KICK : TQ_STREAM);
    return 0;
}

void http_body_resume(struct http_req *req)
{
    struct http_conn *c = req->conn;
    if (!c || !c->stream_hold)
        return;
    c->stream_hold = false;
    conn_start_reading(c);
    if (c->in.len && !c->in_parse)
        conn_process(c);
}

int64_t http_body_length(const struct http_req *req)
{
    return req->content_length;
}

static int on_headers_complete(llhttp_t *p)
{
    struct http_conn   *c = conn_of(p);
    struct http_server *srv = c->srv;
    struct http_req    *r = c->req;
    c->in_field = false;
    c->in_trailer = true;
    /* A value-less last header still needs a valid offset. */
    if (r->nhdrs && r->hdrs[r->nhdrs - 1].val_off == 0 && r->hdrs[r->nhdrs - 1].val_len == 0)
        r->hdrs[r->nhdrs - 1].val_off = (uint32_t)r->hdrbuf.len;
    buf_reserve(&r->url, 1);
    buf_reserve(&r->hdrbuf, 1);
    const char *mname = llhttp_method_name((llhttp_method_t)p->method);
    r->method_str = mname; /* llhttp's static string */
    r->method = http_method_parse(mname, strlen(mname));
    r->http_minor = p->http_minor;
    r->keepalive = llhttp_should_keep_alive(p) != 0;
    char  *url = r->url.data ? r->url.data : "";
    size_t ulen = r->url.len;
    char  *q = memchr(url, '?', ulen);
    r->path.p = url;
    r->path.n = q ? (size_t)(q - url) : ulen;
    if (q) {
        r->query.p = q + 1;
        r->query.n = ulen - r->path.n - 1;
    }
    size_t      rl;
    const char *rid = http_header(r, "X-Request-Id", &rl);
    if (rid && valid_rid(rid, rl)) {
        memcpy(r->rid, rid, rl);
        r->rid[rl] = '\0';
    } else {
        make_rid(srv, r->rid);
    }
    /* Route now, so the body rule and cap are known before the body is read. */
    char               allow[64];
    enum router_result rr = router_match(srv->router, r->method, r->path.p, r->path.n, &r->route, r->params,
                                         &r->nparams, allow, sizeof(allow));
    if (rr == ROUTER_BAD_METHOD)
        http_add_header(r, "Allow", allow);
    c->upgrade_ok = rr == ROUTER_FOUND && (r->route->flags & ROUTE_F_UPGRADE);
    bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
    r->content_length = (p->flags & F_CHUNKED) ? -1 : (p->flags & F_CONTENT_LENGTH) ? (int64_t)p->content_length : 0;
    if (!has_body) {
        /* Nothing to read: the message completes at once and dispatch runs
         * the auth step as for any request. */
        c->body_cap = 0;
        return 0;
    }
    if (rr != ROUTER_FOUND) {
        /* 404 or 405 now; the body is never read (the connection closes). */
        c->early = EARLY_ANSWER;
        return HPE_PAUSED;
    }
    c->body_cap = r->route->body_max >= 0 ? r->route->body_max : srv->body_max;
    if (r->route->body == ROUTE_BODY_NONE || c->upgrade_ok) {
        c->err_status = 413;
        c->err_code = "payload_too_large";
        c->err_message = "this request takes no body";
        return HPE_USER;
    }
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > (uint64_t)c->body_cap) {
        c->err_status = 413;
        c->err_code = "payload_too_large";
        return HPE_USER;
    }
    if (r->route->roles || r->route->body == ROUTE_BODY_STREAM) {
        /* Who is asking, before a byte of the body is taken (and before
         * 100 Continue invites it). */
        c->early = EARLY_AUTH;
        return HPE_PAUSED;
    }
    /* A public route with a small body (login): read it now. */
    if (send_continue(c) < 0)
        return HPE_USER;
    timerq_arm(&srv->tq, &c->tnode, TQ_BODY);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    struct http_conn *c = conn_of(p);
    struct http_req  *r = c->req;
    if (!r || c->state == CS_CLOSING || c->closed)
        return HPE_USER; /* answered meanwhile: stop here, the connection closes */
    if (r->body.len + len > (uint64_t)c->body_cap ||
        (c->streaming && (uint64_t)c->streamed + len > (uint64_t)c->body_cap)) {
        if (c->streaming) {
            /* the handler holds the request: it answers */
            c->streamed += len;
            return stream_stop(c, UV_E2BIG);
        }
        c->err_status = 413;
        c->err_code = "payload_too_large";
        return HPE_USER;
    }
    if (c->streaming) {
        c->streamed += len;
        int rc = r->on_body_data ? r->on_body_data(r, at, len, r->body_ud) : -1;
        if (c->closed || c->state == CS_CLOSING || c->req != r || r->answered)
            return HPE_USER; /* the handler answered (and the connection is closing) */
        if (rc < 0) {
            stream_detach(c); /* the handler stopped the body and answers itself */
            return HPE_USER;
        }
        if (rc > 0)
            c->stream_hold = true; /* reading stops after this buffer (conn_process) */
        return 0;
    }
    buf_append(&r->body, at, len);
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    struct http_conn *c = conn_of(p);
    timerq_disarm(&c->tnode);
    c->in_request = false;
    if (c->streaming) {
        /* The handler has been running since the headers: tell it the body
         * is complete; it answers when it is done. Parsing pauses here, so a
         * pipelined next request waits for that answer. */
        c->streaming = false;
        c->stream_hold = false; /* nothing left to hold back; reading goes on as for any handled request */
        c->early = EARLY_STREAM_END;
    }
    return HPE_PAUSED;
}

/* ---- dispatch ----------------------------------------------------------- */

static void run_handler(struct http_req *req)
{
    req->held = true;
    req->route->handler(req);
}

/* The auth step admitted a request whose body is not read yet. */
static void on_early_authed(struct http_req *req)
{
    struct http_conn *c = req->conn;
    if (!c) {
        /* the client went away while its session was looked up: nobody
         * reads this answer; 499 (as the handlers' client_gone) keeps it
         * out of the 400s in /metrics and the log */
        http_error(req, 499, "client_gone", "the client went away");
        return;
    }
    req->authed = true;
    if (req->route->body == ROUTE_BODY_STREAM) {
        /* The handler runs before the body; http_body_stream starts it. */
        c->state = CS_HANDLING;
        run_handler(req);
        return;
    }
    /* A small JSON body: read it, then dispatch runs the handler. */
    req->held = false;
    if (send_continue(c) < 0)
        return;
    c->state = CS_READ;
    timerq_arm(&c->srv->tq, &c->tnode, TQ_BODY);
    conn_start_reading(c);
    if (!c->in_parse)
        conn_process(c);
}

static void early_step(struct http_conn *c, int step)
{
    struct http_server *srv = c->srv;
    struct http_req    *r = c->req;
    if (step == EARLY_STREAM_END) {
        /* the handler holds the request since the headers */
        c->state = CS_HANDLING;
        if (r && r->on_body_end) {
            http_body_end_cb end = r->on_body_end;
            r->on_body_data = NULL;
            r->on_body_end = NULL;
            end(r, 0, r->body_ud);
        }
        return;
    }
    /* Stop reading: not a byte of this body is taken until it is admitted. */
    if (c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
    /* The body's clock starts at the end of the headers: the auth step and
     * a streaming handler's own checks (ticket, key, temporary file) count
     * against GSS_HEADER_TIMEOUT_MS, and http_body_stream then gives the
     * body its GSS_BODY_DEADLINE_MS. A connection that runs out of it here
     * is closed; the request its holder still has is detached (on_close). */
    timerq_arm(&c->srv->tq, &c->tnode, TQ_BODY);
    if (step == EARLY_ANSWER) {
        dispatch(c); /* 404 / 405 / static; keep is false: in_request */
        return;
    }
    c->state = CS_AUTH;
    if (!r->route->roles) {
        on_early_authed(r);
        return;
    }
    if (!srv->auth) {
        c->state = CS_HANDLING;
        http_error(r, 401, "unauthorized", "a session is required");
        return;
    }
    r->held = true;
    srv->auth(r, on_early_authed);
}

static void dispatch(struct http_conn *c)
{
    struct http_server *srv = c->srv;
    struct http_req    *r = c->req;
    c->state = CS_HANDLING;
    if (!r->route) {
        char               allow[64];
        enum router_result rr = router_match(srv->router, r->method, r->path.p, r->path.n, &r->route, r->params,
                                             &r->nparams, allow, sizeof(allow));
        if (rr == ROUTER_BAD_METHOD) {
            r->route = &srv->unmatched_route;
            http_error(r, 405, "method_not_allowed", "this method is not allowed on this path");
            return;
        }
        if ((r->method == HTTP_M_GET || r->method == HTTP_M_HEAD) && srv->fallback) {
            r->route = &srv->static_route;
            if (srv->fallback(srv->fallback_ud, r))
                return;
        }
        r->route = &srv->unmatched_route;
        http_error(r, 404, "not_found", "no such path");
        return;
    }
    if (c->parser.upgrade && !(r->route->flags & ROUTE_F_UPGRADE))
        r->keepalive = false; /* we do not switch protocols here; answer and close */
    if (r->route->roles && !r->authed) {
        if (!srv->auth) {
            http_error(r, 401, "unauthorized", "a session is required");
            return;
        }
        r->held = true;
        srv->auth(r, run_handler);
        return;
    }
    run_handler(r);
}

static void conn_process(struct http_conn *c)
{
    if (c->in_parse)
        return;
    c->in_parse = true;
    while (!c->closed && c->state == CS_READ && c->in.len > 0) {
        if (c->writes && c->tcp.write_queue_size > OUT_HIGH_WATER) {
            c->state = CS_WAIT_WRITE; /* resumes from on_write */
            conn_arm_flush_timer(c);
            break;
        }
        const char    *data = c->in.data;
        llhttp_errno_t err = llhttp_execute(&c->parser, data, c->in.len);
        if (c->closed)
            break; /* a callback's write failed: nothing left to answer */
        if (err == HPE_OK) {
            buf_reset(&c->in);
            break;
        }
        if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
            size_t used = (size_t)(llhttp_get_error_pos(&c->parser) - data);
            buf_consume(&c->in, used);
            llhttp_resume(&c->parser);
            if (err == HPE_PAUSED_UPGRADE)
                llhttp_resume_after_upgrade(&c->parser);
            if (c->early) {
                int step = c->early;
                c->early = 0;
                early_step(c, step);
                continue;
            }
            dispatch(c);
            continue;
        }
        if (c->streaming) {
            /* The parser itself failed inside a streamed body (a bad chunk
             * size, an oversized trailer): the handler holds the request,
             * so it hears why and answers, never conn_fail (which would
             * answer and free the request under it, and the handler's
             * on_end would never run: its file, fd and state leaked). */
            stream_stop(c, UV_EPROTO);
        }
        if (c->closed || c->state == CS_CLOSING || c->state == CS_HANDLING) {
            /* A body callback stopped the parser after the request was
             * answered, or handed to its handler to answer: nothing more to
             * parse on this connection. */
            buf_reset(&c->in);
            break;
        }
        /* A callback that refused the request set err_status (llhttp reports
         * on_headers_complete's refusal as HPE_CB_HEADERS_COMPLETE, others as HPE_USER). */
        if (c->err_status)
            conn_fail(c, c->err_status, c->err_code,
                      c->err_message         ? c->err_message
                      : c->err_status == 413 ? "request body too large"
                                             : "request header block too large");
        else
            conn_fail(c, 400, "bad_request",
                      llhttp_get_error_reason(&c->parser) ? llhttp_get_error_reason(&c->parser) : "malformed request");
        break;
    }
    c->in_parse = false;
    if (c->closed || c->state == CS_CLOSING || c->state == CS_WS)
        return;
    if (c->state == CS_AUTH)
        return; /* reading stays off until the auth step has decided */
    if (c->state == CS_HANDLING && c->in_request)
        return; /* a handler holds a request whose body is not read (yet, or any more): only http_body_stream reads it */
    if (c->stream_hold) {
        /* the streaming handler asked for a pause (its write is in flight) */
        if (c->reading) {
            uv_read_stop((uv_stream_t *)&c->tcp);
            c->reading = false;
        }
        return;
    }
    /* Backpressure: stop reading while a request is handled and input piles up. */
    if (c->state != CS_READ && c->in.len > IN_HIGH_WATER && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    } else if (!c->reading) {
        conn_start_reading(c);
    }
    if (c->state == CS_READ && !c->in_request && !timerq_armed(&c->tnode))
        timerq_arm(&c->srv->tq, &c->tnode, TQ_IDLE);
}

/* ---- reading ------------------------------------------------------------ */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct http_conn *c = h->data;
    (void)suggested;
    /* 16 KiB in all for an empty buffer (buf_reserve adds one byte for the
     * NUL and rounds up to a power of two: asking for 16 KiB gave 32). */
    if (c->in.cap - c->in.len < 4096 + 1)
        buf_reserve(&c->in, 16 * 1024 - 1);
    b->base = c->in.data + c->in.len;
    b->len = c->in.cap - c->in.len - 1;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct http_conn *c = s->data;
    (void)b;
    if (nread == 0)
        return;
    if (nread < 0) {
        /* EOF: a request cut off midway is answered by nobody; just close. */
        if (c->state == CS_HANDLING && nread == UV_EOF) {
            /* The client half-closed but may still read our answer. A
             * reset (or any other error) is not that: the client is gone,
             * so the connection closes now and the handler's request is
             * detached (http_req_gone), which is what lets a handler roll
             * back instead of committing for nobody. */
            uv_read_stop(s);
            c->reading = false;
            c->close_after = true;
            return;
        }
        if (nread == UV_EOF && (c->writes || c->state == CS_CLOSING)) {
            /* Half-closed after its requests: answers already queued still
             * go out (dropping them would truncate a large response). */
            uv_read_stop(s);
            c->reading = false;
            http_conn_close(c);
            return;
        }
        http_conn_abort(c);
        return;
    }
    c->in.len += (size_t)nread;
    c->in.data[c->in.len] = '\0';
    if (c->state == CS_READ)
        conn_process(c);
    else if (c->in.len > IN_HIGH_WATER && c->reading) {
        uv_read_stop(s);
        c->reading = false;
    }
}

static void conn_start_reading(struct http_conn *c)
{
    if (c->reading || c->closed)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
}

/* ---- accepting ---------------------------------------------------------- */

static void send_overloaded(struct http_server *srv, struct http_conn *c)
{
    static const char body[] = "{\"error\":{\"code\":\"overloaded\",\"message\":\"too many open connections\"}}";
    struct buf        out = {0};
    buf_printf(&out,
               "HTTP/1.1 503 Service Unavailable\r\nDate: %s\r\nX-Request-Id: %s-%llx\r\n"
               "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n"
               "Retry-After: 1\r\n\r\n%s",
               cached_date(srv), srv->rid_prefix, (unsigned long long)++srv->rid_counter, sizeof(body) - 1, body);
    size_t n = out.len;
    http_conn_write_owned(c, buf_steal(&out), n);
}

static void conn_link(struct http_server *srv, struct http_conn *c)
{
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->accepted++;
}

/* Starts HTTP on a connection that is linked in and owns an open socket. */
static void conn_begin(struct http_server *srv, struct http_conn *c)
{
    if (srv->nconns >= srv->max_conns || srv->draining) {
        srv->rejected_overload++;
        c->state = CS_HANDLING;
        send_overloaded(srv, c);
        http_conn_close(c);
        return;
    }
    c->counted = true;
    srv->nconns++;
    uv_tcp_nodelay(&c->tcp, 1);
    llhttp_init(&c->parser, HTTP_REQUEST, &parser_settings);
    c->parser.data = c;
    c->state = CS_READ;
    conn_start_reading(c);
    timerq_arm(&srv->tq, &c->tnode, TQ_IDLE);
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct http_server *srv = ls->data;
    if (status < 0) {
        log_warn("accept", "%s", uv_strerror(status));
        return;
    }
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    uv_tcp_init(ls->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
        c->closed = true;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    conn_link(srv, c);
    conn_begin(srv, c);
}

int http_server_adopt(struct http_server *srv, uv_os_sock_t fd)
{
    struct http_conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    uv_tcp_init(srv->svc->loop, &c->tcp);
    c->tcp.data = c;
    int rc = uv_tcp_open(&c->tcp, fd);
    if (rc < 0) {
        c->closed = true;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return rc;
    }
    conn_link(srv, c);
    conn_begin(srv, c);
    return 0;
}

static void on_timeout(struct timerq *tq, struct timerq_node *n)
{
    struct http_conn *c = container_of(n, struct http_conn, tnode);
    (void)tq;
    if (c->closed)
        return;
    if (n->kind == TQ_IDLE && c->writes && (c->state == CS_CLOSING || c->state == CS_WAIT_WRITE)) {
        if (c->tcp.write_queue_size < c->wq_mark) {
            conn_arm_flush_timer(c); /* the client is reading, however slowly */
            return;
        }
        http_conn_abort(c);
        return;
    }
    if (n->kind == TQ_LINGER || c->state == CS_CLOSING) {
        http_conn_abort(c);
        return;
    }
    if (c->state == CS_WS) {
        /* the WebSocket layer arms its own kind; treat as dead peer */
        http_conn_abort(c);
        return;
    }
    if (n->kind == TQ_KICK) {
        timerq_arm(&c->srv->tq, &c->tnode, TQ_STREAM);
        if (c->state == CS_READ && !c->in_parse)
            conn_process(c);
        return;
    }
    if (c->streaming) {
        /* the handler holds the request; it answers (408) */
        stream_stop(c, UV_ETIMEDOUT);
        return;
    }
    if (c->state == CS_READ && c->in_request) {
        conn_fail(c, 408, "request_timeout", "the request took too long to arrive");
        return;
    }
    http_conn_close(c);
}

/* ---- set-up and teardown ------------------------------------------------ */

int http_server_init(struct http_server *srv, struct gss_services *svc, const struct router *router)
{
    memset(srv, 0, sizeof(*srv));
    const struct gss_config *cfg = svc->cfg;
    srv->svc = svc;
    srv->router = router;
    srv->max_conns = (size_t)cfg->max_conns;
    srv->body_max = cfg->body_max;
    srv->log_requests = cfg->log_requests;
    srv->static_route.pattern = "static";
    srv->unmatched_route.pattern = "unmatched";
    llhttp_settings_init(&parser_settings);
    parser_settings.on_message_begin = on_message_begin;
    parser_settings.on_url = on_url;
    parser_settings.on_header_field = on_header_field;
    parser_settings.on_header_value = on_header_value;
    parser_settings.on_headers_complete = on_headers_complete;
    parser_settings.on_body = on_body;
    parser_settings.on_message_complete = on_message_complete;
    uint8_t rnd[4];
    crypto_random(rnd, sizeof(rnd));
    crypto_hex(rnd, sizeof(rnd), srv->rid_prefix);
    int rc = timerq_init(&srv->tq, svc->loop, on_timeout);
    if (rc < 0)
        return rc;
    srv->tq.data = srv;
    timerq_set_duration(&srv->tq, TQ_HEADER, (uint64_t)cfg->header_timeout_ms);
    timerq_set_duration(&srv->tq, TQ_IDLE, (uint64_t)cfg->idle_timeout_ms);
    timerq_set_duration(&srv->tq, TQ_WS, 75000); /* two missed pings and change */
    timerq_set_duration(&srv->tq, TQ_LINGER, LINGER_MS);
    /* A small body must follow its headers as fast as the headers had to;
     * an upload gets GSS_BODY_DEADLINE_MS. Neither is re-armed by reads. */
    timerq_set_duration(&srv->tq, TQ_BODY, (uint64_t)svc->cfg->header_timeout_ms);
    timerq_set_duration(&srv->tq, TQ_STREAM, (uint64_t)svc->cfg->upload_deadline_ms);
    timerq_set_duration(&srv->tq, TQ_KICK, 0);
    uv_prepare_init(svc->loop, &srv->flush);
    srv->flush.data = srv;
    uv_prepare_start(&srv->flush, on_prepare);
    uv_unref((uv_handle_t *)&srv->flush);
    uv_timer_init(svc->loop, &srv->drain_timer);
    srv->drain_timer.data = srv;
    uv_tcp_init(svc->loop, &srv->listener);
    srv->listener.data = srv;
    return 0;
}

int http_server_listen(struct http_server *srv, const char *host, int port, bool reuseport)
{
    struct sockaddr_storage ss;
    int                     rc;
    if (strchr(host, ':'))
        rc = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(host, port, (struct sockaddr_in *)&ss);
    if (rc < 0)
        return rc;
    if (reuseport) {
        /* libuv 1.44 has no UV_TCP_REUSEPORT: make the socket ourselves. */
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            return uv_translate_sys_error(errno);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if ((rc = uv_tcp_open(&srv->listener, fd)) < 0) {
            close(fd);
            return rc;
        }
    }
    rc = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&ss, 0);
    if (rc < 0)
        return rc;
    rc = uv_listen((uv_stream_t *)&srv->listener, 1024, on_connection);
    if (rc < 0)
        return rc;
    srv->listening = true;
    return 0;
}

static void on_drain_deadline(uv_timer_t *t)
{
    struct http_server *srv = t->data;
    log_warn("shutdown", "deadline passed with %zu connection(s) open; closing them", srv->nconns);
    for (struct http_conn *c = srv->conns; c; c = c->next)
        http_conn_abort(c);
}

void http_server_drain(struct http_server *srv, uint64_t deadline_ms, void (*on_drained)(struct http_server *))
{
    srv->draining = true;
    srv->on_drained = on_drained;
    if (srv->listening) {
        srv->listening = false;
        uv_close((uv_handle_t *)&srv->listener, NULL);
    }
    struct http_conn *next;
    for (struct http_conn *c = srv->conns; c; c = next) {
        next = c->next;
        if (c->state == CS_WS) {
            if (c->ws_on_drain)
                c->ws_on_drain(c->ws);
        } else if (c->state == CS_READ && !c->in_request && c->in.len == 0) {
            http_conn_close(c); /* idle keep-alive */
        } else {
            c->close_after = true; /* answered with Connection: close */
        }
    }
    if (srv->nconns == 0) {
        srv->on_drained = NULL;
        on_drained(srv);
        return;
    }
    uv_timer_start(&srv->drain_timer, on_drain_deadline, deadline_ms, 0);
}

void http_server_close(struct http_server *srv)
{
    /* on_drained fires when no *counted* connection is left; one turned away
     * with 503 may still be lingering, and its linger deadline dies with the
     * timer queue below, so without this it would hold the loop (and the
     * process exit) until its client hangs up. */
    for (struct http_conn *c = srv->conns; c; c = c->next)
        http_conn_abort(c);
    if (srv->logbuf.len)
        flush_log(srv);
    buf_free(&srv->logbuf);
    /* A detached request whose work ends later (a password hash on the
     * thread pool) may still be answered; its log line would allocate a
     * buffer nobody frees any more. */
    srv->log_requests = false;
    if (srv->listening) {
        srv->listening = false;
        uv_close((uv_handle_t *)&srv->listener, NULL);
    } else if (!uv_is_closing((uv_handle_t *)&srv->listener)) {
        uv_close((uv_handle_t *)&srv->listener, NULL);
    }
    uv_close((uv_handle_t *)&srv->drain_timer, NULL);
    uv_close((uv_handle_t *)&srv->flush, NULL);
    timerq_close(&srv->tq, NULL);
}

uv_tcp_t *http_conn_tcp(struct http_conn *c)
{
    return &c->tcp;
}

bool http_req_peer(const struct http_req *req, char *out, size_t outlen)
{
    if (!req->conn)
        return false;
    struct sockaddr_storage ss;
    int                     len = sizeof(ss);
    if (uv_tcp_getpeername(&req->conn->tcp, (struct sockaddr *)&ss, &len) < 0)
        return false;
    if (ss.ss_family == AF_INET)
        return uv_ip4_name((struct sockaddr_in *)&ss, out, outlen) == 0;
    return uv_ip6_name((struct sockaddr_in6 *)&ss, out, outlen) == 0;
}

struct http_conn *http_upgrade(struct http_req *req, const char *extra_headers)
{
    struct http_conn *c = req->conn;
    if (req->answered)
        return NULL;
    req->answered = true;
    struct http_server *srv = c ? c->srv : req->svc->http;
    record(srv, req, 101, 0);
    if (!c) {
        req_free(req);
        return NULL;
    }
    struct buf out = {0};
    buf_printf(&out, "HTTP/1.1 101 Switching Protocols\r\nDate: %s\r\nX-Request-Id: %s\r\n%s\r\n", cached_date(srv),
               req->rid, extra_headers ? extra_headers : "");
    c->req = NULL;
    req_free(req);
    c->state = CS_WS;
    timerq_disarm(&c->tnode);
    size_t n = out.len;
    http_conn_write_owned(c, buf_steal(&out), n);
    return c->closed ? NULL : c;
}
