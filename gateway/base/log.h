/* selgw: operator log on stderr, and logging a repeated error once with a count.
 *
 * A line is "TIME selgw LEVEL: text" on a terminal or in a file. Under systemd, when stderr
 * is the journal's stream, it is "<N>LEVEL: text" instead: journald stamps the time itself
 * and reads the syslog priority N (sd-daemon.h's SD_ERR, SD_WARNING...), so `journalctl
 * -p warning` and the colours work.
 *
 * A sensor that stops answering fails every poll; logging each failure would bury
 * everything else. A selgw_repeat remembers the current failure of one source: the
 * first failure is logged, repeats are only counted, and the recovery (or a different
 * failure) is logged with the count of what was suppressed. */
#ifndef SELGW_LOG_H
#define SELGW_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "base/error.h"

typedef enum selgw_log_level {
    SELGW_LOG_ERROR,
    SELGW_LOG_WARN,
    SELGW_LOG_INFO,
    SELGW_LOG_DEBUG
} selgw_log_level;

/* Messages above this level are dropped; default INFO. */
void selgw_log_set_level(selgw_log_level level);
/* Whether a message of this level would be written: to skip the work of one that would
 * not (a library's debug callback, for instance). */
bool selgw_log_enabled(selgw_log_level level);
/* "error", "warn" (or "warning"), "info", "debug" -> *out; false for anything else. */
bool selgw_log_level_parse(const char *name, selgw_log_level *out);
#define SELGW_LOG_LEVEL_NAMES "error, warn, info or debug"

typedef enum selgw_log_style {
    SELGW_LOG_STYLE_PLAIN,   /* "2026-04-01T08:00:00.000Z selgw info: text" */
    SELGW_LOG_STYLE_JOURNAL, /* "<6>info: text": journald adds the time */
} selgw_log_style;

/* The style for a stderr whose fstat gave (dev, ino) (stat_ok false if fstat failed), given
 * $JOURNAL_STREAM (NULL when unset). systemd sets JOURNAL_STREAM to "DEV:INO" of the stream
 * it connects to the journal (systemd.exec(5)); the variable alone is not enough, since a
 * child whose stderr was redirected inherits it. Pure, for the tests. */
selgw_log_style selgw_log_style_for(const char *journal_stream, bool stat_ok,
                                    unsigned long long dev, unsigned long long ino);
/* "<N>" (journald's priority of level) when stderr is the journal, "" otherwise: for lines
 * written to stderr without selgw_log (config diagnostics), so that `journalctl -p err`
 * shows them with their positions. */
const char *selgw_log_journal_prefix(selgw_log_level level);

void selgw_log(selgw_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

typedef struct selgw_repeat {
    selgw_err err;       /* current failure, SELGW_OK when healthy */
    unsigned long count; /* failures in a row with this error */
} selgw_repeat;

/* Records a failure of `what` (e.g. "device soil-1"); logs only when it starts or changes. */
void selgw_repeat_fail(selgw_repeat *r, const char *what, selgw_err err, const char *detail);
/* Records a success; logs the recovery if `what` was failing. */
void selgw_repeat_ok(selgw_repeat *r, const char *what);

#endif
