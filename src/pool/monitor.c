/*
 * monitor: lease, fencing, scan, events. The contract is in monitor.h; the
 * design in docs/monitor.md.
 *
 * One tick (every GSS_MONITOR_SCAN_MS), never two at once (`busy`):
 *   lease script --(not ours)--> done, counted as skipped
 *        |(taken now: INCR fence for a new token; still ours: keep the token)
 *   BEGIN
 *   UPDATE monitor_lease SET fence = tok WHERE fence <= tok  (0 rows: fenced out)
 *   claimed -> late     (due rows, audit rows, event data)
 *   late    -> no_show  (the same; sees the rows the statement before changed)
 *   [no_show candidates for auto-replace]
 *   COMMIT, then publish the events and hand the candidates over.
 */
#include "pool/monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

/* ---- pure helpers ----------------------------------------------------------- */

int monitor_parse_date(const char *s, int *y, int *mo, int *d)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return -1;
    int yy = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int mm = (s[5] - '0') * 10 + (s[6] - '0');
    int dd = (s[8] - '0') * 10 + (s[9] - '0');
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (yy < 2000 || yy > 2199 || mm < 1 || mm > 12 || dd < 1)
        return -1;
    bool leap = (yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0;
    if (dd > days[mm - 1] + (mm == 2 && leap))
        return -1;
    *y = yy;
    *mo = mm;
    *d = dd;
    return 0;
}

void monitor_jakarta_date(int64_t unix_s, char out[11])
{
    time_t    t = (time_t)(unix_s + 7 * 3600); /* WIB is UTC+7 all year */
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(out, 11, "%Y-%m-%d", &tm) != 10)
        out[0] = '\0'; /* a year past 9999 */
}

const char *monitor_tech_state(const char *s, bool released, bool checkin_late)
{
    if (released || !strcmp(s, "replaced"))
        return "replaced";
    if (!strcmp(s, "claimed"))
        return "waiting";
    if (!strcmp(s, "late") || !strcmp(s, "no_show") || !strcmp(s, "done") || !strcmp(s, "cancelled"))
        return s[0] == 'l' ? "late" : s[0] == 'n' ? "no_show" : s[0] == 'd' ? "done" : "cancelled";
    if (!strcmp(s, "checked_in") || !strcmp(s, "checked_out"))
        return checkin_late ? "checked_in" : "on_time";
    return "waiting";
}

/* ---- events ----------------------------------------------------------------- */

static void on_published(redisAsyncContext *ac, void *reply, void *priv)
{
    struct monitor *m = priv;
    redisReply     *r = reply;
    (void)ac;
    if (r && r->type == REDIS_REPLY_INTEGER) {
        m->published++;
        return;
    }
    m->publish_errors++;
    if (r && r->type == REDIS_REPLY_ERROR)
        log_error("monitor", "publish refused: %s", r->str);
}

int monitor_publish(struct monitor *m, const char *type, const char *data_json)
{
    if (!m || m->stopping || !type || !data_json)
        return -1;
    if (strncmp(type, "monitor.", 8) != 0 || !type[8] || strspn(type + 8, "abcdefghijklmnopqrstuvwxyz_") != strlen(type + 8)) {
        m->publish_errors++;
        return -1;
    }
    const char *argv[4] = {m->seq_key, m->channel, type, data_json};
    if (rds_evalsha(m->redis, &m->s_publish, 1, 4, argv, NULL, on_published, m) < 0) {
        m->publish_errors++;
        return -1;
    }
    return 0;
}

/* ---- the scan ---------------------------------------------------------------- */

static void scan_clear(struct monitor *m)
{
    for (size_t i = 0; i < m->nev; i++)
        free(m->ev[i].data);
    m->nev = 0;
    m->nrep = 0;
    m->auto_asked = false;
}

static void collect_events(struct monitor *m, PGresult *res, const char *type)
{
    int n = PQntuples(res);
    if (m->nev + (size_t)n > m->cap_ev) {
        m->cap_ev = m->nev + (size_t)n + 16;
        m->ev = xrealloc(m->ev, m->cap_ev * sizeof(*m->ev));
    }
    for (int i = 0; i < n; i++) {
        m->ev[m->nev].type = type;
        m->ev[m->nev].data = xstrdup(PQgetvalue(res, i, 0));
        m->nev++;
    }
}

/* Claimed -> late and late -> no_show: the due rows by the partial index
 * (the literal state in the WHERE lets the planner prove it), locked without
 * waiting for a check-in that holds one; the conditional update, its audit
 * rows and the event data in one statement. $1 seconds past the schedule,
 * $2 batch, $3 our token (kept in the audit row). */
#define TRANSITION_SQL(FROM, TO)                                                                                       \
    "WITH due AS ("                                                                                                    \
    "  SELECT ticket_id, tech_id FROM assignments"                                                                     \
    "  WHERE state = '" FROM "' AND released_at IS NULL AND sched_at <= now() - make_interval(secs => $1::int)"        \
    "  ORDER BY sched_at LIMIT $2::int FOR UPDATE SKIP LOCKED),"                                                       \
    " up AS ("                                                                                                         \
    "  UPDATE assignments a SET state = '" TO "' FROM due"                                                             \
    "  WHERE a.ticket_id = due.ticket_id AND a.tech_id = due.tech_id AND a.state = '" FROM "'"                         \
    "    AND a.released_at IS NULL"                                                                                    \
    "  RETURNING a.ticket_id, a.tech_id, a.sched_at),"                                                                 \
    " au AS ("                                                                                                         \
    "  INSERT INTO audit_log (actor_id, entity, entity_id, action, before, after, data)"                              \
    "  SELECT NULL, 'ticket', up.ticket_id, 'assignment." TO "', '" FROM "', '" TO "',"                                \
    "         jsonb_build_object('tech_id', up.tech_id, 'by', 'monitor', 'fence', $3::bigint) FROM up)"               \
    "SELECT json_build_object('ticket_id', up.ticket_id, 'code', t.code, 'tech_id', up.tech_id,"                      \
    "         'tech_name', u.name, 'customer_name', c.name, 'area', t.area, 'state', '" TO "',"                        \
    "         'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"                              \
    "         'scheduled_at', to_char(up.sched_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"              \
    "         'minutes_late', floor(extract(epoch FROM now() - up.sched_at) / 60)::int)::text"                         \
    " FROM up JOIN tickets t ON t.id = up.ticket_id JOIN users u ON u.id = up.tech_id"                                 \
    " JOIN customers c ON c.id = t.customer_id ORDER BY up.sched_at, up.ticket_id, up.tech_id"

static const char late_sql[] = TRANSITION_SQL("claimed", "late");
static const char noshow_sql[] = TRANSITION_SQL("late", "no_show");

static int step_fence(struct pg_chain *ch, PGresult *prev)
{
    struct monitor *m = ch->ud;
    (void)prev;
    char tok[24];
    snprintf(tok, sizeof(tok), "%lld", (long long)m->fence);
    const char *p[1] = {tok};
    /* Locks the row until COMMIT; the value it returns is ours only if no
     * newer token got there first. */
    return pg_chain_query(ch, "UPDATE monitor_lease SET fence = greatest(fence, $1::bigint) WHERE id = 1 RETURNING fence",
                          1, p);
}

static int transition(struct pg_chain *ch, const char *sql, int64_t after_s)
{
    struct monitor *m = ch->ud;
    char            secs[24], batch[16], tok[24];
    snprintf(secs, sizeof(secs), "%lld", (long long)after_s);
    snprintf(batch, sizeof(batch), "%d", MONITOR_BATCH);
    snprintf(tok, sizeof(tok), "%lld", (long long)m->fence);
    const char *p[3] = {secs, batch, tok};
    return pg_chain_query(ch, sql, 3, p);
}

static int step_late(struct pg_chain *ch, PGresult *prev)
{
    struct monitor *m = ch->ud;
    if (PQntuples(prev) == 0)
        return 2; /* no row: the migration did not run */
    m->row_fence = atoll(PQgetvalue(prev, 0, 0));
    if (m->row_fence != m->fence)
        return 1; /* a newer token is in the row: another gssd holds the lease */
    return transition(ch, late_sql, m->cfg->late_grace_s);
}

static int step_noshow(struct pg_chain *ch, PGresult *prev)
{
    struct monitor *m = ch->ud;
    collect_events(m, prev, "monitor.late");
    return transition(ch, noshow_sql, m->cfg->noshow_after_s);
}

static int step_candidates(struct pg_chain *ch, PGresult *prev)
{
    struct monitor *m = ch->ud;
    collect_events(m, prev, "monitor.no_show");
    if (m->cfg->auto_replace_after_s <= 0 || !m->on_replace)
        return 0; /* nothing issued: COMMIT */
    char secs[24], batch[16];
    snprintf(secs, sizeof(secs), "%lld", (long long)(m->cfg->noshow_after_s + m->cfg->auto_replace_after_s));
    snprintf(batch, sizeof(batch), "%d", MONITOR_BATCH);
    const char *p[2] = {secs, batch};
    m->auto_asked = true;
    return pg_chain_query(ch,
                          "SELECT ticket_id, tech_id FROM assignments"
                          " WHERE state = 'no_show' AND released_at IS NULL"
                          "   AND sched_at <= now() - make_interval(secs => $1::int)"
                          " ORDER BY sched_at LIMIT $2::int",
                          2, p);
}

static int step_collect(struct pg_chain *ch, PGresult *prev)
{
    struct monitor *m = ch->ud;
    if (!m->auto_asked)
        return 0;
    int n = PQntuples(prev);
    if ((size_t)n > m->cap_rep) {
        m->cap_rep = (size_t)n;
        m->rep = xrealloc(m->rep, m->cap_rep * sizeof(*m->rep));
    }
    for (int i = 0; i < n; i++) {
        m->rep[i].ticket_id = atoll(PQgetvalue(prev, i, 0));
        m->rep[i].tech_id = atoll(PQgetvalue(prev, i, 1));
    }
    m->nrep = (size_t)n;
    return 0;
}

static const pg_step scan_steps[] = {step_fence, step_late, step_noshow, step_candidates, step_collect, NULL};

static void drop_lease(struct monitor *m);
static void on_dropped(redisAsyncContext *ac, void *reply, void *priv);

static void on_scan_done(struct pg_chain *ch, int stop, enum pg_err err, const char *state, const char *msg)
{
    struct monitor *m = ch->ud;
    uint64_t        ns = uv_hrtime() - m->scan_t0;
    m->busy = false;
    if (err != PG_OK) {
        m->failures++;
        if (!m->stopping)
            log_warn("monitor", "scan failed: %s %s %s", pg_err_name(err), state ? state : "", msg ? msg : "");
        scan_clear(m);
        return;
    }
    if (stop == 2) {
        m->failures++;
        log_error("monitor", "monitor_lease has no row (migration 0005 missing?)");
        scan_clear(m);
        return;
    }
    if (stop) {
        /* Fenced out: our token is older than the row's. We were paused or
         * cut off past our lease and someone else took it; never write.
         * The counter in Redis is raised to the row's token in case Redis
         * lost it (else INCR would hand out stale tokens for ever). */
        m->fenced++;
        log_warn("monitor", "fencing token %lld is older than %lld: another gssd holds the lease", (long long)m->fence,
                 (long long)m->row_fence);
        m->fence = 0;
        m->held = false;
        drop_lease(m);
        char        tok[24];
        snprintf(tok, sizeof(tok), "%lld", (long long)m->row_fence);
        const char *argv[2] = {m->fence_key, tok};
        rds_evalsha(m->redis, &m->s_fence, 1, 2, argv, NULL, on_dropped, m);
        scan_clear(m);
        return;
    }
    m->scans++;
    m->last_scan_ns = ns;
    if (ns > m->max_scan_ns)
        m->max_scan_ns = ns;
    for (size_t i = 0; i < m->nev; i++) {
        if (m->ev[i].type[8] == 'l')
            m->late++;
        else
            m->no_show++;
        if (!m->stopping)
            monitor_publish(m, m->ev[i].type, m->ev[i].data);
    }
    if (m->nev)
        log_info("monitor", "scan: %zu transition(s)", m->nev);
    for (size_t i = 0; i < m->nrep && !m->stopping && m->on_replace; i++) {
        m->handed++;
        m->on_replace(m->replace_ud, m->rep[i].ticket_id, m->rep[i].tech_id);
    }
    scan_clear(m);
}

static void scan(struct monitor *m)
{
    scan_clear(m);
    m->scan_t0 = uv_hrtime();
    /* A scan should never outlive the lease it runs under. */
    int64_t budget = m->cfg->monitor_scan_ms * 3;
    if (budget > m->cfg->pg_tx_timeout_ms)
        budget = m->cfg->pg_tx_timeout_ms;
    if (pg_chain_start(&m->chain, m->pg, budget, scan_steps, on_scan_done, m) < 0) {
        m->failures++;
        m->busy = false;
    }
}

/* ---- the lease -------------------------------------------------------------- */

static void on_fence(redisAsyncContext *ac, void *reply, void *priv)
{
    struct monitor *m = priv;
    redisReply     *r = reply;
    (void)ac;
    if (m->stopping || !r || r->type != REDIS_REPLY_INTEGER || r->integer <= 0) {
        m->busy = false;
        if (!m->stopping)
            m->skipped++;
        return;
    }
    m->fence = r->integer;
    log_info("monitor", "scanner lease taken (%s), fencing token %lld", m->holder, (long long)m->fence);
    scan(m);
}

static void on_lease(redisAsyncContext *ac, void *reply, void *priv)
{
    struct monitor *m = priv;
    redisReply     *r = reply;
    (void)ac;
    if (m->stopping) {
        m->busy = false;
        return;
    }
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer == 0) {
        if (r && r->type == REDIS_REPLY_ERROR)
            log_error("monitor", "lease script: %s", r->str);
        if (m->held)
            log_info("monitor", "scanner lease lost");
        m->held = false;
        m->fence = 0;
        m->skipped++;
        m->busy = false;
        return;
    }
    m->held = true;
    if (r->integer == 2)
        m->fence = 0; /* newly taken: a token of the old tenure must not be reused */
    if (m->fence > 0) {
        scan(m);
        return;
    }
    const char *argv[2] = {"INCR", m->fence_key};
    if (rds_cmd(m->redis, on_fence, m, 2, argv, NULL) < 0) {
        m->busy = false;
        m->skipped++;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct monitor *m = t->data;
    if (m->busy || m->stopping)
        return; /* the previous tick is still at work */
    char px[24];
    snprintf(px, sizeof(px), "%lld", (long long)(m->cfg->monitor_scan_ms * 3));
    const char *argv[4] = {m->lease_key, m->holder, "take", px};
    m->busy = true;
    if (rds_evalsha(m->redis, &m->s_lease, 1, 4, argv, NULL, on_lease, m) < 0) {
        m->busy = false;
        m->held = false;
        m->skipped++;
    }
}

static void on_dropped(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    (void)reply;
    (void)priv;
}

static void drop_lease(struct monitor *m)
{
    const char *argv[4] = {m->lease_key, m->holder, "drop", "0"};
    rds_evalsha(m->redis, &m->s_lease, 1, 4, argv, NULL, on_dropped, m);
}

/* ---- lifetime --------------------------------------------------------------- */

int monitor_start(struct monitor *m, uv_loop_t *loop, const struct gss_config *cfg, struct pg_pool *pg,
                  struct rds *redis)
{
    memset(m, 0, sizeof(*m));
    m->loop = loop;
    m->cfg = cfg;
    m->pg = pg;
    m->redis = redis;
    if (rds_script_init(&m->s_publish, "monitor_publish") < 0 || rds_script_init(&m->s_lease, "monitor_lease") < 0 ||
        rds_script_init(&m->s_fence, "monitor_fence") < 0) {
        log_error("monitor", "an embedded Lua script is missing");
        return -1;
    }
    snprintf(m->lease_key, sizeof(m->lease_key), "%s:monitor:lease", cfg->redis_prefix);
    snprintf(m->fence_key, sizeof(m->fence_key), "%s:monitor:fence", cfg->redis_prefix);
    snprintf(m->seq_key, sizeof(m->seq_key), "%s:monitor:seq", cfg->redis_prefix);
    snprintf(m->channel, sizeof(m->channel), "%s:monitor", cfg->redis_prefix);
    char   host[64] = "localhost";
    size_t hl = sizeof(host);
    if (uv_os_gethostname(host, &hl) != 0)
        snprintf(host, sizeof(host), "localhost");
    /* pid and host say who holds it; the start time tells a restarted
     * process with a reused pid (containers) from its predecessor */
    snprintf(m->holder, sizeof(m->holder), "%d@%s#%llx", (int)getpid(), host, (unsigned long long)uv_hrtime());
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    m->timer_up = true;
    uint64_t every = (uint64_t)cfg->monitor_scan_ms;
    uv_timer_start(&m->timer, on_tick, every, every);
    return 0;
}

void monitor_set_auto_replace(struct monitor *m, monitor_replace_fn fn, void *ud)
{
    m->on_replace = fn;
    m->replace_ud = ud;
}

void monitor_stop(struct monitor *m)
{
    if (m->stopping)
        return;
    if (m->held)
        drop_lease(m);
    m->stopping = true;
    if (m->timer_up) {
        uv_timer_stop(&m->timer);
        uv_close((uv_handle_t *)&m->timer, NULL);
        m->timer_up = false;
    }
}

void monitor_free(struct monitor *m)
{
    if (!m)
        return;
    scan_clear(m);
    free(m->ev);
    free(m->rep);
    m->ev = NULL;
    m->rep = NULL;
}

void monitor_metrics(const struct monitor *m, struct buf *b)
{
    buf_printf(b,
               "# HELP gss_monitor_scans_total Scans committed by this process (lease holder).\n"
               "# TYPE gss_monitor_scans_total counter\ngss_monitor_scans_total %llu\n"
               "# HELP gss_monitor_scans_skipped_total Ticks that did not scan: lease held elsewhere or Redis down.\n"
               "# TYPE gss_monitor_scans_skipped_total counter\ngss_monitor_scans_skipped_total %llu\n"
               "# HELP gss_monitor_fenced_total Scans refused because a newer fencing token was in PostgreSQL.\n"
               "# TYPE gss_monitor_fenced_total counter\ngss_monitor_fenced_total %llu\n"
               "# TYPE gss_monitor_scan_failures_total counter\ngss_monitor_scan_failures_total %llu\n"
               "# HELP gss_monitor_transitions_total Slots this process moved, by kind.\n"
               "# TYPE gss_monitor_transitions_total counter\n"
               "gss_monitor_transitions_total{kind=\"late\"} %llu\n"
               "gss_monitor_transitions_total{kind=\"no_show\"} %llu\n"
               "# TYPE gss_monitor_events_published_total counter\ngss_monitor_events_published_total %llu\n"
               "# TYPE gss_monitor_publish_errors_total counter\ngss_monitor_publish_errors_total %llu\n"
               "# TYPE gss_monitor_auto_replace_handed_total counter\ngss_monitor_auto_replace_handed_total %llu\n"
               "# HELP gss_monitor_scan_seconds Duration of the last scan transaction (BEGIN to COMMIT).\n"
               "# TYPE gss_monitor_scan_seconds gauge\ngss_monitor_scan_seconds %.6f\n"
               "# TYPE gss_monitor_scan_max_seconds gauge\ngss_monitor_scan_max_seconds %.6f\n"
               "# HELP gss_monitor_lease_held 1 while this process holds the scanner lease.\n"
               "# TYPE gss_monitor_lease_held gauge\ngss_monitor_lease_held %d\n",
               (unsigned long long)m->scans, (unsigned long long)m->skipped, (unsigned long long)m->fenced,
               (unsigned long long)m->failures, (unsigned long long)m->late, (unsigned long long)m->no_show,
               (unsigned long long)m->published, (unsigned long long)m->publish_errors,
               (unsigned long long)m->handed, (double)m->last_scan_ns / 1e9, (double)m->max_scan_ns / 1e9,
               m->held ? 1 : 0);
}
