/*
 * gssd: the GSS dispatch server.
 *
 *   gssd serve [--workers N]   run the HTTP/WebSocket server
 *   gssd migrate               apply database migrations
 *   gssd user add USERNAME --role ROLE --name NAME   (password on stdin)
 *   gssd --help | --version
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app/app.h"
#include "cli/cli.h"
#include "core/log.h"
#include "core/password.h"
#include "store/migrate.h"
#include "store/pg.h"

#define GSS_VERSION "0.1.0"

static void usage(FILE *out)
{
    fprintf(out,
            "gssd %s: field-service dispatch server\n\n"
            "Usage:\n"
            "  gssd serve [--workers N]     serve HTTP and WebSocket (applies migrations first)\n"
            "  gssd migrate                 apply database migrations and exit\n"
            "  gssd user add USERNAME --role admin|cs|ts|sales --name NAME [--phone 62...]\n"
            "                               create an account; the password is read from stdin\n"
            "%s"
            "  gssd --help | --version\n\n",
            GSS_VERSION, cli_extra_usage());
    config_print_help(out);
}

static int load(struct gss_config *cfg)
{
    char err[256];
    if (config_load(cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "gssd: %s\n", err);
        return -1;
    }
    log_set_level((enum log_level)log_level_parse(cfg->log_level));
    return 0;
}

static int cmd_migrate(struct gss_config *cfg)
{
    char    err[512];
    PGconn *c = pg_connect_blocking(cfg->database_url, err, sizeof(err));
    if (!c) {
        log_error("migrate", "cannot connect: %s", err);
        return 1;
    }
    int n = migrate_run(c, err, sizeof(err));
    PQfinish(c);
    if (n < 0) {
        log_error("migrate", "%s", err);
        return 1;
    }
    log_info("migrate", "%d migration(s) applied", n);
    return 0;
}

/* --workers N: N processes share the port through SO_REUSEPORT; the parent
 * only forwards signals and reaps. Each child is a complete gssd. */
static volatile sig_atomic_t forward_sig;
static void                  on_parent_signal(int s)
{
    forward_sig = s;
}

static int serve_workers(struct gss_app *app)
{
    int    n = (int)app->cfg.workers;
    pid_t *pids = calloc((size_t)n, sizeof(pid_t));
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            n = i;
            break;
        }
        if (pid == 0) {
            free(pids);
            app->svc.worker_id = i;
            int rc = app_serve(app);
            config_free(&app->cfg);
            _exit(rc);
        }
        pids[i] = pid;
    }
    struct sigaction sa = {0};
    sa.sa_handler = on_parent_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int alive = n, worst = 0;
    while (alive > 0) {
        int   st;
        pid_t p = waitpid(-1, &st, 0);
        if (p < 0) {
            if (errno == EINTR) {
                if (forward_sig)
                    for (int i = 0; i < n; i++)
                        if (pids[i] > 0)
                            kill(pids[i], forward_sig);
                forward_sig = 0;
                continue;
            }
            break;
        }
        for (int i = 0; i < n; i++)
            if (pids[i] == p)
                pids[i] = -1;
        alive--;
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (code > worst)
            worst = code;
        if (code != 0 && !forward_sig) {
            /* a worker died on its own: take the others down too, so a supervisor restarts us whole */
            for (int i = 0; i < n; i++)
                if (pids[i] > 0)
                    kill(pids[i], SIGTERM);
        }
    }
    free(pids);
    return worst;
}

static int cmd_serve(struct gss_config *cfg, int argc, char **argv)
{
    struct gss_app app;
    memset(&app, 0, sizeof(app));
    app.cfg = *cfg;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--workers") && i + 1 < argc) {
            app.cfg.workers = atoi(argv[++i]);
            if (app.cfg.workers < 1 || app.cfg.workers > 256) {
                fprintf(stderr, "gssd: --workers takes 1..256\n");
                return 2;
            }
        } else {
            fprintf(stderr, "gssd serve: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    /* Schema first: a server never runs against a schema older than its code. */
    if (cmd_migrate(&app.cfg) != 0)
        log_warn("start", "migrations not applied (database unreachable?); serving anyway");
    password_dummy_prepare();
    int rc = app.cfg.workers > 1 ? serve_workers(&app) : app_serve(&app);
    *cfg = app.cfg;
    return rc;
}

static int read_password(char *pw, size_t cap, size_t *len)
{
    if (!fgets(pw, (int)cap, stdin))
        return -1;
    size_t n = strlen(pw);
    while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
        pw[--n] = '\0';
    *len = n;
    return 0;
}

static int cmd_user_add(struct gss_config *cfg, int argc, char **argv)
{
    const char *username = NULL, *role = NULL, *name = NULL, *phone = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--role") && i + 1 < argc)
            role = argv[++i];
        else if (!strcmp(argv[i], "--name") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "--phone") && i + 1 < argc)
            phone = argv[++i];
        else if (argv[i][0] != '-' && !username)
            username = argv[i];
        else {
            fprintf(stderr, "gssd user add: unexpected %s\n", argv[i]);
            return 2;
        }
    }
    if (!username || !role || !name) {
        fprintf(stderr, "usage: gssd user add USERNAME --role admin|cs|ts|sales --name NAME (password on stdin)\n");
        return 2;
    }
    char   pw[256];
    size_t pwlen;
    if (read_password(pw, sizeof(pw), &pwlen) < 0 || password_policy_check(pw, pwlen) < 0) {
        fprintf(stderr, "gssd user add: the password (one line on stdin) must be 8 to 128 bytes\n");
        return 2;
    }
    char err[512];
    int  rc = cli_user_create(cfg, username, role, name, phone, pw, pwlen, err, sizeof(err));
    explicit_bzero(pw, sizeof(pw));
    if (rc != 0) {
        fprintf(stderr, "gssd user add: %s\n", err);
        return 1;
    }
    printf("user %s created\n", username);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("gssd %s\n", GSS_VERSION);
        return 0;
    }
    struct gss_config cfg;
    int               rc;
    if (!strcmp(argv[1], "serve")) {
        if (load(&cfg) < 0)
            return 2;
        rc = cmd_serve(&cfg, argc - 2, argv + 2);
    } else if (!strcmp(argv[1], "migrate")) {
        if (load(&cfg) < 0)
            return 2;
        rc = cmd_migrate(&cfg);
    } else if (!strcmp(argv[1], "user") && argc >= 3 && !strcmp(argv[2], "add")) {
        if (load(&cfg) < 0)
            return 2;
        rc = cmd_user_add(&cfg, argc - 3, argv + 3);
    } else {
        int handled = 0;
        if (load(&cfg) < 0)
            return 2;
        rc = cli_dispatch(&cfg, argc - 1, argv + 1, &handled);
        if (!handled) {
            fprintf(stderr, "gssd: unknown command '%s'\n\n", argv[1]);
            usage(stderr);
            rc = 2;
        }
    }
    config_free(&cfg);
    return rc;
}
