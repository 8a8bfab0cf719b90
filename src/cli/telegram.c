/*
 * gssd telegram set-webhook | webhook-info | delete-webhook: the bot's
 * webhook, registered from the configuration (docs/operations.md
 * "Outgoing messages" and "Registering the bot").
 *
 * set-webhook calls setWebhook with url = GSS_PUBLIC_URL/hooks/telegram (or
 * --url), secret_token = GSS_TELEGRAM_WEBHOOK_SECRET (Telegram then sends
 * it in X-Telegram-Bot-Api-Secret-Token with every update, and gssd
 * refuses updates without it), allowed_updates message and callback_query.
 * Telegram only delivers to https on ports 443, 80, 88 or 8443: anything
 * else is refused here before asking. Blocking libcurl (nothing else runs
 * in the process), TLS verified as everywhere. The token is never printed.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yyjson.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/jw.h"

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct buf *b = ud;
    if (b->len + size * n > (1u << 20))
        return 0;
    buf_append(b, p, size * n);
    return size * n;
}

/* POST {base}/bot<token>/<method> with a JSON body; prints what Telegram
 * said. 0 when ok is true, 1 otherwise. */
static int call(const struct gss_config *cfg, const char *method, const char *json, struct buf *answer)
{
    struct buf  url = {0};
    const char *base = cfg->telegram_api_base;
    size_t      bl = strlen(base);
    while (bl && base[bl - 1] == '/')
        bl--;
    buf_printf(&url, "%.*s/bot%s/%s", (int)bl, base, cfg->telegram_token, method);
    buf_putc(&url, '\0');
    CURL *e = curl_easy_init();
    if (!e) {
        buf_free(&url);
        fprintf(stderr, "gssd telegram: libcurl could not start\n");
        return 1;
    }
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char               errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(e, CURLOPT_URL, url.data);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)cfg->http_timeout_ms);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, json);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, answer);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    CURLcode rc = curl_easy_perform(e);
    long     status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    buf_free(&url);
    buf_putc(answer, '\0');
    answer->len--;
    if (rc != CURLE_OK) {
        fprintf(stderr, "gssd telegram %s: %s\n", method, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        return 1;
    }
    yyjson_doc *doc = yyjson_read(answer->data, answer->len, 0);
    yyjson_val *root = doc ? yyjson_doc_get_root(doc) : NULL;
    bool        ok = yyjson_is_true(yyjson_obj_get(root, "ok"));
    const char *desc = yyjson_get_str(yyjson_obj_get(root, "description"));
    if (!ok)
        fprintf(stderr, "gssd telegram %s: HTTP %ld: %s\n", method, status, desc ? desc : answer->data);
    yyjson_doc_free(doc);
    return ok ? 0 : 1;
}

/* https://host[:port]/... with a port Telegram delivers to. */
static bool webhook_url_ok(const char *u)
{
    if (strncmp(u, "https://", 8) != 0)
        return false;
    const char *host = u + 8, *end = host + strcspn(host, "/?#");
    const char *after = host; /* where a ":port" may start */
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (!close)
            return false;
        after = close + 1;
    }
    const char *colon = memchr(after, ':', (size_t)(end - after));
    if (!colon)
        return end > host;
    char *pe;
    long  port = strtol(colon + 1, &pe, 10);
    return pe == end && (port == 443 || port == 80 || port == 88 || port == 8443);
}

static void usage(void)
{
    fprintf(stderr, "usage: gssd telegram set-webhook [--url URL] [--drop-pending]\n"
                    "       gssd telegram webhook-info\n"
                    "       gssd telegram delete-webhook\n");
}

int cli_telegram(struct gss_config *cfg, int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    if (!cfg->telegram_token[0]) {
        fprintf(stderr, "gssd telegram: GSS_TELEGRAM_TOKEN is not set\n");
        return 2;
    }
    const char *cmd = argv[1];
    struct buf  body = {0}, answer = {0};
    int         rc;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!strcmp(cmd, "set-webhook")) {
        const char *url_opt = NULL;
        bool        drop = false;
        for (int i = 2; i < argc; i++) {
            if (!strcmp(argv[i], "--url") && i + 1 < argc)
                url_opt = argv[++i];
            else if (!strcmp(argv[i], "--drop-pending"))
                drop = true;
            else {
                usage();
                rc = 2;
                goto out;
            }
        }
        if (!cfg->telegram_webhook_secret[0]) {
            fprintf(stderr, "gssd telegram set-webhook: set GSS_TELEGRAM_WEBHOOK_SECRET first (1-256 of A-Za-z0-9_-); "
                            "gssd refuses updates that do not carry it\n");
            rc = 2;
            goto out;
        }
        struct buf url = {0};
        if (url_opt)
            buf_puts(&url, url_opt);
        else {
            const char *pu = cfg->public_url;
            size_t      pl = strlen(pu);
            while (pl && pu[pl - 1] == '/')
                pl--;
            buf_printf(&url, "%.*s/hooks/telegram", (int)pl, pu);
        }
        buf_putc(&url, '\0');
        if (!webhook_url_ok(url.data)) {
            fprintf(stderr,
                    "gssd telegram set-webhook: %s: Telegram delivers only to https on port 443, 80, 88 or 8443 "
                    "(set GSS_PUBLIC_URL or --url)\n",
                    url.data);
            buf_free(&url);
            rc = 2;
            goto out;
        }
        jw_obj(&body);
        jw_key_str(&body, "url", url.data);
        jw_key_str(&body, "secret_token", cfg->telegram_webhook_secret);
        jw_key(&body, "allowed_updates");
        jw_arr(&body);
        jw_str(&body, "message");
        jw_str(&body, "callback_query");
        jw_end_arr(&body);
        jw_key_bool(&body, "drop_pending_updates", drop);
        jw_end_obj(&body);
        buf_putc(&body, '\0');
        rc = call(cfg, "setWebhook", body.data, &answer);
        if (rc == 0)
            printf("webhook set: %s (updates: message, callback_query; secret from GSS_TELEGRAM_WEBHOOK_SECRET)\n",
                   url.data);
        buf_free(&url);
    } else if (!strcmp(cmd, "webhook-info")) {
        rc = call(cfg, "getWebhookInfo", "{}", &answer);
        if (rc == 0)
            printf("%s\n", answer.data);
    } else if (!strcmp(cmd, "delete-webhook")) {
        rc = call(cfg, "deleteWebhook", "{}", &answer);
        if (rc == 0)
            printf("webhook deleted\n");
    } else {
        usage();
        rc = 2;
    }
out:
    buf_free(&body);
    buf_free(&answer);
    curl_global_cleanup();
    return rc;
}
