/* selgw: operator log on stderr, and logging a repeated error once with a count.
 *
 * A sensor that stops answering fails every poll; logging each failure would bury
 * everything else. A selgw_repeat remembers the current failure of one source: the
 * first failure is logged, repeats are only counted, and the recovery (or a different
 * failure) is logged with the count of what was suppressed. */
#ifndef SELGW_LOG_H
#define SELGW_LOG_H

#include <stdarg.h>

#include "base/error.h"

typedef enum selgw_log_level {
    SELGW_LOG_ERROR,
    SELGW_LOG_WARN,
    SELGW_LOG_INFO,
    SELGW_LOG_DEBUG
} selgw_log_level;

/* Messages above this level are dropped; default INFO. */
void selgw_log_set_level(selgw_log_level level);
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
