/*
 * Surat Tugas: the assignment letter a technician shows at the door, and
 * its public verification page. docs/fieldwork.md.
 *
 * GET /api/v1/tickets/{id}/letter.pdf
 *   access (field_access) -> one query: the ticket, its customer, its active
 *   technicians (and their sorted ids, the letter's "techs" signature)
 *   -> cache hit (same signature, not expired): the stored PDF
 *   -> else a new verification token (only its hash is stored) and a render
 *      job on the rendering pool (render/letter.c, off the loop); the PDF is
 *      cached until the ticket's technicians change, then served.
 * GET /v/{token}
 *   the token's hash -> ticket code, technicians, schedule, and whether the
 *   letter is still valid: not expired, ticket not cancelled, technicians
 *   unchanged since it was printed. Plain HTML, no script.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/session.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/log.h"
#include "core/workers.h"
#include "http/handlers/field.h"
#include "http/handlers/handlers.h"
#include "http/handlers/letter.h"
#include "http/services.h"
#include "render/letter.h"
#include "store/pg.h"

/* ---- the cache -------------------------------------------------------------- */

#define LETTER_CACHE_MAX 256

struct letter_entry {
    int64_t ticket_id;
    char   *techs; /* owned: sorted technician ids, "3,17" */
    char   *pdf;   /* owned */
    size_t  len;
    int64_t valid_until_s;
    uint64_t used; /* LRU clock */
};

struct letter_cache {
    struct letter_entry e[LETTER_CACHE_MAX];
    unsigned            n;
    uint64_t            clock;
    uint64_t            hits, misses, renders, render_failures, rejected;
};

struct letter_cache *letter_cache_new(void)
{
    return xcalloc(1, sizeof(struct letter_cache));
}

void letter_cache_free(struct letter_cache *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->n; i++) {
        free(c->e[i].techs);
        free(c->e[i].pdf);
    }
    free(c);
}

void letter_cache_metrics(const struct letter_cache *c, struct buf *b)
{
    if (!c)
        return;
    buf_printf(b,
               "# TYPE gss_letter_cache_hits_total counter\ngss_letter_cache_hits_total %llu\n"
               "# TYPE gss_letter_renders_total counter\ngss_letter_renders_total %llu\n"
               "# TYPE gss_letter_render_failures_total counter\ngss_letter_render_failures_total %llu\n"
               "# TYPE gss_letter_rejected_total counter\ngss_letter_rejected_total %llu\n",
               (unsigned long long)c->hits, (unsigned long long)c->renders, (unsigned long long)c->render_failures,
               (unsigned long long)c->rejected);
}

static struct letter_entry *cache_find(struct letter_cache *c, int64_t ticket, const char *techs, int64_t now_s)
{
    for (unsigned i = 0; i < c->n; i++)
        if (c->e[i].ticket_id == ticket) {
            if (!strcmp(c->e[i].techs, techs) && c->e[i].valid_until_s > now_s) {
                c->e[i].used = ++c->clock;
                return &c->e[i];
            }
            return NULL;
        }
    return NULL;
}

static void cache_put(struct letter_cache *c, int64_t ticket, const char *techs, char *pdf, size_t len,
                      int64_t valid_until_s)
{
    struct letter_entry *slot = NULL;
    for (unsigned i = 0; i < c->n && !slot; i++)
        if (c->e[i].ticket_id == ticket)
            slot = &c->e[i];
    if (!slot && c->n < LETTER_CACHE_MAX)
        slot = &c->e[c->n++];
    if (!slot) {
        slot = &c->e[0];
        for (unsigned i = 1; i < c->n; i++)
            if (c->e[i].used < slot->used)
                slot = &c->e[i];
    }
    free(slot->techs);
    free(slot->pdf);
    slot->ticket_id = ticket;
    slot->techs = xstrdup(techs);
    slot->pdf = pdf;
    slot->len = len;
    slot->valid_until_s = valid_until_s;
    slot->used = ++c->clock;
}

/* ---- Jakarta time, in Indonesian ------------------------------------------ */

static void wib_text(int64_t epoch_s, bool with_day, char *out, size_t n)
{
    static const char *days[] = {"Minggu", "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu"};
    static const char *months[] = {"Januari", "Februari", "Maret",     "April",   "Mei",      "Juni",
                                   "Juli",    "Agustus",  "September", "Oktober", "November", "Desember"};
    time_t    t = (time_t)(epoch_s + 7 * 3600); /* Asia/Jakarta: UTC+7, no daylight saving */
    struct tm tm;
    gmtime_r(&t, &tm);
    if (with_day)
        snprintf(out, n, "%s, %d %s %d %02d:%02d WIB", days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
    else
        snprintf(out, n, "%d %s %d %02d:%02d WIB", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                 tm.tm_min);
}

/* ---- rendering ------------------------------------------------------------- */

#define LETTER_MAX_TECHS 10

/* Everything the worker thread reads is owned here: the PGresult dies with
 * its callback. */
struct letter_job {
    struct http_req     *req;
    struct letter_cache *cache;
    int64_t              ticket_id, valid_until_s;
    char                 techs_sig[256];
    char                 filename[96];
    struct buf           strings; /* all the text, NUL-separated */
    size_t               off_code, off_cname, off_cphone, off_addr, off_work, off_url;
    size_t               off_tname[LETTER_MAX_TECHS], off_tphone[LETTER_MAX_TECHS];
    size_t               ntechs;
    char                 schedule[80], valid_until[80], issued[80];
    const struct gss_config *cfg;
    /* results (worker thread) */
    struct buf out;
    int        rc;
    char       err[160];
};

static size_t job_str(struct letter_job *j, const char *s)
{
    size_t off = j->strings.len;
    buf_append(&j->strings, s ? s : "", strlen(s ? s : "") + 1);
    return off;
}

static void job_free(struct letter_job *j)
{
    buf_free(&j->strings);
    buf_free(&j->out);
    free(j);
}

static void render_work(void *arg)
{
    struct letter_job   *j = arg;
    const char          *s = j->strings.data;
    struct render_person people[LETTER_MAX_TECHS];
    for (size_t i = 0; i < j->ntechs; i++) {
        people[i].name = s + j->off_tname[i];
        people[i].phone = s + j->off_tphone[i];
    }
    struct letter_doc d = {
        .company = j->cfg->company_name,
        .company_address = j->cfg->company_address,
        .company_phone = j->cfg->company_phone,
        .code = s + j->off_code,
        .customer_name = s + j->off_cname,
        .customer_phone = s + j->off_cphone,
        .address = s + j->off_addr,
        .schedule = j->schedule,
        .work = s + j->off_work,
        .techs = people,
        .ntechs = j->ntechs,
        .valid_until = j->valid_until,
        .issued_at = j->issued,
        .verify_url = s + j->off_url,
        .font_path = j->cfg->font_path,
        .font_bold_path = j->cfg->font_bold_path,
    };
    j->rc = render_letter_pdf(&d, &j->out, j->err, sizeof(j->err));
}

static void serve_pdf(struct http_req *req, const char *filename, const char *pdf, size_t len)
{
    char disp[160];
    snprintf(disp, sizeof(disp), "attachment; filename=\"%s\"", filename);
    http_add_header(req, "Content-Disposition", disp);
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_add_header(req, "Cache-Control", "private, no-cache");
    http_respond(req, 200, "application/pdf", pdf, len);
}

static void render_done(void *arg, int status)
{
    struct letter_job *j = arg;
    if (status != 0) {
        http_add_header(j->req, "Retry-After", "1");
        http_error(j->req, 503, "unavailable", "the server is shutting down; try again");
        job_free(j);
        return;
    }
    if (j->rc != 0) {
        j->cache->render_failures++;
        log_error("letter", "rendering the letter of ticket %lld failed: %s", (long long)j->ticket_id, j->err);
        http_error(j->req, 500, "render_failed", "the letter could not be made");
        job_free(j);
        return;
    }
    j->cache->renders++;
    serve_pdf(j->req, j->filename, j->out.data, j->out.len);
    size_t len = j->out.len;
    cache_put(j->cache, j->ticket_id, j->techs_sig, buf_steal(&j->out), len, j->valid_until_s);
    job_free(j);
}

/* ---- the request ------------------------------------------------------------ */

/* 0 id, 1 code, 2 customer name, 3 phone, 4 address, 5 problem, 6 sched
 * epoch s, 7 techs json [{id,name,phone}], 8 sorted ids, 9 status */
static const char letter_sql[] =
    "SELECT t.id, t.code, c.name, c.phone, t.address, t.problem, extract(epoch FROM t.scheduled_at)::bigint,"
    "       coalesce((SELECT json_agg(json_build_object('name', u.name, 'phone', coalesce(u.phone, ''))"
    "                 ORDER BY a.slot) FROM assignments a JOIN users u ON u.id = a.tech_id"
    "                 WHERE a.ticket_id = t.id AND a.released_at IS NULL), '[]'),"
    "       coalesce((SELECT string_agg(a.tech_id::text, ',' ORDER BY a.tech_id) FROM assignments a"
    "                 WHERE a.ticket_id = t.id AND a.released_at IS NULL), ''), t.status"
    " FROM tickets t JOIN customers c ON c.id = t.customer_id WHERE t.id = $1";

static void on_token_stored(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct letter_job *j = ud;
    (void)res;
    if (err != PG_OK) {
        int st = pg_http_status(err, state);
        if (st != 503)
            log_error("letter", "storing the token failed: %s %s", state ? state : "", msg ? msg : "");
        http_error(j->req, st, st == 503 ? "unavailable" : "internal", "the letter could not be made");
        job_free(j);
        return;
    }
    struct gss_services *svc = j->req->svc;
    int                  rc = svc->render ? workers_submit(svc->render, render_work, render_done, j) : UV_EINVAL;
    if (rc != 0) {
        j->cache->rejected++;
        http_add_header(j->req, "Retry-After", "1");
        http_error(j->req, 503, "busy", "too many letters are being made; try again in a moment");
        job_free(j);
    }
}

/* The technicians' names and phones from the query's JSON, without a JSON
 * parser of its own: yyjson is there. */
#include <yyjson.h>

static void on_letter_row(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req     *req = ud;
    struct gss_services *svc = req->svc;
    if (err != PG_OK) {
        int st = pg_http_status(err, state);
        if (st != 503)
            log_error("letter", "query failed: %s %s", state ? state : "", msg ? msg : "");
        http_error(req, st, st == 503 ? "unavailable" : "internal", "the letter could not be made");
        return;
    }
    if (PQntuples(res) == 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return;
    }
    const char *status = PQgetvalue(res, 0, 9);
    if (!strcmp(status, "cancelled")) {
        http_error(req, 409, "ticket_cancelled", "the ticket is cancelled: there is no letter");
        return;
    }
    const char *sig = PQgetvalue(res, 0, 8);
    if (!sig[0]) {
        http_error(req, 409, "no_technicians", "no technician is assigned yet");
        return;
    }
    int64_t id = atoll(PQgetvalue(res, 0, 0));
    int64_t sched = atoll(PQgetvalue(res, 0, 6));
    int64_t valid_until = sched + svc->cfg->letter_valid_h * 3600;
    char    filename[96];
    snprintf(filename, sizeof(filename), "surat-tugas-%s.pdf", PQgetvalue(res, 0, 1));
    struct letter_entry *hit = cache_find(svc->letters, id, sig, (int64_t)time(NULL));
    if (hit) {
        svc->letters->hits++;
        serve_pdf(req, filename, hit->pdf, hit->len);
        return;
    }
    svc->letters->misses++;
    struct letter_job *j = xcalloc(1, sizeof(*j));
    j->req = req;
    j->cache = svc->letters;
    j->cfg = svc->cfg;
    j->ticket_id = id;
    j->valid_until_s = valid_until;
    snprintf(j->techs_sig, sizeof(j->techs_sig), "%s", sig);
    snprintf(j->filename, sizeof(j->filename), "%s", filename);
    j->off_code = job_str(j, PQgetvalue(res, 0, 1));
    j->off_cname = job_str(j, PQgetvalue(res, 0, 2));
    {
        char cphone[40];
        snprintf(cphone, sizeof(cphone), "+%s", PQgetvalue(res, 0, 3));
        j->off_cphone = job_str(j, cphone);
    }
    j->off_addr = job_str(j, PQgetvalue(res, 0, 4));
    j->off_work = job_str(j, PQgetvalue(res, 0, 5));
    yyjson_doc *doc = yyjson_read(PQgetvalue(res, 0, 7), (size_t)PQgetlength(res, 0, 7), 0);
    yyjson_val *arr = yyjson_doc_get_root(doc), *t;
    size_t      idx, max;
    yyjson_arr_foreach(arr, idx, max, t)
    {
        if (j->ntechs == LETTER_MAX_TECHS)
            break;
        j->off_tname[j->ntechs] = job_str(j, yyjson_get_str(yyjson_obj_get(t, "name")));
        const char *ph = yyjson_get_str(yyjson_obj_get(t, "phone"));
        char        pretty[40] = "";
        if (ph && ph[0])
            snprintf(pretty, sizeof(pretty), "+%s", ph);
        j->off_tphone[j->ntechs] = job_str(j, pretty);
        j->ntechs++;
    }
    yyjson_doc_free(doc);
    wib_text(sched, true, j->schedule, sizeof(j->schedule));
    wib_text(valid_until, true, j->valid_until, sizeof(j->valid_until));
    wib_text((int64_t)time(NULL), false, j->issued, sizeof(j->issued));
    /* the verification token: shown once (in the QR), stored as its hash */
    char token[CRYPTO_TOKEN_SIZE], hash[CRYPTO_TOKEN_HASH_SIZE], url[512];
    crypto_token(token);
    crypto_token_hash(token, strlen(token), hash);
    snprintf(url, sizeof(url), "%s/v/%s", svc->cfg->public_url, token);
    j->off_url = job_str(j, url);
    char idb[24], vu[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)id);
    snprintf(vu, sizeof(vu), "%lld", (long long)valid_until);
    const char *p[4] = {hash, idb, sig, vu};
    if (pg_query(svc->pg,
                 "INSERT INTO letter_tokens (token_hash, ticket_id, techs, valid_until)"
                 " VALUES ($1, $2, $3, to_timestamp($4::bigint))",
                 4, p, on_token_stored, j) < 0) {
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
        job_free(j);
    }
}

static void on_letter_access(struct http_req *req, enum field_verdict v, void *ud)
{
    (void)ud;
    if (field_refused(req, v))
        return;
    char idb[24];
    snprintf(idb, sizeof(idb), "%lld", (long long)http_param_id(req, 0));
    const char *p[1] = {idb};
    if (pg_query(req->svc->pg, letter_sql, 1, p, on_letter_row, req) < 0)
        http_error(req, 503, "unavailable", "the database is unavailable; try again");
}

void h_tickets_letter(struct http_req *req)
{
    int64_t id = http_param_id(req, 0);
    if (id <= 0) {
        http_error(req, 404, "not_found", "no such ticket");
        return;
    }
    field_access(req, id, on_letter_access, NULL);
}

/* ---- /v/{token} -------------------------------------------------------------- */

static void html_text(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '&': buf_puts(b, "&amp;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        case '\'': buf_puts(b, "&#39;"); break;
        default: buf_putc(b, *s);
        }
    }
}

static void verify_page(struct http_req *req, int status, const char *title, const char *verdict_class,
                        const char *verdict, PGresult *res)
{
    struct buf b = {0};
    buf_puts(&b, "<!doctype html><html lang=\"id\"><head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                 "<title>Verifikasi Surat Tugas</title><link rel=\"stylesheet\" href=\"/verify.css\"></head><body>"
                 "<main class=\"verify\"><h1>Verifikasi Surat Tugas</h1>");
    buf_puts(&b, "<p class=\"verdict ");
    buf_puts(&b, verdict_class);
    buf_puts(&b, "\" id=\"verdict\">");
    html_text(&b, verdict);
    buf_puts(&b, "</p>");
    if (res) {
        char when[80];
        buf_puts(&b, "<dl><dt>Nomor tiket</dt><dd id=\"code\">");
        html_text(&b, PQgetvalue(res, 0, 0));
        buf_puts(&b, "</dd><dt>Jadwal</dt><dd>");
        wib_text(atoll(PQgetvalue(res, 0, 1)), true, when, sizeof(when));
        html_text(&b, when);
        buf_puts(&b, "</dd><dt>Berlaku sampai</dt><dd>");
        wib_text(atoll(PQgetvalue(res, 0, 2)), true, when, sizeof(when));
        html_text(&b, when);
        buf_puts(&b, "</dd><dt>Teknisi</dt><dd><ul id=\"techs\">");
        yyjson_doc *doc = yyjson_read(PQgetvalue(res, 0, 3), (size_t)PQgetlength(res, 0, 3), 0);
        yyjson_val *arr = yyjson_doc_get_root(doc), *t;
        size_t      idx, max;
        yyjson_arr_foreach(arr, idx, max, t)
        {
            buf_puts(&b, "<li>");
            html_text(&b, yyjson_get_str(t) ? yyjson_get_str(t) : "");
            buf_puts(&b, "</li>");
        }
        yyjson_doc_free(doc);
        buf_puts(&b, "</ul></dd></dl>");
    }
    buf_puts(&b, "<p class=\"muted\">");
    html_text(&b, title);
    buf_puts(&b, "</p></main></body></html>");
    http_add_header(req, "Content-Security-Policy", "default-src 'none'; style-src 'self'; base-uri 'none'; form-action 'none'");
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    http_add_header(req, "Cache-Control", "no-store");
    http_add_header(req, "Referrer-Policy", "no-referrer");
    http_respond(req, status, "text/html; charset=utf-8", b.data, b.len);
    buf_free(&b);
}

/* 0 code, 1 sched s, 2 valid_until s, 3 names json (printed ones), 4 valid, 5 why */
static const char verify_sql[] =
    "SELECT t.code, extract(epoch FROM t.scheduled_at)::bigint, extract(epoch FROM l.valid_until)::bigint,"
    "       coalesce((SELECT json_agg(u.name ORDER BY u.name) FROM users u"
    "                 WHERE u.id::text = ANY (string_to_array(l.techs, ','))), '[]'),"
    "       CASE WHEN t.status = 'cancelled' THEN 'cancelled'"
    "            WHEN l.valid_until < now() THEN 'expired'"
    "            WHEN l.techs <> coalesce((SELECT string_agg(a.tech_id::text, ',' ORDER BY a.tech_id)"
    "                 FROM assignments a WHERE a.ticket_id = t.id AND a.released_at IS NULL), '') THEN 'changed'"
    "            ELSE 'valid' END"
    " FROM letter_tokens l JOIN tickets t ON t.id = l.ticket_id WHERE l.token_hash = $1";

static void on_verify_row(void *ud, PGresult *res, enum pg_err err, const char *state, const char *msg)
{
    struct http_req *req = ud;
    (void)state;
    (void)msg;
    if (err != PG_OK) {
        verify_page(req, 503, "Coba lagi sebentar lagi.", "bad", "Layanan sedang tidak tersedia", NULL);
        return;
    }
    if (PQntuples(res) == 0) {
        verify_page(req, 404, "Kode pada surat tidak dikenal. Jangan izinkan masuk dan hubungi kami.", "bad",
                    "Surat tidak ditemukan", NULL);
        return;
    }
    const char *v = PQgetvalue(res, 0, 4);
    if (!strcmp(v, "valid"))
        verify_page(req, 200, "Surat ini asli dan masih berlaku untuk teknisi di atas.", "ok", "Surat BERLAKU", res);
    else if (!strcmp(v, "expired"))
        verify_page(req, 200, "Masa berlaku surat ini sudah habis.", "bad", "Surat TIDAK BERLAKU (kedaluwarsa)", res);
    else if (!strcmp(v, "cancelled"))
        verify_page(req, 200, "Pekerjaan ini sudah dibatalkan.", "bad", "Surat TIDAK BERLAKU (tiket dibatalkan)", res);
    else
        verify_page(req, 200, "Teknisi yang ditugaskan sudah berubah sejak surat ini dicetak.", "bad",
                    "Surat TIDAK BERLAKU (teknisi berubah)", res);
}

void h_letter_verify(struct http_req *req)
{
    if (req->nparams < 1 || req->params[0].n != CRYPTO_TOKEN_SIZE - 1) {
        verify_page(req, 404, "Kode pada surat tidak dikenal. Jangan izinkan masuk dan hubungi kami.", "bad",
                    "Surat tidak ditemukan", NULL);
        return;
    }
    for (size_t i = 0; i < req->params[0].n; i++) {
        char c = req->params[0].p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) {
            verify_page(req, 404, "Kode pada surat tidak dikenal.", "bad", "Surat tidak ditemukan", NULL);
            return;
        }
    }
    char hash[CRYPTO_TOKEN_HASH_SIZE];
    crypto_token_hash(req->params[0].p, req->params[0].n, hash);
    const char *p[1] = {hash};
    if (pg_query(req->svc->pg, verify_sql, 1, p, on_verify_row, req) < 0)
        verify_page(req, 503, "Coba lagi sebentar lagi.", "bad", "Layanan sedang tidak tersedia", NULL);
}
