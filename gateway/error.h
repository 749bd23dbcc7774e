/* selgw: one error enum for the whole gateway, and its strerror. */
#ifndef SELGW_ERROR_H
#define SELGW_ERROR_H

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
    SELGW_ERR_COUNT_        /* number of codes, not an error */
} selgw_err;

/* A short English description; never NULL, also for unknown codes. */
const char *selgw_strerror(selgw_err err);

/* A stable lower-case token for machine-readable output (JSON), e.g. "timeout". */
const char *selgw_err_token(selgw_err err);

#endif
