/* selgw: asking the running gateway for a seal now, for `selgw export` of today's data.
 *
 * A bundle needs a seal that covers every poll begun before its end (docs/EVIDENCE.md,
 * "Export"). Rather than wait for the next signing.seal_interval, export asks the gateway
 * that holds the journal (its pid is in the journal's lock file, selgw_journal_owner) with
 * SIGUSR1, and reads the journal until a seal covering the period's end is there. */
#ifndef SELGW_EVIDENCE_SEAL_REQUEST_H
#define SELGW_EVIDENCE_SEAL_REQUEST_H

#include <stdint.h>

#include "config.h"
#include "base/error.h"

typedef struct selgw_seal_request {
    long pid;           /* the gateway asked */
    uint64_t after_seq; /* the journal's last record when it was asked */
} selgw_seal_request;

/* Sends the request. SELGW_OK: asked (req filled); SELGW_ERR_NOT_FOUND: no gateway runs on
 * the journal; SELGW_ERR_AGAIN: a process holds the journal but announced no pid;
 * SELGW_ERR_PERMISSION: this user may not signal it (EPERM); `why` says which. */
selgw_err selgw_seal_request_send(const selgw_config *cfg, selgw_seal_request *req, char *why,
                                  size_t why_cap);

/* Waits until a seal after the request covers every poll begun before until_ns, for up to
 * timeout_ms, asking again when a seal comes that does not (a poll begun before the end was
 * still on its way). SELGW_OK: it is in the journal; SELGW_ERR_TIMEOUT: not in time;
 * SELGW_ERR_NOT_FOUND: the gateway stopped without one; other: the journal cannot be
 * read (`why`). */
selgw_err selgw_seal_request_wait(const selgw_config *cfg, selgw_seal_request *req,
                                  int64_t until_ns, int64_t timeout_ms, char *why, size_t why_cap);

#endif
