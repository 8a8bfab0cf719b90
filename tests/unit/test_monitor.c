/*
 * Unit tests for the pure parts of pool/monitor: the date a request may
 * name (calendar days only, leap years worked out by hand), Jakarta's date
 * of a Unix time around its midnight (17:00 UTC), and a technician's
 * monitor state for every slot state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pool/monitor.h"

static void ok_date(const char *s, int y, int mo, int d)
{
    int gy = 0, gm = 0, gd = 0;
    if (monitor_parse_date(s, &gy, &gm, &gd) != 0)
        fail_msg("%s: refused", s);
    assert_int_equal(gy, y);
    assert_int_equal(gm, mo);
    assert_int_equal(gd, d);
}

static void bad_date(const char *s)
{
    int y = -7, mo = -7, d = -7;
    if (monitor_parse_date(s, &y, &mo, &d) != -1)
        fail_msg("%s: accepted", s);
    assert_int_equal(y, -7); /* untouched */
}

static void test_parse_date(void **state)
{
    (void)state;
    ok_date("2026-12-02", 2026, 12, 2);
    ok_date("2000-01-01", 2000, 1, 1);
    ok_date("2199-12-31", 2199, 12, 31);
    ok_date("2024-02-29", 2024, 2, 29); /* divisible by 4 */
    ok_date("2000-02-29", 2000, 2, 29); /* divisible by 400 */
    ok_date("2026-04-30", 2026, 4, 30);
    bad_date("2100-02-29"); /* divisible by 100, not 400 */
    bad_date("2026-02-29");
    bad_date("2026-04-31");
    bad_date("2026-13-01");
    bad_date("2026-00-10");
    bad_date("2026-01-00");
    bad_date("2026-01-32");
    bad_date("1999-12-31");
    bad_date("2200-01-01");
    bad_date("2026-1-01");
    bad_date("2026-01-1");
    bad_date("2026/01/01");
    bad_date("2026-01-01x");
    bad_date(" 2026-01-01");
    bad_date("2026-01-0a");
    bad_date("+026-01-01");
    bad_date("");
    bad_date(NULL);
}

static void test_jakarta_date(void **state)
{
    (void)state;
    char out[11];
    /* 1767200400 = 2025-12-31T17:00:00Z = 2026-01-01 00:00 WIB */
    monitor_jakarta_date(1767200400, out);
    assert_string_equal(out, "2026-01-01");
    monitor_jakarta_date(1767200399, out); /* one second earlier: 23:59:59 WIB */
    assert_string_equal(out, "2025-12-31");
    /* 1709139600 = 2024-02-28T17:00:00Z -> 29 Feb WIB */
    monitor_jakarta_date(1709139600, out);
    assert_string_equal(out, "2024-02-29");
    monitor_jakarta_date(0, out); /* 1970-01-01 07:00 WIB */
    assert_string_equal(out, "1970-01-01");
}

static void test_tech_state(void **state)
{
    (void)state;
    assert_string_equal(monitor_tech_state("claimed", false, false), "waiting");
    assert_string_equal(monitor_tech_state("late", false, false), "late");
    assert_string_equal(monitor_tech_state("no_show", false, false), "no_show");
    assert_string_equal(monitor_tech_state("checked_in", false, false), "on_time");
    assert_string_equal(monitor_tech_state("checked_in", false, true), "checked_in");
    assert_string_equal(monitor_tech_state("checked_out", false, false), "on_time");
    assert_string_equal(monitor_tech_state("checked_out", false, true), "checked_in");
    assert_string_equal(monitor_tech_state("done", false, true), "done");
    assert_string_equal(monitor_tech_state("cancelled", false, false), "cancelled");
    assert_string_equal(monitor_tech_state("replaced", false, false), "replaced");
    /* released wins over whatever state the row was left in */
    assert_string_equal(monitor_tech_state("no_show", true, false), "replaced");
    assert_string_equal(monitor_tech_state("claimed", true, false), "replaced");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_date),
        cmocka_unit_test(test_jakarta_date),
        cmocka_unit_test(test_tech_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
