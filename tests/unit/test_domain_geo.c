/*
 * Unit tests for domain/geo: haversine against distances worked out
 * independently (3-D chord method and long hand, see each case), the
 * geofence rule at and around its edges, each evidence flag on crafted
 * fixes (both sides of every threshold), the flags' JSON and words,
 * lateness and input validation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/jw.h"
#include "domain/geo.h"

static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol))
        fail_msg("got %.6f, want %.6f +- %g", got, want, tol);
}

/* ---- haversine ------------------------------------------------------------ */

static void test_haversine_known(void **state)
{
    (void)state;
    /* Monas to Bundaran HI. Long hand: dlat 0.019583 deg x 111 195 m = 2177.5 m
     * south; dlng 0.004107 deg x cos(6.185 deg) x 111 195 m = 454.0 m west;
     * sqrt(2177.5^2 + 454.0^2) = 2224.4 m. The 3-D chord method
     * (2R asin(|u1 - u2| / 2) on unit vectors) gives 2224.3617 m. */
    assert_near(geo_haversine_m(-6.175392, 106.827153, -6.194975, 106.823046), 2224.3617, 0.5);
    /* Symmetric. */
    assert_near(geo_haversine_m(-6.194975, 106.823046, -6.175392, 106.827153), 2224.3617, 0.5);

    /* Monas to Gedung Sate, Bandung (chord method: 119 097.84 m; "about 120 km"). */
    assert_near(geo_haversine_m(-6.175392, 106.827153, -6.902477, 107.618782), 119097.84, 1.0);

    /* One degree on a great circle is 2 pi R / 360 = 111 195.0802 m, along
     * the equator and across the antimeridian alike. */
    assert_near(geo_haversine_m(0, 0, 0, 1), 111195.0802, 0.01);
    assert_near(geo_haversine_m(0, 179.5, 0, -179.5), 111195.0802, 0.01);
    assert_near(geo_haversine_m(-6.5, 106.8, -5.5, 106.8), 111195.0802, 0.01);

    /* Equator to pole: pi R / 2; antipodes: pi R (a clamped near 1). */
    assert_near(geo_haversine_m(0, 0, 90, 0), 10007557.2210, 0.01);
    assert_near(geo_haversine_m(0, 0, 0, 180), 20015114.4420, 0.01);
    assert_near(geo_haversine_m(-6.2, 106.8, 6.2, -73.2), 20015114.4420, 0.01);

    assert_true(geo_haversine_m(-6.2, 106.8, -6.2, 106.8) == 0.0);

    /* 10 km due north: a latitude step of 10 000 / R radians. */
    assert_near(geo_haversine_m(-6.2, 106.8, -6.2 + 0.0899320363724538, 106.8), 10000.0, 0.001);
}

/* ---- geofence ------------------------------------------------------------- */

static void test_fence(void **state)
{
    (void)state;
    static const struct {
        double         d, a, r;
        enum geo_fence want;
    } cases[] = {
        {50, 20, 100, GEO_INSIDE},
        {100, 100, 100, GEO_INSIDE}, /* both at the edge: still inside */
        {0, 0, 100, GEO_INSIDE},
        {100, 0, 100, GEO_INSIDE},
        {99, 90, 100, GEO_INSIDE},       /* the circle pokes out, but the rule is lenient there */
        {50, 150, 100, GEO_UNCERTAIN},   /* accuracy worse than the fence */
        {100.01, 5, 100, GEO_UNCERTAIN}, /* just out, circle straddles */
        {150, 50, 100, GEO_UNCERTAIN},   /* nearest point exactly on the edge */
        {150.5, 50, 100, GEO_OUTSIDE},
        {300, 50, 100, GEO_OUTSIDE},
        {100.5, 0, 100, GEO_OUTSIDE},
        {5000, 6000, 100, GEO_UNCERTAIN}, /* far, but the phone does not know where it is */
        {NAN, 10, 100, GEO_UNCERTAIN},
        {10, NAN, 100, GEO_UNCERTAIN},
        {10, 10, NAN, GEO_UNCERTAIN},
        {-1, 10, 100, GEO_UNCERTAIN},
        {500, -10, 100, GEO_UNCERTAIN},
        {INFINITY, 10, 100, GEO_OUTSIDE},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum geo_fence got = geo_fence_verdict(cases[i].d, cases[i].a, cases[i].r);
        if (got != cases[i].want)
            fail_msg("d %g a %g r %g: got %s want %s", cases[i].d, cases[i].a, cases[i].r, geo_fence_name(got),
                     geo_fence_name(cases[i].want));
    }
    assert_string_equal(geo_fence_name(GEO_INSIDE), "inside");
    assert_string_equal(geo_fence_name(GEO_OUTSIDE), "outside");
    assert_string_equal(geo_fence_name(GEO_UNCERTAIN), "uncertain");
    assert_null(geo_fence_name((enum geo_fence)7));
}

/* ---- evidence ------------------------------------------------------------- */

#define T0     1780000000000LL /* some server time, Unix ms */
#define SITE_L -6.2
#define SITE_G 106.8
/* Latitude steps that are exactly these distances north (x / R radians). */
#define NORTH_900M  0.00809388327352084
#define NORTH_1100M 0.00989252400097
#define NORTH_2KM   0.0179864072744908
#define NORTH_10KM  0.0899320363724538

static struct geo_fix fix(double lat, double lng, double acc, int64_t at)
{
    struct geo_fix f = {lat, lng, acc, at};
    return f;
}

static void test_evidence_clean(void **state)
{
    (void)state;
    struct geo_fix now = fix(SITE_L, SITE_G, 12, T0);
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), 0);
    /* A previous fix an hour ago, 2 km away (2 km/h): nothing odd. */
    struct geo_fix prev = fix(SITE_L + NORTH_2KM, SITE_G, 15, T0 - 3600 * 1000);
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), 0);
    /* Slightly in the future and slightly late, within 120 s: nothing. */
    now.at_ms = T0 + 120 * 1000;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), 0);
    now.at_ms = T0 - 120 * 1000;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), 0);
}

static void test_evidence_speed(void **state)
{
    (void)state;
    struct geo_fix now = fix(SITE_L, SITE_G, 12, T0);
    struct geo_fix prev;

    /* 10 km in 170 s = 211.8 km/h: flagged; in 190 s = 189.5 km/h: not. */
    prev = fix(SITE_L + NORTH_10KM, SITE_G, 12, T0 - 170 * 1000);
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), GEO_FLAG_IMPLAUSIBLE_SPEED);
    prev.at_ms = T0 - 190 * 1000;
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), 0);

    /* 900 m in one second is 3240 km/h, but under 1 km speed is not judged. */
    prev = fix(SITE_L + NORTH_900M, SITE_G, 12, T0 - 1000);
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), 0);
    /* 1.1 km in one second is. */
    prev = fix(SITE_L + NORTH_1100M, SITE_G, 12, T0 - 1000);
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), GEO_FLAG_IMPLAUSIBLE_SPEED);

    /* 2 km at the same instant: a jump. */
    prev = fix(SITE_L + NORTH_2KM, SITE_G, 12, T0);
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), GEO_FLAG_IMPLAUSIBLE_SPEED);
    /* Order of the two fixes does not matter (an offline fix sent after a newer one). */
    prev = fix(SITE_L + NORTH_10KM, SITE_G, 12, T0 + 60 * 1000);
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), GEO_FLAG_IMPLAUSIBLE_SPEED);
    prev.at_ms = T0 + 3600 * 1000;
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), 0);

    /* The rules come from the caller: 100 km/h makes 10 km in 190 s too fast. */
    struct geo_rules r;
    geo_rules_default(&r);
    r.max_speed_kmh = 100;
    prev = fix(SITE_L + NORTH_10KM, SITE_G, 12, T0 - 190 * 1000);
    assert_int_equal(geo_evidence(&now, &prev, T0, &r), GEO_FLAG_IMPLAUSIBLE_SPEED);
    r.min_speed_dist_m = 20000;
    assert_int_equal(geo_evidence(&now, &prev, T0, &r), 0);
}

static void test_evidence_duplicate_and_accuracy(void **state)
{
    (void)state;
    struct geo_fix now = fix(-6.175392, 106.827153, 7.5, T0);
    struct geo_fix prev = fix(-6.175392, 106.827153, 7.5, T0 - 3 * 3600 * 1000);
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), GEO_FLAG_DUPLICATE_FIX);
    /* Same place, another accuracy: a real second fix. */
    prev.accuracy_m = 7.6;
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), 0);
    prev.accuracy_m = 7.5;
    prev.lng = 106.8271531;
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), 0);

    now.accuracy_m = 1.0;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), GEO_FLAG_SUSPICIOUS_ACCURACY);
    now.accuracy_m = 0.5;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), GEO_FLAG_SUSPICIOUS_ACCURACY);
    now.accuracy_m = 1.0001;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), 0);

    /* A replayed, too-perfect fix carries both. */
    now.accuracy_m = 1;
    prev = now;
    prev.at_ms = T0 - 60 * 1000;
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), GEO_FLAG_DUPLICATE_FIX | GEO_FLAG_SUSPICIOUS_ACCURACY);
}

static void test_evidence_time(void **state)
{
    (void)state;
    struct geo_fix now = fix(SITE_L, SITE_G, 12, 0);

    now.at_ms = T0 + 120 * 1000 + 1;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), GEO_FLAG_CLOCK_SKEW);
    now.at_ms = T0 + 3600 * 1000;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), GEO_FLAG_CLOCK_SKEW);

    now.at_ms = T0 - 120 * 1000 - 1;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), GEO_FLAG_OFFLINE);
    now.at_ms = T0 - 6LL * 3600 * 1000; /* exactly the limit: still accepted */
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), GEO_FLAG_OFFLINE);
    now.at_ms = T0 - 6LL * 3600 * 1000 - 1;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), GEO_FLAG_OFFLINE | GEO_FLAG_STALE);

    /* Absurd client times saturate instead of overflowing. */
    now.at_ms = INT64_MIN;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), GEO_FLAG_OFFLINE | GEO_FLAG_STALE);
    now.at_ms = INT64_MAX;
    assert_int_equal(geo_evidence(&now, NULL, T0, NULL), GEO_FLAG_CLOCK_SKEW);
    now.at_ms = INT64_MAX;
    assert_int_equal(geo_evidence(&now, NULL, INT64_MIN, NULL), GEO_FLAG_CLOCK_SKEW);
    now.at_ms = INT64_MIN;
    assert_int_equal(geo_evidence(&now, NULL, INT64_MAX, NULL), GEO_FLAG_OFFLINE | GEO_FLAG_STALE);
    struct geo_fix prev = fix(SITE_L + NORTH_2KM, SITE_G, 12, INT64_MAX);
    now.at_ms = INT64_MIN;
    assert_int_equal(geo_evidence(&now, &prev, T0, NULL), GEO_FLAG_OFFLINE | GEO_FLAG_STALE);

    /* Custom windows. */
    struct geo_rules r;
    geo_rules_default(&r);
    assert_true(r.max_speed_kmh == 200 && r.min_speed_dist_m == 1000 && r.min_accuracy_m == 1);
    assert_int_equal(r.future_skew_ms, 120000);
    assert_int_equal(r.offline_after_ms, 120000);
    assert_int_equal(r.offline_max_ms, 21600000);
    r.offline_after_ms = 10 * 1000;
    r.offline_max_ms = 60 * 1000;
    r.future_skew_ms = 0;
    now.at_ms = T0 - 30 * 1000;
    assert_int_equal(geo_evidence(&now, NULL, T0, &r), GEO_FLAG_OFFLINE);
    now.at_ms = T0 - 61 * 1000;
    assert_int_equal(geo_evidence(&now, NULL, T0, &r), GEO_FLAG_OFFLINE | GEO_FLAG_STALE);
    now.at_ms = T0 + 1;
    assert_int_equal(geo_evidence(&now, NULL, T0, &r), GEO_FLAG_CLOCK_SKEW);
}

/* ---- flags as JSON and as words --------------------------------------------- */

static void assert_json(unsigned flags, const char *want)
{
    struct buf b = {0};
    geo_flags_json(flags, &b);
    assert_non_null(b.data);
    assert_string_equal(b.data, want);
    buf_free(&b);
}

static void test_flags_json(void **state)
{
    (void)state;
    assert_json(0, "[]");
    assert_json(GEO_FLAG_OFFLINE, "[\"offline\"]");
    assert_json(GEO_FLAG_OFFLINE | GEO_FLAG_DUPLICATE_FIX, "[\"duplicate_fix\",\"offline\"]");
    assert_json(GEO_FLAG_ALL, "[\"implausible_speed\",\"duplicate_fix\",\"suspicious_accuracy\",\"clock_skew\","
                              "\"offline\",\"stale\"]");
    assert_json(0x40 | 0x80000000u, "[]");
    assert_json(0x40 | GEO_FLAG_STALE, "[\"stale\"]");

    /* As a member of an object, after jw_key: commas come out right. */
    struct buf b = {0};
    jw_obj(&b);
    jw_key_int(&b, "n", 1);
    jw_key(&b, "flags");
    geo_flags_json(GEO_FLAG_CLOCK_SKEW | GEO_FLAG_IMPLAUSIBLE_SPEED, &b);
    jw_key_bool(&b, "late", false);
    jw_end_obj(&b);
    assert_string_equal(b.data, "{\"n\":1,\"flags\":[\"implausible_speed\",\"clock_skew\"],\"late\":false}");
    buf_free(&b);
}

static void test_flag_words(void **state)
{
    (void)state;
    static const struct {
        unsigned    bit;
        const char *name, *explain;
    } want[] = {
        {GEO_FLAG_IMPLAUSIBLE_SPEED, "implausible_speed", "Kecepatan tidak wajar sejak lokasi sebelumnya"},
        {GEO_FLAG_DUPLICATE_FIX, "duplicate_fix",
         "Lokasi sama persis dengan lokasi sebelumnya (kemungkinan dikirim ulang)"},
        {GEO_FLAG_SUSPICIOUS_ACCURACY, "suspicious_accuracy",
         "Akurasi GPS terlalu sempurna (kemungkinan aplikasi lokasi palsu)"},
        {GEO_FLAG_CLOCK_SKEW, "clock_skew", "Jam di HP teknisi lebih cepat dari jam server"},
        {GEO_FLAG_OFFLINE, "offline", "Lokasi diambil saat tidak ada sinyal dan dikirim kemudian"},
        {GEO_FLAG_STALE, "stale", "Lokasi terlalu lama untuk diterima"},
    };
    unsigned all = 0;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_string_equal(geo_flag_name(want[i].bit), want[i].name);
        assert_string_equal(geo_flag_explain(want[i].bit), want[i].explain);
        all |= want[i].bit;
    }
    assert_int_equal(all, GEO_FLAG_ALL);
    assert_null(geo_flag_name(0));
    assert_null(geo_flag_name(GEO_FLAG_OFFLINE | GEO_FLAG_STALE));
    assert_null(geo_flag_name(0x40));
    assert_null(geo_flag_explain(0));
    assert_null(geo_flag_explain(0x40));
}

/* ---- lateness and validation ---------------------------------------------- */

static void test_is_late(void **state)
{
    (void)state;
    const int64_t at10 = T0;       /* scheduled */
    const int64_t grace = 15 * 60; /* s */

    assert_false(geo_is_late(at10 - 3600 * 1000, at10, grace)); /* early */
    assert_false(geo_is_late(at10, at10, grace));
    assert_false(geo_is_late(at10 + grace * 1000, at10, grace)); /* at the deadline: on time */
    assert_true(geo_is_late(at10 + grace * 1000 + 1, at10, grace));
    assert_true(geo_is_late(at10 + 1, at10, 0));
    assert_false(geo_is_late(at10, at10, 0));
    /* A negative grace counts as none. */
    assert_true(geo_is_late(at10 + 1, at10, -600));
    assert_false(geo_is_late(at10, at10, -600));
    /* Huge values saturate. */
    assert_false(geo_is_late(INT64_MAX, at10, INT64_MAX));
    assert_false(geo_is_late(INT64_MAX, INT64_MAX - 5, 1));
    assert_true(geo_is_late(INT64_MAX, INT64_MAX - 5000, 1));
    assert_true(geo_is_late(INT64_MIN + 1, INT64_MIN, 0));
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(geo_valid(-6.2, 106.8, 10));
    assert_true(geo_valid(90, 180, 0.001));
    assert_true(geo_valid(-90, -180, 99999.9));
    assert_true(geo_valid(0, 0, 1));
    assert_false(geo_valid(90.0001, 0, 10));
    assert_false(geo_valid(-90.0001, 0, 10));
    assert_false(geo_valid(0, 180.1, 10));
    assert_false(geo_valid(0, -180.1, 10));
    assert_false(geo_valid(0, 0, 0));
    assert_false(geo_valid(0, 0, -5));
    assert_false(geo_valid(0, 0, 100000));
    assert_false(geo_valid(NAN, 0, 10));
    assert_false(geo_valid(0, NAN, 10));
    assert_false(geo_valid(0, 0, NAN));
    assert_false(geo_valid(INFINITY, 0, 10));
    assert_false(geo_valid(0, -INFINITY, 10));
    assert_false(geo_valid(0, 0, INFINITY));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_haversine_known),
        cmocka_unit_test(test_fence),
        cmocka_unit_test(test_evidence_clean),
        cmocka_unit_test(test_evidence_speed),
        cmocka_unit_test(test_evidence_duplicate_and_accuracy),
        cmocka_unit_test(test_evidence_time),
        cmocka_unit_test(test_flags_json),
        cmocka_unit_test(test_flag_words),
        cmocka_unit_test(test_is_late),
        cmocka_unit_test(test_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
