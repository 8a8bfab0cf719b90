/*
 * ws.c: WebSocket connections and the broadcast hub. The contract is in
 * ws.h; the wire format (parsing, encoding, the handshake key) is
 * ws_frame.c's.
 *
 * Reading: after the 101, a socket reads through the hub's one read buffer.
 * That is safe because libuv calls alloc, read(2) and the read callback
 * back to back for one stream, and the callback hands every byte to the
 * frame parser (which copies what it keeps) before it returns; so ten
 * thousand idle boards hold no read buffer at all.
 *
 * Writing: every frame is first tried with uv_try_write (a small frame to an
 * idle socket then costs no write request and no copy); the rest goes
 * through uv_write with whatever keeps the bytes alive (a reference on a
 * shared broadcast buffer, a malloc'd frame, or static bytes) until its
 * callback. Nothing is written after http_conn_close has begun the TCP
 * close (libuv refuses writes once the shutdown is queued).
 *
 * State: OPEN -> CLOSE_SENT (we sent close, wait for the client's) -> DONE
 * (handshake over or failed; the TCP close is under way). Every change goes
 * through ws__close().
 */
#include "http/ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yyjson.h>

#include "auth/roles.h"
#include "auth/session.h"
#include "core/config.h"
#include "core/log.h"
#include "core/timerq.h"
#include "http/conn.h"
#include "http/server.h"
#include "http/services.h"
#include "http/ws_frame.h"

#define WS_READ_BUF      (64 * 1024)
#define WS_TQ_CLOSE_WAIT 0 /* the only kind of the hub's timer queue */

enum ws_state {
    WS_OPEN,       /* messages flow both ways */
    WS_CLOSE_SENT, /* our close frame is queued; the client's is awaited */
    WS_DONE,       /* close handshake over or failed; TCP is being closed */
};

/* How ws__close ends a socket. */
enum ws_how {
    WS_HOW_REPLY, /* the client's close frame arrived: answer it, close TCP */
    WS_HOW_FAIL,  /* protocol error: send our code, close TCP at once */
    WS_HOW_START, /* we close: send our code, wait for the client's close */
    WS_HOW_ABORT, /* drop the TCP connection, nothing more is sent */
};

/* A frame written to many sockets: freed when its last reference goes. */
struct ws_shared {
    unsigned refs; /* the broadcast loop's own, plus one per queued write */
    size_t   len;
    uint8_t  data[];
};

struct ws_conn {
    struct http_conn    *conn; /* the connection we live on; outlives us */
    struct ws_hub       *hub;
    struct ws_conn      *next, *prev; /* hub->socks */
    struct ws_parser     parser;      /* owned; its message buffer too */
    struct auth_session *session;     /* one reference; NULL for echo sockets */
    unsigned             role;        /* the session's ROLE_* bit; 0 for echo */
    bool                 echo;
    enum ws_state        state;
    struct timerq_node   wait; /* hub->closeq: deadline of a close in progress */
};

/* One queued write; owns what keeps its bytes alive until the callback. */
struct ws_write {
    uv_write_t        w;
    struct ws_conn   *ws;
    struct ws_shared *shared; /* a reference, or NULL */
    uint8_t          *owned;  /* malloc'd frame, or NULL (static bytes) */
};

struct ws_hub {
    struct gss_services *svc;   /* not owned */
    struct ws_conn      *socks; /* every socket until its TCP handle is closed */
    size_t               nsocks, nboards;
    size_t               max_message; /* bytes, GSS_WS_MAX_MESSAGE */
    size_t               max_queued;  /* bytes, GSS_WS_MAX_QUEUED */
    uv_timer_t           ping;        /* owned; every WS_PING_INTERVAL_MS */
    struct timerq        closeq;      /* owned; close deadlines (WS_CLOSE_WAIT_MS) */
    bool                 stopped;
    /* metrics */
    uint64_t upgrades, broadcasts, broadcast_writes, dropped_slow, protocol_errors;
    uint64_t messages_in, rejected;
    uint8_t  rbuf[WS_READ_BUF]; /* shared read buffer, see the top of the file */
};

static void ws__close(struct ws_conn *ws, enum ws_how how, uint16_t code, const char *reason);

/* ---- writing ------------------------------------------------------------ */

static void ws__release(struct ws_shared *sh, uint8_t *owned)
{
    if (sh && --sh->refs == 0)
        free(sh);
    free(owned);
}

static void ws__on_write(uv_write_t *w, int status)
{
    struct ws_write *wr = container_of(w, struct ws_write, w);
    struct ws_conn  *ws = wr->ws; /* alive: freed only after every write callback */
    ws__release(wr->shared, wr->owned);
    free(wr);
    if (status < 0)
        ws__close(ws, WS_HOW_ABORT, 0, NULL);
}

/* Queues len bytes at data. sh (a reference the caller gives up), owned (a
 * malloc'd buffer the caller gives up) or neither (static bytes) keeps data
 * alive; they are released here whatever happens. No limits are checked:
 * ws__send is the checked path. Returns 0, or -1 when the socket was
 * dropped. */
static int ws__write(struct ws_conn *ws, const uint8_t *data, size_t len, struct ws_shared *sh, uint8_t *owned)
{
    struct http_conn *c = ws->conn;
    uv_stream_t      *s = (uv_stream_t *)&c->tcp;
    size_t            off = 0;
    if (c->closed)
        goto fail;
    if (s->write_queue_size == 0) {
        uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
        int      n = uv_try_write(s, &b, 1);
        if (n > 0)
            off = (size_t)n;
        else if (n < 0 && n != UV_EAGAIN)
            goto fail;
    }
    if (off == len) {
        ws__release(sh, owned);
        return 0;
    }
    struct ws_write *wr = xmalloc(sizeof(*wr));
    wr->ws = ws;
    wr->shared = sh;
    wr->owned = owned;
    uv_buf_t b = uv_buf_init((char *)data + off, (unsigned)(len - off));
    if (uv_write(&wr->w, s, &b, 1, ws__on_write) < 0) {
        free(wr);
        goto fail;
    }
    return 0;
fail:
    ws__release(sh, owned);
    ws__close(ws, WS_HOW_ABORT, 0, NULL);
    return -1;
}

/* The checked path for everything but close frames: only an open socket
 * sends, and a socket whose unsent bytes would pass the cap is closed with
 * 1008 instead (the frame is dropped). Takes over sh/owned as ws__write. */
static int ws__send(struct ws_conn *ws, const uint8_t *data, size_t len, struct ws_shared *sh, uint8_t *owned)
{
    struct http_conn *c = ws->conn;
    if (ws->state != WS_OPEN || c->closed) {
        ws__release(sh, owned);
        return -1;
    }
    if (c->tcp.write_queue_size + len > ws->hub->max_queued) {
        ws__release(sh, owned);
        ws->hub->dropped_slow++;
        log_warn("ws", "closing a slow socket (user %lld): %zu bytes unsent, %zu more refused",
                 (long long)auth_session_user_id(ws->session), c->tcp.write_queue_size, len);
        /* Over the cap already means even the close frame would not be read
         * in time (cannot happen while every write goes through here). */
        if (c->tcp.write_queue_size > ws->hub->max_queued)
            ws__close(ws, WS_HOW_ABORT, 0, NULL);
        else
            ws__close(ws, WS_HOW_START, WS_CLOSE_POLICY, "send queue full");
        return -1;
    }
    return ws__write(ws, data, len, sh, owned);
}

/* One data or control frame with a copy of payload. */
static int ws__send_frame(struct ws_conn *ws, int opcode, const void *payload, size_t len)
{
    size_t   n;
    uint8_t *f = ws_frame_build(opcode, payload, len, &n);
    if (!f) {
        ws__close(ws, WS_HOW_FAIL, WS_CLOSE_INTERNAL, "cannot encode frame");
        return -1;
    }
    return ws__send(ws, f, n, NULL, f);
}

/* ---- state -------------------------------------------------------------- */

/* The one place where a socket's state changes; see enum ws_how. Idempotent:
 * a socket already dropped ignores everything, one already done everything
 * but an abort (a failed write while its TCP close is under way). */
static void ws__close(struct ws_conn *ws, enum ws_how how, uint16_t code, const char *reason)
{
    struct http_conn *c = ws->conn;
    if (c->closed)
        return;
    if (how == WS_HOW_ABORT) {
        ws->state = WS_DONE;
        http_conn_abort(c);
        return;
    }
    if (ws->state == WS_DONE)
        return;
    if (how == WS_HOW_START && ws->state != WS_OPEN)
        return; /* a close is already in progress */
    if (ws->state == WS_OPEN) {
        /* RFC 6455 §5.5.1: answer a close with its code; a close without one
         * is answered with 1000 (1005 may not go on the wire). */
        if (how == WS_HOW_REPLY) {
            code = code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code;
            reason = NULL;
        }
        size_t   n;
        uint8_t *f = ws_frame_build_close(code, reason, reason ? strlen(reason) : 0, &n);
        if (!f || ws__write(ws, f, n, NULL, f) < 0) {
            if (!f)
                ws__close(ws, WS_HOW_ABORT, 0, NULL);
            return;
        }
    }
    /* Whatever comes next, it must not take longer than this. */
    timerq_arm(&ws->hub->closeq, &ws->wait, WS_TQ_CLOSE_WAIT);
    if (how == WS_HOW_START) {
        ws->state = WS_CLOSE_SENT;
        return;
    }
    ws->state = WS_DONE;
    /* Shuts down our side once the close frame is out, then lingers for the
     * client's FIN (server.c). */
    http_conn_close(c);
}

static void ws__on_close_wait(struct timerq *tq, struct timerq_node *n)
{
    struct ws_conn *ws = container_of(n, struct ws_conn, wait);
    (void)tq;
    /* The client neither answered our close nor read what was queued. */
    if (!ws->conn->closed) {
        ws->state = WS_DONE;
        http_conn_abort(ws->conn);
    }
}

/* ---- reading ------------------------------------------------------------ */

/* {"type":"ping"} from a board. */
static bool ws__is_app_ping(const uint8_t *data, size_t len)
{
    yyjson_doc *doc = yyjson_read((const char *)data, len, 0);
    if (!doc)
        return false;
    yyjson_val *type = yyjson_obj_get(yyjson_doc_get_root(doc), "type");
    bool        ping = yyjson_equals_str(type, "ping");
    yyjson_doc_free(doc);
    return ping;
}

static void ws__on_message(struct ws_conn *ws, const struct ws_event *ev)
{
    static const char pong[] = "{\"type\":\"pong\"}";
    ws->hub->messages_in++;
    if (ws->state != WS_OPEN)
        return; /* after our close frame, data is read and dropped */
    if (ws->echo) {
        ws__send_frame(ws, ev->type == WS_EV_TEXT ? WS_OP_TEXT : WS_OP_BINARY, ev->data, ev->len);
        return;
    }
    /* Boards only listen; the one thing they may say is an application-level
     * ping (browsers cannot send protocol pings). Anything else is ignored. */
    if (ev->type == WS_EV_TEXT && ws__is_app_ping(ev->data, ev->len))
        ws__send_frame(ws, WS_OP_TEXT, pong, sizeof(pong) - 1);
}

static void ws__feed(struct ws_conn *ws, const uint8_t *data, size_t len)
{
    struct http_conn *c = ws->conn;
    if (ws->state == WS_DONE || c->closed)
        return;
    /* Any bytes prove the peer alive (pongs included). */
    timerq_arm(&c->srv->tq, &c->tnode, TQ_WS);
    while (len > 0 && ws->state != WS_DONE && !c->closed) {
        struct ws_event ev;
        ssize_t         n = ws_parser_feed(&ws->parser, data, len, &ev);
        if (n < 0) {
            ws->hub->protocol_errors++;
            log_debug("ws", "protocol error %u: %s", (unsigned)ev.code, (const char *)ev.data);
            ws__close(ws, WS_HOW_FAIL, ev.code, (const char *)ev.data);
            return;
        }
        data += n;
        len -= (size_t)n;
        switch (ev.type) {
        case WS_EV_TEXT:
        case WS_EV_BINARY: ws__on_message(ws, &ev); break;
        case WS_EV_PING:
            if (ws->state == WS_OPEN)
                ws__send_frame(ws, WS_OP_PONG, ev.data, ev.len);
            break;
        case WS_EV_CLOSE: ws__close(ws, WS_HOW_REPLY, ev.code, NULL); break;
        default: /* pong, or nothing yet */ break;
        }
    }
}

static void ws__on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct http_conn *c = h->data;
    struct ws_conn   *ws = c->ws;
    (void)suggested;
    b->base = (char *)ws->hub->rbuf;
    b->len = sizeof(ws->hub->rbuf);
}

static void ws__on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct http_conn *c = s->data;
    struct ws_conn   *ws = c->ws;
    if (nread > 0) {
        ws__feed(ws, (const uint8_t *)b->base, (size_t)nread);
        return;
    }
    if (nread == 0)
        return;
    if (ws->state == WS_DONE) {
        /* The client hung up after the handshake ended: let our last frame
         * go out (bounded by the close deadline), just stop reading. */
        uv_read_stop(s);
        return;
    }
    /* EOF or error without a close handshake (1006 on the client side). */
    ws__close(ws, WS_HOW_ABORT, 0, NULL);
}

/* ---- connection hooks (called by server.c) ------------------------------ */

static void ws__on_conn_closed(void *p)
{
    struct ws_conn *ws = p;
    struct ws_hub  *hub = ws->hub;
    timerq_disarm(&ws->wait);
    if (ws->prev)
        ws->prev->next = ws->next;
    else
        hub->socks = ws->next;
    if (ws->next)
        ws->next->prev = ws->prev;
    hub->nsocks--;
    if (!ws->echo)
        hub->nboards--;
    ws_parser_free(&ws->parser);
    auth_session_release(ws->session);
    free(ws);
}

static void ws__on_drain(void *p)
{
    ws__close(p, WS_HOW_START, WS_CLOSE_GOING_AWAY, "server shutting down");
}

/* ---- the opening handshake ---------------------------------------------- */

/* Whether the comma-separated header value list has token (any case). */
static bool ws__has_token(const char *v, size_t n, const char *token)
{
    size_t tl = strlen(token);
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t start = i;
        while (i < n && v[i] != ',')
            i++;
        size_t end = i;
        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
            end--;
        if (end - start == tl && strncasecmp(v + start, token, tl) == 0)
            return true;
    }
    return false;
}

static const char *ws__trim(const char *v, size_t *n)
{
    while (*n && (*v == ' ' || *v == '\t')) {
        v++;
        (*n)--;
    }
    while (*n && (v[*n - 1] == ' ' || v[*n - 1] == '\t'))
        (*n)--;
    return v;
}

/* Cross-site WebSocket hijacking: a page on another site can open a socket
 * here and the browser attaches our cookie. So a cookie-authenticated
 * upgrade must come from our own origin: the Origin's host equal to the
 * Host header, or the origin of GSS_PUBLIC_URL (behind a proxy that
 * rewrites Host). Clients that are not browsers send no Origin. */
static bool ws__origin_ok(const struct http_req *req)
{
    size_t      ol, hl;
    const char *o = http_header(req, "Origin", &ol);
    if (!o)
        return true;
    o = ws__trim(o, &ol);
    const char *sep = memmem(o, ol, "://", 3);
    const char *host = http_header(req, "Host", &hl);
    if (sep && host) {
        const char *oh = sep + 3;
        size_t      ohl = ol - (size_t)(oh - o);
        host = ws__trim(host, &hl);
        if (ohl == hl && strncasecmp(oh, host, hl) == 0)
            return true;
    }
    const char *pu = req->svc->cfg->public_url;
    const char *psep = pu ? strstr(pu, "://") : NULL;
    if (!psep)
        return false;
    size_t plen = (size_t)(psep + 3 - pu) + strcspn(psep + 3, "/");
    return plen == ol && strncasecmp(pu, o, ol) == 0;
}

/* Answers a refused handshake. */
static void ws__refuse(struct ws_hub *hub, struct http_req *req, int status, const char *code, const char *msg)
{
    if (hub)
        hub->rejected++;
    if (status == 426) {
        http_add_header(req, "Upgrade", "websocket");
        http_add_header(req, "Sec-WebSocket-Version", "13");
    }
    http_error(req, status, code, msg);
}

void ws_hub_accept(struct ws_hub *hub, struct http_req *req, bool echo)
{
    size_t      n;
    const char *v;
    if (!hub || hub->stopped || req->svc->http->draining) {
        ws__refuse(hub, req, 503, "unavailable", "the server is shutting down");
        return;
    }
    if (req->method != HTTP_M_GET) {
        http_add_header(req, "Allow", "GET");
        ws__refuse(hub, req, 405, "method_not_allowed", "a WebSocket handshake is a GET");
        return;
    }
    if (!echo && !req->session) {
        ws__refuse(hub, req, 401, "unauthorized", "a session is required");
        return;
    }
    v = http_header(req, "Upgrade", &n);
    bool upgrade = v && ws__has_token(v, n, "websocket");
    v = http_header(req, "Connection", &n);
    upgrade = upgrade && v && ws__has_token(v, n, "upgrade") && http_req_is_upgrade(req);
    if (!upgrade) {
        ws__refuse(hub, req, 426, "upgrade_required", "this path speaks WebSocket only");
        return;
    }
    v = http_header(req, "Sec-WebSocket-Version", &n);
    if (v)
        v = ws__trim(v, &n);
    if (!v || n != 2 || memcmp(v, "13", 2) != 0) {
        ws__refuse(hub, req, 426, "unsupported_version", "only WebSocket version 13 is spoken");
        return;
    }
    char accept[29];
    v = http_header(req, "Sec-WebSocket-Key", &n);
    if (v)
        v = ws__trim(v, &n);
    if (!v || ws_accept_key(v, n, accept) < 0) {
        ws__refuse(hub, req, 400, "bad_handshake", "Sec-WebSocket-Key must be 16 bytes in base64");
        return;
    }
    /* The auth step takes the Bearer token when an Authorization header is
     * present and the cookie otherwise (auth.h), so no header means cookie. */
    bool via_cookie = http_header(req, "Authorization", NULL) == NULL;
    if (!echo && via_cookie && !ws__origin_ok(req)) {
        ws__refuse(hub, req, 403, "bad_origin", "the Origin of this page may not use the session cookie");
        return;
    }

    /* No subprotocol and no extension is negotiated: the headers that would
     * accept one are simply not sent. */
    char extra[160];
    snprintf(extra, sizeof(extra), "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n", accept);
    struct auth_session *session = echo ? NULL : auth_session_ref(req->session);
    struct http_conn    *c = http_upgrade(req, extra); /* frees req */
    if (!c) {
        auth_session_release(session);
        return;
    }

    struct ws_conn *ws = xcalloc(1, sizeof(*ws));
    ws->conn = c;
    ws->hub = hub;
    ws->session = session;
    ws->role = session ? session->role : 0;
    ws->echo = echo;
    ws->state = WS_OPEN;
    ws_parser_init(&ws->parser, hub->max_message);
    ws->next = hub->socks;
    if (hub->socks)
        hub->socks->prev = ws;
    hub->socks = ws;
    hub->nsocks++;
    if (!echo)
        hub->nboards++;
    hub->upgrades++;
    c->ws = ws;
    c->ws_on_close = ws__on_conn_closed;
    c->ws_on_drain = ws__on_drain;

    uv_stream_t *s = (uv_stream_t *)&c->tcp;
    uv_read_stop(s);
    if (uv_read_start(s, ws__on_alloc, ws__on_read) < 0) {
        ws__close(ws, WS_HOW_ABORT, 0, NULL);
        return;
    }
    c->reading = true;
    timerq_arm(&c->srv->tq, &c->tnode, TQ_WS);
    /* Frames the client sent right behind its request are already here. The
     * parser copies what it keeps, so the buffer can go afterwards; the
     * socket then holds no input buffer while idle. */
    if (c->in.len)
        ws__feed(ws, (const uint8_t *)c->in.data, c->in.len);
    buf_free(&c->in);
}

/* ---- the hub ------------------------------------------------------------ */

static void ws__on_ping_timer(uv_timer_t *t)
{
    /* One ping frame, static, shared by every socket. */
    static const uint8_t ping[2] = {0x80 | WS_OP_PING, 0};
    struct ws_hub       *hub = t->data;
    struct ws_conn      *next;
    for (struct ws_conn *ws = hub->socks; ws; ws = next) {
        next = ws->next; /* nothing is freed synchronously, but be plain about it */
        if (ws->state == WS_OPEN)
            ws__send(ws, ping, sizeof(ping), NULL, NULL);
    }
}

struct ws_hub *ws_hub_new(struct gss_services *svc)
{
    struct ws_hub *hub = xcalloc(1, sizeof(*hub));
    hub->svc = svc;
    hub->max_message = (size_t)svc->cfg->ws_max_message;
    hub->max_queued = (size_t)svc->cfg->ws_max_queued;
    uv_timer_init(svc->loop, &hub->ping);
    hub->ping.data = hub;
    uv_timer_start(&hub->ping, ws__on_ping_timer, WS_PING_INTERVAL_MS, WS_PING_INTERVAL_MS);
    timerq_init(&hub->closeq, svc->loop, ws__on_close_wait);
    hub->closeq.data = hub;
    timerq_set_duration(&hub->closeq, WS_TQ_CLOSE_WAIT, WS_CLOSE_WAIT_MS);
    return hub;
}

void ws_hub_stop(struct ws_hub *hub)
{
    if (!hub || hub->stopped)
        return;
    hub->stopped = true;
    /* Normally none is left: the server drained them all before this. */
    for (struct ws_conn *ws = hub->socks; ws; ws = ws->next)
        ws__close(ws, WS_HOW_ABORT, 0, NULL);
    uv_timer_stop(&hub->ping);
    uv_close((uv_handle_t *)&hub->ping, NULL);
    timerq_close(&hub->closeq, NULL);
}

void ws_hub_free(struct ws_hub *hub)
{
    free(hub);
}

void ws_hub_broadcast(struct ws_hub *hub, unsigned role_mask, const char *json, size_t len)
{
    if (!hub || hub->stopped)
        return;
    hub->broadcasts++;
    if (hub->nboards == 0)
        return;
    /* A text frame that is not UTF-8 makes every client fail the connection. */
    if (!ws_utf8_valid((const uint8_t *)json, len)) {
        log_error("ws", "broadcast of %zu bytes dropped: not UTF-8", len);
        return;
    }
    uint8_t hdr[10];
    size_t  hl = ws_frame_header(hdr, WS_OP_TEXT, true, len);
    if (!hl)
        return;
    struct ws_shared *sh = xmalloc(sizeof(*sh) + hl + len);
    sh->refs = 1; /* ours, dropped after the loop */
    sh->len = hl + len;
    memcpy(sh->data, hdr, hl);
    memcpy(sh->data + hl, json, len);
    struct ws_conn *next;
    for (struct ws_conn *ws = hub->socks; ws; ws = next) {
        next = ws->next;
        if (ws->echo || ws->state != WS_OPEN || !(ws->role & role_mask))
            continue;
        sh->refs++;
        if (ws__send(ws, sh->data, sh->len, sh, NULL) == 0)
            hub->broadcast_writes++;
    }
    ws__release(sh, NULL);
}

void ws_hub_broadcast_resync(struct ws_hub *hub)
{
    static const char msg[] = "{\"type\":\"resync\"}";
    ws_hub_broadcast(hub, ROLE_ANY, msg, sizeof(msg) - 1);
}

size_t ws_hub_close_user(struct ws_hub *hub, int64_t user_id)
{
    size_t n = 0;
    if (!hub)
        return 0;
    for (struct ws_conn *ws = hub->socks; ws; ws = ws->next) {
        if (ws->session && ws->session->user_id == user_id && ws->state == WS_OPEN) {
            ws__close(ws, WS_HOW_START, WS_CLOSE_POLICY, "session ended");
            n++;
        }
    }
    return n;
}

size_t ws_hub_close_session(struct ws_hub *hub, const char *token_hash)
{
    size_t n = 0;
    if (!hub || !token_hash)
        return 0;
    for (struct ws_conn *ws = hub->socks; ws; ws = ws->next) {
        if (ws->session && ws->state == WS_OPEN && strcmp(ws->session->token_hash, token_hash) == 0) {
            ws__close(ws, WS_HOW_START, WS_CLOSE_POLICY, "session ended");
            n++;
        }
    }
    return n;
}

size_t ws_hub_count(const struct ws_hub *hub)
{
    return hub ? hub->nsocks : 0;
}

void ws_hub_metrics(const struct ws_hub *hub, struct buf *b)
{
    if (!hub)
        return;
    buf_printf(b,
               "# HELP gss_ws_connections Open WebSocket connections (boards and echo, closing ones too).\n"
               "# TYPE gss_ws_connections gauge\ngss_ws_connections %zu\n"
               "# HELP gss_ws_upgrades_total WebSocket handshakes accepted.\n"
               "# TYPE gss_ws_upgrades_total counter\ngss_ws_upgrades_total %llu\n"
               "# HELP gss_ws_rejected_total WebSocket handshakes refused (4xx/5xx).\n"
               "# TYPE gss_ws_rejected_total counter\ngss_ws_rejected_total %llu\n"
               "# HELP gss_ws_broadcasts_total Live messages handed to the hub for broadcast.\n"
               "# TYPE gss_ws_broadcasts_total counter\ngss_ws_broadcasts_total %llu\n"
               "# HELP gss_ws_broadcast_writes_total Broadcast frames queued to sockets.\n"
               "# TYPE gss_ws_broadcast_writes_total counter\ngss_ws_broadcast_writes_total %llu\n"
               "# HELP gss_ws_dropped_slow_total Sockets closed (1008) because their unsent bytes hit "
               "GSS_WS_MAX_QUEUED.\n"
               "# TYPE gss_ws_dropped_slow_total counter\ngss_ws_dropped_slow_total %llu\n"
               "# HELP gss_ws_protocol_errors_total Sockets failed for a protocol error (1002, 1007, 1009).\n"
               "# TYPE gss_ws_protocol_errors_total counter\ngss_ws_protocol_errors_total %llu\n"
               "# HELP gss_ws_messages_received_total Data messages received from clients.\n"
               "# TYPE gss_ws_messages_received_total counter\ngss_ws_messages_received_total %llu\n",
               hub->nsocks, (unsigned long long)hub->upgrades, (unsigned long long)hub->rejected,
               (unsigned long long)hub->broadcasts, (unsigned long long)hub->broadcast_writes,
               (unsigned long long)hub->dropped_slow, (unsigned long long)hub->protocol_errors,
               (unsigned long long)hub->messages_in);
}
