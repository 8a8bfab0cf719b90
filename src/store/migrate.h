/*
 * migrate: applies db/migrations/NNNN_name.sql (embedded in the binary) in
 * order. Each is applied once, in its own transaction, and recorded in
 * schema_migrations. A session-level advisory lock makes concurrent starters
 * (several workers, several hosts) wait for each other instead of racing.
 * Blocking libpq: it runs before the loop serves anything.
 */
#ifndef GSS_STORE_MIGRATE_H
#define GSS_STORE_MIGRATE_H

#include <libpq-fe.h>
#include <stddef.h>

/* Returns the number applied (>= 0), or -1 with err filled. */
int migrate_run(PGconn *c, char *err, size_t errlen);

#endif
