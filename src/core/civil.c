/*
 * civil: calendar arithmetic and UTC timestamps (contract in civil.h).
 */
#include "core/civil.h"

int64_t civil_days_from_date(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365], from March 1 */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;                           /* 719468: days from 0000-03-01 to 1970-01-01 */
}

void civil_date_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    int64_t z = days + 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153; /* month from March, [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

int civil_weekday(int64_t days)
{
    int64_t w = (days % 7 + 7 + 4) % 7; /* % truncates toward zero: bring it into [0, 6] */
    return (int)w;
}

bool civil_leap_year(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool civil_date_valid(int64_t y, int m, int d)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return false;
    return d <= mdays[m - 1] + (m == 2 && civil_leap_year(y));
}

void civil_from_unix(int64_t t, struct civil_tm *out)
{
    int64_t days = t / 86400, rem = t % 86400;
    if (rem < 0) { /* floor, not truncation: 1969-12-31T23:59:59Z is -1 */
        rem += 86400;
        days--;
    }
    civil_date_from_days(days, &out->year, &out->month, &out->day);
    out->hour = (int)(rem / 3600);
    out->min = (int)(rem / 60 % 60);
    out->sec = (int)(rem % 60);
    out->wday = civil_weekday(days);
    out->days = days;
}

/* n decimal digits at s as a number; -1 if one of them is not a digit
 * (sscanf's %d would take blanks and signs). */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "YYYY-MM-DDTHH:MM:SS" (19 bytes at s, n >= 19 checked by the caller) as
 * Unix seconds of that wall clock in UTC. */
static int parse_date_time(const char *s, bool lower_t, int64_t *out)
{
    if (s[4] != '-' || s[7] != '-' || !(s[10] == 'T' || (lower_t && s[10] == 't')) || s[13] != ':' || s[16] != ':')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || !civil_date_valid(y, mo, d) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return -1;
    *out = civil_days_from_date(y, mo, d) * 86400 + h * 3600LL + mi * 60LL + sec;
    return 0;
}

int civil_parse_utc(const char *s, size_t n, int64_t *out)
{
    int64_t t;
    if (!s || n != 20 || s[19] != 'Z' || parse_date_time(s, false, &t) < 0)
        return -1;
    *out = t;
    return 0;
}

int civil_parse_rfc3339_ms(const char *s, size_t n, int64_t *out)
{
    int64_t t;
    if (!s || n < 20 || parse_date_time(s, true, &t) < 0)
        return -1;
    const char *p = s + 19, *end = s + n;
    int64_t     ms = 0;
    if (*p == '.') {
        int nd = 0;
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, nd++)
            if (nd < 3)
                ms = ms * 10 + (*p - '0');
        if (nd == 0)
            return -1;
        for (; nd < 3; nd++)
            ms *= 10;
    }
    if (p == end)
        return -1; /* no zone */
    int64_t off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        if (end - p < 6 || p[3] != ':')
            return -1;
        int oh = digits(p + 1, 2), om = digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        off = (oh * 3600LL + om * 60) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (p != end)
        return -1;
    *out = (t - off) * 1000 + ms;
    return 0;
}
