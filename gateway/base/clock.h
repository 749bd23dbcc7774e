/* selgw: the two clocks the gateway uses.
 * Scheduling runs on CLOCK_MONOTONIC so that a clock step (NTP, an operator setting the
 * date) neither skips nor repeats polls; readings are stamped with CLOCK_REALTIME (UTC). */
#ifndef SELGW_CLOCK_H
#define SELGW_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SELGW_NS_PER_MS INT64_C(1000000)
#define SELGW_NS_PER_S INT64_C(1000000000)

int64_t selgw_mono_ns(void);
int64_t selgw_utc_ns(void);

/* Sleeps until the monotonic clock reaches deadline_ns (returns at once if it has). */
void selgw_sleep_until(int64_t deadline_ns);

/* Formats a UTC instant as RFC 3339 with microseconds, e.g. "2026-11-28T13:55:21.123456Z".
 * Pure. Needs SELGW_UTC_TEXT_SIZE bytes; returns buf. */
#define SELGW_UTC_TEXT_SIZE 32
char *selgw_format_utc(int64_t utc_ns, char buf[SELGW_UTC_TEXT_SIZE]);

/* A day counted from 1970-01-01 (day 0) as its UTC date, "2026-05-01" (contract dates).
 * Needs SELGW_DAY_TEXT_SIZE bytes; returns buf. */
#define SELGW_DAY_TEXT_SIZE 16
char *selgw_format_day(int32_t day, char buf[SELGW_DAY_TEXT_SIZE]);

/* A date "YYYY-MM-DD" (1900 or later, a day that exists) as days since 1970-01-01; false if
 * the text is anything else. */
bool selgw_parse_date(const char *text, int32_t *out);

/* An offset in minutes east of UTC as "+08:00" / "-03:30". Needs SELGW_OFFSET_TEXT_SIZE
 * bytes; returns buf. */
#define SELGW_OFFSET_TEXT_SIZE 16
char *selgw_format_utc_offset(int offset_minutes, char buf[SELGW_OFFSET_TEXT_SIZE]);
/* The inverse, as strict as what it writes: "+HH:MM" or "-HH:MM", at most 14:59 (a text in a
 * record: anything else is false). */
bool selgw_parse_utc_offset(const char *text, int *offset_minutes);

/* The local day (days since 1970-01-01) of a UTC instant at an offset in minutes east of
 * UTC: the day of contracts, of a dashboard's "today", of an alert text's date. Rounds
 * down, so an instant before 1970 falls on the day it is in. */
int32_t selgw_local_day(int64_t utc_ns, int offset_minutes);

/* Days since 1970-01-01 of a proleptic Gregorian date (no validation); and the inverse. */
int32_t selgw_days_from_civil(int year, unsigned month, unsigned day);
void selgw_civil_from_days(int32_t days, int *year, unsigned *month, unsigned *day);

/* An exact instant as RFC 3339 in UTC with as many fraction digits as it needs (none, or
 * 1 to 9): "2026-11-28T13:55:21Z", "2026-11-28T13:55:21.5Z". selgw_parse_instant reads
 * back exactly that form (and no other), so an instant survives a round trip. */
#define SELGW_INSTANT_TEXT_SIZE 40
char *selgw_format_instant(int64_t utc_ns, char buf[SELGW_INSTANT_TEXT_SIZE]);
bool selgw_parse_instant(const char *text, int64_t *utc_ns);

/* A time typed on the command line: "2026-05-01", "2026-05-01T06:00", "2026-05-01 06:00:00",
 * "2026-05-01T06:00:00.25Z", "2026-05-01T08:00+08:00" (a fraction of 1 to 9 digits; a
 * zone of Z or +HH:MM / -HH:MM). Without a zone the time is at default_offset_minutes
 * from UTC. False for anything else or a date that does not exist. */
bool selgw_parse_time_arg(const char *text, int default_offset_minutes, int64_t *utc_ns);

/* A UTC calendar time as nanoseconds since 1970. False when the date does not exist
 * (2026-02-30, month 13, second 60) or the instant is outside what the gateway's
 * timestamps hold: from 1970-01-01T00:00:00Z to 2262-04-11T23:47:16.854775807Z (the
 * largest signed 64-bit count of nanoseconds). */
bool selgw_utc_from_civil(int year, int month, int day, int hour, int minute, int second,
                          int64_t fraction_ns, int64_t *utc_ns);

/* The forms of a time on the command line, for messages and help texts. */
#define SELGW_TIME_FORMS                                                                           \
    "YYYY-MM-DD[THH:MM[:SS[.fraction]]], with its zone (Z, +08:00) or else in the gateway's "      \
    "utc_offset"

/* A time typed on the command line (--from, --to): one of selgw_parse_time_arg's forms.
 * *zoned says whether the text gave its zone; without one it is read at
 * default_offset_minutes (the caller says which it used: see selgw_format_local). On
 * failure false, and why (if not NULL) quotes the text and says which forms are read:
 * "'yesterday' is not a time: TIME is " SELGW_TIME_FORMS ", from 1970 to 2262". One
 * message for every refusal: the forms are few, and the quoted text shows what differs from
 * them (a date that does not exist reads as one too). */
bool selgw_parse_cli_time(const char *text, int default_offset_minutes, int64_t *utc_ns,
                          bool *zoned, char *why, size_t why_cap);

/* An instant as local time at an offset from UTC, "2026-04-01T00:00:00+08:00" (with the
 * fraction selgw_format_instant would give it); at offset 0, selgw_format_instant's "Z". */
char *selgw_format_local(int64_t utc_ns, int offset_minutes, char buf[SELGW_INSTANT_TEXT_SIZE]);

/* Whether the kernel believes the clock synchronised (adjtimex: not STA_UNSYNC), with a
 * short description for the record and the log ("synchronised, estimated error 12 us" /
 * "not synchronised (kernel reports STA_UNSYNC)"). */
bool selgw_clock_synchronised(char *text, size_t cap);

#endif
