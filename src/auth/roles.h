/*
 * roles: who a session is, as one bit, so that "who may call this" is a
 * mask test (route->roles & session->role).
 *
 * Each session has exactly one ROLE_* bit; a route or a broadcast names the
 * set it admits as an OR of them (ROLE_ANY: every signed-in user). The
 * names are what the users table's role column and the API carry.
 * Pure functions, no state.
 */
#ifndef GSS_AUTH_ROLES_H
#define GSS_AUTH_ROLES_H

#define ROLE_ADMIN 0x1u
#define ROLE_CS    0x2u
#define ROLE_TS    0x4u
#define ROLE_SALES 0x8u
#define ROLE_ANY   0xfu

/* "admin", "cs", "ts", "sales" for one ROLE_* bit; "" otherwise. */
const char *auth_role_name(unsigned role);
/* The ROLE_* bit of a role name; 0 if it is not one. */
unsigned auth_role_parse(const char *s);

#endif
