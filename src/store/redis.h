/*
 * redis: one hiredis async connection on the loop, kept alive.
 *
 * A struct rds owns its redisAsyncContext. When the connection drops (or a
 * connect fails), hiredis frees the context and runs every pending callback
 * with a NULL reply; we forget our pointer in the disconnect callback and
 * reconnect from a timer with exponential backoff (100 ms doubling to 2 s).
 * While down, rds_cmd returns -1 at once and the caller answers 503 or
 * retries later; nothing queues up unbounded behind a dead server.
 *
 * Scripts: rds_evalsha sends EVALSHA with the SHA-1 we computed from the
 * embedded source (so no SCRIPT LOAD round trip is needed first); if Redis
 * answers NOSCRIPT (restarted, flushed) the same call is re-sent once as
 * EVAL, which also caches the script again. The caller's callback sees only
 * the final reply.
 */
#ifndef GSS_STORE_REDIS_H
#define GSS_STORE_REDIS_H

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct rds;
typedef void (*rds_state_cb)(struct rds *r);

struct rds {
    uv_loop_t         *loop;
    char               host[64];
    int                port;
    int                db;
    const char        *name; /* for logs: "main", "sub", "persist" */
    redisAsyncContext *ac;   /* NULL while down; owned by hiredis */
    bool               up;
    bool               closing;
    uv_timer_t         retry;
    uint64_t           backoff_ms;
    rds_state_cb       on_up, on_down;
    void              *data;
    uint64_t           commands;
    bool               warned;
    /* Liveness: a connection counts as up only once Redis has answered a
     * PING on it; while up, a probe goes out every second and a probe
     * unanswered for RDS_HANG_MS drops the connection (on_down runs, then
     * the reconnect), so a hung Redis (stopped, swapping, partitioned) or a
     * half-open TCP connection fails requests with 503 instead of holding
     * them forever, and a subscriber that stopped hearing is noticed.
     * The probe is a PING, unless `probe` is set: then the watchdog calls
     * it, it sends its own command with rds_probe_send and its reply
     * callback calls rds_probe_answered (the subscriber, whose connection
     * cannot route a PING's answer to a callback; see sub.c). `quiet` with
     * no `probe`: no probe at all once up. */
    uv_timer_t   watchdog;
    bool         quiet;
    rds_state_cb probe;
    bool         ping_out;
    uint64_t     ping_sent; /* uv_now() ms */
    uint64_t     hangs;     /* connections dropped for not answering */
};

#define RDS_HANG_MS 3000

struct rds_script {
    const char *name;
    const char *src;
    size_t      len;
    char        sha[41];
};

/* Parses redis://host:port[/db]. 0 or -1. */
int  rds_init(struct rds *r, uv_loop_t *loop, const char *url, const char *name);
void rds_start(struct rds *r);
void rds_close(struct rds *r);

int rds_cmd(struct rds *r, redisCallbackFn *fn, void *priv, int argc, const char **argv, const size_t *lens);
int rds_cmdf(struct rds *r, redisCallbackFn *fn, void *priv, const char *fmt, ...);

/* For a `probe`: sends the command and starts the watchdog's clock on it,
 * as for a PING. fn gets its reply (for a SUBSCRIBE: every push of that
 * channel), and NULL when the connection drops. 0 or -1 (down). */
int rds_probe_send(struct rds *r, redisCallbackFn *fn, void *priv, int argc, const char **argv);
/* The probe was answered: the connection is alive. */
void rds_probe_answered(struct rds *r);

/* Looks up an embedded script by name and computes its SHA-1. 0 or -1. */
int rds_script_init(struct rds_script *s, const char *name);
int rds_evalsha(struct rds *r, const struct rds_script *s, int nkeys, int argc, const char **argv, const size_t *lens,
                redisCallbackFn *fn, void *priv);

#endif
