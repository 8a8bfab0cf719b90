/*
 * Unit tests for core/civil: day counts, weekdays, broken-down UTC times
 * and the two timestamp parsers. Every expected number was worked out
 * apart from the code under test (by hand from the length of years and
 * months, checked against Python's datetime, and against well-known Unix
 * times such as 2024-01-01T00:00:00Z = 1704067200).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/civil.h"

struct known_day {
    int64_t y;
    int     m, d;
    int64_t days;
    int     wday; /* 0 Sunday */
};

static const struct known_day KNOWN[] = {
    {1970, 1, 1, 0, 4},         /* the epoch, a Thursday */
    {1969, 12, 31, -1, 3},      /* the day before, a Wednesday */
    {2000, 1, 1, 10957, 6},     /* 30 years of 365 days + 7 leap days; a Saturday */
    {2000, 3, 1, 11017, 3},     /* + 31 (Jan) + 29 (Feb: 2000 is a leap year, divisible by 400) */
    {2024, 1, 1, 19723, 1},     /* 1704067200 / 86400 */
    {2024, 2, 29, 19782, 4},    /* + 31 + 28: the leap day, a Thursday */
    {1900, 3, 1, -25508, 4},    /* 1900 is no leap year */
    {2100, 2, 28, 47540, 0},    /* nor is 2100 */
    {1, 1, 1, -719162, 1},      /* 0001-01-01, a Monday */
    {0, 3, 1, -719468, 3},      /* the start of the algorithm's era */
    {9999, 12, 31, 2932896, 5}, /* the last day a 4-digit year writes */
};

static void test_days_from_date(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(KNOWN) / sizeof(KNOWN[0]); i++) {
        const struct known_day *k = &KNOWN[i];
        assert_int_equal(civil_days_from_date(k->y, k->m, k->d), k->days);
    }
}

static void test_date_from_days(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(KNOWN) / sizeof(KNOWN[0]); i++) {
        const struct known_day *k = &KNOWN[i];
        int64_t                 y = -99;
        int                     m = -1, d = -1;
        civil_date_from_days(k->days, &y, &m, &d);
        assert_int_equal(y, k->y);
        assert_int_equal(m, k->m);
        assert_int_equal(d, k->d);
        assert_int_equal(civil_weekday(k->days), k->wday);
    }
    /* Every day of 1600..2400 goes there and back, one day after another. */
    int64_t prev = civil_days_from_date(1599, 12, 31);
    for (int64_t y = 1600; y <= 2400; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; civil_date_valid(y, m, d); d++) {
                int64_t days = civil_days_from_date(y, m, d), yy;
                int     mm, dd;
                assert_int_equal(days, prev + 1);
                civil_date_from_days(days, &yy, &mm, &dd);
                assert_true(yy == y && mm == m && dd == d);
                prev = days;
            }
    /* 1600-01-01 .. 2400-12-31: 801 years, 195 leap years (every 4th, less 1700..2300 but 2000) */
    assert_int_equal(prev - civil_days_from_date(1599, 12, 31), 801 * 365 + 195);
}

static void test_leap_and_valid(void **state)
{
    (void)state;
    assert_true(civil_leap_year(2000));
    assert_true(civil_leap_year(2024));
    assert_false(civil_leap_year(1900));
    assert_false(civil_leap_year(2023));
    assert_true(civil_date_valid(2024, 2, 29));
    assert_false(civil_date_valid(2023, 2, 29));
    assert_false(civil_date_valid(2100, 2, 29));
    assert_true(civil_date_valid(2026, 12, 31));
    assert_false(civil_date_valid(2026, 4, 31));
    assert_false(civil_date_valid(2026, 13, 1));
    assert_false(civil_date_valid(2026, 0, 1));
    assert_false(civil_date_valid(2026, 1, 0));
}

static void test_from_unix(void **state)
{
    (void)state;
    struct civil_tm tm;
    civil_from_unix(1709210096, &tm); /* 2024-02-29T12:34:56Z */
    assert_int_equal(tm.year, 2024);
    assert_int_equal(tm.month, 2);
    assert_int_equal(tm.day, 29);
    assert_int_equal(tm.hour, 12);
    assert_int_equal(tm.min, 34);
    assert_int_equal(tm.sec, 56);
    assert_int_equal(tm.wday, 4);
    assert_int_equal(tm.days, 19782);

    civil_from_unix(-1, &tm); /* floor, not truncation */
    assert_int_equal(tm.year, 1969);
    assert_int_equal(tm.month, 12);
    assert_int_equal(tm.day, 31);
    assert_int_equal(tm.hour, 23);
    assert_int_equal(tm.min, 59);
    assert_int_equal(tm.sec, 59);
    assert_int_equal(tm.wday, 3);
    assert_int_equal(tm.days, -1);

    civil_from_unix(-86400, &tm); /* exactly a day before: midnight, not 24:00 */
    assert_int_equal(tm.day, 31);
    assert_int_equal(tm.hour, 0);
    assert_int_equal(tm.sec, 0);

    civil_from_unix(253402300799, &tm); /* 9999-12-31T23:59:59Z */
    assert_int_equal(tm.year, 9999);
    assert_int_equal(tm.month, 12);
    assert_int_equal(tm.day, 31);
    assert_int_equal(tm.hour, 23);
    assert_int_equal(tm.wday, 5);

    /* 2026-12-01T18:30:00Z = 1796149800 is Wednesday the 2nd, 01:30, in Jakarta */
    civil_from_unix(1796149800 + CIVIL_WIB_OFFSET_S, &tm);
    assert_int_equal(tm.day, 2);
    assert_int_equal(tm.hour, 1);
    assert_int_equal(tm.min, 30);
    assert_int_equal(tm.wday, 3);
}

static int64_t utc(const char *s)
{
    int64_t t = -42;
    if (civil_parse_utc(s, strlen(s), &t) < 0) {
        assert_int_equal(t, -42); /* nothing written */
        return INT64_MIN;
    }
    return t;
}

static void test_parse_utc(void **state)
{
    (void)state;
    assert_int_equal(utc("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(utc("1969-12-31T23:59:59Z"), -1);
    assert_int_equal(utc("2024-01-01T00:00:00Z"), 1704067200);
    assert_int_equal(utc("2024-02-29T12:34:56Z"), 1709210096);
    assert_int_equal(utc("9999-12-31T23:59:59Z"), 253402300799);
    static const char *const bad[] = {
        "",
        "2024-02-29",
        "2024-02-29T12:34:56",
        "2024-02-29 12:34:56Z",
        "2024-02-29t12:34:56Z",
        "2024-02-29T12:34:56z",
        "2024-02-29T12:34:56+00:00",
        "2024-02-29T12:34:56.0Z",
        "2024-02-29T12:34:56Zx",
        "2023-02-29T00:00:00Z", /* no leap day in 2023 */
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-12-00T00:00:00Z",
        "2026-12-01T24:00:00Z",
        "2026-12-01T23:60:00Z",
        "2026-12-01T23:59:60Z", /* Unix time has no leap second */
        "2026-12-01T-1:00:00Z",
        "2026-12-01T 1:00:00Z",
        "2026-+1-01T01:00:00Z",
        "2026/12/01T01:00:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (utc(bad[i]) != INT64_MIN)
            fail_msg("accepted %s", bad[i]);
    }
    /* n is the length: the bytes after it are not read, a NUL inside is not skipped */
    int64_t t = 0;
    assert_int_equal(civil_parse_utc("2024-01-01T00:00:00Zjunk", 20, &t), 0);
    assert_int_equal(t, 1704067200);
    assert_int_equal(civil_parse_utc("2024-01-01T00:00:00Z", 19, &t), -1);
    assert_int_equal(civil_parse_utc("2024-01-01T00:00\0:00Z", 20, &t), -1);
    assert_int_equal(civil_parse_utc(NULL, 0, &t), -1);
}

static int64_t rfc(const char *s)
{
    int64_t ms = -42;
    if (civil_parse_rfc3339_ms(s, strlen(s), &ms) < 0) {
        assert_int_equal(ms, -42);
        return INT64_MIN;
    }
    return ms;
}

static void test_parse_rfc3339(void **state)
{
    (void)state;
    assert_int_equal(rfc("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(rfc("2026-12-02T02:30:00Z"), 1796178600000);
    assert_int_equal(rfc("2026-12-02T09:30:00+07:00"), 1796178600000);
    assert_int_equal(rfc("2026-12-01T21:00:00-05:30"), 1796178600000);
    assert_int_equal(rfc("2026-12-02t02:30:00z"), 1796178600000);
    assert_int_equal(rfc("2026-12-02T09:30:00.123+07:00"), 1796178600123);
    assert_int_equal(rfc("2026-12-02T02:30:00.5Z"), 1796178600500);
    assert_int_equal(rfc("2026-12-02T02:30:00.98765Z"), 1796178600987); /* dropped, not rounded */
    assert_int_equal(rfc("1970-01-01T00:30:00+01:00"), -1800000);
    assert_int_equal(rfc("2024-02-29T23:59:59-23:59"), 1709337539000);
    static const char *const bad[] = {
        "",
        "2026-12-02T02:30:00",    /* no zone */
        "2026-12-02T02:30Z",      /* no seconds */
        "2026-12-02 02:30:00Z",   /* RFC 3339 allows it, PostgreSQL too, we do not */
        "2026-12-02T02:30:00.Z",  /* a point without digits */
        "2026-12-02T02:30:00+07", /* half an offset */
        "2026-12-02T02:30:00+0700",
        "2026-12-02T02:30:00+24:00",
        "2026-12-02T02:30:00+07:60",
        "2026-12-02T02:30:00Z ",
        "2026-12-02T02:30:60Z",
        "2023-02-29T00:00:00Z",
        "2026-11-31T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (rfc(bad[i]) != INT64_MIN)
            fail_msg("accepted %s", bad[i]);
    }
    int64_t ms = 0;
    assert_int_equal(civil_parse_rfc3339_ms("2026-12-02T02:30:00.5Zjunk", 22, &ms), 0);
    assert_int_equal(ms, 1796178600500);
    assert_int_equal(civil_parse_rfc3339_ms("2026-12-02T02:30:00.5Z", 21, &ms), -1); /* the zone is cut off */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_days_from_date), cmocka_unit_test(test_date_from_days),
        cmocka_unit_test(test_leap_and_valid), cmocka_unit_test(test_from_unix),
        cmocka_unit_test(test_parse_utc),      cmocka_unit_test(test_parse_rfc3339),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
