/* selgw: what the sinks that POST over HTTP share (the InfluxDB sink, the webhook sink):
 * one libcurl handle sending one request at a time with the answer kept, the translation
 * of a failed transfer into selgw_err, and the dead-letter file of what a server refused.
 *
 * TLS is verified (libcurl's default, never switched off); only http and https are spoken;
 * no signals (the handle lives on a sink's thread). */
#ifndef SELGW_HTTP_POST_H
#define SELGW_HTTP_POST_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/error.h"

/* Bytes of a response body kept: enough for a server's error message. */
#define SELGW_HTTP_RESPONSE_KEEP 4096

typedef struct selgw_http_post {
    CURL *curl;
    struct curl_slist *headers;
    char curl_error[CURL_ERROR_SIZE];
    CURLcode result; /* of the last transfer */
    char response[SELGW_HTTP_RESPONSE_KEEP + 1];
    size_t response_len;
    char retry_after[64]; /* the last answer's Retry-After, "" when none */
} selgw_http_post;

/* A handle for POSTs with these extra headers (NULL-terminated; "Expect:" is always added)
 * and this timeout for the connection and for the whole request. Also takes libcurl's
 * global initialisation (released by cleanup). On failure cleans up after itself. */
selgw_err selgw_http_post_init(selgw_http_post *p, const char *const *headers, int timeout_ms);
/* The target of the next requests (copied by libcurl). */
selgw_err selgw_http_post_url(selgw_http_post *p, const char *url);
/* POSTs body; *status is the HTTP status, 0 when no answer came (p->result says why). */
void selgw_http_post_send(selgw_http_post *p, const void *body, size_t len, long *status);
/* Why the last transfer got no answer, as text (libcurl's). */
const char *selgw_http_post_why(const selgw_http_post *p);
/* The error a failed request counts as: SELGW_ERR_SERVER when an answer came, else
 * TIMEOUT, CONNECT (no connection, no name) or DISCONNECTED. */
selgw_err selgw_http_post_error(const selgw_http_post *p, long status);
void selgw_http_post_cleanup(selgw_http_post *p); /* a zeroed or cleaned handle is fine */

/* Appends parts[0..n) to the dead-letter file at path, then fsyncs it; *fd is its
 * descriptor, -1 until first opened (created 0640, its directory synced), and -1 again
 * after a failure (reopened next time: after a failed fsync nothing written can be
 * trusted). */
selgw_err selgw_dead_letter_append(int *fd, const char *path, const char *const *parts,
                                   const size_t *lens, size_t n);

/* path relative to dir unless absolute (or dir is NULL or ""): malloc'd, NULL when out of
 * memory. */
char *selgw_sink_path(const char *dir, const char *path);

#endif
