#include "base/log.h"

#include <stdatomic.h>
#include <stdio.h>

#include "base/clock.h"

static atomic_int log_level = SELGW_LOG_INFO;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void selgw_log_set_level(selgw_log_level level)
{
    atomic_store(&log_level, (int)level);
}

void selgw_log(selgw_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    char when[SELGW_UTC_TEXT_SIZE];
    selgw_format_utc(selgw_utc_ns(), when);
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* One fprintf per line: stdio locks the stream, so lines of threads do not mix. */
    fprintf(stderr, "%s selgw %s: %s\n", when, level_names[level], text);
}

void selgw_repeat_fail(selgw_repeat *r, const char *what, selgw_err err, const char *detail)
{
    if (r->err == err) {
        r->count++;
        return;
    }
    if (r->err != SELGW_OK)
        selgw_log(SELGW_LOG_WARN, "%s: %s%s%s (after %lu failure%s: %s)", what, selgw_strerror(err),
                  detail ? ": " : "", detail ? detail : "", r->count, r->count == 1 ? "" : "s",
                  selgw_strerror(r->err));
    else
        selgw_log(SELGW_LOG_WARN, "%s: %s%s%s", what, selgw_strerror(err), detail ? ": " : "",
                  detail ? detail : "");
    r->err = err;
    r->count = 1;
}

void selgw_repeat_ok(selgw_repeat *r, const char *what)
{
    if (r->err == SELGW_OK)
        return;
    selgw_log(SELGW_LOG_INFO, "%s: back to normal after %lu failure%s (%s)", what, r->count,
              r->count == 1 ? "" : "s", selgw_strerror(r->err));
    r->err = SELGW_OK;
    r->count = 0;
}
