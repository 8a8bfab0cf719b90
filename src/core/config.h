/*
 * config: every setting gssd has, read from GSS_* environment variables.
 *
 * One table (config.c) names each variable, its default, its range and its
 * help line; `gssd --help` prints that same table, so the documentation can
 * not drift from the code. config_load() fills a struct gss_config whose
 * strings are owned by it (config_free releases them).
 */
#ifndef GSS_CONFIG_H
#define GSS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct gss_config {
    char   *listen;       /* host:port */
    char   *database_url; /* libpq URL or conninfo */
    char   *redis_url;    /* redis://host:port[/db] */
    char   *redis_prefix; /* namespace for every Redis key and channel */
    char   *region;       /* pool region (the Redis hash tag) */
    char   *public_url;   /* base URL the outside world uses */
    char   *web_dir;      /* static files */
    char   *upload_dir;   /* uploaded files */
    int64_t max_conns;
    int64_t header_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t body_max; /* bytes */
    int64_t shutdown_timeout_ms;
    int64_t pg_pool_size;
    int64_t pg_statement_timeout_ms;
    int64_t pg_tx_timeout_ms; /* a transaction's deadline from BEGIN */
    char   *log_level;
    bool    log_requests;
    bool    ws_echo;
    bool    debug_routes;
    int64_t tech_max_active;
    int64_t session_ttl_s;
    int64_t session_cache_ms;
    bool    cookie_secure;
    int64_t workers;
    int64_t ws_max_message;
    int64_t ws_max_queued;
    int64_t login_max_failures;
    int64_t login_window_s;
    bool    argon2_fast; /* read by password.c from the environment; listed for --help */
    /* field work (docs/fieldwork.md) */
    int64_t geofence_m;        /* default check-in radius, metres */
    int64_t late_grace_s;      /* check-in after scheduled + this is late */
    int64_t offline_max_s;     /* oldest fix accepted (sent later from the phone's queue) */
    int64_t noshow_after_s;       /* no check-in by scheduled + this: no_show (docs/monitor.md) */
    int64_t monitor_scan_ms;      /* the monitor's scan interval */
    int64_t auto_replace_after_s; /* a no_show this long is replaced by gssd; 0: off */
    int64_t upload_photo_max;  /* bytes */
    int64_t upload_bast_max;   /* bytes */
    int64_t upload_deadline_ms; /* a body must arrive within this from its first byte */
    int64_t letter_valid_h;    /* a Surat Tugas is valid until scheduled + this */
    int64_t argon2_threads, argon2_queue;
    int64_t render_threads, render_queue;
    char   *company_name, *company_address, *company_phone; /* the letterhead */
    char   *font_path, *font_bold_path; /* TrueType fonts embedded in PDFs */
    /* money (docs/money.md) */
    int64_t tax_rate_bp;        /* tax on the discounted amount, basis points (1100 = 11%) */
    int64_t invoice_due_days;   /* due date = first send + this */
    int64_t public_link_ttl_s;  /* invoice and rating links expire after this */
    char   *link_key;           /* hex, >= 32 bytes: derives the public tokens (empty: a key per process) */
    char   *pay_bank;           /* payment instructions on the invoice page and PDF */
    char   *pay_qris_image;     /* path of a static QRIS PNG, or empty */
    int64_t public_rate_per_min; /* public requests per address per minute */
    int64_t public_rate_burst;   /* and the burst above that */
    /* Telegram and WhatsApp (DESIGN.md §6, docs/operations.md "Outgoing messages") */
    char   *telegram_token;          /* empty: the telegram channel is off */
    char   *telegram_api_base;       /* http(s)://host[:port][/path], no trailing slash needed */
    char   *telegram_bot_username;   /* for t.me deep links */
    char   *telegram_ts_chat;        /* the technicians' group chat id */
    char   *telegram_webhook_secret; /* X-Telegram-Bot-Api-Secret-Token; empty or 1-256 of A-Za-z0-9_- */
    char   *telegram_miniapp;        /* Direct Link Mini App short name; empty: plain URL buttons */
    bool    telegram_job_dm;         /* job broadcasts also go to each linked technician's private chat */
    int64_t telegram_auth_max_age_s; /* Mini App login: oldest auth_date accepted (docs/telegram.md) */
    char   *wa_token;                /* empty: the whatsapp channel is off */
    char   *wa_api_base;             /* includes the Graph API version */
    char   *wa_phone_number_id;      /* the sender number; empty: the whatsapp channel is off */
    char   *wa_app_secret;           /* X-Hub-Signature-256 key */
    char   *wa_verify_token;         /* the webhook handshake's hub.verify_token */
    char   *wa_template_invoice;     /* the links' template outside the 24-hour window (docs/whatsapp.md) */
    char   *wa_template_followup;    /* CS's template from the inbox outside the window */
    char   *wa_template_lang;        /* both templates' language code */
    int64_t outbox_poll_ms;          /* how often the sender looks for due rows */
    int64_t outbox_max_attempts;     /* tries before a row is failed */
    int64_t outbox_backoff_ms;       /* first retry delay; doubles per attempt */
    int64_t http_timeout_ms;         /* an outgoing request's total timeout */
};

/* Returns 0, or -1 after writing what is wrong to err. */
int  config_load(struct gss_config *c, char *err, size_t errlen);
void config_free(struct gss_config *c);
void config_print_help(FILE *out);

/* Splits "host:port" (host may be [v6]); 0 or -1. host must hold 64 bytes. */
int config_split_hostport(const char *s, char *host, size_t hostlen, int *port);

#endif
