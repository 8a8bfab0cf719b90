/*
 * outbox_channels: Telegram and WhatsApp as outbox channels. What each
 * accepts and how it reads the answers is in outbox_channels.h; the API
 * facts behind it in ../shared/INTEGRATIONS.md (sections 1 and 2).
 *
 * The token goes into the request (Telegram: the URL path; WhatsApp: the
 * Authorization header) and nowhere else: no log line or last_error names
 * a URL.
 */
#include "integrations/outbox_channels.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "core/log.h"
#include "integrations/telegram.h"
#include "integrations/whatsapp.h"

/* One allocation per channel, so outbox_channel_free is free(). */
struct chan_conf {
    char *token;
    char *base; /* without a trailing '/' */
    char *phone_number_id;
    char  public_url[256]; /* Telegram: the links' base, "" when unset */
    char  tg_bot[40], tg_miniapp[40]; /* Telegram: the job button's Mini App link (outbox_tg_jobs); "" unset */

    /* WhatsApp: the customer's links (outbox_wa_links); keys NULL: unset */
    const struct links *wa_keys;
    char                wa_template[513], wa_lang[16];

    char  off[160];
    char  data[]; /* the strings */
};

static struct chan_conf *conf_new(const char *token, const char *base, const char *phone)
{
    size_t tl = strlen(token ? token : ""), bl = strlen(base ? base : ""), pl = strlen(phone ? phone : "");
    while (bl && base[bl - 1] == '/')
        bl--;
    struct chan_conf *c = xcalloc(1, sizeof(*c) + tl + bl + pl + 3);
    c->token = c->data;
    memcpy(c->token, token ? token : "", tl);
    c->base = c->token + tl + 1;
    memcpy(c->base, base ? base : "", bl);
    c->phone_number_id = c->base + bl + 1;
    memcpy(c->phone_number_id, phone ? phone : "", pl);
    return c;
}

void outbox_channel_free(struct outbox_channel *ch)
{
    if (ch) {
        free(ch->ctx);
        ch->ctx = NULL;
    }
}

static void set_v(struct outbox_verdict *v, enum outbox_outcome o, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_v(struct outbox_verdict *v, enum outbox_outcome o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    v->outcome = o;
    vsnprintf(v->detail, sizeof(v->detail), fmt, ap);
    va_end(ap);
}

static void retry(struct outbox_verdict *v, bool counts, int64_t delay_ms)
{
    v->outcome = OUTBOX_RETRY;
    v->counts = counts;
    v->delay_ms = delay_ms;
}

static char *mut_write(yyjson_mut_doc *md, size_t *len)
{
    return yyjson_mut_write(md, 0, len);
}

/* A short piece of an answer body for last_error, when it is not JSON. */
static void body_excerpt(const struct ihttp_response *res, char *out, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < res->body_len && k + 1 < n && k < 120; i++) {
        unsigned char ch = (unsigned char)res->body[i];
        out[k++] = ch >= 0x20 && ch < 0x7f ? (char)ch : ' ';
    }
    out[k] = '\0';
}

/* ---- Telegram ------------------------------------------------------------------ */

static bool tg_method_ok(const char *m, size_t n)
{
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((m[i] >= 'a' && m[i] <= 'z') || (m[i] >= 'A' && m[i] <= 'Z')))
            return false;
    return true;
}

/* '-?digits' (up to 20) or '@name' (5-32 of A-Za-z0-9_). */
static bool tg_chat_ok(const char *s, bool *numeric)
{
    size_t n = strlen(s);
    if (s[0] == '@') {
        *numeric = false;
        return n >= 6 && n <= 33 &&
               strspn(s + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == n - 1;
    }
    *numeric = true;
    const char *d = s[0] == '-' ? s + 1 : s;
    size_t      dl = strlen(d);
    return dl >= 1 && dl <= 19 && strspn(d, "0123456789") == dl;
}

static int tg_rates(void *ctx, const char *target, struct outbox_rate *out)
{
    (void)ctx;
    out[0] = (struct outbox_rate){1, 1000};
    /* groups, supergroups and channels have negative ids (or a @name) */
    if (!strncmp(target, "tg:-", 4) || !strncmp(target, "tg:@", 4)) {
        out[1] = (struct outbox_rate){20, 60000};
        return 2;
    }
    return 1;
}

/* The longest a job edit waits for its post's turn before it is looked at
 * again (gss_job_render's wait_ms, 0020): a post that was sent meanwhile is
 * edited within this. */
#define TG_JOB_WAIT_MAX_MS 60000

static int tg_build(void *ctx, const struct outbox_row *row, struct outbox_req *req, struct outbox_verdict *v)
{
    struct chan_conf *c = ctx;
    int               rc = -1;
    yyjson_doc       *doc = yyjson_read(row->payload, strlen(row->payload), 0);
    yyjson_mut_doc   *md = NULL;
    yyjson_val       *root = doc ? yyjson_doc_get_root(doc) : NULL;
    yyjson_val       *approval = yyjson_obj_get(root, "approval");
    yyjson_val       *job = yyjson_obj_get(root, "job");
    if (yyjson_is_str(yyjson_obj_get(root, "render_error"))) {
        /* gss_outbox_render (0020) could not render this row's payload:
         * this row fails, the batch goes on */
        set_v(v, OUTBOX_FAILED, "bad payload: %.300s", yyjson_get_str(yyjson_obj_get(root, "render_error")));
        goto out;
    }
    if (yyjson_is_str(yyjson_obj_get(root, "job_skip"))) {
        /* gss_job_render: the job is no longer open, or the message this
         * edit is for never went */
        set_v(v, OUTBOX_CANCELLED, "%.300s", yyjson_get_str(yyjson_obj_get(root, "job_skip")));
        goto out;
    }
    if (yyjson_is_str(yyjson_obj_get(root, "job_wait"))) {
        set_v(v, OUTBOX_WAIT, "%.300s", yyjson_get_str(yyjson_obj_get(root, "job_wait")));
        yyjson_val *wait = yyjson_obj_get(root, "wait_ms"); /* until the post's turn (0020), within bounds */
        v->delay_ms = yyjson_is_int(wait) && yyjson_get_sint(wait) > TG_JOB_WAIT_MS &&
                              yyjson_get_sint(wait) <= TG_JOB_WAIT_MAX_MS
                          ? yyjson_get_sint(wait)
                          : TG_JOB_WAIT_MS;
        goto out;
    }
    if (yyjson_is_str(yyjson_obj_get(root, "approval_skip"))) {
        /* gss_approval_edit_render (0016): an approval message whose invoice
         * moved on, or an edit of one that never went or that the Approve
         * press edited itself */
        set_v(v, OUTBOX_CANCELLED, "%.300s", yyjson_get_str(yyjson_obj_get(root, "approval_skip")));
        goto out;
    }
    if (yyjson_is_str(yyjson_obj_get(root, "approval_wait"))) {
        set_v(v, OUTBOX_WAIT, "%.300s", yyjson_get_str(yyjson_obj_get(root, "approval_wait")));
        yyjson_val *wait = yyjson_obj_get(root, "wait_ms"); /* the renderer's, within bounds */
        v->delay_ms = yyjson_is_int(wait) && yyjson_get_sint(wait) > TG_APPROVAL_EDIT_WAIT_MS &&
                              yyjson_get_sint(wait) <= OUTBOX_PARK_MS
                          ? yyjson_get_sint(wait)
                          : TG_APPROVAL_EDIT_WAIT_MS;
        goto out;
    }
    if (!strncmp(row->kind, "job.", 4) && strncmp(row->target, "tg:", 3) != 0) {
        /* a source row the job fan-out (outbox.c) has not reached yet */
        set_v(v, OUTBOX_WAIT, "waiting for the job fan-out");
        v->delay_ms = TG_JOB_WAIT_MS;
        goto out;
    }
    if (yyjson_is_obj(job)) {
        /* A job broadcast, rendered by gss_job_render from the tables as
         * they are now: the text and its button are made here. */
        yyjson_val *edit = yyjson_obj_get(yyjson_obj_get(root, "edit"), "message_id");
        if (edit && (!yyjson_is_int(edit) || yyjson_get_sint(edit) <= 0)) {
            set_v(v, OUTBOX_FAILED, "bad job payload: edit.message_id must be a positive integer");
            goto out;
        }
        struct tg_job_links links = {c->public_url, c->tg_bot, c->tg_miniapp};
        size_t              jl = 0;
        char                err[200] = "";
        char               *jj = yyjson_val_write(job, 0, &jl);
        char *built = jj ? tg_job_payload(jj, jl, edit ? yyjson_get_sint(edit) : 0, &links, err, sizeof(err)) : NULL;
        free(jj);
        if (!built) {
            if (strstr(err, "no public URL"))
                set_v(v, OUTBOX_WAIT, "%.200s", err); /* a setting, not the row: it goes once it is set */
            else
                set_v(v, OUTBOX_FAILED, "bad job payload: %.200s", err[0] ? err : "cannot be read");
            goto out;
        }
        yyjson_doc_free(doc);
        doc = yyjson_read(built, strlen(built), 0);
        free(built);
        root = doc ? yyjson_doc_get_root(doc) : NULL;
    } else if (yyjson_is_obj(yyjson_obj_get(root, "approval_edit"))) {
        /* Sales' approval message answered elsewhere (web, revision, a new
         * version, another Sales' press): its text says so, its Approve
         * button goes (tg_approval_edit_payload). */
        size_t el = 0;
        char   err[160] = "";
        char  *ej = yyjson_val_write(yyjson_obj_get(root, "approval_edit"), 0, &el);
        char  *built = ej ? tg_approval_edit_payload(ej, el, c->public_url, err, sizeof(err)) : NULL;
        free(ej);
        if (!built) {
            set_v(v, OUTBOX_FAILED, "bad approval edit payload: %.120s", err[0] ? err : "cannot be read");
            goto out;
        }
        yyjson_doc_free(doc);
        doc = yyjson_read(built, strlen(built), 0);
        free(built);
        root = doc ? yyjson_doc_get_root(doc) : NULL;
    } else if (yyjson_is_obj(approval)) {
        /* Sales' approval message, written by the fan-out (outbox.c) from
         * the invoice as it was then: rendered here, the one place that
         * knows the links' base. */
        if (!c->public_url[0]) {
            set_v(v, OUTBOX_WAIT, "GSS_PUBLIC_URL unset: the approval message's button needs it");
            goto out;
        }
        size_t al = 0;
        char   err[160] = "";
        char  *aj = yyjson_val_write(approval, 0, &al);
        char  *built = aj ? tg_approval_payload(aj, al, c->public_url, err, sizeof(err)) : NULL;
        free(aj);
        if (!built) {
            set_v(v, OUTBOX_FAILED, "bad approval payload: %.120s", err[0] ? err : "cannot be read");
            goto out;
        }
        yyjson_doc_free(doc);
        doc = yyjson_read(built, strlen(built), 0);
        free(built);
        root = doc ? yyjson_doc_get_root(doc) : NULL;
    }
    yyjson_val *method = yyjson_obj_get(root, "method"), *params = yyjson_obj_get(root, "params");
    if (!method && !params) {
        set_v(v, OUTBOX_WAIT, "kind %s waits for its message builder (the payload has no method/params yet)",
              row->kind);
        goto out;
    }
    if (!yyjson_is_str(method) || !tg_method_ok(yyjson_get_str(method), yyjson_get_len(method)) ||
        !yyjson_is_obj(params)) {
        set_v(v, OUTBOX_FAILED, "bad payload: \"method\" must name a Bot API method and \"params\" be an object");
        goto out;
    }
    if (strncmp(row->target, "tg:", 3) != 0) {
        set_v(v, OUTBOX_WAIT, "target %.60s waits for its message builder (only tg:<chat id> is sent yet)",
              row->target);
        goto out;
    }
    const char *chat = row->target + 3;
    bool        numeric;
    if (!tg_chat_ok(chat, &numeric)) {
        set_v(v, OUTBOX_FAILED, "bad target %.60s: not a Telegram chat id", row->target);
        goto out;
    }
    yyjson_val *cid = yyjson_obj_get(params, "chat_id");
    if (cid) {
        char have[40] = "";
        if (yyjson_is_int(cid))
            snprintf(have, sizeof(have), "%" PRId64, yyjson_get_sint(cid));
        else if (yyjson_is_str(cid))
            snprintf(have, sizeof(have), "%s", yyjson_get_str(cid));
        if (strcmp(have, chat) != 0) {
            set_v(v, OUTBOX_FAILED, "bad payload: params.chat_id differs from the target %.60s", row->target);
            goto out;
        }
    }
    md = yyjson_mut_doc_new(NULL);
    yyjson_mut_val *mp = yyjson_val_mut_copy(md, params);
    yyjson_mut_doc_set_root(md, mp);
    if (!cid) {
        if (numeric)
            yyjson_mut_obj_add_sint(md, mp, "chat_id", strtoll(chat, NULL, 10));
        else
            yyjson_mut_obj_add_strcpy(md, mp, "chat_id", chat);
    }
    size_t len = 0;
    char  *body = mut_write(md, &len);
    if (!body) {
        set_v(v, OUTBOX_FAILED, "bad payload: cannot be written back as JSON");
        goto out;
    }
    buf_append(&req->body, body, len);
    free(body);
    struct buf url = {0};
    buf_printf(&url, "%s/bot%s/%.*s", c->base, c->token, (int)yyjson_get_len(method), yyjson_get_str(method));
    req->url = buf_steal(&url);
    req->headers[0] = xstrdup("Content-Type: application/json");
    rc = 0;
out:
    yyjson_mut_doc_free(md);
    yyjson_doc_free(doc);
    return rc;
}

/* A 400 migrate_to_chat_id: what becomes of the payload. A payload with
 * params gets params.chat_id set to the new chat (*out, the caller's); one
 * without (rendered when it leaves: a job message, an approval, from ids
 * and tables, outbox.c render_sql) is kept as stored (*out NULL) and the
 * new target alone carries the move: the text is built again for it. The
 * verdict's payload replaces the stored one, so writing the rendered
 * payload back would have turned a job row into a frozen snapshot (and
 * that payload has no params to change). -1: unreadable. */
static int tg_moved_payload(const char *payload, int64_t to, char **out)
{
    *out = NULL;
    yyjson_doc *doc = yyjson_read(payload, strlen(payload), 0);
    if (!doc)
        return -1;
    yyjson_val *root = yyjson_doc_get_root(doc);
    if (!yyjson_is_obj(root)) {
        yyjson_doc_free(doc);
        return -1;
    }
    if (!yyjson_obj_get(root, "params")) {
        yyjson_doc_free(doc);
        return 0;
    }
    yyjson_mut_doc *md = yyjson_doc_mut_copy(doc, NULL);
    yyjson_doc_free(doc);
    yyjson_mut_val *params = yyjson_mut_obj_get(yyjson_mut_doc_get_root(md), "params");
    if (yyjson_mut_is_obj(params)) {
        yyjson_mut_obj_remove_key(params, "chat_id");
        yyjson_mut_obj_add_sint(md, params, "chat_id", to);
        *out = mut_write(md, NULL);
    }
    yyjson_mut_doc_free(md);
    return *out ? 0 : -1;
}

static void tg_classify(void *ctx, const struct outbox_row *row, const struct ihttp_response *res,
                        struct outbox_verdict *v)
{
    (void)ctx;
    if (res->err != IHTTP_OK) {
        retry(v, true, -1);
        snprintf(v->detail, sizeof(v->detail), "network: %s: %.300s", ihttp_err_name(res->err), res->error);
        return;
    }
    yyjson_doc *doc = yyjson_read(res->body, res->body_len, 0);
    yyjson_val *root = doc ? yyjson_doc_get_root(doc) : NULL;
    bool        ok = yyjson_is_true(yyjson_obj_get(root, "ok"));
    const char *desc = yyjson_get_str(yyjson_obj_get(root, "description"));
    yyjson_val *params = yyjson_obj_get(root, "parameters");
    char        excerpt[128];
    if (!desc) {
        body_excerpt(res, excerpt, sizeof(excerpt));
        desc = excerpt;
    }
    long st = res->status;
    if (st == 200 && ok) {
        v->outcome = OUTBOX_SENT;
        yyjson_val *result = yyjson_obj_get(root, "result");
        yyjson_val *mid = yyjson_obj_get(result, "message_id");
        yyjson_val *chat = yyjson_obj_get(yyjson_obj_get(result, "chat"), "id");
        if (yyjson_is_int(mid) && yyjson_is_int(chat))
            snprintf(v->provider_id, sizeof(v->provider_id), "%" PRId64 ":%" PRId64, yyjson_get_sint(chat),
                     yyjson_get_sint(mid));
        else if (yyjson_is_int(mid))
            snprintf(v->provider_id, sizeof(v->provider_id), "%" PRId64, yyjson_get_sint(mid));
    } else if (st == 429) {
        yyjson_val *ra = yyjson_obj_get(params, "retry_after");
        int64_t     s = yyjson_is_int(ra) ? yyjson_get_sint(ra) : res->retry_after_s >= 0 ? res->retry_after_s : 5;
        if (s < 0)
            s = 0;
        retry(v, false, s * 1000);
        snprintf(v->detail, sizeof(v->detail), "429 Too Many Requests: retry after %" PRId64 " s (%.200s)", s, desc);
    } else if (st == 400 && yyjson_is_int(yyjson_obj_get(params, "migrate_to_chat_id"))) {
        int64_t to = yyjson_get_sint(yyjson_obj_get(params, "migrate_to_chat_id"));
        char   *moved = NULL;
        if (tg_moved_payload(row->payload, to, &moved) == 0) {
            retry(v, false, 0);
            char t[40];
            snprintf(t, sizeof(t), "tg:%" PRId64, to);
            v->new_target = xstrdup(t);
            v->new_payload = moved; /* NULL: the stored payload stays */
            snprintf(v->detail, sizeof(v->detail), "the group became a supergroup: moved to chat %" PRId64, to);
            /* The row follows; the setting that named the old chat does not. */
            log_warn("outbox",
                     "Telegram chat %.60s became a supergroup, now chat %" PRId64 ": row %lld (%s) follows it. "
                     "UPDATE THE SETTING that names this chat (GSS_TELEGRAM_TS_CHAT=%" PRId64 " for the "
                     "technicians' group): until then every new message goes to the old chat first",
                     row->target, to, (long long)row->id, row->kind, to);
        } else {
            set_v(v, OUTBOX_FAILED, "400: the group moved to chat %" PRId64 " but the payload could not follow", to);
        }
    } else if (st == 400 && strstr(desc, "message is not modified")) {
        v->outcome = OUTBOX_SENT; /* the message already says this: the edit is done */
    } else if (st == 401) {
        retry(v, false, 60000);
        v->channel_down = true;
        snprintf(v->detail, sizeof(v->detail), "401 Unauthorized: Telegram refused the bot token (GSS_TELEGRAM_TOKEN)");
    } else if (st == 403) {
        set_v(v, OUTBOX_UNREACHABLE, "403: %.300s", desc);
    } else if (st >= 500 || (st == 200 && !ok)) {
        retry(v, true, -1);
        snprintf(v->detail, sizeof(v->detail), "HTTP %ld: %.300s", st, desc);
    } else {
        set_v(v, OUTBOX_FAILED, "HTTP %ld: %.300s", st, desc);
    }
    yyjson_doc_free(doc);
}

void outbox_tg_channel(struct outbox_channel *ch, const char *token, const char *api_base)
{
    struct chan_conf *c = conf_new(token, api_base, NULL);
    memset(ch, 0, sizeof(*ch));
    ch->name = "telegram";
    ch->ctx = c;
    if (!c->token[0]) {
        snprintf(c->off, sizeof(c->off), "channel off: GSS_TELEGRAM_TOKEN unset");
        ch->off_reason = c->off;
    }
    ch->global = (struct outbox_rate){30, 1000};
    ch->target_rates = tg_rates;
    ch->build = tg_build;
    ch->classify = tg_classify;
}

void outbox_tg_public_url(struct outbox_channel *ch, const char *public_url)
{
    struct chan_conf *c = ch->ctx;
    size_t            n = strlen(public_url ? public_url : "");
    while (n && public_url[n - 1] == '/')
        n--;
    c->public_url[0] = '\0';
    if (n >= sizeof(c->public_url)) {
        log_warn("outbox", "GSS_PUBLIC_URL is longer than %zu bytes: approval messages wait",
                 sizeof(c->public_url) - 1);
        return;
    }
    if (n)
        memcpy(c->public_url, public_url, n);
    c->public_url[n] = '\0';
}

void outbox_tg_jobs(struct outbox_channel *ch, const char *bot_username, const char *miniapp)
{
    struct chan_conf *c = ch->ctx;
    const char       *bot = bot_username ? bot_username : "";
    if (bot[0] == '@')
        bot++;
    c->tg_bot[0] = c->tg_miniapp[0] = '\0';
    if (strlen(bot) < sizeof(c->tg_bot))
        snprintf(c->tg_bot, sizeof(c->tg_bot), "%s", bot);
    if (miniapp && strlen(miniapp) < sizeof(c->tg_miniapp))
        snprintf(c->tg_miniapp, sizeof(c->tg_miniapp), "%s", miniapp);
    if (c->tg_miniapp[0] && !c->tg_bot[0])
        log_warn("outbox", "GSS_TELEGRAM_MINIAPP is set but GSS_TELEGRAM_BOT_USERNAME is not: job buttons link to "
                           "GSS_PUBLIC_URL/jobs/<id>");
}

/* ---- WhatsApp -------------------------------------------------------------------- */

static int wa_rates(void *ctx, const char *target, struct outbox_rate *out)
{
    (void)ctx;
    (void)target;
    out[0] = (struct outbox_rate){1, 6000}; /* 131056: about one message per 6 s to one customer */
    return 1;
}

/* The invoice message of a rendered invoice.sent row ({"links_msg": ...},
 * db/migrations/0013_wa_out.sql) as a document holding a Cloud API
 * message, or NULL with v filled. */
static yyjson_doc *wa_links_doc(const struct chan_conf *c, yyjson_val *lm, const struct outbox_row *row,
                                struct outbox_verdict *v)
{
    if (!c->wa_keys || !c->public_url[0]) {
        set_v(v, OUTBOX_WAIT, "kind %s waits: the links' key or GSS_PUBLIC_URL is not set for WhatsApp", row->kind);
        return NULL;
    }
    struct wa_links_conf conf = {c->public_url, c->wa_template, c->wa_lang};
    size_t               ll = 0;
    char                 err[200] = "";
    char                *lj = yyjson_val_write(lm, 0, &ll);
    char                *built = lj ? wa_links_message(lj, ll, c->wa_keys, &conf, err, sizeof(err)) : NULL;
    free(lj);
    if (!built) {
        set_v(v, OUTBOX_FAILED, "the invoice message cannot be built: %.200s", err[0] ? err : "unreadable");
        return NULL;
    }
    size_t      bl = strlen(built);
    yyjson_doc *d = yyjson_read(built, bl, 0);
    memset(built, 0, bl); /* it holds the link tokens */
    free(built);
    if (!d)
        set_v(v, OUTBOX_FAILED, "the invoice message cannot be read back");
    return d;
}

static int wa_build(void *ctx, const struct outbox_row *row, struct outbox_req *req, struct outbox_verdict *v)
{
    struct chan_conf *c = ctx;
    int               rc = -1;
    yyjson_doc       *doc = yyjson_read(row->payload, strlen(row->payload), 0), *built = NULL;
    yyjson_mut_doc   *md = NULL;
    yyjson_val       *root = doc ? yyjson_doc_get_root(doc) : NULL;
    yyjson_val       *msg = yyjson_obj_get(root, "message"), *lm = yyjson_obj_get(root, "links_msg");
    if (yyjson_is_str(yyjson_obj_get(root, "render_error"))) {
        /* gss_outbox_render (0020) could not render this row's payload */
        set_v(v, OUTBOX_FAILED, "bad payload: %.300s", yyjson_get_str(yyjson_obj_get(root, "render_error")));
        goto out;
    }
    if (!msg && lm) {
        built = wa_links_doc(c, lm, row, v);
        if (!built)
            goto out;
        msg = yyjson_doc_get_root(built);
    }
    if (!msg && yyjson_obj_get(root, "invoice_link_id")) {
        /* the renderer found no invoice of that id (0013_wa_out.sql) */
        set_v(v, OUTBOX_WAIT, "kind %s waits for its message builder: its invoice is not in the database", row->kind);
        goto out;
    }
    if (!msg) {
        set_v(v, OUTBOX_WAIT, "kind %s waits for its message builder (the payload has no message yet)", row->kind);
        goto out;
    }
    if (!yyjson_is_obj(msg)) {
        set_v(v, OUTBOX_FAILED, "bad payload: \"message\" must be a Cloud API message object");
        goto out;
    }
    /* 'wa:<phone>', or 'wa-user:<BSUID>' for a customer who hides the
     * number: then the message names the recipient by "recipient" instead
     * of "to" (Meta's BSUID sends; 131062 where not supported). */
    bool        by_user = !strncmp(row->target, "wa-user:", 8);
    const char *to = row->target + (by_user ? 8 : 3);
    if (!by_user && strncmp(row->target, "wa:", 3) != 0) {
        set_v(v, OUTBOX_WAIT, "target %.60s waits for its message builder (only wa:<phone> and wa-user:<id> are sent)",
              row->target);
        goto out;
    }
    size_t tl = strlen(to);
    if (by_user ? !wa_bsuid_ok(to) : (tl < 8 || tl > 15 || strspn(to, "0123456789") != tl)) {
        set_v(v, OUTBOX_FAILED, "bad target %.60s: not a phone number with its country code%s", row->target,
              by_user ? " nor a WhatsApp user id" : "");
        goto out;
    }
    yyjson_val *have_to = yyjson_obj_get(msg, "to"), *prod = yyjson_obj_get(msg, "messaging_product");
    yyjson_val *have_rcp = yyjson_obj_get(msg, "recipient");
    if (by_user ? (have_to || (have_rcp && !yyjson_equals_str(have_rcp, to))) : have_rcp != NULL) {
        set_v(v, OUTBOX_FAILED, "bad payload: message.to / message.recipient do not fit the target %.60s", row->target);
        goto out;
    }
    if (have_to) {
        const char *h = yyjson_get_str(have_to);
        if (h && h[0] == '+')
            h++;
        if (!h || strcmp(h, to) != 0) {
            set_v(v, OUTBOX_FAILED, "bad payload: message.to differs from the target %.60s", row->target);
            goto out;
        }
    }
    if (prod && !yyjson_equals_str(prod, "whatsapp")) {
        set_v(v, OUTBOX_FAILED, "bad payload: messaging_product must be \"whatsapp\"");
        goto out;
    }
    md = yyjson_mut_doc_new(NULL);
    yyjson_mut_val *mm = yyjson_val_mut_copy(md, msg);
    yyjson_mut_doc_set_root(md, mm);
    if (!prod)
        yyjson_mut_obj_add_str(md, mm, "messaging_product", "whatsapp");
    if (by_user && !have_rcp)
        yyjson_mut_obj_add_strcpy(md, mm, "recipient", to);
    else if (!by_user && !have_to)
        yyjson_mut_obj_add_strcpy(md, mm, "to", to);
    size_t len = 0;
    char  *body = mut_write(md, &len);
    if (!body) {
        set_v(v, OUTBOX_FAILED, "bad payload: cannot be written back as JSON");
        goto out;
    }
    buf_append(&req->body, body, len);
    memset(body, 0, len); /* a built message holds link tokens */
    free(body);
    struct buf b = {0};
    buf_printf(&b, "%s/%s/messages", c->base, c->phone_number_id);
    req->url = buf_steal(&b);
    req->headers[0] = xstrdup("Content-Type: application/json");
    buf_printf(&b, "Authorization: Bearer %s", c->token);
    req->headers[1] = buf_steal(&b);
    rc = 0;
out:
    yyjson_mut_doc_free(md);
    yyjson_doc_free(built);
    yyjson_doc_free(doc);
    return rc;
}

/* 131047: the customer's 24-hour window was closed when the message
 * arrived, though it was open when the row was rendered (the row waited:
 * the 6 s pacing, a backoff, the channel off).
 *   - The invoice message (rendered at send time, gss_wa_links_render): a
 *     retry that uses no attempt, with "window_closed" added to the stored
 *     payload (the renderer hands it back as "stored"), so the next render
 *     sends the template, whatever our clock says of the window. Once only:
 *     a row that already carries the mark fails.
 *   - CS's free-text reply (wa.reply): failed, in the words the inbox
 *     shows CS (the template is CS's choice, not ours).
 * The same refusal as a status webhook is handled in SQL (0019_wa_fixes.sql). */
static void wa_window_closed(const struct outbox_row *row, struct outbox_verdict *v, const char *what)
{
    yyjson_doc *doc = yyjson_read(row->payload, strlen(row->payload), 0);
    yyjson_val *root = doc ? yyjson_doc_get_root(doc) : NULL;
    yyjson_val *stored = yyjson_obj_get(root, "stored");
    if (yyjson_is_obj(yyjson_obj_get(root, "links_msg")) && yyjson_is_obj(stored) &&
        yyjson_obj_get(stored, "invoice_link_id") && !yyjson_is_true(yyjson_obj_get(stored, "window_closed"))) {
        yyjson_mut_doc *md = yyjson_mut_doc_new(NULL);
        yyjson_mut_val *m = yyjson_val_mut_copy(md, stored);
        yyjson_mut_obj_remove_key(m, "window_closed");
        yyjson_mut_obj_add_true(md, m, "window_closed");
        yyjson_mut_doc_set_root(md, m);
        char *np = mut_write(md, NULL);
        yyjson_mut_doc_free(md);
        if (np) {
            retry(v, false, 0);
            v->new_payload = np;
            snprintf(v->detail, sizeof(v->detail), "%s: the 24-hour window had closed; the template goes instead",
                     what);
            yyjson_doc_free(doc);
            return;
        }
    }
    if (!strcmp(row->kind, "wa.reply"))
        set_v(v, OUTBOX_FAILED, "window_closed: jendela 24 jam sudah tertutup saat dikirim; kirim template (%.300s)",
              what);
    else
        set_v(v, OUTBOX_FAILED, "%s: outside the 24-hour window, a template is needed", what);
    yyjson_doc_free(doc);
}

static void wa_classify(void *ctx, const struct outbox_row *row, const struct ihttp_response *res,
                        struct outbox_verdict *v)
{
    (void)ctx;
    (void)row;
    if (res->err != IHTTP_OK) {
        retry(v, true, -1);
        snprintf(v->detail, sizeof(v->detail), "network: %s: %.300s", ihttp_err_name(res->err), res->error);
        return;
    }
    yyjson_doc *doc = yyjson_read(res->body, res->body_len, 0);
    yyjson_val *root = doc ? yyjson_doc_get_root(doc) : NULL;
    yyjson_val *id = yyjson_obj_get(yyjson_arr_get(yyjson_obj_get(root, "messages"), 0), "id");
    yyjson_val *e = yyjson_obj_get(root, "error");
    int64_t     code = yyjson_get_sint(yyjson_obj_get(e, "code"));
    const char *m = yyjson_get_str(yyjson_obj_get(e, "message"));
    const char *details = yyjson_get_str(yyjson_obj_get(yyjson_obj_get(e, "error_data"), "details"));
    char        excerpt[128];
    if (!m) {
        body_excerpt(res, excerpt, sizeof(excerpt));
        m = excerpt;
    }
    char what[400];
    snprintf(what, sizeof(what), "%" PRId64 ": %.200s%s%.120s%s", code, m, details ? " (" : "", details ? details : "",
             details ? ")" : "");
    long    st = res->status;
    int64_t ra = res->retry_after_s >= 0 ? res->retry_after_s * 1000 : -1;
    if (st >= 200 && st < 300 && yyjson_is_str(id)) {
        v->outcome = OUTBOX_SENT;
        snprintf(v->provider_id, sizeof(v->provider_id), "%s", yyjson_get_str(id));
    } else if (code == 190 || code == 131042) {
        retry(v, false, code == 190 ? 60000 : 600000);
        v->channel_down = true;
        snprintf(v->detail, sizeof(v->detail), "%s%s", what,
                 code == 190 ? ": the access token was refused (GSS_WA_TOKEN)" : ": the business account cannot pay");
    } else if (code == 130429 || code == 131056) {
        retry(v, false, ra >= 0 ? ra : code == 131056 ? 6500 : 10000);
        snprintf(v->detail, sizeof(v->detail), "%s", what);
    } else if (code == 131049) {
        retry(v, false, 24 * 3600 * 1000);
        snprintf(v->detail, sizeof(v->detail), "%s: held back by Meta, tried again in a day", what);
    } else if (code == 131048) {
        retry(v, true, -1);
        snprintf(v->detail, sizeof(v->detail), "%s", what);
    } else if (code == 131026 || code == 131050) {
        set_v(v, OUTBOX_UNREACHABLE, "%s", what);
    } else if (code == 131047) {
        wa_window_closed(row, v, what);
    } else if (code == 131062) {
        set_v(v, OUTBOX_FAILED, "%s: this message cannot go to a WhatsApp user id (the customer hides the number)",
              what);
    } else if (st == 429) {
        retry(v, false, ra >= 0 ? ra : 10000);
        snprintf(v->detail, sizeof(v->detail), "HTTP 429: %s", what);
    } else if (st >= 500 || (st >= 200 && st < 300)) {
        retry(v, true, -1);
        snprintf(v->detail, sizeof(v->detail), "HTTP %ld: %s", st, what);
    } else {
        set_v(v, OUTBOX_FAILED, "HTTP %ld: %s", st, what);
    }
    yyjson_doc_free(doc);
}

void outbox_wa_channel(struct outbox_channel *ch, const char *token, const char *api_base, const char *phone_number_id)
{
    struct chan_conf *c = conf_new(token, api_base, phone_number_id);
    memset(ch, 0, sizeof(*ch));
    ch->name = "whatsapp";
    ch->ctx = c;
    if (!c->token[0])
        snprintf(c->off, sizeof(c->off), "channel off: GSS_WA_TOKEN unset");
    else if (!c->phone_number_id[0])
        snprintf(c->off, sizeof(c->off), "channel off: GSS_WA_PHONE_NUMBER_ID unset");
    if (c->off[0])
        ch->off_reason = c->off;
    ch->global = (struct outbox_rate){50, 1000};
    ch->target_rates = wa_rates;
    ch->build = wa_build;
    ch->classify = wa_classify;
}

void outbox_wa_links(struct outbox_channel *ch, const struct links *keys, const char *public_url,
                     const char *template_name, const char *template_lang)
{
    struct chan_conf *c = ch->ctx;
    size_t            n = strlen(public_url ? public_url : "");
    while (n && public_url[n - 1] == '/')
        n--;
    c->wa_keys = keys;
    c->public_url[0] = '\0';
    if (n < sizeof(c->public_url)) {
        memcpy(c->public_url, public_url ? public_url : "", n);
        c->public_url[n] = '\0';
    } else {
        log_warn("outbox", "GSS_PUBLIC_URL is longer than %zu bytes: the customer's invoice messages wait",
                 sizeof(c->public_url) - 1);
    }
    snprintf(c->wa_template, sizeof(c->wa_template), "%s", template_name ? template_name : "");
    snprintf(c->wa_lang, sizeof(c->wa_lang), "%s", template_lang && template_lang[0] ? template_lang : "id");
}
