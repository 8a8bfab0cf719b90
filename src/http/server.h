/*
 * server: the HTTP/1.1 listener and its connections.
 *
 * Owns the listening socket(s), every connection, and the one timer queue
 * that enforces header-read and idle timeouts. A connection reads into its
 * input buffer, llhttp parses one request at a time (pipelined requests wait
 * in the buffer, answered strictly in order), the router picks a route, the
 * auth step runs when the route needs a session, and the handler answers.
 *
 * Limits: header block 16 KiB (431), body over the route's cap (413, read no
 * further), malformed (400 and close), GSS_MAX_CONNS open connections (then
 * 503 and close), header timeout from a request's first byte, idle timeout
 * between requests.
 *
 * Shutdown: http_server_drain() closes the listener, closes idle
 * connections, lets in-flight requests finish (answered with
 * Connection: close), and calls on_drained once no connection is left, or
 * force-closes everything after the deadline.
 */
#ifndef GSS_HTTP_SERVER_H
#define GSS_HTTP_SERVER_H

#include <llhttp.h>
#include <stdbool.h>
#include <uv.h>

#include "core/buf.h"
#include "core/timerq.h"
#include "http/http.h"
#include "http/router.h"

#define HTTP_MAX_HEADER_BYTES (16 * 1024)

/* Timeout kinds (one timer queue; each kind has one duration). TQ_BODY and
 * TQ_STREAM run from the end of the headers and are never re-armed by
 * reads, so a body trickled a byte at a time cannot hold a connection past
 * them. */
enum { TQ_HEADER = 0, TQ_IDLE = 1, TQ_WS = 2, TQ_BODY = 4, TQ_STREAM = 5, TQ_KICK = 6 /* 0 ms: parse on the next turn */ };

struct http_server;
typedef void (*http_auth_fn)(struct http_req *req, void (*next)(struct http_req *req));
/* Serves a GET/HEAD that no route matched (the web app's files): answers
 * and returns true, or sends nothing and returns false (the server then
 * answers 404). The request's route is the "static" metrics bucket. */
typedef bool (*http_fallback_fn)(void *ud, struct http_req *req);

struct http_server {
    struct gss_services *svc;      /* not owned */
    uv_tcp_t             listener; /* owned */
    bool                 listening;
    struct timerq        tq;     /* header/idle timeouts of every connection */
    struct http_conn    *conns;  /* intrusive list of open connections */
    size_t               nconns; /* open, counted against max_conns */
    size_t               max_conns;
    int64_t              body_max;
    const struct router *router;
    http_auth_fn         auth;     /* may be NULL: routes needing roles then get 401 */
    http_fallback_fn     fallback; /* may be NULL: unmatched paths get 404 */
    void                *fallback_ud;
    struct http_route    static_route, unmatched_route; /* metric buckets */
    bool                 draining;
    uv_timer_t           drain_timer;
    void (*on_drained)(struct http_server *srv);
    struct buf   logbuf; /* request log lines, flushed once per loop turn */
    uv_prepare_t flush;  /* flushes logbuf before the loop blocks */
    uint64_t     rid_counter;
    char         rid_prefix[12];
    char         date[40]; /* cached Date header value */
    uint64_t     date_sec;
    bool         log_requests;
    uint64_t     log_sec;      /* second log_when was formatted for */
    char         log_when[24]; /* "YYYY-MM-DDTHH:MM:SS" of log_sec */
    /* metrics */
    uint64_t latency_buckets[16];
    double   latency_sum;
    uint64_t latency_count;
    uint64_t accepted, rejected_overload;
    int      closing_handles;
};

/* Limits and timeouts from svc->cfg, handles on svc->loop; requests carry
 * svc (req->svc). auth and fallback are set by the caller afterwards. */
int http_server_init(struct http_server *srv, struct gss_services *svc, const struct router *router);
/* Binds and listens; reuseport for --workers. 0 or a libuv error. */
int http_server_listen(struct http_server *srv, const char *host, int port, bool reuseport);
/* Serves HTTP on an already connected socket (tests and fuzzing: a socketpair). */
int  http_server_adopt(struct http_server *srv, uv_os_sock_t fd);
void http_server_drain(struct http_server *srv, uint64_t deadline_ms, void (*on_drained)(struct http_server *));
/* Closes the server's own handles (after drain). */
void http_server_close(struct http_server *srv);

/* Latency histogram bucket upper bounds, seconds. */
extern const double http_latency_bounds[16];

/* The TCP handle of a connection (ws.c reads and writes it after http_upgrade). */
uv_tcp_t *http_conn_tcp(struct http_conn *c);

#endif
