/* selgw: `selgw status`, the other end of the HTTP API: fetches /api/v1/status and
 * /api/v1/latest from a running gateway (libcurl) and prints them as a compact table. */
#ifndef SELGW_HTTP_CLIENT_H
#define SELGW_HTTP_CLIENT_H

#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"

/* The base URL of the API at a listen address ("127.0.0.1:9108" -> "http://127.0.0.1:9108";
 * a wildcard address is asked on loopback) into buf. */
void selgw_http_url_of_listen(const char *listen, char *buf, size_t cap);

/* GETs base_url + path: the body (malloc'd, NUL-terminated) of a 200 answer. Otherwise
 * SELGW_ERR_CONNECT (nobody listens), SELGW_ERR_TIMEOUT, SELGW_ERR_SERVER (another
 * status), SELGW_ERR_NOMEM, with why saying what happened. */
selgw_err selgw_http_get(const char *base_url, const char *path, char **body, char *why,
                         size_t why_cap);

/* Prints the table of `selgw status` from the two JSON documents. Pure but for out:
 * SELGW_ERR_INVALID when they are not what the API serves. */
selgw_err selgw_status_print(const char *status_json, const char *latest_json, FILE *out);

/* Whether /api/v1/status's answer is from the gateway `gateway_id`; the id it names goes
 * to answered ("-" if it names none). Another gateway may hold the address a config names. */
bool selgw_status_is_gateway(const char *status_json, const char *gateway_id, char *answered,
                             size_t cap);

#endif
