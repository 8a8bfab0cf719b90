/*
 * cli: the command-line subcommands other than serve (blocking libpq and
 * hiredis are fine here: nothing else runs in the process).
 */
#ifndef GSS_CLI_H
#define GSS_CLI_H

#include <stddef.h>

#include "core/config.h"

const char *cli_extra_usage(void);
/* Runs argv[0] if it is one of ours (sets *handled); returns the exit code. */
int cli_dispatch(struct gss_config *cfg, int argc, char **argv, int *handled);
/* gssd telegram set-webhook | webhook-info | delete-webhook (telegram.c);
 * argv[0] is "telegram". */
int cli_telegram(struct gss_config *cfg, int argc, char **argv);
int cli_user_create(struct gss_config *cfg, const char *username, const char *role, const char *name, const char *phone,
                    const char *pw, size_t pwlen, char *err, size_t errlen);

#endif
