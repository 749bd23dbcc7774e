/* Time text: instants formatted with as many fraction digits as they need and read back
 * exactly, calendar times checked against a calendar of the test's own for every day the
 * gateway's timestamps hold, the bounds of that range (1970 and 2262-04-11T23:47:16.854775807Z,
 * the largest signed 64-bit count of nanoseconds) and just past them, command-line times in
 * every documented form and zone, the command line's UTC times and their refusal message,
 * and the microsecond UTC stamp. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/clock.h"

#define S SELGW_NS_PER_S
#define NOT_SET INT64_C(-777)

/* 2026-11-28T13:55:21Z and 2026-05-01T00:00:00Z, from Python's calendar.timegm */
#define T_2026_11_28_135521 (INT64_C(1795874121) * S)
#define T_2026_05_01 (INT64_C(1777593600) * S)
#define HOUR (INT64_C(3600) * S)
#define MINUTE (INT64_C(60) * S)

/* ---- an independent calendar ---------------------------------------------------------- */

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* ---- selgw_format_instant / selgw_parse_instant -------------------------------------- */

/* fn's text for ns; checks that it returns its buffer and stays within size bytes */
static const char *formatted(char *(*fn)(int64_t, char *), size_t size, int64_t ns)
{
    static char buf[64];
    memset(buf, '#', sizeof buf);
    assert_ptr_equal(fn(ns, buf), buf);
    assert_non_null(memchr(buf, '\0', size));
    return buf;
}

static const char *format_instant(int64_t ns)
{
    return formatted(selgw_format_instant, SELGW_INSTANT_TEXT_SIZE, ns);
}

static int64_t parse_instant(const char *text)
{
    int64_t ns = NOT_SET;
    if (!selgw_parse_instant(text, &ns))
        return NOT_SET;
    return ns;
}

static void assert_instant_refused(const char *text)
{
    int64_t ns = NOT_SET;
    if (selgw_parse_instant(text, &ns))
        fail_msg("\"%s\" was read as %lld", text, (long long)ns);
}

static void test_format_instant_known_values(void **state)
{
    (void)state;
    assert_string_equal(format_instant(0), "1970-01-01T00:00:00Z");
    assert_string_equal(format_instant(T_2026_11_28_135521), "2026-11-28T13:55:21Z");
    assert_string_equal(format_instant(T_2026_11_28_135521 + 500000000), "2026-11-28T13:55:21.5Z");
    assert_string_equal(format_instant(1), "1970-01-01T00:00:00.000000001Z");
    assert_string_equal(format_instant(INT64_C(951782400) * S + 10),
                        "2000-02-29T00:00:00.00000001Z");
    assert_string_equal(format_instant(INT64_MAX), "2262-04-11T23:47:16.854775807Z");
}

/* 0 to 9 fraction digits: exactly as many as the instant needs, trailing zeros dropped,
 * and read back to the same instant. */
static void test_instant_fraction_digits_round_trip(void **state)
{
    (void)state;
    static const char *const want[10] = {
        "2026-11-28T13:55:21Z",          "2026-11-28T13:55:21.1Z",
        "2026-11-28T13:55:21.12Z",       "2026-11-28T13:55:21.123Z",
        "2026-11-28T13:55:21.1234Z",     "2026-11-28T13:55:21.12345Z",
        "2026-11-28T13:55:21.123456Z",   "2026-11-28T13:55:21.1234567Z",
        "2026-11-28T13:55:21.12345678Z", "2026-11-28T13:55:21.123456789Z",
    };
    for (int k = 0; k <= 9; k++) {
        int64_t cut = 1; /* 123456789 cut to its first k digits */
        for (int j = k; j < 9; j++)
            cut *= 10;
        int64_t frac = 123456789 / cut * cut;
        int64_t ns = T_2026_11_28_135521 + frac;
        assert_string_equal(format_instant(ns), want[k]);
        assert_int_equal(parse_instant(want[k]), ns);
    }
    /* zeros inside the fraction stay, zeros at its end go */
    assert_string_equal(format_instant(T_2026_11_28_135521 + 100000000), "2026-11-28T13:55:21.1Z");
    assert_string_equal(format_instant(T_2026_11_28_135521 + 1000), "2026-11-28T13:55:21.000001Z");
    assert_string_equal(format_instant(T_2026_11_28_135521 + 900000009),
                        "2026-11-28T13:55:21.900000009Z");
    assert_int_equal(parse_instant("2026-11-28T13:55:21.000001Z"), T_2026_11_28_135521 + 1000);
}

static void test_parse_instant_requires_z(void **state)
{
    (void)state;
    assert_int_equal(parse_instant("2026-11-28T13:55:21Z"), T_2026_11_28_135521);
    assert_instant_refused("2026-11-28T13:55:21");
    assert_instant_refused("2026-11-28T13:55:21.5");
    assert_instant_refused("2026-11-28T13:55:21z");
    assert_instant_refused("2026-11-28T13:55:21+00:00");
    assert_instant_refused("2026-11-28T13:55:21ZZ");
    assert_instant_refused("2026-11-28T13:55:21Z ");
}

/* Only the form selgw_format_instant writes: no other separator, no short fields, no
 * command-line conveniences. */
static void test_parse_instant_refuses_other_forms(void **state)
{
    (void)state;
    assert_instant_refused("");
    assert_instant_refused("2026-11-28");
    assert_instant_refused("2026-11-28T13:55Z");
    assert_instant_refused("2026-11-28 13:55:21Z");
    assert_instant_refused("2026-11-28t13:55:21Z");
    assert_instant_refused("2026-11-8T13:55:21Z");
    assert_instant_refused("2026-11-28T3:55:21Z");
    assert_instant_refused("+2026-11-28T13:55:21Z");
    assert_instant_refused(" 2026-11-28T13:55:21Z");
    assert_instant_refused("2026/11/28T13:55:21Z");
    assert_instant_refused("2026-11-28T13:55:21.Z");           /* a point without digits */
    assert_instant_refused("2026-11-28T13:55:21.1234567891Z"); /* ten digits */
    assert_instant_refused("2026-11-28T13:55:21,5Z");
}

/* Each field at its largest and one past it. */
static void test_parse_instant_field_ranges(void **state)
{
    (void)state;
    assert_int_equal(parse_instant("2025-12-31T23:59:59Z"), INT64_C(1767225599) * S);
    assert_int_equal(parse_instant("2025-12-31T23:59:59.999999999Z"),
                     INT64_C(1767225599) * S + 999999999);
    assert_instant_refused("2025-00-10T00:00:00Z");
    assert_instant_refused("2025-13-10T00:00:00Z");
    assert_instant_refused("2025-12-00T00:00:00Z");
    assert_instant_refused("2025-12-32T00:00:00Z");
    assert_instant_refused("2025-12-31T24:00:00Z");
    assert_instant_refused("2025-12-31T23:60:00Z");
    assert_instant_refused("2025-12-31T23:59:60Z"); /* no leap seconds */
    assert_instant_refused("2025-12-31T99:99:99Z");
}

static void test_parse_instant_dates_that_do_not_exist(void **state)
{
    (void)state;
    assert_instant_refused("2026-02-30T00:00:00Z");
    assert_instant_refused("2026-02-29T00:00:00Z");
    assert_instant_refused("2023-02-29T00:00:00Z");
    assert_instant_refused("2100-02-29T00:00:00Z"); /* divisible by 100: not leap */
    assert_instant_refused("2026-04-31T00:00:00Z");
    assert_int_equal(parse_instant("2024-02-29T00:00:00Z"), INT64_C(1709164800) * S);
    assert_int_equal(parse_instant("2000-02-29T00:00:00Z"), INT64_C(951782400) * S); /* 400 */
    assert_int_equal(parse_instant("2026-04-30T00:00:00Z"), T_2026_05_01 - 24 * HOUR);
}

static void test_parse_instant_bounds(void **state)
{
    (void)state;
    assert_int_equal(parse_instant("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_instant("1970-01-01T00:00:00.000000001Z"), 1);
    assert_int_equal(parse_instant("2262-04-11T23:47:16.854775807Z"), INT64_MAX);
    assert_int_equal(parse_instant("2262-04-11T23:47:16Z"), INT64_C(9223372036) * S);
    /* just past either end, and far past: refused, not wrapped around */
    assert_instant_refused("1969-12-31T23:59:59Z");
    assert_instant_refused("1969-12-31T23:59:59.999999999Z");
    assert_instant_refused("2262-04-11T23:47:16.854775808Z");
    assert_instant_refused("2262-04-11T23:47:16.9Z");
    assert_instant_refused("2262-04-11T23:47:17Z");
    assert_instant_refused("2262-04-12T00:00:00Z");
    assert_instant_refused("2262-12-31T23:59:59Z");
    assert_instant_refused("2263-01-01T00:00:00Z");
    assert_instant_refused("2611-01-01T00:00:00Z");
    assert_instant_refused("9999-12-31T23:59:59.999999999Z");
    assert_instant_refused("0000-01-01T00:00:00Z");
    assert_string_equal(format_instant(0), "1970-01-01T00:00:00Z");
    assert_string_equal(format_instant(INT64_MAX), "2262-04-11T23:47:16.854775807Z");
}

/* "Reads back exactly that form (and no other)": the formatter never writes a trailing zero
 * in the fraction, nor a zero fraction, so each instant has one spelling. */
static void test_parse_instant_refuses_fraction_with_trailing_zeros(void **state)
{
    (void)state;
    assert_instant_refused("2026-11-28T13:55:21.50Z");
    assert_instant_refused("2026-11-28T13:55:21.100000000Z");
    assert_instant_refused("2026-11-28T13:55:21.0Z");
    assert_instant_refused("2026-11-28T13:55:21.000000000Z");
}

/* ---- selgw_utc_from_civil ------------------------------------------------------------- */

static int64_t civil(int y, int mo, int d, int h, int mi, int s, int64_t frac)
{
    int64_t ns = NOT_SET;
    if (!selgw_utc_from_civil(y, mo, d, h, mi, s, frac, &ns))
        return NOT_SET;
    return ns;
}

static void test_civil_bounds(void **state)
{
    (void)state;
    assert_int_equal(civil(1970, 1, 1, 0, 0, 0, 0), 0);
    assert_int_equal(civil(2026, 11, 28, 13, 55, 21, 0), T_2026_11_28_135521);
    assert_int_equal(civil(2262, 4, 11, 23, 47, 16, 854775807), INT64_MAX);
    assert_int_equal(civil(1969, 12, 31, 23, 59, 59, 999999999), NOT_SET);
    assert_int_equal(civil(2262, 4, 11, 23, 47, 16, 854775808), NOT_SET);
    assert_int_equal(civil(2262, 4, 11, 23, 47, 17, 0), NOT_SET);
    assert_int_equal(civil(2262, 4, 12, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2262, 12, 31, 23, 59, 59, 999999999), NOT_SET);
    assert_int_equal(civil(2263, 1, 1, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2611, 1, 1, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(INT_MAX, 1, 1, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(INT_MIN, 1, 1, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(0, 1, 1, 0, 0, 0, 0), NOT_SET);
}

static void test_civil_field_ranges(void **state)
{
    (void)state;
    assert_int_equal(civil(2026, 12, 31, 23, 59, 59, 999999999),
                     INT64_C(1798761599) * S + 999999999);
    assert_int_equal(civil(2026, 0, 1, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2026, 13, 1, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2026, 1, 0, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2026, 1, 32, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2026, 1, 1, -1, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2026, 1, 1, 24, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2026, 1, 1, 0, -1, 0, 0), NOT_SET);
    assert_int_equal(civil(2026, 1, 1, 0, 60, 0, 0), NOT_SET);
    assert_int_equal(civil(2026, 1, 1, 0, 0, -1, 0), NOT_SET);
    assert_int_equal(civil(2026, 1, 1, 0, 0, 60, 0), NOT_SET);
    assert_int_equal(civil(2026, 1, 1, 0, 0, 0, -1), NOT_SET);
    assert_int_equal(civil(2026, 1, 1, 0, 0, 0, S), NOT_SET);
    assert_int_equal(civil(2026, 2, 30, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2023, 2, 29, 0, 0, 0, 0), NOT_SET);
    assert_int_equal(civil(2024, 2, 29, 0, 0, 0, 0), INT64_C(1709164800) * S);
}

/* Every day from 1970-01-01 to 2262-04-11, against the test's own day count: the day
 * exists, the instant is days * 86400 s plus the time of day, it formats as the test spells
 * it and reads back; the day after each month's last is refused. */
static void test_civil_and_instant_every_day(void **state)
{
    (void)state;
    int64_t day = 0, checked = 0;
    for (int y = 1970; y <= 2262; y++) {
        for (int m = 1; m <= 12; m++) {
            int dim = days_in_month(y, m);
            for (int d = 1; d <= dim; d++, day++) {
                bool last_day = y == 2262 && m == 4 && d == 11;
                if (y == 2262 && (m > 4 || (m == 4 && d > 11))) {
                    assert_int_equal(civil(y, m, d, 0, 0, 0, 0), NOT_SET);
                    continue;
                }
                int h = (int)(day % 24), mi = (int)(day * 7 % 60), s = (int)(day * 13 % 60);
                int64_t frac = day % 10 == 0 ? 0 : day * 7919 % 1000000000;
                if (last_day)
                    h = 23, mi = 47, s = 16, frac = 854775807;
                int64_t want = day * 86400 * S + ((int64_t)h * 3600 + mi * 60 + s) * S + frac;
                int64_t got = civil(y, m, d, h, mi, s, frac);
                checked++;
                if (got != want)
                    fail_msg("%04d-%02d-%02dT%02d:%02d:%02d.%09lld: %lld, expected %lld", y, m, d,
                             h, mi, s, (long long)frac, (long long)got, (long long)want);

                char text[64], digits[16] = "";
                if (frac) {
                    snprintf(digits, sizeof digits, ".%09lld", (long long)frac);
                    size_t len = strlen(digits);
                    while (digits[len - 1] == '0')
                        digits[--len] = '\0';
                }
                snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d%sZ", y, m, d, h, mi, s,
                         digits);
                assert_string_equal(format_instant(want), text);
                assert_int_equal(parse_instant(text), want);
            }
            if (y < 2262)
                assert_int_equal(civil(y, m, dim + 1, 0, 0, 0, 0), NOT_SET);
        }
    }
    /* 1970-01-01..2262-04-11 is 106752 days: INT64_MAX is in day 106751 counted from 0 */
    assert_int_equal(checked, 106752);
}

/* ---- selgw_parse_time_arg ------------------------------------------------------------- */

static int64_t time_arg(const char *text, int default_offset_minutes)
{
    int64_t ns = NOT_SET;
    if (!selgw_parse_time_arg(text, default_offset_minutes, &ns))
        return NOT_SET;
    return ns;
}

static void assert_time_arg_refused(const char *text)
{
    int64_t ns = NOT_SET;
    if (selgw_parse_time_arg(text, 0, &ns))
        fail_msg("\"%s\" was read as %lld", text, (long long)ns);
}

static void test_time_arg_date_only(void **state)
{
    (void)state;
    assert_int_equal(time_arg("2026-05-01", 0), T_2026_05_01);
    /* midnight at the default offset: Beijing's midnight is 16:00 UTC the day before */
    assert_int_equal(time_arg("2026-05-01", 480), T_2026_05_01 - 8 * HOUR);
    assert_int_equal(time_arg("2026-05-01", -330), T_2026_05_01 + 5 * HOUR + 30 * MINUTE);
}

static void test_time_arg_time_forms(void **state)
{
    (void)state;
    int64_t six = T_2026_05_01 + 6 * HOUR;
    assert_int_equal(time_arg("2026-05-01T06:00", 0), six);
    assert_int_equal(time_arg("2026-05-01 06:00", 0), six);
    assert_int_equal(time_arg("2026-05-01T06:00:00", 0), six);
    assert_int_equal(time_arg("2026-05-01 06:07:08", 0), six + 7 * MINUTE + 8 * S);
    assert_int_equal(time_arg("2026-05-01T06:00:00.25Z", 0), six + 250000000);
    assert_int_equal(time_arg("2026-05-01T06:00:00.5", 0), six + 500000000);
    assert_int_equal(time_arg("2026-05-01T06:00:00.000000001", 0), six + 1);
    assert_int_equal(time_arg("2026-05-01T06:00:00.123456789Z", 0), six + 123456789);
    assert_int_equal(time_arg("2026-05-01T23:59:59.999999999Z", 0), T_2026_05_01 + 24 * HOUR - 1);
}

static void test_time_arg_zones(void **state)
{
    (void)state;
    int64_t midnight = T_2026_05_01;
    /* an explicit zone wins over the default offset, whatever the default is */
    assert_int_equal(time_arg("2026-05-01T06:00Z", 480), midnight + 6 * HOUR);
    assert_int_equal(time_arg("2026-05-01T08:00+08:00", 0), midnight);
    assert_int_equal(time_arg("2026-05-01T08:00+08:00", -300), midnight);
    assert_int_equal(time_arg("2026-05-01T00:30-05:30", 480), midnight + 6 * HOUR);
    assert_int_equal(time_arg("2026-05-01T06:00+00:00", 480), midnight + 6 * HOUR);
    assert_int_equal(time_arg("2026-05-01T06:00-00:00", 480), midnight + 6 * HOUR);
    assert_int_equal(time_arg("2026-05-01T06:00:30.5+08:00", 0),
                     midnight - 2 * HOUR + 30 * S + 500000000);
    /* without a zone, the default offset */
    assert_int_equal(time_arg("2026-05-01T08:00", 480), midnight);
    assert_int_equal(time_arg("2026-05-01T00:30", -330), midnight + 6 * HOUR);
    /* the widest real offsets */
    assert_int_equal(time_arg("2026-05-01T14:00+14:00", 0), midnight);
    assert_int_equal(time_arg("2026-05-01T00:00-12:00", 0), midnight + 12 * HOUR);
}

static void test_time_arg_refusals(void **state)
{
    (void)state;
    assert_time_arg_refused("");
    assert_time_arg_refused("08:00"); /* a time without a date */
    assert_time_arg_refused("06:00:00Z");
    assert_time_arg_refused("2026-05-01T08:00+15:00"); /* no such offset */
    assert_time_arg_refused("2026-05-01T08:00+08:60");
    assert_time_arg_refused("2026-05-01T08:00+8:00");
    assert_time_arg_refused("2026-05-01T08:00+0800");
    assert_time_arg_refused("2026-05-01T08:00+08");
    assert_time_arg_refused("2026-05-01T08:00 +08:00");
    assert_time_arg_refused("2026-05-01x"); /* trailing junk */
    assert_time_arg_refused("2026-05-01 ");
    assert_time_arg_refused("2026-05-01T06:00 ");
    assert_time_arg_refused("2026-05-01T06:00Zjunk");
    assert_time_arg_refused("2026-05-01T06:00+08:00x");
    assert_time_arg_refused("2026-05-01T06:00:00."); /* a point without digits */
    assert_time_arg_refused("2026-05-01T06:00:00.1234567891");
    assert_time_arg_refused("2026-05-01T06:00.5"); /* a fraction needs seconds */
    assert_time_arg_refused("2026-05-01T");
    assert_time_arg_refused("2026-05-01T06");
    assert_time_arg_refused("2026-05-01T6:00");
    assert_time_arg_refused("2026-5-1");
    assert_time_arg_refused("2026/05/01");
    assert_time_arg_refused("2026-02-30"); /* dates that do not exist */
    assert_time_arg_refused("2023-02-29");
    assert_time_arg_refused("2026-13-01");
    assert_time_arg_refused("2026-05-01T24:00");
    assert_time_arg_refused("2026-05-01T06:60");
    assert_time_arg_refused("2026-05-01T06:00:60");
    assert_int_equal(time_arg("2024-02-29", 0), INT64_C(1709164800) * S);
}

/* An instant before 1970 in UTC is refused, also when the local date is 1970. */
static void test_time_arg_before_1970_in_utc(void **state)
{
    (void)state;
    assert_int_equal(time_arg("1970-01-01T08:00+08:00", 0), 0);
    assert_time_arg_refused("1970-01-01T07:59:59+08:00");
    assert_time_arg_refused("1970-01-01T07:59:59.999999999+08:00");
    assert_int_equal(time_arg("1970-01-01", 0), 0);
    assert_int_equal(time_arg("1970-01-01", 480), NOT_SET);
    assert_time_arg_refused("1969-12-31T23:59:59Z");
    assert_time_arg_refused("1969-12-31");
}

/* The top of the range with a zone that moves the instant down stays exact. */
static void test_time_arg_near_the_upper_bound(void **state)
{
    (void)state;
    assert_int_equal(time_arg("2262-04-11T23:47:16.854775807Z", 0), INT64_MAX);
    assert_int_equal(time_arg("2262-04-11T23:47:16.854775807+00:01", 0), INT64_MAX - MINUTE);
    assert_int_equal(time_arg("2262-04-11T23:46:16-00:01", 0), INT64_C(9223372036) * S);
    assert_time_arg_refused("2262-04-11T23:47:16.854775808Z");
    assert_time_arg_refused("2611-01-01");
}

/* A local time whose date is outside 1970..2262 but whose UTC instant is inside is one of
 * the documented forms for a date that exists: it must be read. */
static void test_time_arg_local_date_outside_range_utc_inside(void **state)
{
    (void)state;
    /* 1970-01-01T01:00:00Z */
    assert_int_equal(time_arg("1969-12-31T20:00-05:00", 0), HOUR);
    assert_int_equal(time_arg("1969-12-31T20:00", -300), HOUR);
    /* 2262-04-11T17:00:00Z */
    assert_int_equal(time_arg("2262-04-12T01:00+08:00", 0), INT64_C(9223347600) * S);
}

/* A zone west of UTC near the top of the range moves the instant past the largest count of
 * nanoseconds: refused, as selgw_utc_from_civil refuses such instants, never wrapped around
 * to a time before 1970. */
static void test_time_arg_refuses_instants_past_2262_west_of_utc(void **state)
{
    (void)state;
    assert_time_arg_refused("2262-04-11T23:47:16.854775807-00:01");
    assert_time_arg_refused("2262-04-11T23:47:16-05:30");
    assert_int_equal(time_arg("2262-04-11T23:00", -300), NOT_SET);
}

/* ---- selgw_parse_cli_time ------------------------------------------------------------- */

/* The command line's times: selgw_parse_time_arg's forms, each read as that function reads
 * it at the same default offset, and whether the text gave its zone. */
static void test_parse_cli_time_accepts_every_form(void **state)
{
    (void)state;
    static const char *const forms[] = {
        "2026-05-01",
        "2026-05-01T06:00",
        "2026-05-01 06:00:00",
        "2026-05-01T06:00:00Z",
        "2026-05-01T06:00:00.25Z",
        "2026-05-01T08:00+08:00",
        "2026-05-01T00:30-05:30",
        "2262-04-11T23:47:16.854775807Z",
        "1970-01-01",
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        for (int offset = -330; offset <= 480; offset += 810) {
            int64_t ns = NOT_SET;
            bool zoned = false;
            char why[256] = "untouched";
            int64_t want = time_arg(forms[i], offset); /* NOT_SET: out of range there */
            bool read = selgw_parse_cli_time(forms[i], offset, &ns, &zoned, why, sizeof why);
            if (want == NOT_SET) {
                assert_false(read); /* e.g. 1970-01-01 at +08:00 is in 1969 */
                continue;
            }
            if (!read)
                fail_msg("\"%s\" refused: %s", forms[i], why);
            assert_int_equal(ns, want);
            assert_int_equal(zoned, strpbrk(forms[i] + 10, "Z+-") != NULL);
            assert_string_equal(why, "untouched"); /* nothing written when it is read */
        }
    }
    int64_t ns = NOT_SET;
    bool zoned = true;
    assert_true(selgw_parse_cli_time("2026-05-01T06:00", 0, &ns, &zoned, NULL, 0));
    assert_int_equal(ns, T_2026_05_01 + 6 * HOUR); /* UTC, not the machine's zone */
    assert_false(zoned);
    /* a bare date at the gateway's +08:00 is its local midnight */
    assert_true(selgw_parse_cli_time("2026-05-01", 480, &ns, &zoned, NULL, 0));
    assert_int_equal(ns, T_2026_05_01 - 8 * HOUR);
    assert_true(selgw_parse_cli_time("2026-05-01T00:00Z", 480, &ns, &zoned, NULL, 0));
    assert_int_equal(ns, T_2026_05_01);
    assert_true(zoned);
}

/* Local time at an offset, as the CLI says how it read a time without its zone. */
static void test_format_local(void **state)
{
    (void)state;
    char buf[SELGW_INSTANT_TEXT_SIZE];
    assert_string_equal(selgw_format_local(T_2026_05_01 - 8 * HOUR, 480, buf),
                        "2026-05-01T00:00:00+08:00");
    assert_string_equal(selgw_format_local(T_2026_05_01 + 5 * HOUR + 30 * 60 * S, -330, buf),
                        "2026-05-01T00:00:00-05:30");
    assert_string_equal(selgw_format_local(T_2026_05_01 + S / 4, 480, buf),
                        "2026-05-01T08:00:00.25+08:00");
    assert_string_equal(selgw_format_local(T_2026_05_01, 0, buf), "2026-05-01T00:00:00Z");
}

/* Every refusal quotes the text and names the forms (what `selgw journal --from yesterday`
 * prints after the flag's name); a NULL why is allowed. */
static void test_parse_cli_time_refusals_say_why(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "yesterday",
        "",
        "08:00",
        "2026-5-1",
        "2026-02-30",
        "2026-05-01T24:00",
        "2026-05-01T08:00+15:00",
        "2026-05-01 ",
        "1969-12-31",
        "2262-04-12",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int64_t ns = NOT_SET;
        char why[256], expected[256];
        bool zoned;
        if (selgw_parse_cli_time(refused[i], 0, &ns, &zoned, why, sizeof why))
            fail_msg("\"%s\" was read as %lld", refused[i], (long long)ns);
        snprintf(expected, sizeof expected,
                 "'%s' is not a time: TIME is YYYY-MM-DD[THH:MM[:SS[.fraction]]], with its zone "
                 "(Z, +08:00) or else in the gateway's utc_offset, from 1970 to 2262",
                 refused[i]);
        assert_string_equal(why, expected);
    }
    int64_t ns = NOT_SET;
    bool zoned;
    assert_false(selgw_parse_cli_time("tomorrow", 0, &ns, &zoned, NULL, 0));
    /* a short buffer holds the start of the message, terminated */
    char small[12];
    assert_false(selgw_parse_cli_time("tomorrow", 0, &ns, &zoned, small, sizeof small));
    assert_string_equal(small, "'tomorrow' ");
}

/* ---- selgw_format_utc ----------------------------------------------------------------- */

static const char *format_utc(int64_t ns)
{
    return formatted(selgw_format_utc, SELGW_UTC_TEXT_SIZE, ns);
}

static void test_format_utc(void **state)
{
    (void)state;
    assert_string_equal(format_utc(0), "1970-01-01T00:00:00.000000Z");
    assert_string_equal(format_utc(T_2026_11_28_135521 + 123456789), "2026-11-28T13:55:21.123456Z");
    /* microseconds, cut rather than rounded: never a second that has not begun */
    assert_string_equal(format_utc(T_2026_11_28_135521 + 999999999), "2026-11-28T13:55:21.999999Z");
    assert_string_equal(format_utc(T_2026_11_28_135521 + 999), "2026-11-28T13:55:21.000000Z");
    assert_string_equal(format_utc(T_2026_11_28_135521 + 1000), "2026-11-28T13:55:21.000001Z");
    /* before 1970, floor division keeps the second and the fraction right */
    assert_string_equal(format_utc(-1), "1969-12-31T23:59:59.999999Z");
    assert_string_equal(format_utc(INT64_MAX), "2262-04-11T23:47:16.854775Z");
    assert_string_equal(format_utc(INT64_C(2147483648) * S), "2038-01-19T03:14:08.000000Z");
}

/* ---- selgw_format_day, selgw_clock_synchronised ------------------------------------- */

static void test_format_day(void **state)
{
    (void)state;
    char buf[SELGW_DAY_TEXT_SIZE];
    assert_string_equal(selgw_format_day(0, buf), "1970-01-01");
    assert_string_equal(selgw_format_day((int32_t)(T_2026_05_01 / (86400 * S)), buf), "2026-05-01");
    assert_string_equal(selgw_format_day(-1, buf), "1969-12-31");
    assert_string_equal(selgw_format_day(19782, buf), "2024-02-29"); /* a leap day */
    assert_string_equal(selgw_format_day(2932896, buf), "9999-12-31");
}

/* The answer depends on the machine; what is checked is that it always says which. */
static void test_clock_synchronised_says_which(void **state)
{
    (void)state;
    char text[128] = "untouched";
    bool synced = selgw_clock_synchronised(text, sizeof text);
    assert_non_null(strstr(text, synced ? "synchronised, estimated error" : "not synchronised"));
}

/* Offsets as text, and the local day of an instant at an offset (rounding down, also
 * before 1970). */
static void test_offset_text_and_local_day(void **state)
{
    (void)state;
    char text[SELGW_OFFSET_TEXT_SIZE];
    assert_string_equal(selgw_format_utc_offset(8 * 60, text), "+08:00");
    assert_string_equal(selgw_format_utc_offset(0, text), "+00:00");
    assert_string_equal(selgw_format_utc_offset(-(3 * 60 + 30), text), "-03:30");
    assert_string_equal(selgw_format_utc_offset(14 * 60, text), "+14:00");
    const int64_t hour = 3600 * SELGW_NS_PER_S;
    assert_int_equal(selgw_local_day(0, 0), 0);
    assert_int_equal(selgw_local_day(16 * hour - 1, 8 * 60), 0);
    assert_int_equal(selgw_local_day(16 * hour, 8 * 60), 1);
    assert_int_equal(selgw_local_day(-1, 0), -1);
    assert_int_equal(selgw_local_day(-8 * hour, 8 * 60), 0);
    assert_int_equal(selgw_local_day(-8 * hour - 1, 8 * 60), -1);
    assert_int_equal(selgw_local_day(2 * hour, -3 * 60), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_instant_known_values),
        cmocka_unit_test(test_instant_fraction_digits_round_trip),
        cmocka_unit_test(test_parse_instant_requires_z),
        cmocka_unit_test(test_parse_instant_refuses_other_forms),
        cmocka_unit_test(test_parse_instant_field_ranges),
        cmocka_unit_test(test_parse_instant_dates_that_do_not_exist),
        cmocka_unit_test(test_parse_instant_bounds),
        cmocka_unit_test(test_parse_instant_refuses_fraction_with_trailing_zeros),
        cmocka_unit_test(test_civil_bounds),
        cmocka_unit_test(test_civil_field_ranges),
        cmocka_unit_test(test_civil_and_instant_every_day),
        cmocka_unit_test(test_time_arg_date_only),
        cmocka_unit_test(test_time_arg_time_forms),
        cmocka_unit_test(test_time_arg_zones),
        cmocka_unit_test(test_time_arg_refusals),
        cmocka_unit_test(test_time_arg_before_1970_in_utc),
        cmocka_unit_test(test_time_arg_near_the_upper_bound),
        cmocka_unit_test(test_time_arg_local_date_outside_range_utc_inside),
        cmocka_unit_test(test_parse_cli_time_accepts_every_form),
        cmocka_unit_test(test_parse_cli_time_refusals_say_why),
        cmocka_unit_test(test_format_local),
        cmocka_unit_test(test_format_utc),
        cmocka_unit_test(test_format_day),
        cmocka_unit_test(test_clock_synchronised_says_which),
        /* last: its signed overflow stops a sanitizer build's binary */
        cmocka_unit_test(test_time_arg_refuses_instants_past_2262_west_of_utc),
        cmocka_unit_test(test_offset_text_and_local_day),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
