/* selgw: one error enum for the whole gateway, and its strerror. */
#ifndef SELGW_ERROR_H
#define SELGW_ERROR_H

#include <stddef.h>

typedef enum selgw_err {
    SELGW_OK = 0,
    SELGW_ERR_NOMEM,        /* allocation failed */
    SELGW_ERR_INVALID,      /* invalid argument or value */
    SELGW_ERR_CONFIG,       /* configuration or profile rejected; diagnostics say where */
    SELGW_ERR_IO,           /* local I/O error (file, device node) */
    SELGW_ERR_CONNECT,      /* could not connect to the TCP peer or open the serial line */
    SELGW_ERR_DISCONNECTED, /* connection or line lost during a transaction */
    SELGW_ERR_TIMEOUT,      /* nobody answered (completely) within the response timeout */
    SELGW_ERR_EXCEPTION,    /* the device answered with a Modbus exception: it said "no" */
    SELGW_ERR_BAD_FRAME,    /* an answer arrived but was corrupt (CRC, length, unit, function) */
    SELGW_ERR_RANGE,        /* a value does not fit the representation asked for */
    SELGW_ERR_CORRUPT,      /* stored data fails its checks (journal CRC, sequence, framing) */
    SELGW_ERR_NO_SPACE,     /* the disk is full (ENOSPC, EDQUOT) */
    SELGW_ERR_FULL,         /* the journal's disk budget for undelivered data is used up */
    SELGW_ERR_AGAIN,        /* nothing yet: try again later (e.g. no new record to read) */
    SELGW_ERR_AUTH,         /* the server refused our credentials (401/403, MQTT not authorised) */
    SELGW_ERR_NOT_FOUND,    /* no such file or chain (ENOENT); the server has no such
                               database, bucket or org (404) */
    SELGW_ERR_REJECTED,     /* the server refused the data itself (400, 422, MQTT v5 refusal) */
    SELGW_ERR_TOO_LARGE,    /* the server refused the request as too large (413) */
    SELGW_ERR_SERVER,       /* the server is overloaded or failing (429, 5xx): retry later */
    SELGW_ERR_PERMISSION,   /* this user may not use a file or device (EACCES, EPERM) */
    SELGW_ERR_COUNT_        /* number of codes, not an error */
} selgw_err;

/* A short English description; never NULL, also for unknown codes. */
const char *selgw_strerror(selgw_err err);

/* A stable lower-case token for machine-readable output (JSON), e.g. "timeout". */
const char *selgw_err_token(selgw_err err);

/* A local file or system call's errno as selgw_err, at the boundary where it is read:
 * ENOSPC and EDQUOT are SELGW_ERR_NO_SPACE, ENOMEM SELGW_ERR_NOMEM, ENOENT
 * SELGW_ERR_NOT_FOUND, EINVAL SELGW_ERR_INVALID, EACCES and EPERM SELGW_ERR_PERMISSION,
 * anything else SELGW_ERR_IO; 0 too (it
 * is called on a failure, and a call that failed without saying why still failed). */
selgw_err selgw_err_from_errno(int e);

/* Writes the explanation of a failure into a caller's `why` buffer (which may be NULL),
 * as the functions that take one do. */
void selgw_explain(char *why, size_t why_cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A failed system call at a boundary that explains itself: writes "<fmt>: <strerror(e)>"
 * into `why` (which may be NULL) and returns selgw_err_from_errno(e), with errno left at
 * e. E.g. `return selgw_explain_errno(why, why_cap, errno, "cannot write %s", path);` */
selgw_err selgw_explain_errno(char *why, size_t why_cap, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
