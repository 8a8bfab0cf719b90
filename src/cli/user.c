#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/password.h"
#include "store/pg.h"

int cli_user_create(struct gss_config *cfg, const char *username, const char *role, const char *name, const char *phone,
                    const char *pw, size_t pwlen, char *err, size_t errlen)
{
    char hash[256];
    if (password_hash(pw, pwlen, NULL, hash, sizeof(hash)) < 0) {
        snprintf(err, errlen, "hashing failed");
        return -1;
    }
    PGconn *c = pg_connect_blocking(cfg->database_url, err, errlen);
    if (!c)
        return -1;
    const char *params[5] = {username, name, role, phone, hash};
    PGresult   *r = PQexecParams(c,
                                 "INSERT INTO users (username, name, role, phone, password_hash)"
                                   " VALUES ($1, $2, $3, $4, $5)",
                                 5, NULL, params, NULL, NULL, 0);
    int         rc = 0;
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && !strcmp(state, "23505"))
            snprintf(err, errlen, "username %s is taken", username);
        else if (state && !strcmp(state, "23514"))
            snprintf(err, errlen,
                     "invalid value (username 3-32 of a-z 0-9 _ . -; role admin|cs|ts|sales; "
                     "phone 62 and 7-13 digits)");
        else
            snprintf(err, errlen, "%s", PQresultErrorMessage(r));
        rc = -1;
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}
