#include "base/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *token;
    const char *text;
} error_table[SELGW_ERR_COUNT_] = {
    [SELGW_OK] = {"ok", "success"},
    [SELGW_ERR_NOMEM] = {"no_memory", "out of memory"},
    [SELGW_ERR_INVALID] = {"invalid", "invalid argument or value"},
    [SELGW_ERR_CONFIG] = {"config", "configuration rejected"},
    [SELGW_ERR_IO] = {"io", "input/output error"},
    [SELGW_ERR_CONNECT] = {"connect_failed", "cannot connect (peer, server or serial line)"},
    [SELGW_ERR_DISCONNECTED] = {"disconnected", "connection or line lost"},
    [SELGW_ERR_TIMEOUT] = {"timeout", "no answer within the response timeout"},
    [SELGW_ERR_EXCEPTION] = {"exception", "device answered with a Modbus exception"},
    [SELGW_ERR_BAD_FRAME] = {"bad_frame", "corrupt answer (CRC, length or header)"},
    [SELGW_ERR_RANGE] = {"range", "value out of range"},
    [SELGW_ERR_CORRUPT] = {"corrupt", "stored data is corrupt"},
    [SELGW_ERR_NO_SPACE] = {"no_space", "no space left on the disk"},
    [SELGW_ERR_FULL] = {"journal_full", "journal disk budget used up"},
    [SELGW_ERR_AGAIN] = {"again", "nothing available yet"},
    [SELGW_ERR_AUTH] = {"auth", "server refused the credentials"},
    [SELGW_ERR_NOT_FOUND] = {"not_found", "not found (no such file or chain, or no such "
                                          "database, bucket or organisation on the server)"},
    [SELGW_ERR_REJECTED] = {"rejected", "server rejected the data"},
    [SELGW_ERR_TOO_LARGE] = {"too_large", "server refused the request as too large"},
    [SELGW_ERR_SERVER] = {"server", "server overloaded or failing"},
    [SELGW_ERR_PERMISSION] = {"permission", "permission denied"},
};

const char *selgw_strerror(selgw_err err)
{
    if ((unsigned)err >= SELGW_ERR_COUNT_)
        return "unknown error";
    return error_table[err].text;
}

const char *selgw_err_token(selgw_err err)
{
    if ((unsigned)err >= SELGW_ERR_COUNT_)
        return "unknown";
    return error_table[err].token;
}

void selgw_explain(char *why, size_t why_cap, const char *fmt, ...)
{
    if (!why || !why_cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_cap, fmt, ap);
    va_end(ap);
}

selgw_err selgw_err_from_errno(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
        return SELGW_ERR_NO_SPACE;
    case ENOMEM:
        return SELGW_ERR_NOMEM;
    case EACCES:
    case EPERM:
        return SELGW_ERR_PERMISSION;
    case ENOENT:
        return SELGW_ERR_NOT_FOUND;
    case EINVAL:
        return SELGW_ERR_INVALID;
    default:
        return SELGW_ERR_IO;
    }
}

selgw_err selgw_explain_errno(char *why, size_t why_cap, int e, const char *fmt, ...)
{
    if (why && why_cap) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(why, why_cap, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < why_cap)
            snprintf(why + n, why_cap - (size_t)n, ": %s", strerror(e));
    }
    errno = e;
    return selgw_err_from_errno(e);
}
