/*
 * Regression tests from the code review of the C core (store/pg.c).
 *
 * The pool connects to a fake PostgreSQL server that lives on the same
 * libuv loop, so a test can make libpq do what a real server only does in
 * odd deployments:
 *
 *  - next_host: a multi-host URL whose first host refuses the connection.
 *    The refusal arrives asynchronously (connect() says EINPROGRESS, the
 *    socket then turns writable with ECONNREFUSED); libpq closes that socket
 *    and connects to the next host on a NEW socket, which gets the same fd
 *    number, and again waits for writable. Before the fix the pool saw "same
 *    fd, same events" and did not touch its uv_poll, whose epoll
 *    registration had died with the old socket: the connection hung in
 *    PGC_CONNECTING for good.
 *  - ssl_retry: the server accepts SSLRequest ('S') and then answers the TLS
 *    ClientHello with garbage; with sslmode=prefer libpq retries without TLS
 *    on a new socket (same fd number, other events this time).
 *  - connect_deadline: the server accepts and never says a word. The pool
 *    must give up after connect_timeout and try again; before the fix a
 *    connection stuck in PGC_CONNECTING stayed there for good.
 *
 * Every test ends with uv_loop_close() == 0, so a leaked handle fails it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "store/pg.h"

enum fake_mode { FAKE_SSL_GARBAGE, FAKE_SILENT };

struct fake_srv;

struct fake_conn {
    uv_tcp_t         tcp; /* first: freed through its close callback */
    struct fake_srv *srv;
    int              seen; /* bytes received */
    bool             ssl;  /* answered an SSLRequest with 'S' */
};

struct fake_srv {
    uv_loop_t         loop;
    uv_tcp_t          listener;
    uv_timer_t        guard; /* fails the test instead of hanging it */
    enum fake_mode    mode;
    int               port;
    int               accepted;
    int               ssl_requests;
    int               startups; /* v3 StartupMessages received (non-TLS) */
    uint64_t          accepted_at[8];
    struct fake_conn *conns[8];
    struct pg_pool    pool;
    bool              done;
    bool              timed_out;
};

static void on_conn_closed(uv_handle_t *h)
{
    free(h);
}

static void on_write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

static void fake_send(struct fake_conn *fc, const void *data, size_t len)
{
    uv_write_t *w = malloc(sizeof(*w));
    char       *copy = malloc(len);
    memcpy(copy, data, len);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy, (unsigned)len);
    assert_int_equal(uv_write(w, (uv_stream_t *)&fc->tcp, &b, 1, on_write_done), 0);
}

/* Ends the test: closes the pool and every handle of the fake server. */
static void finish(struct fake_srv *s)
{
    if (s->done)
        return;
    s->done = true;
    pg_pool_close(&s->pool);
    uv_close((uv_handle_t *)&s->listener, NULL);
    uv_timer_stop(&s->guard);
    uv_close((uv_handle_t *)&s->guard, NULL);
    for (int i = 0; i < s->accepted && i < 8; i++)
        if (s->conns[i] && !uv_is_closing((uv_handle_t *)&s->conns[i]->tcp))
            uv_close((uv_handle_t *)&s->conns[i]->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)h;
    (void)suggested;
    static char buf[65536];
    b->base = buf;
    b->len = sizeof(buf);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void on_fake_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *b)
{
    struct fake_conn *fc = (struct fake_conn *)st;
    struct fake_srv  *s = fc->srv;
    if (nread <= 0 || s->done) {
        if (nread < 0)
            uv_read_stop(st);
        return;
    }
    const unsigned char *p = (const unsigned char *)b->base;
    bool                 first = fc->seen == 0;
    fc->seen += (int)nread;
    if (s->mode == FAKE_SILENT)
        return; /* never answers anything */
    if (first && nread >= 8 && be32(p) == 8 && be32(p + 4) == 80877103u) {
        s->ssl_requests++;
        fc->ssl = true;
        fake_send(fc, "S", 1);
        return;
    }
    if (fc->ssl) {
        /* The TLS ClientHello: answer with bytes that are no TLS record. */
        static const char junk[] = "HTTP/1.1 400 Bad Request\r\n\r\n";
        fake_send(fc, junk, sizeof(junk) - 1);
        uv_read_stop(st);
        return;
    }
    if (first && nread >= 8 && be32(p + 4) == 196608u) {
        s->startups++;
        finish(s);
    }
}

static void on_fake_conn(uv_stream_t *ls, int status)
{
    struct fake_srv *s = ls->data;
    assert_int_equal(status, 0);
    struct fake_conn *fc = calloc(1, sizeof(*fc));
    fc->srv = s;
    uv_tcp_init(&s->loop, &fc->tcp);
    assert_int_equal(uv_accept(ls, (uv_stream_t *)&fc->tcp), 0);
    if (s->done || s->accepted >= 8) {
        uv_close((uv_handle_t *)&fc->tcp, on_conn_closed);
        return;
    }
    s->accepted_at[s->accepted] = uv_now(&s->loop);
    s->conns[s->accepted++] = fc;
    uv_read_start((uv_stream_t *)&fc->tcp, on_alloc, on_fake_read);
    if (s->mode == FAKE_SILENT && s->accepted == 2)
        finish(s); /* the pool gave up on the first and came back */
}

static void on_guard(uv_timer_t *t)
{
    struct fake_srv *s = t->data;
    s->timed_out = true;
    finish(s);
}

static void fake_start(struct fake_srv *s, enum fake_mode mode, uint64_t guard_ms)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    assert_int_equal(uv_loop_init(&s->loop), 0);
    uv_tcp_init(&s->loop, &s->listener);
    s->listener.data = s;
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&s->listener, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 16, on_fake_conn), 0);
    struct sockaddr_storage ss;
    int                     len = sizeof(ss);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    uv_timer_init(&s->loop, &s->guard);
    s->guard.data = s;
    uv_timer_start(&s->guard, on_guard, guard_ms, 0);
}

static void fake_run_and_close(struct fake_srv *s)
{
    uv_run(&s->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&s->loop), 0);
}

/* A port nobody listens on (bound, then closed again). */
static int closed_port(uv_loop_t *loop)
{
    uv_tcp_t t;
    uv_tcp_init(loop, &t);
    struct sockaddr_in sa;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(uv_tcp_bind(&t, (const struct sockaddr *)&sa, 0), 0);
    struct sockaddr_storage ss;
    int                     len = sizeof(ss);
    uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void test_next_host_same_fd(void **state)
{
    (void)state;
    struct fake_srv *s = calloc(1, sizeof(*s));
    fake_start(s, FAKE_SSL_GARBAGE, 5000);
    int  dead = closed_port(&s->loop);
    char url[256], err[256];
    snprintf(url, sizeof(url),
             "host=127.0.0.1,127.0.0.1 port=%d,%d user=u dbname=d sslmode=disable gssencmode=disable "
             "connect_timeout=4",
             dead, s->port);
    assert_int_equal(pg_pool_init(&s->pool, &s->loop, url, 1, err, sizeof(err)), 0);
    pg_pool_start(&s->pool);
    fake_run_and_close(s);
    assert_false(s->timed_out);
    assert_int_equal(s->accepted, 1);
    assert_int_equal(s->startups, 1);
    free(s);
}

static void test_ssl_retry_new_socket(void **state)
{
    (void)state;
    struct fake_srv *s = calloc(1, sizeof(*s));
    fake_start(s, FAKE_SSL_GARBAGE, 5000);
    char url[256], err[256];
    snprintf(url, sizeof(url),
             "host=127.0.0.1 port=%d user=u dbname=d sslmode=prefer gssencmode=disable connect_timeout=4", s->port);
    assert_int_equal(pg_pool_init(&s->pool, &s->loop, url, 1, err, sizeof(err)), 0);
    pg_pool_start(&s->pool);
    fake_run_and_close(s);
    assert_false(s->timed_out);
    assert_int_equal(s->ssl_requests, 1);
    /* The plain retry reached the server: the pool watched the new socket. */
    assert_int_equal(s->startups, 1);
    assert_int_equal(s->accepted, 2);
    free(s);
}

static void test_connect_deadline(void **state)
{
    (void)state;
    struct fake_srv *s = calloc(1, sizeof(*s));
    fake_start(s, FAKE_SILENT, 6000);
    char url[256], err[256];
    snprintf(url, sizeof(url),
             "host=127.0.0.1 port=%d user=u dbname=d sslmode=disable gssencmode=disable "
             "connect_timeout=1",
             s->port);
    assert_int_equal(pg_pool_init(&s->pool, &s->loop, url, 1, err, sizeof(err)), 0);
    pg_pool_start(&s->pool);
    fake_run_and_close(s);
    assert_false(s->timed_out);
    assert_int_equal(s->accepted, 2);
    /* Gave up no earlier than the timeout (plus the first 100 ms backoff). */
    uint64_t gap = s->accepted_at[1] - s->accepted_at[0];
    assert_true(gap >= 1000);
    assert_true(gap < 4000);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_host_same_fd),
        cmocka_unit_test(test_ssl_retry_new_socket),
        cmocka_unit_test(test_connect_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
