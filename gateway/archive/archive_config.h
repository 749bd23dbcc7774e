/* selgw: the configuration of `selgw archive` (docs/ARCHIVE.md, "Configuration"): its MQTT
 * broker and session, the topic prefix, the PostgreSQL connection. A small strict YAML file
 * read with the base's YAML layer: unknown keys, wrong types and values out of bounds are
 * reported as FILE:LINE:COLUMN, all at once, and a config is returned only when valid. The
 * defaults and bounds are in one table in archive_config.c. */
#ifndef SELGW_ARCHIVE_CONFIG_H
#define SELGW_ARCHIVE_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "base/diag.h"
#include "base/error.h"

typedef struct selgw_archive_config {
    char *path;
    /* mqtt: */
    char *host;
    int port;             /* 1883, 8883 with tls.ca_file */
    char *client_id;      /* required: fixed per process, it names the persistent session */
    char *topic_prefix;   /* default "selgw": the gateways' uplink.topic_prefix */
    char *share_group;    /* default "selgw-archive" */
    int session_expiry_s; /* how long the broker keeps the session while away; default 1 d */
    int keepalive_s;
    int receive_maximum;  /* messages the broker may send unacknowledged; default 100 */
    char *username;
    char *password;       /* read from password_file; never logged */
    char *ca_file, *cert_file, *key_file;
    bool tls_insecure;
    /* postgresql: */
    char *conninfo;       /* libpq connection string or URI */
    /* witness: (optional) */
    char *witness_key; /* Ed25519 secret key (selgw keygen); NULL: no witness */
} selgw_archive_config;

/* Loads and validates path; every problem goes to diag as FILE:LINE:COLUMN: message.
 * SELGW_ERR_CONFIG (problems in diag), SELGW_ERR_IO, SELGW_ERR_NOMEM. */
selgw_err selgw_archive_config_load(const char *path, selgw_diag *diag,
                                    selgw_archive_config **out);
/* The same from a string (tests); display_name names it in diagnostics. */
selgw_err selgw_archive_config_load_string(const char *display_name, const char *text,
                                           selgw_diag *diag, selgw_archive_config **out);
void selgw_archive_config_free(selgw_archive_config *cfg); /* NULL is fine */
/* One line per part, no secrets. */
void selgw_archive_config_summary(const selgw_archive_config *cfg, FILE *out);

#endif
