/*
 * curl_loop (ihttp_): outgoing HTTP(S) on the event loop, through one
 * libcurl multi handle (DESIGN.md §2, §6).
 *
 * Provides
 *   - ihttp_send: one request (method, URL, headers, body) whose answer
 *     (status, Retry-After, Content-Type, body up to a cap) or error comes
 *     back to a callback on the loop. Everything in the request is copied at
 *     call time: the caller's strings and body may die right after.
 *   - one multi handle per struct ihttp: its sockets are watched through
 *     store/uvpoll (CURLMOPT_SOCKETFUNCTION), its timeout is one uv_timer
 *     (CURLMOPT_TIMERFUNCTION). Connections are kept in the multi's cache
 *     and reused by later requests to the same host (HTTP/1.1 keep-alive,
 *     HTTP/2 multiplexing over TLS); DNS answers and TLS sessions are shared
 *     by every request (a CURLSH), so a request never waits for a lookup or
 *     a full handshake it could have skipped.
 *   - limits: every request has a total timeout and a connect timeout
 *     (the request's, else the defaults in struct ihttp_options); the answer
 *     body is capped (IHTTP_MAX_RESPONSE unless the request says less, or
 *     up to IHTTP_MAX_DOWNLOAD for a request marked download):
 *     past the cap the transfer stops with IHTTP_ERR_TOO_BIG.
 *   - TLS: peer and host name are always verified. There is no option to
 *     turn that off, not even for tests (a test CA goes in ca_file). Plain
 *     http:// is accepted because the test fakes listen on loopback; only
 *     http and https are accepted at all, and redirects are not followed.
 *
 * Callbacks run exactly once per request that ihttp_send accepted, on the
 * loop's thread, and never inside the call that queued them (nor inside
 * ihttp_cancel or ihttp_close): answers are delivered from libuv callbacks
 * (a socket became ready, the timer fired, or a uv_idle for cancellations).
 * A callback may call ihttp_send, ihttp_cancel (on another call) and
 * ihttp_close. ihttp_send returning NULL queued nothing: the callback will
 * not run.
 *
 * Memory: struct ihttp is the caller's (embedded or allocated) and must
 * stay valid until the loop has returned after ihttp_close. A call handle
 * (struct ihttp_call *) is valid from ihttp_send until its callback
 * returns; the response and its body are valid during the callback only.
 *
 * Shutdown: ihttp_close(h, grace_ms) refuses new requests at once, lets
 * requests in flight finish for at most grace_ms more (0: none), then
 * cancels the rest (their callbacks get IHTTP_ERR_CANCELLED) and closes
 * every handle; the loop can then end. ihttp_free after uv_run returned.
 *
 * Threads: the loop's thread only. ihttp_init calls curl_global_init,
 * which is not thread-safe: create the first ihttp before starting threads
 * that might use libcurl (gssd has none).
 */
#ifndef GSS_INTEGRATIONS_CURL_LOOP_H
#define GSS_INTEGRATIONS_CURL_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"

#define IHTTP_MAX_RESPONSE (1u << 20) /* bytes of answer body kept at most */
#define IHTTP_MAX_DOWNLOAD (64u << 20) /* ... of a request marked download (a file, not an API answer) */

enum ihttp_err {
    IHTTP_OK = 0,          /* an HTTP answer arrived (any status) */
    IHTTP_ERR_TIMEOUT,     /* the total or the connect timeout passed */
    IHTTP_ERR_DNS,         /* the host name did not resolve */
    IHTTP_ERR_CONNECT,     /* no TCP connection (refused, unreachable) */
    IHTTP_ERR_TLS,         /* handshake or certificate verification failed */
    IHTTP_ERR_CONN_LOST,   /* the connection broke: reset, closed without an answer, bad framing */
    IHTTP_ERR_TOO_BIG,     /* the answer body exceeded the cap */
    IHTTP_ERR_CANCELLED,   /* ihttp_cancel, or ihttp_close's grace ran out */
    IHTTP_ERR_BAD_REQUEST, /* libcurl refused the request itself (malformed URL, ...) */
    IHTTP_ERR_OTHER,
};

struct ihttp_options {
    int64_t     timeout_ms;           /* default total timeout (> 0) */
    int64_t     connect_timeout_ms;   /* default connect timeout (> 0; capped by the total) */
    long        max_host_connections; /* per host at once; 0: 32 */
    const char *ca_file;              /* CA bundle to verify against; NULL: the system's */
    const char *user_agent;           /* NULL: "gssd" */
};

struct ihttp_request {
    const char        *method;  /* "GET", "POST", "PUT", ...; NULL: POST with a body, else GET */
    const char        *url;     /* http:// or https:// */
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const void        *body;    /* sent as is (Content-Type is the caller's header) */
    size_t             body_len;
    int64_t            timeout_ms;         /* <= 0: the default */
    int64_t            connect_timeout_ms; /* <= 0: the default */
    size_t             max_response;       /* 0 or above IHTTP_MAX_RESPONSE: IHTTP_MAX_RESPONSE */
    bool               download;           /* max_response may be up to IHTTP_MAX_DOWNLOAD (a photo) */
};

struct ihttp_response {
    enum ihttp_err err;
    long           status;        /* the HTTP status when err == IHTTP_OK, else 0 or the status seen */
    int64_t        retry_after_s; /* Retry-After (seconds or an HTTP date, as seconds from now); -1: none */
    const char    *content_type;  /* NULL: none */
    const char    *body;          /* NUL-terminated; "" when none */
    size_t         body_len;
    const char    *error;        /* what went wrong, for logs ("" when err == IHTTP_OK); never the URL */
    bool           request_sent; /* the request left: the server may have acted on it */
    double         total_ms;     /* from ihttp_send to the answer */
};

struct ihttp_call;
typedef void (*ihttp_cb)(void *ud, struct ihttp_call *call, const struct ihttp_response *res);

struct uvpoll;

struct ihttp {
    uv_loop_t           *loop;
    void                *multi; /* CURLM * (void: curl.h stays out of this header) */
    void                *share; /* CURLSH * */
    struct ihttp_options opt;
    char                *ca_file, *user_agent; /* owned copies */
    char                *noproxy;              /* owned; NULL: libcurl's own (NO_PROXY) */
    uv_timer_t           timer;                /* libcurl's timeout */
    uv_timer_t           grace;                /* ihttp_close's deadline */
    uv_idle_t            defer;                /* delivers answers that are known without I/O */
    struct uvpoll      **socks;                /* owned array indexed by fd; entries owned */
    int                  nsocks;
    struct ihttp_call   *running;               /* list of calls in the multi */
    struct ihttp_call   *done_head, *done_tail; /* answers waiting for delivery */
    bool                 closing, closed, delivering;
    int                  inflight;
    /* counters since init */
    uint64_t requests, ok, errors[IHTTP_ERR_OTHER + 1], connects;
};

/* 0, or -1 (libcurl could not be set up; nothing to close). */
int ihttp_init(struct ihttp *h, uv_loop_t *loop, const struct ihttp_options *opt);
/* Queues a request; NULL when h is closing, the URL is not http(s), or
 * libcurl refused it (then cb will not run). */
struct ihttp_call *ihttp_send(struct ihttp *h, const struct ihttp_request *rq, ihttp_cb cb, void *ud);
/* Stops a request; its callback runs later with IHTTP_ERR_CANCELLED
 * (request_sent tells whether it had left). A call whose answer is already
 * waiting for delivery keeps that answer. Only between ihttp_send and the
 * callback. */
void ihttp_cancel(struct ihttp_call *call);
/* See the contract above. Safe to call twice, and from a callback. */
void ihttp_close(struct ihttp *h, uint64_t grace_ms);
void ihttp_free(struct ihttp *h);

void        ihttp_metrics(const struct ihttp *h, struct buf *b);
const char *ihttp_err_name(enum ihttp_err e); /* "ok", "timeout", ... */

#endif
