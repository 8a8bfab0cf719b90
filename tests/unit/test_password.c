/*
 * Unit tests for core/password: argon2id hash/verify, the encoded form,
 * needs_rehash, the length policy, and the async variants on a real libuv
 * loop and a core/workers pool (each loop must close cleanly: a leaked
 * handle fails the test).
 *
 * main() sets GSS_ARGON2_FAST=1 so nearly everything uses t=1, m=1 MiB;
 * one test hashes once with the production defaults.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "core/password.h"
#include "core/workers.h"

static const struct password_params fast = {
    .t_cost = PASSWORD_T_COST_FAST,
    .m_cost_kib = PASSWORD_M_COST_FAST,
    .parallelism = 1,
};

/* From the argon2 reference implementation's tests: "password" with salt
 * "somesalt", t=2, m=256 KiB, p=1. An independent answer for verify. */
static const char *kat = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$"
                         "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4";

static void test_params_default(void **state)
{
    (void)state;
    struct password_params p;

    password_params_default(&p);
    assert_int_equal(p.t_cost, 1);
    assert_int_equal(p.m_cost_kib, 1024);
    assert_int_equal(p.parallelism, 1);

    setenv(PASSWORD_FAST_ENV, "0", 1);
    password_params_default(&p);
    assert_int_equal(p.t_cost, 3);
    assert_int_equal(p.m_cost_kib, 65536);
    assert_int_equal(p.parallelism, 1);
    setenv(PASSWORD_FAST_ENV, "1", 1);
}

static void test_verify_kat(void **state)
{
    (void)state;
    assert_int_equal(password_verify(kat, "password", 8), 1);
    assert_int_equal(password_verify(kat, "passwore", 8), 0);
    assert_int_equal(password_verify(kat, "password", 7), 0);
    assert_int_equal(password_verify(kat, "password\0", 9), 0);
}

static void test_hash_verify(void **state)
{
    (void)state;
    char        enc[PASSWORD_ENCODED_MAX], enc2[PASSWORD_ENCODED_MAX];
    const char *pw = "correct horse battery staple";

    assert_int_equal(password_hash(pw, strlen(pw), &fast, enc, sizeof enc), 0);
    assert_int_equal(password_verify(enc, pw, strlen(pw)), 1);
    assert_int_equal(password_verify(enc, "correct horse battery stapler", 29), 0);
    assert_int_equal(password_verify(enc, pw, strlen(pw) - 1), 0);
    assert_int_equal(password_verify(enc, "", 0), 0);

    /* Fresh salt each time: same password, different strings, both verify. */
    assert_int_equal(password_hash(pw, strlen(pw), &fast, enc2, sizeof enc2), 0);
    assert_string_not_equal(enc, enc2);
    assert_int_equal(password_verify(enc2, pw, strlen(pw)), 1);

    /* Bytes after a NUL count: passwords are (pointer, length). */
    const char bin[] = {'a', '\0', 'b'};
    assert_int_equal(password_hash(bin, sizeof bin, &fast, enc, sizeof enc), 0);
    assert_int_equal(password_verify(enc, bin, sizeof bin), 1);
    assert_int_equal(password_verify(enc, "a", 1), 0);
}

static void test_params_recorded(void **state)
{
    (void)state;
    char                         enc[PASSWORD_ENCODED_MAX];
    const struct password_params p = {.t_cost = 2, .m_cost_kib = 2048, .parallelism = 2};
    const char                  *pfx = "$argon2id$v=19$m=2048,t=2,p=2$";

    assert_int_equal(password_hash("secret-pw", 9, &p, enc, sizeof enc), 0);
    assert_memory_equal(enc, pfx, strlen(pfx));
    /* 16-byte salt and 32-byte hash, unpadded base64: 22 and 43 characters. */
    const char *salt = enc + strlen(pfx);
    const char *dollar = strchr(salt, '$');
    assert_non_null(dollar);
    assert_int_equal(dollar - salt, 22);
    assert_int_equal(strlen(dollar + 1), 43);
    assert_int_equal(password_verify(enc, "secret-pw", 9), 1);

    /* NULL params means the (here fast) defaults. */
    assert_int_equal(password_hash("secret-pw", 9, NULL, enc, sizeof enc), 0);
    pfx = "$argon2id$v=19$m=1024,t=1,p=1$";
    assert_memory_equal(enc, pfx, strlen(pfx));
}

static void test_hash_errors(void **state)
{
    (void)state;
    char                   enc[PASSWORD_ENCODED_MAX];
    struct password_params p = fast;

    /* Too small a buffer. */
    assert_int_equal(password_hash("password", 8, &fast, enc, 40), -1);
    assert_string_equal(enc, "");
    /* Parameters outside the limits. */
    p.t_cost = 0;
    assert_int_equal(password_hash("password", 8, &p, enc, sizeof enc), -1);
    p = fast;
    p.m_cost_kib = 4; /* below 8 KiB per lane */
    assert_int_equal(password_hash("password", 8, &p, enc, sizeof enc), -1);
    p = fast;
    p.m_cost_kib = PASSWORD_M_COST_MAX + 1;
    assert_int_equal(password_hash("password", 8, &p, enc, sizeof enc), -1);
    p = fast;
    p.parallelism = 0;
    assert_int_equal(password_hash("password", 8, &p, enc, sizeof enc), -1);
    assert_int_equal(password_hash(NULL, 3, &fast, enc, sizeof enc), -1);
}

static void test_verify_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",
        "password",
        "$argon2id$",
        /* other argon2 types and versions */
        "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2d$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=16$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        /* field order, missing and bad numbers */
        "$argon2id$v=19$t=2,m=256,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=-256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=0256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=99999999999,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        /* costs beyond our limits: refused before argon2 allocates */
        "$argon2id$v=19$m=4194304,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=1000,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=0$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        /* salt and hash */
        "$argon2id$v=19$m=256,t=2,p=1$$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ",
        "$argon2id$v=19$m=256,t=2,p=1$c29t!XNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4$",
        "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4 ",
        /* salt too short for argon2 (4 bytes) */
        "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = password_verify(bad[i], "password", 8);
        if (rc != -1)
            fail_msg("accepted malformed #%zu: %s (rc %d)", i, bad[i], rc);
    }
    assert_int_equal(password_verify(NULL, "password", 8), -1);
    assert_int_equal(password_verify(kat, NULL, 8), -1);
}

static void test_needs_rehash(void **state)
{
    (void)state;
    char                         enc[PASSWORD_ENCODED_MAX];
    const struct password_params mid = {.t_cost = 2, .m_cost_kib = 2048, .parallelism = 1};
    struct password_params       want;

    assert_int_equal(password_hash("password", 8, &mid, enc, sizeof enc), 0);
    /* Same parameters, or weaker targets: keep. */
    assert_false(password_needs_rehash(enc, &mid));
    assert_false(password_needs_rehash(enc, &fast));
    /* Any parameter raised: rehash. */
    want = mid;
    want.t_cost = 3;
    assert_true(password_needs_rehash(enc, &want));
    want = mid;
    want.m_cost_kib = 4096;
    assert_true(password_needs_rehash(enc, &want));
    want = mid;
    want.parallelism = 2;
    assert_true(password_needs_rehash(enc, &want));
    /* Mixed: more memory but fewer passes than wanted is still weaker. */
    want = (struct password_params){.t_cost = 3, .m_cost_kib = 1024, .parallelism = 1};
    assert_true(password_needs_rehash(enc, &want));

    /* NULL means the defaults, which are fast here: t=2, m=2048 is stronger. */
    assert_false(password_needs_rehash(enc, NULL));
    setenv(PASSWORD_FAST_ENV, "0", 1);
    assert_true(password_needs_rehash(enc, NULL));
    setenv(PASSWORD_FAST_ENV, "1", 1);

    /* The reference vector has an 8-byte salt: shorter than ours. */
    assert_true(password_needs_rehash(kat, &fast));
    /* Unparseable: always replace. */
    assert_true(password_needs_rehash("garbage", &fast));
    assert_true(password_needs_rehash(NULL, &fast));
}

static void test_default_params_once(void **state)
{
    (void)state;
    char                         enc[PASSWORD_ENCODED_MAX];
    const struct password_params prod = {
        .t_cost = PASSWORD_T_COST_DEFAULT,
        .m_cost_kib = PASSWORD_M_COST_DEFAULT,
        .parallelism = PASSWORD_PARALLELISM_DEFAULT,
    };
    const char *pfx = "$argon2id$v=19$m=65536,t=3,p=1$";

    assert_int_equal(password_hash("production!", 11, &prod, enc, sizeof enc), 0);
    assert_memory_equal(enc, pfx, strlen(pfx));
    assert_int_equal(password_verify(enc, "production!", 11), 1);
    assert_false(password_needs_rehash(enc, &prod));
}

static void test_policy(void **state)
{
    (void)state;
    char buf[PASSWORD_MAX_LEN + 1];

    memset(buf, 'x', sizeof buf);
    assert_int_equal(password_policy_check(buf, 7), -1);
    assert_int_equal(password_policy_check(buf, 8), 0);
    assert_int_equal(password_policy_check(buf, 128), 0);
    assert_int_equal(password_policy_check(buf, 129), -1);
    assert_int_equal(password_policy_check(buf, 0), -1);
    assert_int_equal(password_policy_check(NULL, 10), -1);
    buf[4] = '\0';
    assert_int_equal(password_policy_check(buf, 10), -1);
}

static void test_dummy(void **state)
{
    (void)state;
    /* Works before and after the dummy hash exists; never crashes on odd
     * input. There is nothing to return: it only spends the time. */
    password_verify_dummy("whatever", 8);
    password_dummy_prepare();
    password_verify_dummy("", 0);
    password_verify_dummy(NULL, 0);
}

/* ---- async ------------------------------------------------------------- */

/* What the callbacks saw; each test owns one on its stack. */
struct seen {
    int  calls;
    int  status;
    int  result;
    char encoded[PASSWORD_ENCODED_MAX];
};

static void on_hashed(void *ud, int status, const char *encoded)
{
    struct seen *s = ud;

    s->calls++;
    s->status = status;
    if (encoded != NULL)
        snprintf(s->encoded, sizeof s->encoded, "%s", encoded);
    else
        s->encoded[0] = '\0';
}

static void on_verified(void *ud, int result)
{
    struct seen *s = ud;

    s->calls++;
    s->result = result;
}

/* A heap copy of a password that the caller wipes and frees right after
 * queueing, to prove the job keeps its own copy. */
static char *scratch_pw(const char *pw)
{
    char *c = strdup(pw);
    assert_non_null(c);
    return c;
}

static void drop_pw(char *c)
{
    memset(c, 'X', strlen(c));
    free(c);
}

/* A loop with an argon2-style pool on it; env_close() runs the loop until
 * the pool is gone and checks that the loop then closes clean. */
struct env {
    uv_loop_t      loop;
    struct workers w;
};

static void env_open(struct env *e, unsigned threads, unsigned max_queue)
{
    assert_int_equal(uv_loop_init(&e->loop), 0);
    assert_int_equal(workers_init(&e->w, &e->loop, "argon2", threads, max_queue), 0);
}

static void env_close(struct env *e)
{
    workers_close(&e->w, NULL);
    assert_int_equal(uv_run(&e->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&e->loop), 0);
}

static void test_async_hash_verify(void **state)
{
    (void)state;
    struct env  e;
    struct seen h = {0}, ok = {0}, wrong = {0}, dummy = {0}, bad = {0};
    char       *pw;

    env_open(&e, 2, 8);

    pw = scratch_pw("async password");
    assert_int_equal(password_hash_async(&e.w, pw, strlen("async password"), &fast, on_hashed, &h), 0);
    drop_pw(pw);
    assert_int_equal(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.status, 0);
    assert_int_equal(password_verify(h.encoded, "async password", 14), 1);

    pw = scratch_pw("async password");
    assert_int_equal(password_verify_async(&e.w, h.encoded, pw, 14, on_verified, &ok), 0);
    drop_pw(pw);
    assert_int_equal(password_verify_async(&e.w, h.encoded, "async passw0rd", 14, on_verified, &wrong), 0);
    assert_int_equal(password_verify_async(&e.w, NULL, "nobody's", 8, on_verified, &dummy), 0);
    assert_int_equal(password_verify_async(&e.w, "$argon2id$nope", "x", 1, on_verified, &bad), 0);
    /* Callbacks run on the loop thread, never from inside the call. */
    assert_int_equal(ok.calls + wrong.calls + dummy.calls + bad.calls, 0);
    assert_int_equal(uv_run(&e.loop, UV_RUN_DEFAULT), 0);

    assert_int_equal(ok.calls, 1);
    assert_int_equal(ok.result, 1);
    assert_int_equal(wrong.calls, 1);
    assert_int_equal(wrong.result, 0);
    assert_int_equal(dummy.calls, 1);
    assert_int_equal(dummy.result, 0);
    assert_int_equal(bad.calls, 1);
    assert_int_equal(bad.result, -1);
    assert_int_equal(workers_queued(&e.w), 0);

    env_close(&e);
}

/* Holds the pool's only thread until the test posts go. */
struct blocker {
    uv_sem_t started;
    uv_sem_t go;
    int      done_calls;
    int      status;
};

static void blocker_work(void *arg)
{
    struct blocker *b = arg;
    uv_sem_post(&b->started);
    uv_sem_wait(&b->go);
}

static void blocker_done(void *arg, int status)
{
    struct blocker *b = arg;
    b->done_calls++;
    b->status = status;
}

static void blocker_init(struct blocker *b)
{
    memset(b, 0, sizeof *b);
    assert_int_equal(uv_sem_init(&b->started, 0), 0);
    assert_int_equal(uv_sem_init(&b->go, 0), 0);
}

static void blocker_destroy(struct blocker *b)
{
    uv_sem_destroy(&b->started);
    uv_sem_destroy(&b->go);
}

static void test_async_rejects(void **state)
{
    (void)state;
    struct env             e;
    struct seen            s = {0};
    struct password_params p = fast;
    struct blocker         b;

    env_open(&e, 1, 1);
    p.m_cost_kib = 1;
    assert_int_equal(password_hash_async(&e.w, "password", 8, &p, on_hashed, &s), UV_EINVAL);
    assert_int_equal(password_hash_async(&e.w, "password", 8, &fast, NULL, &s), UV_EINVAL);
    assert_int_equal(password_hash_async(&e.w, NULL, 8, &fast, on_hashed, &s), UV_EINVAL);
    assert_int_equal(password_hash_async(NULL, "password", 8, &fast, on_hashed, &s), UV_EINVAL);
    assert_int_equal(password_verify_async(&e.w, kat, "password", 8, NULL, &s), UV_EINVAL);
    assert_int_equal(password_verify_async(NULL, kat, "password", 8, on_verified, &s), UV_EINVAL);

    /* A full pool (its one slot taken by the blocker) refuses with
     * WORKERS_EFULL, the code callers turn into 503 + Retry-After. */
    blocker_init(&b);
    assert_int_equal(workers_submit(&e.w, blocker_work, blocker_done, &b), 0);
    uv_sem_wait(&b.started);
    assert_int_equal(password_hash_async(&e.w, "password", 8, &fast, on_hashed, &s), WORKERS_EFULL);
    assert_int_equal(password_verify_async(&e.w, kat, "password", 8, on_verified, &s), WORKERS_EFULL);
    assert_int_equal(password_verify_async(&e.w, NULL, "password", 8, on_verified, &s), WORKERS_EFULL);
    uv_sem_post(&b.go);
    assert_int_equal(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(b.done_calls, 1);

    /* A closing pool refuses with UV_ECANCELED. */
    workers_close(&e.w, NULL);
    assert_int_equal(password_hash_async(&e.w, "password", 8, &fast, on_hashed, &s), UV_ECANCELED);
    assert_int_equal(password_verify_async(&e.w, kat, "password", 8, on_verified, &s), UV_ECANCELED);
    assert_int_equal(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
    /* Nothing was queued, so nothing of ours ran. */
    assert_int_equal(s.calls, 0);
    assert_int_equal(uv_loop_close(&e.loop), 0);
    blocker_destroy(&b);
}

/* Cancellation: occupy the pool's only thread with a job that waits on a
 * semaphore, queue ours behind it, close the pool, then release the
 * blocker. */
static void test_async_cancel(void **state)
{
    (void)state;
    struct env     e;
    struct blocker b;
    struct seen    h = {0}, v = {0}, d = {0};

    env_open(&e, 1, 4);
    blocker_init(&b);
    assert_int_equal(workers_submit(&e.w, blocker_work, blocker_done, &b), 0);
    uv_sem_wait(&b.started);

    assert_int_equal(password_hash_async(&e.w, "password", 8, &fast, on_hashed, &h), 0);
    assert_int_equal(password_verify_async(&e.w, kat, "password", 8, on_verified, &v), 0);
    assert_int_equal(password_verify_async(&e.w, NULL, "password", 8, on_verified, &d), 0);
    workers_close(&e.w, NULL);
    assert_int_equal(h.calls + v.calls + d.calls, 0);

    uv_sem_post(&b.go);
    assert_int_equal(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(b.done_calls, 1);
    assert_int_equal(b.status, 0);
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.status, UV_ECANCELED);
    assert_string_equal(h.encoded, "");
    assert_int_equal(v.calls, 1);
    assert_int_equal(v.result, UV_ECANCELED);
    assert_int_equal(d.calls, 1);
    assert_int_equal(d.result, UV_ECANCELED);

    assert_int_equal(uv_loop_close(&e.loop), 0);
    blocker_destroy(&b);
}

/* Many jobs at once through a one-thread pool: each callback exactly once,
 * results matched to their jobs. */
static void test_async_many(void **state)
{
    (void)state;
    enum { N = 12 };
    struct env  e;
    struct seen s[N];
    char        enc[PASSWORD_ENCODED_MAX];

    memset(s, 0, sizeof s);
    assert_int_equal(password_hash("right-password", 14, &fast, enc, sizeof enc), 0);
    env_open(&e, 1, N);
    for (int i = 0; i < N; i++) {
        const char *pw = i % 2 == 0 ? "right-password" : "wrong-password";
        assert_int_equal(password_verify_async(&e.w, enc, pw, 14, on_verified, &s[i]), 0);
    }
    assert_int_equal(uv_run(&e.loop, UV_RUN_DEFAULT), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(s[i].calls, 1);
        assert_int_equal(s[i].result, i % 2 == 0 ? 1 : 0);
    }
    env_close(&e);
}

int main(void)
{
    /* Before any hashing: cheap parameters. */
    setenv(PASSWORD_FAST_ENV, "1", 1);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_default),
        cmocka_unit_test(test_verify_kat),
        cmocka_unit_test(test_hash_verify),
        cmocka_unit_test(test_params_recorded),
        cmocka_unit_test(test_hash_errors),
        cmocka_unit_test(test_verify_malformed),
        cmocka_unit_test(test_needs_rehash),
        cmocka_unit_test(test_default_params_once),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_dummy),
        cmocka_unit_test(test_async_hash_verify),
        cmocka_unit_test(test_async_rejects),
        cmocka_unit_test(test_async_cancel),
        cmocka_unit_test(test_async_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
