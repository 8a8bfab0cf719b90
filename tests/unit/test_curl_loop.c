/*
 * Unit tests for integrations/curl_loop (ihttp_): real libcurl on a real
 * libuv loop against a local node server (http_fixture.mjs beside this
 * file): bodies and headers copied, connections reused, requests in
 * parallel, timeouts, refused and dropped connections, capped bodies,
 * Retry-After, cancel, close with requests in flight, and TLS verification
 * that cannot be switched off (a self-signed certificate made here with
 * openssl is refused unless it is the CA given, and then only for its name).
 *
 * Every callback checks that it does not run inside the call that queued
 * it (in_call is set around every ihttp_* call). Each test ends with
 * ihttp_close, uv_run to the end and uv_loop_close() == 0 (no handle left).
 * Node is required (the integration tests need it too): without it the test
 * fails rather than skipping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "integrations/curl_loop.h"

/* ---- the fixture server ----------------------------------------------------- */

static pid_t g_node = -1;
static int   g_port, g_tls_port;
static int   g_stdin_fd = -1; /* the fixture exits when this closes */
static char  g_dir[256], g_cert[300], g_key[300];

static int start_fixture(void **state)
{
    (void)state;
    const char *tmp = getenv("GSS_TEST_TMP");
    snprintf(g_dir, sizeof(g_dir), "%s/gss-curl-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir))
        return -1;
    snprintf(g_cert, sizeof(g_cert), "%s/cert.pem", g_dir);
    snprintf(g_key, sizeof(g_key), "%s/key.pem", g_dir);
    char cmd[1400];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost "
             "-addext subjectAltName=DNS:localhost -keyout '%s' -out '%s' >/dev/null 2>&1",
             g_key, g_cert);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_curl_loop: openssl could not make a test certificate\n");
        return -1;
    }
    /* The fixture sits beside this file (CMake compiles it by absolute path). */
    char script[1024];
    snprintf(script, sizeof(script), "%s", __FILE__);
    char *slash = strrchr(script, '/');
    if (!slash)
        return -1;
    snprintf(slash + 1, sizeof(script) - (size_t)(slash + 1 - script), "http_fixture.mjs");
    int out[2], in[2];
    if (pipe(out) < 0 || pipe(in) < 0)
        return -1;
    g_node = fork();
    if (g_node < 0)
        return -1;
    if (g_node == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("node", "node", script, g_cert, g_key, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    g_stdin_fd = in[1];
    char   line[256];
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t r = read(out[0], line + n, 1);
        if (r <= 0)
            break;
        if (line[n++] == '\n')
            break;
    }
    line[n] = '\0';
    close(out[0]);
    if (sscanf(line, "{\"port\":%d,\"tls_port\":%d}", &g_port, &g_tls_port) != 2) {
        fprintf(stderr, "test_curl_loop: the node fixture did not start (is node installed?): '%s'\n", line);
        return -1;
    }
    return 0;
}

static int stop_fixture(void **state)
{
    (void)state;
    if (g_stdin_fd >= 0)
        close(g_stdin_fd);
    if (g_node > 0) {
        kill(g_node, SIGTERM);
        waitpid(g_node, NULL, 0);
    }
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_curl_loop: could not remove %s\n", g_dir);
    return 0;
}

/* ---- the loop and one result per request ------------------------------------ */

static uv_loop_t    g_loop;
static struct ihttp g_h;
static bool         in_call;
static int          violations;

struct result {
    bool           done;
    int            calls;
    enum ihttp_err err;
    long           status;
    int64_t        retry_after;
    bool           sent;
    char          *body;
    size_t         body_len;
    char           ctype[64];
    char           error[256];
    uint64_t       at_ms; /* uv_now when the callback ran */
};

static void on_result(void *ud, struct ihttp_call *call, const struct ihttp_response *res)
{
    struct result *r = ud;
    (void)call;
    if (in_call)
        violations++;
    r->calls++;
    r->done = true;
    r->err = res->err;
    r->status = res->status;
    r->retry_after = res->retry_after_s;
    r->sent = res->request_sent;
    free(r->body);
    r->body = malloc(res->body_len + 1);
    memcpy(r->body, res->body, res->body_len + 1);
    r->body_len = res->body_len;
    snprintf(r->ctype, sizeof(r->ctype), "%s", res->content_type ? res->content_type : "");
    snprintf(r->error, sizeof(r->error), "%s", res->error);
    r->at_ms = uv_now(&g_loop);
}

static int setup(void **state)
{
    (void)state;
    violations = 0;
    assert_int_equal(uv_loop_init(&g_loop), 0);
    struct ihttp_options o = {.timeout_ms = 5000, .connect_timeout_ms = 2000};
    assert_int_equal(ihttp_init(&g_h, &g_loop, &o), 0);
    return 0;
}

static int setup_ca(void **state)
{
    (void)state;
    violations = 0;
    assert_int_equal(uv_loop_init(&g_loop), 0);
    struct ihttp_options o = {.timeout_ms = 5000, .connect_timeout_ms = 2000, .ca_file = g_cert};
    assert_int_equal(ihttp_init(&g_h, &g_loop, &o), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    in_call = true;
    ihttp_close(&g_h, 0);
    in_call = false;
    uv_run(&g_loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&g_loop);
    if (rc != 0)
        uv_print_all_handles(&g_loop, stderr);
    assert_int_equal(rc, 0);
    ihttp_free(&g_h);
    assert_int_equal(violations, 0);
    return 0;
}

static struct ihttp_call *send_req(const char *method, const char *path, const char *const *headers, const char *body,
                                   int64_t timeout_ms, size_t cap, struct result *r)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", g_port, path);
    struct ihttp_request rq = {.method = method,
                               .url = url,
                               .headers = headers,
                               .body = body,
                               .body_len = body ? strlen(body) : 0,
                               .timeout_ms = timeout_ms,
                               .max_response = cap};
    in_call = true;
    struct ihttp_call *c = ihttp_send(&g_h, &rq, on_result, r);
    in_call = false;
    return c;
}

/* Runs the loop until every result is done, or fails after limit_ms. */
static void wait_all(struct result *rs, int n, uint64_t limit_ms)
{
    uint64_t t0 = uv_now(&g_loop);
    for (;;) {
        int left = 0;
        for (int i = 0; i < n; i++)
            left += !rs[i].done;
        if (!left)
            return;
        uv_update_time(&g_loop);
        if (uv_now(&g_loop) - t0 > limit_ms)
            fail_msg("%d request(s) unanswered after %llu ms", left, (unsigned long long)limit_ms);
        uv_run(&g_loop, UV_RUN_ONCE);
    }
}

static void result_free(struct result *r)
{
    free(r->body);
    r->body = NULL;
}

static int fixture_connections(void)
{
    struct result r = {0};
    assert_non_null(send_req("GET", "/stats", NULL, NULL, 0, 0, &r));
    wait_all(&r, 1, 5000);
    assert_int_equal(r.err, IHTTP_OK);
    int         n = -1;
    const char *p = strstr(r.body, "\"connections\":");
    assert_non_null(p);
    n = atoi(p + 14);
    result_free(&r);
    return n;
}

/* ---- tests -------------------------------------------------------------------- */

static void test_post_copies_everything(void **state)
{
    (void)state;
    struct result r = {0};
    char         *body = strdup("{\"chat_id\":-1001,\"text\":\"Halo <b>&amp;</b> é\"}");
    char         *hdr = strdup("X-Test: satu dua");
    const char   *headers[] = {"Content-Type: application/json", hdr, NULL};
    assert_non_null(send_req("POST", "/echo", headers, body, 0, 0, &r));
    /* Everything was copied: scribble over the caller's memory now. */
    memset(body, 'x', strlen(body));
    memset(hdr, 'y', strlen(hdr));
    free(body);
    free(hdr);
    assert_false(r.done); /* never inside the call */
    wait_all(&r, 1, 5000);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.err, IHTTP_OK);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json");
    assert_int_equal(r.retry_after, -1);
    assert_true(r.sent);
    assert_string_equal(r.error, "");
    assert_non_null(strstr(r.body, "\"method\":\"POST\""));
    assert_non_null(strstr(r.body, "\"x-test\":\"satu dua\""));
    assert_non_null(strstr(r.body, "\"content-type\":\"application/json\""));
    assert_non_null(strstr(r.body, "\"user-agent\":\"gssd\""));
    assert_null(strstr(r.body, "\"expect\""));
    assert_non_null(strstr(r.body, "Halo <b>&amp;</b> \xc3\xa9"));
    result_free(&r);

    /* GET without a body, PUT with one. */
    struct result g = {0}, p = {0};
    assert_non_null(send_req(NULL, "/echo?q=1", NULL, NULL, 0, 0, &g));
    assert_non_null(send_req("PUT", "/echo", NULL, "abc", 0, 0, &p));
    wait_all(&g, 1, 5000);
    wait_all(&p, 1, 5000);
    assert_non_null(strstr(g.body, "\"method\":\"GET\""));
    assert_non_null(strstr(g.body, "\"body_len\":0"));
    assert_non_null(strstr(p.body, "\"method\":\"PUT\""));
    assert_non_null(strstr(p.body, "\"body\":\"abc\""));
    result_free(&g);
    result_free(&p);
}

struct chain {
    int           left;
    struct result r;
    int           conn_ids[16];
    int           n;
};

static void on_chain(void *ud, struct ihttp_call *call, const struct ihttp_response *res)
{
    struct chain *ch = ud;
    (void)call;
    if (in_call)
        violations++;
    assert_int_equal(res->err, IHTTP_OK);
    const char *p = strstr(res->body, "\"conn\":");
    ch->conn_ids[ch->n++] = p ? atoi(p + 7) : -1;
    if (--ch->left == 0) {
        ch->r.done = true;
        return;
    }
    /* The next request from inside this callback. */
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", g_port);
    struct ihttp_request rq = {.url = url};
    in_call = true;
    struct ihttp_call *c = ihttp_send(&g_h, &rq, on_chain, ch);
    in_call = false;
    assert_non_null(c);
}

static void test_connection_reused(void **state)
{
    (void)state;
    int          before = fixture_connections();
    uint64_t     opened = g_h.connects;
    struct chain ch = {.left = 10};
    char         url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", g_port);
    struct ihttp_request rq = {.url = url};
    assert_non_null(ihttp_send(&g_h, &rq, on_chain, &ch));
    wait_all(&ch.r, 1, 10000);
    int after = fixture_connections();
    /* Eleven requests (the /stats before them, ten /echo) on one connection. */
    assert_int_equal(after, before);
    assert_int_equal(g_h.connects, opened);
    for (int i = 1; i < ch.n; i++)
        assert_int_equal(ch.conn_ids[i], ch.conn_ids[0]);
}

static void test_parallel(void **state)
{
    (void)state;
    enum { N = 20 };
    struct result r[N];
    memset(r, 0, sizeof(r));
    uv_update_time(&g_loop);
    uint64_t t0 = uv_now(&g_loop);
    for (int i = 0; i < N; i++)
        assert_non_null(send_req("GET", "/slow?ms=400", NULL, NULL, 0, 0, &r[i]));
    assert_int_equal(g_h.inflight, N);
    wait_all(r, N, 10000);
    uint64_t took = uv_now(&g_loop) - t0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].err, IHTTP_OK);
        assert_string_equal(r[i].body, "slow");
        result_free(&r[i]);
    }
    /* Serially it would take 8 s. */
    assert_true(took >= 390);
    assert_true(took < 3000);
    assert_int_equal(g_h.inflight, 0);
}

static void test_timeout(void **state)
{
    (void)state;
    struct result r = {0};
    uv_update_time(&g_loop);
    uint64_t t0 = uv_now(&g_loop);
    assert_non_null(send_req("GET", "/hang", NULL, NULL, 300, 0, &r));
    wait_all(&r, 1, 5000);
    uint64_t took = r.at_ms - t0;
    assert_int_equal(r.err, IHTTP_ERR_TIMEOUT);
    assert_true(r.sent); /* the server had the request: it may have acted on it */
    assert_true(took >= 295);
    assert_true(took < 2500);
    assert_true(strlen(r.error) > 0);
    assert_null(strstr(r.error, "/hang")); /* the URL (a token's place) is not in the text */
    result_free(&r);
}

static void test_refused_and_dropped(void **state)
{
    (void)state;
    /* A port nobody listens on. */
    int                fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t          al = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", ntohs(a.sin_port));
    struct result        r = {0}, d = {0};
    struct ihttp_request rq = {.url = url};
    in_call = true;
    assert_non_null(ihttp_send(&g_h, &rq, on_result, &r));
    in_call = false;
    assert_non_null(send_req("POST", "/drop", NULL, "x", 0, 0, &d));
    wait_all(&r, 1, 5000);
    wait_all(&d, 1, 5000);
    assert_int_equal(r.err, IHTTP_ERR_CONNECT);
    assert_false(r.sent);
    assert_int_equal(d.err, IHTTP_ERR_CONN_LOST);
    assert_true(d.sent);
    result_free(&r);
    result_free(&d);
    /* The client still works afterwards. */
    struct result ok = {0};
    assert_non_null(send_req("GET", "/echo", NULL, NULL, 0, 0, &ok));
    wait_all(&ok, 1, 5000);
    assert_int_equal(ok.err, IHTTP_OK);
    result_free(&ok);
}

static void test_big_bodies(void **state)
{
    (void)state;
    struct result a = {0}, b = {0}, c = {0};
    assert_non_null(send_req("GET", "/big?n=900000", NULL, NULL, 0, 0, &a));
    assert_non_null(send_req("GET", "/big?n=1500000", NULL, NULL, 0, 0, &b));
    assert_non_null(send_req("GET", "/big?n=5000", NULL, NULL, 0, 1000, &c));
    wait_all(&a, 1, 10000);
    wait_all(&b, 1, 10000);
    wait_all(&c, 1, 10000);
    assert_int_equal(a.err, IHTTP_OK);
    assert_int_equal(a.body_len, 900000);
    for (size_t i = 0; i < a.body_len; i++)
        if ((unsigned char)a.body[i] != i % 251)
            fail_msg("byte %zu is %u", i, (unsigned char)a.body[i]);
    assert_int_equal(b.err, IHTTP_ERR_TOO_BIG);
    assert_int_equal(c.err, IHTTP_ERR_TOO_BIG);
    assert_true(b.body_len <= IHTTP_MAX_RESPONSE);
    result_free(&a);
    result_free(&b);
    result_free(&c);
}

static void test_retry_after(void **state)
{
    (void)state;
    struct result a = {0}, b = {0}, c = {0}, d = {0};
    /* An HTTP date 40 s ahead. */
    time_t    at = time(NULL) + 40;
    struct tm tm;
    gmtime_r(&at, &tm);
    char date[64], path[160];
    strftime(date, sizeof(date), "%a,%%20%d%%20%b%%20%Y%%20%H:%M:%S%%20GMT", &tm);
    snprintf(path, sizeof(path), "/status?code=503&retry_after=%s", date);
    assert_non_null(send_req("POST", "/status?code=429&retry_after=7", NULL, "{}", 0, 0, &a));
    assert_non_null(send_req("GET", "/status?code=502", NULL, NULL, 0, 0, &b));
    assert_non_null(send_req("GET", path, NULL, NULL, 0, 0, &c));
    assert_non_null(send_req("GET", "/status?code=429&retry_after=soon", NULL, NULL, 0, 0, &d));
    wait_all(&a, 1, 5000);
    wait_all(&b, 1, 5000);
    wait_all(&c, 1, 5000);
    wait_all(&d, 1, 5000);
    assert_int_equal(a.err, IHTTP_OK); /* a status is an answer, not an error */
    assert_int_equal(a.status, 429);
    assert_int_equal(a.retry_after, 7);
    assert_int_equal(b.status, 502);
    assert_int_equal(b.retry_after, -1);
    assert_int_equal(c.status, 503);
    assert_true(c.retry_after >= 37 && c.retry_after <= 41);
    assert_int_equal(d.retry_after, -1);
    result_free(&a);
    result_free(&b);
    result_free(&c);
    result_free(&d);
}

struct canceller {
    uv_timer_t         t;
    struct ihttp_call *call;
};

static void on_cancel_timer(uv_timer_t *t)
{
    struct canceller *k = t->data;
    in_call = true;
    ihttp_cancel(k->call);
    in_call = false;
    uv_close((uv_handle_t *)t, NULL);
}

static void test_cancel(void **state)
{
    (void)state;
    struct result      r = {0}, now = {0}, other = {0};
    struct canceller   k;
    struct ihttp_call *c = send_req("GET", "/hang", NULL, NULL, 0, 0, &r);
    assert_non_null(c);
    k.call = c;
    uv_timer_init(&g_loop, &k.t);
    k.t.data = &k;
    uv_timer_start(&k.t, on_cancel_timer, 150, 0);
    /* Cancelled before any I/O happened: nothing left. */
    struct ihttp_call *c2 = send_req("POST", "/echo", NULL, "x", 0, 0, &now);
    assert_non_null(c2);
    in_call = true;
    ihttp_cancel(c2);
    in_call = false;
    assert_false(now.done);
    assert_non_null(send_req("GET", "/echo", NULL, NULL, 0, 0, &other));
    wait_all(&now, 1, 5000);
    wait_all(&r, 1, 5000);
    wait_all(&other, 1, 5000);
    assert_int_equal(now.err, IHTTP_ERR_CANCELLED);
    assert_false(now.sent);
    assert_int_equal(r.err, IHTTP_ERR_CANCELLED);
    assert_true(r.sent);
    assert_int_equal(r.calls, 1);
    assert_int_equal(other.err, IHTTP_OK); /* the others are untouched */
    result_free(&r);
    result_free(&now);
    result_free(&other);
}

static void test_close_in_flight(void **state)
{
    (void)state;
    struct result r[3];
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 3; i++)
        assert_non_null(send_req("GET", "/hang", NULL, NULL, 0, 0, &r[i]));
    for (int i = 0; i < 3; i++)
        uv_run(&g_loop, UV_RUN_NOWAIT); /* let them leave */
    in_call = true;
    ihttp_close(&g_h, 0);
    in_call = false;
    for (int i = 0; i < 3; i++)
        assert_false(r[i].done);
    struct result late = {0};
    assert_null(send_req("GET", "/echo", NULL, NULL, 0, 0, &late)); /* closing: refused */
    uv_run(&g_loop, UV_RUN_DEFAULT);                                /* ends: every handle is closed */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].err, IHTTP_ERR_CANCELLED);
        result_free(&r[i]);
    }
}

static void test_close_with_grace(void **state)
{
    (void)state;
    struct result fast = {0}, hang = {0};
    assert_non_null(send_req("GET", "/slow?ms=200", NULL, NULL, 0, 0, &fast));
    assert_non_null(send_req("GET", "/hang", NULL, NULL, 0, 0, &hang));
    uv_update_time(&g_loop);
    uint64_t t0 = uv_now(&g_loop);
    in_call = true;
    ihttp_close(&g_h, 700);
    in_call = false;
    uv_run(&g_loop, UV_RUN_DEFAULT);
    assert_int_equal(fast.err, IHTTP_OK); /* finished within the grace */
    assert_int_equal(hang.err, IHTTP_ERR_CANCELLED);
    assert_true(hang.at_ms - t0 >= 690);
    assert_true(hang.at_ms - t0 < 3000);
    result_free(&fast);
    result_free(&hang);
}

static void test_refused_requests(void **state)
{
    (void)state;
    struct result        r = {0};
    struct ihttp_request rq = {.url = "ftp://127.0.0.1/x"};
    assert_null(ihttp_send(&g_h, &rq, on_result, &r));
    rq.url = "file:///etc/passwd";
    assert_null(ihttp_send(&g_h, &rq, on_result, &r));
    rq.url = "127.0.0.1/x";
    assert_null(ihttp_send(&g_h, &rq, on_result, &r));
    assert_null(send_req("get", "/echo", NULL, NULL, 0, 0, &r));
    assert_null(send_req("GET /x HTTP/1.1\r\nX:", "/echo", NULL, NULL, 0, 0, &r));
    rq.url = "http://127.0.0.1:1/x";
    assert_null(ihttp_send(&g_h, &rq, NULL, &r));
    uv_run(&g_loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 0);
    /* A redirect is an answer, never followed. */
    struct result red = {0};
    assert_non_null(send_req("GET", "/status?code=302", NULL, NULL, 0, 0, &red));
    wait_all(&red, 1, 5000);
    assert_int_equal(red.status, 302);
    result_free(&red);
}

static void tls_get(const char *host, struct result *r)
{
    char url[160];
    snprintf(url, sizeof(url), "https://%s:%d/echo", host, g_tls_port);
    struct ihttp_request rq = {.url = url};
    in_call = true;
    assert_non_null(ihttp_send(&g_h, &rq, on_result, r));
    in_call = false;
    wait_all(r, 1, 10000);
}

/* The system's CAs: a self-signed certificate is refused. */
static void test_tls_untrusted(void **state)
{
    (void)state;
    struct result r = {0};
    tls_get("localhost", &r);
    assert_int_equal(r.err, IHTTP_ERR_TLS);
    result_free(&r);
}

/* With the certificate as the CA: accepted for its name, refused for
 * another name of the same server. */
static void test_tls_verified(void **state)
{
    (void)state;
    struct result ok = {0}, wrong = {0};
    tls_get("localhost", &ok);
    assert_int_equal(ok.err, IHTTP_OK);
    assert_int_equal(ok.status, 200);
    tls_get("127.0.0.1", &wrong);
    assert_int_equal(wrong.err, IHTTP_ERR_TLS);
    result_free(&ok);
    result_free(&wrong);
}

static void test_metrics(void **state)
{
    (void)state;
    struct result r = {0};
    assert_non_null(send_req("GET", "/echo", NULL, NULL, 0, 0, &r));
    wait_all(&r, 1, 5000);
    result_free(&r);
    struct buf b = {0};
    ihttp_metrics(&g_h, &b);
    buf_putc(&b, '\0');
    assert_non_null(strstr(b.data, "gss_http_out_requests_total{outcome=\"ok\"} 1\n"));
    assert_non_null(strstr(b.data, "gss_http_out_requests_total{outcome=\"timeout\"} 0\n"));
    assert_non_null(strstr(b.data, "gss_http_out_inflight 0\n"));
    assert_non_null(strstr(b.data, "gss_http_out_connections_total 1\n"));
    buf_free(&b);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_post_copies_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_and_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_bodies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_close_with_grace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_untrusted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tls_verified, setup_ca, teardown),
        cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
    };
    return cmocka_run_group_tests(tests, start_fixture, stop_fixture);
}
