#include "base/clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>

#include "base/error.h"

static int64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * SELGW_NS_PER_S + ts.tv_nsec;
}

int64_t selgw_mono_ns(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

int64_t selgw_utc_ns(void)
{
    return read_clock(CLOCK_REALTIME);
}

void selgw_sleep_until(int64_t deadline_ns)
{
    struct timespec ts = {.tv_sec = deadline_ns / SELGW_NS_PER_S,
                          .tv_nsec = deadline_ns % SELGW_NS_PER_S};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* A UTC instant as calendar fields and nanoseconds into its second (floor division, so
 * that instants before 1970 format right too); false if gmtime cannot represent it. */
static bool split_utc(int64_t utc_ns, struct tm *tm, int64_t *frac_ns)
{
    int64_t secs = utc_ns / SELGW_NS_PER_S;
    int64_t frac = utc_ns % SELGW_NS_PER_S;
    if (frac < 0) {
        frac += SELGW_NS_PER_S;
        secs--;
    }
    time_t t = (time_t)secs;
    *frac_ns = frac;
    return gmtime_r(&t, tm) != NULL;
}

/* "YYYY-MM-DDTHH:MM:SS" of a UTC instant into buf, and the nanoseconds into its second;
 * the length written, or 0 (and "invalid-time" in buf) when it cannot be represented or
 * leaves less than `room` bytes for what follows. */
static size_t format_seconds(int64_t utc_ns, char *buf, size_t cap, size_t room, int64_t *frac)
{
    struct tm tm;
    size_t n = split_utc(utc_ns, &tm, frac) ? strftime(buf, cap, "%Y-%m-%dT%H:%M:%S", &tm) : 0;
    if (n == 0 || n + room > cap) {
        snprintf(buf, cap, "invalid-time");
        return 0;
    }
    return n;
}

/* n as exactly `width` decimal digits at p (n < 10^width). */
static void put_digits(char *p, unsigned n, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + n % 10);
        n /= 10;
    }
}

/* Written by hand rather than with strftime and snprintf: every record's JSON carries a
 * time, and formatting it was a tenth of the MQTT sink's instructions (docs/BENCHMARKS.md).
 * The output is the same as the general path's below, which the rare years that do not
 * have four digits still take. */
char *selgw_format_utc(int64_t utc_ns, char buf[SELGW_UTC_TEXT_SIZE])
{
    int64_t secs = utc_ns / SELGW_NS_PER_S;
    int64_t frac_ns = utc_ns % SELGW_NS_PER_S;
    if (frac_ns < 0) {
        frac_ns += SELGW_NS_PER_S;
        secs--;
    }
    int64_t days = secs / 86400;
    int64_t second_of_day = secs % 86400;
    if (second_of_day < 0) {
        second_of_day += 86400;
        days--;
    }
    int year;
    unsigned month, mday;
    selgw_civil_from_days((int32_t)days, &year, &month, &mday);
    if (year >= 1000 && year <= 9999) {
        unsigned sod = (unsigned)second_of_day;
        put_digits(buf, (unsigned)year, 4);
        buf[4] = '-';
        put_digits(buf + 5, month, 2);
        buf[7] = '-';
        put_digits(buf + 8, mday, 2);
        buf[10] = 'T';
        put_digits(buf + 11, sod / 3600, 2);
        buf[13] = ':';
        put_digits(buf + 14, sod / 60 % 60, 2);
        buf[16] = ':';
        put_digits(buf + 17, sod % 60, 2);
        buf[19] = '.';
        put_digits(buf + 20, (unsigned)(frac_ns / 1000), 6);
        buf[26] = 'Z';
        buf[27] = '\0';
        return buf;
    }
    int64_t frac;
    size_t n = format_seconds(utc_ns, buf, SELGW_UTC_TEXT_SIZE, 9, &frac);
    if (n)
        snprintf(buf + n, SELGW_UTC_TEXT_SIZE - n, ".%06uZ", (unsigned)(frac / 1000) % 1000000u);
    return buf;
}

char *selgw_format_day(int32_t day, char buf[SELGW_DAY_TEXT_SIZE])
{
    int year;
    unsigned month, mday;
    selgw_civil_from_days(day, &year, &month, &mday);
    if (year < 0 || year > 9999)
        snprintf(buf, SELGW_DAY_TEXT_SIZE, "invalid-day");
    else
        snprintf(buf, SELGW_DAY_TEXT_SIZE, "%04d-%02u-%02u", year, month % 100u, mday % 100u);
    return buf;
}

static bool civil_seconds(int year, int month, int day, int hour, int minute, int second,
                          int64_t *out)
{
    if (year < 1 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 ||
        hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59)
        return false;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = month - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = minute,
                    .tm_sec = second};
    time_t t = timegm(&tm);
    if (tm.tm_mday != day || tm.tm_mon != month - 1) /* 2026-02-30 normalised to March */
        return false;
    *out = (int64_t)t;
    return true;
}

/* seconds (shifted by offset_s) and a fraction as nanoseconds since 1970, if in range */
static bool to_ns(int64_t seconds, int64_t offset_s, int64_t fraction_ns, int64_t *utc_ns)
{
    int64_t ns;
    if (fraction_ns < 0 || fraction_ns >= SELGW_NS_PER_S ||
        __builtin_sub_overflow(seconds, offset_s, &seconds) || seconds < 0 ||
        __builtin_mul_overflow(seconds, SELGW_NS_PER_S, &ns) ||
        __builtin_add_overflow(ns, fraction_ns, &ns))
        return false;
    *utc_ns = ns;
    return true;
}

bool selgw_utc_from_civil(int year, int month, int day, int hour, int minute, int second,
                          int64_t fraction_ns, int64_t *utc_ns)
{
    int64_t seconds;
    return civil_seconds(year, month, day, hour, minute, second, &seconds) &&
           to_ns(seconds, 0, fraction_ns, utc_ns);
}

char *selgw_format_instant(int64_t utc_ns, char buf[SELGW_INSTANT_TEXT_SIZE])
{
    int64_t frac;
    size_t n = format_seconds(utc_ns, buf, SELGW_INSTANT_TEXT_SIZE, 12, &frac);
    if (!n)
        return buf;
    if (frac) {
        char digits[16];
        snprintf(digits, sizeof digits, "%09" PRId64, frac);
        size_t len = strlen(digits);
        while (len > 1 && digits[len - 1] == '0')
            digits[--len] = '\0';
        n += (size_t)snprintf(buf + n, SELGW_INSTANT_TEXT_SIZE - n, ".%s", digits);
    }
    snprintf(buf + n, SELGW_INSTANT_TEXT_SIZE - n, "Z");
    return buf;
}

static bool parse_digits(const char **p, int count, int *out)
{
    int v = 0;
    for (int i = 0; i < count; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += count;
    *out = v;
    return true;
}

/* "YYYY-MM-DD" */
static bool parse_date(const char **p, int *year, int *mon, int *day)
{
    return parse_digits(p, 4, year) && *(*p)++ == '-' && parse_digits(p, 2, mon) &&
           *(*p)++ == '-' && parse_digits(p, 2, day);
}

/* The digits after a second's decimal point (1 to 9 of them, no more) as nanoseconds; with
 * `exact`, no trailing zero either (selgw_format_instant's one spelling of an instant). */
static bool parse_fraction(const char **p, bool exact, int64_t *frac)
{
    const char *q = *p;
    int64_t v = 0;
    int digits = 0;
    while (*q >= '0' && *q <= '9' && digits < 9) {
        v = v * 10 + (*q++ - '0');
        digits++;
    }
    if (digits == 0 || (*q >= '0' && *q <= '9') || (exact && q[-1] == '0'))
        return false;
    for (; digits < 9; digits++)
        v *= 10;
    *p = q;
    *frac = v;
    return true;
}

bool selgw_parse_instant(const char *text, int64_t *utc_ns)
{
    const char *p = text;
    int year, mon, day, hour, min, sec;
    if (!parse_date(&p, &year, &mon, &day) || *p++ != 'T' || !parse_digits(&p, 2, &hour) ||
        *p++ != ':' || !parse_digits(&p, 2, &min) || *p++ != ':' || !parse_digits(&p, 2, &sec))
        return false;
    int64_t frac = 0;
    if (*p == '.' && (p++, !parse_fraction(&p, true, &frac)))
        return false;
    if (*p++ != 'Z' || *p)
        return false;
    return selgw_utc_from_civil(year, mon, day, hour, min, sec, frac, utc_ns);
}

static bool parse_time_text(const char *text, int default_offset_minutes, int64_t *utc_ns,
                            bool *zoned)
{
    const char *p = text;
    int year, mon, day, hour = 0, min = 0, sec = 0;
    int64_t frac = 0;
    if (!parse_date(&p, &year, &mon, &day))
        return false;
    if (*p == 'T' || *p == ' ') {
        p++;
        if (!parse_digits(&p, 2, &hour) || *p++ != ':' || !parse_digits(&p, 2, &min))
            return false;
        if (*p == ':') {
            p++;
            if (!parse_digits(&p, 2, &sec))
                return false;
            if (*p == '.' && (p++, !parse_fraction(&p, false, &frac)))
                return false;
        }
    }
    int offset = default_offset_minutes;
    *zoned = *p == 'Z' || *p == '+' || *p == '-';
    if (*p == 'Z') {
        offset = 0;
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (!parse_digits(&p, 2, &oh) || *p++ != ':' || !parse_digits(&p, 2, &om) || oh > 14 ||
            om > 59)
            return false;
        offset = sign * (oh * 60 + om);
    }
    int64_t seconds;
    return !*p && civil_seconds(year, mon, day, hour, min, sec, &seconds) &&
           to_ns(seconds, (int64_t)offset * 60, frac, utc_ns);
}

bool selgw_parse_time_arg(const char *text, int default_offset_minutes, int64_t *utc_ns)
{
    bool zoned;
    return parse_time_text(text, default_offset_minutes, utc_ns, &zoned);
}

bool selgw_parse_cli_time(const char *text, int default_offset_minutes, int64_t *utc_ns,
                          bool *zoned, char *why, size_t why_cap)
{
    if (parse_time_text(text, default_offset_minutes, utc_ns, zoned))
        return true;
    selgw_explain(why, why_cap, "'%s' is not a time: TIME is %s, from 1970 to 2262", text,
                  SELGW_TIME_FORMS);
    return false;
}

bool selgw_clock_synchronised(char *text, size_t cap)
{
    struct timex tx;
    memset(&tx, 0, sizeof tx);
    int state = adjtimex(&tx);
    bool synced = state != TIME_ERROR && !(tx.status & STA_UNSYNC);
    if (synced)
        snprintf(text, cap, "synchronised, estimated error %ld us", tx.esterror);
    else
        snprintf(text, cap, "not synchronised (kernel reports STA_UNSYNC)");
    return synced;
}

int32_t selgw_days_from_civil(int year, unsigned month, unsigned day)
{
    year -= month <= 2;
    int era = (year >= 0 ? year : year - 399) / 400;
    unsigned yoe = (unsigned)(year - era * 400);
    unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + (int)doe - 719468);
}

void selgw_civil_from_days(int32_t days, int *year, unsigned *month, unsigned *day)
{
    int32_t z = days + 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int y = (int)yoe + era * 400;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = y + (*month <= 2);
}

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

bool selgw_parse_date(const char *text, int32_t *out)
{
    if (!text || strlen(text) != 10 || text[4] != '-' || text[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text[i] < '0' || text[i] > '9'))
            return false;
    int year =
        (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
    unsigned month = (unsigned)((text[5] - '0') * 10 + (text[6] - '0'));
    unsigned day = (unsigned)((text[8] - '0') * 10 + (text[9] - '0'));
    static const unsigned days_in_month[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1900 || month < 1 || month > 12 || day < 1)
        return false;
    unsigned last = days_in_month[month - 1] + (month == 2 && is_leap(year));
    if (day > last)
        return false;
    *out = selgw_days_from_civil(year, month, day);
    return true;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    if (a % b != 0 && (a < 0) != (b < 0))
        q--;
    return q;
}

char *selgw_format_utc_offset(int offset_minutes, char buf[SELGW_OFFSET_TEXT_SIZE])
{
    unsigned m = offset_minutes < 0 ? 0u - (unsigned)offset_minutes : (unsigned)offset_minutes;
    snprintf(buf, SELGW_OFFSET_TEXT_SIZE, "%c%02u:%02u", offset_minutes < 0 ? '-' : '+',
             m / 60 % 100, m % 60);
    return buf;
}

bool selgw_parse_utc_offset(const char *s, int *offset_minutes)
{
    if (!s || strlen(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':')
        return false;
    for (int i = 1; i < 6; i++)
        if (i != 3 && (s[i] < '0' || s[i] > '9'))
            return false;
    int h = (s[1] - '0') * 10 + (s[2] - '0'), m = (s[4] - '0') * 10 + (s[5] - '0');
    if (h > 14 || m > 59)
        return false;
    *offset_minutes = (s[0] == '-' ? -1 : 1) * (h * 60 + m);
    return true;
}

int32_t selgw_local_day(int64_t utc_ns, int offset_minutes)
{
    int64_t seconds = floor_div(utc_ns, SELGW_NS_PER_S) + (int64_t)offset_minutes * 60;
    return (int32_t)floor_div(seconds, 86400);
}

char *selgw_format_local(int64_t utc_ns, int offset_minutes, char buf[SELGW_INSTANT_TEXT_SIZE])
{
    if (offset_minutes == 0)
        return selgw_format_instant(utc_ns, buf);
    char text[SELGW_INSTANT_TEXT_SIZE];
    selgw_format_instant(utc_ns + (int64_t)offset_minutes * 60 * SELGW_NS_PER_S, text);
    size_t n = strlen(text);
    if (n && text[n - 1] == 'Z')
        text[n - 1] = '\0';
    char offset[SELGW_OFFSET_TEXT_SIZE];
    /* an instant is at most 29 characters without its Z; the precision tells the compiler */
    snprintf(buf, SELGW_INSTANT_TEXT_SIZE, "%.33s%.6s", text,
             selgw_format_utc_offset(offset_minutes, offset));
    return buf;
}
