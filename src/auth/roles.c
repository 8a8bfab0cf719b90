#include "auth/roles.h"

#include <string.h>

const char *auth_role_name(unsigned role)
{
    switch (role) {
    case ROLE_ADMIN: return "admin";
    case ROLE_CS: return "cs";
    case ROLE_TS: return "ts";
    case ROLE_SALES: return "sales";
    default: return "";
    }
}

unsigned auth_role_parse(const char *s)
{
    if (!strcmp(s, "admin"))
        return ROLE_ADMIN;
    if (!strcmp(s, "cs"))
        return ROLE_CS;
    if (!strcmp(s, "ts"))
        return ROLE_TS;
    if (!strcmp(s, "sales"))
        return ROLE_SALES;
    return 0;
}
