/*
 * Unit tests for core/config: defaults, every variable reaching its field,
 * integer ranges, booleans, GSS_LISTEN (including [v6]:port), the Redis URL,
 * prefix and region rules, --help listing every variable, and
 * config_split_hostport on its own.
 *
 * Every test starts from an environment without any GSS_* variable, so the
 * environment ctest runs in cannot change the outcome.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/config.h"

extern char **environ;

/* Unsets every GSS_* variable. Names are copied first: unsetenv edits
 * environ under our feet. */
static int clear_env(void **state)
{
    (void)state;
    for (;;) {
        char name[256] = "";
        for (char **e = environ; *e; e++) {
            const char *eq = strchr(*e, '=');
            if (strncmp(*e, "GSS_", 4) == 0 && eq && (size_t)(eq - *e) < sizeof(name)) {
                memcpy(name, *e, (size_t)(eq - *e));
                name[eq - *e] = '\0';
                break;
            }
        }
        if (!name[0])
            return 0;
        unsetenv(name);
    }
}

/* Loads with one variable set; returns config_load's result and leaves the
 * config loaded (the caller frees it) and the error text in err. */
static int load_with(struct gss_config *c, const char *env, const char *val, char *err, size_t errlen)
{
    clear_env(NULL);
    if (env)
        setenv(env, val, 1);
    err[0] = '\0';
    int rc = config_load(c, err, errlen);
    if (env)
        unsetenv(env);
    return rc;
}

static void expect_ok(const char *env, const char *val)
{
    struct gss_config c;
    char              err[256];
    int               rc = load_with(&c, env, val, err, sizeof(err));
    if (rc != 0)
        print_message("%s=%s refused: %s\n", env, val, err);
    assert_int_equal(rc, 0);
    config_free(&c);
}

/* Refused, and the error names the variable (and the value when given). */
static void expect_bad(const char *env, const char *val, const char *err_has)
{
    struct gss_config c;
    char              err[256];
    int               rc = load_with(&c, env, val, err, sizeof(err));
    if (rc == 0)
        print_message("%s=%s accepted\n", env, val);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, err_has));
    config_free(&c); /* frees the strings loaded before the failure */
}

/* ---- defaults and the table --------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    struct gss_config c;
    char              err[256] = "";

    assert_int_equal(config_load(&c, err, sizeof(err)), 0);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.database_url, "postgresql://gss@127.0.0.1:5440/gss");
    assert_string_equal(c.redis_url, "redis://127.0.0.1:6390/0");
    assert_string_equal(c.redis_prefix, "gss");
    assert_string_equal(c.region, "default");
    assert_string_equal(c.public_url, "http://127.0.0.1:8080");
    assert_string_equal(c.web_dir, "./web");
    assert_string_equal(c.upload_dir, "./var/uploads");
    assert_int_equal(c.max_conns, 10000);
    assert_int_equal(c.header_timeout_ms, 10000);
    assert_int_equal(c.idle_timeout_ms, 60000);
    assert_int_equal(c.body_max, 1048576);
    assert_int_equal(c.shutdown_timeout_ms, 10000);
    assert_int_equal(c.pg_pool_size, 4);
    assert_string_equal(c.log_level, "info");
    assert_true(c.log_requests);
    assert_false(c.ws_echo);
    assert_false(c.debug_routes);
    assert_int_equal(c.tech_max_active, 3);
    assert_int_equal(c.session_ttl_s, 43200);
    assert_int_equal(c.session_cache_ms, 5000);
    assert_false(c.cookie_secure);
    assert_int_equal(c.workers, 1);
    assert_int_equal(c.ws_max_message, 65536);
    assert_int_equal(c.ws_max_queued, 1048576);
    assert_int_equal(c.login_max_failures, 5);
    assert_int_equal(c.login_window_s, 300);
    assert_false(c.argon2_fast);

    config_free(&c);
    assert_null(c.listen);
    assert_null(c.region);
    assert_null(c.upload_dir);
    config_free(&c); /* twice is harmless */
}

enum kind { K_STR, K_INT, K_BOOL };

/* Every variable with a valid non-default value and the field it must land
 * in: a table entry pointing at the wrong field, or a missing one, fails. */
static const struct {
    const char *env;
    const char *val;
    enum kind   kind;
    size_t      off;
    int64_t     want; /* K_INT, K_BOOL */
    const char *dflt; /* as --help shows it */
} vars[] = {
#define VS(e, v, f, d)                                                                                                 \
    {                                                                                                                  \
        e, v, K_STR, offsetof(struct gss_config, f), 0, d                                                              \
    }
#define VI(e, v, f, w, d)                                                                                              \
    {                                                                                                                  \
        e, v, K_INT, offsetof(struct gss_config, f), w, d                                                              \
    }
#define VB(e, v, f, w, d)                                                                                              \
    {                                                                                                                  \
        e, v, K_BOOL, offsetof(struct gss_config, f), w, d                                                             \
    }
    VS("GSS_LISTEN", "[::1]:9", listen, "127.0.0.1:8080"),
    VS("GSS_DATABASE_URL", "host=/tmp dbname=x", database_url, "postgresql://gss@127.0.0.1:5440/gss"),
    VS("GSS_REDIS_URL", "redis://10.0.0.1:7000/3", redis_url, "redis://127.0.0.1:6390/0"),
    VS("GSS_REDIS_PREFIX", "gss:test", redis_prefix, "gss"),
    VS("GSS_REGION", "eu-west", region, "default"),
    VS("GSS_PUBLIC_URL", "https://gss.example", public_url, "http://127.0.0.1:8080"),
    VS("GSS_WEB_DIR", "/srv/web", web_dir, "./web"),
    VS("GSS_UPLOAD_DIR", "/srv/up", upload_dir, "./var/uploads"),
    VI("GSS_MAX_CONNS", "17", max_conns, 17, "10000"),
    VI("GSS_HEADER_TIMEOUT_MS", "1234", header_timeout_ms, 1234, "10000"),
    VI("GSS_IDLE_TIMEOUT_MS", "2345", idle_timeout_ms, 2345, "60000"),
    VI("GSS_BODY_MAX", "0", body_max, 0, "1048576"),
    VI("GSS_SHUTDOWN_TIMEOUT_MS", "3456", shutdown_timeout_ms, 3456, "10000"),
    VI("GSS_PG_POOL_SIZE", "7", pg_pool_size, 7, "4"),
    VI("GSS_PG_STATEMENT_TIMEOUT_MS", "2500", pg_statement_timeout_ms, 2500, "15000"),
    VI("GSS_PG_TX_TIMEOUT_MS", "3000", pg_tx_timeout_ms, 3000, "10000"),
    VS("GSS_LOG_LEVEL", "debug", log_level, "info"),
    VB("GSS_LOG_REQUESTS", "0", log_requests, 0, "1"),
    VB("GSS_WS_ECHO", "1", ws_echo, 1, "0"),
    VB("GSS_DEBUG_ROUTES", "1", debug_routes, 1, "0"),
    VI("GSS_TECH_MAX_ACTIVE", "9", tech_max_active, 9, "3"),
    VI("GSS_SESSION_TTL_S", "600", session_ttl_s, 600, "43200"),
    VI("GSS_SESSION_CACHE_MS", "0", session_cache_ms, 0, "5000"),
    VB("GSS_COOKIE_SECURE", "1", cookie_secure, 1, "0"),
    VI("GSS_WORKERS", "8", workers, 8, "1"),
    VI("GSS_WS_MAX_MESSAGE", "125", ws_max_message, 125, "65536"),
    VI("GSS_WS_MAX_QUEUED", "4294967296", ws_max_queued, INT64_C(4294967296), "1048576"),
    VI("GSS_LOGIN_MAX_FAILURES", "1000", login_max_failures, 1000, "5"),
    VB("GSS_ARGON2_FAST", "1", argon2_fast, 1, "0"),
    VI("GSS_LOGIN_WINDOW_S", "86400", login_window_s, 86400, "300"),
    VI("GSS_GEOFENCE_M", "150", geofence_m, 150, "200"),
    VI("GSS_LATE_GRACE_S", "60", late_grace_s, 60, "900"),
    VI("GSS_OFFLINE_MAX_S", "3600", offline_max_s, 3600, "21600"),
    VI("GSS_NOSHOW_AFTER_S", "7200", noshow_after_s, 7200, "3600"),
    VI("GSS_MONITOR_SCAN_MS", "500", monitor_scan_ms, 500, "5000"),
    VI("GSS_AUTO_REPLACE_AFTER_S", "600", auto_replace_after_s, 600, "0"),
    VI("GSS_UPLOAD_PHOTO_MAX", "2048", upload_photo_max, 2048, "10485760"),
    VI("GSS_UPLOAD_BAST_MAX", "4096", upload_bast_max, 4096, "20971520"),
    VI("GSS_BODY_DEADLINE_MS", "5000", upload_deadline_ms, 5000, "300000"),
    VI("GSS_LETTER_VALID_H", "48", letter_valid_h, 48, "24"),
    VI("GSS_ARGON2_THREADS", "3", argon2_threads, 3, "2"),
    VI("GSS_ARGON2_QUEUE", "5", argon2_queue, 5, "64"),
    VI("GSS_RENDER_THREADS", "4", render_threads, 4, "0"),
    VI("GSS_RENDER_QUEUE", "6", render_queue, 6, "64"),
    VS("GSS_COMPANY_NAME", "PT Contoh", company_name, "PT Gemilang Servis Sejahtera"),
    VS("GSS_COMPANY_ADDRESS", "Jl. Contoh 1", company_address, "Jl. Jend. Sudirman No. 1, Jakarta Pusat 10220"),
    VS("GSS_COMPANY_PHONE", "+62 21 1", company_phone, "+62 21 555 0100"),
    VS("GSS_FONT_PATH", "/f/a.ttf", font_path, "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"),
    VS("GSS_FONT_BOLD_PATH", "/f/b.ttf", font_bold_path, "/usr/share/fonts/truetype/liberation2/LiberationSans-Bold.ttf"),
    VI("GSS_TAX_RATE_BP", "1100", tax_rate_bp, 1100, "0"),
    VI("GSS_INVOICE_DUE_DAYS", "14", invoice_due_days, 14, "7"),
    VI("GSS_PUBLIC_LINK_TTL_S", "3600", public_link_ttl_s, 3600, "2592000"),
    VS("GSS_LINK_KEY", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", link_key, ""),
    VS("GSS_PAY_BANK", "Transfer ke X", pay_bank, "Transfer ke BCA 123-456-7890 a.n. PT Gemilang Servis Sejahtera"),
    VS("GSS_PAY_QRIS_IMAGE", "/srv/qris.png", pay_qris_image, ""),
    VI("GSS_PUBLIC_RATE_PER_MIN", "600", public_rate_per_min, 600, "60"),
    VI("GSS_PUBLIC_RATE_BURST", "5", public_rate_burst, 5, "30"),
    VS("GSS_TELEGRAM_TOKEN", "123:abc", telegram_token, ""),
    VS("GSS_TELEGRAM_API_BASE", "http://127.0.0.1:9", telegram_api_base, "https://api.telegram.org"),
    VS("GSS_TELEGRAM_BOT_USERNAME", "gss_bot", telegram_bot_username, ""),
    VS("GSS_TELEGRAM_TS_CHAT", "-1001234", telegram_ts_chat, ""),
    VS("GSS_TELEGRAM_WEBHOOK_SECRET", "s3cret_-X", telegram_webhook_secret, ""),
    VS("GSS_TELEGRAM_MINIAPP", "claim", telegram_miniapp, ""),
    VB("GSS_TELEGRAM_JOB_DM", "1", telegram_job_dm, 1, "0"),
    VI("GSS_TELEGRAM_AUTH_MAX_AGE_S", "60", telegram_auth_max_age_s, 60, "300"),
    VS("GSS_WA_TOKEN", "EAAB", wa_token, ""),
    VS("GSS_WA_API_BASE", "https://graph.example/v99.0", wa_api_base, "https://graph.facebook.com/v21.0"),
    VS("GSS_WA_PHONE_NUMBER_ID", "1098", wa_phone_number_id, ""),
    VS("GSS_WA_APP_SECRET", "appsecret", wa_app_secret, ""),
    VS("GSS_WA_VERIFY_TOKEN", "verify", wa_verify_token, ""),
    VS("GSS_WA_TEMPLATE_INVOICE", "tagihan_v2", wa_template_invoice, "gss_invoice"),
    VS("GSS_WA_TEMPLATE_FOLLOWUP", "tindak_lanjut", wa_template_followup, "cs_followup"),
    VS("GSS_WA_TEMPLATE_LANG", "en_US", wa_template_lang, "id"),
    VI("GSS_OUTBOX_POLL_MS", "250", outbox_poll_ms, 250, "1000"),
    VI("GSS_OUTBOX_MAX_ATTEMPTS", "3", outbox_max_attempts, 3, "10"),
    VI("GSS_OUTBOX_BACKOFF_MS", "500", outbox_backoff_ms, 500, "2000"),
    VI("GSS_HTTP_TIMEOUT_MS", "1500", http_timeout_ms, 1500, "5000"),
#undef VS
#undef VI
#undef VB
};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

static void test_each_variable_reaches_its_field(void **state)
{
    (void)state;
    for (size_t i = 0; i < NVARS; i++) {
        struct gss_config c, d;
        char              err[256];
        assert_int_equal(load_with(&d, NULL, NULL, err, sizeof(err)), 0);
        if (load_with(&c, vars[i].env, vars[i].val, err, sizeof(err)) != 0)
            fail_msg("%s=%s: %s", vars[i].env, vars[i].val, err);
        const char *f = (const char *)&c + vars[i].off;
        switch (vars[i].kind) {
        case K_STR: assert_string_equal(*(char *const *)f, vars[i].val); break;
        case K_INT: assert_int_equal(*(const int64_t *)f, vars[i].want); break;
        case K_BOOL: assert_int_equal(*(const bool *)f, vars[i].want != 0); break;
        }
        /* ... and nowhere else: apart from that field, c equals the defaults. */
        for (size_t j = 0; j < NVARS; j++) {
            if (j == i)
                continue;
            const char *a = (const char *)&c + vars[j].off, *b = (const char *)&d + vars[j].off;
            switch (vars[j].kind) {
            case K_STR: assert_string_equal(*(char *const *)a, *(char *const *)b); break;
            case K_INT: assert_int_equal(*(const int64_t *)a, *(const int64_t *)b); break;
            case K_BOOL: assert_int_equal(*(const bool *)a, *(const bool *)b); break;
            }
        }
        config_free(&c);
        config_free(&d);
    }
}

static void test_help_lists_every_variable(void **state)
{
    (void)state;
    char  *text = NULL;
    size_t len = 0;
    FILE  *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_print_help(f);
    fclose(f);

    for (size_t i = 0; i < NVARS; i++) {
        char want[160];
        /* The line starts with the name and ends with the default. */
        snprintf(want, sizeof(want), "\n  %s ", vars[i].env);
        const char *line = strstr(text, want);
        if (!line)
            fail_msg("--help does not list %s", vars[i].env);
        const char *eol = strchr(line + 1, '\n');
        assert_non_null(eol);
        snprintf(want, sizeof(want), "[%s]", vars[i].dflt);
        size_t wl = strlen(want);
        assert_true((size_t)(eol - line) > wl);
        assert_memory_equal(eol - wl, want, wl);
        /* A help sentence between name and default. */
        assert_true((size_t)(eol - line) > 2 + strlen(vars[i].env) + wl + 8);
    }
    /* No variable in --help that this test (and so config_load's checks
     * above) does not know about. */
    size_t lines = 0;
    for (const char *p = text; (p = strstr(p, "\n  GSS_")) != NULL; p++)
        lines++;
    assert_int_equal(lines, NVARS);
    free(text);
}

/* ---- integers ----------------------------------------------------------- */

static void test_int_ranges(void **state)
{
    (void)state;
    /* Ends of the range are accepted, one past them refused. */
    expect_ok("GSS_PG_POOL_SIZE", "1");
    expect_ok("GSS_PG_POOL_SIZE", "64");
    expect_bad("GSS_PG_POOL_SIZE", "0", "GSS_PG_POOL_SIZE=0: expected an integer from 1 to 64");
    expect_bad("GSS_PG_POOL_SIZE", "65", "GSS_PG_POOL_SIZE=65: expected an integer from 1 to 64");
    expect_ok("GSS_MAX_CONNS", "1000000");
    expect_bad("GSS_MAX_CONNS", "1000001", "GSS_MAX_CONNS=1000001");
    expect_bad("GSS_MAX_CONNS", "-5", "GSS_MAX_CONNS=-5");
    expect_ok("GSS_HEADER_TIMEOUT_MS", "10");
    expect_bad("GSS_HEADER_TIMEOUT_MS", "9", "GSS_HEADER_TIMEOUT_MS");
    expect_ok("GSS_BODY_MAX", "1099511627776");
    expect_bad("GSS_BODY_MAX", "1099511627777", "GSS_BODY_MAX");
    expect_bad("GSS_BODY_MAX", "-1", "GSS_BODY_MAX");
    expect_ok("GSS_WS_MAX_MESSAGE", "16777216");
    expect_bad("GSS_WS_MAX_MESSAGE", "124", "GSS_WS_MAX_MESSAGE");
    expect_bad("GSS_WS_MAX_QUEUED", "1023", "GSS_WS_MAX_QUEUED");
    expect_bad("GSS_WS_MAX_QUEUED", "4294967297", "GSS_WS_MAX_QUEUED");
    expect_bad("GSS_SESSION_TTL_S", "59", "GSS_SESSION_TTL_S");
    expect_bad("GSS_WORKERS", "257", "GSS_WORKERS");
    expect_bad("GSS_LOGIN_WINDOW_S", "0", "GSS_LOGIN_WINDOW_S");
    expect_ok("GSS_AUTO_REPLACE_AFTER_S", "0");
    expect_bad("GSS_MONITOR_SCAN_MS", "99", "GSS_MONITOR_SCAN_MS=99: expected an integer from 100 to 3600000");
    expect_bad("GSS_NOSHOW_AFTER_S", "0", "GSS_NOSHOW_AFTER_S");
    expect_bad("GSS_AUTO_REPLACE_AFTER_S", "-1", "GSS_AUTO_REPLACE_AFTER_S");

    /* Not an integer at all. */
    expect_bad("GSS_MAX_CONNS", "", "GSS_MAX_CONNS");
    /* Where 0 is in range, "" or a bare sign must still not read as 0. */
    expect_bad("GSS_BODY_MAX", "", "GSS_BODY_MAX");
    expect_bad("GSS_SESSION_CACHE_MS", "-", "GSS_SESSION_CACHE_MS");
    expect_bad("GSS_SHUTDOWN_TIMEOUT_MS", "+", "GSS_SHUTDOWN_TIMEOUT_MS");
    expect_bad("GSS_MAX_CONNS", "abc", "GSS_MAX_CONNS=abc");
    expect_bad("GSS_MAX_CONNS", "12x", "GSS_MAX_CONNS=12x");
    expect_bad("GSS_MAX_CONNS", "12 ", "GSS_MAX_CONNS");
    expect_bad("GSS_MAX_CONNS", "1e3", "GSS_MAX_CONNS");
    expect_bad("GSS_MAX_CONNS", "0x10", "GSS_MAX_CONNS");
    expect_bad("GSS_MAX_CONNS", "1.5", "GSS_MAX_CONNS");
    /* Out of int64 range: strtoll's ERANGE, not a clamp to the maximum. */
    expect_bad("GSS_BODY_MAX", "99999999999999999999", "GSS_BODY_MAX");
    expect_bad("GSS_BODY_MAX", "-99999999999999999999", "GSS_BODY_MAX");
}

/* ---- booleans ----------------------------------------------------------- */

static void test_bools(void **state)
{
    (void)state;
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off", ""};
    struct gss_config        c;
    char                     err[256];

    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(load_with(&c, "GSS_WS_ECHO", yes[i], err, sizeof(err)), 0);
        assert_true(c.ws_echo);
        config_free(&c);
    }
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(load_with(&c, "GSS_LOG_REQUESTS", no[i], err, sizeof(err)), 0);
        assert_false(c.log_requests);
        config_free(&c);
    }
    expect_bad("GSS_WS_ECHO", "2", "GSS_WS_ECHO=2: expected 1 or 0");
    expect_bad("GSS_COOKIE_SECURE", "TRUE", "GSS_COOKIE_SECURE=TRUE");
    expect_bad("GSS_COOKIE_SECURE", "y", "GSS_COOKIE_SECURE");
    expect_bad("GSS_DEBUG_ROUTES", " 1", "GSS_DEBUG_ROUTES");
    expect_bad("GSS_ARGON2_FAST", "1 ", "GSS_ARGON2_FAST");
}

/* ---- GSS_LISTEN and config_split_hostport -------------------------------- */

static void test_listen(void **state)
{
    (void)state;
    expect_ok("GSS_LISTEN", "0.0.0.0:80");
    expect_ok("GSS_LISTEN", "localhost:0");
    expect_ok("GSS_LISTEN", "[::1]:8080");
    expect_ok("GSS_LISTEN", "[::]:65535");
    expect_bad("GSS_LISTEN", "localhost", "GSS_LISTEN=localhost: expected host:port");
    expect_bad("GSS_LISTEN", ":8080", "GSS_LISTEN=:8080");
    expect_bad("GSS_LISTEN", "host:", "GSS_LISTEN");
    expect_bad("GSS_LISTEN", "host:65536", "GSS_LISTEN");
    expect_bad("GSS_LISTEN", "host:-1", "GSS_LISTEN");
    expect_bad("GSS_LISTEN", "host:80x", "GSS_LISTEN");
    expect_bad("GSS_LISTEN", "[::1]8080", "GSS_LISTEN");
    expect_bad("GSS_LISTEN", "[::1]", "GSS_LISTEN");
    expect_bad("GSS_LISTEN", "[::1:8080", "GSS_LISTEN");
    expect_bad("GSS_LISTEN", "[]:8080", "GSS_LISTEN");
    expect_bad("GSS_LISTEN", "", "GSS_LISTEN");
}

static void test_split_hostport(void **state)
{
    (void)state;
    char host[64];
    int  port = -7;

    assert_int_equal(config_split_hostport("127.0.0.1:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);

    assert_int_equal(config_split_hostport("[::1]:443", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 443);

    assert_int_equal(config_split_hostport("[fe80::1%eth0]:0", host, sizeof(host), &port), 0);
    assert_string_equal(host, "fe80::1%eth0");
    assert_int_equal(port, 0);

    assert_int_equal(config_split_hostport("example.com:65535", host, sizeof(host), &port), 0);
    assert_string_equal(host, "example.com");
    assert_int_equal(port, 65535);

    /* Failures leave host and port alone. */
    strcpy(host, "untouched");
    port = -7;
    static const char *const bad[] = {"",     "nohost", ":1",     "h:",     "h:65536", "h:99999999999999999999",
                                      "h:1a", "[::1]",  "[::1]:", "[::1]1", "[::1",    "[]:1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (config_split_hostport(bad[i], host, sizeof(host), &port) != -1)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_string_equal(host, "untouched");
        assert_int_equal(port, -7);
    }

    /* hostlen bounds the host, NUL included. */
    char name[80];
    memset(name, 'a', 63);
    strcpy(name + 63, ":1");
    assert_int_equal(config_split_hostport(name, host, sizeof(host), &port), 0);
    assert_int_equal(strlen(host), 63);
    memset(name, 'a', 64);
    strcpy(name + 64, ":1");
    assert_int_equal(config_split_hostport(name, host, sizeof(host), &port), -1);
    char small[4] = {'x', 'x', 'x', 'x'};
    assert_int_equal(config_split_hostport("abcd:1", small, sizeof(small), &port), -1);
    assert_int_equal(config_split_hostport("abc:1", small, sizeof(small), &port), 0);
    assert_string_equal(small, "abc");
}

/* ---- Redis URL, log level, prefix and region ------------------------------ */

static void test_redis_url_and_log_level(void **state)
{
    (void)state;
    expect_ok("GSS_REDIS_URL", "redis://localhost:6379");
    expect_bad("GSS_REDIS_URL", "http://localhost:6379", "GSS_REDIS_URL=http://localhost:6379");
    expect_bad("GSS_REDIS_URL", "localhost:6379", "GSS_REDIS_URL");
    expect_bad("GSS_REDIS_URL", "", "GSS_REDIS_URL");
    expect_bad("GSS_REDIS_URL", "rediss://h:1", "GSS_REDIS_URL");

    expect_ok("GSS_LOG_LEVEL", "debug");
    expect_ok("GSS_LOG_LEVEL", "warn");
    expect_ok("GSS_LOG_LEVEL", "error");
    expect_bad("GSS_LOG_LEVEL", "verbose", "GSS_LOG_LEVEL=verbose");
    expect_bad("GSS_LOG_LEVEL", "INFO", "GSS_LOG_LEVEL");
    expect_bad("GSS_LOG_LEVEL", "", "GSS_LOG_LEVEL");
}

static void test_prefix_and_region(void **state)
{
    (void)state;
    char s[80];

    memset(s, 'p', 64);
    s[64] = '\0';
    expect_ok("GSS_REDIS_PREFIX", s);
    s[64] = 'p';
    s[65] = '\0';
    expect_bad("GSS_REDIS_PREFIX", s, "GSS_REDIS_PREFIX");
    expect_bad("GSS_REDIS_PREFIX", "", "GSS_REDIS_PREFIX");
    expect_ok("GSS_REDIS_PREFIX", "a:b");
    /* Braces would change the cluster hash tag; whitespace breaks keys. */
    static const char *const bad_prefix[] = {"a{b", "a}b", "a b", "a\tb", "a\nb", "a\rb"};
    for (size_t i = 0; i < sizeof(bad_prefix) / sizeof(bad_prefix[0]); i++)
        expect_bad("GSS_REDIS_PREFIX", bad_prefix[i], "GSS_REDIS_PREFIX");

    memset(s, 'r', 32);
    s[32] = '\0';
    expect_ok("GSS_REGION", s);
    s[32] = 'r';
    s[33] = '\0';
    expect_bad("GSS_REGION", s, "GSS_REGION");
    expect_bad("GSS_REGION", "", "GSS_REGION");
    expect_ok("GSS_REGION", "eu-west_1.a");
    /* The region is a hash tag and a key segment: no colon either. */
    static const char *const bad_region[] = {"eu:1", "e{u", "e}u", "e u", "e\tu", "e\nu", "e\ru"};
    for (size_t i = 0; i < sizeof(bad_region) / sizeof(bad_region[0]); i++)
        expect_bad("GSS_REGION", bad_region[i], "GSS_REGION");
}

/* A short error buffer is cut, not overrun. */
/* ---- Telegram, WhatsApp and the outbox ------------------------------------ */

static void test_integrations(void **state)
{
    (void)state;
    struct gss_config c;
    char              err[256];
    assert_int_equal(load_with(&c, NULL, NULL, err, sizeof(err)), 0);
    /* Off by default: no token, and gssd starts anyway. */
    assert_string_equal(c.telegram_token, "");
    assert_string_equal(c.wa_token, "");
    assert_false(c.telegram_job_dm); /* job broadcasts go to the group only */
    assert_string_equal(c.telegram_api_base, "https://api.telegram.org");
    assert_string_equal(c.wa_api_base, "https://graph.facebook.com/v21.0");
    assert_int_equal(c.outbox_poll_ms, 1000);
    assert_int_equal(c.outbox_max_attempts, 10);
    assert_int_equal(c.http_timeout_ms, 5000);
    config_free(&c);

    expect_ok("GSS_TELEGRAM_API_BASE", "http://127.0.0.1:8081");
    expect_bad("GSS_TELEGRAM_API_BASE", "api.telegram.org", "GSS_TELEGRAM_API_BASE=api.telegram.org: expected an http");
    expect_bad("GSS_TELEGRAM_API_BASE", "ftp://x", "GSS_TELEGRAM_API_BASE");
    expect_bad("GSS_WA_API_BASE", "", "GSS_WA_API_BASE");
    expect_bad("GSS_WA_TEMPLATE_INVOICE", "", "GSS_WA_TEMPLATE_INVOICE");
    expect_bad("GSS_WA_TEMPLATE_INVOICE", "Tagihan", "GSS_WA_TEMPLATE_INVOICE");
    expect_bad("GSS_WA_TEMPLATE_FOLLOWUP", "cs follow", "GSS_WA_TEMPLATE_FOLLOWUP");
    expect_ok("GSS_WA_TEMPLATE_FOLLOWUP", "cs_followup_2");
    expect_bad("GSS_WA_TEMPLATE_LANG", "x", "GSS_WA_TEMPLATE_LANG");
    expect_bad("GSS_WA_TEMPLATE_LANG", "id-ID", "GSS_WA_TEMPLATE_LANG");
    expect_ok("GSS_WA_TEMPLATE_LANG", "pt_BR");
    expect_ok("GSS_TELEGRAM_WEBHOOK_SECRET", "");
    expect_ok("GSS_TELEGRAM_WEBHOOK_SECRET", "Az09_-");
    expect_bad("GSS_TELEGRAM_WEBHOOK_SECRET", "has space", "GSS_TELEGRAM_WEBHOOK_SECRET");
    expect_bad("GSS_TELEGRAM_WEBHOOK_SECRET", "a/b", "GSS_TELEGRAM_WEBHOOK_SECRET");
    char long_secret[300];
    memset(long_secret, 'a', 257);
    long_secret[257] = '\0';
    expect_bad("GSS_TELEGRAM_WEBHOOK_SECRET", long_secret, "GSS_TELEGRAM_WEBHOOK_SECRET");
    long_secret[256] = '\0';
    expect_ok("GSS_TELEGRAM_WEBHOOK_SECRET", long_secret);
    expect_bad("GSS_OUTBOX_POLL_MS", "19", "GSS_OUTBOX_POLL_MS=19: expected an integer from 20 to 600000");
    expect_bad("GSS_OUTBOX_MAX_ATTEMPTS", "0", "GSS_OUTBOX_MAX_ATTEMPTS");
    expect_ok("GSS_OUTBOX_MAX_ATTEMPTS", "1");
    expect_bad("GSS_HTTP_TIMEOUT_MS", "99", "GSS_HTTP_TIMEOUT_MS");
    expect_bad("GSS_OUTBOX_BACKOFF_MS", "9", "GSS_OUTBOX_BACKOFF_MS");
    /* the upload folder leaves room for stored file names: 384 bytes */
    char dir[400];
    memset(dir, 'd', 385);
    dir[0] = '/';
    dir[385] = '\0';
    expect_bad("GSS_UPLOAD_DIR", dir, "GSS_UPLOAD_DIR");
    dir[384] = '\0';
    expect_ok("GSS_UPLOAD_DIR", dir);
}

static void test_error_buffer_bounded(void **state)
{
    (void)state;
    struct gss_config c;
    char              err[16];
    memset(err, '#', sizeof(err));
    clear_env(NULL);
    setenv("GSS_MAX_CONNS", "nope", 1);
    assert_int_equal(config_load(&c, err, 8), -1);
    unsetenv("GSS_MAX_CONNS");
    assert_string_equal(err, "GSS_MAX");
    for (size_t i = 8; i < sizeof(err); i++)
        assert_int_equal(err[i], '#');
    config_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, clear_env),
        cmocka_unit_test_setup(test_each_variable_reaches_its_field, clear_env),
        cmocka_unit_test(test_help_lists_every_variable),
        cmocka_unit_test_setup(test_int_ranges, clear_env),
        cmocka_unit_test_setup(test_bools, clear_env),
        cmocka_unit_test_setup(test_listen, clear_env),
        cmocka_unit_test(test_split_hostport),
        cmocka_unit_test_setup(test_redis_url_and_log_level, clear_env),
        cmocka_unit_test_setup(test_prefix_and_region, clear_env),
        cmocka_unit_test_setup(test_integrations, clear_env),
        cmocka_unit_test_setup(test_error_buffer_bounded, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
