#include "core/config.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/log.h"

enum cfg_type { CFG_STR, CFG_INT, CFG_BOOL };

struct cfg_entry {
    const char   *env;
    enum cfg_type type;
    size_t        offset;
    const char   *dflt;
    int64_t       min, max; /* CFG_INT only */
    const char   *help;
};

#define S(f) CFG_STR, offsetof(struct gss_config, f)
#define I(f) CFG_INT, offsetof(struct gss_config, f)
#define B(f) CFG_BOOL, offsetof(struct gss_config, f)

static const struct cfg_entry entries[] = {
    {"GSS_LISTEN", S(listen), "127.0.0.1:8080", 0, 0, "address:port to serve HTTP on"},
    {"GSS_DATABASE_URL", S(database_url), "postgresql://gss@127.0.0.1:5440/gss", 0, 0,
     "PostgreSQL connection URL (libpq syntax)"},
    {"GSS_REDIS_URL", S(redis_url), "redis://127.0.0.1:6390/0", 0, 0, "Redis URL redis://host:port[/db]"},
    {"GSS_REDIS_PREFIX", S(redis_prefix), "gss", 0, 0, "prefix of every Redis key and channel"},
    {"GSS_REGION", S(region), "default", 0, 0, "pool region; the Redis hash tag of its keys"},
    {"GSS_PUBLIC_URL", S(public_url), "http://127.0.0.1:8080", 0, 0, "base URL used in links sent out"},
    {"GSS_WEB_DIR", S(web_dir), "./web", 0, 0, "folder of the web app's static files"},
    {"GSS_UPLOAD_DIR", S(upload_dir), "./var/uploads", 0, 0, "folder uploaded files are stored in"},
    {"GSS_MAX_CONNS", I(max_conns), "10000", 1, 1000000, "open connections; more are answered 503"},
    {"GSS_HEADER_TIMEOUT_MS", I(header_timeout_ms), "10000", 10, 3600000,
     "time allowed from a request's first byte to the end of its headers"},
    {"GSS_IDLE_TIMEOUT_MS", I(idle_timeout_ms), "60000", 10, 86400000, "idle keep-alive connection lifetime"},
    {"GSS_BODY_MAX", I(body_max), "1048576", 0, INT64_C(1) << 40, "default cap of a request body (bytes)"},
    {"GSS_SHUTDOWN_TIMEOUT_MS", I(shutdown_timeout_ms), "10000", 0, 600000,
     "on SIGTERM, how long in-flight requests may still run"},
    {"GSS_PG_POOL_SIZE", I(pg_pool_size), "4", 1, 64, "PostgreSQL connections per process"},
    {"GSS_PG_STATEMENT_TIMEOUT_MS", I(pg_statement_timeout_ms), "15000", 0, 3600000,
     "PostgreSQL cancels a statement running longer (0: no limit)"},
    {"GSS_PG_TX_TIMEOUT_MS", I(pg_tx_timeout_ms), "10000", 100, 600000,
     "a PostgreSQL transaction still open this long after BEGIN is rolled back"},
    {"GSS_LOG_LEVEL", S(log_level), "info", 0, 0, "debug, info, warn or error"},
    {"GSS_LOG_REQUESTS", B(log_requests), "1", 0, 0, "one log line per request (0 to turn off)"},
    {"GSS_WS_ECHO", B(ws_echo), "0", 0, 0, "serve the WebSocket echo route /api/v1/ws/echo"},
    {"GSS_DEBUG_ROUTES", B(debug_routes), "0", 0, 0, "serve /api/v1/debug/* (tests only)"},
    {"GSS_TECH_MAX_ACTIVE", I(tech_max_active), "3", 1, 100, "jobs a technician may hold at once"},
    {"GSS_SESSION_TTL_S", I(session_ttl_s), "43200", 60, 31536000, "session lifetime, sliding (seconds)"},
    {"GSS_SESSION_CACHE_MS", I(session_cache_ms), "5000", 0, 600000,
     "how long a process trusts a cached session before asking Redis again"},
    {"GSS_COOKIE_SECURE", B(cookie_secure), "0", 0, 0, "mark the session cookie Secure (behind TLS)"},
    {"GSS_WORKERS", I(workers), "1", 1, 256, "processes sharing the port (SO_REUSEPORT); --workers too"},
    {"GSS_WS_MAX_MESSAGE", I(ws_max_message), "65536", 125, 16777216, "largest WebSocket message accepted"},
    {"GSS_WS_MAX_QUEUED", I(ws_max_queued), "1048576", 1024, INT64_C(1) << 32,
     "unsent bytes a WebSocket may queue before it is closed (1008)"},
    {"GSS_LOGIN_MAX_FAILURES", I(login_max_failures), "5", 1, 1000,
     "failed logins per account (and 4x per address) before 429"},
    {"GSS_ARGON2_FAST", B(argon2_fast), "0", 0, 0, "cheap argon2id parameters: tests only, never in production"},
    {"GSS_LOGIN_WINDOW_S", I(login_window_s), "300", 1, 86400, "window of the failed-login counters"},
    {"GSS_GEOFENCE_M", I(geofence_m), "200", 10, 5000, "check-in radius around a site unless the ticket sets one"},
    {"GSS_LATE_GRACE_S", I(late_grace_s), "900", 0, 86400, "a check-in this long after the scheduled time is late"},
    {"GSS_OFFLINE_MAX_S", I(offline_max_s), "21600", 60, 604800,
     "oldest GPS fix accepted (a check-in kept on the phone without signal)"},
    {"GSS_NOSHOW_AFTER_S", I(noshow_after_s), "3600", 1, 604800,
     "a slot with no check-in this long after the scheduled time is a no-show"},
    {"GSS_MONITOR_SCAN_MS", I(monitor_scan_ms), "5000", 100, 3600000,
     "how often the visit monitor looks for late and no-show slots"},
    {"GSS_AUTO_REPLACE_AFTER_S", I(auto_replace_after_s), "0", 0, 604800,
     "a no-show this long is replaced by gssd itself (0: never)"},
    {"GSS_UPLOAD_PHOTO_MAX", I(upload_photo_max), "10485760", 1024, INT64_C(1) << 32, "largest photo upload (bytes)"},
    {"GSS_UPLOAD_BAST_MAX", I(upload_bast_max), "20971520", 1024, INT64_C(1) << 32, "largest BAST upload (bytes)"},
    {"GSS_BODY_DEADLINE_MS", I(upload_deadline_ms), "300000", 100, 86400000,
     "a request body must arrive within this from its first byte"},
    {"GSS_LETTER_VALID_H", I(letter_valid_h), "24", 1, 8760, "a Surat Tugas is valid until the schedule + this"},
    {"GSS_ARGON2_THREADS", I(argon2_threads), "2", 1, 64, "threads hashing passwords"},
    {"GSS_ARGON2_QUEUE", I(argon2_queue), "64", 1, 100000, "password hashes waiting at most; more are 503"},
    {"GSS_RENDER_THREADS", I(render_threads), "0", 0, 64,
     "threads rendering PDFs (0: one less than the cores, at least one, so the loop keeps a core)"},
    {"GSS_RENDER_QUEUE", I(render_queue), "64", 1, 100000, "PDFs waiting to render at most; more are 503"},
    {"GSS_COMPANY_NAME", S(company_name), "PT Gemilang Servis Sejahtera", 0, 0, "letterhead: company name"},
    {"GSS_COMPANY_ADDRESS", S(company_address), "Jl. Jend. Sudirman No. 1, Jakarta Pusat 10220", 0, 0,
     "letterhead: address"},
    {"GSS_COMPANY_PHONE", S(company_phone), "+62 21 555 0100", 0, 0, "letterhead: phone"},
    {"GSS_FONT_PATH", S(font_path), "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf", 0, 0,
     "TrueType font embedded in PDFs (UTF-8 names)"},
    {"GSS_FONT_BOLD_PATH", S(font_bold_path), "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf", 0, 0,
     "bold TrueType font for PDFs"},
    {"GSS_TAX_RATE_BP", I(tax_rate_bp), "0", 0, 10000,
     "tax on an invoice's discounted amount, in basis points (1100 = 11%; 0: none)"},
    {"GSS_INVOICE_DUE_DAYS", I(invoice_due_days), "7", 0, 365, "an invoice is due this many days after it is sent"},
    {"GSS_PUBLIC_LINK_TTL_S", I(public_link_ttl_s), "2592000", 60, 31622400,
     "the customer's invoice and rating links expire after this"},
    {"GSS_LINK_KEY", S(link_key), "", 0, 0,
     "hex key (>= 32 bytes) the public link tokens are derived from; unset: one per process (links die on restart)"},
    {"GSS_PAY_BANK", S(pay_bank), "Transfer ke BCA 123-456-7890 a.n. PT Gemilang Servis Sejahtera", 0, 0,
     "payment instructions on the invoice page and PDF"},
    {"GSS_PAY_QRIS_IMAGE", S(pay_qris_image), "", 0, 0, "a static QRIS image (PNG) shown on the invoice page; empty: none"},
    {"GSS_PUBLIC_RATE_PER_MIN", I(public_rate_per_min), "60", 1, 100000000,
     "requests per minute one address may make to the public pages' API"},
    {"GSS_PUBLIC_RATE_BURST", I(public_rate_burst), "30", 1, 100000000, "requests above that rate allowed at once"},
    {"GSS_TELEGRAM_TOKEN", S(telegram_token), "", 0, 0, "Telegram bot token; empty: the telegram channel is off"},
    {"GSS_TELEGRAM_API_BASE", S(telegram_api_base), "https://api.telegram.org", 0, 0,
     "Bot API base URL (http only for a local fake)"},
    {"GSS_TELEGRAM_BOT_USERNAME", S(telegram_bot_username), "", 0, 0, "the bot's @username, for t.me links"},
    {"GSS_TELEGRAM_TS_CHAT", S(telegram_ts_chat), "", 0, 0, "chat id of the technicians' group"},
    {"GSS_TELEGRAM_WEBHOOK_SECRET", S(telegram_webhook_secret), "", 0, 0,
     "secret_token of the webhook (1-256 of A-Za-z0-9_-)"},
    {"GSS_TELEGRAM_MINIAPP", S(telegram_miniapp), "", 0, 0, "Direct Link Mini App short name; empty: plain URL buttons"},
    {"GSS_TELEGRAM_JOB_DM", B(telegram_job_dm), "0", 0, 0,
     "also send each job broadcast to every linked technician's private chat"},
    {"GSS_TELEGRAM_AUTH_MAX_AGE_S", I(telegram_auth_max_age_s), "300", 10, 86400,
     "a Mini App login's initData is refused when its auth_date is older than this"},
    {"GSS_WA_TOKEN", S(wa_token), "", 0, 0, "WhatsApp Cloud API token; empty: the whatsapp channel is off"},
    {"GSS_WA_API_BASE", S(wa_api_base), "https://graph.facebook.com/v21.0", 0, 0,
     "Graph API base URL with its version (http only for a local fake)"},
    {"GSS_WA_PHONE_NUMBER_ID", S(wa_phone_number_id), "", 0, 0, "the WhatsApp sender's phone number id"},
    {"GSS_WA_APP_SECRET", S(wa_app_secret), "", 0, 0, "app secret that signs WhatsApp webhooks"},
    {"GSS_WA_VERIFY_TOKEN", S(wa_verify_token), "", 0, 0, "hub.verify_token of the WhatsApp webhook handshake"},
    {"GSS_WA_TEMPLATE_INVOICE", S(wa_template_invoice), "gss_invoice", 0, 0,
     "approved utility template for the invoice and rating links outside the 24-hour window (docs/whatsapp.md)"},
    {"GSS_WA_TEMPLATE_FOLLOWUP", S(wa_template_followup), "cs_followup", 0, 0,
     "approved template CS sends from the inbox outside the 24-hour window"},
    {"GSS_WA_TEMPLATE_LANG", S(wa_template_lang), "id", 0, 0, "language code of those templates (id, en_US, ...)"},
    {"GSS_OUTBOX_POLL_MS", I(outbox_poll_ms), "1000", 20, 600000, "how often the outbox sender looks for due messages"},
    {"GSS_OUTBOX_MAX_ATTEMPTS", I(outbox_max_attempts), "10", 1, 1000,
     "tries before an outgoing message is marked failed"},
    {"GSS_OUTBOX_BACKOFF_MS", I(outbox_backoff_ms), "2000", 10, 3600000,
     "first retry delay of a message after a 5xx or network error; doubles per attempt, with jitter"},
    {"GSS_HTTP_TIMEOUT_MS", I(http_timeout_ms), "5000", 100, 600000,
     "total timeout of an outgoing HTTP request (the outbox keeps it below GSS_PG_TX_TIMEOUT_MS)"},
};

#undef S
#undef I
#undef B

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !*v) {
        *out = false;
        return 0;
    }
    return -1;
}

int config_load(struct gss_config *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        const struct cfg_entry *e = &entries[i];
        const char             *v = getenv(e->env);
        if (!v)
            v = e->dflt;
        char *field = (char *)c + e->offset;
        switch (e->type) {
        case CFG_STR: *(char **)field = xstrdup(v); break;
        case CFG_INT: {
            char *end;
            errno = 0;
            long long n = strtoll(v, &end, 10);
            if (errno || end == v || *end || n < e->min || n > e->max) {
                snprintf(err, errlen, "%s=%s: expected an integer from %lld to %lld", e->env, v, (long long)e->min,
                         (long long)e->max);
                return -1;
            }
            *(int64_t *)field = n;
            break;
        }
        case CFG_BOOL:
            if (parse_bool(v, (bool *)field) < 0) {
                snprintf(err, errlen, "%s=%s: expected 1 or 0", e->env, v);
                return -1;
            }
            break;
        }
    }
    char host[64];
    int  port;
    if (config_split_hostport(c->listen, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen, "GSS_LISTEN=%s: expected host:port", c->listen);
        return -1;
    }
    if (strncmp(c->redis_url, "redis://", 8) != 0) {
        snprintf(err, errlen, "GSS_REDIS_URL=%s: expected redis://host:port[/db]", c->redis_url);
        return -1;
    }
    if (log_level_parse(c->log_level) < 0) {
        snprintf(err, errlen, "GSS_LOG_LEVEL=%s: expected debug, info, warn or error", c->log_level);
        return -1;
    }
    size_t pl = strlen(c->redis_prefix), rl = strlen(c->region);
    if (pl == 0 || pl > 64 || strpbrk(c->redis_prefix, "{} \t\r\n") || rl == 0 || rl > 32 ||
        strpbrk(c->region, "{}: \t\r\n")) {
        snprintf(err, errlen, "GSS_REDIS_PREFIX / GSS_REGION: 1-64 / 1-32 characters, no braces or spaces");
        return -1;
    }
    const char *bases[2][2] = {{"GSS_TELEGRAM_API_BASE", c->telegram_api_base}, {"GSS_WA_API_BASE", c->wa_api_base}};
    for (int i = 0; i < 2; i++)
        if (strncmp(bases[i][1], "https://", 8) != 0 && strncmp(bases[i][1], "http://", 7) != 0) {
            snprintf(err, errlen, "%s=%s: expected an http:// or https:// URL", bases[i][0], bases[i][1]);
            return -1;
        }
    /* Meta's rules: template names are lowercase letters, digits and '_'
     * (at most 512); a language code is like "id" or "en_US". A typo here
     * would fail every template send with 132001, so it fails at start. */
    const char *tpls[2][2] = {{"GSS_WA_TEMPLATE_INVOICE", c->wa_template_invoice},
                              {"GSS_WA_TEMPLATE_FOLLOWUP", c->wa_template_followup}};
    for (int i = 0; i < 2; i++) {
        size_t tn = strlen(tpls[i][1]);
        if (tn == 0 || tn > 512 || strspn(tpls[i][1], "abcdefghijklmnopqrstuvwxyz0123456789_") != tn) {
            snprintf(err, errlen, "%s=%s: 1-512 of a-z, 0-9 and _ (a WhatsApp template name)", tpls[i][0],
                     tpls[i][1]);
            return -1;
        }
    }
    size_t ll = strlen(c->wa_template_lang);
    if (ll < 2 || ll > 15 || strspn(c->wa_template_lang, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_") != ll) {
        snprintf(err, errlen, "GSS_WA_TEMPLATE_LANG=%s: a language code such as id or en_US", c->wa_template_lang);
        return -1;
    }
    /* store/blobs.h BLOBS_DIR_MAX: room left in every stored file's path
     * for its name (a longer folder would cut names short) */
    if (strlen(c->upload_dir) > 384) {
        snprintf(err, errlen, "GSS_UPLOAD_DIR: at most 384 bytes");
        return -1;
    }
    size_t sl = strlen(c->telegram_webhook_secret);
    if (sl > 256 || strspn(c->telegram_webhook_secret,
                           "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") != sl) {
        snprintf(err, errlen, "GSS_TELEGRAM_WEBHOOK_SECRET: 1-256 characters of A-Za-z0-9_- (Telegram's rule)");
        return -1;
    }
    return 0;
}

void config_free(struct gss_config *c)
{
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
        if (entries[i].type == CFG_STR) {
            char **p = (char **)((char *)c + entries[i].offset);
            free(*p);
            *p = NULL;
        }
}

void config_print_help(FILE *out)
{
    fprintf(out, "Environment (default in brackets):\n");
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
        fprintf(out, "  %-24s %s [%s]\n", entries[i].env, entries[i].help, entries[i].dflt);
}

int config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
    const char *colon;
    const char *h = s;
    size_t      hl;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    char *end;
    long  p = strtol(colon + 1, &end, 10);
    if (*end || end == colon + 1 || p < 0 || p > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}
