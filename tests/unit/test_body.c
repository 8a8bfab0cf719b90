/*
 * Regression tests from the review of request bodies in http/server.c
 * (streamed routes, the auth step before the body, the parser around them).
 *
 * A real server runs on a libuv loop; its connection is one end of a
 * socketpair (http_server_adopt), the test writes the request bytes to the
 * other end and reads the answers from it. The handlers below are the
 * test's own: a streamed route whose behaviour each test picks (answer at
 * once or later, hold, stop), and a fake auth step that answers when the
 * test says so. The test reaches the connection's internals (conn.h) where
 * the point is what the server does not do (read a body before it is
 * admitted).
 *
 *  - malformed_chunk: a bad chunk size inside a streamed body. Before the
 *    fix conn_fail answered 400 on the request the handler held (freeing it
 *    under the handler) and the handler's on_end never ran: an upload's
 *    file, fd and state leaked, and its later answer was a use-after-free.
 *  - timeout_late_answer: the body deadline passes, the handler answers a
 *    moment later (allowed: "answers exactly once"), the client meanwhile
 *    sends the rest of the body and a pipelined request. Before the fix the
 *    parser went on: the rest went into req->body and, at its end, dispatch
 *    ran the handler a second time.
 *  - stop_late_answer: on_data returns -1 and answers a moment later. Before
 *    the fix conn_fail answered (and freed) the held request at once; the
 *    handler's own answer then touched freed memory (ASan aborts).
 *  - trailer: a chunked body's trailer was appended to the request's
 *    headers after the handler had read them (hdrbuf may move under a
 *    pointer it holds; a field nobody authenticated appears).
 *  - gone_during_auth: the client leaves while the auth step runs; the
 *    request is answered 499 (client_gone, as the handlers do), not 400, and
 *    the handler never runs.
 *  - no_read_before_stream: with a synchronous auth step the server went
 *    back to reading (and buffering) the body before the handler had called
 *    http_body_stream; 100 Continue must also wait for it.
 *  - stream_pipeline: the good path: body bytes that came with the headers,
 *    hold and resume, the answer, and a pipelined request after it on the
 *    same connection.
 *
 * Every test ends with uv_loop_close() == 0.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "core/config.h"
#include "core/log.h"
#include "http/conn.h"
#include "http/router.h"
#include "http/server.h"
#include "http/services.h"

enum mode {
    M_ANSWER,      /* on_end answers at once */
    M_LATE,        /* on_end answers 150 ms later */
    M_STOP_LATE,   /* the first on_data returns -1; the answer comes 50 ms later */
    M_HOLD,        /* the first on_data holds; http_body_resume 200 ms later */
    M_DELAY_START, /* http_body_stream only 300 ms after the handler ran */
};

struct world {
    uv_loop_t           loop;
    struct gss_config   cfg;
    struct router       router;
    struct gss_services svc;
    struct http_server  srv;
    int                 fd;  /* the client's end */
    struct buf          got; /* everything the server sent */
    uv_timer_t          later;
    bool                later_used;
    /* what the handlers saw */
    enum mode        mode;
    int              handler_calls, end_calls, end_status, data_calls;
    size_t           body_bytes;
    unsigned         nhdrs_at_start, nhdrs_at_end;
    bool             trailer_seen;
    bool             reading_before_stream;
    struct http_req *req;
    /* the fake auth step */
    struct http_req *auth_req;
    void (*auth_next)(struct http_req *);
};

static struct world W;

/* ---- the streamed route ------------------------------------------------- */

static void answer_end(struct http_req *req, int status)
{
    if (status == 0)
        http_respond(req, 200, "text/plain", "ok", 2);
    else if (status == UV_ETIMEDOUT)
        http_error(req, 408, "handler_timeout", "timed out");
    else if (status == UV_EPROTO)
        http_error(req, 400, "handler_eproto", "malformed");
    else
        http_error(req, 400, "handler_other", "other");
}

static void on_later(uv_timer_t *t)
{
    (void)t;
    struct http_req *req = W.req;
    if (W.mode == M_LATE) {
        answer_end(req, W.end_status);
    } else if (W.mode == M_STOP_LATE) {
        http_error(req, 422, "handler_stopped", "stopped");
    } else if (W.mode == M_HOLD && W.end_calls == 0) {
        http_body_resume(req); /* (never after the answer: req is gone then) */
    }
}

static void later(uint64_t ms)
{
    W.later_used = true;
    uv_timer_start(&W.later, on_later, ms, 0);
}

static int on_data(struct http_req *req, const char *data, size_t len, void *ud)
{
    (void)req;
    (void)data;
    (void)ud;
    W.data_calls++;
    W.body_bytes += len;
    if (W.mode == M_STOP_LATE) {
        later(50);
        return -1;
    }
    if (W.mode == M_HOLD && W.data_calls == 1) {
        later(200);
        return 1;
    }
    return 0;
}

static void on_end(struct http_req *req, int status, void *ud)
{
    (void)ud;
    W.end_calls++;
    W.end_status = status;
    W.nhdrs_at_end = req->nhdrs;
    W.trailer_seen = http_header(req, "X-Trailer", NULL) != NULL;
    if (W.mode == M_LATE) {
        later(150);
        return;
    }
    answer_end(req, status);
}

static void start_stream(struct http_req *req)
{
    if (http_body_stream(req, on_data, on_end, NULL) < 0)
        http_error(req, 499, "client_gone", "gone");
}

static void on_delayed_start(uv_timer_t *t)
{
    (void)t;
    start_stream(W.req);
}

static void h_stream(struct http_req *req)
{
    W.handler_calls++;
    W.req = req;
    W.nhdrs_at_start = req->nhdrs;
    if (W.mode == M_DELAY_START) {
        W.later_used = true;
        uv_timer_start(&W.later, on_delayed_start, 300, 0);
        return;
    }
    start_stream(req);
}

static void h_get(struct http_req *req)
{
    http_respond(req, 200, "text/plain", "get", 3);
}

/* A fake auth step: synchronous (admits at once) unless a test holds it. */
static bool auth_async;

static void fake_auth(struct http_req *req, void (*next)(struct http_req *))
{
    if (auth_async) {
        W.auth_req = req;
        W.auth_next = next;
        return;
    }
    next(req);
}

/* ---- the world ---------------------------------------------------------- */

static void world_up(enum mode mode)
{
    char err[256];
    memset(&W, 0, sizeof(W));
    setenv("GSS_BODY_MAX", "65536", 1);
    setenv("GSS_LOG_REQUESTS", "0", 1);
    setenv("GSS_LOG_LEVEL", "error", 1);
    /* short only where the deadline is the point: elsewhere a loaded machine must not hit it */
    setenv("GSS_BODY_DEADLINE_MS", mode == M_LATE ? "200" : "5000", 1);
    assert_int_equal(config_load(&W.cfg, err, sizeof(err)), 0);
    log_set_level(LOG_ERROR);
    W.mode = mode;
    assert_int_equal(uv_loop_init(&W.loop), 0);
    uv_timer_init(&W.loop, &W.later);
    W.svc.loop = &W.loop;
    W.svc.cfg = &W.cfg;
    W.svc.http = &W.srv;
    router_init(&W.router);
    router_add(&W.router, HTTP_M_POST, "/s", h_stream, 0)->body = ROUTE_BODY_STREAM;
    struct http_route *a = router_add(&W.router, HTTP_M_POST, "/a", h_stream, 1);
    a->body = ROUTE_BODY_STREAM;
    router_add(&W.router, HTTP_M_GET, "/g", h_get, 0);
    assert_int_equal(http_server_init(&W.srv, &W.svc, &W.router), 0);
    W.srv.auth = fake_auth;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    assert_int_equal(http_server_adopt(&W.srv, sv[0]), 0);
    W.fd = sv[1];
}

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the loop for about ms, collecting what the server sends. */
static void pump(int ms)
{
    uint64_t end = ms_now() + (uint64_t)ms;
    char     b[65536];
    do {
        uv_run(&W.loop, UV_RUN_NOWAIT);
        ssize_t n;
        while (W.fd >= 0 && (n = read(W.fd, b, sizeof(b))) > 0)
            buf_append(&W.got, b, (size_t)n);
        usleep(1000);
    } while (ms_now() < end);
}

/* Runs the loop until cond holds (or max_ms pass: the assert after it then
 * fails), so that a loaded machine only makes a test slower. */
#define PUMP_UNTIL(cond, max_ms)                                                                                       \
    do {                                                                                                               \
        for (uint64_t until_ = ms_now() + (max_ms); !(cond) && ms_now() < until_;)                                     \
            pump(2);                                                                                                   \
    } while (0)

static void send_str(const char *s)
{
    size_t n = strlen(s), off = 0;
    while (off < n) {
        ssize_t k = write(W.fd, s + off, n - off);
        assert_true(k > 0);
        off += (size_t)k;
    }
}

static bool conn_gone(void)
{
    return W.srv.conns == NULL;
}

/* How many status lines "HTTP/1.1 <code>" the server sent, and of which code. */
static int count_status(const char *code)
{
    char pat[32];
    snprintf(pat, sizeof(pat), "HTTP/1.1 %s", code);
    int         n = 0;
    const char *p = W.got.data, *end = W.got.data + W.got.len;
    while (p && p < end) {
        const char *hit = memmem(p, (size_t)(end - p), pat, strlen(pat));
        if (!hit)
            break;
        n++;
        p = hit + 1;
    }
    return n;
}

static int count_finals(void)
{
    int n = 0;
    for (const char *c = "2345"; *c; c++) {
        char code[2] = {*c, 0};
        n += count_status(code);
    }
    return n;
}

static bool got_has(const char *s)
{
    return W.got.len && memmem(W.got.data, W.got.len, s, strlen(s)) != NULL;
}

static void world_down(void)
{
    if (W.fd >= 0)
        close(W.fd);
    W.fd = -1;
    for (struct http_conn *c = W.srv.conns; c; c = c->next)
        http_conn_abort(c);
    uv_run(&W.loop, UV_RUN_NOWAIT);
    if (W.auth_req && W.auth_next) {
        /* a held auth step ends (its request detached by now) */
        void (*next)(struct http_req *) = W.auth_next;
        W.auth_next = NULL;
        next(W.auth_req);
    }
    http_server_close(&W.srv);
    uv_close((uv_handle_t *)&W.later, NULL);
    uv_run(&W.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&W.loop), 0);
    router_free(&W.router);
    config_free(&W.cfg);
    buf_free(&W.got);
}

/* ---- the tests ---------------------------------------------------------- */

static void test_malformed_chunk(void **state)
{
    (void)state;
    world_up(M_ANSWER);
    send_str("POST /s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    PUMP_UNTIL(W.body_bytes == 5, 2000);
    assert_int_equal(W.handler_calls, 1);
    assert_int_equal(W.body_bytes, 5);
    send_str("ZZ\r\nnot a chunk\r\n");
    PUMP_UNTIL(count_finals() > 0, 2000);
    pump(30); /* and nothing after it */
    assert_int_equal(W.end_calls, 1);
    assert_int_equal(W.end_status, UV_EPROTO);
    assert_true(got_has("handler_eproto")); /* the handler's answer, not conn_fail's */
    assert_int_equal(count_finals(), 1);
    assert_true(conn_gone() || W.srv.conns->state == CS_CLOSING);
    world_down();
}

static void test_timeout_late_answer(void **state)
{
    (void)state;
    world_up(M_LATE);
    send_str("POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
    /* Past GSS_BODY_DEADLINE_MS (200): on_end(ETIMEDOUT); the answer comes 150 ms later. */
    PUMP_UNTIL(W.end_calls > 0, 3000);
    assert_int_equal(W.end_calls, 1);
    assert_int_equal(count_finals(), 0); /* not answered yet */
    assert_int_equal(W.end_status, UV_ETIMEDOUT);
    /* The rest of the body and a pipelined request: neither may reach a handler. */
    send_str("67890GET /g HTTP/1.1\r\nHost: x\r\n\r\n");
    PUMP_UNTIL(count_finals() > 0, 3000);
    pump(50); /* and nothing after it */
    assert_int_equal(W.handler_calls, 1);
    assert_int_equal(W.end_calls, 1);
    assert_int_equal(W.body_bytes, 5);
    assert_int_equal(count_status("408"), 1);
    assert_int_equal(count_finals(), 1);
    assert_false(got_has("\r\n\r\nget"));
    world_down();
}

static void test_stop_late_answer(void **state)
{
    (void)state;
    world_up(M_STOP_LATE);
    send_str("POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
    PUMP_UNTIL(W.data_calls > 0, 2000);
    assert_int_equal(W.data_calls, 1);
    PUMP_UNTIL(count_finals() > 0, 2000); /* the handler's answer comes 50 ms after its -1 */
    send_str("67890");
    pump(50);
    assert_int_equal(W.data_calls, 1);
    assert_int_equal(W.end_calls, 0); /* -1: no callback after it */
    assert_int_equal(count_status("422"), 1);
    assert_int_equal(count_finals(), 1);
    world_down();
}

static void test_trailer(void **state)
{
    (void)state;
    world_up(M_ANSWER);
    /* A trailer large enough to move hdrbuf if it were appended to it. */
    struct buf r = {0};
    buf_puts(&r, "POST /s HTTP/1.1\r\nHost: x\r\nX-Probe: p\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n0\r\nX-Trailer: yes\r\n");
    for (int i = 0; i < 40; i++)
        buf_printf(&r, "X-Pad-%d: %0200d\r\n", i, i);
    buf_puts(&r, "\r\n");
    buf_putc(&r, '\0');
    send_str(r.data);
    buf_free(&r);
    PUMP_UNTIL(count_finals() > 0, 2000);
    assert_int_equal(W.end_calls, 1);
    assert_int_equal(W.end_status, 0);
    assert_false(W.trailer_seen);
    assert_int_equal(W.nhdrs_at_end, W.nhdrs_at_start);
    assert_int_equal(count_status("200"), 1);
    world_down();
}

static void test_gone_during_auth(void **state)
{
    (void)state;
    world_up(M_ANSWER);
    auth_async = true;
    send_str("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345");
    PUMP_UNTIL(W.auth_req != NULL, 2000);
    assert_non_null(W.auth_req);
    assert_int_equal(W.srv.conns->state, CS_AUTH);
    assert_false(W.srv.conns->reading); /* not a byte more until admitted */
    close(W.fd);
    W.fd = -1;
    /* Reading is off in CS_AUTH: the server learns of the close only by
     * trying; abort it as the drain deadline would. */
    http_conn_abort(W.srv.conns);
    PUMP_UNTIL(conn_gone(), 2000);
    assert_true(conn_gone());
    void (*next)(struct http_req *) = W.auth_next;
    struct http_req *req = W.auth_req;
    W.auth_next = NULL;
    const struct http_route *route = req->route;
    next(req); /* admitted, but nobody is there: answered (and freed) */
    auth_async = false;
    assert_int_equal(W.handler_calls, 0);
    uint64_t n499 = 0, n400 = 0;
    for (int i = 0; i < ROUTER_STATUS_SLOTS; i++) {
        if (route->counts[i].status == 499)
            n499 += route->counts[i].count;
        if (route->counts[i].status == 400)
            n400 += route->counts[i].count;
    }
    assert_int_equal(n499, 1);
    assert_int_equal(n400, 0);
    world_down();
}

static void test_no_read_before_stream(void **state)
{
    (void)state;
    world_up(M_DELAY_START);
    send_str("POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    PUMP_UNTIL(W.handler_calls > 0, 2000);
    pump(20);
    assert_int_equal(W.handler_calls, 1); /* the auth step admitted it at once */
    assert_false(W.srv.conns->reading);   /* the handler has not asked for the body yet */
    assert_false(got_has("100 Continue"));
    PUMP_UNTIL(got_has("HTTP/1.1 100 Continue"), 2000); /* http_body_stream, 300 ms after the handler */
    assert_true(got_has("HTTP/1.1 100 Continue"));
    send_str("hello");
    PUMP_UNTIL(count_finals() > 0, 2000);
    assert_int_equal(W.end_calls, 1);
    assert_int_equal(W.end_status, 0);
    assert_int_equal(count_status("200"), 1);
    world_down();
}

static void test_stream_pipeline(void **state)
{
    (void)state;
    world_up(M_HOLD);
    struct buf r = {0};
    /* the head and the first 300 bytes together (parsed on the next turn) */
    buf_puts(&r, "POST /s HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n");
    for (int i = 0; i < 100; i++)
        buf_puts(&r, "abc");
    buf_putc(&r, '\0');
    send_str(r.data);
    buf_reset(&r);
    PUMP_UNTIL(W.data_calls > 0, 2000);
    assert_int_equal(W.data_calls, 1); /* held */
    for (int i = 0; i < 900; i++)
        buf_puts(&r, "abc");
    buf_puts(&r, "GET /g HTTP/1.1\r\nHost: x\r\n\r\n");
    buf_putc(&r, '\0');
    send_str(r.data);
    buf_free(&r);
    pump(10);
    assert_int_equal(W.data_calls, 1); /* still held (for 200 ms): not read */
    assert_int_equal(W.end_calls, 0);
    PUMP_UNTIL(count_status("200") == 2, 3000);
    assert_int_equal(W.handler_calls, 1);
    assert_int_equal(W.body_bytes, 3000);
    assert_int_equal(W.end_calls, 1);
    assert_int_equal(W.end_status, 0);
    assert_int_equal(count_status("200"), 2);
    assert_true(got_has("\r\n\r\nok"));
    assert_true(got_has("\r\n\r\nget"));
    assert_false(got_has("Connection: close"));
    assert_false(conn_gone());
    world_down();
}

static void test_status_text(void **state)
{
    (void)state;
    /* 507 goes on the wire (a full disk); 499 only into logs and metrics */
    assert_string_equal(http_status_text(507), "Insufficient Storage");
    assert_string_equal(http_status_text(499), "Client Closed Request");
}

int main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]); /* one test alone: a failed one leaves its loop behind */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_malformed_chunk),  cmocka_unit_test(test_timeout_late_answer),
        cmocka_unit_test(test_stop_late_answer), cmocka_unit_test(test_trailer),
        cmocka_unit_test(test_gone_during_auth), cmocka_unit_test(test_no_read_before_stream),
        cmocka_unit_test(test_stream_pipeline),  cmocka_unit_test(test_status_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
