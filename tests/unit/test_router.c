/*
 * Unit tests for http/router: method names, pattern compilation, matching
 * with parameters (literal beats parameter whatever the order), HEAD on GET
 * routes, 405 with its Allow list (including a too-small buffer) and the
 * per-route status counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth/roles.h"
#include "http/router.h"

/* Distinct handlers, so a test can tell which route matched by its handler. */
static void h_a(struct http_req *req)
{
    (void)req;
}
static void h_b(struct http_req *req)
{
    (void)req;
}
static void h_c(struct http_req *req)
{
    (void)req;
}

/* One match call with its outputs, so tests read as one line each. */
struct m {
    enum router_result       rr;
    const struct http_route *route;
    struct http_str          params[HTTP_MAX_PARAMS];
    unsigned                 nparams;
    char                     allow[128];
};

static enum router_result match(const struct router *r, enum http_method meth, const char *path, struct m *out)
{
    memset(out, 0, sizeof(*out));
    out->rr = router_match(r, meth, path, strlen(path), &out->route, out->params, &out->nparams, out->allow,
                           sizeof(out->allow));
    return out->rr;
}

static void assert_param(const struct m *m, unsigned i, const char *want)
{
    assert_true(i < m->nparams);
    assert_int_equal(m->params[i].n, strlen(want));
    assert_memory_equal(m->params[i].p, want, strlen(want));
}

/* ---- method names ------------------------------------------------------- */

static void test_method_parse_name(void **state)
{
    (void)state;
    static const char *const names[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

    for (int i = 0; i < 7; i++) {
        enum http_method m = http_method_parse(names[i], strlen(names[i]));
        assert_int_equal(m, i + 1);
        assert_string_equal(http_method_name(m), names[i]);
    }
    assert_string_equal(http_method_name(HTTP_M_OTHER), "OTHER");
    /* Methods are case-sensitive (RFC 9110 §9.1) and compared whole. */
    assert_int_equal(http_method_parse("get", 3), HTTP_M_OTHER);
    assert_int_equal(http_method_parse("GE", 2), HTTP_M_OTHER);
    assert_int_equal(http_method_parse("GETX", 4), HTTP_M_OTHER);
    assert_int_equal(http_method_parse("POSTS", 4), HTTP_M_POST); /* n bytes only: not NUL-terminated input */
    assert_int_equal(http_method_parse("", 0), HTTP_M_OTHER);
    assert_int_equal(http_method_parse("TRACE", 5), HTTP_M_OTHER);
    assert_int_equal(http_method_parse("OTHER", 5), HTTP_M_OTHER);
}

/* ---- matching ----------------------------------------------------------- */

static void test_literal_and_params(void **state)
{
    (void)state;
    struct router r;
    struct m      m;
    router_init(&r);
    router_add(&r, HTTP_M_GET, "/healthz", h_a, 0);
    struct http_route *claim = router_add(&r, HTTP_M_POST, "/api/v1/pool/{id}/claim", h_b, ROLE_TS);
    claim->body_max = 1024;
    router_add(&r, HTTP_M_GET, "/a/{x}/b/{y}", h_c, 0);

    assert_int_equal(match(&r, HTTP_M_GET, "/healthz", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_a);
    assert_int_equal(m.nparams, 0);
    assert_int_equal(m.route->body_max, -1);

    const char *path = "/api/v1/pool/42/claim";
    assert_int_equal(match(&r, HTTP_M_POST, path, &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_b);
    assert_int_equal(m.route->roles, ROLE_TS);
    assert_int_equal(m.route->body_max, 1024);
    assert_string_equal(m.route->pattern, "/api/v1/pool/{id}/claim");
    assert_int_equal(m.nparams, 1);
    assert_param(&m, 0, "42");
    /* Matching never allocates: the parameter points into the path. */
    assert_ptr_equal(m.params[0].p, path + strlen("/api/v1/pool/"));

    assert_int_equal(match(&r, HTTP_M_GET, "/a/one/b/two", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_c);
    assert_int_equal(m.nparams, 2);
    assert_param(&m, 0, "one");
    assert_param(&m, 1, "two");

    /* A parameter is exactly one non-empty segment. */
    assert_int_equal(match(&r, HTTP_M_POST, "/api/v1/pool//claim", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_POST, "/api/v1/pool/4/2/claim", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_POST, "/api/v1/pool/42", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_POST, "/api/v1/pool/42/claim/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_POST, "/api/v1/pool/42/claimx", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_GET, "/healthz/", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_GET, "/healthzz", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_GET, "/health", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_GET, "/HEALTHZ", &m), ROUTER_NOT_FOUND);
    assert_null(m.route);
    assert_int_equal(m.nparams, 0);

    /* Not a path at all. */
    assert_int_equal(match(&r, HTTP_M_GET, "", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_GET, "healthz", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_GET, "*", &m), ROUTER_NOT_FOUND);

    router_free(&r);
    assert_null(r.routes);
    assert_int_equal(r.n, 0);
}

/* The path is (p, len), not a C string: the query after it is ignored. */
static void test_path_length_respected(void **state)
{
    (void)state;
    struct router            r;
    const struct http_route *rt;
    struct http_str          params[HTTP_MAX_PARAMS];
    unsigned                 np;
    char                     allow[64];
    router_init(&r);
    router_add(&r, HTTP_M_GET, "/api/v1/tickets/{id}", h_a, 0);

    const char *url = "/api/v1/tickets/17?x=1";
    assert_int_equal(router_match(&r, HTTP_M_GET, url, 18, &rt, params, &np, allow, sizeof(allow)), ROUTER_FOUND);
    assert_int_equal(np, 1);
    assert_int_equal(params[0].n, 2);
    assert_memory_equal(params[0].p, "17", 2);
    /* One byte short: the id is "1". */
    assert_int_equal(router_match(&r, HTTP_M_GET, url, 17, &rt, params, &np, allow, sizeof(allow)), ROUTER_FOUND);
    assert_int_equal(params[0].n, 1);
    /* Up to the slash: the id is empty, which no parameter matches. */
    assert_int_equal(router_match(&r, HTTP_M_GET, url, 16, &rt, params, &np, allow, sizeof(allow)), ROUTER_NOT_FOUND);
    router_free(&r);
}

static void test_literal_beats_param(void **state)
{
    (void)state;
    struct m m;

    /* Both registration orders give the same answer. */
    for (int order = 0; order < 2; order++) {
        struct router r;
        router_init(&r);
        if (order == 0) {
            router_add(&r, HTTP_M_GET, "/users/{id}", h_a, 0);
            router_add(&r, HTTP_M_GET, "/users/me", h_b, 0);
            router_add(&r, HTTP_M_GET, "/{x}/{y}/z", h_a, 0);
            router_add(&r, HTTP_M_GET, "/p/{y}/z", h_c, 0);
        } else {
            router_add(&r, HTTP_M_GET, "/p/{y}/z", h_c, 0);
            router_add(&r, HTTP_M_GET, "/users/me", h_b, 0);
            router_add(&r, HTTP_M_GET, "/{x}/{y}/z", h_a, 0);
            router_add(&r, HTTP_M_GET, "/users/{id}", h_a, 0);
        }
        assert_int_equal(match(&r, HTTP_M_GET, "/users/me", &m), ROUTER_FOUND);
        assert_ptr_equal(m.route->handler, h_b);
        assert_int_equal(m.nparams, 0);

        assert_int_equal(match(&r, HTTP_M_GET, "/users/7", &m), ROUTER_FOUND);
        assert_ptr_equal(m.route->handler, h_a);
        assert_param(&m, 0, "7");

        /* "me" is a full-segment literal, not a prefix. */
        assert_int_equal(match(&r, HTTP_M_GET, "/users/mex", &m), ROUTER_FOUND);
        assert_ptr_equal(m.route->handler, h_a);
        assert_param(&m, 0, "mex");

        assert_int_equal(match(&r, HTTP_M_GET, "/p/q/z", &m), ROUTER_FOUND);
        assert_ptr_equal(m.route->handler, h_c);
        assert_int_equal(m.nparams, 1);
        assert_param(&m, 0, "q");

        assert_int_equal(match(&r, HTTP_M_GET, "/o/q/z", &m), ROUTER_FOUND);
        assert_ptr_equal(m.route->handler, h_a);
        assert_int_equal(m.nparams, 2);
        assert_param(&m, 0, "o");
        assert_param(&m, 1, "q");
        router_free(&r);
    }
}

static void test_root_and_many_segments(void **state)
{
    (void)state;
    struct router r;
    struct m      m;
    router_init(&r);
    router_add(&r, HTTP_M_GET, "/", h_a, 0);
    router_add(&r, HTTP_M_GET, "/1/2/3/4/5/6/7/{p}", h_b, 0);
    router_add(&r, HTTP_M_GET, "/{a}/{b}/{c}/{d}/{e}", h_c, 0);

    assert_int_equal(match(&r, HTTP_M_GET, "/", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_a);
    assert_int_equal(match(&r, HTTP_M_GET, "//", &m), ROUTER_NOT_FOUND);

    /* ROUTER_MAX_SEGS segments match; one more is never found. */
    assert_int_equal(match(&r, HTTP_M_GET, "/1/2/3/4/5/6/7/8", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_b);
    assert_param(&m, 0, "8");
    assert_int_equal(match(&r, HTTP_M_GET, "/1/2/3/4/5/6/7/8/9", &m), ROUTER_NOT_FOUND);

    /* More parameters than HTTP_MAX_PARAMS: the route matches and the
     * first HTTP_MAX_PARAMS are reported, never more (no overflow). */
    assert_int_equal(match(&r, HTTP_M_GET, "/a/b/c/d/e", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_c);
    assert_int_equal(m.nparams, HTTP_MAX_PARAMS);
    assert_param(&m, 0, "a");
    assert_param(&m, 3, "d");
    router_free(&r);
}

/* Two patterns with as many literal segments: the one literal at the first
 * segment where they differ wins, whatever the registration order. */
static void test_earlier_literal_wins(void **state)
{
    (void)state;
    struct router r;
    struct m      m;
    router_init(&r);
    router_add(&r, HTTP_M_GET, "/a/{x}/c", h_a, 0);
    router_add(&r, HTTP_M_GET, "/a/b/{y}", h_b, 0);
    assert_int_equal(match(&r, HTTP_M_GET, "/a/b/c", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_b);
    assert_int_equal(match(&r, HTTP_M_GET, "/a/z/c", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_a);
    router_free(&r);
}

/* A pattern longer than ROUTER_MAX_SEGS must not be silently cut to its
 * first ROUTER_MAX_SEGS segments (which would then match a shorter path):
 * router_add refuses it by aborting at start-up. Checked in a child process. */
static void test_pattern_too_long(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct router r;
        router_init(&r);
        freopen("/dev/null", "w", stderr);
        router_add(&r, HTTP_M_GET, "/1/2/3/4/5/6/7/8/9", h_a, 0);
        _exit(0); /* not reached when the pattern is refused */
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGABRT);
}

/* More routes than the first allocation (32): the table grows and every
 * route, compiled before or after the move, still matches. */
static void test_many_routes(void **state)
{
    (void)state;
    static char   pats[100][24];
    struct router r;
    struct m      m;
    router_init(&r);
    for (int i = 0; i < 100; i++) {
        snprintf(pats[i], sizeof(pats[i]), "/r%d/{id}", i);
        router_add(&r, i % 2 ? HTTP_M_POST : HTTP_M_GET, pats[i], i % 3 ? h_a : h_b, (unsigned)i);
    }
    assert_int_equal(r.n, 100);
    for (int i = 0; i < 100; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/r%d/x%d", i, i);
        assert_int_equal(match(&r, i % 2 ? HTTP_M_POST : HTTP_M_GET, path, &m), ROUTER_FOUND);
        assert_int_equal(m.route->roles, (unsigned)i);
        assert_ptr_equal(m.route->pattern, pats[i]);
        char want[16];
        snprintf(want, sizeof(want), "x%d", i);
        assert_param(&m, 0, want);
        assert_int_equal(match(&r, i % 2 ? HTTP_M_GET : HTTP_M_POST, path, &m), ROUTER_BAD_METHOD);
    }
    router_free(&r);
}

/* ---- methods: HEAD and 405 ---------------------------------------------- */

static void test_head_and_405(void **state)
{
    (void)state;
    struct router r;
    struct m      m;
    router_init(&r);
    router_add(&r, HTTP_M_GET, "/healthz", h_a, 0);
    router_add(&r, HTTP_M_POST, "/api/v1/auth/login", h_b, 0);
    router_add(&r, HTTP_M_DELETE, "/api/v1/users/{id}", h_c, 0);
    router_add(&r, HTTP_M_GET, "/api/v1/users/{id}", h_a, 0);
    router_add(&r, HTTP_M_PATCH, "/api/v1/users/{id}", h_b, 0);

    /* HEAD is served by the GET route. */
    assert_int_equal(match(&r, HTTP_M_HEAD, "/healthz", &m), ROUTER_FOUND);
    assert_ptr_equal(m.route->handler, h_a);
    assert_int_equal(m.route->method, HTTP_M_GET);
    assert_int_equal(match(&r, HTTP_M_HEAD, "/api/v1/users/5", &m), ROUTER_FOUND);
    assert_int_equal(m.route->method, HTTP_M_GET);
    assert_param(&m, 0, "5");

    /* The path exists for other methods: 405, Allow in method order, with
     * HEAD wherever GET is. */
    assert_int_equal(match(&r, HTTP_M_POST, "/healthz", &m), ROUTER_BAD_METHOD);
    assert_null(m.route);
    assert_string_equal(m.allow, "GET, HEAD");
    assert_int_equal(match(&r, HTTP_M_GET, "/api/v1/auth/login", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "POST");
    /* HEAD is not served by a POST route. */
    assert_int_equal(match(&r, HTTP_M_HEAD, "/api/v1/auth/login", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "POST");
    assert_int_equal(match(&r, HTTP_M_PUT, "/api/v1/users/5", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, PATCH, DELETE");
    assert_int_equal(match(&r, HTTP_M_OPTIONS, "/api/v1/users/5", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD, PATCH, DELETE");
    assert_int_equal(match(&r, HTTP_M_OTHER, "/healthz", &m), ROUTER_BAD_METHOD);
    assert_string_equal(m.allow, "GET, HEAD");

    /* A path no route has is 404 whatever the method. */
    assert_int_equal(match(&r, HTTP_M_PUT, "/api/v1/users", &m), ROUTER_NOT_FOUND);
    assert_int_equal(match(&r, HTTP_M_PUT, "/api/v1/users/5/x", &m), ROUTER_NOT_FOUND);
    router_free(&r);
}

/* Whatever cap is, the Allow text never goes past it, stays NUL-terminated
 * and is the start of the full list. */
static void test_allow_small_buffer(void **state)
{
    (void)state;
    struct router            r;
    const struct http_route *rt;
    struct http_str          params[HTTP_MAX_PARAMS];
    unsigned                 np;
    char                     buf[32];
    const char              *full = "GET, HEAD, POST, DELETE";
    router_init(&r);
    router_add(&r, HTTP_M_GET, "/x", h_a, 0);
    router_add(&r, HTTP_M_POST, "/x", h_a, 0);
    router_add(&r, HTTP_M_DELETE, "/x", h_a, 0);

    for (size_t cap = 0; cap < sizeof(buf); cap++) {
        memset(buf, '#', sizeof(buf));
        assert_int_equal(router_match(&r, HTTP_M_PUT, "/x", 2, &rt, params, &np, buf, cap), ROUTER_BAD_METHOD);
        for (size_t j = cap; j < sizeof(buf); j++)
            assert_int_equal(buf[j], '#');
        if (cap == 0)
            continue;
        size_t n = strnlen(buf, cap);
        assert_true(n < cap);
        assert_memory_equal(buf, full, n);
        if (cap > strlen(full))
            assert_string_equal(buf, full);
    }
    router_free(&r);
}

/* A too-small buffer should get whole methods only ("GET, HEAD"), never a
 * cut name ("GET, HEAD, PO"), which a client would read as a method. */
static void test_allow_whole_methods(void **state)
{
    (void)state;
    struct router            r;
    const struct http_route *rt;
    struct http_str          params[HTTP_MAX_PARAMS];
    unsigned                 np;
    char                     buf[32];
    router_init(&r);
    router_add(&r, HTTP_M_GET, "/x", h_a, 0);
    router_add(&r, HTTP_M_POST, "/x", h_a, 0);
    router_add(&r, HTTP_M_DELETE, "/x", h_a, 0);

    const size_t      caps[] = {1, 3, 4, 9, 10, 15, 16, 23, 24};
    const char *const want[] = {"",
                                "",
                                "GET",
                                "GET",
                                "GET, HEAD",
                                "GET, HEAD",
                                "GET, HEAD, POST",
                                "GET, HEAD, POST",
                                "GET, HEAD, POST, DELETE"};
    bool              bug = false;
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
        router_match(&r, HTTP_M_PUT, "/x", 2, &rt, params, &np, buf, caps[i]);
        if (strcmp(buf, want[i]) != 0) {
            print_message("cap %zu: Allow \"%s\", want \"%s\"\n", caps[i], buf, want[i]);
            bug = true;
        }
    }
    router_free(&r);
    assert_false(bug);
}

/* ---- counters ----------------------------------------------------------- */

static uint64_t count_of(const struct http_route *rt, int status, enum http_method m)
{
    for (int i = 0; i < ROUTER_STATUS_SLOTS; i++)
        if (rt->counts[i].status == status && rt->counts[i].method == m)
            return rt->counts[i].count;
    return 0;
}

static void test_count(void **state)
{
    (void)state;
    struct router r;
    router_init(&r);
    struct http_route *get = router_add(&r, HTTP_M_GET, "/healthz", h_a, 0);

    router_count(get, HTTP_M_GET, 200);
    router_count(get, HTTP_M_GET, 200);
    router_count(get, HTTP_M_HEAD, 200); /* HEAD counts as its GET route */
    router_count(get, HTTP_M_GET, 503);
    assert_int_equal(count_of(get, 200, HTTP_M_GET), 3);
    assert_int_equal(count_of(get, 503, HTTP_M_GET), 1);
    assert_int_equal(count_of(get, 200, HTTP_M_HEAD), 0);
    assert_int_equal(get->counts[2].status, 0);

    /* A catch-all route (method OTHER, like the static-file or 404 route)
     * keeps one bucket per method. */
    struct http_route any;
    memset(&any, 0, sizeof(any));
    router_count(&any, HTTP_M_GET, 404);
    router_count(&any, HTTP_M_POST, 404);
    router_count(&any, HTTP_M_POST, 404);
    assert_int_equal(count_of(&any, 404, HTTP_M_GET), 1);
    assert_int_equal(count_of(&any, 404, HTTP_M_POST), 2);

    /* More distinct codes than slots: nothing is lost, the excess folds
     * into the last slot. */
    struct http_route many;
    memset(&many, 0, sizeof(many));
    many.method = HTTP_M_POST;
    for (int s = 0; s < ROUTER_STATUS_SLOTS + 5; s++)
        router_count(&many, HTTP_M_POST, 200 + s);
    uint64_t total = 0;
    for (int i = 0; i < ROUTER_STATUS_SLOTS; i++) {
        assert_int_equal(many.counts[i].status, 200 + i);
        total += many.counts[i].count;
    }
    assert_int_equal(total, ROUTER_STATUS_SLOTS + 5);
    assert_int_equal(many.counts[ROUTER_STATUS_SLOTS - 1].count, 6);
    router_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_parse_name),      cmocka_unit_test(test_literal_and_params),
        cmocka_unit_test(test_path_length_respected),  cmocka_unit_test(test_literal_beats_param),
        cmocka_unit_test(test_root_and_many_segments), cmocka_unit_test(test_earlier_literal_wins),
        cmocka_unit_test(test_pattern_too_long),       cmocka_unit_test(test_many_routes),
        cmocka_unit_test(test_head_and_405),           cmocka_unit_test(test_allow_small_buffer),
        cmocka_unit_test(test_allow_whole_methods),    cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
