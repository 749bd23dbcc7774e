#include "clock.h"

#include <errno.h>
#include <stdio.h>
#include <time.h>

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

char *selgw_format_utc(int64_t utc_ns, char buf[SELGW_UTC_TEXT_SIZE])
{
    /* Floor division, so that instants before 1970 still format correctly. */
    int64_t secs = utc_ns / SELGW_NS_PER_S;
    int64_t rem = utc_ns % SELGW_NS_PER_S;
    if (rem < 0) {
        rem += SELGW_NS_PER_S;
        secs--;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, SELGW_UTC_TEXT_SIZE, "invalid-time");
        return buf;
    }
    size_t n = strftime(buf, SELGW_UTC_TEXT_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, SELGW_UTC_TEXT_SIZE - n, ".%06uZ", (unsigned)(rem / 1000) % 1000000u);
    return buf;
}
