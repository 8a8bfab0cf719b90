/*
 * civil: dates of the proleptic Gregorian calendar as day counts, and the
 * UTC timestamps our JSON carries, without timegm, gmtime or TZ.
 *
 * Days are counted from 1970-01-01 (day 0; negative before it) with Howard
 * Hinnant's days_from_civil / civil_from_days algorithms
 * (https://howardhinnant.github.io/date_algorithms.html): the year is
 * counted from March so that the leap day is the last day of its year, and
 * 400-year eras make every division exact. Valid for every int64_t day
 * count a Unix time in seconds can give.
 *
 * Pure functions: no I/O, no allocation, no global state, any thread.
 * Parsers return 0 or -1 (nothing written to *out on -1); Unix time has no
 * leap seconds, so a ":60" is refused like any other impossible time.
 *
 * Asia/Jakarta (WIB) is UTC+7 all year, with no daylight saving since 1964:
 * its wall clock is civil_from_unix(t + CIVIL_WIB_OFFSET_S).
 */
#ifndef GSS_CIVIL_H
#define GSS_CIVIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CIVIL_WIB_OFFSET_S (7 * 3600) /* Asia/Jakarta, seconds east of UTC */

/* A broken-down time, as gmtime_r would give it (but year is the year
 * itself, month 1..12 and the day count is kept). */
struct civil_tm {
    int64_t year;
    int     month; /* 1..12 */
    int     day;   /* 1..31 */
    int     hour;  /* 0..23 */
    int     min;   /* 0..59 */
    int     sec;   /* 0..59 */
    int     wday;  /* 0 Sunday .. 6 Saturday */
    int64_t days;  /* since 1970-01-01 */
};

/* Days since 1970-01-01 of y-m-d (m 1..12, d 1..31; a day past the end of
 * its month counts on into the next one, as the arithmetic goes). */
int64_t civil_days_from_date(int64_t y, int m, int d);
/* The date of a day count: the inverse of civil_days_from_date. */
void civil_date_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 0 Sunday .. 6 Saturday (1970-01-01 was a Thursday, 4). */
int  civil_weekday(int64_t days);
bool civil_leap_year(int64_t y);
/* Whether y-m-d is a day of the calendar (Feb 29 only in leap years). */
bool civil_date_valid(int64_t y, int m, int d);

/* Unix seconds (any value, negative before 1970) broken down in UTC. Add an
 * offset first for a zone's wall clock (CIVIL_WIB_OFFSET_S). */
void civil_from_unix(int64_t t, struct civil_tm *out);

/* Exactly "YYYY-MM-DDTHH:MM:SSZ" (n = 20 bytes, no NUL needed; what
 * PostgreSQL's to_char gives our JSON) as Unix seconds. The day must exist
 * in its month. -1 for any other text: a zone offset, fractions, a space
 * for the T, signs or blanks in a field. */
int civil_parse_utc(const char *s, size_t n, int64_t *out);

/* An RFC 3339 date-time ("2026-12-02T09:30:00+07:00",
 * "2026-12-02T02:30:00.5Z"; 't' and 'z' too) of n bytes as Unix
 * milliseconds (digits past the third of a fraction are dropped). Seconds
 * and a zone are required, the day must exist in its month, no leap
 * second. -1 for anything else. */
int civil_parse_rfc3339_ms(const char *s, size_t n, int64_t *out);

#endif
