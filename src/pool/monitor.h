/*
 * monitor: the visit scanner and the monitor.* events (docs/monitor.md).
 *
 * What it provides
 *   - A scan every GSS_MONITOR_SCAN_MS: assignments with no check-in become
 *     `late` at scheduled + GSS_LATE_GRACE_S and `no_show` at scheduled +
 *     GSS_NOSHOW_AFTER_S. A scan reads the due rows only (partial indexes on
 *     assignments.sched_at, db/migrations/0005_monitor.sql), at most
 *     MONITOR_BATCH per kind.
 *   - One scanner in the cluster. Every tick the process asks for the lease
 *     P:monitor:lease (lua/monitor_lease.lua: extended when it is ours, taken
 *     when free, lifetime 3 x the interval). Taking it earns a fencing token,
 *     INCR P:monitor:fence. A scan is one transaction whose first statement
 *     writes the token into monitor_lease and goes on only if no higher one
 *     is there (`UPDATE ... SET fence = greatest(fence, $tok) RETURNING
 *     fence`, which also locks the row until COMMIT): a process paused past
 *     its lease wakes with an old token, finds the newer one, writes nothing
 *     and drops the lease. It also raises P:monitor:fence to the row's token
 *     (lua/monitor_fence.lua), so a Redis that lost the counter cannot
 *     fence every scanner out for ever.
 *     (docs/monitor.md describes a separate write of the token then a
 *     SELECT ... FOR UPDATE; this is the same check in one round trip.)
 *   - Idempotent detection: transitions are conditional updates (`WHERE
 *     state = 'claimed'`, rows locked with SKIP LOCKED so a check-in in
 *     progress is not waited for), each with its audit row (entity ticket,
 *     action assignment.late / assignment.no_show, actor NULL) in the same
 *     statement; an event is published only for a row the update changed,
 *     after COMMIT. A restart or a second process never raises one twice
 *     (a crash between COMMIT and the publish loses that live event; the
 *     snapshot, GET /api/v1/monitor, still has it).
 *   - monitor_publish: {"type":"monitor.<x>","seq":N,"data":{...}} on the
 *     channel P:monitor, where N = INCR P:monitor:seq in the same Lua call
 *     (lua/monitor_publish.lua). Used by the scanner and by handlers
 *     (check-in, work done, cancel, replace). app/live.c forwards the channel
 *     to cs and admin WebSockets.
 *   - GSS_AUTO_REPLACE_AFTER_S > 0: after each committed scan, the lease
 *     holder hands every no_show still holding a slot whose deadline passed
 *     that long ago (sched_at + no-show + auto-replace <= now) to the
 *     callback set with monitor_set_auto_replace. A pair stays a candidate
 *     until the callback's own transaction replaces it, so the callback may
 *     get the same pair again on the next scan (even while its previous call
 *     is still in flight): it must be idempotent (lock, check the state).
 *
 * Memory: struct monitor is the caller's (embedded or allocated); the
 * strings it holds are its own. monitor_stop closes the timer; monitor_free
 * may run only after the loop has returned (callbacks of Redis and
 * PostgreSQL calls still in flight touch the struct until then).
 * Threads: the loop's thread only.
 * Errors: Redis or PostgreSQL unavailable means the tick does nothing (it is
 * counted) and the next one tries again.
 */
#ifndef GSS_POOL_MONITOR_H
#define GSS_POOL_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/buf.h"
#include "store/pg.h"
#include "store/redis.h"

struct gss_config;

#define MONITOR_BATCH 500 /* rows per kind per scan; more wait for the next */

/* ticket_id's technician tech_id has been a no_show for
 * GSS_AUTO_REPLACE_AFTER_S: replace them (B's action). Runs after COMMIT. */
typedef void (*monitor_replace_fn)(void *ud, int64_t ticket_id, int64_t tech_id);

struct monitor_event {
    const char *type; /* "monitor.late" / "monitor.no_show" (static) */
    char       *data; /* owned JSON object */
};

struct monitor_pair {
    int64_t ticket_id, tech_id;
};

struct monitor {
    uv_loop_t               *loop;
    const struct gss_config *cfg;   /* not owned */
    struct pg_pool          *pg;    /* not owned */
    struct rds              *redis; /* commands and scripts; not owned */
    struct rds_script        s_publish, s_lease, s_fence;
    uv_timer_t               timer;
    char                     lease_key[128], fence_key[128], seq_key[128]; /* P:monitor:{lease,fence,seq} */
    char                     channel[96];                                  /* P:monitor */
    char                     holder[160]; /* this process in the lease: pid@host#start */
    int64_t                  fence;       /* our fencing token; 0 while we have none */
    int64_t                  row_fence;   /* monitor_lease.fence as the last scan found it */
    bool                     held;        /* Redis last said the lease is ours */
    bool                     busy;        /* a lease call or a scan is in flight */
    bool                     timer_up, stopping;
    monitor_replace_fn       on_replace;
    void                    *replace_ud;

    /* the scan in hand */
    struct pg_chain       chain;
    struct monitor_event *ev;
    size_t                nev, cap_ev;
    struct monitor_pair  *rep;
    size_t                nrep, cap_rep;
    bool                  auto_asked; /* the candidates query was issued */
    uint64_t              scan_t0;    /* uv_hrtime() at BEGIN */

    /* counters since start */
    uint64_t scans, skipped, fenced, failures, late, no_show, published, publish_errors, handed;
    uint64_t last_scan_ns, max_scan_ns;
};

/* Fills m, keys from cfg->redis_prefix, and starts the timer (first tick
 * after one interval). 0, or -1 (an embedded script is missing). */
int  monitor_start(struct monitor *m, uv_loop_t *loop, const struct gss_config *cfg, struct pg_pool *pg,
                   struct rds *redis);
void monitor_set_auto_replace(struct monitor *m, monitor_replace_fn fn, void *ud);
/* No more ticks; drops the lease when it is ours so another gssd takes over
 * at once. In-flight calls finish (without publishing) as their stores close. */
void monitor_stop(struct monitor *m);
void monitor_free(struct monitor *m);

/* Publishes one event; type is "monitor.<a-z_>", data_json a JSON object
 * (copied at call time). Fire and forget: 0 (sent), -1 (m NULL or stopping,
 * Redis down, bad type); failures are counted in /metrics. */
int monitor_publish(struct monitor *m, const char *type, const char *data_json);

void monitor_metrics(const struct monitor *m, struct buf *b);

/* ---- pure helpers (unit-tested) ---- */

/* "YYYY-MM-DD", a real calendar day of 2000..2199: 0 and the parts, else -1. */
int monitor_parse_date(const char *s, int *y, int *mo, int *d);
/* The Jakarta (UTC+7, no DST) date of a Unix time, as "YYYY-MM-DD". */
void monitor_jakarta_date(int64_t unix_s, char out[11]);
/* A technician's state on the monitor from the slot's state (assignments.state),
 * whether it was released, and whether its check-in was late:
 * waiting, late, no_show, on_time, checked_in, done, replaced, cancelled. */
const char *monitor_tech_state(const char *asg_state, bool released, bool checkin_late);

#endif
