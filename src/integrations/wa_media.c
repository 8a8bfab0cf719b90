/*
 * wa_media: WhatsApp photos fetched and stored. The contract is in
 * wa_media.h; operations in docs/whatsapp.md "Photos".
 *
 * A job per claimed row walks: meta (GET the media object) -> download (GET
 * its url) -> store (blobs_put, on the threadpool) -> db (one statement) ->
 * done; any step may end it early with an outcome (retry or failed), which
 * one autocommit UPDATE writes. Nothing is held open across the requests:
 * the claim's lease keeps other gssd away instead of a transaction, so a
 * slow download never pins a database connection.
 */
#include "integrations/wa_media.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "core/log.h"
#include "integrations/outbox.h"
#include "store/blobs.h"
#include "store/inbox_events.h"
#include "store/pg.h"

#define WM_DETAIL 480 /* media_error at most */

struct wa_media {
    uv_loop_t              *loop;
    struct ihttp           *http;
    struct pg_pool         *pg;
    struct rds             *redis; /* inbox.status after a photo is stored or failed; may be NULL */
    char                   *token, *api_base, *upload_dir, *auth, *redis_prefix;
    struct wa_media_options opt;
    uv_timer_t              poll;
    bool                    started, stopping, claiming, again;
    int                     inflight;
    uint64_t                rnd;
    /* /metrics */
    uint64_t stored, failed, retries, requests, db_errors;
};

struct wm_job {
    struct wa_media *wm;
    int64_t          id;
    int64_t          customer_id; /* 0: none */
    int              attempts;    /* this one included */
    char             media_id[136];
    char             ctype[16]; /* what the bytes are */
    char             sha[65];   /* the media API's, or "" */
    char            *data;
    size_t           len;
    bool             failed; /* the outcome being written */
};

enum wm_outcome { WM_RETRY, WM_FAILED };

static void tick(struct wa_media *wm);

static void on_poll(uv_timer_t *t)
{
    tick(t->data);
}

static void schedule(struct wa_media *wm, uint64_t ms)
{
    if (!wm->stopping)
        uv_timer_start(&wm->poll, on_poll, ms, 0);
}

/* ---- SQL ------------------------------------------------------------------------------ */

/* $1 lease (ms), $2 how many. The attempt counts at the claim, so a fetch
 * that crashes gssd every time still runs out of attempts. */
static const char claim_sql[] =
    "UPDATE wa_messages w SET media_attempts = w.media_attempts + 1,"
    "   media_next_at = now() + $1::bigint * interval '1 millisecond'"
    " WHERE w.id IN (SELECT q.id FROM wa_messages q"
    "   WHERE q.media_status = 'pending' AND (q.media_next_at IS NULL OR q.media_next_at <= now())"
    "   ORDER BY q.media_next_at NULLS FIRST, q.id LIMIT $2::int FOR UPDATE SKIP LOCKED)"
    " RETURNING w.id, w.media_id, coalesce(w.customer_id, 0), w.media_attempts";

/* $1 id, $2 'pending' | 'failed', $3 media_error, $4 the retry's delay (ms),
 * $5 the claim's attempt number: the claim token. A fetch whose lease ran out
 * while it was out (a stall, a slow answer) finds another claim's number
 * there and writes nothing, so it never fails a photo the current holder is
 * still fetching. */
static const char outcome_sql[] =
    "UPDATE wa_messages SET media_status = $2, media_error = $3,"
    "   media_next_at = CASE WHEN $2 = 'pending' THEN now() + $4::bigint * interval '1 millisecond' END"
    " WHERE id = $1 AND media_status = 'pending' AND media_attempts = $5::int";

/* $1 id, $2 content type, $3 size, $4 sha256, $5 path. The row lock makes a
 * second fetch of the same message (a lease run out) wait and then find it
 * stored already: one attachment per message. No claim token here: the
 * photo is the same whoever fetched it, so a stale holder's bytes are kept
 * too, even over a failure the current holder wrote meanwhile (the file is
 * on disk already; dropping the row would orphan it). */
static const char store_sql[] =
    "WITH m AS (SELECT id, customer_id FROM wa_messages"
    "   WHERE id = $1 AND media_status IN ('pending', 'failed') AND customer_id IS NOT NULL FOR UPDATE),"
    " a AS (INSERT INTO attachments (customer_id, kind, content_type, size, sha256, path)"
    "   SELECT customer_id, 'wa_photo', $2, $3::bigint, $4, $5 FROM m RETURNING id)"
    " UPDATE wa_messages w SET attachment_id = a.id, media_status = 'stored', media_error = NULL,"
    "   media_next_at = NULL FROM a WHERE w.id = $1 RETURNING a.id";

/* ---- a job's end ---------------------------------------------------------------------- */

/* The conversation's photo changed (stored or failed): an open chat refetches. */
static void publish(struct wm_job *j)
{
    struct inbox_event ev = {.type = INBOX_EV_STATUS, .customer_id = j->customer_id};
    if (j->wm->redis && j->customer_id > 0)
        inbox_events_publish(j->wm->redis, j->wm->redis_prefix, &ev);
}

static void job_end(struct wm_job *j)
{
    struct wa_media *wm = j->wm;
    free(j->data);
    free(j);
    /* the batch is over: there may be more due at once */
    if (--wm->inflight == 0)
        schedule(wm, 0);
}

static void on_outcome(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct wm_job *j = ud;
    (void)res;
    if (err != PG_OK) {
        j->wm->db_errors++;
        log_warn("wa_media", "message %lld: writing the outcome failed (%s %s %s); retried after the lease",
                 (long long)j->id, pg_err_name(err), state ? state : "", msg ? msg : "");
    } else if (PQcmdTuples(res)[0] == '1') {
        if (j->failed)
            publish(j);
    } else {
        /* another claim holds the row now (our lease ran out), or it is stored */
        log_info("wa_media", "message %lld: attempt %d's outcome dropped: the row is no longer this fetch's",
                 (long long)j->id, j->attempts);
    }
    job_end(j);
}

static void finish(struct wm_job *j, enum wm_outcome o, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void finish(struct wm_job *j, enum wm_outcome o, const char *fmt, ...)
{
    struct wa_media *wm = j->wm;
    char             detail[WM_DETAIL];
    va_list          ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    int64_t delay = 0;
    if (o == WM_RETRY && j->attempts >= wm->opt.max_attempts) {
        o = WM_FAILED;
        size_t l = strlen(detail);
        snprintf(detail + l, sizeof(detail) - l, " (gave up after %d attempts)", j->attempts);
    }
    if (o == WM_RETRY) {
        wm->retries++;
        wm->rnd = wm->rnd * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        delay = outbox_backoff_ms(wm->opt.backoff_ms, j->attempts, wm->rnd >> 11);
        log_info("wa_media", "message %lld: %s; again in %lld ms", (long long)j->id, detail, (long long)delay);
    } else {
        wm->failed++;
        j->failed = true;
        log_warn("wa_media", "message %lld: photo not stored: %s", (long long)j->id, detail);
    }
    char id[24], ds[24], at[16];
    snprintf(id, sizeof(id), "%lld", (long long)j->id);
    snprintf(ds, sizeof(ds), "%lld", (long long)delay);
    snprintf(at, sizeof(at), "%d", j->attempts);
    const char *p[5] = {id, o == WM_RETRY ? "pending" : "failed", detail, ds, at};
    if (pg_query(wm->pg, outcome_sql, 5, p, on_outcome, j) < 0) {
        wm->db_errors++;
        job_end(j);
    }
}

/* ---- answers ---------------------------------------------------------------------------- */

/* The Graph error's code and message of a non-2xx answer, as "code N: msg"
 * (Meta's media errors carry them; a plain-text 404 carries neither). */
static void graph_error(const struct ihttp_response *res, char *out, size_t n)
{
    out[0] = '\0';
    yyjson_doc *doc = yyjson_read(res->body, res->body_len, 0);
    yyjson_val *e = doc ? yyjson_obj_get(yyjson_doc_get_root(doc), "error") : NULL;
    if (yyjson_is_obj(e)) {
        yyjson_val *code = yyjson_obj_get(e, "code"), *msg = yyjson_obj_get(e, "message");
        snprintf(out, n, ": code %lld: %.200s", yyjson_is_int(code) ? (long long)yyjson_get_int(code) : 0LL,
                 yyjson_is_str(msg) ? yyjson_get_str(msg) : "");
    }
    yyjson_doc_free(doc);
}

/* false: the answer was not a 2xx and the job is finished with why. */
static bool answered_ok(struct wm_job *j, const struct ihttp_response *res, const char *what)
{
    if (res->err != IHTTP_OK) {
        finish(j, WM_RETRY, "%s: %s %s", what, ihttp_err_name(res->err), res->error);
        return false;
    }
    if (res->status >= 200 && res->status < 300)
        return true;
    char why[240];
    graph_error(res, why, sizeof(why));
    /* 5xx and 429 pass; a 401 is a token being replaced more often than one
     * that will never work, and max_attempts bounds it either way */
    bool again = res->status >= 500 || res->status == 429 || res->status == 401;
    finish(j, again ? WM_RETRY : WM_FAILED, "%s: HTTP %ld%s", what, res->status, why);
    return false;
}

static void on_db(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct wm_job   *j = ud;
    struct wa_media *wm = j->wm;
    if (err != PG_OK) {
        /* the file stays: content-named, the retry stores it under the same name */
        finish(j, WM_RETRY, "saving the attachment: %s %s %s", pg_err_name(err), state ? state : "", msg ? msg : "");
        return;
    }
    if (PQntuples(res) > 0) {
        wm->stored++;
        log_info("wa_media", "message %lld: photo stored as attachment %s (%zu bytes)", (long long)j->id,
                 PQgetvalue(res, 0, 0), j->len);
        publish(j);
    }
    /* else another fetch stored it first, or it is no longer pending */
    job_end(j);
}

static void on_stored(void *ud, int status, const char *sha_hex, const char *rel)
{
    struct wm_job *j = ud;
    if (status == BLOBS_ERR_SHA) {
        finish(j, WM_RETRY, "download: sha256 %s, the media API said %s", sha_hex, j->sha);
        return;
    }
    if (status < 0) {
        finish(j, WM_RETRY, "storing the file: %s", uv_strerror(status));
        return;
    }
    char id[24], size[24];
    snprintf(id, sizeof(id), "%lld", (long long)j->id);
    snprintf(size, sizeof(size), "%zu", j->len);
    const char *p[5] = {id, j->ctype, size, sha_hex, rel};
    if (pg_query(j->wm->pg, store_sql, 5, p, on_db, j) < 0)
        finish(j, WM_RETRY, "saving the attachment: the database is unavailable");
}

static void on_download(void *ud, struct ihttp_call *call, const struct ihttp_response *res)
{
    struct wm_job   *j = ud;
    struct wa_media *wm = j->wm;
    (void)call;
    if (res->err == IHTTP_ERR_TOO_BIG) {
        finish(j, WM_FAILED, "download: larger than %lld bytes", (long long)wm->opt.max_bytes);
        return;
    }
    if (!answered_ok(j, res, "download"))
        return;
    const char *ct = blobs_sniff((const unsigned char *)res->body, res->body_len);
    if (!ct || !strcmp(ct, "application/pdf")) {
        finish(j, WM_FAILED, "download: the %zu bytes are not a JPEG or PNG image", res->body_len);
        return;
    }
    snprintf(j->ctype, sizeof(j->ctype), "%s", ct);
    j->data = xmalloc(res->body_len);
    memcpy(j->data, res->body, res->body_len);
    j->len = res->body_len;
    int rc = blobs_put(wm->loop, wm->upload_dir, j->data, j->len, j->sha[0] ? j->sha : NULL, on_stored, j);
    if (rc < 0)
        finish(j, WM_RETRY, "storing the file: %s", uv_strerror(rc));
}

static bool is_sha_hex(const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static void on_meta(void *ud, struct ihttp_call *call, const struct ihttp_response *res)
{
    struct wm_job   *j = ud;
    struct wa_media *wm = j->wm;
    (void)call;
    if (!answered_ok(j, res, "media API"))
        return;
    yyjson_doc *doc = yyjson_read(res->body, res->body_len, 0);
    yyjson_val *root = doc ? yyjson_doc_get_root(doc) : NULL;
    yyjson_val *url = yyjson_obj_get(root, "url"), *mime = yyjson_obj_get(root, "mime_type");
    yyjson_val *sha = yyjson_obj_get(root, "sha256"), *size = yyjson_obj_get(root, "file_size");
    char        type[64] = "";
    if (yyjson_is_str(mime)) {
        /* "image/jpeg" or "image/jpeg; ..." */
        snprintf(type, sizeof(type), "%.*s", (int)strcspn(yyjson_get_str(mime), "; "), yyjson_get_str(mime));
    }
    long long bytes = yyjson_is_str(size)   ? atoll(yyjson_get_str(size))
                      : yyjson_is_int(size) ? yyjson_get_int(size)
                                            : 0;
    if (!yyjson_is_str(url)) {
        finish(j, WM_FAILED, "media API: no url in the answer");
    } else if (!wa_media_url_ok(wm->api_base, yyjson_get_str(url))) {
        /* the Bearer token must not travel in clear text */
        finish(j, WM_FAILED, "media API: the url is not https (the token is not sent in clear text)");
    } else if (strcmp(type, "image/jpeg") != 0 && strcmp(type, "image/png") != 0) {
        finish(j, WM_FAILED, "media API: type %s is not a JPEG or PNG photo", type[0] ? type : "(none)");
    } else if (bytes > wm->opt.max_bytes) {
        finish(j, WM_FAILED, "media API: %lld bytes, more than the %lld allowed", bytes, (long long)wm->opt.max_bytes);
    } else {
        if (yyjson_is_str(sha) && is_sha_hex(yyjson_get_str(sha), yyjson_get_len(sha)))
            snprintf(j->sha, sizeof(j->sha), "%s", yyjson_get_str(sha));
        const char          *hdr[] = {wm->auth, NULL};
        struct ihttp_request rq = {.method = "GET",
                                   .url = yyjson_get_str(url),
                                   .headers = hdr,
                                   .timeout_ms = wm->opt.timeout_ms,
                                   .max_response = (size_t)wm->opt.max_bytes,
                                   .download = true};
        wm->requests++;
        if (!ihttp_send(wm->http, &rq, on_download, j)) {
            /* refused: gssd is stopping (the next one fetches), or a url that is not http(s) */
            if (wm->stopping)
                finish(j, WM_RETRY, "download: gssd stopped before it");
            else
                finish(j, WM_FAILED, "media API: the url is not one gssd can fetch");
        }
    }
    yyjson_doc_free(doc);
}

static bool scheme_is(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    for (size_t i = 0; i < n; i++) {
        char ch = url[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != scheme[i])
            return false; /* also at the url's end */
    }
    return true;
}

bool wa_media_url_ok(const char *api_base, const char *url)
{
    if (!url)
        return false;
    if (scheme_is(url, "https://"))
        return url[8] != '\0';
    return api_base && scheme_is(api_base, "http://") && scheme_is(url, "http://") && url[7] != '\0';
}

/* ---- claim ------------------------------------------------------------------------------- */

static bool media_id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return false;
    return true;
}

static void job_start(struct wm_job *j)
{
    struct wa_media *wm = j->wm;
    if (j->customer_id <= 0) {
        finish(j, WM_FAILED, "the message has no customer to keep the photo for");
        return;
    }
    if (!media_id_ok(j->media_id)) {
        finish(j, WM_FAILED, "media id is not one the media API takes");
        return;
    }
    if (j->attempts > wm->opt.max_attempts) {
        /* attempts cut off with the fetch out (gssd stopped or died) */
        finish(j, WM_FAILED, "interrupted %d times", j->attempts - 1);
        return;
    }
    char url[1024];
    snprintf(url, sizeof(url), "%s/%s", wm->api_base, j->media_id);
    const char          *hdr[] = {wm->auth, NULL};
    struct ihttp_request rq = {.method = "GET", .url = url, .headers = hdr, .timeout_ms = wm->opt.timeout_ms};
    wm->requests++;
    if (!ihttp_send(wm->http, &rq, on_meta, j))
        finish(j, WM_RETRY, "media API: the request could not be made");
}

static void on_claim(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct wa_media *wm = ud;
    wm->claiming = false;
    if (err != PG_OK) {
        wm->db_errors++;
        if (err != PG_ERR_DOWN)
            log_warn("wa_media", "claim failed: %s %s %s", pg_err_name(err), state ? state : "", msg ? msg : "");
        schedule(wm, (uint64_t)wm->opt.poll_ms);
        return;
    }
    int n = PQntuples(res);
    if (n == 0) {
        schedule(wm, wm->again ? 0 : (uint64_t)wm->opt.poll_ms);
        wm->again = false;
        return;
    }
    wm->again = false;
    wm->inflight = n; /* before any job can end */
    for (int i = 0; i < n; i++) {
        struct wm_job *j = xcalloc(1, sizeof(*j));
        j->wm = wm;
        j->id = atoll(PQgetvalue(res, i, 0));
        snprintf(j->media_id, sizeof(j->media_id), "%s", PQgetvalue(res, i, 1));
        j->customer_id = atoll(PQgetvalue(res, i, 2));
        j->attempts = atoi(PQgetvalue(res, i, 3));
        job_start(j);
    }
}

static void tick(struct wa_media *wm)
{
    if (wm->stopping)
        return;
    if (wm->claiming || wm->inflight > 0) {
        wm->again = true; /* the batch's end polls again at once */
        return;
    }
    char lease[24], lim[12];
    snprintf(lease, sizeof(lease), "%lld", (long long)(WA_MEDIA_LEASE_MS + 2 * wm->opt.timeout_ms));
    snprintf(lim, sizeof(lim), "%d", WA_MEDIA_BATCH);
    const char *p[2] = {lease, lim};
    if (pg_query(wm->pg, claim_sql, 2, p, on_claim, wm) < 0) {
        schedule(wm, (uint64_t)wm->opt.poll_ms);
        return;
    }
    wm->claiming = true;
}

/* ---- life ---------------------------------------------------------------------------------- */

struct wa_media *wa_media_new(uv_loop_t *loop, struct ihttp *http, struct pg_pool *pg,
                              const struct wa_media_options *opt)
{
    struct wa_media *wm = xcalloc(1, sizeof(*wm));
    wm->loop = loop;
    wm->http = http;
    wm->pg = pg;
    wm->opt = *opt;
    wm->token = xstrdup(opt->token ? opt->token : "");
    wm->api_base = xstrdup(opt->api_base ? opt->api_base : "");
    wm->upload_dir = xstrdup(opt->upload_dir ? opt->upload_dir : ".");
    wm->redis = opt->redis;
    wm->redis_prefix = xstrdup(opt->redis_prefix ? opt->redis_prefix : "gss");
    size_t al = strlen(wm->token) + 32;
    wm->auth = xmalloc(al);
    snprintf(wm->auth, al, "Authorization: Bearer %s", wm->token);
    /* the copies, not the caller's strings */
    wm->opt.token = wm->opt.api_base = wm->opt.upload_dir = wm->opt.redis_prefix = NULL;
    if (wm->opt.poll_ms <= 0)
        wm->opt.poll_ms = 1000;
    if (wm->opt.backoff_ms <= 0)
        wm->opt.backoff_ms = 2000;
    if (wm->opt.timeout_ms <= 0)
        wm->opt.timeout_ms = 10000;
    if (wm->opt.max_bytes <= 0)
        wm->opt.max_bytes = 5 << 20;
    if (wm->opt.max_attempts <= 0)
        wm->opt.max_attempts = 5;
    wm->rnd = uv_hrtime() | 1;
    uv_timer_init(loop, &wm->poll);
    wm->poll.data = wm;
    return wm;
}

void wa_media_start(struct wa_media *wm)
{
    if (!wm || wm->started || wm->stopping)
        return;
    wm->started = true;
    if (!wm->token[0]) {
        log_warn("wa_media", "%s", "GSS_WA_TOKEN unset: WhatsApp photos are not fetched (they stay pending)");
        return;
    }
    if (strlen(wm->upload_dir) > BLOBS_DIR_MAX)
        log_warn("wa_media",
                 "GSS_UPLOAD_DIR is longer than %d bytes: no photo can be stored (each fails with "
                 "\"file name too long\" once its attempts are used)",
                 BLOBS_DIR_MAX);
    schedule(wm, 0);
}

void wa_media_kick(struct wa_media *wm)
{
    if (!wm || !wm->started || wm->stopping || !wm->token[0])
        return;
    if (wm->claiming || wm->inflight > 0)
        wm->again = true;
    else
        schedule(wm, 0);
}

void wa_media_stop(struct wa_media *wm)
{
    if (!wm || wm->stopping)
        return;
    wm->stopping = true;
    uv_close((uv_handle_t *)&wm->poll, NULL);
}

void wa_media_free(struct wa_media *wm)
{
    if (!wm)
        return;
    if (wm->inflight > 0)
        log_warn("wa_media", "%d fetch(es) still out at exit", wm->inflight);
    free(wm->token);
    free(wm->api_base);
    free(wm->upload_dir);
    free(wm->redis_prefix);
    free(wm->auth);
    free(wm);
}

void wa_media_metrics(const struct wa_media *wm, struct buf *b)
{
    if (!wm)
        return;
    buf_printf(b,
               "# HELP gss_wa_media_stored_total WhatsApp photos this process fetched and stored.\n"
               "# TYPE gss_wa_media_stored_total counter\ngss_wa_media_stored_total %llu\n"
               "# HELP gss_wa_media_failed_total WhatsApp photos this process gave up on (media_error says why).\n"
               "# TYPE gss_wa_media_failed_total counter\ngss_wa_media_failed_total %llu\n"
               "# HELP gss_wa_media_retries_total Photo fetches to be tried again (network, 5xx, 429).\n"
               "# TYPE gss_wa_media_retries_total counter\ngss_wa_media_retries_total %llu\n"
               "# HELP gss_wa_media_requests_total Requests to the media API and its download URLs.\n"
               "# TYPE gss_wa_media_requests_total counter\ngss_wa_media_requests_total %llu\n"
               "# HELP gss_wa_media_db_errors_total Photo claims or outcomes the database did not take.\n"
               "# TYPE gss_wa_media_db_errors_total counter\ngss_wa_media_db_errors_total %llu\n",
               (unsigned long long)wm->stored, (unsigned long long)wm->failed, (unsigned long long)wm->retries,
               (unsigned long long)wm->requests, (unsigned long long)wm->db_errors);
}
