#include "auth/session.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

struct auth_session *auth_session_new(void)
{
    struct auth_session *s = xcalloc(1, sizeof(*s));
    s->refs = 1;
    return s;
}

struct auth_session *auth_session_ref(struct auth_session *s)
{
    if (s)
        s->refs++;
    return s;
}

void auth_session_release(struct auth_session *s)
{
    if (s && --s->refs == 0) {
        /* The CSRF token is a secret of the session: do not leave it in freed memory. */
        explicit_bzero(s->csrf, sizeof(s->csrf));
        free(s);
    }
}

int64_t auth_session_user_id(const struct auth_session *s)
{
    return s ? s->user_id : 0;
}
