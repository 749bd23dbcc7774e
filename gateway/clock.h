/* selgw: the two clocks the gateway uses.
 * Scheduling runs on CLOCK_MONOTONIC so that a clock step (NTP, an operator setting the
 * date) neither skips nor repeats polls; readings are stamped with CLOCK_REALTIME (UTC). */
#ifndef SELGW_CLOCK_H
#define SELGW_CLOCK_H

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

#endif
