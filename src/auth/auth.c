/*
 * auth.c: the session cache, the auth step, session storage in Redis,
 * invalidation over pub/sub, and the failed-login counters. Contract in
 * auth.h; the reasoning about staleness in docs/auth.md.
 *
 * Redis work that spans several keys is sent as a pipeline of single-key
 * commands (a "group"), never as one multi-key command or script: sessions
 * are not hash-tagged, so a multi-key call would break on Redis Cluster.
 * Where one key needs two steps that must not be split by a crash (write a
 * hash and give it a TTL; count a failure and start its window) a tiny
 * single-key script does both atomically.
 */
#include "auth/auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/password.h"
#include "store/redis.h"
#include "store/sub.h"

/* Above this many cached sessions new ones are served but not cached: the
 * cache is an optimisation and must not be a way to grow our memory. */
#define CACHE_MAX         200000
#define CACHE_MIN_BUCKETS 256
#define KEY_MAX           192

struct cache_ent {
    struct cache_ent    *next;
    struct auth_session *s; /* one reference, owned by the cache */
};

struct auth_state {
    uv_loop_t               *loop;
    const struct gss_config *cfg;   /* not owned */
    struct rds              *redis; /* commands and scripts; not owned */
    struct sub_state        *sub;   /* invalidations arrive here; its connection's state gates caching */
    struct auth_events       ev;    /* the layers above, told of ended sessions (may be all NULL) */
    struct cache_ent       **tab;   /* owned: cap chains (cap a power of two) */
    size_t                   cap, n;
    /* Bumped by every invalidation and flush. A Redis read started before
     * one may have read what was just ended, so its result is used for the
     * request that asked (which came first) but not cached. */
    uint64_t          gen;
    uv_timer_t        sweep; /* drops entries past GSS_SESSION_CACHE_MS */
    bool              sweep_open;
    char              chan[96]; /* <prefix>:sessinv */
    struct rds_script s_put, s_add, s_fail, s_peek;
    /* metrics */
    uint64_t hits, misses, inv_messages, resyncs, logins[3];
};

/* The one rule for usernames (the users table's CHECK says the same):
 * 3 to 32 of a-z 0-9 _ . - */
bool auth_username_valid(const char *s, size_t n)
{
    if (n < 3 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

/* ---- scripts ------------------------------------------------------------ */

/* KEYS[1] = session hash; ARGV = ttl, field, value, ... */
static const char lua_put[] = "redis.call('HSET', KEYS[1], unpack(ARGV, 2))\n"
                              "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
                              "return 1\n";
/* KEYS[1] = a user's set of token hashes; ARGV = ttl, member */
static const char lua_add[] = "redis.call('SADD', KEYS[1], ARGV[2])\n"
                              "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
                              "return 1\n";
/* KEYS[1] = failure counter; ARGV = window. The TTL check repairs a counter
 * that somehow lost its expiry, which would otherwise lock out for good. */
static const char lua_fail[] = "local n = redis.call('INCR', KEYS[1])\n"
                               "if n == 1 or redis.call('TTL', KEYS[1]) < 0 then\n"
                               "  redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
                               "end\n"
                               "return n\n";
/* KEYS[1] = failure counter -> {count, seconds left} */
static const char lua_peek[] = "local n = redis.call('GET', KEYS[1])\n"
                               "if not n then return {0, 0} end\n"
                               "return {tonumber(n), redis.call('TTL', KEYS[1])}\n";

static void script_init(struct rds_script *s, const char *name, const char *src, size_t len)
{
    uint8_t h[CRYPTO_SHA1_LEN];
    s->name = name;
    s->src = src;
    s->len = len;
    crypto_sha1(src, len, h);
    crypto_hex(h, sizeof(h), s->sha);
}

/* ---- small helpers ------------------------------------------------------ */

static const char *prefix(const struct auth_state *st)
{
    return st->cfg->redis_prefix;
}

static void key_sess(const struct auth_state *st, const char *th, char *out)
{
    snprintf(out, KEY_MAX, "%s:sess:%s", prefix(st), th);
}

static void key_usess(const struct auth_state *st, int64_t uid, char *out)
{
    snprintf(out, KEY_MAX, "%s:usess:%lld", prefix(st), (long long)uid);
}

void auth_cookie_value(const struct gss_config *cfg, const char *token, struct buf *out)
{
    if (token)
        buf_printf(out, AUTH_COOKIE_NAME "=%s; Path=/; Max-Age=%lld; HttpOnly; SameSite=Lax", token,
                   (long long)cfg->session_ttl_s);
    else
        buf_puts(out, AUTH_COOKIE_NAME "=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
    if (cfg->cookie_secure)
        buf_puts(out, "; Secure");
}

/* ---- the cache ---------------------------------------------------------- */

/* The token hash is SHA-256 hex: its first 16 digits are as good a hash as any. */
static uint64_t th_hash(const char *th)
{
    uint64_t h = 0;
    for (int i = 0; i < 16 && th[i]; i++) {
        char ch = th[i];
        h = (h << 4) | (uint64_t)(ch <= '9' ? ch - '0' : (ch | 0x20) - 'a' + 10);
    }
    return h;
}

static bool fresh(const struct auth_state *st, const struct auth_session *s)
{
    uint64_t now = uv_now(st->loop);
    return now - s->cached_at_ms < (uint64_t)st->cfg->session_cache_ms;
}

static void cache_unlink(struct auth_state *st, struct cache_ent **pp)
{
    struct cache_ent *e = *pp;
    *pp = e->next;
    auth_session_release(e->s);
    free(e);
    st->n--;
}

static struct auth_session *cache_get(struct auth_state *st, const char *th)
{
    if (st->n == 0)
        return NULL;
    struct cache_ent **pp = &st->tab[th_hash(th) & (st->cap - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if (memcmp((*pp)->s->token_hash, th, 64) != 0)
            continue;
        if (fresh(st, (*pp)->s))
            return (*pp)->s;
        cache_unlink(st, pp);
        return NULL;
    }
    return NULL;
}

static void cache_drop(struct auth_state *st, const char *th)
{
    if (st->n == 0)
        return;
    for (struct cache_ent **pp = &st->tab[th_hash(th) & (st->cap - 1)]; *pp; pp = &(*pp)->next)
        if (memcmp((*pp)->s->token_hash, th, 64) == 0) {
            cache_unlink(st, pp);
            return;
        }
}

/* Drops every entry for which pred says so (all of them when pred is NULL). */
static void cache_filter(struct auth_state *st,
                         bool (*pred)(const struct auth_state *, const struct auth_session *, int64_t), int64_t arg)
{
    for (size_t i = 0; i < st->cap && st->n; i++) {
        struct cache_ent **pp = &st->tab[i];
        while (*pp) {
            if (!pred || pred(st, (*pp)->s, arg))
                cache_unlink(st, pp);
            else
                pp = &(*pp)->next;
        }
    }
}

static bool of_user(const struct auth_state *st, const struct auth_session *s, int64_t uid)
{
    (void)st;
    return s->user_id == uid;
}

static bool stale(const struct auth_state *st, const struct auth_session *s, int64_t unused)
{
    (void)unused;
    return !fresh(st, s);
}

static void cache_grow(struct auth_state *st)
{
    size_t             ncap = st->cap * 2;
    struct cache_ent **nt = xcalloc(ncap, sizeof(*nt));
    for (size_t i = 0; i < st->cap; i++) {
        struct cache_ent *e = st->tab[i];
        while (e) {
            struct cache_ent *next = e->next;
            size_t            b = th_hash(e->s->token_hash) & (ncap - 1);
            e->next = nt[b];
            nt[b] = e;
            e = next;
        }
    }
    free(st->tab);
    st->tab = nt;
    st->cap = ncap;
}

/* Caches s (taking a reference) when it is safe to: caching is on, the
 * subscriber is up (otherwise we would miss invalidations), and no
 * invalidation happened since the read began (gen). */
static void cache_put(struct auth_state *st, struct auth_session *s, uint64_t gen)
{
    if (st->cfg->session_cache_ms <= 0 || !st->sub || !st->sub->redis || !st->sub->redis->up || gen != st->gen ||
        st->n >= CACHE_MAX)
        return;
    cache_drop(st, s->token_hash);
    if (st->n >= st->cap)
        cache_grow(st);
    struct cache_ent *e = xmalloc(sizeof(*e));
    size_t            b = th_hash(s->token_hash) & (st->cap - 1);
    e->s = auth_session_ref(s);
    e->next = st->tab[b];
    st->tab[b] = e;
    st->n++;
}

static void on_sweep(uv_timer_t *t)
{
    struct auth_state *st = t->data;
    cache_filter(st, stale, 0);
}

/* ---- invalidation ------------------------------------------------------- */

static void invalidate_user(struct auth_state *st, int64_t uid)
{
    st->gen++;
    cache_filter(st, of_user, uid);
}

static void on_inv_message(void *ud, const char *msg, size_t len)
{
    struct auth_state *st = ud;
    st->inv_messages++;
    st->gen++;
    if (len == 64) {
        char th[65];
        memcpy(th, msg, 64);
        th[64] = '\0';
        cache_drop(st, th);
        /* A live board of an ended session must not keep receiving. */
        if (st->ev.on_session_ended)
            st->ev.on_session_ended(st->ev.ud, th);
        return;
    }
    if (len > 2 && len < 24 && msg[0] == 'u' && msg[1] == ':') {
        char num[24];
        memcpy(num, msg + 2, len - 2);
        num[len - 2] = '\0';
        char     *end;
        long long uid = strtoll(num, &end, 10);
        if (*end == '\0' && uid > 0) {
            cache_filter(st, of_user, uid);
            if (st->ev.on_user_killed)
                st->ev.on_user_killed(st->ev.ud, uid);
            return;
        }
    }
    /* Anything else (a future message kind, or "*"): trust nothing. */
    cache_filter(st, NULL, 0);
}

static void on_resync(void *ud)
{
    struct auth_state *st = ud;
    st->resyncs++;
    st->gen++;
    cache_filter(st, NULL, 0);
}

/* ---- pipelined groups of commands -------------------------------------- */

struct rgroup;
struct rslot {
    struct rgroup *g;
    int            tag;
};

struct rgroup {
    int          pending; /* replies still to come */
    bool         sealed;  /* every command has been sent */
    bool         failed;  /* a command could not be sent, or got NULL / an error */
    struct rslot self;    /* slot for commands whose reply nobody inspects */
    void (*on_reply)(struct rgroup *g, int tag, redisReply *r); /* optional */
    void (*done)(struct rgroup *g);
};

static void rg_init(struct rgroup *g, void (*done)(struct rgroup *))
{
    memset(g, 0, sizeof(*g));
    g->self.g = g;
    g->self.tag = -1;
    g->done = done;
}

static void rg_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rslot  *sl = priv;
    struct rgroup *g = sl->g;
    redisReply    *r = reply;
    (void)ac;
    if (!r || r->type == REDIS_REPLY_ERROR)
        g->failed = true;
    else if (g->on_reply && sl->tag >= 0)
        g->on_reply(g, sl->tag, r);
    if (--g->pending == 0 && g->sealed)
        g->done(g);
}

static void rg_cmd(struct rgroup *g, struct rds *r, struct rslot *sl, int argc, const char **argv, const size_t *lens)
{
    if (rds_cmd(r, rg_reply, sl ? sl : &g->self, argc, argv, lens) == 0)
        g->pending++;
    else
        g->failed = true;
}

static void rg_eval(struct rgroup *g, struct rds *r, struct rslot *sl, const struct rds_script *s, int argc,
                    const char **argv)
{
    if (rds_evalsha(r, s, 1, argc, argv, NULL, rg_reply, sl ? sl : &g->self) == 0)
        g->pending++;
    else
        g->failed = true;
}

/* After the last command: false if nothing was sent at all (the group's
 * owner then fails synchronously and done never runs); else done runs when
 * the last reply arrives, never from here. */
static bool rg_seal(struct rgroup *g)
{
    if (g->pending == 0)
        return false;
    g->sealed = true;
    return true;
}

static void on_ignored(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    (void)reply;
    (void)priv;
}

/* ---- resolving a token hash --------------------------------------------- */

struct fetch {
    struct auth_state *st;
    auth_resolve_cb    cb;
    void              *ud;
    uint64_t           gen;
    char               th[65];
};

/* Fills s from an HGETALL reply; false if a field is missing or malformed. */
static bool parse_session(const redisReply *r, struct auth_session *s)
{
    bool have_uid = false, have_role = false;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return false;
        const char *f = k->str;
        if (!strcmp(f, "uid")) {
            char     *end;
            long long id = strtoll(v->str, &end, 10);
            if (*end || id <= 0)
                return false;
            s->user_id = id;
            have_uid = true;
        } else if (!strcmp(f, "role")) {
            s->role = auth_role_parse(v->str);
            if (!s->role)
                return false;
            snprintf(s->role_name, sizeof(s->role_name), "%s", auth_role_name(s->role));
            have_role = true;
        } else if (!strcmp(f, "name")) {
            if (v->len >= sizeof(s->name))
                return false;
            memcpy(s->name, v->str, v->len + 1);
        } else if (!strcmp(f, "username")) {
            if (v->len >= sizeof(s->username))
                return false;
            memcpy(s->username, v->str, v->len + 1);
        } else if (!strcmp(f, "csrf")) {
            if (v->len != CRYPTO_TOKEN_LEN)
                return false;
            memcpy(s->csrf, v->str, v->len + 1);
        }
    }
    return have_uid && have_role && s->csrf[0];
}

static void on_fetched(redisAsyncContext *ac, void *reply, void *priv)
{
    struct fetch      *f = priv;
    struct auth_state *st = f->st;
    redisReply        *r = reply;
    (void)ac;
    if (!r || r->type == REDIS_REPLY_ERROR) {
        f->cb(f->ud, AUTH_RESOLVE_FAILED, NULL);
        goto out;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        cache_drop(st, f->th);
        f->cb(f->ud, AUTH_RESOLVE_UNKNOWN, NULL);
        goto out;
    }
    struct auth_session *s = auth_session_new();
    if (!parse_session(r, s)) {
        auth_session_release(s);
        log_warn("auth", "malformed session %.12s... in Redis: refused", f->th);
        f->cb(f->ud, AUTH_RESOLVE_MALFORMED, NULL);
        goto out;
    }
    memcpy(s->token_hash, f->th, sizeof(s->token_hash));
    s->cached_at_ms = uv_now(st->loop);
    /* Slide the user's set along with the session (the session itself got
     * its EXPIRE right behind the HGETALL). */
    char key[KEY_MAX], ttl[24];
    key_usess(st, s->user_id, key);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)st->cfg->session_ttl_s);
    const char *argv[3] = {"EXPIRE", key, ttl};
    rds_cmd(st->redis, on_ignored, NULL, 3, argv, NULL);
    cache_put(st, s, f->gen);
    f->cb(f->ud, AUTH_RESOLVED, s); /* our reference goes to the callee */
out:
    free(f);
}

int auth_session_resolve(struct auth_state *st, const char *token_hash, struct auth_session **hit, auth_resolve_cb cb,
                         void *ud)
{
    *hit = NULL;
    if (!st)
        return -1;
    struct auth_session *s = st->cfg->session_cache_ms > 0 ? cache_get(st, token_hash) : NULL;
    if (s) {
        st->hits++;
        *hit = auth_session_ref(s);
        return 1;
    }
    st->misses++;
    struct fetch *f = xcalloc(1, sizeof(*f));
    f->st = st;
    f->cb = cb;
    f->ud = ud;
    f->gen = st->gen;
    snprintf(f->th, sizeof(f->th), "%s", token_hash);
    char key[KEY_MAX], ttl[24];
    key_sess(st, f->th, key);
    const char *get[2] = {"HGETALL", key};
    if (rds_cmd(st->redis, on_fetched, f, 2, get, NULL) < 0) {
        free(f);
        return -1;
    }
    /* The sliding expiry: every read from Redis pushes the end out again.
     * Harmless on a key that no longer exists. */
    snprintf(ttl, sizeof(ttl), "%lld", (long long)st->cfg->session_ttl_s);
    const char *exp[3] = {"EXPIRE", key, ttl};
    rds_cmd(st->redis, on_ignored, NULL, 3, exp, NULL);
    return 0;
}

/* ---- creating and ending sessions -------------------------------------- */

struct create_op {
    struct rgroup        g;
    struct auth_state   *st;
    struct auth_session *s;
    char                 token[CRYPTO_TOKEN_SIZE];
    auth_create_cb       cb;
    void                *ud;
};

static void on_created(struct rgroup *g)
{
    struct create_op  *op = (struct create_op *)g;
    struct auth_state *st = op->st;
    if (g->failed) {
        /* Do not leave a session behind that its user's set may not list. */
        char key[KEY_MAX];
        key_sess(st, op->s->token_hash, key);
        const char *argv[2] = {"DEL", key};
        rds_cmd(st->redis, on_ignored, NULL, 2, argv, NULL);
        op->cb(op->ud, -1, NULL, NULL);
    } else {
        op->s->cached_at_ms = uv_now(st->loop);
        cache_put(st, op->s, st->gen);
        op->cb(op->ud, 0, auth_session_ref(op->s), op->token);
    }
    auth_session_release(op->s);
    explicit_bzero(op->token, sizeof(op->token));
    free(op);
}

int auth_session_create(struct auth_state *st, int64_t uid, unsigned role, const char *name, const char *username,
                        auth_create_cb cb, void *ud)
{
    if (!st || !st->redis->up || strlen(name) >= AUTH_NAME_MAX || strlen(username) >= AUTH_USERNAME_MAX)
        return -1;
    struct create_op *op = xcalloc(1, sizeof(*op));
    rg_init(&op->g, on_created);
    op->st = st;
    op->cb = cb;
    op->ud = ud;
    struct auth_session *s = op->s = auth_session_new();
    s->user_id = uid;
    s->role = role;
    snprintf(s->role_name, sizeof(s->role_name), "%s", auth_role_name(role));
    snprintf(s->name, sizeof(s->name), "%s", name);
    snprintf(s->username, sizeof(s->username), "%s", username);
    if (crypto_token(op->token) < 0 || crypto_token(s->csrf) < 0) {
        log_error("auth", "no randomness for a session token");
        goto fail;
    }
    crypto_token_hash(op->token, CRYPTO_TOKEN_LEN, s->token_hash);

    char ksess[KEY_MAX], kuser[KEY_MAX], ttl[24], uidb[24];
    key_sess(st, s->token_hash, ksess);
    key_usess(st, uid, kuser);
    snprintf(ttl, sizeof(ttl), "%lld", (long long)st->cfg->session_ttl_s);
    snprintf(uidb, sizeof(uidb), "%lld", (long long)uid);
    const char *put[12] = {ksess,  ttl,     "uid",      uidb,        "role", s->role_name,
                           "name", s->name, "username", s->username, "csrf", s->csrf};
    rg_eval(&op->g, st->redis, NULL, &st->s_put, 12, put);
    const char *add[3] = {kuser, ttl, s->token_hash};
    rg_eval(&op->g, st->redis, NULL, &st->s_add, 3, add);
    if (!rg_seal(&op->g))
        goto fail;
    return 0;
fail:
    auth_session_release(op->s);
    explicit_bzero(op->token, sizeof(op->token));
    free(op);
    return -1;
}

struct end_op {
    struct rgroup g;
    auth_done_cb  cb;
    void         *ud;
};

static void on_ended(struct rgroup *g)
{
    struct end_op *op = (struct end_op *)g;
    op->cb(op->ud, g->failed ? -1 : 0);
    free(op);
}

int auth_session_end(struct auth_state *st, const struct auth_session *s, auth_done_cb cb, void *ud)
{
    if (!st || !st->redis->up)
        return -1;
    /* Copied first: dropping the cache entry may free s if the caller's
     * reference is the cache's own. */
    char th[65];
    memcpy(th, s->token_hash, sizeof(th));
    int64_t uid = s->user_id;
    st->gen++;
    cache_drop(st, th);
    struct end_op *op = xcalloc(1, sizeof(*op));
    rg_init(&op->g, on_ended);
    op->cb = cb;
    op->ud = ud;
    char ksess[KEY_MAX], kuser[KEY_MAX];
    key_sess(st, th, ksess);
    key_usess(st, uid, kuser);
    const char *del[2] = {"DEL", ksess};
    rg_cmd(&op->g, st->redis, NULL, 2, del, NULL);
    const char *srem[3] = {"SREM", kuser, th};
    rg_cmd(&op->g, st->redis, NULL, 3, srem, NULL);
    const char *pub[3] = {"PUBLISH", st->chan, th};
    rg_cmd(&op->g, st->redis, NULL, 3, pub, NULL);
    if (!rg_seal(&op->g)) {
        free(op);
        return -1;
    }
    return 0;
}

struct kill_op {
    struct rgroup      g;
    struct auth_state *st;
    int64_t            uid;
    auth_done_cb       cb;
    void              *ud;
};

static void on_killed(struct rgroup *g)
{
    struct kill_op *op = (struct kill_op *)g;
    /* Again, in case this process cached one between the start and now. */
    invalidate_user(op->st, op->uid);
    op->cb(op->ud, g->failed ? -1 : 0);
    free(op);
}

static void on_members(redisAsyncContext *ac, void *reply, void *priv)
{
    struct kill_op    *op = priv;
    struct auth_state *st = op->st;
    struct rds        *rd = st->redis;
    redisReply        *r = reply;
    (void)ac;
    rg_init(&op->g, on_killed);
    if (!r || r->type != REDIS_REPLY_ARRAY) {
        op->cb(op->ud, -1);
        free(op);
        return;
    }
    char kuser[KEY_MAX], ksess[KEY_MAX];
    key_usess(st, op->uid, kuser);
    /* One DEL per session (their keys live in different cluster slots), then
     * SREM of exactly those members: a login that added itself meanwhile
     * stays listed. */
    const char **srem = xmalloc((r->elements + 2) * sizeof(*srem));
    size_t       n = 0;
    srem[n++] = "SREM";
    srem[n++] = kuser;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *m = r->element[i];
        if (m->type != REDIS_REPLY_STRING || m->len != 64)
            continue;
        key_sess(st, m->str, ksess);
        const char *del[2] = {"DEL", ksess};
        rg_cmd(&op->g, rd, NULL, 2, del, NULL);
        srem[n++] = m->str;
    }
    if (n > 2)
        rg_cmd(&op->g, rd, NULL, (int)n, srem, NULL);
    free(srem);
    char msg[32];
    snprintf(msg, sizeof(msg), "u:%lld", (long long)op->uid);
    const char *pub[3] = {"PUBLISH", st->chan, msg};
    rg_cmd(&op->g, rd, NULL, 3, pub, NULL);
    if (!rg_seal(&op->g)) {
        op->cb(op->ud, -1);
        free(op);
    }
}

int auth_kill_user(struct auth_state *st, int64_t uid, auth_done_cb cb, void *ud)
{
    if (!st || !st->redis->up)
        return -1;
    invalidate_user(st, uid);
    struct kill_op *op = xcalloc(1, sizeof(*op));
    op->st = st;
    op->uid = uid;
    op->cb = cb;
    op->ud = ud;
    char kuser[KEY_MAX];
    key_usess(st, uid, kuser);
    const char *argv[2] = {"SMEMBERS", kuser};
    if (rds_cmd(st->redis, on_members, op, 2, argv, NULL) < 0) {
        free(op);
        return -1;
    }
    return 0;
}

/* ---- failed-login throttle --------------------------------------------- */

static void key_fail(const struct auth_state *st, const char *kind, const char *what, char *out)
{
    snprintf(out, KEY_MAX, "%s:lf:%s:%s", prefix(st), kind, what);
}

struct throttle_op {
    struct rgroup      g;
    struct rslot       slot[2]; /* 0 account, 1 address */
    struct auth_state *st;
    long long          count[2], ttl[2];
    auth_throttle_cb   cb;
    void              *ud;
};

static void on_peek(struct rgroup *g, int tag, redisReply *r)
{
    struct throttle_op *op = (struct throttle_op *)g;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_INTEGER) {
        g->failed = true;
        return;
    }
    op->count[tag] = r->element[0]->integer;
    op->ttl[tag] = r->element[1]->integer;
}

static void on_peeked(struct rgroup *g)
{
    struct throttle_op      *op = (struct throttle_op *)g;
    const struct gss_config *cfg = op->st->cfg;
    if (g->failed) {
        op->cb(op->ud, -1, 0);
        free(op);
        return;
    }
    long long limit[2] = {cfg->login_max_failures, 4 * cfg->login_max_failures};
    int64_t   retry = 0;
    bool      blocked = false;
    for (int i = 0; i < 2; i++)
        if (op->count[i] >= limit[i]) {
            blocked = true;
            /* A counter without a TTL would be repaired at the next failure;
             * say the whole window rather than nothing. */
            long long left = op->ttl[i] > 0 ? op->ttl[i] : cfg->login_window_s;
            if (left > retry)
                retry = left;
        }
    if (blocked)
        op->cb(op->ud, 1, retry > 0 ? retry : 1);
    else
        op->cb(op->ud, 0, 0);
    free(op);
}

int auth_throttle_check(struct auth_state *st, const char *account, const char *addr, auth_throttle_cb cb, void *ud)
{
    if (!st || !st->redis->up)
        return -1;
    struct throttle_op *op = xcalloc(1, sizeof(*op));
    rg_init(&op->g, on_peeked);
    op->g.on_reply = on_peek;
    op->st = st;
    op->cb = cb;
    op->ud = ud;
    char ku[KEY_MAX], ki[KEY_MAX];
    key_fail(st, "u", account, ku);
    key_fail(st, "ip", addr, ki);
    for (int i = 0; i < 2; i++) {
        op->slot[i].g = &op->g;
        op->slot[i].tag = i;
    }
    const char *a[1] = {ku};
    rg_eval(&op->g, st->redis, &op->slot[0], &st->s_peek, 1, a);
    const char *b[1] = {ki};
    rg_eval(&op->g, st->redis, &op->slot[1], &st->s_peek, 1, b);
    if (!rg_seal(&op->g)) {
        free(op);
        return -1;
    }
    return 0;
}

/* Both counters are recorded before the caller answers, so a client that
 * reads its 401 and tries again is always counted (and sees the counter). */
struct fail_op {
    int pending;
    void (*done)(void *ud);
    void *ud;
};

static void fail_step(struct fail_op *op)
{
    if (--op->pending > 0)
        return;
    op->done(op->ud);
    free(op);
}

static void on_fail_counted(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)ac;
    (void)reply;
    fail_step(priv);
}

void auth_throttle_fail(struct auth_state *st, const char *account, const char *addr, void (*done)(void *ud), void *ud)
{
    struct fail_op *op = xcalloc(1, sizeof(*op));
    op->pending = 3; /* two counters, plus this function's own step */
    op->done = done;
    op->ud = ud;
    if (st) {
        char key[KEY_MAX], win[24];
        snprintf(win, sizeof(win), "%lld", (long long)st->cfg->login_window_s);
        key_fail(st, "u", account, key);
        const char *a[2] = {key, win};
        if (rds_evalsha(st->redis, &st->s_fail, 1, 2, a, NULL, on_fail_counted, op) < 0)
            op->pending--;
        key_fail(st, "ip", addr, key);
        if (rds_evalsha(st->redis, &st->s_fail, 1, 2, a, NULL, on_fail_counted, op) < 0)
            op->pending--;
    } else {
        op->pending -= 2;
    }
    fail_step(op);
}

void auth_throttle_reset(struct auth_state *st, const char *account)
{
    if (!st)
        return;
    char key[KEY_MAX];
    key_fail(st, "u", account, key);
    const char *argv[2] = {"DEL", key};
    rds_cmd(st->redis, on_ignored, NULL, 2, argv, NULL);
}

void auth_count_login(struct auth_state *st, enum auth_login_result r)
{
    if (st && (unsigned)r < 3)
        st->logins[r]++;
}

/* ---- module life -------------------------------------------------------- */

struct auth_state *auth_start(uv_loop_t *loop, const struct gss_config *cfg, struct rds *redis, struct sub_state *sub)
{
    struct auth_state *st = xcalloc(1, sizeof(*st));
    st->loop = loop;
    st->cfg = cfg;
    st->redis = redis;
    st->sub = sub;
    st->cap = CACHE_MIN_BUCKETS;
    st->tab = xcalloc(st->cap, sizeof(*st->tab));
    snprintf(st->chan, sizeof(st->chan), "%s:sessinv", cfg->redis_prefix);
    script_init(&st->s_put, "auth_put", lua_put, sizeof(lua_put) - 1);
    script_init(&st->s_add, "auth_add", lua_add, sizeof(lua_add) - 1);
    script_init(&st->s_fail, "auth_fail", lua_fail, sizeof(lua_fail) - 1);
    script_init(&st->s_peek, "auth_peek", lua_peek, sizeof(lua_peek) - 1);
    if (sub_register(sub, st->chan, on_inv_message, on_resync, st) < 0) {
        log_error("auth", "cannot subscribe to %s: too many channels", st->chan);
        free(st->tab);
        free(st);
        return NULL;
    }
    uv_timer_init(loop, &st->sweep);
    st->sweep.data = st;
    st->sweep_open = true;
    if (cfg->session_cache_ms > 0) {
        uint64_t every = (uint64_t)cfg->session_cache_ms;
        if (every < 1000)
            every = 1000;
        if (every > 60000)
            every = 60000;
        uv_timer_start(&st->sweep, on_sweep, every, every);
    }
    uv_unref((uv_handle_t *)&st->sweep); /* it never keeps the loop alive */
    /* The dummy hash for unknown-user logins is made before serving
     * (password_dummy_prepare in main.c). */
    return st;
}

void auth_set_events(struct auth_state *st, const struct auth_events *ev)
{
    st->ev = *ev;
}

void auth_stop(struct auth_state *st)
{
    if (!st || !st->sweep_open)
        return;
    st->sweep_open = false;
    uv_close((uv_handle_t *)&st->sweep, NULL);
}

void auth_free(struct auth_state *st)
{
    if (!st)
        return;
    cache_filter(st, NULL, 0);
    free(st->tab);
    free(st);
}

void auth_metrics(const struct auth_state *st, struct buf *b)
{
    if (!st)
        return;
    buf_printf(b,
               "# HELP gss_sessions_cached Sessions held in this process's session cache.\n"
               "# TYPE gss_sessions_cached gauge\ngss_sessions_cached %zu\n"
               "# HELP gss_session_cache_lookups_total Session lookups by the auth step, by outcome.\n"
               "# TYPE gss_session_cache_lookups_total counter\n"
               "gss_session_cache_lookups_total{result=\"hit\"} %llu\n"
               "gss_session_cache_lookups_total{result=\"miss\"} %llu\n"
               "# HELP gss_session_invalidations_total Invalidation messages received, and full flushes.\n"
               "# TYPE gss_session_invalidations_total counter\n"
               "gss_session_invalidations_total{kind=\"message\"} %llu\n"
               "gss_session_invalidations_total{kind=\"resync\"} %llu\n"
               "# HELP gss_logins_total Login attempts, by outcome.\n"
               "# TYPE gss_logins_total counter\n"
               "gss_logins_total{result=\"ok\"} %llu\n"
               "gss_logins_total{result=\"failed\"} %llu\n"
               "gss_logins_total{result=\"throttled\"} %llu\n",
               st->n, (unsigned long long)st->hits, (unsigned long long)st->misses,
               (unsigned long long)st->inv_messages, (unsigned long long)st->resyncs,
               (unsigned long long)st->logins[AUTH_LOGIN_OK], (unsigned long long)st->logins[AUTH_LOGIN_FAILED],
               (unsigned long long)st->logins[AUTH_LOGIN_THROTTLED]);
}
