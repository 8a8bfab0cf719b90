/*
 * Attachments: a BAST or a photo streamed from the phone to disk, and
 * served back to whoever may see its ticket. docs/fieldwork.md, "Uploads".
 *
 * Upload, one request:
 *   headers complete, session checked by the server (nothing buffered yet)
 *   -> kind, cap (413 on Content-Length), Idempotency-Key replay, ticket access
 *   -> open upload_dir/tmp/<random>.part (uv_fs), then accept the body
 *      (100 Continue goes out only now): each chunk is sniffed (first bytes),
 *      hashed, copied into a staging buffer and written with uv_fs_write; while
 *      a write is in flight and the staging buffer is full the body is paused,
 *      so memory per upload is bounded by two buffers whatever the client sends
 *   -> end of body: last write, fsync, close
 *   -> BEGIN; INSERT the row; mkdir yyyy/mm; rename .part -> yyyy/mm/<sha256>;
 *      COMMIT -> 201.
 * Any failure unlinks the temporary file (or the renamed one, unless another
 * row already pointed at the same content) and rolls back: a client that
 * vanishes leaves nothing. A SIGKILLed gssd can leave only a .part file,
 * which the next start sweeps (attachments_sweep_tmp).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "auth/roles.h"
#include "auth/session.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/jw.h"
#include "core/log.h"
#include "core/workers.h"
#include "http/handlers/field.h"
#include "http/handlers/handlers.h"
#include "http/services.h"
#include "store/blobs.h"
#include "store/pg.h"

#define STAGE_CAP (256 * 1024) /* bytes copied from the socket before a write must finish */

enum up_state { UP_PREP, UP_STREAM, UP_FLUSH, UP_DB, UP_DONE };

struct upload {
    struct http_req         *req; /* NULL once answered */
    uv_loop_t               *loop;
    struct pg_pool          *pg;
    const char              *upload_dir; /* the config's */
    enum up_state            state;
    int64_t                  ticket_id, user_id, cap, size;
    char                     kind[16];
    char                     idem[72];
    char                     tmp_path[512], final_rel[128], final_path[512];
    uv_file                  fd;
    uv_fs_t                  fs;      /* the one fs request in flight */
    uv_work_t                work;    /* or the one write (write_work) */
    ssize_t                  write_result; /* write_work's: bytes written or -errno */
    bool                     fs_busy; /* fs or work is in flight */
    struct buf               stage;   /* copied body bytes waiting for the next write */
    struct buf               writing; /* bytes the write in flight owns */
    int64_t                  offset;  /* file offset of the next write */
    bool                     body_done, paused, answered, renamed, existed;
    bool                     keep_file; /* the COMMIT's outcome is unknown: the renamed file stays */
    unsigned char            head[8];   /* first bytes, for the type */
    size_t                   nhead;
    const char              *ctype; /* sniffed */
    struct crypto_sha256_ctx sha;
    char                     sha_hex[65];
    struct pg_tx            *tx;
    int                      db_step;
    int                      err_status;
    const char              *err_code, *err_msg;
    int64_t                  row_id;
};

static void up_next(struct upload *u);

static const char *too_large_msg(const char *kind)
{
    if (!strcmp(kind, "bast"))
        return "a BAST file is too large";
    if (!strcmp(kind, "payment_proof"))
        return "a payment proof is too large";
    return "a photo is too large";
}

static bool valid_kind(const char *k)
{
    return !strcmp(k, "bast") || !strcmp(k, "photo") || !strcmp(k, "payment_proof");
}

static const char *ext_of(const char *ctype)
{
    return !strcmp(ctype, "image/jpeg") ? "jpg" : !strcmp(ctype, "image/png") ? "png" : "pdf";
}

static void up_free(struct upload *u)
{
    buf_free(&u->stage);
    buf_free(&u->writing);
    crypto_sha256_end(&u->sha, NULL);
    free(u);
}

/* Records the first failure; the request is answered once the file is cleaned up. */
static void up_fail(struct upload *u, int status, const char *code, const char *msg)
{
    if (!u->err_status) {
        u->err_status = status;
        u->err_code = code;
        u->err_msg = msg;
    }
    if (u->tx) {
        pg_tx_rollback(u->tx);
        u->tx = NULL;
    }
    /* Answer at once (the client may stop sending); cleanup continues. */
    if (!u->answered) {
        u->answered = true;
        if (status == 503)
            http_add_header(u->req, "Retry-After", "1");
        http_error(u->req, status, code, msg);
        u->req = NULL;
        /* an answered request gets no more body callbacks (http.h) */
        u->body_done = true;
    }
    u->state = UP_DONE;
    up_next(u);
}

static int fs_status_http(int err, const char **code, const char **msg)
{
    if (err == UV_ENOSPC || err == -EDQUOT) {
        *code = "insufficient_storage";
        *msg = "the server's disk is full; the file was not stored";
        return 507;
    }
    *code = "storage_failed";
    *msg = "the file could not be stored";
    return 500;
}

/* ---- the file ------------------------------------------------------------ */

static void on_fs(uv_fs_t *f);

static void fs_begin(struct upload *u)
{
    u->fs_busy = true;
    u->fs.data = u;
}

/* 0, or -1: the write could not start, the upload failed and was answered
 * (and u may be freed: the caller touches nothing of it). */
/* On a libuv threadpool thread: hash the bytes and write them all. The
 * hash runs here, not on the loop: software SHA-256 at a few hundred MiB/s
 * would otherwise cost the loop tens of milliseconds per turn while twenty
 * uploads stream (measured: /healthz p99 from 0.3 to 73 ms). One write is in
 * flight per upload, so the digest sees the bytes in file order, and the
 * loop touches neither the hash nor the buffer until after_write. */
static void write_work(uv_work_t *w)
{
    struct upload *u = w->data;
    workers_lower_priority();
    crypto_sha256_update(&u->sha, u->writing.data, u->writing.len);
    size_t  done = 0;
    int64_t off = u->offset;
    while (done < u->writing.len) {
        ssize_t n = pwrite(u->fd, u->writing.data + done, u->writing.len - done, (off_t)(off + (int64_t)done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            u->write_result = n < 0 ? -errno : -EIO;
            return;
        }
        done += (size_t)n;
    }
    u->write_result = (ssize_t)done;
}

static void after_write(uv_work_t *w, int status);

static int start_write(struct upload *u)
{
    if (u->fs_busy || u->stage.len == 0 || u->fd < 0)
        return 0;
    struct buf t = u->writing;
    u->writing = u->stage;
    u->stage = t;
    buf_reset(&u->stage);
    u->fs_busy = true;
    u->work.data = u;
    int rc = uv_queue_work(u->loop, &u->work, write_work, after_write);
    if (rc < 0) {
        u->fs_busy = false;
        const char *code, *msg;
        int         st = fs_status_http(rc, &code, &msg);
        up_fail(u, st, code, msg);
        return -1;
    }
    return 0;
}

/* The cleanup and DB steps after the body, driven from here. */
static void up_next(struct upload *u);

static void after_write(uv_work_t *w, int status)
{
    struct upload *u = w->data;
    ssize_t        r = status < 0 ? status : u->write_result;
    u->fs_busy = false;
    if (r < 0) {
        const char *code, *msg;
        int         st = fs_status_http((int)r, &code, &msg);
        up_fail(u, st, code, msg);
        return;
    }
    u->offset += r;
    buf_reset(&u->writing);
    if (u->state == UP_DONE || (u->state == UP_FLUSH && u->stage.len == 0)) {
        up_next(u); /* clean up, or fsync */
        return;
    }
    /* The staged bytes go first, so that the body resumes at once (the
     * stage is empty again) and not one write later. */
    if (start_write(u) < 0)
        return; /* failed and answered; u may be gone */
    if (u->paused && u->req) {
        u->paused = false;
        /* Last: bytes already received are parsed inside this call, and
         * on_body_data may end the upload there (a cap passed), freeing u. */
        http_body_resume(u->req);
    }
}

static void on_fs(uv_fs_t *f)
{
    struct upload *u = f->data;
    ssize_t        r = f->result;
    uv_fs_type     type = f->fs_type;
    uv_fs_req_cleanup(f);
    u->fs_busy = false;
    if (type == UV_FS_OPEN) {
        if (r < 0) {
            const char *code, *msg;
            int         st = fs_status_http((int)r, &code, &msg);
            up_fail(u, st, code, msg);
            return;
        }
        u->fd = (uv_file)r;
    }
    if (type == UV_FS_FSYNC && r < 0) {
        const char *code, *msg;
        int         st = fs_status_http((int)r, &code, &msg);
        up_fail(u, st, code, msg);
        return;
    }
    if (type == UV_FS_RENAME) {
        if (r < 0) {
            log_error("upload", "rename %s -> %s: %s", u->tmp_path, u->final_path, uv_strerror((int)r));
            const char *code, *msg;
            int         st = fs_status_http((int)r, &code, &msg);
            up_fail(u, st, code, msg);
            return;
        }
        u->renamed = true;
    }
    up_next(u);
}

/* ---- the database ------------------------------------------------------- */

static void on_db(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg);

static const char insert_sql[] =
    "INSERT INTO attachments (ticket_id, kind, content_type, size, sha256, path, uploaded_by, idempotency_key)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    " RETURNING id, EXISTS (SELECT 1 FROM attachments o WHERE o.path = $6)";

static void answer_created(struct upload *u, int status, bool replayed)
{
    struct buf b = {0};
    jw_obj(&b);
    jw_key_int(&b, "id", u->row_id);
    jw_key_str(&b, "sha256", u->sha_hex);
    jw_key_int(&b, "size", u->size);
    jw_key_str(&b, "kind", u->kind);
    jw_key_str(&b, "content_type", u->ctype);
    if (replayed)
        jw_key_bool(&b, "replayed", true);
    jw_end_obj(&b);
    u->answered = true;
    u->body_done = true; /* answered: no more body callbacks */
    http_respond_json(u->req, status, b.data, b.len);
    u->req = NULL;
    buf_free(&b);
}

static void on_db(void *ud, struct pg_tx *tx, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct upload *u = ud;
    if (u->db_step == 0)
        u->tx = tx;
    if (err != PG_OK) {
        if (u->db_step == 0 || u->db_step == 3)
            u->tx = NULL; /* no transaction (begin failed), or commit ended it */
        if (u->db_step == 3 && err == PG_ERR_CONN) {
            /* The connection broke during COMMIT: the row may well be
             * committed. A file no row names is the lesser harm; deleting
             * it could leave a committed row (which an Idempotency-Key
             * retry replays) pointing at nothing. */
            u->keep_file = true;
            log_warn("upload", "COMMIT outcome unknown; %s kept", u->final_path);
        }
        if (err == PG_ERR_SQL && state && !strcmp(state, "23505")) {
            up_fail(u, 409, "duplicate_request", "the same upload is being stored; retry to read its result");
            return;
        }
        int st = pg_http_status(err, state);
        if (st != 503)
            log_error("upload", "query failed: %s %s", state ? state : "", msg ? msg : "");
        up_fail(u, st, st == 503 ? "unavailable" : "internal",
                st == 503 ? "the database is unavailable; try again" : "the upload failed");
        return;
    }
    if (u->db_step != 3 && (!u->req || http_req_gone(u->req))) {
        /* The client went away before the row was committed: roll back.
         * Not after the COMMIT (step 3): the row is in, so its file must
         * stay, and the tx handle has ended (no rollback); the answer to a
         * gone request is just dropped. */
        up_fail(u, 499, "client_gone", "the client went away");
        return;
    }
    if (u->db_step == 0) {
        char tid[24], sz[24], uid[24];
        snprintf(tid, sizeof(tid), "%lld", (long long)u->ticket_id);
        snprintf(sz, sizeof(sz), "%lld", (long long)u->size);
        snprintf(uid, sizeof(uid), "%lld", (long long)u->user_id);
        const char *p[8] = {tid, u->kind, u->ctype, sz, u->sha_hex, u->final_rel, uid, u->idem[0] ? u->idem : NULL};
        u->db_step = 1;
        if (pg_tx_query(u->tx, insert_sql, 8, p, on_db, u) < 0)
            up_fail(u, 503, "unavailable", "the database is unavailable; try again");
        return;
    }
    if (u->db_step == 1) {
        u->row_id = atoll(PQgetvalue(res, 0, 0));
        u->existed = PQgetvalue(res, 0, 1)[0] == 't';
        u->db_step = 2;
        /* the row is written (not yet committed): put the file in place */
        char dir[512];
        snprintf(dir, sizeof(dir), "%s", u->final_path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        /* mkdir -p of upload_dir/yyyy/mm: two levels, EEXIST is fine; done
         * synchronously-free through the fs request chain in up_next */
        u->state = UP_DB;
        up_next(u);
        return;
    }
    /* db_step 3: committed */
    u->tx = NULL;
    answer_created(u, 201, false);
    u->state = UP_DONE;
    up_next(u);
}

/*
 * up_next: the one place that decides what happens after any fs or db
 * step. States:
 *   UP_STREAM  body arriving; nothing to do here until body_done
 *   UP_FLUSH   body done: wait for writes, fsync, close, then the DB
 *   UP_DB      row inserted: mkdir, rename, commit
 *   UP_DONE    answered or failed: close the file, unlink what is left, free
 */
static void up_next(struct upload *u)
{
    uv_loop_t *loop = u->loop;
    if (u->fs_busy)
        return; /* on_fs comes back here */
    switch (u->state) {
    case UP_PREP:
    case UP_STREAM: return;
    case UP_FLUSH:
        if (u->stage.len) {
            start_write(u);
            return;
        }
        if (u->fd >= 0 && u->db_step == 0 && !u->sha_hex[0]) {
            uint8_t d[CRYPTO_SHA256_LEN];
            crypto_sha256_end(&u->sha, d);
            crypto_hex(d, sizeof(d), u->sha_hex);
            blobs_final_rel(u->sha_hex, u->final_rel, sizeof(u->final_rel));
            snprintf(u->final_path, sizeof(u->final_path), "%s/%s", u->upload_dir, u->final_rel);
            fs_begin(u);
            if (uv_fs_fsync(loop, &u->fs, u->fd, on_fs) < 0) {
                u->fs_busy = false;
                up_fail(u, 500, "storage_failed", "the file could not be stored");
            }
            return;
        }
        if (u->fd >= 0) {
            uv_fs_t close_req;
            uv_fs_close(NULL, &close_req, u->fd, NULL); /* close(2) of a regular file: no wait worth a round trip */
            uv_fs_req_cleanup(&close_req);
            u->fd = -1;
        }
        if (!u->req || http_req_gone(u->req)) {
            up_fail(u, 499, "client_gone", "the client went away");
            return;
        }
        if (pg_tx_begin(u->pg, on_db, u) < 0)
            up_fail(u, 503, "unavailable", "the database is unavailable; try again");
        return;
    case UP_DB: {
        /* mkdir upload_dir/yyyy, then upload_dir/yyyy/mm, then rename */
        char dir[512];
        if (u->db_step == 2) {
            snprintf(dir, sizeof(dir), "%s/%.4s", u->upload_dir, u->final_rel);
            u->db_step = 20;
            fs_begin(u);
            if (uv_fs_mkdir(loop, &u->fs, dir, 0750, on_fs) < 0)
                goto fs_refused;
            return;
        }
        if (u->db_step == 20) {
            snprintf(dir, sizeof(dir), "%s/%.7s", u->upload_dir, u->final_rel);
            u->db_step = 21;
            fs_begin(u);
            if (uv_fs_mkdir(loop, &u->fs, dir, 0750, on_fs) < 0)
                goto fs_refused;
            return;
        }
        if (u->db_step == 21) {
            u->db_step = 22;
            fs_begin(u);
            if (uv_fs_rename(loop, &u->fs, u->tmp_path, u->final_path, on_fs) < 0)
                goto fs_refused;
            return;
        }
        if (u->db_step == 22 && u->renamed) {
            if (!u->req || http_req_gone(u->req)) {
                up_fail(u, 499, "client_gone", "the client went away");
                return;
            }
            u->db_step = 3;
            if (pg_tx_commit(u->tx, on_db, u) < 0)
                up_fail(u, 503, "unavailable", "the database is unavailable; try again");
        }
        return;
    fs_refused:
        /* refused at once: on_fs will not run (else the upload waited forever) */
        u->fs_busy = false;
        up_fail(u, 500, "storage_failed", "the file could not be stored");
        return;
    }
    case UP_DONE:
        if (u->fd >= 0) {
            uv_fs_t close_req;
            uv_fs_close(NULL, &close_req, u->fd, NULL);
            uv_fs_req_cleanup(&close_req);
            u->fd = -1;
        }
        if (u->err_status) {
            /* nothing of a failed upload stays on disk */
            if (u->renamed && !u->existed && !u->keep_file)
                unlink(u->final_path);
            else if (!u->renamed && u->tmp_path[0])
                unlink(u->tmp_path);
        }
        if (!u->body_done)
            return; /* the server still holds our body callbacks: on_body_end frees */
        up_free(u);
        return;
    }
}

/* ---- the body ------------------------------------------------------------ */

static int on_body_data(struct http_req *req, const char *data, size_t len, void *ud)
{
    struct upload *u = ud;
    (void)req;
    if (u->state != UP_STREAM)
        return -1;
    if (u->size + (int64_t)len > u->cap) {
        char msg[96];
        snprintf(msg, sizeof(msg), "a %s may be at most %lld bytes", u->kind, (long long)u->cap);
        up_fail(u, 413, "payload_too_large", too_large_msg(u->kind));
        (void)msg;
        return -1;
    }
    if (!u->ctype) {
        size_t take = len < sizeof(u->head) - u->nhead ? len : sizeof(u->head) - u->nhead;
        memcpy(u->head + u->nhead, data, take);
        u->nhead += take;
        if (u->nhead >= sizeof(u->head) || (u->nhead >= 5 && blobs_sniff(u->head, u->nhead))) {
            u->ctype = blobs_sniff(u->head, u->nhead);
            if (!u->ctype) {
                up_fail(u, 415, "unsupported_type", "only JPEG, PNG or PDF files are accepted");
                return -1;
            }
        }
    }
    u->size += (int64_t)len;
    buf_append(&u->stage, data, len);
    if (!u->fs_busy && start_write(u) < 0)
        return -1; /* answered; u may be gone */
    if (u->stage.len >= STAGE_CAP) {
        u->paused = true;
        return 1;
    }
    return 0;
}

static void on_body_end(struct http_req *req, int status, void *ud)
{
    struct upload *u = ud;
    (void)req;
    u->body_done = true;
    if (status < 0) {
        /* The body will not complete (http.h says why): nothing stays. */
        if (status == UV_E2BIG) /* past the route's cap, which is the BAST's: as on_body_data */
            up_fail(u, 413, "payload_too_large",
                    too_large_msg(u->kind));
        else if (status == UV_ETIMEDOUT)
            up_fail(u, 408, "request_timeout", "the upload did not arrive in time");
        else if (status == UV_ECONNRESET)
            up_fail(u, 499, "client_gone", "the client went away");
        else
            up_fail(u, 400, "bad_request", "the upload's body is malformed");
        return;
    }
    if (u->state == UP_DONE) {
        up_next(u);
        return;
    }
    if (u->size == 0 || !u->ctype) {
        up_fail(u, u->size == 0 ? 422 : 415, u->size == 0 ? "empty_body" : "unsupported_type",
                u->size == 0 ? "the file is empty" : "only JPEG, PNG or PDF files are accepted");
        return;
    }
    u->state = UP_FLUSH;
    up_next(u);
}

/* ---- start --------------------------------------------------------------- */

static void on_tmp_open(struct upload *u)
{
    u->state = UP_STREAM;
    if (http_body_stream(u->req, on_body_data, on_body_end, u) < 0) {
        /* the client is gone already */
        u->body_done = true;
        up_fail(u, 499, "client_gone", "the client went away");
    }
}

static void on_open_fs(uv_fs_t *f)
{
    struct upload *u = f->data;
    ssize_t        r = f->result;
    uv_fs_req_cleanup(f);
    u->fs_busy = false;
    if (r < 0) {
        const char *code, *msg;
        int         st = fs_status_http((int)r, &code, &msg);
        log_error("upload", "cannot create %s: %s", u->tmp_path, uv_strerror((int)r));
        u->tmp_path[0] = '\0';
        u->body_done = true;
        up_fail(u, st, code, msg);
        return;
    }
    u->fd = (uv_file)r;
    if (!u->req || http_req_gone(u->req)) {
        u->body_done = true;
        up_fail(u, 499, "client_gone", "the client went away");
        return;
    }
    on_tmp_open(u);
}

static void on_replay(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct upload *u = ud;
    (void)state;
    (void)msg;
    if (err != PG_OK) {
        u->body_done = true;
        up_fail(u, 503, "unavailable", "the database is unavailable; try again");
        return;
    }
    if (PQntuples(res) > 0 &&
        (atoll(PQgetvalue(res, 0, 4)) != u->ticket_id || strcmp(PQgetvalue(res, 0, 5), u->kind))) {
        /* The key is the caller's (unique per uploader), not the ticket's:
         * a row of another ticket or kind is not this request's result, and
         * replaying it would answer with an attachment this ticket has not
         * got. As field.c does for a check-in key reused. */
        u->body_done = true;
        up_fail(u, 422, "idempotency_key_reused", "this Idempotency-Key was used for another upload");
        return;
    }
    if (PQntuples(res) > 0) {
        u->row_id = atoll(PQgetvalue(res, 0, 0));
        snprintf(u->sha_hex, sizeof(u->sha_hex), "%s", PQgetvalue(res, 0, 1));
        u->size = atoll(PQgetvalue(res, 0, 2));
        u->ctype = !strcmp(PQgetvalue(res, 0, 3), "image/png")         ? "image/png"
                   : !strcmp(PQgetvalue(res, 0, 3), "application/pdf") ? "application/pdf"
                                                                       : "image/jpeg";
        u->body_done = true;
        answer_created(u, 200, true);
        u->state = UP_DONE;
        up_next(u);
        return;
    }
    if (blobs_part_path(u->upload_dir, u->tmp_path, sizeof(u->tmp_path)) < 0) {
        /* GSS_UPLOAD_DIR too long for a file name (config refuses one
         * longer than BLOBS_DIR_MAX at start; this is the backstop) */
        u->tmp_path[0] = '\0';
        u->body_done = true;
        up_fail(u, 500, "storage_failed", "the file could not be stored");
        return;
    }
    fs_begin(u);
    if (uv_fs_open(u->loop, &u->fs, u->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640, on_open_fs) < 0) {
        u->fs_busy = false;
        u->tmp_path[0] = '\0';
        u->body_done = true;
        up_fail(u, 500, "storage_failed", "the file could not be stored");
    }
}

static void on_upload_access(struct http_req *req, enum field_verdict v, void *ud)
{
    struct upload *u = ud;
    if (v != FIELD_ALLOWED) {
        u->body_done = true;
        if (v == FIELD_UNAVAILABLE)
            up_fail(u, 503, "unavailable", "the database is unavailable; try again");
        else
            up_fail(u, 404, "not_found", "no such ticket");
        return;
    }
    if (u->idem[0]) {
        char uid[24];
        snprintf(uid, sizeof(uid), "%lld", (long long)u->user_id);
        const char *p[2] = {uid, u->idem};
        if (pg_query(req->svc->pg,
                     "SELECT id, sha256, size, content_type, ticket_id, kind FROM attachments"
                     " WHERE uploaded_by = $1 AND idempotency_key = $2",
                     2, p, on_replay, u) < 0) {
            u->body_done = true;
            up_fail(u, 503, "unavailable", "the database is unavailable; try again");
        }
        return;
    }
    on_replay(u, NULL, PG_OK, NULL, NULL);
}

void h_attachments_upload(struct http_req *req)
{
    struct gss_services *svc = req->svc;
    int64_t              id = http_param_id(req, 0);
    char                 kind[16];
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return;
    }
    if (!http_query(req, "kind", kind, sizeof(kind)) || !valid_kind(kind)) {
        http_error(req, 422, "validation_failed", "kind: bast, photo or payment_proof");
        return;
    }
    /* A payment proof is CS's record of money received (docs/money.md);
     * it may be a bank's PDF, so it gets the larger, BAST cap. */
    bool proof = !strcmp(kind, "payment_proof");
    if (proof && req->session->role != ROLE_CS && req->session->role != ROLE_ADMIN) {
        http_error(req, 403, "forbidden", "only CS records payment proofs");
        return;
    }
    int64_t cap = (proof || !strcmp(kind, "bast")) ? svc->cfg->upload_bast_max : svc->cfg->upload_photo_max;
    int64_t declared = http_body_length(req);
    if (declared > cap) {
        char msg[96];
        snprintf(msg, sizeof(msg), "a %s may be at most %lld bytes", kind, (long long)cap);
        http_error(req, 413, "payload_too_large", msg);
        return;
    }
    if (declared == 0) {
        http_error(req, 422, "empty_body", "the file is empty");
        return;
    }
    char idem[72];
    if (http_idempotency_key(req, idem) < 0) {
        http_error(req, 400, "bad_idempotency_key", "Idempotency-Key: 1 to 64 of A-Z a-z 0-9 - _");
        return;
    }
    struct upload *u = xcalloc(1, sizeof(*u));
    u->req = req;
    u->ticket_id = id;
    u->user_id = req->session->user_id;
    u->cap = cap;
    u->fd = -1;
    u->loop = svc->loop;
    u->pg = svc->pg;
    u->upload_dir = svc->cfg->upload_dir;
    snprintf(u->kind, sizeof(u->kind), "%s", kind);
    memcpy(u->idem, idem, sizeof(idem));
    crypto_sha256_begin(&u->sha);
    field_access(req, id, on_upload_access, u);
}

/* ---- download ------------------------------------------------------------- */

struct download {
    struct http_req *req;
    char             path[512], ctype[32], kind[16];
    int64_t          id, size;
    uv_fs_t          fs;
    uv_file          fd;
    char            *data;
};

static void dl_fail(struct download *d, int status, const char *code, const char *msg)
{
    http_error(d->req, status, code, msg);
    free(d->data);
    free(d);
}

static void on_dl_read(uv_fs_t *f)
{
    struct download *d = f->data;
    ssize_t          r = f->result;
    uv_fs_req_cleanup(f);
    uv_fs_t close_req;
    uv_fs_close(NULL, &close_req, d->fd, NULL);
    uv_fs_req_cleanup(&close_req);
    if (r != d->size) {
        log_error("attachments", "reading %s: %s", d->path, r < 0 ? uv_strerror((int)r) : "short read");
        dl_fail(d, 500, "storage_failed", "the file could not be read");
        return;
    }
    char disp[96];
    snprintf(disp, sizeof(disp), "inline; filename=\"%s-%lld.%s\"", d->kind, (long long)d->id, ext_of(d->ctype));
    http_add_header(d->req, "X-Content-Type-Options", "nosniff");
    http_add_header(d->req, "Content-Disposition", disp);
    http_add_header(d->req, "Content-Security-Policy", "sandbox; default-src 'none'");
    http_add_header(d->req, "Cache-Control", "private, max-age=3600");
    /* the file's bytes go out as they are, not copied into the answer */
    http_respond_owned(d->req, 200, d->ctype, d->data, (size_t)d->size);
    d->data = NULL;
    free(d);
}

static void on_dl_open(uv_fs_t *f)
{
    struct download *d = f->data;
    ssize_t          r = f->result;
    uv_fs_req_cleanup(f);
    if (r < 0) {
        log_error("attachments", "opening %s: %s", d->path, uv_strerror((int)r));
        dl_fail(d, r == UV_ENOENT ? 404 : 500, r == UV_ENOENT ? "not_found" : "storage_failed",
                r == UV_ENOENT ? "the file is missing" : "the file could not be read");
        return;
    }
    d->fd = (uv_file)r;
    d->data = xmalloc(d->size ? (size_t)d->size : 1);
    uv_buf_t b = uv_buf_init(d->data, (unsigned)d->size);
    d->fs.data = d;
    if (uv_fs_read(d->req->svc->loop, &d->fs, d->fd, &b, 1, 0, on_dl_read) < 0) {
        /* refused at once: on_dl_read will not run (the request would wait forever, the fd open) */
        uv_fs_t close_req;
        uv_fs_close(NULL, &close_req, d->fd, NULL);
        uv_fs_req_cleanup(&close_req);
        dl_fail(d, 500, "storage_failed", "the file could not be read");
    }
}

static void on_dl_access(struct http_req *req, enum field_verdict v, void *ud)
{
    struct download *d = ud;
    if (v != FIELD_ALLOWED) {
        dl_fail(d, v == FIELD_UNAVAILABLE ? 503 : 404, v == FIELD_UNAVAILABLE ? "unavailable" : "not_found",
                v == FIELD_UNAVAILABLE ? "the database is unavailable; try again" : "no such attachment");
        return;
    }
    d->fs.data = d;
    if (uv_fs_open(req->svc->loop, &d->fs, d->path, O_RDONLY | O_CLOEXEC, 0, on_dl_open) < 0)
        dl_fail(d, 500, "storage_failed", "the file could not be read");
}

static void on_dl_row(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct download *d = ud;
    if (err != PG_OK) {
        int st = pg_http_status(err, state);
        if (st != 503)
            log_error("attachments", "lookup failed: %s %s", state ? state : "", msg ? msg : "");
        dl_fail(d, st, st == 503 ? "unavailable" : "internal", "the request failed");
        return;
    }
    if (PQntuples(res) == 0) {
        dl_fail(d, 404, "not_found", "no such attachment");
        return;
    }
    int64_t ticket = atoll(PQgetvalue(res, 0, 0));
    bool    conversation = PQgetisnull(res, 0, 0); /* a WhatsApp photo of a customer (0014_wa_media.sql) */
    snprintf(d->path, sizeof(d->path), "%s/%s", d->req->svc->cfg->upload_dir, PQgetvalue(res, 0, 1));
    snprintf(d->ctype, sizeof(d->ctype), "%s", PQgetvalue(res, 0, 2));
    snprintf(d->kind, sizeof(d->kind), "%s", PQgetvalue(res, 0, 3));
    d->size = atoll(PQgetvalue(res, 0, 4));
    if (conversation) {
        /* no ticket to ask about: the conversation is CS's (docs/whatsapp.md "Photos") */
        bool cs = (d->req->session->role & (ROLE_CS | ROLE_ADMIN)) != 0;
        on_dl_access(d->req, cs ? FIELD_ALLOWED : FIELD_DENIED, d);
        return;
    }
    field_access(d->req, ticket, on_dl_access, d);
}

void h_attachments_get(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such attachment");
        return;
    }
    struct download *d = xcalloc(1, sizeof(*d));
    d->req = req;
    d->id = id;
    d->fd = -1;
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    const char *p[1] = {idb};
    if (pg_query(req->svc->pg, "SELECT ticket_id, path, content_type, kind, size FROM attachments WHERE id = $1", 1, p,
                 on_dl_row, d) < 0)
        dl_fail(d, 503, "unavailable", "the database is unavailable; try again");
}

/* ---- start-up --------------------------------------------------------------- */

/* Whether a .part file belongs to no live upload. Several gssd may share
 * the folder. One of this host whose writer process is gone (or is us:
 * a pid reused after a crash) is abandoned at once; one of another host,
 * or not named by us, only when untouched for min_age_ms (a live upload
 * ends within its body deadline). */
static bool part_abandoned(const char *name, const char *path, int64_t min_age_ms)
{
    char host[64];
    blobs_part_owner(host, sizeof(host));
    size_t hl = strlen(host), nl = strlen(name);
    if (nl > hl + 1 && !strncmp(name, host, hl) && name[hl] == '-') {
        char *end;
        long  pid = strtol(name + hl + 1, &end, 10);
        if (end != name + hl + 1 && *end == '-' && pid > 0)
            return pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
    }
    struct stat st;
    return stat(path, &st) == 0 && (int64_t)(time(NULL) - st.st_mtime) * 1000 >= min_age_ms;
}

int attachments_prepare(const char *upload_dir, int64_t min_age_ms)
{
    /* Blocking, at start-up only: the folders, and no .part left by a
     * process that died mid-upload. */
    char path[512];
    snprintf(path, sizeof(path), "%s", upload_dir);
    for (char *p = path + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0750);
            *p = '/';
        }
    mkdir(path, 0750);
    snprintf(path, sizeof(path), "%s/tmp", upload_dir);
    if (mkdir(path, 0750) < 0 && errno != EEXIST) {
        log_error("upload", "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    uv_fs_t req;
    int     n = uv_fs_scandir(NULL, &req, path, 0, NULL), swept = 0;
    if (n >= 0) {
        uv_dirent_t ent;
        while (uv_fs_scandir_next(&req, &ent) != UV_EOF) {
            size_t l = strlen(ent.name);
            if (l > 5 && !strcmp(ent.name + l - 5, ".part")) {
                char f[600];
                snprintf(f, sizeof(f), "%s/%s", path, ent.name);
                if (!part_abandoned(ent.name, f, min_age_ms))
                    continue;
                if (unlink(f) == 0)
                    swept++;
            }
        }
    }
    uv_fs_req_cleanup(&req);
    if (swept)
        log_info("upload", "removed %d unfinished upload(s) from %s", swept, path);
    return 0;
}
