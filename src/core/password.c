/*
 * password.c — see password.h for the contract.
 *
 * libargon2 does the hashing, encoding and constant-time comparison. We add
 * a strict parser for the encoded form, so that verify refuses strings
 * beyond our limits before argon2 allocates anything, and so that
 * needs_rehash can read the parameters; and the worker-pool plumbing.
 */
#include "core/password.h"

#include <stdlib.h>
#include <string.h>

#include <argon2.h>
#include <mbedtls/platform_util.h>

#include "core/crypto.h"

void password_params_default(struct password_params *out)
{
    const char *fast = getenv(PASSWORD_FAST_ENV);

    if (fast != NULL && strcmp(fast, "1") == 0) {
        out->t_cost = PASSWORD_T_COST_FAST;
        out->m_cost_kib = PASSWORD_M_COST_FAST;
    } else {
        out->t_cost = PASSWORD_T_COST_DEFAULT;
        out->m_cost_kib = PASSWORD_M_COST_DEFAULT;
    }
    out->parallelism = PASSWORD_PARALLELISM_DEFAULT;
}

int password_policy_check(const char *pw, size_t len)
{
    if (pw == NULL || len < PASSWORD_MIN_LEN || len > PASSWORD_MAX_LEN)
        return -1;
    if (memchr(pw, '\0', len) != NULL)
        return -1;
    return 0;
}

/* Within our limits and argon2's own rule of at least 8 KiB per lane. */
static bool params_ok(const struct password_params *p)
{
    if (p->t_cost < 1 || p->t_cost > PASSWORD_T_COST_MAX)
        return false;
    if (p->parallelism < 1 || p->parallelism > PASSWORD_PARALLELISM_MAX)
        return false;
    if (p->m_cost_kib < 8 * p->parallelism || p->m_cost_kib > PASSWORD_M_COST_MAX)
        return false;
    return true;
}

/* ---- parsing the encoded form ------------------------------------------ */

/* Decimal without sign or leading zeros, fitting uint32_t; advances *s. */
static int parse_u32(const char **s, uint32_t *out)
{
    const char *c = *s;
    uint64_t    v = 0;

    if (*c < '0' || *c > '9')
        return -1;
    if (*c == '0' && c[1] >= '0' && c[1] <= '9')
        return -1;
    for (; *c >= '0' && *c <= '9'; c++) {
        v = v * 10 + (uint64_t)(*c - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *out = (uint32_t)v;
    *s = c;
    return 0;
}

static int expect(const char **s, const char *lit)
{
    size_t n = strlen(lit);

    if (strncmp(*s, lit, n) != 0)
        return -1;
    *s += n;
    return 0;
}

/* A run of unpadded standard-base64 characters (argon2's alphabet) ending at
 * '$' or NUL; returns its length, 0 if empty or a foreign character ends it. */
static size_t b64_run(const char **s)
{
    const char *c = *s;

    while ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '+' || *c == '/')
        c++;
    if (*c != '$' && *c != '\0')
        return 0;
    size_t n = (size_t)(c - *s);
    *s = c;
    return n;
}

/* Parse "$argon2id$v=19$m=M,t=T,p=P$SALT$HASH". Fills params and the base64
 * lengths of salt and hash. Returns 0, or -1 for anything else (other argon2
 * types, other versions, trailing bytes). */
static int parse_encoded(const char *enc, struct password_params *params, size_t *salt_b64, size_t *hash_b64)
{
    const char *s = enc;

    if (enc == NULL)
        return -1;
    if (expect(&s, "$argon2id$v=19$m=") != 0 || parse_u32(&s, &params->m_cost_kib) != 0)
        return -1;
    if (expect(&s, ",t=") != 0 || parse_u32(&s, &params->t_cost) != 0)
        return -1;
    if (expect(&s, ",p=") != 0 || parse_u32(&s, &params->parallelism) != 0)
        return -1;
    if (expect(&s, "$") != 0 || (*salt_b64 = b64_run(&s)) == 0)
        return -1;
    if (expect(&s, "$") != 0 || (*hash_b64 = b64_run(&s)) == 0)
        return -1;
    return *s == '\0' ? 0 : -1;
}

/* ---- hashing and verifying --------------------------------------------- */

/* password_hash with a libuv-style result, so the async path can say why. */
static int hash_impl(const char *pw, size_t len, const struct password_params *p, char *out, size_t cap)
{
    uint8_t salt[PASSWORD_SALT_LEN];
    int     rc;

    if (cap > 0)
        out[0] = '\0';
    if ((pw == NULL && len > 0) || !params_ok(p) || len > UINT32_MAX)
        return UV_EINVAL;
    if (crypto_random(salt, sizeof salt) != 0)
        return UV_EIO;
    rc = argon2id_hash_encoded(p->t_cost, p->m_cost_kib, p->parallelism, pw, len, salt, sizeof salt, PASSWORD_HASH_LEN,
                               out, cap);
    if (rc != ARGON2_OK) {
        if (cap > 0)
            out[0] = '\0';
        return rc == ARGON2_MEMORY_ALLOCATION_ERROR ? UV_ENOMEM : UV_EINVAL;
    }
    return 0;
}

int password_hash(const char *pw, size_t len, const struct password_params *p, char *out, size_t cap)
{
    struct password_params def;

    if (p == NULL) {
        password_params_default(&def);
        p = &def;
    }
    return hash_impl(pw, len, p, out, cap) == 0 ? 0 : -1;
}

int password_verify(const char *encoded, const char *pw, size_t len)
{
    struct password_params got;
    size_t                 salt_b64, hash_b64;

    if (pw == NULL && len > 0)
        return -1;
    /* Check before argon2 sees it: its decoder would accept, and then try to
     * honour, any cost written in the string. */
    if (parse_encoded(encoded, &got, &salt_b64, &hash_b64) != 0 || !params_ok(&got))
        return -1;
    switch (argon2id_verify(encoded, pw, len)) {
    case ARGON2_OK: return 1;
    case ARGON2_VERIFY_MISMATCH: return 0;
    default: return -1;
    }
}

bool password_needs_rehash(const char *encoded, const struct password_params *p)
{
    struct password_params got, def;
    size_t                 salt_b64, hash_b64;

    if (p == NULL) {
        password_params_default(&def);
        p = &def;
    }
    if (parse_encoded(encoded, &got, &salt_b64, &hash_b64) != 0)
        return true;
    if (got.m_cost_kib < p->m_cost_kib || got.t_cost < p->t_cost || got.parallelism < p->parallelism)
        return true;
    return salt_b64 < CRYPTO_B64URL_ENCODED_LEN(PASSWORD_SALT_LEN) ||
           hash_b64 < CRYPTO_B64URL_ENCODED_LEN(PASSWORD_HASH_LEN);
}

/* ---- dummy verify ------------------------------------------------------ */

/* Made once per process by dummy_init() under uv_once, read-only after, so
 * any number of pool threads may verify against it at once. */
static uv_once_t dummy_once = UV_ONCE_INIT;
static char      dummy_encoded[PASSWORD_ENCODED_MAX];
static bool      dummy_ready;

static void dummy_init(void)
{
    uint8_t secret[32];

    /* A random password nobody knows: the dummy hash must never match. */
    if (crypto_random(secret, sizeof secret) == 0 &&
        password_hash((const char *)secret, sizeof secret, NULL, dummy_encoded, sizeof dummy_encoded) == 0)
        dummy_ready = true;
    mbedtls_platform_zeroize(secret, sizeof secret);
}

void password_dummy_prepare(void)
{
    uv_once(&dummy_once, dummy_init);
}

void password_verify_dummy(const char *pw, size_t len)
{
    password_dummy_prepare();
    if (dummy_ready) {
        (void)password_verify(dummy_encoded, pw, len);
    } else {
        /* No dummy hash (no memory or randomness at first use): a hash with
         * the same parameters costs about as much as a verify. */
        char scratch[PASSWORD_ENCODED_MAX];
        (void)password_hash(pw, len, NULL, scratch, sizeof scratch);
    }
}

/* ---- worker-pool jobs -------------------------------------------------- */

enum password_job_kind {
    PASSWORD_JOB_HASH,
    PASSWORD_JOB_VERIFY,
    PASSWORD_JOB_DUMMY,
};

/* One queued hash or verify. Heap-allocated by the *_async function, freed
 * by on_done once the callback has returned. Owns everything it points to,
 * so callers may free their inputs as soon as they have queued. */
struct password_job {
    enum password_job_kind kind;
    char                  *pw;      /* owned copy of the password (never NUL-terminated); wiped before it is freed */
    size_t                 pw_len;  /* bytes in pw */
    char                  *encoded; /* VERIFY: owned copy of the stored hash; else NULL */
    struct password_params params;  /* HASH: the costs to use */
    char                   encoded_out[PASSWORD_ENCODED_MAX]; /* HASH: the result */
    int                    result;                            /* set by on_work: hash status or verify result */
    password_hash_cb       hash_cb;
    password_verify_cb     verify_cb;
    void                  *ud;
};

static void job_free(struct password_job *job)
{
    if (job->pw != NULL) {
        mbedtls_platform_zeroize(job->pw, job->pw_len);
        free(job->pw);
    }
    free(job->encoded);
    free(job);
}

/* Runs on a pool thread: touches only the job. */
static void on_work(void *arg)
{
    struct password_job *job = arg;

    switch (job->kind) {
    case PASSWORD_JOB_HASH:
        job->result = hash_impl(job->pw, job->pw_len, &job->params, job->encoded_out, sizeof job->encoded_out);
        break;
    case PASSWORD_JOB_VERIFY: job->result = password_verify(job->encoded, job->pw, job->pw_len); break;
    case PASSWORD_JOB_DUMMY:
        password_verify_dummy(job->pw, job->pw_len);
        job->result = 0;
        break;
    }
    /* The password is no longer needed; do not keep it until the loop gets
     * round to the done callback. */
    mbedtls_platform_zeroize(job->pw, job->pw_len);
}

/* Runs on the loop thread exactly once per queued job, cancelled or not. */
static void on_done(void *arg, int status)
{
    struct password_job *job = arg;

    if (job->kind == PASSWORD_JOB_HASH) {
        if (status == UV_ECANCELED)
            job->hash_cb(job->ud, UV_ECANCELED, NULL);
        else
            job->hash_cb(job->ud, job->result, job->result == 0 ? job->encoded_out : NULL);
    } else {
        job->verify_cb(job->ud, status == UV_ECANCELED ? UV_ECANCELED : job->result);
    }
    job_free(job);
}

/* Allocate a job with a copy of the password. NULL on no memory. */
static struct password_job *job_new(enum password_job_kind kind, const char *pw, size_t len)
{
    struct password_job *job = calloc(1, sizeof *job);

    if (job == NULL)
        return NULL;
    job->kind = kind;
    job->pw = malloc(len > 0 ? len : 1);
    if (job->pw == NULL) {
        free(job);
        return NULL;
    }
    if (len > 0)
        memcpy(job->pw, pw, len);
    job->pw_len = len;
    return job;
}

/* Hand job to the pool, or free it and say why not (WORKERS_EFULL,
 * UV_ECANCELED, ...): the caller's callback then never runs. */
static int job_queue(struct workers *w, struct password_job *job)
{
    int rc = workers_submit(w, on_work, on_done, job);

    if (rc != 0)
        job_free(job);
    return rc;
}

int password_hash_async(struct workers *w, const char *pw, size_t len, const struct password_params *p,
                        password_hash_cb cb, void *ud)
{
    struct password_params params;
    struct password_job   *job;

    if (p == NULL)
        password_params_default(&params);
    else
        params = *p;
    if (w == NULL || cb == NULL || (pw == NULL && len > 0) || !params_ok(&params))
        return UV_EINVAL;
    if ((job = job_new(PASSWORD_JOB_HASH, pw, len)) == NULL)
        return UV_ENOMEM;
    job->params = params;
    job->hash_cb = cb;
    job->ud = ud;
    return job_queue(w, job);
}

int password_verify_async(struct workers *w, const char *encoded, const char *pw, size_t len, password_verify_cb cb,
                          void *ud)
{
    struct password_job *job;

    if (w == NULL || cb == NULL || (pw == NULL && len > 0))
        return UV_EINVAL;
    job = job_new(encoded != NULL ? PASSWORD_JOB_VERIFY : PASSWORD_JOB_DUMMY, pw, len);
    if (job == NULL)
        return UV_ENOMEM;
    if (encoded != NULL && (job->encoded = strdup(encoded)) == NULL) {
        job_free(job);
        return UV_ENOMEM;
    }
    job->verify_cb = cb;
    job->ud = ud;
    return job_queue(w, job);
}
