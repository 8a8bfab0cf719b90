/*
 * Unit tests for http/ratelimit: token buckets with the time passed in.
 * Expected figures are worked out by hand from the rule (a bucket of
 * `burst`, refilled at per_min a minute), never read back from the code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/ratelimit.h"

static void key_n(uint8_t k[RATELIMIT_KEY_LEN], uint32_t n)
{
    char addr[32];
    snprintf(addr, sizeof(addr), "10.%u.%u.%u", (n >> 16) & 255, (n >> 8) & 255, n & 255);
    assert_true(ratelimit_key_from_text(addr, k));
}

static void test_burst_then_refill(void **state)
{
    (void)state;
    /* 60 a minute = one a second; 5 at once */
    struct ratelimit *rl = ratelimit_new(16, 60, 5, 1);
    uint8_t           k[RATELIMIT_KEY_LEN];
    key_n(k, 1);
    uint64_t t = 1000000;
    for (int i = 0; i < 5; i++)
        assert_int_equal(ratelimit_take(rl, k, 1, t), 0);
    /* empty: one token is a second away */
    assert_int_equal(ratelimit_take(rl, k, 1, t), 1);
    /* a refused request takes nothing: still one second */
    assert_int_equal(ratelimit_take(rl, k, 1, t + 1), 1);
    /* 999 ms later not yet, at 1000 ms yes, and then empty again */
    assert_int_equal(ratelimit_take(rl, k, 1, t + 999), 1);
    assert_int_equal(ratelimit_take(rl, k, 1, t + 1000), 0);
    assert_int_equal(ratelimit_take(rl, k, 1, t + 1000), 1);
    /* 2.5 s later: two and a half tokens, so two requests */
    assert_int_equal(ratelimit_take(rl, k, 1, t + 3500), 0);
    assert_int_equal(ratelimit_take(rl, k, 1, t + 3500), 0);
    assert_int_equal(ratelimit_take(rl, k, 1, t + 3500), 1);
    assert_true(ratelimit_level(rl, k, t + 3500) > 0.49 && ratelimit_level(rl, k, t + 3500) < 0.51);
    /* an hour later the bucket holds burst, not 3600 */
    assert_true(ratelimit_level(rl, k, t + 3600000) == 5.0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(ratelimit_take(rl, k, 1, t + 3600000), 0);
    assert_int_equal(ratelimit_take(rl, k, 1, t + 3600000), 1);
    ratelimit_free(rl);
}

static void test_debt_and_retry_after(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(16, 60, 5, 2);
    uint8_t           k[RATELIMIT_KEY_LEN], other[RATELIMIT_KEY_LEN];
    key_n(k, 7);
    key_n(other, 8);
    uint64_t t = 5000;
    /* a guess: 1 for the request, 10 more for matching nothing: 5 - 11 = -6 */
    assert_int_equal(ratelimit_take(rl, k, 1, t), 0);
    ratelimit_charge(rl, k, 10, t);
    assert_true(ratelimit_level(rl, k, t) == -6.0);
    /* the next request needs 1: seven tokens away at one a second */
    assert_int_equal(ratelimit_take(rl, k, 1, t), 7);
    assert_int_equal(ratelimit_take(rl, k, 1, t + 6000), 1);
    assert_int_equal(ratelimit_take(rl, k, 1, t + 7000), 0);
    /* another address is untouched */
    assert_true(ratelimit_level(rl, other, t) == 5.0);
    assert_int_equal(ratelimit_take(rl, other, 1, t), 0);
    ratelimit_free(rl);

    /* a slow rate: 6 a minute is one per 10 s; one short is 10 s, 1.5 short 15 s */
    rl = ratelimit_new(4, 6, 1, 3);
    assert_int_equal(ratelimit_take(rl, k, 1, 0), 0);
    assert_int_equal(ratelimit_take(rl, k, 1, 0), 10);
    ratelimit_charge(rl, k, 0.5, 0);
    assert_int_equal(ratelimit_take(rl, k, 1, 0), 15);
    /* a cost above burst can never be met; the wait is still finite */
    assert_true(ratelimit_take(rl, k, 3, 0) >= 30);
    ratelimit_free(rl);
}

static void test_clock_backwards(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(4, 60, 2, 4);
    uint8_t           k[RATELIMIT_KEY_LEN];
    key_n(k, 9);
    assert_int_equal(ratelimit_take(rl, k, 1, 10000), 0);
    assert_int_equal(ratelimit_take(rl, k, 1, 10000), 0);
    /* an earlier reading refills nothing and does not move the clock back */
    assert_int_equal(ratelimit_take(rl, k, 1, 2000), 1);
    assert_int_equal(ratelimit_take(rl, k, 1, 11000), 0);
    ratelimit_free(rl);
}

static void test_eviction_least_recent(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 60, 5, 5);
    uint8_t           a[RATELIMIT_KEY_LEN], b[RATELIMIT_KEY_LEN], c[RATELIMIT_KEY_LEN], d[RATELIMIT_KEY_LEN];
    key_n(a, 1);
    key_n(b, 2);
    key_n(c, 3);
    key_n(d, 4);
    /* everyone drained at t=0; then a is seen again at t=10 */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ratelimit_take(rl, a, 1, 0), 0);
        assert_int_equal(ratelimit_take(rl, b, 1, 0), 0);
        assert_int_equal(ratelimit_take(rl, c, 1, 0), 0);
    }
    assert_int_equal(ratelimit_count(rl), 3);
    assert_int_equal(ratelimit_take(rl, a, 1, 10), 1);
    /* d needs a place: b is the least recently seen (c was touched after b) */
    assert_int_equal(ratelimit_take(rl, d, 1, 20), 0);
    assert_int_equal(ratelimit_count(rl), 3);
    assert_int_equal(ratelimit_evictions(rl), 1);
    assert_true(ratelimit_level(rl, b, 20) == 5.0); /* forgotten: a new bucket is full */
    assert_true(ratelimit_level(rl, a, 20) < 1.0);  /* kept */
    assert_true(ratelimit_level(rl, c, 20) < 1.0);  /* kept */
    assert_true(ratelimit_level(rl, d, 20) == 4.0);
    /* b comes back: it evicts c now (a at 10, d at 20, c at 0) */
    assert_int_equal(ratelimit_take(rl, b, 1, 30), 0);
    assert_int_equal(ratelimit_evictions(rl), 2);
    assert_true(ratelimit_level(rl, c, 30) == 5.0);
    assert_true(ratelimit_level(rl, a, 30) < 1.0);
    ratelimit_free(rl);
}

static void test_many_addresses(void **state)
{
    (void)state;
    enum { CAP = 1000, N = 20000 };
    struct ratelimit *rl = ratelimit_new(CAP, 60, 3, 6);
    uint8_t           k[RATELIMIT_KEY_LEN];
    for (uint32_t i = 0; i < N; i++) {
        key_n(k, i);
        assert_int_equal(ratelimit_take(rl, k, 1, i), 0);
        assert_int_equal(ratelimit_take(rl, k, 1, i), 0);
    }
    assert_int_equal(ratelimit_count(rl), CAP);
    assert_int_equal(ratelimit_evictions(rl), N - CAP);
    /* the last CAP addresses are all still there, each with one token left
     * (plus what refilled since: at most N ms at one a second = 20) */
    for (uint32_t i = N - CAP; i < N; i++) {
        key_n(k, i);
        double lvl = ratelimit_level(rl, k, i);
        assert_true(lvl > 0.99 && lvl < 1.01);
    }
    /* and an early one is gone */
    key_n(k, 0);
    assert_true(ratelimit_level(rl, k, N) == 3.0);
    ratelimit_free(rl);
}

static void test_keys(void **state)
{
    (void)state;
    uint8_t              k[RATELIMIT_KEY_LEN], m[RATELIMIT_KEY_LEN];
    static const uint8_t v4[RATELIMIT_KEY_LEN] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 7};
    assert_true(ratelimit_key_from_text("203.0.113.7", k));
    assert_memory_equal(k, v4, RATELIMIT_KEY_LEN);
    /* the same address written as v4-mapped IPv6 is the same key */
    assert_true(ratelimit_key_from_text("::ffff:203.0.113.7", m));
    assert_memory_equal(k, m, RATELIMIT_KEY_LEN);
    /* IPv6 counts per /64 */
    assert_true(ratelimit_key_from_text("2001:db8:1:2:aaaa:bbbb:cccc:dddd", k));
    assert_true(ratelimit_key_from_text("2001:db8:1:2::1", m));
    assert_memory_equal(k, m, RATELIMIT_KEY_LEN);
    static const uint8_t p64[RATELIMIT_KEY_LEN] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2};
    assert_memory_equal(k, p64, RATELIMIT_KEY_LEN);
    assert_true(ratelimit_key_from_text("2001:db8:1:3::1", m));
    assert_memory_not_equal(k, m, RATELIMIT_KEY_LEN);
    assert_false(ratelimit_key_from_text("not an address", k));
    assert_false(ratelimit_key_from_text("", k));
    assert_false(ratelimit_key_from_text(NULL, k));
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(ratelimit_new(0, 60, 5, 1));
    assert_null(ratelimit_new(8, 0, 5, 1));
    assert_null(ratelimit_new(8, 60, 0, 1));
    struct ratelimit *rl = ratelimit_new(1, 60, 1, 0); /* random seed */
    assert_non_null(rl);
    uint8_t a[RATELIMIT_KEY_LEN], b[RATELIMIT_KEY_LEN];
    key_n(a, 1);
    key_n(b, 2);
    /* a table of one: each new address replaces the last */
    assert_int_equal(ratelimit_take(rl, a, 1, 0), 0);
    assert_int_equal(ratelimit_take(rl, a, 1, 0), 1);
    assert_int_equal(ratelimit_take(rl, b, 1, 0), 0);
    assert_int_equal(ratelimit_take(rl, a, 1, 0), 0);
    assert_int_equal(ratelimit_count(rl), 1);
    ratelimit_free(rl);
    ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refill), cmocka_unit_test(test_debt_and_retry_after),
        cmocka_unit_test(test_clock_backwards),   cmocka_unit_test(test_eviction_least_recent),
        cmocka_unit_test(test_many_addresses),    cmocka_unit_test(test_keys),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
