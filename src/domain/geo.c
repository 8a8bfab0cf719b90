#include "domain/geo.h"

#include <math.h>

#include "core/jw.h"

#define DEG2RAD (3.14159265358979323846 / 180.0)

double geo_haversine_m(double lat1, double lng1, double lat2, double lng2)
{
    double p1 = lat1 * DEG2RAD, p2 = lat2 * DEG2RAD;
    double sdlat = sin((lat2 - lat1) * DEG2RAD / 2), sdlng = sin((lng2 - lng1) * DEG2RAD / 2);
    double a = sdlat * sdlat + cos(p1) * cos(p2) * sdlng * sdlng;
    /* Rounding can push a a hair past 1 for antipodes; sqrt(1 - a) would be NaN. */
    if (a > 1)
        a = 1;
    return 2 * GEO_EARTH_RADIUS_M * atan2(sqrt(a), sqrt(1 - a));
}

enum geo_fence geo_fence_verdict(double distance_m, double accuracy_m, double radius_m)
{
    /* Written so that NaN fails every comparison and lands in uncertain. */
    if (!(distance_m >= 0 && accuracy_m >= 0 && radius_m >= 0))
        return GEO_UNCERTAIN;
    if (distance_m <= radius_m && accuracy_m <= radius_m)
        return GEO_INSIDE;
    if (distance_m - accuracy_m > radius_m)
        return GEO_OUTSIDE;
    return GEO_UNCERTAIN;
}

const char *geo_fence_name(enum geo_fence f)
{
    switch (f) {
    case GEO_INSIDE: return "inside";
    case GEO_OUTSIDE: return "outside";
    case GEO_UNCERTAIN: return "uncertain";
    }
    return NULL;
}

void geo_rules_default(struct geo_rules *r)
{
    r->max_speed_kmh = 200;
    r->min_speed_dist_m = 1000;
    r->min_accuracy_m = 1;
    r->future_skew_ms = 120 * 1000;
    r->offline_after_ms = 120 * 1000;
    r->offline_max_ms = 6 * 3600 * 1000;
}

/* a - b, saturated, so that a client's absurd fix_at cannot overflow. */
static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t d;
    if (__builtin_sub_overflow(a, b, &d))
        return b < 0 ? INT64_MAX : INT64_MIN;
    return d;
}

unsigned geo_evidence(const struct geo_fix *now, const struct geo_fix *prev, int64_t server_ms,
                      const struct geo_rules *r)
{
    struct geo_rules def;
    unsigned         flags = 0;

    if (!r) {
        geo_rules_default(&def);
        r = &def;
    }
    if (prev) {
        double dist = geo_haversine_m(prev->lat, prev->lng, now->lat, now->lng);
        /* Doubles: the difference of two client times may not fit int64. */
        double dt_ms = fabs((double)now->at_ms - (double)prev->at_ms);
        /* speed km/h = dist_m / dt_ms * 3600; multiplied out so dt 0 needs no case. */
        if (dist > r->min_speed_dist_m && dist * 3600.0 > r->max_speed_kmh * dt_ms)
            flags |= GEO_FLAG_IMPLAUSIBLE_SPEED;
        if (now->lat == prev->lat && now->lng == prev->lng && now->accuracy_m == prev->accuracy_m)
            flags |= GEO_FLAG_DUPLICATE_FIX;
    }
    if (now->accuracy_m <= r->min_accuracy_m)
        flags |= GEO_FLAG_SUSPICIOUS_ACCURACY;

    int64_t age = sat_sub(server_ms, now->at_ms); /* negative: from the future */
    if (age < 0 && sat_sub(0, age) > r->future_skew_ms)
        flags |= GEO_FLAG_CLOCK_SKEW;
    if (age > r->offline_after_ms)
        flags |= GEO_FLAG_OFFLINE;
    if (age > r->offline_max_ms)
        flags |= GEO_FLAG_STALE | GEO_FLAG_OFFLINE;
    return flags;
}

struct flag_desc {
    unsigned    bit;
    const char *name, *explain;
};

/* In bit order, which is also the order of the JSON array. */
static const struct flag_desc flag_descs[] = {
    {GEO_FLAG_IMPLAUSIBLE_SPEED, "implausible_speed", "Kecepatan tidak wajar sejak lokasi sebelumnya"},
    {GEO_FLAG_DUPLICATE_FIX, "duplicate_fix",
     "Lokasi sama persis dengan lokasi sebelumnya (kemungkinan dikirim ulang)"},
    {GEO_FLAG_SUSPICIOUS_ACCURACY, "suspicious_accuracy",
     "Akurasi GPS terlalu sempurna (kemungkinan aplikasi lokasi palsu)"},
    {GEO_FLAG_CLOCK_SKEW, "clock_skew", "Jam di HP teknisi lebih cepat dari jam server"},
    {GEO_FLAG_OFFLINE, "offline", "Lokasi diambil saat tidak ada sinyal dan dikirim kemudian"},
    {GEO_FLAG_STALE, "stale", "Lokasi terlalu lama untuk diterima"},
};

#define NFLAGS (sizeof(flag_descs) / sizeof(flag_descs[0]))

static const struct flag_desc *flag_find(unsigned one_flag)
{
    for (size_t i = 0; i < NFLAGS; i++)
        if (flag_descs[i].bit == one_flag)
            return &flag_descs[i];
    return NULL;
}

const char *geo_flag_name(unsigned one_flag)
{
    const struct flag_desc *f = flag_find(one_flag);
    return f ? f->name : NULL;
}

const char *geo_flag_explain(unsigned one_flag)
{
    const struct flag_desc *f = flag_find(one_flag);
    return f ? f->explain : NULL;
}

void geo_flags_json(unsigned flags, struct buf *b)
{
    jw_arr(b);
    for (size_t i = 0; i < NFLAGS; i++)
        if (flags & flag_descs[i].bit)
            jw_str(b, flag_descs[i].name);
    jw_end_arr(b);
}

bool geo_is_late(int64_t checkin_ms, int64_t scheduled_ms, int64_t grace_s)
{
    int64_t grace_ms, deadline;

    if (grace_s < 0)
        grace_s = 0;
    if (__builtin_mul_overflow(grace_s, (int64_t)1000, &grace_ms))
        grace_ms = INT64_MAX;
    if (__builtin_add_overflow(scheduled_ms, grace_ms, &deadline))
        deadline = INT64_MAX; /* grace_ms >= 0, so only upwards */
    return checkin_ms > deadline;
}

bool geo_valid(double lat, double lng, double accuracy_m)
{
    return isfinite(lat) && isfinite(lng) && isfinite(accuracy_m) && lat >= -90 && lat <= 90 && lng >= -180 &&
           lng <= 180 && accuracy_m > 0 && accuracy_m < 100000;
}
