/*
 * fuzz_http_parse: arbitrary bytes into a real gssd HTTP connection.
 *
 * The server (router, parser glue, limits, pipelining, error answers,
 * closing) runs for real on a libuv loop; the socket is one end of a
 * socketpair, the input is written to the other end followed by EOF. The
 * loop runs until the connection is gone. Nothing may crash, leak or trip a
 * sanitizer, and the loop must close cleanly after every input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"
#include "http/conn.h"
#include "http/handlers/handlers.h"
#include "http/router.h"
#include "http/server.h"
#include "http/services.h"

static void h_param(struct http_req *req)
{
    char v[64];
    http_query(req, "q", v, sizeof(v));
    http_param_id(req, 0);
    http_header(req, "Content-Type", NULL);
    http_respond_json(req, 200, "{}", 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int                 ready;
    static struct gss_config   cfg;
    static struct router       router;
    static struct gss_services svc;
    if (!ready) {
        char err[256];
        setenv("GSS_BODY_MAX", "4096", 1);
        setenv("GSS_LOG_REQUESTS", "0", 1);
        setenv("GSS_LOG_LEVEL", "error", 1);
        config_load(&cfg, err, sizeof(err));
        log_set_level(LOG_ERROR);
        svc.cfg = &cfg;
        router_init(&router);
        router_add(&router, HTTP_M_GET, "/healthz", h_healthz, 0);
        router_add(&router, HTTP_M_POST, "/api/v1/debug/echo", h_debug_echo, 0);
        router_add(&router, HTTP_M_GET, "/api/v1/things/{id}/x", h_param, 0);
        router_add(&router, HTTP_M_POST, "/api/v1/things/{id}", h_param, 0)->body_max = 100;
        ready = 1;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    svc.loop = &loop;
    struct http_server srv;
    svc.http = &srv;
    http_server_init(&srv, &svc, &router);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    int big = 1 << 20;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    http_server_adopt(&srv, sv[0]);
    size_t off = 0;
    char   sink[65536];
    /* Feed, run, drain the answers, until the input is in and the connection is gone. */
    for (int rounds = 0; rounds < 10000; rounds++) {
        if (off < size) {
            ssize_t n = write(sv[1], data + off, size - off);
            if (n > 0)
                off += (size_t)n;
            if (off == size)
                shutdown(sv[1], SHUT_WR);
        } else if (size == 0 && rounds == 0) {
            shutdown(sv[1], SHUT_WR);
        }
        uv_run(&loop, UV_RUN_NOWAIT);
        while (read(sv[1], sink, sizeof(sink)) > 0)
            ;
        if (srv.conns == NULL && off == size)
            break;
    }
    close(sv[1]);
    /* Anything still open (a stuck connection) is aborted so the loop can close. */
    for (struct http_conn *c = srv.conns; c; c = c->next)
        http_conn_abort(c);
    http_server_close(&srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        abort();
    return 0;
}
