/*
 * curl_loop: libcurl's multi_socket API on libuv. The contract is in
 * curl_loop.h; the shape follows the libcurl "multi-uv" example and Kore's
 * src/curl.c, with the traps STYLE.md lists avoided:
 *
 *   - libcurl is never called from inside its own socket or timer
 *     callbacks: those only start, change or stop a uv_poll / the uv_timer,
 *     and libcurl runs later from the libuv callbacks (a timeout of 0 is a
 *     timer that fires on the next loop turn);
 *   - curl_multi_info_read is drained after every curl_multi_socket_action;
 *   - sockets: CURL_POLL_REMOVE is not a close. We own the socket's life
 *     through CURLOPT_OPENSOCKETFUNCTION / CLOSESOCKETFUNCTION: the poll
 *     handle of an fd is closed before libcurl closes the fd, and a new
 *     socket that reuses a number still registered (a socket libcurl closed
 *     without telling us, e.g. the threaded resolver's wake-up pair) gets
 *     its epoll registration renewed (uvpoll_reset).
 *
 * Answers are gathered on the done list (in the order libcurl finished
 * them) and delivered at the end of the libuv callback that found them, or
 * from the idle handle for answers known without I/O (cancellations).
 */
#include "integrations/curl_loop.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "store/uvpoll.h"

struct ihttp_call {
    struct ihttp      *h;
    CURL              *easy; /* NULL once finished or cancelled */
    struct curl_slist *headers;
    char              *body; /* the request body's copy */
    struct buf         resp;
    size_t             max_resp;
    bool               too_big; /* the write callback refused past the cap */
    bool               done;    /* on the done list */
    ihttp_cb           cb;
    void              *ud;
    struct ihttp_call *prev, *next; /* in h->running */
    struct ihttp_call *done_next;
    /* the outcome */
    enum ihttp_err err;
    long           status;
    int64_t        retry_after; /* seconds; -1: no Retry-After */
    char          *content_type;
    bool           sent;
    uint64_t       t0_ns, t1_ns;
    char           why[CURL_ERROR_SIZE];
    char           errbuf[CURL_ERROR_SIZE];
};

static void check_done(struct ihttp *h);
static void deliver(struct ihttp *h);
static void maybe_finish_close(struct ihttp *h);

const char *ihttp_err_name(enum ihttp_err e)
{
    switch (e) {
    case IHTTP_OK: return "ok";
    case IHTTP_ERR_TIMEOUT: return "timeout";
    case IHTTP_ERR_DNS: return "dns";
    case IHTTP_ERR_CONNECT: return "connect";
    case IHTTP_ERR_TLS: return "tls";
    case IHTTP_ERR_CONN_LOST: return "connection_lost";
    case IHTTP_ERR_TOO_BIG: return "too_big";
    case IHTTP_ERR_CANCELLED: return "cancelled";
    case IHTTP_ERR_BAD_REQUEST: return "bad_request";
    case IHTTP_ERR_OTHER: return "other";
    }
    return "other";
}

static enum ihttp_err map_code(CURLcode rc, bool too_big)
{
    switch (rc) {
    case CURLE_OK: return IHTTP_OK;
    case CURLE_OPERATION_TIMEDOUT: return IHTTP_ERR_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return IHTTP_ERR_DNS;
    case CURLE_COULDNT_CONNECT: return IHTTP_ERR_CONNECT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED: return IHTTP_ERR_TLS;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
    case CURLE_BAD_CONTENT_ENCODING: return IHTTP_ERR_CONN_LOST;
    case CURLE_WRITE_ERROR: return too_big ? IHTTP_ERR_TOO_BIG : IHTTP_ERR_OTHER;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT: return IHTTP_ERR_BAD_REQUEST;
    default: return IHTTP_ERR_OTHER;
    }
}

/* ---- sockets ------------------------------------------------------------- */

static void sock_forget(struct ihttp *h, curl_socket_t fd)
{
    if (fd >= 0 && fd < h->nsocks && h->socks[fd]) {
        uvpoll_close(h->socks[fd]);
        h->socks[fd] = NULL;
    }
}

static int sock_slot(struct ihttp *h, curl_socket_t fd)
{
    if (fd < 0)
        return -1;
    if (fd >= h->nsocks) {
        int n = h->nsocks ? h->nsocks : 64;
        while (n <= fd)
            n *= 2;
        h->socks = xrealloc(h->socks, (size_t)n * sizeof(*h->socks));
        memset(h->socks + h->nsocks, 0, (size_t)(n - h->nsocks) * sizeof(*h->socks));
        h->nsocks = n;
    }
    return 0;
}

static void on_sock_ready(struct uvpoll *up, void *owner, int events)
{
    struct ihttp *h = owner;
    int           flags = 0, running = 0;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(h->multi, uvpoll_fd(up), flags, &running);
    check_done(h);
}

/* CURLMOPT_SOCKETFUNCTION: watch exactly what libcurl asks for. */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct ihttp *h = userp;
    (void)easy;
    (void)socketp;
    if (what == CURL_POLL_REMOVE) {
        sock_forget(h, s);
        return 0;
    }
    if (h->closed)
        return 0; /* tearing down: no new watches */
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    if (sock_slot(h, s) < 0)
        return -1;
    int rc = uvpoll_watch(&h->socks[s], h->loop, s, ev, on_sock_ready, h);
    if (rc < 0) {
        log_error("http_out", "cannot watch socket %d: %s", (int)s, uv_strerror(rc));
        return -1; /* libcurl fails the transfer */
    }
    return 0;
}

static curl_socket_t on_open_socket(void *ud, curlsocktype purpose, struct curl_sockaddr *a)
{
    struct ihttp *h = ud;
    (void)purpose;
    int fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    if (fd < h->nsocks && h->socks[fd]) {
        /* A watch left on an earlier socket with this number, which was
         * closed behind our back: its epoll registration died with it.
         * libcurl may still believe it watches the number, so keep the
         * events and register them afresh for the new socket. */
        int ev = uvpoll_events(h->socks[fd]);
        uvpoll_reset(h->socks[fd]);
        if (ev)
            uvpoll_set(h->socks[fd], ev);
    }
    return fd;
}

static int on_close_socket(void *ud, curl_socket_t fd)
{
    struct ihttp *h = ud;
    sock_forget(h, fd); /* the poll handle goes before the fd does */
    return close(fd);
}

/* ---- the timer ------------------------------------------------------------ */

static void on_timeout(uv_timer_t *t)
{
    struct ihttp *h = t->data;
    int           running = 0;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(h);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer, 0 means "soon" (the next
 * loop turn, never now: we are inside libcurl). */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct ihttp *h = userp;
    (void)multi;
    if (h->closed)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- a call's data callbacks ----------------------------------------------- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct ihttp_call *c = ud;
    size_t             len = size * n;
    if (c->resp.len + len > c->max_resp) {
        c->too_big = true;
        return 0; /* CURLE_WRITE_ERROR: the transfer stops here */
    }
    buf_append(&c->resp, p, len);
    return len;
}

static int64_t parse_retry_after(const char *v, size_t n)
{
    char tmp[80];
    while (n && (*v == ' ' || *v == '\t'))
        v++, n--;
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
        n--;
    if (n == 0 || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    if (strspn(tmp, "0123456789") == n)
        return n > 9 ? 999999999 : strtoll(tmp, NULL, 10);
    time_t at = curl_getdate(tmp, NULL); /* an HTTP date */
    if (at < 0)
        return -1;
    time_t now = time(NULL);
    return at > now ? (int64_t)(at - now) : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct ihttp_call *c = ud;
    size_t             len = size * n;
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0)
        c->retry_after = -1; /* a new answer (after a 100 Continue): its own headers */
    else if (len > 12 && strncasecmp(p, "retry-after:", 12) == 0)
        c->retry_after = parse_retry_after(p + 12, len - 12);
    return len;
}

/* ---- calls ------------------------------------------------------------------ */

static void unlink_running(struct ihttp *h, struct ihttp_call *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        h->running = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    h->inflight--;
}

static void push_done(struct ihttp *h, struct ihttp_call *c)
{
    c->done = true;
    c->done_next = NULL;
    if (h->done_tail)
        h->done_tail->done_next = c;
    else
        h->done_head = c;
    h->done_tail = c;
}

static void call_free(struct ihttp_call *c)
{
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    free(c->body);
    free(c->content_type);
    buf_free(&c->resp);
    free(c);
}

/* Takes the outcome out of the easy handle, gives the handle back (its
 * connection stays in the multi's cache when it can be reused) and queues
 * the answer. */
static void finish(struct ihttp_call *c, CURLcode rc, enum ihttp_err forced)
{
    struct ihttp *h = c->h;
    CURL         *e = c->easy;
    long          status = 0, reqsize = 0, nconn = 0;
    char         *ct = NULL;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(e, CURLINFO_REQUEST_SIZE, &reqsize);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &nconn);
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
    c->status = status;
    c->sent = reqsize > 0;
    h->connects += nconn > 0 ? (uint64_t)nconn : 0;
    if (ct)
        c->content_type = xstrdup(ct);
    c->err = forced != IHTTP_OK ? forced : map_code(rc, c->too_big);
    if (c->err == IHTTP_ERR_CANCELLED)
        snprintf(c->why, sizeof(c->why), "cancelled");
    else if (c->err == IHTTP_ERR_TOO_BIG)
        snprintf(c->why, sizeof(c->why), "answer body over %zu bytes", c->max_resp);
    else if (c->err != IHTTP_OK)
        snprintf(c->why, sizeof(c->why), "%s", c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc));
    curl_multi_remove_handle(h->multi, e);
    curl_easy_cleanup(e);
    c->easy = NULL;
    c->t1_ns = uv_hrtime();
    unlink_running(h, c);
    push_done(h, c);
}

static void check_done(struct ihttp *h)
{
    CURLMsg *msg;
    int      left;
    while ((msg = curl_multi_info_read(h->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL              *e = msg->easy_handle;
        CURLcode           rc = msg->data.result; /* msg dies with remove_handle: read it first */
        struct ihttp_call *c = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&c);
        if (c)
            finish(c, rc, IHTTP_OK);
    }
    deliver(h);
}

static void deliver(struct ihttp *h)
{
    if (h->delivering)
        return; /* a callback further up the stack is delivering: it goes on */
    h->delivering = true;
    while (h->done_head) {
        struct ihttp_call *c = h->done_head;
        h->done_head = c->done_next;
        if (!h->done_head)
            h->done_tail = NULL;
        if (!c->resp.data)
            buf_reserve(&c->resp, 1);
        c->resp.data[c->resp.len] = '\0';
        struct ihttp_response res = {
            .err = c->err,
            .status = c->status,
            .retry_after_s = c->retry_after,
            .content_type = c->content_type,
            .body = c->resp.data,
            .body_len = c->resp.len,
            .error = c->why,
            .request_sent = c->sent,
            .total_ms = (double)(c->t1_ns - c->t0_ns) / 1e6,
        };
        if (c->err == IHTTP_OK)
            h->ok++;
        else
            h->errors[c->err]++;
        c->cb(c->ud, c, &res);
        call_free(c);
    }
    h->delivering = false;
    maybe_finish_close(h);
}

static void on_defer(uv_idle_t *i)
{
    struct ihttp *h = i->data;
    uv_idle_stop(i);
    deliver(h);
}

static void kick_defer(struct ihttp *h)
{
    if (!uv_is_closing((uv_handle_t *)&h->defer))
        uv_idle_start(&h->defer, on_defer);
}

static bool method_ok(const char *m)
{
    size_t n = strlen(m);
    return n > 0 && n <= 16 && strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

struct ihttp_call *ihttp_send(struct ihttp *h, const struct ihttp_request *rq, ihttp_cb cb, void *ud)
{
    if (!h || h->closing || !rq || !rq->url || !cb)
        return NULL;
    if (strncasecmp(rq->url, "http://", 7) != 0 && strncasecmp(rq->url, "https://", 8) != 0)
        return NULL;
    const char *method = rq->method ? rq->method : (rq->body_len ? "POST" : "GET");
    if (!method_ok(method))
        return NULL;
    struct ihttp_call *c = xcalloc(1, sizeof(*c));
    c->h = h;
    c->cb = cb;
    c->ud = ud;
    c->retry_after = -1;
    size_t cap = rq->download ? IHTTP_MAX_DOWNLOAD : IHTTP_MAX_RESPONSE;
    c->max_resp = !rq->max_response ? IHTTP_MAX_RESPONSE : rq->max_response < cap ? rq->max_response : cap;
    c->easy = curl_easy_init();
    if (!c->easy)
        goto fail;
    CURL   *e = c->easy;
    int64_t total = rq->timeout_ms > 0 ? rq->timeout_ms : h->opt.timeout_ms;
    int64_t conn = rq->connect_timeout_ms > 0 ? rq->connect_timeout_ms : h->opt.connect_timeout_ms;
    if (conn > total)
        conn = total;
    bool ok = curl_easy_setopt(e, CURLOPT_URL, rq->url) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              /* never off: there is no setting that reaches these two */
              curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
              curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    if (!ok) {
        log_warn("http_out", "libcurl refused the request's URL or protocol options");
        goto fail;
    }
    if (h->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file);
    if (h->noproxy)
        curl_easy_setopt(e, CURLOPT_NOPROXY, h->noproxy);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)c);
    curl_easy_setopt(e, CURLOPT_SHARE, (CURLSH *)h->share);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)total);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)conn);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, h);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, h);

    /* "Expect:" off: a 100-continue round trip buys nothing for bodies this small. */
    c->headers = curl_slist_append(NULL, "Expect:");
    for (const char *const *hd = rq->headers; hd && *hd; hd++) {
        struct curl_slist *l = curl_slist_append(c->headers, *hd);
        if (!l)
            goto fail;
        c->headers = l;
    }
    if (!c->headers)
        goto fail;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers);

    bool with_body = rq->body_len > 0 || !strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH");
    if (with_body) {
        c->body = xmalloc(rq->body_len + 1);
        if (rq->body_len)
            memcpy(c->body, rq->body, rq->body_len);
        c->body[rq->body_len] = '\0';
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
    }
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    else if (!strcmp(method, "GET") && !with_body)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);

    c->t0_ns = uv_hrtime();
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
        goto fail;
    c->next = h->running;
    if (h->running)
        h->running->prev = c;
    h->running = c;
    h->inflight++;
    h->requests++;
    return c;

fail:
    call_free(c);
    return NULL;
}

void ihttp_cancel(struct ihttp_call *c)
{
    if (!c || c->done || !c->easy)
        return;
    struct ihttp *h = c->h;
    finish(c, CURLE_OK, IHTTP_ERR_CANCELLED);
    kick_defer(h);
}

static void cancel_all(struct ihttp *h)
{
    while (h->running)
        finish(h->running, CURLE_OK, IHTTP_ERR_CANCELLED);
    kick_defer(h);
}

static void on_grace(uv_timer_t *t)
{
    struct ihttp *h = t->data;
    if (h->running)
        log_warn("http_out", "shutdown: cancelling %d request(s) still in flight", h->inflight);
    cancel_all(h);
}

static void maybe_finish_close(struct ihttp *h)
{
    if (!h->closing || h->closed || h->delivering || h->running || h->done_head)
        return;
    h->closed = true;
    /* Closes the cached connections: their close-socket callbacks drop
     * the poll handles. */
    curl_multi_cleanup(h->multi);
    h->multi = NULL;
    curl_share_cleanup(h->share);
    h->share = NULL;
    for (int fd = 0; fd < h->nsocks; fd++)
        sock_forget(h, fd);
    uv_close((uv_handle_t *)&h->timer, NULL);
    uv_close((uv_handle_t *)&h->grace, NULL);
    uv_close((uv_handle_t *)&h->defer, NULL);
}

void ihttp_close(struct ihttp *h, uint64_t grace_ms)
{
    if (!h || h->closed)
        return;
    bool again = h->closing;
    h->closing = true;
    if (h->running) {
        if (grace_ms == 0)
            cancel_all(h);
        else if (!again)
            uv_timer_start(&h->grace, on_grace, grace_ms, 0);
        return;
    }
    if (h->done_head)
        kick_defer(h); /* delivered first, then closed */
    else
        maybe_finish_close(h);
}

int ihttp_init(struct ihttp *h, uv_loop_t *loop, const struct ihttp_options *opt)
{
    memset(h, 0, sizeof(*h));
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    h->loop = loop;
    h->opt = *opt;
    if (h->opt.timeout_ms <= 0)
        h->opt.timeout_ms = 10000;
    if (h->opt.connect_timeout_ms <= 0)
        h->opt.connect_timeout_ms = 3000;
    if (h->opt.max_host_connections <= 0)
        h->opt.max_host_connections = 32;
    h->ca_file = opt->ca_file ? xstrdup(opt->ca_file) : NULL;
    h->user_agent = xstrdup(opt->user_agent ? opt->user_agent : "gssd");
    h->opt.ca_file = h->ca_file;
    h->opt.user_agent = h->user_agent;
    /* A proxy from the environment is honoured (an egress proxy), but never
     * for loopback, where the test fakes listen, unless NO_PROXY says more. */
    if (!getenv("NO_PROXY") && !getenv("no_proxy"))
        h->noproxy = xstrdup("localhost,127.0.0.1,::1");
    h->multi = curl_multi_init();
    h->share = curl_share_init();
    if (!h->multi || !h->share)
        goto fail;
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket);
    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
    curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, h->opt.max_host_connections);
    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, h->opt.max_host_connections * 2);
    uv_timer_init(loop, &h->timer);
    uv_timer_init(loop, &h->grace);
    uv_idle_init(loop, &h->defer);
    h->timer.data = h->grace.data = h->defer.data = h;
    return 0;

fail:
    if (h->multi)
        curl_multi_cleanup(h->multi);
    if (h->share)
        curl_share_cleanup(h->share);
    free(h->ca_file);
    free(h->user_agent);
    free(h->noproxy);
    curl_global_cleanup();
    memset(h, 0, sizeof(*h));
    return -1;
}

void ihttp_free(struct ihttp *h)
{
    if (!h || !h->loop)
        return;
    free(h->socks);
    free(h->ca_file);
    free(h->user_agent);
    free(h->noproxy);
    h->socks = NULL;
    h->ca_file = h->user_agent = h->noproxy = NULL;
    h->loop = NULL;
    curl_global_cleanup();
}

void ihttp_metrics(const struct ihttp *h, struct buf *b)
{
    if (!h || !h->loop)
        return;
    buf_puts(b, "# HELP gss_http_out_requests_total Outgoing HTTP requests (Telegram, WhatsApp) by outcome.\n"
                "# TYPE gss_http_out_requests_total counter\n");
    buf_printf(b, "gss_http_out_requests_total{outcome=\"ok\"} %llu\n", (unsigned long long)h->ok);
    for (int e = IHTTP_ERR_TIMEOUT; e <= IHTTP_ERR_OTHER; e++)
        buf_printf(b, "gss_http_out_requests_total{outcome=\"%s\"} %llu\n", ihttp_err_name((enum ihttp_err)e),
                   (unsigned long long)h->errors[e]);
    buf_printf(b,
               "# HELP gss_http_out_inflight Outgoing requests not answered yet.\n"
               "# TYPE gss_http_out_inflight gauge\ngss_http_out_inflight %d\n"
               "# HELP gss_http_out_connections_total Connections opened (a request on a reused one opens none).\n"
               "# TYPE gss_http_out_connections_total counter\ngss_http_out_connections_total %llu\n",
               h->inflight, (unsigned long long)h->connects);
}
