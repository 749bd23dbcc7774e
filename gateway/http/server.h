/* selgw: the local HTTP API of a running gateway (libmicrohttpd).
 *
 * GET /metrics (Prometheus text), /api/v1/status, /api/v1/latest and
 * /api/v1/latest/<device> (JSON); docs/METRICS.md and docs/API.md describe them. It only
 * reads: every answer is encoded from a snapshot the status source builds, and nothing it
 * receives reaches the pipeline. One worker thread (base/worker.h) runs the server; a
 * scrape costs one snapshot and one encoding. */
#ifndef SELGW_HTTP_SERVER_H
#define SELGW_HTTP_SERVER_H

#include <stddef.h>

#include "base/error.h"
#include "http/status.h"

typedef struct selgw_http_server selgw_http_server;

/* Listens on `listen` ("127.0.0.1:9108", see base/listen.h) and serves from source on its
 * own thread. SELGW_ERR_INVALID for a bad address, SELGW_ERR_IO when it cannot listen
 * (the port is taken): why says which. */
selgw_err selgw_http_server_new(const char *listen, selgw_status_source_fn source, void *source_ctx,
                                selgw_http_server **out, char *why, size_t why_cap);
/* Stops the thread (answers in progress finish) and closes the socket; NULL is fine. */
void selgw_http_server_free(selgw_http_server *s);

#endif
