/*
 * geo: the rules of a GPS check-in or check-out (DESIGN.md §1, §4):
 * distance to the site, the geofence verdict, lateness, input validation,
 * and "evidence" flags that tell CS when a fix looks odd.
 *
 * Flags are evidence, not verdicts: they are stored with the check-in and
 * shown to CS, who decides. Only GEO_FLAG_STALE is meant to be refused by
 * the caller (a fix too old to say where the technician is now).
 *
 * Geofence rule (geo_fence_verdict). A browser reports a position and an
 * accuracy radius (metres) around it. With d the distance from the fix to
 * the site, a its accuracy and r the fence radius:
 *   inside     d <= r and a <= r   (the fix is in the fence and the phone
 *                                   knew its position at least as well as
 *                                   the fence is wide)
 *   outside    d - a > r           (even the nearest point of the accuracy
 *                                   circle is beyond the fence: certainly out)
 *   uncertain  anything else: the accuracy is worse than the radius, or the
 *              accuracy circle straddles the fence's edge from outside;
 *              also any NaN or negative input.
 * "inside" and "outside" cannot both hold (a >= 0 makes d - a > r imply d > r).
 *
 * Evidence rules (geo_evidence; thresholds in struct geo_rules, defaults in
 * geo_rules_default). Times are Unix milliseconds; `at_ms` of a fix is when
 * the device took it (the client's fix_at, else the time it was received).
 *   implausible_speed   prev given, the two fixes are more than
 *                       min_speed_dist_m apart (1 km) and the implied speed,
 *                       distance over |time between them|, is above
 *                       max_speed_kmh (200 km/h); two fixes 1 km apart at the
 *                       same instant count. Below 1 km, GPS noise over a few
 *                       seconds makes any speed, so it is not judged.
 *   duplicate_fix       prev given and lat, lng and accuracy are bit for bit
 *                       the same as prev's: a re-sent or replayed position
 *                       (two real fixes hours apart never agree to 15 digits).
 *   suspicious_accuracy accuracy_m <= min_accuracy_m (1 m): phones do not
 *                       get that good; mock-location apps report it.
 *   clock_skew          at_ms more than future_skew_ms (120 s) after the
 *                       server's time: the device clock is ahead.
 *   offline             at_ms more than offline_after_ms (120 s) before the
 *                       server's time: taken without signal and sent later.
 *   stale               at_ms more than offline_max_ms (6 h) before the
 *                       server's time; always comes with offline. The caller
 *                       refuses the fix.
 *
 * Memory and threads: no allocation except geo_flags_json's appends to the
 * caller's buf; no state; safe from any thread. Strings are static.
 */
#ifndef GSS_DOMAIN_GEO_H
#define GSS_DOMAIN_GEO_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"

/* Mean Earth radius (IUGG R1), metres. */
#define GEO_EARTH_RADIUS_M 6371008.8

/* Great-circle distance in metres between two WGS84 points in degrees. */
double geo_haversine_m(double lat1, double lng1, double lat2, double lng2);

enum geo_fence { GEO_INSIDE, GEO_OUTSIDE, GEO_UNCERTAIN };

enum geo_fence geo_fence_verdict(double distance_m, double accuracy_m, double radius_m);
/* "inside", "outside", "uncertain" (NULL when out of range). */
const char *geo_fence_name(enum geo_fence f);

#define GEO_FLAG_IMPLAUSIBLE_SPEED   0x01u
#define GEO_FLAG_DUPLICATE_FIX       0x02u
#define GEO_FLAG_SUSPICIOUS_ACCURACY 0x04u
#define GEO_FLAG_CLOCK_SKEW          0x08u
#define GEO_FLAG_OFFLINE             0x10u
#define GEO_FLAG_STALE               0x20u
#define GEO_FLAG_ALL                 0x3fu

struct geo_fix {
    double  lat, lng;   /* degrees, WGS84 */
    double  accuracy_m; /* the browser's coords.accuracy, metres */
    int64_t at_ms;      /* when the fix was taken, Unix ms (fix_at, else receipt) */
};

struct geo_rules {
    double  max_speed_kmh;    /* 200 */
    double  min_speed_dist_m; /* 1000: speed is judged only over more than this */
    double  min_accuracy_m;   /* 1: accuracy at or below is suspicious */
    int64_t future_skew_ms;   /* 120000 */
    int64_t offline_after_ms; /* 120000 */
    int64_t offline_max_ms;   /* 21600000 (6 h; GSS_OFFLINE_MAX_S) */
};

void geo_rules_default(struct geo_rules *r);

/* The GEO_FLAG_* mask for fix `now` received at server_ms. prev is the same
 * technician's previous accepted fix, or NULL (no speed or duplicate check).
 * r NULL means the defaults. */
unsigned geo_evidence(const struct geo_fix *now, const struct geo_fix *prev, int64_t server_ms,
                      const struct geo_rules *r);

/* Appends a JSON array of the flags' names in bit order, e.g.
 * ["duplicate_fix","offline"]; [] for none. Unknown bits are skipped. Uses
 * core/jw, so it may follow a jw_key inside an object. */
void geo_flags_json(unsigned flags, struct buf *b);

/* "implausible_speed", "duplicate_fix", "suspicious_accuracy", "clock_skew",
 * "offline", "stale" for one GEO_FLAG_* bit; NULL for anything else. */
const char *geo_flag_name(unsigned one_flag);
/* The Indonesian explanation for CS of one flag; NULL for anything else. */
const char *geo_flag_explain(unsigned one_flag);

/* True when the check-in came after scheduled time + grace (exactly at the
 * deadline is on time). A negative grace counts as 0. */
bool geo_is_late(int64_t checkin_ms, int64_t scheduled_ms, int64_t grace_s);

/* Finite numbers, lat in [-90, 90], lng in [-180, 180], 0 < accuracy < 100 km. */
bool geo_valid(double lat, double lng, double accuracy_m);

#endif
