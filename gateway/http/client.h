/* selgw: the other end of the HTTP API, for `selgw status` and `selgw read`: fetches
 * documents from a running gateway (libcurl) and reads their JSON (the one place that does). */
#ifndef SELGW_HTTP_CLIENT_H
#define SELGW_HTTP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>

#include "base/error.h"
#include "base/reading.h"

/* The base URL of the API at a listen address ("127.0.0.1:9108" -> "http://127.0.0.1:9108",
 * "https://..." when tls: the config has http.tls_cert; a wildcard address is asked on
 * loopback) into buf. */
void selgw_http_url_of_listen(const char *listen, bool tls, char *buf, size_t cap);

/* The environment variable that holds the API's password for `selgw status` and `selgw
 * read`, when the gateway has one (http.password_hash). */
#define SELGW_HTTP_PASSWORD_ENV "SELGW_HTTP_PASSWORD"

/* GETs base_url + path: the body (malloc'd, NUL-terminated) of a 200 answer, with the
 * password of SELGW_HTTP_PASSWORD_ENV when it is set. ca_file: for https, the PEM
 * certificate to trust instead of the system's (the gateway's http.tls_cert, self-signed
 * or not; its name is then not checked for a loopback URL); NULL: the system's. Otherwise
 * SELGW_ERR_CONNECT (nobody listens), SELGW_ERR_TIMEOUT, SELGW_ERR_AUTH (401: no or another
 * password), SELGW_ERR_SERVER (another status), SELGW_ERR_NOMEM, with why saying what happened. */
selgw_err selgw_http_get(const char *base_url, const char *path, const char *ca_file, char **body,
                         char *why, size_t why_cap);

/* Prints the table of `selgw status` from the two JSON documents. Pure but for out:
 * SELGW_ERR_INVALID when they are not what the API serves. */
selgw_err selgw_status_print(const char *status_json, const char *latest_json, FILE *out);

/* Whether /api/v1/status's answer is from the gateway `gateway_id`; the id it names goes
 * to answered ("-" if it names none). Another gateway may hold the address a config names. */
bool selgw_status_is_gateway(const char *status_json, const char *gateway_id, char *answered,
                             size_t cap);

/* One device's last reading and health as /api/v1/latest/DEVICE serves them (docs/METRICS.md),
 * for `selgw read` of a device whose gateway runs. Texts are cut to fit. */
typedef struct selgw_latest_field {
    char name[64];
    char unit[32];
    char quality[24]; /* "ok", "out_of_range", "read_failed" */
    bool has_value;   /* false: null, not read or not a finite number */
    double value;
} selgw_latest_field;

typedef struct selgw_latest_device {
    char id[64];
    char status[32]; /* the last poll's: "ok", "timeout", ..., "not_polled_yet" */
    char time[40];   /* the start of the last completed poll; "" before the first */
    bool has_age;
    double age_s;          /* since time */
    char last_success[40]; /* "" when none since the gateway's start (or reload) */
    bool has_success_age;
    double last_success_age_s;
    long long consecutive_failures;
    long long failures; /* every failed poll since the start (or reload), of any kind */
    size_t field_count;
    selgw_latest_field fields[SELGW_READING_MAX_FIELDS];
} selgw_latest_device;

/* Reads the JSON of /api/v1/latest/DEVICE into out. SELGW_ERR_INVALID when it is not what
 * the API serves. */
selgw_err selgw_latest_device_parse(const char *json, selgw_latest_device *out);

#endif
