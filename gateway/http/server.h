/* selgw: the local HTTP API of a running gateway (libmicrohttpd).
 *
 * GET /metrics (Prometheus text), /api/v1/status, /api/v1/latest and
 * /api/v1/latest/<device>, and the dashboard's /api/v1/plots, /api/v1/plots/<plot>/history
 * and /api/v1/plots/<plot>/notes (JSON); docs/METRICS.md and docs/API.md describe them;
 * and the dashboard's pages and assets, compiled in (http/pages.h, docs/DASHBOARD.md). It
 * only reads: every answer is encoded from a snapshot the status source builds, or from
 * what the history source read from the journal, and nothing it receives reaches the
 * pipeline. One worker thread (base/worker.h) runs the server; a scrape costs one snapshot
 * and one encoding. With a password every request needs it (HTTP Basic, http/auth.h); with
 * a certificate and key it speaks only HTTPS. Without a password it answers only requests
 * whose Host is an address or localhost (selgw_http_host_allowed). */
#ifndef SELGW_HTTP_SERVER_H
#define SELGW_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"
#include "http/history.h"
#include "http/status.h"

typedef struct selgw_http_server selgw_http_server;

typedef struct selgw_http_options {
    const char *listen;        /* "127.0.0.1:9108", see base/listen.h */
    const char *password_hash; /* NULL: no password; else a crypto_pwhash_str string */
    const char *tls_cert_file; /* PEM; both or neither: HTTPS only */
    const char *tls_key_file;
} selgw_http_options;

/* Listens and serves from source (and history, NULL when there is none: its paths answer
 * 503) on its own thread. Warns in the log when it listens beyond loopback without a
 * password or without TLS. SELGW_ERR_INVALID for a bad address or password hash, or TLS
 * asked of a libmicrohttpd built without it; SELGW_ERR_IO when it cannot read the
 * certificate or key or cannot listen (the port is taken): why says which. */
selgw_err selgw_http_server_new(const selgw_http_options *opt, selgw_status_source_fn source,
                                void *source_ctx, const selgw_history_source *history,
                                selgw_http_server **out, char *why, size_t why_cap);
/* Stops the thread (answers in progress finish) and closes the socket; NULL is fine. */
void selgw_http_server_free(selgw_http_server *s);

/* Whether a request's Host header (NULL when it has none) may be answered by a server
 * without a password. A guard against DNS rebinding: a web page of another site that
 * points its own name at this gateway's address could otherwise read the API from a
 * browser on the LAN or on the gateway itself; its requests carry its name. So the name
 * must be "localhost" or an address (IPv4, or IPv6 in brackets), which no page of another
 * site can have; the port is not looked at (an ssh tunnel changes it, and it tells no site
 * from another). With a password the check is not made: such a page has no credentials, and
 * a name (gateway.local, a reverse proxy's) then works. Pure. */
bool selgw_http_host_allowed(const char *host);

#endif
