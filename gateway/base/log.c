#include "base/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "base/clock.h"

static atomic_int log_level = SELGW_LOG_INFO;

static const char *const level_names[] = {"error", "warning", "info", "debug"};
/* The syslog priorities journald reads from a "<N>" prefix (sd-daemon.h's SD_ERR... are
 * these numbers). */
static const int level_priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static pthread_once_t style_once = PTHREAD_ONCE_INIT;
static selgw_log_style style = SELGW_LOG_STYLE_PLAIN;

selgw_log_style selgw_log_style_for(const char *journal_stream, bool stat_ok,
                                    unsigned long long dev, unsigned long long ino)
{
    if (!journal_stream || !stat_ok)
        return SELGW_LOG_STYLE_PLAIN;
    unsigned long long want_dev, want_ino;
    char rest;
    if (sscanf(journal_stream, "%llu:%llu%c", &want_dev, &want_ino, &rest) != 2)
        return SELGW_LOG_STYLE_PLAIN;
    return want_dev == dev && want_ino == ino ? SELGW_LOG_STYLE_JOURNAL : SELGW_LOG_STYLE_PLAIN;
}

#define LEVEL_COUNT (sizeof level_priorities / sizeof level_priorities[0])
static char journal_prefixes[LEVEL_COUNT][8]; /* "<3>"...; "" when not on the journal */

static void choose_style(void)
{
    struct stat st;
    bool stat_ok = fstat(STDERR_FILENO, &st) == 0;
    style = selgw_log_style_for(getenv("JOURNAL_STREAM"), stat_ok,
                                stat_ok ? (unsigned long long)st.st_dev : 0,
                                stat_ok ? (unsigned long long)st.st_ino : 0);
    if (style == SELGW_LOG_STYLE_JOURNAL)
        for (size_t i = 0; i < LEVEL_COUNT; i++)
            snprintf(journal_prefixes[i], sizeof journal_prefixes[i], "<%d>", level_priorities[i]);
}

bool selgw_log_level_parse(const char *name, selgw_log_level *out)
{
    static const struct {
        const char *name;
        selgw_log_level level;
    } names[] = {{"error", SELGW_LOG_ERROR},
                 {"warn", SELGW_LOG_WARN},
                 {"warning", SELGW_LOG_WARN},
                 {"info", SELGW_LOG_INFO},
                 {"debug", SELGW_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i].name)) {
            *out = names[i].level;
            return true;
        }
    return false;
}

void selgw_log_set_level(selgw_log_level level)
{
    atomic_store(&log_level, (int)level);
}

bool selgw_log_enabled(selgw_log_level level)
{
    return (int)level <= atomic_load(&log_level);
}

const char *selgw_log_journal_prefix(selgw_log_level level)
{
    pthread_once(&style_once, choose_style);
    return (unsigned)level < LEVEL_COUNT ? journal_prefixes[level] : "";
}

void selgw_log(selgw_log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    pthread_once(&style_once, choose_style);
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* One fprintf per line: stdio locks the stream, so lines of threads do not mix. */
    if (style == SELGW_LOG_STYLE_JOURNAL) {
        fprintf(stderr, "<%d>%s: %s\n", level_priorities[level], level_names[level], text);
        return;
    }
    char when[SELGW_UTC_TEXT_SIZE];
    selgw_format_utc(selgw_utc_ns(), when);
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
