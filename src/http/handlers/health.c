/* Liveness, readiness and Prometheus metrics. */
#include <stdio.h>
#include <string.h>

#include "http/handlers/handlers.h"
#include "http/server.h"
#include "http/services.h"
#include "store/pg.h"
#include "store/redis.h"

void h_healthz(struct http_req *req)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    http_add_header(req, "Cache-Control", "no-store");
    http_respond_json(req, 200, ok, sizeof(ok) - 1);
}

void h_readyz(struct http_req *req)
{
    struct gss_services *svc = req->svc;
    bool                 redis_up = svc->redis && svc->redis->up;
    bool                 pg_up = svc->pg && svc->pg->up > 0;
    char                 body[256];
    int                  n;
    http_add_header(req, "Cache-Control", "no-store");
    if (redis_up && pg_up) {
        n = snprintf(body, sizeof(body), "{\"status\":\"ready\",\"redis\":\"up\",\"postgres\":\"up\"}");
        http_respond_json(req, 200, body, (size_t)n);
        return;
    }
    const char *what = !redis_up && !pg_up ? "redis and postgres are down"
                       : !redis_up         ? "redis is down"
                                           : "postgres is down";
    n = snprintf(body, sizeof(body),
                 "{\"error\":{\"code\":\"not_ready\",\"message\":\"%s\"},\"redis\":\"%s\",\"postgres\":\"%s\"}", what,
                 redis_up ? "up" : "down", pg_up ? "up" : "down");
    http_respond_json(req, 503, body, (size_t)n);
}

static void route_counts(struct buf *b, const struct http_route *rt)
{
    for (int i = 0; i < ROUTER_STATUS_SLOTS && rt->counts[i].status; i++)
        buf_printf(b, "gss_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n", rt->pattern,
                   http_method_name((enum http_method)rt->counts[i].method), rt->counts[i].status,
                   (unsigned long long)rt->counts[i].count);
}

void h_metrics(struct http_req *req)
{
    struct gss_services *svc = req->svc;
    struct http_server  *srv = svc->http;
    struct buf           b = {0};
    buf_puts(&b, "# HELP gss_http_requests_total HTTP requests answered, by route pattern and status.\n"
                 "# TYPE gss_http_requests_total counter\n");
    for (unsigned i = 0; i < srv->router->n; i++)
        route_counts(&b, &srv->router->routes[i]);
    route_counts(&b, &srv->static_route);
    route_counts(&b, &srv->unmatched_route);
    buf_puts(&b, "# HELP gss_http_request_duration_seconds Time from a request's first byte to its answer.\n"
                 "# TYPE gss_http_request_duration_seconds histogram\n");
    for (int i = 0; i < 16; i++)
        buf_printf(&b, "gss_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", http_latency_bounds[i],
                   (unsigned long long)srv->latency_buckets[i]);
    buf_printf(&b,
               "gss_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
               "gss_http_request_duration_seconds_sum %.6f\n"
               "gss_http_request_duration_seconds_count %llu\n",
               (unsigned long long)srv->latency_count, srv->latency_sum, (unsigned long long)srv->latency_count);
    buf_printf(&b,
               "# HELP gss_http_connections_open Open HTTP and WebSocket connections.\n"
               "# TYPE gss_http_connections_open gauge\ngss_http_connections_open %zu\n"
               "# TYPE gss_http_connections_accepted_total counter\ngss_http_connections_accepted_total %llu\n"
               "# TYPE gss_http_connections_rejected_total counter\ngss_http_connections_rejected_total %llu\n",
               srv->nconns, (unsigned long long)srv->accepted, (unsigned long long)srv->rejected_overload);
    buf_printf(&b,
               "# HELP gss_redis_up Whether the command connection to Redis is up.\n"
               "# TYPE gss_redis_up gauge\ngss_redis_up %d\n"
               "# TYPE gss_redis_subscriber_up gauge\ngss_redis_subscriber_up %d\n"
               "# TYPE gss_redis_commands_total counter\ngss_redis_commands_total %llu\n"
               "# HELP gss_redis_hangs_total Connections dropped because Redis stopped answering.\n"
               "# TYPE gss_redis_hangs_total counter\ngss_redis_hangs_total %llu\n",
               svc->redis && svc->redis->up, svc->redis_sub && svc->redis_sub->up,
               (unsigned long long)(svc->redis ? svc->redis->commands : 0),
               (unsigned long long)(svc->redis ? svc->redis->hangs : 0));
    buf_printf(&b,
               "# HELP gss_postgres_up Whether at least one PostgreSQL connection is ready.\n"
               "# TYPE gss_postgres_up gauge\ngss_postgres_up %d\n"
               "# TYPE gss_postgres_connections gauge\ngss_postgres_connections %d\n"
               "# TYPE gss_postgres_queued gauge\ngss_postgres_queued %zu\n"
               "# TYPE gss_postgres_queries_total counter\ngss_postgres_queries_total %llu\n"
               "# TYPE gss_postgres_errors_total counter\ngss_postgres_errors_total %llu\n",
               svc->pg && svc->pg->up > 0, svc->pg ? svc->pg->up : 0, svc->pg ? svc->pg->queued : 0,
               (unsigned long long)(svc->pg ? svc->pg->queries : 0),
               (unsigned long long)(svc->pg ? svc->pg->errors : 0));
    if (svc->metrics_extra)
        svc->metrics_extra(svc, &b);
    http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
    buf_free(&b);
}
